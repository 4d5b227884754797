"""Derivatives of whole programs: the example programs, the spec's conventions, and control flow.

Expected numbers come from outside the implementation: derivatives worked out
by hand (written next to each program), numpy, or central finite differences
of plain runs of the program.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from adlang.arguments import bind_arguments
from adlang.derivatives import compute
from adlang.interp.interpreter import run_function
from adlang.ir.derive import derivative_program, diff_source, finish
from adlang.lang.errors import RuntimeFault
from adlang.pipeline import compile_source

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted((ROOT / "programs").glob("lecture/*.ad")) + sorted((ROOT / "programs").glob("examples/*.ad"))
FIRST_ORDER = ("forward", "reverse")

SECOND_ORDER = ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward")


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def compile_text(text: str):
    return compile_source(src(text), "<test>")


# ---------------------------------------------------------------- numbers


def flat(value) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=float))


def relative_error(got, want) -> float:
    got, want = flat(got), flat(want)
    assert got.shape == want.shape, f"shape {got.shape} vs {want.shape}"
    if got.size == 0:
        return 0.0
    return float(np.max(np.abs(got - want) / np.maximum(1.0, np.maximum(np.abs(got), np.abs(want)))))


def assert_close(got, want, rel: float, what: str = "") -> None:
    err = relative_error(got, want)
    assert err <= rel, f"{what}: got {got!r}, wanted {want!r} (relative error {err:.2e} > {rel:.0e})"


def value_of(program, fn: str, args: dict) -> float:
    return float(run_function(finish(program), fn, args).value)


def central_differences(program, fn: str, args: dict, wrt: list[str], h0: float = 1e-6) -> dict[str, np.ndarray]:
    """(f(x + h e_k) - f(x - h e_k)) / 2h for every element of every parameter in wrt."""
    out = {}
    for name in wrt:
        shape = np.shape(args[name])  # a mat's elements one by one, in row-major order
        base = flat(args[name]).ravel()
        grads = np.zeros_like(base)
        for k in range(base.shape[0]):
            h = h0 * max(1.0, abs(base[k]))
            values = []
            for step in (h, -h):
                moved = dict(args)
                x = base.copy()
                x[k] += step
                moved[name] = x.reshape(shape) if isinstance(args[name], np.ndarray) else float(x[0])
                values.append(value_of(program, fn, moved))
            grads[k] = (values[0] - values[1]) / (2 * h)
        out[name] = grads.reshape(shape) if isinstance(args[name], np.ndarray) else grads
    return out


def grads_of(program, fn, args, wrt, mode="reverse", order=1):
    return compute(program, fn, args, wrt=wrt, mode=mode, order=order)


def assert_gradient(text: str, args: dict, want: dict, fn: str = "f", rel: float = 1e-12) -> None:
    """Both modes give the hand-computed gradient `want` (and the value of a plain run)."""
    program = compile_text(text)
    wrt = list(want)
    primal = value_of(program, fn, args)
    for mode in FIRST_ORDER:
        run = grads_of(program, fn, args, wrt, mode)
        assert run.value == pytest.approx(primal, rel=1e-12, abs=1e-12)
        for name, expected in want.items():
            if isinstance(args[name], np.ndarray):
                got = run.grad[name]
                assert isinstance(got, np.ndarray) and got.shape == args[name].shape, f"{mode} d/d{name}: {got!r}"
            assert_close(run.grad[name], expected, rel, f"{mode} d/d{name}")


# ---------------------------------------------------------------- the example programs


class Example:
    def __init__(self, path: Path):
        self.path = path
        self.source = path.read_text()
        self.program = compile_source(self.source, str(path))
        lines = path.with_suffix(".args").read_text().splitlines()
        words = [w.replace("=@", f"=@{ROOT}/", 1) if "=@" in w else w for w in lines[0].split()]
        self.fn = "main" if self.program.function("main") is not None else self.program.functions[-1].name
        self.args = bind_arguments(self.program.function(self.fn), words)
        self.wrt = [w.strip() for w in lines[1].split(",") if w.strip()]


@pytest.fixture(scope="module", params=PROGRAMS, ids=[f"{p.parent.name}/{p.stem}" for p in PROGRAMS])
def example(request) -> Example:
    return Example(request.param)


def test_programs_are_found():
    assert len(PROGRAMS) >= 14
    for path in PROGRAMS:
        assert path.with_suffix(".args").exists(), f"{path} has no .args"


def test_example_forward_reverse_and_finite_differences(example: Example):
    program, fn, args, wrt = example.program, example.fn, example.args, example.wrt
    forward = grads_of(program, fn, args, wrt, "forward")
    reverse = grads_of(program, fn, args, wrt, "reverse")
    primal = value_of(program, fn, args)
    fd = central_differences(program, fn, args, wrt)
    for run in (forward, reverse):
        assert run.value == pytest.approx(primal, rel=1e-12, abs=1e-12)
    for name in wrt:
        if isinstance(args[name], np.ndarray):
            for run in (forward, reverse):
                assert isinstance(run.grad[name], np.ndarray) and run.grad[name].shape == args[name].shape
        assert_close(forward.grad[name], reverse.grad[name], 1e-9, f"forward vs reverse d/d{name}")
        assert_close(forward.grad[name], fd[name], 1e-5, f"forward vs central differences d/d{name}")
        assert_close(reverse.grad[name], fd[name], 1e-5, f"reverse vs central differences d/d{name}")


def entry_of(text: str) -> str:
    """The name of the last `def` of a program text (the entry of a derivative program)."""
    names = [line.split("(")[0][4:] for line in text.splitlines() if line.startswith("def ")]
    assert names, text
    return names[-1]


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_example_diff_source_never_defines_main(example: Example, mode: str):
    text = diff_source(example.program, example.fn, example.wrt, mode)
    assert text == diff_source(example.program, example.fn, example.wrt, mode), "diff output is not deterministic"
    assert "def main(" not in text


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_example_diff_source_runs_and_differentiates_again(example: Example, mode: str):
    program, fn, args, wrt = example.program, example.fn, example.args, example.wrt
    text = diff_source(program, fn, wrt, mode)
    printed = compile_source(text, "<diff output>")
    entry = entry_of(text)
    outputs = run_function(printed, entry, args).value
    direct = grads_of(program, fn, args, wrt, mode)
    assert len(outputs) == 1 + len(wrt)
    assert_close(outputs[0], direct.value, 1e-12, "value of the printed program")
    for i, name in enumerate(wrt):
        assert_close(outputs[1 + i], direct.grad[name], 1e-12, f"printed program's d/d{name}")

    # Differentiate the printed program again: a wrapper picks the first gradient component (element 0 of a
    # vec), and its derivative w.r.t. the first wrt parameter is checked in both modes and by finite differences.
    first = wrt[0]
    params = printed.function(entry).params
    param_list = ", ".join(p.name for p in params)
    decl = ", ".join(f"{p.name}: {p.type}" for p in params)
    outs = ", ".join(f"o{k}_" for k in range(1 + len(wrt)))
    picked = {0: "o1_", 1: "o1_[0]", 2: "o1_[0, 0]"}[np.ndim(args[first])]
    wrapper = f"\ndef pick_({decl}) -> float:\n    let {outs} = {entry}({param_list})\n    return {picked}\n"
    again = compile_source(text + wrapper, "<diff output again>")
    second = {m: grads_of(again, "pick_", args, [first], m).grad[first] for m in FIRST_ORDER}
    assert_close(second["forward"], second["reverse"], 1e-9, "second derivative: forward vs reverse")
    fd = central_differences(again, "pick_", args, [first], h0=1e-5)[first]
    assert_close(second["reverse"], fd, 1e-5, "second derivative vs central differences of the first")


# ---------------------------------------------------------------- the spec's conventions


def test_abs_derivative_at_zero_is_zero():
    assert_gradient("""
        def f(x) -> float:
            return abs(x)
    """, {"x": 0.0}, {"x": 0.0})
    assert_gradient("""
        def f(x) -> float:
            return 3.0 * abs(x - 1.5) + x
    """, {"x": 1.5}, {"x": 1.0})
    assert_gradient("""
        def f(v: vec) -> float:
            return sum(abs(v))
    """, {"v": np.array([0.0, -2.0, 3.0])}, {"v": [0.0, -1.0, 1.0]})


@pytest.mark.parametrize("op", ["max", "min"])
def test_tie_passes_the_derivative_to_the_first_argument(op):
    assert_gradient(f"""
        def f(a, b) -> float:
            return {op}(a, b)
    """, {"a": 1.25, "b": 1.25}, {"a": 1.0, "b": 0.0})
    # through expressions: the first argument's derivative (2) wins, not the second's (3)
    assert_gradient(f"""
        def f(x) -> float:
            return {op}(2.0 * x, 3.0 * x)
    """, {"x": 0.0}, {"x": 2.0})
    assert_gradient(f"""
        def f(u: vec, w: vec) -> float:
            return sum({op}(u, w))
    """, {"u": np.array([1.0, 2.0, 3.0]), "w": np.array([1.0, 5.0, -1.0])},
        {"u": [1.0, 1.0 if op == "min" else 0.0, 0.0 if op == "min" else 1.0],
         "w": [0.0, 0.0 if op == "min" else 1.0, 1.0 if op == "min" else 0.0]})


@pytest.mark.parametrize("x", [-2.0, 0.0, 1.5])
def test_int_power_is_differentiable_everywhere(x):
    assert_gradient("""
        def f(x) -> float:
            return x ^ 3
    """, {"x": x}, {"x": 3 * x**2})
    assert_gradient("""
        def f(x, n: int) -> float:
            return x ^ n
    """, {"x": x, "n": 4}, {"x": 4 * x**3})
    assert_gradient("""
        def f(x) -> float:
            return x ^ 2 + x ^ 1
    """, {"x": x}, {"x": 2 * x + 1})


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_int_power_zero_at_zero(mode):
    program = compile_text("""
        def f(x) -> float:
            return x ^ 0
    """)
    run = compute(program, "f", {"x": 0.0}, wrt=["x"], mode=mode)
    assert (run.value, run.grad["x"]) == (1.0, 0.0)


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_int_variable_power_zero_at_zero(mode):
    program = compile_text("""
        def f(x, n: int) -> float:
            return x ^ n
    """)
    run = compute(program, "f", {"x": 0.0, "n": 0}, wrt=["x"], mode=mode)
    assert (run.value, run.grad["x"]) == (1.0, 0.0)


@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_int_variable_power_one_second_derivative_at_zero(mode):
    program = compile_text("""
        def f(x, n: int) -> float:
            return x ^ n
    """)
    run = compute(program, "f", {"x": 0.0, "n": 1}, wrt=["x"], mode=mode, order=2)
    assert (run.value, run.grad["x"], run.hessian["x"]["x"]) == (0.0, 1.0, 0.0)


def test_int_parameter_has_no_derivative_on_the_command_line(tmp_path):
    path = tmp_path / "prog.ad"
    path.write_text("def f(x, n: int) -> float:\n    return x * n\n")
    base = [sys.executable, "-m", "adlang", "run", str(path), "x=2", "n=3"]
    bad = subprocess.run(base + ["--grad", "n"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2, bad.stderr
    assert "usage error" in bad.stderr and "'n'" in bad.stderr
    assert "Traceback" not in bad.stderr
    good = subprocess.run(base + ["--grad", "x", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["grad"] == {"x": 3.0}


def test_vec_gradient_is_a_list_on_the_command_line(tmp_path):
    path = tmp_path / "prog.ad"
    path.write_text("def f(v: vec, x) -> float:\n    return dot(v, v) * x\n")
    out = subprocess.run([sys.executable, "-m", "adlang", "run", str(path), "v=[1,2,3]", "x=0.5", "--grad", "v,x",
                          "--mode", "forward", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["grad"] == {"v": [1.0, 2.0, 3.0], "x": 14.0}


def runtime_fault(program, fn, args, wrt, mode) -> RuntimeFault:
    with pytest.raises(RuntimeFault) as info:
        compute(program, fn, args, wrt=wrt, mode=mode)
    return info.value


SQRT = """
    def f(x) -> float:
        let a = x * 2.0
        let b = sqrt(a)
        return b + x
