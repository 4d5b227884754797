"""The run prologue every engine shares: the function looked up, its arguments checked and converted.

Arguments may come from the command line (already parsed by `adlang/arguments.py`)
or from Python (numbers, bools, numpy scalars, lists and 1-D numpy arrays for
vecs, lists of rows and 2-D numpy arrays for mats). Either way they are checked
here with the command line's messages, so a list, a missing name or a string is
a `UsageError` that says what to give, never a Python error from deep inside a
run.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from adlang.interp.runtime import ProgramCache, check_length
from adlang.ir import nodes as ir
from adlang.ir.prims_scalar import INT_MAX, INT_MIN, has_nan
from adlang.ir.types import Type
from adlang.lang.errors import RuntimeFault, UsageError

NO_NAN = "adlang computes with numbers only (inf and -inf included): give a number"
_FLOAT64 = np.dtype(np.float64)


def prologue(program: ir.Program, fn_name: str, args: Mapping[str, object]) -> tuple[ir.Function, list[object]]:
    """fn, and the values of its parameters in order: checked, converted, vec(N) lengths checked as they run.

    Arguments that are already what the parameters hold (a float, a 1-D float64 array, ...) take `_Binder`'s
    path, which checks them in one pass each; anything else, and every error, takes the general one below."""
    binders = _BINDERS.get(program, _no_binders)
    binder = binders.get(fn_name)
    if binder is None:
        fn = program.function(fn_name)
        if fn is None:
            raise RuntimeFault(f"no function '{fn_name}' in the program")
        binder = binders[fn_name] = _Binder(fn)
    values = binder.values(args)
    if values is not None:
        return binder.fn, values
    return _prologue(program, fn_name, args)


def _no_binders(program: ir.Program) -> dict:
    return {}


_BINDERS = ProgramCache(64)  # per program: {function name: its _Binder}


class _Binder:
    """The values of one function's parameters where every argument is of its parameter's type already, or None.

    A run of a vectorised program on short vecs is a few microseconds of numpy, so what it costs to check the
    arguments shows (issue 15): here a float is checked for NaN by `x != x` and a vec by `v.dot(v)`, NaN
    exactly where v holds one (squares are >= 0 or inf, and adding them never makes inf - inf), in one pass of
    BLAS without a mask. Lengths of vec(N) and shapes of mat(R, C) are checked as in the general path."""

    __slots__ = ("fn", "names", "plan", "sized")

    def __init__(self, fn: ir.Function):
        self.fn = fn
        self.names = frozenset(p.name for p in fn.params)
        self.plan = tuple((p.name, p.type.kind, _DIMENSIONS.get(p.type.kind)) for p in fn.params)
        self.sized = tuple((k, p) for k, p in enumerate(fn.params) if p.type.length is not None)

    def values(self, args: Mapping[str, object]) -> list[object] | None:
        if args.keys() != self.names:
            return None
        values = []
        for name, kind, ndim in self.plan:
            value = args[name]
            given = value.__class__
            if given is float:
                if kind != "float" or value != value:
                    return None
            elif given is np.ndarray:
                if value.dtype is not _FLOAT64 or value.ndim != ndim:
                    return None
                if kind == "vec":
                    total = value.dot(value)
                    if total != total:
                        return None
                elif has_nan(value):
                    return None
            elif not ((given is int and kind == "int" and INT_MIN <= value <= INT_MAX)
                      or (given is bool and kind == "bool")):
                return None
            values.append(value)
        for k, param in self.sized:
            check_length(param.type, values[k], f"argument '{param.name}'", self.fn.span)
        return values


_DIMENSIONS = {"vec": 1, "mat": 2}


def _prologue(program: ir.Program, fn_name: str, args: Mapping[str, object]) -> tuple[ir.Function, list[object]]:
    fn = program.function(fn_name)
    if fn is None:
        raise RuntimeFault(f"no function '{fn_name}' in the program")
    values = bind(fn, args)
    for param, value in zip(fn.params, values):
        if param.type.length is not None:  # vec(N), mat(R, C): its message is made only for those
            check_length(param.type, value, f"argument '{param.name}'", fn.span)
    return fn, values


def bind(fn: ir.Function, args: Mapping[str, object], api: bool = False) -> list[object]:
    """The values of fn's parameters in order, each converted to its parameter's type (only int -> float
    converts, as in the language). Names are checked before any value is (`api`: see check_names)."""
    if args.keys() != {p.name for p in fn.params}:  # the usual case, every name right, is one comparison
        check_names(fn, list(args), api=api)
    return [convert(fn, p, args[p.name]) for p in fn.params]


def signature(fn: ir.Function) -> str:
    """`model(x, rate)`: how a function is named in messages."""
    return f"{fn.name}({', '.join(p.name for p in fn.params)})"


def suggest(name: str, candidates: list[str]) -> str:
    import difflib  # only when something is misspelt

    close = difflib.get_close_matches(name, candidates, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_names(fn: ir.Function, given: list[str], missing: bool = True, api: bool = False) -> None:
    """Every name given is a parameter, and (if `missing`) every parameter is given: as `x=VALUE` words on the
    command line, or (`api`) as keys of Python's `args`."""
    params = [p.name for p in fn.params]
    for name in given:
        if name not in params:
            raise UsageError(f"unknown argument '{name}' for {signature(fn)}{suggest(name, params)}")
    if not missing:
        return
    missing = [name for name in params if name not in given]
    if len(missing) == 1:
        name = missing[0]
        how = f"args={{{name!r}: ...}}" if api else f"{name}=VALUE"
        raise UsageError(f"missing argument '{name}' for {signature(fn)}; give it as {how}")
    if missing:
        names = ", ".join(f"'{n}'" for n in missing)
        forms = ("args={" + ", ".join(f"{n!r}: ..." for n in missing) + "}") if api else " ".join(
            f"{n}=VALUE" for n in missing)
        raise UsageError(f"missing arguments {names} for {signature(fn)}; give them as {forms}")


