"""Properties of derivatives on random programs (tests/strategies.py) at random points.

First order: forward mode equals reverse mode, both equal central finite
differences computed here from plain runs (an example near a kink or a branch
switch is discarded: the one-sided differences on both sides, at two step
sizes, must agree first), and the printed derivative program, simplified or
not, parsed back and run, gives the same numbers. Second order: the four mode
pairs agree and the Hessian is symmetric. Every failure fails the test: the
bugs these properties found are regression tests in test_derivatives.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from strategies import generated, points

from adlang.derivatives import compute
from adlang.interp.interpreter import run_function
from adlang.ir.derive import diff_source, finish
from adlang.lang.errors import AdlangError
from adlang.pipeline import compile_source

FIRST_ORDER = ("forward", "reverse")
SECOND_ORDER = ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward")
FAILURES = (AssertionError, AdlangError, ArithmeticError, LookupError, AttributeError, ValueError, TypeError)

# ---------------------------------------------------------------- numbers


def close(a, b, rel: float, floor: float) -> bool:
    a, b = np.atleast_1d(np.asarray(a, dtype=float)), np.atleast_1d(np.asarray(b, dtype=float))
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rel * np.maximum(np.abs(a), np.abs(b)) + floor))


def value(program, args) -> float:
    return float(run_function(finish(program), "main", args).value)


def smooth_differences(program, args: dict, wrt: list[str]) -> dict[str, np.ndarray]:
    """Central differences, discarding the example when f is not smooth around the point."""
    out = {}
    f0 = value(program, args)
    for name in wrt:
        base = np.atleast_1d(np.asarray(args[name], dtype=float))  # a float, a vec or a mat (element by element)
        grads = np.zeros_like(base)
        for k in range(base.size):
            def at(x, name=name, base=base, k=k):
                moved = dict(args)
                arr = base.copy()
                arr.flat[k] = x
                moved[name] = arr if isinstance(args[name], np.ndarray) else float(arr[0])
                return value(program, moved)

            x = base.flat[k]
            h = 1e-6 * max(1.0, abs(x))
            up, down = at(x + h), at(x - h)
            one_sided = [(up - f0) / h, (f0 - down) / h, (at(x + h / 8) - f0) / (h / 8), (f0 - at(x - h / 8)) / (h / 8)]
            assume(all(math.isfinite(d) for d in one_sided))
            scale = max(1.0, max(abs(d) for d in one_sided))
            # a kink or a jump within h: not comparable. The bound is the tolerance the differences are then held
            # to (1e-5), so a kink whose sides differ by less than 1e-4 cannot pass as smooth (the long fuzz run
            # found max(tanh(6 tanh(x)), 0) fed to exp(-exp(-p^2)^2) at x = 0: derivative 0, difference 1.3e-5)
            assume(max(one_sided) - min(one_sided) <= 1e-5 * scale)
            grads.flat[k] = (up - down) / (2 * h)
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


@st.composite
def mat_cases(draw):
    """Smooth programs with mats (tests/strategies.py, `mats=True`): the derivative with respect to the mat A too.
    (Smooth: at a tie of max, where the convention picks a side, central differences may see a slope.)"""
    gen = draw(generated(smooth=True, mats=True))
    args = draw(points(gen.arg_names))
    candidates = [n for n in gen.arg_names if n != "n"]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=len(candidates), unique=True))
    note(gen.source)
    note(f"args: {args}")
    return gen, args, [n for n in candidates if n in chosen]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                                 HealthCheck.data_too_large])
@given(mat_cases())
def test_first_order_with_mats_agrees_with_finite_differences(case):
    check_first_order(*case)


def check_first_order(gen, args, wrt):
    program = compile_source(gen.source, "<generated>")
    primal = value(program, args)
    runs = {}
    for mode in FIRST_ORDER:
        run = compute(program, "main", args, wrt=wrt, mode=mode)
        assert close(run.value, primal, 1e-12, 1e-12), f"{mode}: value {run.value}, a plain run gives {primal}"
        runs[mode] = run
    fd = smooth_differences(program, args, wrt)
    for mode, run in runs.items():
        for w in wrt:
            assert close(run.grad[w], fd[w], 1e-5, 1e-5), f"{mode} d/d{w}: {run.grad[w]} vs differences {fd[w]}"
            if isinstance(args[w], np.ndarray):
                assert isinstance(run.grad[w], np.ndarray) and run.grad[w].shape == args[w].shape
    for w in wrt:
        f, r = runs["forward"].grad[w], runs["reverse"].grad[w]
        assert close(f, r, 1e-9, 1e-9), f"d/d{w}: forward {f} vs reverse {r}"

    # the printed derivative program, simplified and not, parsed back and run, gives the same numbers
    for mode, run in runs.items():
        for simplify in (True, False):
            text = diff_source(program, "main", wrt, mode, simplify=simplify)
            printed = compile_source(text, "<printed>")
            outputs = run_function(printed, entry_name(text), args).value
            same = close(outputs[0], run.value, 1e-12, 1e-300) and all(
                close(outputs[1 + i], run.grad[w], 1e-12, 1e-15) for i, w in enumerate(wrt))
            assert same, f"printed {mode} program (simplify={simplify}): {outputs} vs {run.value}, {run.grad}"


# ---------------------------------------------------------------- second order


@st.composite
def second_order_cases(draw):
    """Any float parameters and the vec `v` (its Hessian blocks element by element)."""
    gen = draw(generated(smooth=draw(st.booleans())))
    args = draw(points(gen.arg_names))
    candidates = [n for n in gen.arg_names if n != "n"]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=len(candidates), unique=True))
    note(gen.source)
    note(f"args: {args}")
    return gen, args, [n for n in candidates if n in chosen]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(second_order_cases())
def test_second_order_modes_agree_and_hessian_is_symmetric(case):
    check_second_order(*case)


def coordinates(args: dict, wrt: list[str]) -> list[tuple[str, int | None]]:
    """The Hessian's rows: each float parameter, each element of a vec."""
    return [(w, k) for w in wrt for k in (range(len(args[w])) if isinstance(args[w], np.ndarray) else [None])]


