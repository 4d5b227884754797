"""adlang: a small differentiable programming language.

`import adlang` gives the Python API (spec section 3): `adlang.compile`,
`adlang.load`, `adlang.Program`, `adlang.Result` and `adlang.Error`; in
IPython, `%load_ext adlang` adds the `%%adlang NAME` cell magic. The API is
imported on first use, so the `adlang` command starts without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adlang.api import Error, Program, Result, compile, load

__all__ = ["Error", "Program", "Result", "compile", "load", "load_ipython_extension"]


def __getattr__(name: str) -> Any:
    if name in ("Error", "Program", "Result", "compile", "load"):
        from adlang import api

        return getattr(api, name)
    raise AttributeError(f"module 'adlang' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext adlang`: registers the `%%adlang NAME` cell magic."""
    from adlang.notebook import register

    register(ipython)