# ---------------------------------------------------------------- one value


def convert(fn: ir.Function, param: ir.Var, value: object, shown: str | None = None) -> object:
    """`value` as a value of `param`'s type; `shown` is how the user wrote it (by default its repr)."""
    kind = param.type.kind
    given = value  # as the caller wrote it, before a list becomes a vec (shown only in an error)
    value = _plain(param, value)
    if kind == "float" and is_number(value):
        return float(value)
    if kind == "int" and is_int(value) and INT_MIN <= value <= INT_MAX:
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "vec" and isinstance(value, np.ndarray) and value.ndim == 1:
        return value
    if kind == "mat" and isinstance(value, np.ndarray) and value.ndim == 2:
        return value
    raise UsageError(mismatch(fn, param, _repr(given) if shown is None else shown, value))


def _plain(param: ir.Var, value: object) -> object:
    """A numpy scalar as the Python number it holds, a list or array of numbers as a float64 vec."""
    if value.__class__ in (float, int, bool):
        value_is_nan = value != value
    elif value.__class__ is np.ndarray:  # before the numbers ABCs, whose isinstance is slow
        return _mat(param, value) if param.type.kind == "mat" else _vec(param, value)
    elif isinstance(value, np.bool_):
        return bool(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    elif isinstance(value, numbers.Real):
        value = float(value)
        value_is_nan = value != value
    elif isinstance(value, (list, tuple, np.ndarray)):
        return _mat(param, value) if param.type.kind == "mat" else _vec(param, value)
    else:
        return value
    if value_is_nan:
        raise UsageError(f"argument '{param.name}': nan is not a number; {NO_NAN}")
    return value


def _vec(param: ir.Var, value: list | tuple | np.ndarray) -> np.ndarray | object:
    """A float64 vec from a list of numbers or a 1-D array; what is no vec is returned as it is, for the
    mismatch message."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise UsageError(f"argument '{param.name}' is {_a(param.type)}, but the array given has "
                             f"{value.ndim} dimensions {value.shape}; give a 1-D array or a list of numbers")
        if value.dtype is _FLOAT64 or value.dtype == np.float64:
            vec = value
        elif value.dtype.kind in "biuf":
            vec = value.astype(np.float64)
        else:
            raise UsageError(f"argument '{param.name}': an array of {value.dtype} is not a vec; give numbers")
    else:
        for i, item in enumerate(value, start=1):
            if isinstance(item, (list, tuple, np.ndarray)):
                raise UsageError(f"argument '{param.name}' is {_a(param.type)}, but a list of lists is a matrix; "
                                 "give a flat list of numbers")
            if not isinstance(item, numbers.Real):
                raise UsageError(f"argument '{param.name}': element {i} of the vec is {_repr(item)}, "
                                 "not a number")
        vec = np.array(value, dtype=np.float64)
    if has_nan(vec):
        k = int(np.flatnonzero(np.isnan(vec))[0])
        raise UsageError(f"argument '{param.name}': element {k + 1} of the vec is NaN (not a number); {NO_NAN}")
    return vec


def _mat(param: ir.Var, value: list | tuple | np.ndarray) -> np.ndarray:
    """A float64 mat from a list of rows (lists of numbers, all of one length) or a 2-D array."""
    if isinstance(value, np.ndarray):
        if value.ndim != 2:
            raise UsageError(f"argument '{param.name}' is a mat, but the array given has {value.ndim} "
                             f"dimension{'s' * (value.ndim != 1)} {value.shape}; give a 2-D array or a list of rows")
        if value.dtype.kind not in "biuf":
            raise UsageError(f"argument '{param.name}': an array of {value.dtype} is not a mat; give numbers")
        array = value.astype(np.float64, copy=False)  # a value is never changed where another holds it
    else:
        rows = list(value)
        if not rows or not all(isinstance(r, (list, tuple, np.ndarray)) for r in rows):
            raise UsageError(f"argument '{param.name}' is a mat, but {shown_text(_repr(value))} is not a list of "
                             "rows; write a mat as [[1.0, 2.0], [3.0, 4.0]] or @FILE")
        lengths = [len(r) for r in rows]
        if len(set(lengths)) > 1:
            raise UsageError(f"argument '{param.name}': the rows of the mat have different lengths "
                             f"({', '.join(map(str, lengths))}); give every row as many numbers")
        for i, r in enumerate(rows, start=1):
            for item in r:
                if not isinstance(item, numbers.Real) or isinstance(item, (list, tuple, np.ndarray)):
                    raise UsageError(f"argument '{param.name}': row {i} of the mat holds {_repr(item)}, "
                                     "not a number")
        array = np.array(rows, dtype=np.float64).reshape(len(rows), lengths[0])
    if has_nan(array):
        i, j = (int(k) for k in np.argwhere(np.isnan(array))[0])
        raise UsageError(f"argument '{param.name}': the element at row {i + 1}, column {j + 1} of the mat is NaN "
                         f"(not a number); {NO_NAN}")
    return array


def mismatch(fn: ir.Function, param: ir.Var, shown: str, value: object, too_long: bool = False) -> str:
    """The message of a value of the wrong type, with the way to write the right one; `too_long` says an
    int was written that does not fit in 64 bits."""
    if param.type.kind == "int" and (too_long or (is_int(value) and not INT_MIN <= value <= INT_MAX)):
        return (f"argument '{param.name}' of {signature(fn)} is an int, but {shown_text(shown)} does not fit in "
                f"64 bits ({INT_MIN}..{INT_MAX}); for numbers this large use a float parameter")
    message = (f"argument '{param.name}' of {signature(fn)} is {_a(param.type)}, but {shown_text(shown)} is "
               f"{describe(value)}")
    if param.type.kind == "int" and isinstance(value, float) and value.is_integer():
        return f"{message}; write it as {int(value)}"
    if param.type.kind == "vec":
        return f"{message}; write a vec as [1.0, 2.0] or @FILE"
    if param.type.kind == "mat":
        return f"{message}; write a mat as [[1.0, 2.0], [3.0, 4.0]] or @FILE"
    if param.type.kind == "bool":
        return f"{message}; write true or false"
    return message


def _a(type_: Type) -> str:
    return f"an {type_}" if type_.kind == "int" else f"a {type_}"


def describe(value: object) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, np.ndarray):
        return "a mat" if value.ndim == 2 else "a vec"
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def shown_text(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _repr(value: object) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, separator=", ", threshold=6)
    if isinstance(value, str):
        return repr(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