"""


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_sqrt_derivative_at_zero_is_a_runtime_error_at_the_sqrt(mode):
    program = compile_text(SQRT)
    assert value_of(program, "f", {"x": 0.0}) == 0.0  # the value itself is fine
    err = runtime_fault(program, "f", {"x": 0.0}, ["x"], mode)
    assert "sqrt" in err.message
    assert err.span is not None and err.span.line == 3, f"{err.span}: {err.message}"
    # elsewhere it is 1 / sqrt(2x) + 1
    run = compute(program, "f", {"x": 2.0}, wrt=["x"], mode=mode)
    assert run.grad["x"] == pytest.approx(0.5 + 1.0, rel=1e-15)


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_sqrt_derivative_at_zero_in_a_vec(mode):
    program = compile_text("""
        def f(v: vec) -> float:
            let r = sqrt(v)
            return sum(r)
    """)
    err = runtime_fault(program, "f", {"v": np.array([1.0, 0.0])}, ["v"], mode)
    assert "sqrt" in err.message and err.span.line == 2


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_log_derivative(mode):
    program = compile_text("""
        def f(x) -> float:
            let a = log(x)
            return a * x
    """)
    for x in (0.25, 1.0, 3.5):
        run = compute(program, "f", {"x": x}, wrt=["x"], mode=mode)
        assert run.grad["x"] == pytest.approx(math.log(x) + 1.0, rel=1e-14)
    err = runtime_fault(program, "f", {"x": 0.0}, ["x"], mode)
    assert "log" in err.message and err.span.line == 2


POWER = """
    def f(a, b) -> float:
        let s = a + 0.0
        let p = s ^ b
        return p
