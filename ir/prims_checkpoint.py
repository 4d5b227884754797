"""The one builtin checkpointed derivative programs need: how far revolve advances.

`revolve_advance(steps, snapshots)` answers the question binomial checkpointing
asks before each advance: the state before the first of `steps` iterations is
held in a snapshot, `snapshots` snapshots (that one included) are free for
them; how many iterations should run before the next snapshot? The answer is
an optimal split of Griewank and Walther's recursion (see
`checkpoint_schedules.revolve_split`). It takes and gives ints, so it has no
derivative; it is an ordinary builtin a program may call too.
"""

from __future__ import annotations

from adlang.ir.primitive import Primitive, TypeRuleError, no_jvp, no_vjp, register
from adlang.ir.types import INT
from adlang.lang.errors import DomainError


def _rule(args):
    if all(a.type.kind == "int" for a in args):
        return INT
    raise TypeRuleError(f"revolve_advance takes two ints, got {' and '.join(str(a.type) for a in args)}")


def _advance(steps: int, snapshots: int) -> int:
    if steps < 2 or snapshots < 1:
        raise DomainError(f"revolve_advance needs steps >= 2 and snapshots >= 1, got {steps} and {snapshots}; "
                          "guard the call with an `if`")
    from adlang.ir.checkpoint_schedules import revolve_split  # the schedules load with the first call, not at start

    return revolve_split(steps, snapshots)


register(Primitive("revolve_advance", "call", "revolve_advance", 2, _rule, _advance, None, no_jvp, no_vjp,
                   total=False, doc="revolve_advance(steps, snapshots): iterations binomial checkpointing "
                                    "runs before its next snapshot"))