def hessian_matrix(hessian: dict, args: dict, wrt: list[str]) -> np.ndarray:
    """The JSON-shaped Hessian (a number, a list or a list of lists per pair) as one matrix over `coordinates`.

    The shapes are the contract: a block is checked to be exactly the shape its two parameters give.
    """
    def size(w):
        return len(args[w]) if isinstance(args[w], np.ndarray) else None

    rows = []
    for p in wrt:
        row = []
        for q in wrt:
            block = np.asarray(hessian[p][q], dtype=float)
            shape = tuple(n for n in (size(p), size(q)) if n is not None)
            assert block.shape == shape, f"hessian[{p}][{q}] has shape {block.shape}, not {shape}"
            row.append(block.reshape(size(p) or 1, size(q) or 1))
        rows.append(row)
    return np.block(rows) if rows else np.zeros((0, 0))


def check_second_order(gen, args, wrt):
    program = compile_source(gen.source, "<generated>")
    primal = value(program, args)
    hessians = {}
    for mode in SECOND_ORDER:
        run = compute(program, "main", args, wrt=wrt, mode=mode, order=2)
        assert close(run.value, primal, 1e-12, 1e-12)
        hessians[mode] = hessian_matrix(run.hessian, args, wrt)
    for mode, h in hessians.items():
        assert close(h, h.T, 1e-9, 1e-9), f"{mode}: Hessian not symmetric:\n{h}"
    modes = sorted(hessians)
    for i, m1 in enumerate(modes):
        for m2 in modes[i + 1:]:
            assert close(hessians[m1], hessians[m2], 1e-9, 1e-9), f"{m1} vs {m2}:\n{hessians[m1]}\n{hessians[m2]}"
    assume_hessian_continuous(program, args, wrt, hessians["reverse-over-reverse"])
    fd = gradient_differences(program, args, wrt)
    for mode, h in hessians.items():
        assert close(h, fd, 1e-5, 1e-5), f"{mode}: Hessian\n{h}\nvs differences of the gradient\n{fd}"


def moved_to(args: dict, name: str, k: int | None, x: float) -> dict:
    """`args` with one coordinate set to x (a vec copied, not changed in place)."""
    moved = dict(args)
    if k is None:
        moved[name] = x
    else:
        moved[name] = args[name].copy()
        moved[name][k] = x
    return moved


def at(args: dict, name: str, k: int | None) -> float:
    return float(args[name] if k is None else args[name][k])