"""


@pytest.mark.parametrize("mode", FIRST_ORDER)
@pytest.mark.parametrize("a", [-2.0, 0.0])
def test_power_wrt_exponent_at_nonpositive_base_is_a_runtime_error(mode, a):
    program = compile_text(POWER)
    args = {"a": a, "b": 2.0}
    assert value_of(program, "f", args) == a**2
    err = runtime_fault(program, "f", args, ["a", "b"], mode)
    assert err.span is not None and err.span.line == 3, f"{err.span}: {err.message}"
    assert "log" in err.message or "^" in err.message or "pow" in err.message
    # with respect to the base alone it is 2a
    run = compute(program, "f", args, wrt=["a"], mode=mode)
    assert run.grad["a"] == 2 * a


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_power_wrt_exponent_at_positive_base(mode):
    program = compile_text(POWER)
    run = compute(program, "f", {"a": 1.5, "b": 2.5}, wrt=["a", "b"], mode=mode)
    assert run.grad["a"] == pytest.approx(2.5 * 1.5**1.5, rel=1e-14)
    assert run.grad["b"] == pytest.approx(1.5**2.5 * math.log(1.5), rel=1e-14)


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_division_by_zero_in_the_primal_is_a_runtime_error_at_its_line(mode):
    program = compile_text("""
        def f(x, y) -> float:
            let a = x + 1.0
            let d = y - 2.0
            let q = a / d
            return q
    """)
    err = runtime_fault(program, "f", {"x": 1.0, "y": 2.0}, ["x", "y"], mode)
    assert "division by zero" in err.message and err.span.line == 4
    with pytest.raises(RuntimeFault) as plain:
        run_function(program, "f", {"x": 1.0, "y": 2.0})
    assert plain.value.span.line == 4


# ---------------------------------------------------------------- the lecture's foo, reverse mode


def foo_example() -> Example:
    return Example(ROOT / "programs/lecture/foo.ad")


def test_lecture_foo_reverse_trace():
    ex = foo_example()
    run = compute(ex.program, "foo", {"x": 2.0, "y": 3.0}, wrt=["x", "y"], mode="reverse", trace=True)
    assert [(t.name, t.value) for t in run.trace] == [
        ("a", 7.0), ("b", 21.0), ("dbdb", 1.0), ("dbda", 3.0), ("dbdy", 7.0), ("dbdx", 3.0)]
    assert run.value == 21.0 and run.grad == {"x": 3.0, "y": 7.0}


def test_lecture_foo_reverse_text():
    ex = foo_example()
    text = diff_source(ex.program, "foo", ["x", "y"], "reverse")
    lines = [line.strip() for line in text.splitlines()]
    for wanted in ("let dbda = y * dbdb", "let dbdy = a * dbdb", "let dbdx = dbda"):
        assert wanted in lines, f"{wanted!r} not in\n{text}"


def test_lecture_foo_forward_text():
    ex = foo_example()
    text = diff_source(ex.program, "foo", ["x", "y"], "forward")
    lines = [line.strip() for line in text.splitlines()]
    for wanted in ("let dxdx = 1.0", "let dydx = 0.0", "let dadx = dxdx"):
        assert wanted in lines, f"{wanted!r} not in\n{text}"


# ---------------------------------------------------------------- fan-out


@pytest.mark.parametrize(("expr", "derivative"), [
    ("x * x", lambda x: 2 * x),
    ("x + x", lambda x: 2.0),
    ("x * x * x", lambda x: 3 * x**2),
    ("sin(x) * x", lambda x: math.cos(x) * x + math.sin(x)),
    ("x - x * 0.5", lambda x: 0.5),
    ("x / (x + 2.0)", lambda x: 2.0 / (x + 2.0) ** 2),
])
@pytest.mark.parametrize("x", [1.3, -0.4])
def test_fan_out_sums_adjoints(expr, derivative, x):
    assert_gradient(f"""
        def f(x) -> float:
            return {expr}
    """, {"x": x}, {"x": derivative(x)}, rel=1e-14)
    # the same through named variables, each used several times
    assert_gradient(f"""
        def f(x) -> float:
            let a = x
            let b = {expr.replace("x", "a")}
            let c = b + a * a
            return c * a
    """, {"x": x}, {"x": derivative(x) * x + (eval(expr, {"x": x, "sin": math.sin}) + x * x) + 2 * x * x},
        rel=1e-13)


# ---------------------------------------------------------------- control flow


def test_loop_variable_reused_across_two_loops():
    text = """
        def f(x, v: vec) -> float:
            let s = 0.0
            for i in 0..4:
                s += x ^ i
            for i in 0..len(v):
                let t = v[i] * x
                s += t * float(i)
            return s
    """
    x, v = 1.3, np.array([0.5, -1.0, 2.0])
    dx = 1 + 2 * x + 3 * x**2 + sum(v[i] * i for i in range(3))
    dv = [x * i for i in range(3)]
    assert_gradient(text, {"x": x, "v": v}, {"x": dx, "v": dv})


@pytest.mark.parametrize("n", [0, 1, 4])
def test_while_loop_with_a_counter(n):
    text = """
        def f(x, n: int) -> float:
            let k = 0
            let p = 1.0
            while k < n:
                p = p * x
                k += 1
            let q = p
            let j = 0
            while j < 2 and q < 100.0:
                q = q + sin(x) * q
                j = j + 1
            return q
    """
    x = 1.2
    p = x**n
    q = p * (1 + math.sin(x)) ** 2
    dp = n * x ** (n - 1) if n else 0.0
    dq = dp * (1 + math.sin(x)) ** 2 + p * 2 * (1 + math.sin(x)) * math.cos(x)
    program = compile_text(text)
    assert value_of(program, "f", {"x": x, "n": n}) == pytest.approx(q, rel=1e-14)
    assert_gradient(text, {"x": x, "n": n}, {"x": dq}, rel=1e-13)


def test_while_loop_on_a_float_condition():
    """Doubling until past 10: near x = 0.7 it takes 4 trips, r = 16 x and s = 15 x, so f = 16 x^2 + 15 x."""
    assert_gradient("""
        def f(x) -> float:
            let r = x
            let s = 0.0
            while r < 10.0:
                s += r
                r = r * 2.0
            return r * x + s
    """, {"x": 0.7}, {"x": 32 * 0.7 + 15})


class Dual:
    """A value with its derivatives along x and y: an oracle for the control-flow tests, outside adlang."""

    def __init__(self, v, dx=0.0, dy=0.0):
        self.v, self.dx, self.dy = v, dx, dy

    def __add__(self, o):
        o = o if isinstance(o, Dual) else Dual(o)
        return Dual(self.v + o.v, self.dx + o.dx, self.dy + o.dy)

    def __sub__(self, o):
        return self + o * -1.0

    def __mul__(self, o):
        o = o if isinstance(o, Dual) else Dual(o)
        return Dual(self.v * o.v, self.dx * o.v + self.v * o.dx, self.dy * o.v + self.v * o.dy)

    def sin(self):
        return Dual(math.sin(self.v), math.cos(self.v) * self.dx, math.cos(self.v) * self.dy)


def test_if_elif_else_inside_loops():
    text = """
        def f(x, y) -> float:
            let acc = 1.0
            for i in 0..6:
                if i < 2:
                    acc = acc * x
                elif i < 4:
                    let s = sin(x)
                    acc = acc + s
                else:
                    acc = acc * y
            for j in 0..3:
                if acc > 5.0:
                    acc = acc - y
                else:
                    acc = acc + x * y
            return acc
    """
    for x, y in [(0.9, 1.7), (1.3, 2.1), (-0.4, 0.8)]:
        dx, dy = Dual(x, 1.0, 0.0), Dual(y, 0.0, 1.0)
        acc = Dual(1.0)
        for i in range(6):
            acc = acc * dx if i < 2 else acc + dx.sin() if i < 4 else acc * dy
        for _ in range(3):
            acc = acc - dy if acc.v > 5.0 else acc + dx * dy
        program = compile_text(text)
        assert value_of(program, "f", {"x": x, "y": y}) == pytest.approx(acc.v, rel=1e-14)
        assert_gradient(text, {"x": x, "y": y}, {"x": acc.dx, "y": acc.dy}, rel=1e-13)


def test_call_inside_a_loop():
    text = """
        def g(a, b) -> float:
            let c = a * sin(b)
            return c + b

        def f(x, y) -> float:
            let s = 0.0
            for i in 1..4:
                s += g(x, float(i) * y)
                s = s * 0.5
            return s
    """
    # s3 = sum_i g_i / 2^(4 - i), g_i = x sin(i y) + i y
    x, y = 0.8, 0.6
    w = {1: 0.125, 2: 0.25, 3: 0.5}
    dx = sum(w[i] * math.sin(i * y) for i in w)
    dy = sum(w[i] * (x * i * math.cos(i * y) + i) for i in w)
    assert_gradient(text, {"x": x, "y": y}, {"x": dx, "y": dy}, rel=1e-13)


def test_helper_returning_a_tuple():
    text = """
        def h(a, b):
            let p = a * b
            return p, a + b

        def f(x, y) -> float:
            let p, q = h(x, y)
            let r, t = h(p, x)
            return p * q + r - t
    """
    # p q = x^2 y + x y^2, r = x^2 y, t = x y + x
    x, y = 1.1, -0.7
    dx = 2 * x * y + y**2 + 2 * x * y - y - 1
    dy = x**2 + 2 * x * y + x**2 - x
    assert_gradient(text, {"x": x, "y": y}, {"x": dx, "y": dy}, rel=1e-13)


def test_tuple_destructured_inside_a_loop():
    text = """
        def step(a, b):
            return b, a + b

        def f(x, y) -> float:
            let a = x
            let b = y
            for i in 0..5:
                let na, nb = step(a, b)
                a = na
                b = nb
            return b
    """
    # Fibonacci: (a, b) -> (b, a + b) five times from (x, y): b = 5 x + 8 y
    assert_gradient(text, {"x": 0.3, "y": -1.2}, {"x": 5.0, "y": 8.0})


def test_vec_indexing_in_loops_scatter_adds():
    text = """
        def f(v: vec, x) -> float:
            let s = 0.0
            for i in 0..len(v):
                s += v[i] * v[i] * float(i)
                s += v[0] * x
            return s + mean(v) + dot(v, v) * x + sum(v * x)
    """
    v, x = np.array([0.5, -1.5, 2.0, 0.25]), 0.7
    n = len(v)
    dv = 2 * v * np.arange(n) + 1 / n + 2 * v * x + x
    dv[0] += n * x
    dx = n * v[0] + float(np.dot(v, v)) + float(np.sum(v))
    assert_gradient(text, {"v": v, "x": x}, {"v": dv, "x": dx}, rel=1e-13)


def test_vec_built_in_a_loop():
    text = """
        def f(v: vec) -> float:
            let w = zeros(len(v))
            for i in 0..len(v):
                w = w + v * v[i]
            return dot(w, ones(len(v)))
    """
    # w = v * sum(v), so f = sum(v)^2 and the gradient is 2 sum(v) everywhere
    v = np.array([0.5, -1.5, 2.0])
    assert_gradient(text, {"v": v}, {"v": np.full(3, 2 * v.sum())}, rel=1e-13)


def test_vec_literal_and_update_in_a_loop():
    text = """
        def f(x, y) -> float:
            let p = [x, y]
            for i in 0..3:
                p = [p[0] * y, p[1] + p[0]]
            return p[0] + p[1]
    """
    # (a, b) -> (a y, b + a): a3 = x y^3, b3 = y + x + x y + x y^2
    x, y = 0.6, 1.4
    dx = y**3 + 1 + y + y**2
    dy = 3 * x * y**2 + 1 + x + 2 * x * y
    assert_gradient(text, {"x": x, "y": y}, {"x": dx, "y": dy}, rel=1e-13)


# ---------------------------------------------------------------- second derivatives


@pytest.mark.parametrize("mode", SECOND_ORDER + FIRST_ORDER)
def test_cube_second_derivative(mode):
    ex = Example(ROOT / "programs/lecture/cube.ad")
    run = compute(ex.program, "f", {"x": 2.0}, wrt=["x"], mode=mode, order=2)
    assert run.value == 40.0
    assert run.grad == {"x": 60.0}
    assert run.hessian == {"x": {"x": 60.0}}


@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_lecture_loop_hessian(mode):
    ex = Example(ROOT / "programs/lecture/loop.ad")
    x, y = 1.5, 1.1
    run = compute(ex.program, "foo", {"x": x, "y": y}, wrt=["x", "y"], mode=mode, order=2)
    assert run.value == pytest.approx(x * y**9, rel=1e-14)
    assert_close([run.grad["x"], run.grad["y"]], [y**9, 9 * x * y**8], 1e-13, "gradient")
    h = run.hessian
    want = [[0.0, 9 * y**8], [9 * y**8, 72 * x * y**7]]
    assert_close([[h["x"]["x"], h["x"]["y"]], [h["y"]["x"], h["y"]["y"]]], want, 1e-13, f"{mode} Hessian")


@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_hessian_printed_program(mode):
    ex = Example(ROOT / "programs/lecture/loop.ad")
    args = {"x": 1.5, "y": 1.1}
    text = diff_source(ex.program, "foo", ["x", "y"], mode, order=2)
    outputs = run_function(compile_source(text, "<hessian>"), entry_of(text), args).value
    direct = compute(ex.program, "foo", args, wrt=["x", "y"], mode=mode, order=2)
    h = direct.hessian
    assert_close(outputs, [direct.value, direct.grad["x"], direct.grad["y"], h["x"]["x"], h["x"]["y"],
                           h["y"]["x"], h["y"]["y"]], 1e-12, "printed Hessian program")


def test_a_printed_hessian_program_refuses_vec_parameters():
    program = compile_text("""
        def f(v: vec) -> float:
            return dot(v, v)
    """)
    from adlang.lang.errors import UsageError

    with pytest.raises(UsageError, match="one Hessian-vector product per element"):
        derivative_program(program, "f", ["v"], "forward-over-reverse", order=2)


VEC_HESSIAN = """
    def f(v: vec(3), x) -> float:
        let s = 0.0
        for i in 0..len(v):
            s = s + sin(v[i]) * x ^ 2
        return x * dot(v, v) + s
