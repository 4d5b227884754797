"""The checks every front end makes of what it is asked: the command line, the REPL, the API and the notebook.

Which function, which parameters to differentiate, which mode and order, which
engine, what limits, which file: each mistake is a UsageError that says what
to give, worded once here so every way in reads the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from adlang.interp.engines import AUTO, ENGINES
from adlang.interp.prologue import signature, suggest
from adlang.interp.runtime import DEFAULT_MAX_STEPS, DEFAULT_MAX_TAPE
from adlang.ir.nodes import Function, Program
from adlang.lang.errors import UsageError

FIRST_ORDER_MODES = ("forward", "reverse")
SECOND_ORDER_MODES = ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward")

_WHOLE_NUMBER = re.compile(r"[0-9][0-9_]*")


def read_source(path: str) -> str:
    """The program text; a file that cannot be read is a usage error naming it."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        # A byte order mark, as some editors write, is dropped (decoded here: the utf-8-sig reader also
        # drops a lone b"\xef" at the end of a file, which is no BOM but a broken byte).
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"cannot read '{path}': no such file") from None
    except IsADirectoryError:
        raise UsageError(f"cannot read '{path}': it is a directory") from None
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1
        raise UsageError(f"cannot read '{path}': it is not UTF-8 text (byte 0x{err.object[err.start]:02x} on "
                         f"line {line}); save it as UTF-8") from None
    except OSError as err:
        raise UsageError(f"cannot read '{path}': {err.strerror or err}") from None


def pick_function(program: Program, name: str | None, path: str) -> Function:
    """`--fn`, else `main`, else the last function of the file."""
    names = program.names
    if not names:
        raise UsageError(f"'{path}' defines no function")
    if name is None:
        return program.function("main") or program.functions[-1]
    fn = program.function(name)
    if fn is None:
        raise UsageError(f"unknown function '{name}'{suggest(name, names)} (functions in {path}: {', '.join(names)})")
    return fn


def parse_wrt(given: str | Iterable[str], fn: Function, option: str, float_result: bool = True) -> list[str]:
    """The parameters named by `--grad`/`--wrt` (`x,y`, or a list of names from Python): float or vec
    parameters of a float-valued function (of any function where `float_result` is False: a Jacobian's)."""
    if isinstance(given, str):
        names = [name.strip() for name in given.split(",")]
    else:
        names = list(given)
        if not names or not all(isinstance(name, str) for name in names):
            raise UsageError(f"{option} needs a list of parameter names, as {option}=['x', 'y']")
        names = [name.strip() for name in names]
    if not all(names):
        raise UsageError(f"{option} needs parameter names separated by commas, as {option} x,y")
    params = {p.name: p for p in fn.params}
    for i, name in enumerate(names):
        if name in names[:i]:
            raise UsageError(f"{option} names '{name}' twice")
        param = params.get(name)
        if param is None:
            raise UsageError(
                f"{option} names '{name}', which is not a parameter of {signature(fn)}{suggest(name, list(params))}"
            )
        if not param.type.is_differentiable:
            raise UsageError(
                f"{option} names '{name}', a parameter of type {param.type}; "
                "derivatives are taken with respect to float, vec and mat parameters only"
            )
    if float_result and fn.ret.kind != "float":
        raise UsageError(f"{option} needs a function whose result is a float, but {fn.name} returns {fn.ret}")
    return names


def derivative_mode(mode: str | None, order: str | None, has_grad: bool, api: bool = False) -> tuple[str, int]:
    """The mode and order; a plain `forward`/`reverse` at order 2 means that mode at both levels. Messages
    spell the options as the caller was given them: `--mode M`, or `mode='M'` from Python (`api`)."""
    if not has_grad and (mode is not None or order is not None):
        option = "--mode" if mode is not None else "--order"
        raise UsageError(f"{option} needs --grad (the parameters to differentiate by)")
    level = parse_order(order)
    mode = "reverse" if mode is None else mode
    if mode in FIRST_ORDER_MODES:
        return (f"{mode}-over-{mode}" if level == 2 else mode), level
    if mode in SECOND_ORDER_MODES:
        if level != 2:
            raise UsageError(f"mode={mode!r} is for second derivatives; add order=2" if api else
                             f"--mode {mode} is for second derivatives; add --order 2")
        return mode, level
    allowed = FIRST_ORDER_MODES + (SECOND_ORDER_MODES if level == 2 else ())
    raise UsageError(f"unknown {'mode' if api else '--mode'} '{mode}'{suggest(mode, allowed)} "
                     f"(modes: {', '.join(allowed)})")


def parse_order(text: str | None) -> int:
    if text is None:
        return 1
    if text.strip() not in ("1", "2"):
        raise UsageError(f"--order must be 1 or 2, not '{text}'")
    return int(text)


def parse_max_tape(text: str | None) -> int:
    return _whole_number(text, DEFAULT_MAX_TAPE, "--max-tape", "values")


def parse_max_steps(text: str | None) -> int:
    return _whole_number(text, DEFAULT_MAX_STEPS, "--max-steps", "statements")


def _whole_number(text: str | None, default: int, flag: str, unit: str) -> int:
    if text is None:
        return default
    if not _WHOLE_NUMBER.fullmatch(text.strip()):
        raise UsageError(f"{flag} needs a whole number of {unit}, not '{text}'")
    return int(text.strip().replace("_", ""))


def check_engine(name: object, option: str = "--engine") -> str:
    """An engine of the table (`interp/engines.py`), or `auto` (the compiled engine, and the native one for a
    program that has run long enough)."""
    if name == AUTO:
        return name
    if not isinstance(name, str) or name not in ENGINES:
        names = [*ENGINES, AUTO]
        hint = suggest(name, names) if isinstance(name, str) else ""
        raise UsageError(f"unknown {option} {name!r}{hint} (engines: {', '.join(names)})")
    message = ENGINES[name].missing()
    if message is not None:
        raise UsageError(message)
    return name
