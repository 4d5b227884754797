"""Hessians with respect to vecs, one Hessian-vector product per direction.

The first-order program G(params) -> (value, gradient...) is built in the inner
mode. The outer mode then gives H u for a direction u, in a program whose size
is that of G, not of n^2 copies of it:
- forward: G's JVP along u (the tangent of the gradient is H u);
- reverse: the reverse-mode gradient of `sum_p <u_p, g_p>` (H is symmetric, so
  that gradient is H u).
The Hessian is n such runs, along the unit directions; each run costs a small
constant times the function, whatever n is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adlang.interp.runtime import RunResult
from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.derive import Derived, derive, split_mode
from adlang.ir.forward import ForwardMode
from adlang.ir.naming import Namer, function_namer
from adlang.ir.primitives import Emitter
from adlang.ir.simplify import simplify_function
from adlang.ir.types import FLOAT
from adlang.lang.errors import UsageError

# The Hessian is held as a dense matrix: n^2 floats.
MAX_HESSIAN_ENTRIES = 25_000_000


@dataclass(frozen=True)
class HvpProgram:
    """G (the first-order program) and the program giving H u: its entry takes fn's parameters and then one
    direction per wrt parameter (`seeds`, in wrt's order); `hu_at` is where H u starts in its outputs."""

    first: Derived
    program: ir.Program
    entry: str
    seeds: dict[str, str]  # wrt parameter -> the entry's parameter for its part of the direction
    hu_at: int


def hvp_program(program: ir.Program, fn: ir.Function, wrt: list[str], mode: str,
                checkpoint: str = "none") -> HvpProgram:
    inner, outer = split_mode(mode, 2)
    first = derive(program, fn.name, wrt, inner, 1, True, checkpoint)
    g = first.program.function(first.entry)
    if outer == "forward":
        names = function_namer(first.program.names)
        forward = ForwardMode(first.program, names)
        jvp = forward.jvp_name(g.name, (naming.DIRECTION,), tuple(wrt))
        generated = [simplify_function(f) for f in forward.functions()]
        built = ir.Program(first.program.functions + tuple(generated))
        active = [p.name for p in fn.params if p.name in wrt]  # the JVP's tangents come in parameter order
        seeds = dict(zip(active, (p.name for p in built.function(jvp).params[len(fn.params):])))
        return HvpProgram(first, built, jvp, seeds, 2 + len(wrt))
    wrapper, seeds = _gradient_along(first.program, g, fn, wrt)
    second = derive(ir.Program(first.program.functions + (wrapper,)), wrapper.name, wrt, "reverse", 1, True)
    return HvpProgram(first, second.program, second.entry, seeds, 1)


def _gradient_along(program: ir.Program, g: ir.Function, fn: ir.Function, wrt: list[str]):
    """`F_hvp(params..., seeds...) = sum_p <seed_p, d/dp>`: a float whose gradient is H times the seeds."""
    local = Namer(p.name for p in fn.params)
    params = {p.name: p for p in fn.params}
    seeds = [ir.Var(local.name(naming.role(w, naming.SEED)), params[w].type) for w in wrt]
    value = ir.Var(local.name(naming.role(fn.name, naming.VALUE)), FLOAT)
    grads = [ir.Var(local.name(naming.derivative(fn.name, w)), params[w].type) for w in wrt]
    e = Emitter(local.temp, fn.span)
    e.stmts.append(ir.Let((value, *grads), ir.CallFn(g.name, fn.params), fn.span))
    total: ir.Atom | None = None
    for grad, seed in zip(grads, seeds):
        term = e.op("dot" if grad.type.kind == "vec" else "mul", grad, seed)
        total = term if total is None else e.op("add", total, term)
    e.stmts.append(ir.Return((total,), fn.span))
    name = function_namer(program.names).name(naming.role(fn.name, naming.HVP))
    wrapper = ir.Function(name, fn.params + tuple(seeds), FLOAT, tuple(e.stmts), fn.span)
    return wrapper, {w: s.name for w, s in zip(wrt, seeds)}


def layout(wrt: list[str], args: dict) -> list[tuple[int, int | None]]:
    """Where each wrt parameter sits in the flat direction: (first index, length, or None for a float)."""
    out, start = [], 0
    for w in wrt:
        size = len(args[w]) if isinstance(args[w], np.ndarray) else None
        out.append((start, size))
        start += 1 if size is None else size
    if start * start > MAX_HESSIAN_ENTRIES:
        raise UsageError(f"--order 2 over {start:,} parameter elements would hold a Hessian of {start * start:,} "
                         f"numbers, more than the limit of {MAX_HESSIAN_ENTRIES:,}; use shorter vecs or fewer --grad "
                         "parameters (a Hessian-vector product needs no such matrix)")
    return out


def unit_seeds(built: HvpProgram, wrt: list[str], args: dict, places: list[tuple[str, int]], k: int) -> dict:
    """The seed arguments of direction k: 1 at flat element k, 0 elsewhere."""
    seeds = {}
    for w, (start, size) in zip(wrt, places):
        name = built.seeds[w]
        if size is not None:
            seed = np.zeros(size)
            if start <= k < start + size:
                seed[k - start] = 1.0
            seeds[name] = seed
        else:
            seeds[name] = 1.0 if k == start else 0.0
    return seeds


def assemble(wrt: list[str], places, columns: list[tuple]) -> dict[str, dict[str, object]]:
    """The Hessian's blocks from its columns (each the H u blocks in wrt's order): a number, a vec or a matrix
    per pair of parameters (rows: the first parameter's elements)."""
    n = len(columns)
    matrix = np.zeros((n, n))
    for k, blocks in enumerate(columns):
        for (start, size), block in zip(places, blocks):
            matrix[start:start + width(size), k] = np.atleast_1d(block)

    def block(p: int, q: int):
        (ps, pn), (qs, qn) = places[p], places[q]
        entries = matrix[ps:ps + width(pn), qs:qs + width(qn)]
        if pn is None and qn is None:
            return float(entries[0, 0])
        if pn is None:
            return entries[0].copy()
        if qn is None:
            return entries[:, 0].copy()
        return entries.copy()

    return {w: {v: block(i, j) for j, v in enumerate(wrt)} for i, w in enumerate(wrt)}


def width(size: int | None) -> int:
    """How many directions a parameter takes: a float one, a vec its length."""
    return 1 if size is None else size


def combined(first: RunResult, runs: list[RunResult]) -> tuple[int, int, list | None]:
    """Steps, tape peak and trace over the gradient's run and every direction's."""
    steps = first.steps + sum(r.steps for r in runs)
    peak = max([first.tape_peak, *(r.tape_peak for r in runs)])
    trace = None
    if first.trace is not None:
        trace = list(first.trace)
        for r in runs:
            trace += r.trace or []
    return steps, peak, trace
