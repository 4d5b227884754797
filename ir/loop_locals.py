"""Loop-local values made loop-local `let`s, before reverse mode reads a function.

A reverse-mode program recomputes in its backward loop the values its forward
loop computed, under the same names (`_4 = v[i]` in both, `_4` declared before
either). Differentiating that program again (reverse over reverse), activity
analysis, which goes by names, then takes the forward loop's `_4` for the
backward loop's, and reverses the forward loop's computation of a value only
the discarded result depended on; and every `_4 = ...` in a loop saves the old
value on the tape. Yet in each loop `_4` is written before it is read on every
trip and nothing reads it after the loop: each trip's value is its own. Written
as a `let` in the loop (fresh name), it is: activity tells the loops apart,
and the reverse pass recomputes the value in the backward trip instead of
taping it (`reverse.recomputable_lets`).
"""

from __future__ import annotations

from dataclasses import replace

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.builder import rename_body
from adlang.ir.liveness import live_into
from adlang.ir.naming import Namer


def localize(fn: ir.Function, names: Namer) -> ir.Function:
    """fn with each top-level for loop's trip-local variables bound by a `let` in the loop."""
    after = frozenset(v.name for v in ir.used_vars(fn.returned))
    params = {p.name for p in fn.params}
    out: list[ir.Stmt] = []
    for stmt in reversed(fn.body):
        if isinstance(stmt, ir.For):
            stmt = _localized(stmt, live_into(stmt, after) | params, names)
        out.append(stmt)
        after = live_into(stmt, after)
    body = tuple(reversed(out))
    if body == fn.body:
        return fn
    return ir.Function(fn.name, fn.params, fn.ret, body, fn.span)


def _localized(loop: ir.For, carried: frozenset[str], names: Namer) -> ir.For:
    """The loop with each variable not in `carried` (read on entry to a trip, or after the loop) whose first
    mention in the body is a top-level assignment made a `let` there, under a fresh name."""
    body = loop.body
    candidates = [s.target.name for s in body if isinstance(s, ir.Assign)]
    for name in dict.fromkeys(candidates):
        if name in carried or name == loop.var.name:
            continue
        at = _first_mention(body, name)
        if at is None:
            continue
        s = body[at]
        fresh = ir.Var(names.temp() if naming.is_temp(name) else names.name(name), s.target.type)
        mapping = {name: fresh.name}
        body = body[:at] + (ir.Let((fresh,), s.expr, s.span),) + rename_body(body[at + 1:], mapping)
    return loop if body is loop.body else replace(loop, body=body)


def _first_mention(body: tuple[ir.Stmt, ...], name: str) -> int | None:
    """The index of the top-level statement that assigns `name` before anything in the body mentions it."""
    for k, stmt in enumerate(body):
        if isinstance(stmt, ir.Assign) and stmt.target.name == name:
            return None if isinstance(stmt.expr, ir.Pop) or any(v.name == name for v in ir.used_vars(stmt)) else k
        for s in ir.walk((stmt,)):
            if any(v.name == name for v in ir.used_vars(s) + ir.defined_vars(s)):
                return None
    return None