def assume_hessian_continuous(program, args: dict, wrt: list[str], hessian: np.ndarray) -> None:
    """Discard a point where the Hessian jumps.

    abs(x ^ 2) is smooth at 0, but abs'(0) = 0 makes its AD Hessian 0 there and 2 on both sides:
    the Hessian a step away tells.
    """
    for p, k in coordinates(args, wrt):
        x = at(args, p, k)
        moved = moved_to(args, p, k, x + 1e-5 * max(1.0, abs(x)))
        run = compute(program, "main", moved, wrt=wrt, mode="reverse-over-reverse", order=2)
        assume(close(hessian_matrix(run.hessian, moved, wrt), hessian, 1e-3, 1e-3))


def gradient_differences(program, args: dict, wrt: list[str]) -> np.ndarray:
    """Row p: central differences of the reverse-mode gradient along p (the example is discarded near a kink)."""
    def grad_at(name, k, x):
        run = compute(program, "main", moved_to(args, name, k, x), wrt=wrt, mode="reverse")
        return np.concatenate([np.atleast_1d(np.asarray(run.grad[q], dtype=float)) for q in wrt])

    rows = []
    for p, k in coordinates(args, wrt):
        x = at(args, p, k)
        h = 1e-5 * max(1.0, abs(x))
        g0 = grad_at(p, k, x)
        # At two step sizes: a jump of the gradient (abs at 0: -1, 0, 1) has equal one-sided
        # differences at one step size, but they grow as the step shrinks.
        one_sided = [(grad_at(p, k, x + h) - g0) / h, (g0 - grad_at(p, k, x - h)) / h,
                     (grad_at(p, k, x + h / 8) - g0) / (h / 8), (g0 - grad_at(p, k, x - h / 8)) / (h / 8)]
        scale = max(1.0, float(np.max(np.abs(one_sided))))
        assume(all(float(np.max(np.abs(d - one_sided[0]))) <= 1e-3 * scale for d in one_sided[1:]))
        rows.append((grad_at(p, k, x + h) - grad_at(p, k, x - h)) / (2 * h))
    return np.array(rows)


@pytest.mark.filterwarnings("ignore:Using `assume` outside")  # the helper, called directly
def test_a_jump_of_the_gradient_is_not_compared_with_differences():
    """Found by hypothesis: abs at 0 has one-sided differences of its gradient that agree at one step size."""
    from hypothesis.errors import UnsatisfiedAssumption

    program = compile_source("def main(x0: float) -> float:\n    x0 = abs(x0)\n    return x0\n")
    with pytest.raises(UnsatisfiedAssumption):
        gradient_differences(program, {"x0": 0.0}, ["x0"])
    assert gradient_differences(program, {"x0": 0.5}, ["x0"]) == pytest.approx(np.zeros((1, 1)), abs=1e-6)


@pytest.mark.filterwarnings("ignore:Using `assume` outside")  # the helper, called directly
def test_a_jump_of_the_hessian_is_not_compared_with_differences():
    """Found by hypothesis: abs(x ^ 2) is smooth, but its AD Hessian at 0 is 0 (abs'(0) = 0), 2 elsewhere."""
    from hypothesis.errors import UnsatisfiedAssumption

    program = compile_source("def main(x0: float) -> float:\n    x0 = x0 ^ 2\n    x0 = abs(x0)\n    return x0\n")
    for x, hessian in ((0.0, 0.0), (0.5, 2.0)):
        run = compute(program, "main", {"x0": x}, wrt=["x0"], mode="reverse-over-reverse", order=2)
        assert run.hessian["x0"]["x0"] == hessian
    with pytest.raises(UnsatisfiedAssumption):
        assume_hessian_continuous(program, {"x0": 0.0}, ["x0"], np.zeros((1, 1)))
    assume_hessian_continuous(program, {"x0": 0.5}, ["x0"], np.full((1, 1), 2.0))


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")  # assume() outside @given
def test_found_a_flat_kink_is_not_compared_with_differences():
    """Regression (long fuzz run): a max tie at 0 on one side of a flat function. Every mode says 0 (both one-sided
    derivatives are 0); the central difference is O(h), and the harness must call the point a kink."""
    from hypothesis.errors import UnsatisfiedAssumption

    program = compile_source(
        "def main(x0: float) -> float:\n"
        "    let p = max(tanh(6.0 * tanh(x0)), 0.0)\n"
        "    return exp(-exp(-p ^ 2) ^ 2)\n", "<found>")
    for mode in ("forward", "reverse"):
        assert compute(program, "main", {"x0": 0.0}, wrt=["x0"], mode=mode).grad["x0"] == 0.0
    with pytest.raises(UnsatisfiedAssumption):
        smooth_differences(program, {"x0": 0.0}, ["x0"])
