"""Notes for the points where a derivative is a convention, not a limit.

At abs(0), a tie of max/min (and of `ifle`, their derivative) or a comparison
whose two sides are equal, the function has no derivative, and adlang picks
one side. Traces and the stepper say which, so a surprising number has its
reason next to it. Only built for traced or recorded runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from adlang.ir import nodes as ir
from adlang.ir.printer import atom

COMPARISONS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
KINKS = {"abs", "sign", "max", "min", "ifle", *COMPARISONS}

Note = Callable[[dict], "str | None"]


def kink_note(expr: ir.Expr) -> Note | None:
    """A function of the variables giving the note for this expression, or None if it can have none."""
    if not isinstance(expr, ir.Prim) or expr.op not in KINKS:
        return None
    if not any(a.type.kind in ("float", "vec") for a in expr.args):
        return None
    getters = [_getter(a) for a in expr.args]
    names = [atom(a) for a in expr.args]
    op = expr.op

    def note(env: dict) -> str | None:
        values = [g(env) for g in getters]
        return describe(op, names, values)

    return note


def describe(op: str, names: list[str], values: list) -> str | None:
    """The note for `op` applied to `values` (written `names`), None away from a kink."""
    if op in ("abs", "sign"):
        if not _touch(values[0], 0.0):
            return None
        where = f"{names[0]} = 0" + (" (in some elements)" if _is_vec(values[0]) else "")
        if op == "abs":
            return f"abs at {where}: no derivative there; the convention takes abs'(0) = 0"
        return f"sign at {where} gives 0: the convention abs'(0) = 0"
    if not _touch(values[0], values[1]):
        return None
    a, b = names[0], names[1]
    if op in ("max", "min"):
        return f"{op}({a}, {b}) at a tie: the derivative goes to the first argument, {a}"
    if op == "ifle":
        return (f"ifle at a tie ({a} == {b}) takes {names[2]}: "
                "a tie in max/min passes the derivative to the first argument")
    symbol = COMPARISONS[op]
    taken = "true" if op in ("le", "ge", "eq") else "false"
    return (f"{a} {symbol} {b} with both sides equal: it is {taken} here, and the derivative is "
            "that of the branch the program takes")


def _getter(a: ir.Atom) -> Callable[[dict], object]:
    if isinstance(a, ir.Const):
        value = a.value
        return lambda env: value
    name = a.name
    return lambda env: env[name]


def _is_vec(value: object) -> bool:
    return isinstance(value, np.ndarray) and value.ndim > 0


def _touch(a: object, b: object) -> bool:
    """Equal somewhere (elementwise for vecs)."""
    return bool(np.any(np.asarray(a) == np.asarray(b)))
