"""`grad f(args) wrt p` inside the language: parsing, checking, values, nesting, and differentiating it again."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from helpers import compile_text, type_error

from adlang.derivatives import compute
from adlang.interp.interpreter import run_function
from adlang.ir.derive import diff_source, finish
from adlang.ir.printer import print_program
from adlang.pipeline import compile_source

SECOND_ORDER = ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward")

PERTURBATION = """
    def inner(x, y):
        return x + y

    def g(x):
        let v, dy = grad inner(x, 1.0) wrt y
        return x * dy
"""

THREE_DEEP = """
    def f(x):
        return x ^ 4

    def d1(x):
        let v, d = grad f(x) wrt x
        return d

    def d2(x):
        let v, d = grad d1(x) wrt x
        return d

    def d3(x):
        let v, d = grad d2(x) wrt x
        return d
"""


def test_value_and_gradient_of_a_two_parameter_function():
    program = compile_text("""
        def loss(m, b) -> float:
            return (m * 2.0 + b - 5.0) ^ 2

        def main(m, b) -> float:
            let l, dm, db = grad loss(m, b) wrt m, b
            return l + 10.0 * dm + 100.0 * db
    """)
    m, b = 1.5, 0.25
    r = 2 * m + b - 5
    expected = r**2 + 10 * (2 * r * 2) + 100 * (2 * r)
    assert run_function(finish(program), "main", {"m": m, "b": b}).value == pytest.approx(expected, rel=1e-12)


def test_grad_with_respect_to_a_vec_gives_a_vec():
    program = compile_text("""
        def sq(v: vec) -> float:
            return dot(v, v)

        def main(v: vec) -> float:
            let s, dv = grad sq(v) wrt v
            return sum(dv) + s
    """)
    import numpy as np

    v = np.array([1.0, -2.0, 0.5])
    assert run_function(finish(program), "main", {"v": v}).value == pytest.approx(2 * v.sum() + v @ v)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_perturbation_confusion_first_order(mode):
    """d/dx [x * (d/dy (x + y)) at y = 1] at x = 1 is 1, not 2 (JuliaDiff/ForwardDiff.jl issue 83)."""
    run = compute(compile_text(PERTURBATION), "g", {"x": 1.0}, wrt=["x"], mode=mode)
    assert run.grad["x"] == 1.0


@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_perturbation_confusion_second_order(mode):
    run = compute(compile_text(PERTURBATION), "g", {"x": 1.0}, wrt=["x"], mode=mode, order=2)
    assert (run.value, run.grad["x"], run.hessian["x"]["x"]) == (1.0, 1.0, 0.0)


def test_three_deep_values():
    """x^4: 4x^3, 12x^2, 24x at x = 1.5."""
    program = compile_text(THREE_DEEP)
    x = 1.5
    assert run_function(finish(program), "d1", {"x": x}).value == pytest.approx(4 * x**3)
    assert run_function(finish(program), "d2", {"x": x}).value == pytest.approx(12 * x**2)
    assert run_function(finish(program), "d3", {"x": x}).value == pytest.approx(24 * x)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_three_deep_differentiated_again(mode):
    program = compile_text(THREE_DEEP)
    assert compute(program, "d3", {"x": 1.5}, wrt=["x"], mode=mode).grad["x"] == pytest.approx(24.0)


@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_hessian_of_a_function_with_grad_inside(mode):
    """d2 = 12 x^2, so its second derivative is 24."""
    run = compute(compile_text(THREE_DEEP), "d2", {"x": 0.5}, wrt=["x"], mode=mode, order=2)
    assert run.value == pytest.approx(3.0)
    assert run.grad["x"] == pytest.approx(12.0)
    assert run.hessian["x"]["x"] == pytest.approx(24.0)


def test_newton_iterations_written_in_adlang():
    """Newton's method for the minimum of (x - 2)^4 + x^2, the Hessian from a grad of a grad."""
    program = compile_text("""
        def f(x):
            return (x - 2.0) ^ 4 + x ^ 2

        def df(x):
            let v, d = grad f(x) wrt x
            return d

        def newton(x0) -> float:
            let x = x0
            for k in 0..30:
                let g, h = grad df(x) wrt x
                x = x - g / h
            return x
    """)
    x = run_function(finish(program), "newton", {"x0": 0.0}).value
    assert 4 * (x - 2) ** 3 + 2 * x == pytest.approx(0.0, abs=1e-12)


def test_printed_ir_round_trips_and_derivative_program_runs(tmp_path):
    program = compile_text(THREE_DEEP)
    text = print_program(program, types=True)
    assert compile_source(text, "<printed>") == program
    assert "let v, d = grad d1(x) wrt x" in text
    derived = diff_source(program, "d3", ["x"], "reverse")
    path = tmp_path / "d.ad"
    path.write_text(derived)
    out = subprocess.run([sys.executable, "-m", "adlang", "run", str(path), "x=2", "--fn", "d3_reverse", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '"value": [48.0, 24.0]' in out.stdout


def test_grad_and_wrt_remain_ordinary_names():
    program = compile_text("""
        def f(grad, wrt):
            let g = grad * wrt
            return g
    """)
    assert run_function(finish(program), "f", {"grad": 2.0, "wrt": 3.0}).value == 6.0


@pytest.mark.parametrize(
    "body, message",
    [
        ("let v, d = grad nope(x) wrt x", "unknown 'nope'"),
        ("let v, d = grad h(x, n) wrt z", "'z' is not a parameter of h"),
        ("let v, d = grad h(x, n) wrt n", "'n' is int"),
        ("let v = grad h(x, n) wrt x", "gives 2 values"),
        ("let v, d, e = grad h(x, n) wrt x, x", "appears twice"),
        ("let v, d = grad k(x) wrt x", "float result"),
    ],
)
def test_grad_type_errors(body, message):
    err = type_error(f"""
        def h(x, n: int):
            return x * n

        def k(x) -> int:
            return 3

        def main(x, n: int):
            {body}
            return x
    """)
    assert message in err.message
    assert err.span.line == 8


def test_a_misspelled_wrt_is_a_parse_error():
    from adlang.lang.errors import ParseError

    with pytest.raises(ParseError, match="expected `wrt`"):
        compile_source("def h(x):\n    return x\n\ndef f(x):\n    let v, d = grad h(x) with x\n    return v\n", "t")


def test_grad_in_a_loop_gives_finite_results():
    program = compile_text("""
        def f(x):
            return sin(x) * x

        def main(x):
            let total = 0.0
            for i in 0..5:
                let v, d = grad f(x + i) wrt x
                total += d
            return total
    """)
    x = 0.3
    expected = sum(math.sin(x + i) + (x + i) * math.cos(x + i) for i in range(5))
    assert run_function(finish(program), "main", {"x": x}).value == pytest.approx(expected)
    run = compute(program, "main", {"x": x}, wrt=["x"], mode="reverse")
    second = sum(2 * math.cos(x + i) - (x + i) * math.sin(x + i) for i in range(5))
    assert run.grad["x"] == pytest.approx(second)
