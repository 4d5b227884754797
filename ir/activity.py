"""Activity analysis: which variables depend on the parameters differentiated (varied), and
which the result depends on (useful). Only variables that are both carry derivatives.

Both analyses are flow-insensitive over names, iterated to a fixed point so
loop-carried values are found; that is conservative (a name reused in two
sibling blocks counts once) and never wrong.
"""

from __future__ import annotations

from adlang.ir import nodes as ir


def _defs_and_uses(body) -> list[tuple[list[ir.Var], list[ir.Var], ir.Stmt]]:
    return [(ir.defined_vars(s), ir.used_vars(s), s) for s in ir.walk(body) if isinstance(s, (ir.Let, ir.Assign))]


def varied_names(fn: ir.Function, active_params: set[str]) -> set[str]:
    """Names of float and vec variables whose value depends on an active parameter."""
    varied = set(active_params)
    pairs = _defs_and_uses(fn.body)
    changed = True
    while changed:
        changed = False
        for defs, uses, stmt in pairs:
            pops = isinstance(stmt.expr, ir.Pop)
            if pops or any(u.name in varied for u in uses):
                for d in defs:
                    if d.type.is_differentiable and d.name not in varied:
                        varied.add(d.name)
                        changed = True
    return varied


def useful_names(fn: ir.Function, silent: tuple[int, ...] = ()) -> set[str]:
    """Names whose value can reach what the function returns (through data, not control); the results at the
    `silent` positions count for nothing (their cotangent is zero)."""
    returned = [v for k, v in enumerate(fn.returned.values) if k not in silent]
    useful = {v.name for v in returned if isinstance(v, ir.Var)}
    pairs = _defs_and_uses(fn.body)
    pushes = [s for s in ir.walk(fn.body) if isinstance(s, ir.Push)]
    changed = True
    while changed:
        changed = False
        # Backwards, the way usefulness flows: straight-line code settles in one pass, not one per statement.
        for defs, uses, stmt in reversed(pairs):
            if any(d.name in useful for d in defs):
                if isinstance(stmt.expr, ir.Pop):
                    new = [v for p in pushes for v in ir.used_vars(p)]
                else:
                    new = uses
                for u in new:
                    if u.name not in useful:
                        useful.add(u.name)
                        changed = True
    return useful
