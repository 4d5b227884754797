"""Jacobians as a pass: one float function per item of a result that is a float, a vec or a tuple of those.

Row r of item j of the result is a float function of fn's parameters: a wrapper
`F_component(params..., row)` calls fn and returns that element. Its gradient,
in forward or reverse mode, is the row; the wrapper is an ordinary adlang
function, so every mode, engine and checkpoint works on it unchanged
(`ir/derive.py` composes them).
"""

from __future__ import annotations

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.naming import Namer
from adlang.ir.types import FLOAT, INT, Type
from adlang.lang.errors import UsageError


def result_items(fn: ir.Function) -> tuple[Type, ...]:
    """The types of fn's result items (one for a float or vec); a usage error for anything else."""
    items = fn.ret.items if fn.ret.kind == "tuple" else (fn.ret,)
    if not all(t.kind in ("float", "vec") for t in items):
        raise UsageError(f"a Jacobian needs a function whose result is a float, a vec or a tuple of those, but "
                         f"{fn.name} returns {fn.ret}")
    return items


def components(fn: ir.Function, names: Namer) -> list[ir.Function]:
    """One wrapper per result item, `F_component(params..., row) -> float`: item j's element `row` (a float
    item ignores `row`)."""
    items = result_items(fn)
    local = Namer(p.name for p in fn.params)
    row = ir.Var(local.name("row"), INT)
    results = [ir.Var(local.name(naming.element(fn.name, j) if len(items) > 1 else fn.name), t)
               for j, t in enumerate(items)]
    picked = ir.Var(local.temp(), FLOAT)
    wrappers = []
    for result, item in zip(results, items):
        body: list[ir.Stmt] = [ir.Let(tuple(results), ir.CallFn(fn.name, fn.params), fn.span)]
        if item.kind == "vec":
            body.append(ir.Let((picked,), ir.Prim("index", (result, row)), fn.span))
            body.append(ir.Return((picked,), fn.span))
        else:
            body.append(ir.Return((result,), fn.span))
        name = names.name(naming.role(fn.name, naming.COMPONENT))
        wrappers.append(ir.Function(name, (*fn.params, row), FLOAT, tuple(body), fn.span))
    return wrappers
