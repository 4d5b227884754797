"""One run as every front end reports it: the function alone, or with its derivatives.

The CLI, the REPL and the API all come here, so `adlang run`, `:run` and
`prog.grad` compute the same thing the same way; `cache` (the API's) keeps
the derivative programs built, so calling again builds nothing.
"""

from __future__ import annotations

from typing import Any

from adlang.derivatives import compute, compute_hvp
from adlang.interp import engines
from adlang.interp.runtime import DEFAULT_MAX_TAPE
from adlang.ir.derive import finish
from adlang.ir.nodes import Function, Program
from adlang.options import derivative_mode
from adlang.report import RunReport


def run_report(
    program: Program,
    fn: Function,
    args: dict[str, Any],
    wrt: list[str] | None,
    mode: str,
    order: int,
    trace: bool,
    max_steps: int,
    engine: str = "interp",
    checkpoint: str = "none",
    max_tape: int = DEFAULT_MAX_TAPE,
    cache: dict | None = None,
) -> RunReport:
    """A plain run (the interpreter, or the compiled engine unless tracing), or a run with derivatives."""
    if wrt is None:
        result = engines.run(finish(program), fn.name, args, engine=engine, trace=trace, max_steps=max_steps,
                             max_tape=max_tape)
        grad = hessian = None
    else:
        result = compute(
            program, fn.name, args, wrt=wrt, mode=mode, order=order, trace=trace, max_steps=max_steps, engine=engine,
            checkpoint=checkpoint, max_tape=max_tape, cache=cache,
        )
        grad = result.grad
        hessian = result.hessian if order == 2 else None
    return RunReport(
        function=fn.name,
        args=args,
        value=result.value,
        steps=result.steps,
        grad=grad,
        hessian=hessian,
        trace=(result.trace or []) if trace else None,
        mode=mode if wrt is not None else None,
        tape_peak=result.tape_peak if wrt is not None else None,
        recomputed=result.recomputed if wrt is not None else None,
        loops=result.loops if wrt is not None else [],
    )


HVP_MODE = "forward-over-reverse"  # the cheapest pair for a Hessian-vector product: about two gradients


def hvp_mode(mode: str | None, api: bool = False) -> str:
    """`--mode` for a Hessian-vector product: a pair (outer over inner), a plain mode meaning that mode at both
    levels, or by default forward over reverse."""
    return derivative_mode(HVP_MODE if mode is None else mode, "2", True, api)[0]


def hvp_report(
    program: Program,
    fn: Function,
    args: dict[str, Any],
    wrt: list[str],
    direction: dict[str, Any],
    mode: str,
    *,
    show_grad: bool,
    order: int = 1,
    trace: bool = False,
    max_steps: int,
    engine: str = "interp",
    checkpoint: str = "none",
    max_tape: int = DEFAULT_MAX_TAPE,
    cache: dict | None = None,
) -> RunReport:
    """`run --hvp`: the value, H u along `direction` (a part per wrt parameter), the gradient where `show_grad`,
    and with `order` 2 the Hessian too, in the same mode."""
    run = compute_hvp(program, fn.name, args, direction, wrt=wrt, mode=mode, trace=trace, max_steps=max_steps,
                      engine=engine, checkpoint=checkpoint, max_tape=max_tape, cache=cache)
    report = RunReport(function=fn.name, args=args, value=run.value, steps=run.steps,
                       grad=run.grad if show_grad else None, trace=(run.trace or []) if trace else None, mode=mode,
                       tape_peak=run.tape_peak, recomputed=run.recomputed, direction=direction, hvp=run.hvp)
    if order == 2:
        full = compute(program, fn.name, args, wrt=wrt, mode=mode, order=2, max_steps=max_steps, engine=engine,
                       checkpoint=checkpoint, max_tape=max_tape, cache=cache)
        report.hessian = full.hessian
        report.steps += full.steps
        report.tape_peak = max(report.tape_peak, full.tape_peak)
        report.recomputed += full.recomputed
    return report