"""


def vec_hessian_by_hand(v: np.ndarray, x: float) -> dict:
    """f = x (v . v) + x^2 sum(sin v): the blocks of its Hessian, by calculus."""
    return {"v": {"v": np.diag(2 * x - x**2 * np.sin(v)), "x": 2 * v + 2 * x * np.cos(v)},
            "x": {"v": 2 * v + 2 * x * np.cos(v), "x": 2 * np.sum(np.sin(v))}}


@pytest.mark.parametrize("engine", ["interp", "compiled"])
@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_run_gives_a_vec_hessian_by_hessian_vector_products(mode, engine):
    program = compile_text(VEC_HESSIAN)
    v, x = np.array([0.3, -1.2, 2.0]), 1.7
    run = compute(program, "f", {"v": v, "x": x}, wrt=["v", "x"], mode=mode, order=2, engine=engine)
    expected = vec_hessian_by_hand(v, x)
    for p in ("v", "x"):
        for q in ("v", "x"):
            got = np.asarray(run.hessian[p][q])
            assert got.shape == np.shape(expected[p][q]), (p, q, got)
            assert_close(got, expected[p][q], 1e-12, f"{mode} d2f/d{p}d{q}")
    assert_close(run.grad["v"], 2 * x * v + x**2 * np.cos(v), 1e-12, "d/dv")
    assert_close(run.value, x * v @ v + x**2 * np.sum(np.sin(v)), 1e-12, "value")
    # the order of --grad is the order of the blocks
    swapped = compute(program, "f", {"v": v, "x": x}, wrt=["x", "v"], mode=mode, order=2, engine=engine)
    assert list(swapped.hessian) == ["x", "v"] and list(swapped.hessian["x"]) == ["x", "v"]
    assert_close(swapped.hessian["v"]["v"], expected["v"]["v"], 1e-12, "swapped d2f/dv2")


def test_a_vec_hessian_checks_the_declared_length_and_takes_empty_vecs():
    program = compile_text(VEC_HESSIAN)
    with pytest.raises(RuntimeFault, match="vec\\(3\\), but this vec has length 2"):
        compute(program, "f", {"v": np.ones(2), "x": 1.0}, wrt=["v"], order=2)
    empty = compile_text("""
        def g(v: vec, x) -> float:
            return x * sum(v)
    """)
    run = compute(empty, "g", {"v": np.zeros(0), "x": 2.0}, wrt=["v"], order=2)
    assert run.value == 0.0 and run.grad["v"].shape == (0,) and run.hessian["v"]["v"].shape == (0, 0)
    run = compute(empty, "g", {"v": np.zeros(0), "x": 2.0}, wrt=["v", "x"], order=2)
    assert run.hessian["x"]["x"] == 0.0 and np.shape(run.hessian["v"]["x"]) == (0,)


SYMMETRIC = {
    "if_in_loop": ("""
        def f(x, y) -> float:
            let acc = x
            for i in 0..4:
                if acc < 2.0:
                    acc = acc * y
                else:
                    acc = acc + x * x
            return acc
    """, {"x": 0.8, "y": 1.7}),
    "ifs_and_loops": ("""
        def f(x, y, z) -> float:
            let acc = x * y
            for i in 0..3:
                if acc > 1.0:
                    acc = acc * z - y
                elif acc > 0.0:
                    acc = acc + sin(x * z)
                else:
                    acc = acc * acc + y
            let k = 0
            while k < 2:
                acc = acc * exp(0.1 * y) + x * z
                k += 1
            return acc
    """, {"x": 0.8, "y": 1.3, "z": 0.9}),
    "calls_and_tuples": ("""
        def h(a, b):
            return a * b, sin(a) + b * b

        def f(x, y, z) -> float:
            let s = 0.0
            for i in 0..3:
                let p, q = h(x + s, y * z)
                s = s + p * q / (3.0 + float(i))
            return s * tanh(z)
    """, {"x": 0.4, "y": 0.7, "z": -0.6}),
    "vecs_inside": ("""
        def f(x, y, z) -> float:
            let v = [x, y, z]
            let w = v * v
            let s = 0.0
            for i in 0..3:
                if w[i] > 0.5:
                    s += w[i] * v[i]
                else:
                    s += sqrt(w[i] + 1.0) * y
            return s + dot(v, w) * mean(v)
    """, {"x": 0.3, "y": -1.1, "z": 0.9}),
}


def hessian_matrix(program, args, mode) -> np.ndarray:
    wrt = list(args)
    run = compute(program, "f", args, wrt=wrt, mode=mode, order=2)
    assert run.value == pytest.approx(value_of(program, "f", args), rel=1e-12)
    return np.array([[run.hessian[p][q] for q in wrt] for p in wrt])


def gradient_differences(program, args) -> np.ndarray:
    """Central differences of the forward-mode gradient: column j is d(grad)/d(arg j)."""
    wrt = list(args)
    fd = np.zeros((len(wrt), len(wrt)))
    for j, q in enumerate(wrt):
        h = 1e-5
        plus = compute(program, "f", dict(args, **{q: args[q] + h}), wrt=wrt, mode="forward").grad
        minus = compute(program, "f", dict(args, **{q: args[q] - h}), wrt=wrt, mode="forward").grad
        for i, p in enumerate(wrt):
            fd[i, j] = (plus[p] - minus[p]) / (2 * h)
    return fd


@pytest.mark.parametrize("mode", SECOND_ORDER)
@pytest.mark.parametrize("name", sorted(SYMMETRIC))
def test_hessians_are_symmetric_and_match_differences(name, mode):
    text, args = SYMMETRIC[name]
    program = compile_text(text)
    hessian = hessian_matrix(program, args, mode)
    assert_close(hessian, hessian.T, 1e-10, f"{mode}: symmetry")
    assert_close(hessian, gradient_differences(program, args), 1e-5, f"{mode} vs differences of the gradient")


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
def test_first_order_modes_of_the_hessian_programs(name):
    """The first-order gradients of the programs above."""
    text, args = SYMMETRIC[name]
    program = compile_text(text)
    wrt = list(args)
    fd = central_differences(program, "f", args, wrt)
    for mode in FIRST_ORDER:
        grad = grads_of(program, "f", args, wrt, mode).grad
        for p in wrt:
            assert_close(grad[p], fd[p], 1e-5, f"{mode} d/d{p}")


# ---------------------------------------------------------------- reproductions of bugs found while writing these
# Each failed when it was written (as a strict xfail); the passes were fixed since, and they stay as regression tests.


def test_reverse_loop_carried_adjoint_of_a_later_update():
    """s = x^2 + (x^2)^2 = 11.388 at 1.3; reverse mode gave 5.98 (the `a = a * x` after a use got no adjoint)."""
    program = compile_text("""
        def f(x) -> float:
            let a = x
            let s = 0.0
            for i in 0..2:
                s = s + a * a
                a = a * x
            return s
    """)
    x = 1.3
    assert compute(program, "f", {"x": x}, wrt=["x"], mode="forward").grad["x"] == pytest.approx(2 * x + 4 * x**3)
    assert compute(program, "f", {"x": x}, wrt=["x"], mode="reverse").grad["x"] == pytest.approx(2 * x + 4 * x**3)


def test_reverse_tuple_call_in_a_loop():
    """s = 3 * (2x); reverse mode gave 12 (the adjoint of p's temporary grew 1, 2, 3 over the trips)."""
    program = compile_text("""
        def h(a):
            return a * 2.0, a * 3.0

        def f(x) -> float:
            let s = 0.0
            for i in 0..3:
                let p, q = h(x)
                s = s + p
            return s
    """)
    assert compute(program, "f", {"x": 1.3}, wrt=["x"], mode="forward").grad["x"] == 6.0
    assert compute(program, "f", {"x": 1.3}, wrt=["x"], mode="reverse").grad["x"] == 6.0


def test_reverse_vec_literal_let_in_a_loop():
    """A RuntimeFault was: 'daccdt' is a vec(2), but this vec has length 0 (its zeros(0) placeholder)."""
    program = compile_text("""
        def f(x) -> float:
            let acc = 0.0
            for k in 0..1:
                let t = [x, x]
                acc = acc + t[0]
            return acc
    """)
    assert compute(program, "f", {"x": 0.7}, wrt=["x"], mode="reverse").grad["x"] == 1.0


def test_reverse_vec_literal_let_in_an_if_not_taken():
    """The same RuntimeFault where the if is not taken."""
    program = compile_text("""
        def f(x) -> float:
            let acc = 0.0
            if x > 0.0:
                let t = [x, x]
                acc = acc + t[0]
            return acc
    """)
    assert compute(program, "f", {"x": 0.7}, wrt=["x"], mode="reverse").grad["x"] == 1.0  # this one works
    assert compute(program, "f", {"x": -0.7}, wrt=["x"], mode="reverse").grad["x"] == 0.0


def test_reverse_over_reverse_vec_let_in_a_loop():
    """f(x) = g([x, x]) = 4x, Hessian 0; reverse over reverse failed: 'vecs of different lengths (0 and 2)'."""
    program = compile_text("""
        def g(v: vec) -> float:
            let s = 0.0
            for k in 0..1:
                let t = v * 2.0
                s = s + sum(t)
            return s

        def f(x) -> float:
            return g([x, x])
    """)
    for mode in SECOND_ORDER:
        run = compute(program, "f", {"x": 0.7}, wrt=["x"], mode=mode, order=2)
        assert (run.value, run.grad["x"], run.hessian["x"]["x"]) == (pytest.approx(2.8), 4.0, 0.0), mode


def test_reverse_vec_literal_let_in_a_loop_without_trips():
    """The same RuntimeFault where the loop runs no trip."""
    program = compile_text("""
        def f(x, n: int) -> float:
            let acc = x
            for k in 0..n:
                let t = [x, x]
                acc = acc + t[0]
            return acc
    """)
    assert compute(program, "f", {"x": 0.7, "n": 2}, wrt=["x"], mode="reverse").grad["x"] == 3.0  # this one works
    assert compute(program, "f", {"x": 0.7, "n": 0}, wrt=["x"], mode="reverse").grad["x"] == 1.0


def test_reverse_pop_in_a_loop_after_a_use():
    """s = a0 x + a1 x with a0 = 0, a1 = 2x (popped): 4x. Reverse mode gave 2x: it pushed 0.0 for a's adjoint."""
    program = compile_text("""
        def f(x) -> float:
            let a = 0.0
            push(x)
            let b = x * 2.0
            push(b)
            let s = 0.0
            for i in 0..2:
                s = s + a * x
                a = pop()
            return s
    """)
    x = 0.8
    assert compute(program, "f", {"x": x}, wrt=["x"], mode="forward").grad["x"] == pytest.approx(4 * x)
    assert compute(program, "f", {"x": x}, wrt=["x"], mode="reverse").grad["x"] == pytest.approx(4 * x)


def test_reverse_over_reverse_of_a_loop():
    """acc -> acc * acc * x twice from x: f = x^7, f'' = 42 x^5 = 13.76 at 0.8; reverse over reverse gave 14.06."""
    program = compile_text("""
        def f(x) -> float:
            let acc = x
            for i in 0..2:
                acc = acc * acc * x
            return acc
    """)
    x = 0.8
    for mode in SECOND_ORDER:
        run = compute(program, "f", {"x": x}, wrt=["x"], mode=mode, order=2)
        assert run.hessian["x"]["x"] == pytest.approx(42 * x**5, rel=1e-12), mode


def test_forward_diff_with_vec_wrt_never_defines_main():
    """The forward entry called main itself for the value, so the output defined `main`."""
    program = compile_text("""
        def main(v: vec) -> float:
            return sum(v * v)
    """)
    text = diff_source(program, "main", ["v"], "forward")
    assert "def main(" not in text, text


def test_forward_update_of_a_parameter_not_differentiated():
    """Forward mode read the never-declared tangent dydx: KeyError (an internal error, exit 3)."""
    program = compile_text("""
        def f(x, y) -> float:
            y += x
            return y
    """)
    assert compute(program, "f", {"x": 0.5, "y": 1.0}, wrt=["x"], mode="reverse").grad["x"] == 1.0  # works
    assert compute(program, "f", {"x": 0.5, "y": 1.0}, wrt=["x"], mode="forward").grad["x"] == 1.0


def test_forward_update_of_a_float_parameter_with_a_vec_in_wrt():
    """The JVP along v alone read the never-declared tangent dxdv: KeyError."""
    program = compile_text("""
        def f(x, v: vec) -> float:
            x = x * v[0]
            return x
    """)
    run = compute(program, "f", {"x": 2.0, "v": np.array([3.0, 4.0])}, wrt=["x", "v"], mode="forward")
    assert run.grad["x"] == 3.0 and list(run.grad["v"]) == [2.0, 0.0]


def test_reverse_while_inside_a_for():
    """s = x * x^6; reverse mode stopped with KeyError 'trips' (the nested while's counter was never declared)."""
    program = compile_text("""
        def f(x) -> float:
            let s = x
            for i in 0..2:
                let k = 0
                while k < 3:
                    s = s * x
                    k += 1
            return s
    """)
    x = 0.5
    assert compute(program, "f", {"x": x}, wrt=["x"], mode="forward").grad["x"] == pytest.approx(7 * x**6)
    assert compute(program, "f", {"x": x}, wrt=["x"], mode="reverse").grad["x"] == pytest.approx(7 * x**6)


def test_reverse_while_inside_an_if():
    """KeyError 'trips' too."""
    program = compile_text("""
        def f(x) -> float:
            let s = x
            if x > 0.0:
                while s < 1.0:
                    s = s * 2.0
            return s * x
    """)
    # at x = 0.3 the loop runs twice: s = 4x, f = 4 x^2
    assert compute(program, "f", {"x": 0.3}, wrt=["x"], mode="reverse").grad["x"] == pytest.approx(8 * 0.3)


# ---------------------------------------------------------------- more bugs found by these tests, fixed since


def test_reverse_of_an_update_through_a_double_negation():
    program = compile_text("""
        def f(x, y) -> float:
            x = 1.0 - (-y)
            return x
    """)
    args = {"x": 0.5, "y": 0.3}
    unsimplified, entry = derivative_program(program, "f", ["x", "y"], "reverse", simplify=False)
    assert run_function(unsimplified, entry, args).value == (pytest.approx(1.3), 0.0, 1.0)
    assert compute(program, "f", args, wrt=["x", "y"], mode="forward").grad == {"x": 0.0, "y": 1.0}
    assert compute(program, "f", args, wrt=["x", "y"], mode="reverse").grad == {"x": 0.0, "y": 1.0}


@pytest.mark.parametrize("text", [
    """
    def f(x) -> float:
        let k = 0
        while k < 2:
            let t = x * 2.0
            k += 1
        return x
    """,
    """
    def f(x, n: int) -> float:
        if n == 3:
            let p = x
            p = p * 2.0
        else:
            x = x * x
        return x
    """,
], ids=["while", "if"])
def test_unsimplified_reverse_program_is_valid(text):
    program = compile_text(text)
    args = {"x": 0.5, "n": 1} if "n: int" in text else {"x": 0.5}
    for simplify in (True, False):
        printed = diff_source(program, "f", ["x"], "reverse", simplify=simplify)
        reparsed = compile_source(printed, "<no-simplify>")
        # f = x (the while loop) or x^2 (the else branch, n = 1): both have derivative 1 at x = 0.5
        assert run_function(reparsed, entry_of(printed), args).value[1] == 1.0


@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_int_variable_power_zero_second_derivative_at_zero(mode):
    program = compile_text("""
        def f(x, n: int) -> float:
            return x ^ n
    """)
    run = compute(program, "f", {"x": 0.0, "n": 0}, wrt=["x"], mode=mode, order=2)
    assert (run.value, run.grad["x"], run.hessian["x"]["x"]) == (1.0, 0.0, 0.0)


def test_reverse_while_with_varying_trips_inside_a_for():
    """s = x * x^2 * x^1 = x^4: 4 x^3 at 0.7 in both modes (reverse mode once replayed the last trip count)."""
    program = compile_text("""
        def f(x) -> float:
            let s = x
            for i in 0..2:
                let k = 0
                while k < 2 - i:
                    s = s * x
                    k += 1
            return s
    """)
    x = 0.7
    assert compute(program, "f", {"x": x}, wrt=["x"], mode="forward").grad["x"] == pytest.approx(4 * x**3)
    assert compute(program, "f", {"x": x}, wrt=["x"], mode="reverse").grad["x"] == pytest.approx(4 * x**3)


@pytest.mark.parametrize("engine", ["interp", "compiled"])
@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_an_error_only_the_derivative_makes_says_so(mode, engine):
    """d/db a ^ b = a ^ b log(a): at a = -2, b = 2 the value is 4 and the derivative undefined, and the error
    names that derivative; log(a) at a = -2 in the function itself is the function's error, reported as a
    plain run reports it."""
    derivative_only = compile_text("""
        def f(a, b) -> float:
            let y = a ^ b
            return y
    """)
    with pytest.raises(RuntimeFault) as info:
        compute(derivative_only, "f", {"a": -2.0, "b": 2.0}, wrt=["b"], mode=mode, engine=engine)
    assert info.value.message.startswith("the derivative of a ^ b with respect to b needs a > 0 (it is a ^ b * "
                                         "log(a)); here a = -2.0; ")
    assert info.value.span.line == 2
    primal = compile_text("""
        def f(a) -> float:
            let y = log(a)
            return y
    """)
    with pytest.raises(RuntimeFault) as plain:
        run_function(primal, "f", {"a": -2.0})
    with pytest.raises(RuntimeFault) as derived:
        compute(primal, "f", {"a": -2.0}, wrt=["a"], mode=mode, engine=engine)
    assert derived.value.message == plain.value.message
