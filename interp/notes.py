"""Notes for the points where a derivative is a convention, not a limit.

At abs(0), a tie of max/min (and of `ifle`, their derivative) or a comparison
whose two sides are equal, the function has no derivative, and adlang picks
one side. Traces and the stepper say which, so a surprising number has its
reason next to it. Which primitives have such a point, and the note there,
is the primitive's own `kink` (ir/prims_scalar.py). Only built for traced or
recorded runs.
"""

from __future__ import annotations

from collections.abc import Callable

from adlang.ir import nodes as ir
from adlang.ir.primitives import lookup
from adlang.ir.printer import atom

Note = Callable[[dict], "str | None"]


def kink_note(expr: ir.Expr) -> Note | None:
    """A function of the variables giving the note for this expression, or None if it can have none."""
    if not isinstance(expr, ir.Prim):
        return None
    kink = lookup(expr.op).kink
    if kink is None or not any(a.type.is_differentiable for a in expr.args):
        return None
    getters = [_getter(a) for a in expr.args]
    names = [atom(a) for a in expr.args]

    def note(env: dict) -> str | None:
        return kink(names, [g(env) for g in getters])

    return note


def _getter(a: ir.Atom) -> Callable[[dict], object]:
    if isinstance(a, ir.Const):
        value = a.value
        return lambda env: value
    name = a.name
    return lambda env: env[name]
