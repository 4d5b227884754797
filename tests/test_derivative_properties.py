"""Properties of derivatives on random programs (tests/strategies.py) at random points.

First order: forward mode equals reverse mode, both equal central finite
differences computed here from plain runs (an example near a kink or a branch
switch is discarded: the one-sided differences on both sides, at two step
sizes, must agree first), and the printed derivative program, simplified or
not, parsed back and run, gives the same numbers. Second order: the four mode
pairs agree and the Hessian is symmetric.

Known bugs of the passes would make these properties fail on some programs. A
failure is excused only when the derivative program of the failing mode has
the pattern of such a bug (`known_patterns`, each with a minimal reproduction
as a strict xfail in test_derivatives.py); that mode is then left out of the
comparisons for that example. Any other failure fails the test.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st
from strategies import generated, points

from adlang.derivatives import compute, derivative_program, diff_source
from adlang.errors import AdlangError
from adlang.interp.interpreter import run_function
from adlang.ir import nodes as ir
from adlang.pipeline import compile_source

FIRST_ORDER = ("forward", "reverse")
SECOND_ORDER = ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward")
FAILURES = (AssertionError, AdlangError, ArithmeticError, LookupError, AttributeError, ValueError, TypeError)

# ---------------------------------------------------------------- the patterns of known bugs

# NEG_NEG: the simplifier folds `let a = -b; ...; c = -a` into `c = b` even where b is updated in between
#     (a reverse-mode adjoint reset to 0 after its last use), so a derivative silently becomes 0.
# WHILE_TRIPS: reverse mode, a while loop inside another loop: the backward sweep replays the last trip count.
# INT_POWER: second order, `x ^ n` with an int variable n = 0 at x = 0: dpow(0, -1) divides by zero.
# EMPTY_BLOCK: the unsimplified derivative program holds an empty block (the backward loop of a while loop
#     whose body has no adjoint, the backward branch of an if whose branch has none), invalid when printed.


def _neg_of_updated_neg(fn: ir.Function) -> bool:
    updated = {s.target.name for s in ir.walk(fn.body) if isinstance(s, ir.Assign)}
    negs = {}  # name -> the variable it negates, for `let a = -b` with b updated somewhere
    for s in ir.walk(fn.body):
        if isinstance(s, ir.Let) and isinstance(s.expr, ir.Prim) and s.expr.op == "neg":
            operand = s.expr.args[0]
            if isinstance(operand, ir.Var) and operand.name in updated:
                negs[s.targets[0].name] = operand.name
    for s in ir.walk(fn.body):
        if isinstance(s, (ir.Let, ir.Assign)) and isinstance(s.expr, ir.Prim) and s.expr.op == "neg":
            operand = s.expr.args[0]
            if isinstance(operand, ir.Var) and operand.name in negs:
                return True
    return False


def _while_in_loop(fn: ir.Function) -> bool:
    return any(isinstance(t, ir.While) for s in ir.walk(fn.body) if isinstance(s, (ir.For, ir.While))
               for t in ir.walk(s.body))


def _has_empty_block(fn: ir.Function) -> bool:
    return any((isinstance(s, (ir.For, ir.While)) and not s.body) or (isinstance(s, ir.If) and not s.then)
               for s in ir.walk(fn.body))


# the patterns that excuse a failing or wrong derivative (EMPTY_BLOCK excuses only an invalid printed program)
NUMERIC_BUGS = {"NEG_NEG", "WHILE_TRIPS", "INT_POWER"}


def known_patterns(program: ir.Program, fn: str, wrt: list[str], mode: str, order: int) -> set[str]:
    """The known-bug patterns of the program and of its unsimplified derivative program in this mode and order."""
    try:
        derived, _ = derivative_program(program, fn, wrt, mode, order, simplify=False)
    except FAILURES:
        return set()
    found = set()
    if "reverse" in mode and any(_while_in_loop(f) for f in program.functions):
        found.add("WHILE_TRIPS")
    if order == 2 and any(isinstance(s, (ir.Let, ir.Assign)) and isinstance(s.expr, ir.Prim) and s.expr.op == "pow"
                          and isinstance(s.expr.args[1], ir.Var) and s.expr.args[1].type.kind == "int"
                          for f in program.functions for s in ir.walk(f.body)):
        found.add("INT_POWER")
    if any(_neg_of_updated_neg(f) for f in derived.functions):
        found.add("NEG_NEG")
    if any(_has_empty_block(f) for f in derived.functions):
        found.add("EMPTY_BLOCK")
    return found


# ---------------------------------------------------------------- numbers


def close(a, b, rel: float, floor: float) -> bool:
    a, b = np.atleast_1d(np.asarray(a, dtype=float)), np.atleast_1d(np.asarray(b, dtype=float))
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rel * np.maximum(np.abs(a), np.abs(b)) + floor))


def value(program, args) -> float:
    return float(run_function(program, "main", args).value)


def smooth_differences(program, args: dict, wrt: list[str]) -> dict[str, np.ndarray]:
    """Central differences, discarding the example when f is not smooth around the point."""
    out = {}
    f0 = value(program, args)
    for name in wrt:
        base = np.atleast_1d(np.asarray(args[name], dtype=float))
        grads = np.zeros_like(base)
        for k in range(base.shape[0]):
            def at(x, name=name, base=base, k=k):
                moved = dict(args)
                arr = base.copy()
                arr[k] = x
                moved[name] = arr if isinstance(args[name], np.ndarray) else float(arr[0])
                return value(program, moved)

            x = base[k]
            h = 1e-6 * max(1.0, abs(x))
            up, down = at(x + h), at(x - h)
            one_sided = [(up - f0) / h, (f0 - down) / h, (at(x + h / 8) - f0) / (h / 8), (f0 - at(x - h / 8)) / (h / 8)]
            assume(all(math.isfinite(d) for d in one_sided))
            scale = max(1.0, max(abs(d) for d in one_sided))
            assume(max(one_sided) - min(one_sided) <= 1e-4 * scale)  # a kink or a jump within h: not comparable
            grads[k] = (up - down) / (2 * h)
        out[name] = grads
    return out


def entry_name(text: str) -> str:
    return [line.split("(")[0][4:] for line in text.splitlines() if line.startswith("def ")][-1]


# ---------------------------------------------------------------- first order


@st.composite
def cases(draw):
    gen = draw(generated(smooth=draw(st.booleans())))
    args = draw(points(gen.arg_names))
    candidates = [n for n in gen.arg_names if n != "n"]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=len(candidates), unique=True))
    wrt = [n for n in candidates if n in chosen]  # in parameter order
    note(gen.source)
    note(f"args: {args}, wrt: {wrt}")
    return gen, args, wrt


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cases())
def test_first_order_modes_agree_with_finite_differences(case):
    check_first_order(*case)


def check_first_order(gen, args, wrt):
    program = compile_source(gen.source, "<generated>")
    primal = value(program, args)
    runs = {}
    for mode in FIRST_ORDER:
        patterns = known_patterns(program, "main", wrt, mode, 1)
        excuses = patterns & NUMERIC_BUGS
        try:
            run = compute(program, "main", args, wrt=wrt, mode=mode)
            assert close(run.value, primal, 1e-12, 1e-12), f"{mode}: value {run.value}, a plain run gives {primal}"
        except FAILURES:
            if not excuses:
                raise
            event(f"{mode} failed, excused by {sorted(excuses)}")
            continue
        runs[mode] = (run, excuses, patterns)
    fd = smooth_differences(program, args, wrt)
    good = {}
    for mode, (run, excuses, _) in runs.items():
        ok = all(close(run.grad[w], fd[w], 1e-5, 1e-5) for w in wrt)
        if not ok and excuses:
            event(f"{mode} wrong, excused by {sorted(excuses)}")
            continue
        for w in wrt:
            assert close(run.grad[w], fd[w], 1e-5, 1e-5), f"{mode} d/d{w}: {run.grad[w]} vs differences {fd[w]}"
            if isinstance(args[w], np.ndarray):
                assert isinstance(run.grad[w], np.ndarray) and run.grad[w].shape == args[w].shape
        good[mode] = run
    if len(good) == 2:
        agree = all(close(good["forward"].grad[w], good["reverse"].grad[w], 1e-9, 1e-9) for w in wrt)
        if not agree and (runs["forward"][1] or runs["reverse"][1]):
            event("forward and reverse differ, excused")
            good.pop("forward" if runs["forward"][1] else "reverse")
    if len(good) == 2:
        for w in wrt:
            f, r = good["forward"].grad[w], good["reverse"].grad[w]
            assert close(f, r, 1e-9, 1e-9), f"d/d{w}: forward {f} vs reverse {r}"
    event(f"modes checked: {sorted(good)}")

    # the printed derivative program, simplified and not, parsed back and run, gives the same numbers
    for mode, run in good.items():
        for simplify in (True, False):
            text = diff_source(program, "main", wrt, mode, simplify=simplify)
            try:
                printed = compile_source(text, "<printed>")
            except AdlangError:
                if simplify or "EMPTY_BLOCK" not in runs[mode][2]:
                    raise
                event("unsimplified program invalid, excused by EMPTY_BLOCK")
                continue
            outputs = run_function(printed, entry_name(text), args).value
            same = close(outputs[0], run.value, 1e-12, 1e-300) and all(
                close(outputs[1 + i], run.grad[w], 1e-12, 1e-15) for i, w in enumerate(wrt))
            assert same, f"printed {mode} program (simplify={simplify}): {outputs} vs {run.value}, {run.grad}"


# ---------------------------------------------------------------- second order


@st.composite
def float_cases(draw):
    gen = draw(generated(smooth=draw(st.booleans())))
    args = draw(points(gen.arg_names))
    floats = [n for n in gen.arg_names if n not in ("n", "v")]
    chosen = draw(st.lists(st.sampled_from(floats), min_size=1, max_size=len(floats), unique=True))
    note(gen.source)
    note(f"args: {args}")
    return gen, args, [n for n in floats if n in chosen]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(float_cases())
def test_second_order_modes_agree_and_hessian_is_symmetric(case):
    check_second_order(*case)


def check_second_order(gen, args, wrt):
    program = compile_source(gen.source, "<generated>")
    primal = value(program, args)
    hessians, excused = {}, {}
    for mode in SECOND_ORDER:
        excuses = known_patterns(program, "main", wrt, mode, 2) & NUMERIC_BUGS
        try:
            run = compute(program, "main", args, wrt=wrt, mode=mode, order=2)
        except FAILURES:
            if not excuses:
                raise
            event(f"{mode} failed, excused by {sorted(excuses)}")
            continue
        assert close(run.value, primal, 1e-12, 1e-12)
        hessians[mode] = np.array([[run.hessian[p][q] for q in wrt] for p in wrt])
        excused[mode] = excuses
    for mode, h in hessians.items():
        if not close(h, h.T, 1e-6, 1e-6):
            assert excused[mode], f"{mode}: Hessian not symmetric:\n{h}"
            event(f"{mode} asymmetric, excused by {sorted(excused[mode])}")
    modes = sorted(hessians)
    for i, m1 in enumerate(modes):
        for m2 in modes[i + 1:]:
            if not close(hessians[m1], hessians[m2], 1e-6, 1e-6):
                assert excused[m1] or excused[m2], f"{m1} vs {m2}:\n{hessians[m1]}\n{hessians[m2]}"
                event("modes disagree, excused")
    event(f"modes compared: {len(hessians) - sum(bool(excused[m]) for m in hessians)} without excuses")
