"""Jacobians of functions whose result is a float, a vec or a tuple of those, one row at a time.

`ir/derive.py` builds, per item of the result, the first-order program of a
wrapper returning one element of it (`derive_jacobian`, the pass in
`ir/jacobian.py`); it is built once per program (the cache) and run once per
row, in forward or reverse mode. The result's lengths come from one plain run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adlang.derivatives import derivative_fault
from adlang.interp import engines
from adlang.interp.runtime import DEFAULT_MAX_STEPS, DEFAULT_MAX_TAPE
from adlang.ir.derive import derive_jacobian, finish
from adlang.ir.jacobian import result_items
from adlang.lang.errors import RuntimeFault

__all__ = ["JacobianRun", "jacobian", "result_items"]


@dataclass
class JacobianRun:
    """The value, and per parameter the Jacobian: a 2-D array (the result's elements by the parameter's), or
    a list of them, one per item, for a tuple result; `steps` over every run it took."""

    value: object
    jacobian: dict[str, object]
    steps: int


def jacobian(program, fn_name: str, args: dict, wrt: list[str], *, mode: str = "reverse",
             engine: str = "interp", max_steps: int = DEFAULT_MAX_STEPS, max_tape: int = DEFAULT_MAX_TAPE,
             cache: dict | None = None, checkpoint: str = "none") -> JacobianRun:
    """d(result)/d(p) for every p in `wrt`: one derivative run per element of the result."""
    fn = program.function(fn_name)
    items = result_items(fn)
    key = ("jacobian", fn_name, tuple(wrt), mode, checkpoint)
    built = cache.get(key) if cache is not None else None
    if built is None:
        built = derive_jacobian(program, fn_name, wrt, mode, checkpoint)
        if cache is not None:
            cache[key] = built
    limits = dict(engine=engine, max_steps=max_steps, max_tape=max_tape)
    plain = engines.run(finish(program), fn_name, args, **limits)
    values = plain.value if fn.ret.kind == "tuple" else (plain.value,)
    steps = plain.steps
    blocks: dict[str, list[np.ndarray]] = {p: [] for p in wrt}
    for derived, item, value in zip(built, items, values):
        row_name = derived.program.function(derived.entry).params[-1].name
        rows: dict[str, list[np.ndarray]] = {p: [] for p in wrt}
        for r in range(len(value) if item.kind == "vec" else 1):
            try:
                run = engines.run(derived.program, derived.entry, {**args, row_name: r}, **limits)
            except RuntimeFault as fault:
                raise derivative_fault(fault, program, fn_name, args, max_steps, max_tape, engine) from None
            steps += run.steps
            for k, p in enumerate(wrt):
                rows[p].append(np.atleast_1d(np.asarray(run.value[1 + k], dtype=float)))
        for p in wrt:
            columns = np.size(args[p]) if isinstance(args[p], np.ndarray) else 1
            blocks[p].append(np.array(rows[p], dtype=float).reshape(len(rows[p]), columns))
    result = {p: blocks[p] if fn.ret.kind == "tuple" else blocks[p][0] for p in wrt}
    return JacobianRun(plain.value, result, steps)
