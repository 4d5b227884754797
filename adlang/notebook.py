"""IPython and Jupyter: `%load_ext adlang` adds the `%%adlang NAME` cell magic and shows adlang errors plainly.

The magic compiles the cell and binds the `Program` to NAME in the notebook's namespace. A mistake in the
cell (parse, type, a bad NAME) is shown as the command line shows it, place, message, source line and
caret, as an output of the cell rather than an exception: the cell does not fail, the kernel goes on, and
NAME keeps whatever it was bound to before (as a Python assignment that raises leaves its name alone).

`adlang.Error` raised by the API in an ordinary Python cell stays an exception (the cell fails and "run
all" stops); IPython shows it as `Error.text`, without a traceback, through `Error._render_traceback_` (in
api.py, so it holds with or without the extension and leaves IPython's one custom-handler slot free).

Only this module imports IPython, so `import adlang` and the `adlang` command stay light.
"""

from __future__ import annotations

import keyword
from typing import Any

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.display import display

from adlang.api import Error, compile

USAGE = ("usage: %%adlang NAME, then the program on the lines below; NAME is a Python name that the "
         "compiled adlang.Program is bound to")


class ErrorView:
    """An error as a cell's output: HTML in a notebook, the command line's text anywhere else."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        from adlang.display import error_html

        return error_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def __repr__(self) -> str:
        return self.text


@magics_class
class AdlangMagics(Magics):
    @cell_magic
    def adlang(self, line: str, cell: str) -> None:
        """`%%adlang NAME`: compile the cell and bind the Program to NAME (an error leaves NAME as it was)."""
        words = line.split()
        if len(words) != 1 or not words[0].isidentifier() or keyword.iskeyword(words[0]):
            given = f" (got {line.strip()!r})" if line.strip() else ""
            display(ErrorView(f"adlang: usage error: {USAGE}{given}"))
            return
        name = words[0]
        try:
            program = compile(cell, filename=f"<cell {name}>")
        except Error as err:
            display(ErrorView(err.text))
            return
        self.shell.user_ns[name] = program


def register(ipython: Any) -> None:
    """Add the `%%adlang` cell magic to this IPython."""
    ipython.register_magics(AdlangMagics)
