"""Liveness of array values: after which statement each vec or mat variable is no longer read.

An engine that keeps every variable until its function returns keeps every
intermediate array of a vectorised program alive at once: the working set is
all of them, and each new array is fresh memory the kernel has to fault in. An
engine that drops an array after its last read (`releases`) holds only the live
ones, so the allocator hands the freed memory to the next operation, and an
update such as `d = addto(d, c)` finds the array unshared and can work in place.

Backward dataflow over the structured IR: a block's statements from last to
first, an `if` as the union of its branches, a loop's body to a fixed point with
what the next trip reads. Only arrays are released (a float costs nothing to
keep). A statement object that appears at two places in a program (a block
reused by a pass) gets what is dead after it at both.
"""

from __future__ import annotations

from dataclasses import field

from adlang.ir import nodes as ir
from adlang.lang.record import mutable_record


@mutable_record
class Releases:
    """For each statement (by identity), the array variables no statement after it reads."""

    after: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def of(self, stmt: ir.Stmt) -> tuple[str, ...]:
        return self.after.get(id(stmt), ())


def releases(fn: ir.Function) -> Releases:
    """What each statement of fn is the last reader (or a dead writer) of, among vec and mat variables."""
    analysis = _Analysis()
    analysis.block(fn.body, frozenset())
    return Releases({key: tuple(sorted(names)) for key, names in analysis.dead.items() if names})


class _Analysis:
    def __init__(self) -> None:
        self.dead: dict[int, set[str]] = {}
        self.mentioned: dict[int, frozenset[str]] = {}

    def block(self, stmts: tuple[ir.Stmt, ...], live_out: frozenset[str]) -> frozenset[str]:
        """The names live on entry to the block, given those live after it; records what dies after each."""
        live = live_out
        for stmt in reversed(stmts):
            after = live
            live = self.statement(stmt, after)
            dead = {name for name in self.names(stmt) if name not in after}
            key = id(stmt)
            self.dead[key] = dead if key not in self.dead else self.dead[key] & dead
        return live

    def statement(self, stmt: ir.Stmt, after: frozenset[str]) -> frozenset[str]:
        uses = frozenset(v.name for v in ir.used_vars(stmt))
        if isinstance(stmt, ir.If):
            return self.block(stmt.then, after) | self.block(stmt.orelse, after) | uses
        if isinstance(stmt, (ir.For, ir.While)):
            carried = after | uses  # a while's condition is read before every trip, a for's bounds once before
            while True:
                entry = self.block(stmt.body, carried)
                if entry <= carried:
                    return carried
                carried = carried | entry
        defined = frozenset(v.name for v in ir.defined_vars(stmt))
        return (after - defined) | uses

    def names(self, stmt: ir.Stmt) -> frozenset[str]:
        """The array variables a statement (with its nested blocks) reads or writes."""
        key = id(stmt)
        known = self.mentioned.get(key)
        if known is None:
            found = set()
            for s in ir.walk((stmt,)):
                found.update(v.name for v in ir.used_vars(s) + ir.defined_vars(s) if v.type.is_array)
            known = self.mentioned[key] = frozenset(found)
        return known


def live_into(stmt: ir.Stmt, after: frozenset[str]) -> frozenset[str]:
    """The names of any type that stmt (with its nested blocks) may read before writing them, given those
    read after it; for a loop, also those one trip leaves for the next."""
    return _Analysis().statement(stmt, after)
