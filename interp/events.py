"""What a recorded run leaves behind, so a stepper can move through it forwards and backwards.

The interpreter appends one Event per binding, tape push or pop, call and
return when it is given a list to record into; stepping is then navigation of
that list (going back is replaying, not undoing).
"""

from __future__ import annotations

from adlang.ir import nodes as ir
from adlang.lang.record import mutable_record


@mutable_record
class Event:
    """kind: "bind", "push", "pop", "call" (value: the arguments by name) or "return".

    `stmt` is the statement of the program that ran (its span points at the
    original source); `depth` counts calls and `loops` the loops around it.
    """

    kind: str
    name: str
    value: object
    stmt: ir.Stmt | None
    function: str
    frame: int
    depth: int
    loops: int
    tape: int = 0
    note: str | None = None

    @property
    def line(self) -> int:
        """The line of the original source this event came from (0 if none)."""
        return self.stmt.span.line if self.stmt is not None else 0

    @property
    def level(self) -> int:
        """How deeply nested it ran: calls and loops together (what `over` skips)."""
        return self.depth + self.loops
