"""Jacobians of functions whose result is a float, a vec or a tuple of those, one row at a time.

Row r of item j of the result is a float function of fn's parameters: a wrapper
`F_component(params..., row)` calls fn and returns that element. Its gradient,
in forward or reverse mode, is the row; the wrapper is an ordinary adlang
function, so every mode, engine and checkpoint works on it unchanged, and it is
built once per program (the cache) and run once per row. The result's lengths
come from one plain run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adlang.derivatives import compute
from adlang.interp import engines
from adlang.interp.runtime import DEFAULT_MAX_STEPS, DEFAULT_MAX_TAPE
from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.derive import finish
from adlang.ir.naming import Namer, function_namer
from adlang.ir.types import FLOAT, INT
from adlang.lang.errors import UsageError


@dataclass
class JacobianRun:
    """The value, and per parameter the Jacobian: a 2-D array (the result's elements by the parameter's), or
    a list of them, one per item, for a tuple result; `steps` over every run it took."""

    value: object
    jacobian: dict[str, object]
    steps: int


def result_items(fn: ir.Function) -> tuple:
    """The types of fn's result items (one for a float or vec); a usage error for anything else."""
    items = fn.ret.items if fn.ret.kind == "tuple" else (fn.ret,)
    if not all(t.kind in ("float", "vec") for t in items):
        raise UsageError(f"a Jacobian needs a function whose result is a float, a vec or a tuple of those, but "
                         f"{fn.name} returns {fn.ret}")
    return items


def component_program(program: ir.Program, fn: ir.Function) -> tuple[ir.Program, list[str]]:
    """The program with one wrapper per result item, `F_component(params..., row) -> float`."""
    items = result_items(fn)
    functions = function_namer(program.names)
    local = Namer(p.name for p in fn.params)
    row = ir.Var(local.name("row"), INT)
    results = [ir.Var(local.name(naming.element(fn.name, j) if len(items) > 1 else fn.name), t)
               for j, t in enumerate(items)]
    picked = ir.Var(local.temp(), FLOAT)
    wrappers, names = [], []
    for result, item in zip(results, items):
        body: list[ir.Stmt] = [ir.Let(tuple(results), ir.CallFn(fn.name, fn.params), fn.span)]
        if item.kind == "vec":
            body.append(ir.Let((picked,), ir.Prim("index", (result, row)), fn.span))
            body.append(ir.Return((picked,), fn.span))
        else:
            body.append(ir.Return((result,), fn.span))
        name = functions.name(naming.role(fn.name, naming.COMPONENT))
        wrappers.append(ir.Function(name, (*fn.params, row), FLOAT, tuple(body), fn.span))
        names.append(name)
    return ir.Program(program.functions + tuple(wrappers)), names


def jacobian(program: ir.Program, fn_name: str, args: dict, wrt: list[str], *, mode: str = "reverse",
             engine: str = "interp", max_steps: int = DEFAULT_MAX_STEPS, max_tape: int = DEFAULT_MAX_TAPE,
             cache: dict | None = None) -> JacobianRun:
    """d(result)/d(p) for every p in `wrt`: one derivative run per element of the result."""
    fn = program.function(fn_name)
    items = result_items(fn)
    key = ("component", fn_name)
    built = cache.get(key) if cache is not None else None
    if built is None:
        built = component_program(program, fn)
        if cache is not None:
            cache[key] = built
    wrapped, names = built
    plain = engines.run(finish(program), fn_name, args, engine=engine, max_steps=max_steps, max_tape=max_tape)
    values = plain.value if fn.ret.kind == "tuple" else (plain.value,)
    steps = plain.steps
    blocks: dict[str, list[np.ndarray]] = {p: [] for p in wrt}
    row_name = wrapped.function(names[0]).params[-1].name
    for name, item, value in zip(names, items, values):
        rows: dict[str, list[np.ndarray]] = {p: [] for p in wrt}
        for r in range(len(value) if item.kind == "vec" else 1):
            run = compute(wrapped, name, {**args, row_name: r}, wrt=wrt, mode=mode, engine=engine,
                          max_steps=max_steps, max_tape=max_tape, cache=cache)
            steps += run.steps
            for p in wrt:
                rows[p].append(np.atleast_1d(np.asarray(run.grad[p], dtype=float)))
        for p in wrt:
            columns = np.size(args[p]) if isinstance(args[p], np.ndarray) else 1
            blocks[p].append(np.array(rows[p], dtype=float).reshape(len(rows[p]), columns))
    result = {p: blocks[p] if fn.ret.kind == "tuple" else blocks[p][0] for p in wrt}
    return JacobianRun(plain.value, result, steps)
