"""The interpreter: every primitive of the registry, control flow, calls, runtime errors, steps and traces.

Expected values come from Python's math and numpy (or by hand), never from
a run of the interpreter itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import PROGRAM_PATHS, PROGRAMS_DIR, compile_text, load_example, run, run_result, runtime_error, src

from adlang.interp.interpreter import run_function
from adlang.ir import nodes as ir
from adlang.ir.primitives import REGISTRY
from adlang.lang.errors import RuntimeFault
from adlang.pipeline import compile_source

# ---------------------------------------------------------------- every primitive

X, Y = 1.3, -0.4
N, M = 7, 2
U = np.array([0.5, -1.5, 2.0])
W = np.array([1.0, 2.0, -0.25])
B, C = True, False
A = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
VALUES = {"x": X, "y": Y, "n": N, "m": M, "u": U, "w": W, "b": B, "c": C, "a": A}


def _signature() -> str:
    def param(name, value):
        if isinstance(value, bool):
            return f"{name}: bool"
        if isinstance(value, int):
            return f"{name}: int"
        if isinstance(value, np.ndarray):
            return f"{name}: mat" if value.ndim == 2 else f"{name}: vec"
        return name

    return ", ".join(param(k, v) for k, v in VALUES.items())


@dataclass
class Case:
    prim: str
    expr: str
    expected: object

    @property
    def id(self) -> str:
        return f"{self.prim}:{self.expr}"


CASES = [
    # + - * on ints stay ints; mixed promote; vecs are elementwise with scalars and vecs
    Case("add", "x + y", X + Y),
    Case("add", "n + m", N + M),
    Case("add", "x + n", X + N),
    Case("add", "u + w", U + W),
    Case("add", "u + x", U + X),
    Case("add", "n + u", N + U),
    Case("sub", "x - y", X - Y),
    Case("sub", "m - n", M - N),
    Case("sub", "u - w", U - W),
    Case("sub", "1.0 - u", 1.0 - U),
    Case("mul", "x * y", X * Y),
    Case("mul", "n * m", N * M),
    Case("mul", "u * w", U * W),
    Case("mul", "u * 2", U * 2.0),
    # / and ^ always give floats
    Case("div", "x / y", X / Y),
    Case("div", "n / m", 3.5),
    Case("div", "6 / 3", 2.0),
    Case("div", "u / w", U / W),
    Case("div", "u / 2", U / 2.0),
    Case("div", "2.0 / w", 2.0 / W),
    Case("pow", "x ^ y", X**Y),
    Case("pow", "m ^ m", 4.0),
    Case("pow", "y ^ 3", -0.064),
    Case("pow", "y ^ -2", 6.25),
    Case("pow", "y ^ n", (-0.4) ** 7),
    Case("pow", "(-1.5) ^ 2", 2.25),
    Case("pow", "(-2.0) ^ 3.0", -8.0),
    Case("pow", "pow(x, 2.5)", X**2.5),
    Case("pow", "0.0 ^ 0", 1.0),
    Case("pow", "-x ^ 2", -(X**2)),
    Case("pow", "2.0 ^ 3 ^ 2", 512.0),
    Case("pow", "u ^ 2", U**2),
    Case("pow", "2.0 ^ u", 2.0**U),
    Case("pow", "abs(u) ^ w", np.abs(U) ** W),
    Case("pow", "pow(u, m)", U**2),
    Case("neg", "-x", -X),
    Case("neg", "-n", -N),
    Case("neg", "-u", -U),
    Case("lt", "x < y", False),
    Case("lt", "y < n", True),
    Case("le", "n <= 7", True),
    Case("le", "x <= y", False),
    Case("gt", "n > x", True),
    Case("ge", "m >= 2", True),
    Case("ge", "y >= x", False),
    Case("eq", "x == 1.3", True),
    Case("eq", "n == 7.0", True),
    Case("eq", "b == c", False),
    Case("ne", "n != m", True),
    Case("ne", "b != c", True),
    Case("and", "b and c", False),
    Case("and", "b and b", True),
    Case("or", "b or c", True),
    Case("or", "c or c", False),
    Case("not", "not b", False),
    Case("not", "not c", True),
    Case("sin", "sin(x)", math.sin(X)),
    Case("sin", "sin(u)", np.sin(U)),
    Case("cos", "cos(y)", math.cos(Y)),
    Case("cos", "cos(u)", np.cos(U)),
    Case("tan", "tan(x)", math.tan(X)),
    Case("tan", "tan(w)", np.tan(W)),
    Case("exp", "exp(y)", math.exp(Y)),
    Case("exp", "exp(n)", math.exp(N)),
    Case("exp", "exp(u)", np.exp(U)),
    Case("tanh", "tanh(x)", math.tanh(X)),
    Case("tanh", "tanh(u)", np.tanh(U)),
    Case("log", "log(x)", math.log(X)),
    Case("log", "log(m)", math.log(2)),
    Case("log", "log(abs(u))", np.log(np.abs(U))),
    Case("sqrt", "sqrt(x)", math.sqrt(X)),
    Case("sqrt", "sqrt(0.0)", 0.0),
    Case("sqrt", "sqrt(abs(u))", np.sqrt(np.abs(U))),
    Case("dsqrt", "dsqrt(x)", 0.5 / math.sqrt(X)),
    Case("dsqrt", "dsqrt(abs(u))", 0.5 / np.sqrt(np.abs(U))),
    Case("dpowb", "dpowb(x, y)", Y * math.log(X)),
    Case("dpowb", "dpowb(abs(u), x)", X * np.log(np.abs(U))),
    # dpow(a, n, c) = c a^(n-1) (the derivative of a^n is dpow(a, n, n)), and 0 for c = 0 (even at a = 0)
    Case("dpow", "dpow(x, n, n)", 7 * X**6),
    Case("dpow", "dpow(y, 3, 3)", 3 * Y**2),
    Case("dpow", "dpow(y, 3, 6)", 6 * Y**2),
    Case("dpow", "dpow(x, 0, 0)", 0.0),
    Case("dpow", "dpow(0.0, 0, 0)", 0.0),
    Case("dpow", "dpow(0.0, -1, 0)", 0.0),
    Case("dpow", "dpow(0.0, 1, 1)", 1.0),
    Case("dpow", "dpow(u, m, m)", 2 * U),
    Case("dpow", "dpow(u, 0, 0)", np.zeros(3)),
    Case("abs", "abs(y)", 0.4),
    Case("abs", "abs(-3)", 3),
    Case("abs", "abs(u)", np.abs(U)),
    Case("revolve_advance", "revolve_advance(n, 1)", N - 1),  # one snapshot: advance to the last step
    # split 10 steps with 2 snapshots at 6: 6 + t(4, 1) + t(6, 2) = 6 + 6 + 8 = 20 = binomial_cost(10, 2)
    Case("revolve_advance", "revolve_advance(10, 2)", 6),
    Case("sign", "sign(y)", -1.0),
    Case("sign", "sign(0.0)", 0.0),
    Case("sign", "sign(m)", 1.0),
    Case("sign", "sign(u)", np.sign(U)),
    Case("float", "float(n)", 7.0),
    Case("min", "min(x, y)", Y),
    Case("min", "min(n, m)", 2),
    Case("min", "min(u, 0.0)", np.minimum(U, 0.0)),
    Case("min", "min(u, w)", np.minimum(U, W)),
    Case("max", "max(x, y)", X),
    Case("max", "max(n, m)", 7),
    Case("max", "max(0.0, u)", np.maximum(0.0, U)),
    Case("max", "max(u, w)", np.maximum(U, W)),
    Case("ifle", "ifle(x, y, 1.0, 2.0)", 2.0),
    Case("ifle", "ifle(y, x, 1.0, 2.0)", 1.0),
    Case("ifle", "ifle(x, x, 1.0, 2.0)", 1.0),
    Case("ifle", "ifle(u, w, u, w)", np.where(U <= W, U, W)),
    Case("sum", "sum(u)", float(np.sum(U))),
    Case("mean", "mean(w)", float(np.mean(W))),
    Case("dot", "dot(u, w)", float(np.dot(U, W))),
    Case("len", "len(u)", 3),
    Case("zeros", "zeros(3)", np.zeros(3)),
    Case("zeros", "zeros(0)", np.zeros(0)),
    Case("ones", "ones(n)", np.ones(7)),
    Case("addat", "addat(u, 1, x)", np.array([0.5, -1.5 + X, 2.0])),
    # addto(d, c) = d + c, an empty vec standing for a zero of any length
    Case("addto", "addto(u, w)", U + W),
    Case("addto", "addto(zeros(0), w)", W),
    Case("addto", "addto(u, zeros(0))", U),
    # fitto(g, d) = g with d's shape, an empty operand standing for a zero
    Case("fitto", "fitto(u, w)", U),
    Case("fitto", "fitto(u, zeros(0))", np.zeros(0)),
    Case("fitto", "fitto(zeros(0), w)", np.zeros(3)),
    Case("fitto", "fitto(a, zeros(0, 0))", np.zeros((0, 0))),
    Case("index", "u[0]", 0.5),
    Case("index", "w[m]", -0.25),
    Case("index", "u[n - 6]", -1.5),
    Case("veclit", "[x, y, n]", np.array([X, Y, 7.0])),
    Case("veclit", "[n]", np.array([7.0])),
    # mats
    Case("matmul", "a @ u", A @ U),
    Case("matmul", "a @ transpose(a)", A @ A.T),
    Case("matmul", "[x, y] @ a", np.array([X, Y]) @ A),
    Case("matmul", "u @ w", float(U @ W)),
    Case("outer", "outer(u, w)", np.outer(U, W)),
    Case("transpose", "transpose(a)", A.T),
    Case("rows", "rows(a)", 2),
    Case("cols", "cols(a)", 3),
    Case("matindex", "a[1, 2]", -1.0),
    Case("row", "a[m - 1]", A[1]),
    Case("matlit", "[[x, y], [1, n]]", np.array([[X, Y], [1.0, 7.0]])),
    Case("matlit", "[u, w]", np.array([U, W])),
    Case("zeros", "zeros(2, 3)", np.zeros((2, 3))),
    Case("sum", "sum(a)", float(np.sum(A))),
    Case("mean", "mean(a)", float(np.mean(A))),
    Case("mul", "a * x", A * X),
    Case("add", "a + a", A + A),
    Case("addat", "addat(a, 1, u)", A + np.array([[0, 0, 0], U])),
]


def _prims_of(program: ir.Program) -> set[str]:
    ops = set()
    for fn in program.functions:
        for stmt in ir.walk(fn.body):
            if isinstance(stmt, (ir.Let, ir.Assign)) and isinstance(stmt.expr, ir.Prim):
                ops.add(stmt.expr.op)
    return ops


def _case_source(case: Case) -> str:
    return f"def f({_signature()}):\n    return {case.expr}\n"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_primitive(case: Case):
    program = compile_source(_case_source(case))
    assert case.prim in _prims_of(program), f"{case.expr} does not lower to {case.prim}"
    value = run_function(program, "f", dict(VALUES)).value
    expected = case.expected
    if isinstance(expected, np.ndarray):
        assert isinstance(value, np.ndarray)
        assert value.dtype == np.float64
        np.testing.assert_allclose(value, expected, rtol=1e-14, atol=0)
    elif isinstance(expected, bool):
        assert value is expected or (isinstance(value, (bool, np.bool_)) and bool(value) == expected)
    elif isinstance(expected, int):
        assert type(value) is int, f"{case.expr} gave {value!r}, an int was expected"
        assert value == expected
    else:
        assert isinstance(value, float) and not isinstance(value, bool), f"{case.expr} gave {value!r}"
        assert value == pytest.approx(expected, rel=1e-14, abs=1e-300)


def test_every_primitive_of_the_registry_is_tested():
    covered = set()
    for case in CASES:
        covered |= _prims_of(compile_source(_case_source(case)))
    missing = sorted(set(REGISTRY) - covered)
    assert not missing, f"primitives without a test in CASES: {missing}"


@pytest.mark.parametrize(
    "expr, expected", [("min(1, x)", 1.0), ("max(0, y)", 0.0), ("ifle(x, y, 1.5, 2)", 2.0), ("max(x, 3)", 3.0)]
)
def test_a_float_result_of_a_mixed_selection_is_a_float(expr, expected):
    """min(1, 2.5) is typed float, so its value is the float 1.0, not the int operand."""
    value = run(f"def f(x, y) -> float:\n    let r: float = {expr}\n    return r\n", x=2.5, y=-1.0)
    assert isinstance(value, float), f"{expr} gave {value!r}"
    assert value == expected


def test_int_arithmetic_stays_exact():
    big = 2**60  # exact past a float's 53 bits, inside the 64 of an int (past them: test_limits.py)
    assert run("def f(n: int) -> int:\n    return n * 4 + n - 1\n", n=big) == big * 5 - 1


# ---------------------------------------------------------------- control flow


def test_a_half_open_for_runs_b_minus_a_times():
    source = """
        def f(a: int, b: int) -> int:
            let trips = 0
            let last = -1
            for i in a..b:
                trips += 1
                last = i
            return trips * 1000 + last
        """
    assert run(source, a=1, b=10) == 9 * 1000 + 9
    assert run(source, a=0, b=1) == 1 * 1000 + 0
    assert run(source, a=5, b=5) == -1
    assert run(source, a=5, b=2) == -1
    assert run(source, a=-3, b=0) == 3 * 1000 - 1


def test_for_bounds_are_evaluated_once():
    source = """
        def f(x) -> int:
            let k = 3
            let trips = 0
            for i in 0..k:
                k = 10
                trips += 1
            return trips
        """
    assert run(source, x=0.0) == 3


def test_while_loop():
    source = """
        def f(x) -> int:
            let k = 0
            while x < 100.0:
                x = x * 2.0
                k += 1
            return k
        """
    assert run(source, x=1.0) == 7  # 2^7 = 128
    assert run(source, x=200.0) == 0


def test_if_elif_else_takes_one_branch():
    source = """
        def f(x) -> int:
            let r = 0
            if x < 0.0:
                r = 1
            elif x < 1.0:
                r = 2
            elif x < 2.0:
                r = 3
            else:
                r = 4
            return r
        """
    assert [run(source, x=x) for x in (-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 9.0)] == [1, 2, 2, 3, 3, 4, 4]


def test_if_without_else():
    source = "def f(x):\n    if x > 0.0:\n        x = x * 10.0\n    return x\n"
    assert run(source, x=2.0) == 20.0
    assert run(source, x=-2.0) == -2.0


def test_nested_loops():
    source = """
        def f(x):
            let total = 0.0
            for i in 0..4:
                for j in i..4:
                    total += x ^ i / (1 + j)
            return total
        """
    x = 1.7
    expected = sum(x**i / (1 + j) for i in range(4) for j in range(i, 4))
    assert run(source, x=x) == pytest.approx(expected, rel=1e-14)


def test_a_while_inside_a_for_with_a_break_flag():
    source = """
        def f(n: int) -> int:
            let count = 0
            for i in 0..n:
                let j = i
                let going = true
                while going:
                    count += 1
                    j -= 1
                    going = j > 0
            return count
        """
    # trip i runs its while max(i, 1) times
    assert run(source, n=5) == sum(max(i, 1) for i in range(5))


def test_calls_and_tuple_returns():
    source = """
        def f(x, y):
            let s, d = sum_diff(x, y)
            let p = prod(s, d)
            return p + sq(x)
        def sum_diff(a, b) -> (float, float):
            return a + b, a - b
        def prod(a, b):
            let r = a * b
            return r
        def sq(a):
            return a * a
        """
    x, y = 1.25, -3.5
    assert run(source, x=x, y=y) == pytest.approx((x + y) * (x - y) + x * x, rel=1e-14)
    assert run(source, "sum_diff", a=x, b=y) == (x + y, x - y)


def test_argument_values_are_not_shared_between_calls():
    source = """
        def f(x):
            let a = g(x)
            let b = g(x)
            return a + b + x
        def g(x):
            x = x * 10.0
            return x
        """
    assert run(source, x=1.0) == 21.0


def test_sibling_blocks_keep_their_own_values_at_run_time():
    source = """
        def f(x):
            let total = 0.0
            for i in 0..3:
                let t = x * i
                total += t
            for i in 0..2:
                let t = 100.0
                total += t + i
            return total
        """
    x = 2.0
    assert run(source, x=x) == (0 + x + 2 * x) + (100.0 + 0) + (100.0 + 1)


def test_a_let_in_a_loop_is_fresh_on_every_trip():
    source = """
        def f(x):
            let total = 0.0
            for i in 0..4:
                let t = x
                t += i
                total += t
            return total
        """
    assert run(source, x=1.0) == 4 * 1.0 + (0 + 1 + 2 + 3)


def test_vecs_are_values():
    source = """
        def f(v: vec):
            let w = v
            w = w * 2.0
            return sum(v) + 10.0 * sum(w)
        """
    v = np.array([1.0, 2.0])
    assert run(source, v=v) == 3.0 + 60.0
    np.testing.assert_array_equal(v, [1.0, 2.0])


# ---------------------------------------------------------------- runtime errors


def _fault_at(err: RuntimeFault, substring: str, line: int) -> None:
    assert err.kind == "runtime"
    assert substring in err.message, err.message
    assert err.span is not None and err.span.line == line, (err.span, err.message)


@pytest.mark.parametrize(
    "expr, args, message",
    [
        ("x / y", {"x": 1.0, "y": 0.0}, "division by zero"),
        ("n / m", {"n": 1, "m": 0}, "division by zero"),
        ("x / (y - y)", {"x": 1.0, "y": 3.0}, "division by zero"),
        ("log(x)", {"x": 0.0}, "log"),
        ("log(x)", {"x": -1.0}, "log"),
        ("sqrt(x)", {"x": -0.5}, "sqrt"),
        ("x ^ y", {"x": -2.0, "y": 0.5}, "negative base"),
        ("pow(x, y)", {"x": -8.0, "y": 1.0 / 3.0}, "negative base"),
        ("x ^ y", {"x": 0.0, "y": -1.0}, "0 to a negative power"),
        ("v[n]", {"v": np.ones(3), "n": 3}, "index 3 is out of range"),
        ("v[n]", {"v": np.ones(3), "n": -1}, "index -1 is out of range"),
        ("v[0]", {"v": np.ones(0)}, "out of range"),
        ("sum(u + v)", {"u": np.ones(2), "v": np.ones(3)}, "different lengths"),
        ("sum(u * v)", {"u": np.ones(3), "v": np.ones(2)}, "different lengths"),
        ("dot(u, v)", {"u": np.ones(2), "v": np.ones(3)}, "different lengths"),
        ("sum(max(u, v))", {"u": np.ones(2), "v": np.ones(3)}, "different lengths"),
        ("sum(u / v)", {"u": np.ones(2), "v": np.array([1.0, 0.0])}, "division by zero"),
        ("sum(log(v))", {"v": np.array([1.0, 0.0])}, "log"),
        ("sum(sqrt(v))", {"v": np.array([1.0, -1.0])}, "sqrt"),
        ("sum(v ^ 0.5)", {"v": np.array([1.0, -1.0])}, "negative base"),
        ("mean(v)", {"v": np.ones(0)}, "mean of an empty vec"),
        ("sum(zeros(n))", {"n": -1}, "negative length"),
        ("dsqrt(x)", {"x": 0.0}, "derivative of sqrt"),
        ("dpowb(x, 1.0)", {"x": -2.0}, "needs a > 0; here a = -2.0"),
        ("sum(dpowb(v, 1.0))", {"v": np.array([1.0, 0.0])}, "here a = 0.0, index 1 of a vec"),
        ("dpow(x, n, n)", {"x": 0.0, "n": -1}, "0 to a negative power"),
        ("sum(addat(v, n, 1.0))", {"v": np.ones(2), "n": 2}, "out of range"),
    ],
)
def test_runtime_errors_name_the_operation_and_its_line(expr, args, message):
    params = ", ".join(
        f"{k}: vec" if isinstance(v, np.ndarray) else f"{k}: int" if isinstance(v, int) else k
        for k, v in args.items()
    )
    source = f"def f({params}):\n    let ok = 1.0\n    let r = {expr}\n    return r + ok\n"
    err = runtime_error(source, **args)
    _fault_at(err, message, 3)


def test_a_runtime_error_in_a_called_function_points_into_it():
    source = """
        def f(x):
            let a = x + 1.0
            return g(a)
        def g(y):
            let z = y * 2.0
            return log(z)
        """
    _fault_at(runtime_error(source, x=-1.0), "log", 6)


def test_a_runtime_error_in_a_loop_and_in_a_while_condition():
    source = """
        def f(v: vec):
            let total = 0.0
            for i in 0..len(v) + 1:
                total += v[i]
            return total
        """
    _fault_at(runtime_error(source, v=np.ones(3)), "index 3 is out of range", 4)
    source = """
        def f(v: vec) -> int:
            let i = 0
            while v[i] > 0.0:
                i += 1
            return i
        """
    # the condition is recomputed at the end of the body, but it is the while line's own code
    _fault_at(runtime_error(source, v=np.ones(2)), "index 2 is out of range", 3)


def test_vec_lengths_that_differ_at_run_time_through_unknown_length_params():
    source = """
        def f(u: vec, w: vec):
            let s = u - w
            return sum(s)
        """
    assert run(source, u=np.ones(4), w=np.ones(4)) == 0.0
    _fault_at(runtime_error(source, u=np.ones(4), w=np.ones(3)), "different lengths", 2)


def test_a_vec_passed_where_a_vec_n_is_expected_is_checked_when_it_runs():
    source = """
        def f(v: vec):
            let s = g(v)
            return s
        def g(u: vec(2)):
            return sum(u)
        """
    assert run(source, v=np.ones(2)) == 2.0
    _fault_at(runtime_error(source, v=np.ones(3)), "length", 2)
    source = """
        def f(v: vec):
            let w: vec(2) = v
            return sum(w)
        """
    assert run(source, v=np.ones(2)) == 2.0
    _fault_at(runtime_error(source, v=np.ones(3)), "length", 2)
    source = """
        def f(v: vec):
            let w = [1.0, 2.0]
            w = v
            return sum(w)
        """
    _fault_at(runtime_error(source, v=np.ones(1)), "length", 3)
    source = """
        def f(v: vec):
            let w = g(v)
            return sum(w)
        def g(u: vec) -> vec(2):
            let t = u * 2.0
            return t
        """
    assert run(source, v=np.ones(2)) == 4.0
    _fault_at(runtime_error(source, v=np.ones(4)), "length", 6)
    source = """
        def f(v: vec(2)):
            return sum(v)
        """
    assert run(source, v=np.ones(2)) == 2.0
    _fault_at(runtime_error(source, v=np.ones(3)), "length", 1)


def test_the_step_limit_points_at_a_statement_in_the_loop():
    source = """
        def f(x):
            let y = 0.0
            while true:
                y += 1.0
                x = x + y
            return y
        """
    err = runtime_error(source, x=0.0, max_steps=1000)
    assert err.kind == "runtime"
    assert "step limit" in err.message
    assert err.span.line in (3, 4, 5)


def test_the_step_limit_in_a_long_for_loop():
    source = """
        def f(x):
            for i in 0..1000000000:
                x = x + 1.0
            return x
        """
    err = runtime_error(source, x=0.0, max_steps=500)
    assert "step limit" in err.message and err.span.line in (2, 3)


def test_a_run_may_use_exactly_max_steps():
    source = """
        def f(x):
            for i in 0..10:
                x = x * 1.5
            return x
        """
    steps = run_result(source, x=1.0).steps
    assert run_result(source, x=1.0, max_steps=steps).value == 1.5**10
    with pytest.raises(RuntimeFault, match="step limit"):
        run_result(source, x=1.0, max_steps=steps - 1)


# ---------------------------------------------------------------- steps


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    return x\n",
        "def foo(x, y):\n    let a = x + 5\n    let b = a * y\n    return b\n",
        "def f(x, y):\n    let a = sin(x * y) + exp(-x) / (1.0 + y * y)\n    let b, c = g(a)\n    return b * c\n"
        "def g(u):\n    return u, u\n",
    ],
)
def test_a_straight_line_function_takes_one_step_per_ir_statement(source):
    program = compile_source(source)
    fn = program.functions[0]
    assert not any(isinstance(s, (ir.If, ir.For, ir.While)) for s in fn.body)
    args = {"x": 0.5, "y": 2.0}
    steps = run_function(program, fn.name, {p.name: args[p.name] for p in fn.params}).steps
    callee = program.function("g")
    expected = len(fn.body) + (len(callee.body) if callee else 0)
    assert steps == expected


def test_steps_grow_by_the_loop_body_on_every_trip():
    source = """
        def f(x, n: int):
            for i in 0..n:
                let t = x * 2.0 + 1.0
                x = t / 3.0
            return x
        """
    steps = [run_result(source, x=1.0, n=n).steps for n in range(5)]
    deltas = {b - a for a, b in zip(steps, steps[1:])}
    assert len(deltas) == 1
    (delta,) = deltas
    (loop,) = [s for s in compile_text(source).functions[0].body if isinstance(s, ir.For)]
    assert len(loop.body) == 3  # _1 = x * 2.0; t = _1 + 1.0; x = t / 3.0
    # every statement of the body, and perhaps one for the trip itself
    assert delta in (len(loop.body), len(loop.body) + 1)


# ---------------------------------------------------------------- traces

# From the acceptance sample /work/shared/acceptance/cases/lecture_loop_accum (copied here).
LOOP_ACCUM = """\
# Lecture: accum = x; for i in 1..10: accum = accum * y  (9 trips, half-open)
def foo(x, y):
    let accum = x
    for i in 1..10:
        accum = accum * y
    return accum
"""
LOOP_ACCUM_VALUE = 3.536921536500002
LOOP_ACCUM_TRACE = [("accum", 1.5, 3)] + [
    entry
    for i, accum in enumerate(
        [
            1.6500000000000001, 1.8150000000000004, 1.9965000000000006, 2.1961500000000007, 2.415765000000001,
            2.657341500000001, 2.9230756500000017, 3.215383215000002, 3.536921536500002,
        ],
        start=1,
    )
    for entry in (("i", i, 4), ("accum", accum, 5))
]

# From /work/shared/acceptance/cases/lecture_foo_let_chain (copied here).
FOO_LET_CHAIN = """\
# Lecture: a = x + 5, b = a * y; at x=2, y=3: b = 21, grad (3, 7)
def foo(x, y):
    let a = x + 5
    let b = a * y
    return b
"""


def _trace(source: str, fn: str, **args) -> list[tuple[str, object, int]]:
    result = run_function(compile_source(source), fn, args, trace=True)
    return [(e.name, e.value, e.line) for e in result.trace]


def test_acceptance_loop_accum_trace():
    result = run_function(compile_source(LOOP_ACCUM), "foo", {"x": 1.5, "y": 1.1}, trace=True)
    assert result.value == pytest.approx(LOOP_ACCUM_VALUE, rel=1e-9)
    assert result.value == pytest.approx(1.5 * 1.1**9, rel=1e-12)
    got = [(e.name, e.value, e.line) for e in result.trace]
    assert [(n, line) for n, _, line in got] == [(n, line) for n, _, line in LOOP_ACCUM_TRACE]
    for (_, value, _), (_, expected, _) in zip(got, LOOP_ACCUM_TRACE):
        assert value == pytest.approx(expected, rel=1e-9)
    assert [type(v) for n, v, _ in got if n == "i"] == [int] * 9


def test_acceptance_foo_let_chain_trace():
    result = run_function(compile_source(FOO_LET_CHAIN), "foo", {"x": 2.0, "y": 3.0}, trace=True)
    assert result.value == 21.0
    assert [(e.name, e.value, e.line) for e in result.trace] == [("a", 7.0, 3), ("b", 21.0, 4)]


def test_no_trace_unless_asked():
    assert run_function(compile_source(FOO_LET_CHAIN), "foo", {"x": 2.0, "y": 3.0}).trace is None


def test_the_trace_leaves_out_temporaries_and_includes_called_functions():
    source = src(
        """
        def f(x):
            let a = g(x * 2.0) + 1.0
            let p, q = h(a)
            a = p * q - 1.0
            return a
        def g(y):
            let t = sin(y) * y
            return t
        def h(z):
            return z + 1.0, z - 1.0
        """
    )
    x = 0.3
    t = math.sin(2 * x) * (2 * x)
    a = t + 1.0
    p, q = a + 1.0, a - 1.0
    expected = [("t", t, 7), ("a", a, 2), ("p", p, 3), ("q", q, 3), ("a", p * q - 1.0, 4)]
    got = _trace(source, "f", x=x)
    assert [(n, line) for n, _, line in got] == [(n, line) for n, _, line in expected]
    assert [v for _, v, _ in got] == pytest.approx([v for _, v, _ in expected], rel=1e-14)


def test_the_trace_of_branches_and_while_loops():
    source = src(
        """
        def f(x) -> int:
            let k = 0
            while x > 1.0:
                x = x / 2.0
                k += 1
            if k > 1:
                let big = true
                k = k * 10
            else:
                k = -1
            return k
        """
    )
    got = _trace(source, "f", x=5.0)
    assert got == [
        ("k", 0, 2),
        ("x", 2.5, 4),
        ("k", 1, 5),
        ("x", 1.25, 4),
        ("k", 2, 5),
        ("x", 0.625, 4),
        ("k", 3, 5),
        ("big", True, 7),
        ("k", 30, 8),
    ]


def test_the_loop_variable_is_traced_once_per_trip():
    source = src(
        """
        def f(x):
            for i in 0..3:
                for j in 0..i:
                    x = x + 1.0
            return x
        """
    )
    names = [(n, v) for n, v, _ in _trace(source, "f", x=0.0)]
    assert names == [
        ("i", 0),
        ("i", 1), ("j", 0), ("x", 1.0),
        ("i", 2), ("j", 0), ("x", 2.0), ("j", 1), ("x", 3.0),
    ]


# ---------------------------------------------------------------- the example programs


def _linefit_data():
    data = np.genfromtxt(PROGRAMS_DIR / "data" / "line_samples.csv", delimiter=",", names=True)
    return data["x"], data["y"]


def _softplus(w):
    return np.log(1 + np.exp(w))


def _expected_value(stem: str, a: dict) -> float:
    """The value of each example at its .args, by hand or numpy (the comments in the programs agree)."""
    if stem == "lecture__foo":
        return (a["x"] + 5) * a["y"]
    if stem == "lecture__linefit_gd":
        xs, ys = _linefit_data()
        m, b = a["m0"], a["b0"]
        for _ in range(a["steps"]):
            r = m * xs + b - ys
            m, b = m - a["lr"] * np.mean(2 * r * xs), b - a["lr"] * np.mean(2 * r)
        return float(np.mean((m * xs + b - ys) ** 2))
    if stem == "lecture__linefit_newton":
        xs, ys = _linefit_data()
        m, b = np.polyfit(xs, ys, 1)
        return float(np.mean((m * xs + b - ys) ** 2))
    if stem == "lecture__foo_mul":
        return a["x"] * a["y"]
    if stem == "lecture__cube":
        return 5 * a["x"] ** 3
    if stem == "lecture__fanout":
        return 2 * a["x"] + a["x"] ** 2
    if stem == "lecture__square_plus5":
        return a["x"] ** 2 + 5
    if stem == "lecture__loop":
        return a["x"] * a["y"] ** 9
    if stem == "lecture__dual":
        return a["x"] ** 2 + a["y"] ** 2
    if stem == "lecture__linefit":
        xs, ys = _linefit_data()
        np.testing.assert_array_equal(a["xs"], xs)
        return float(np.mean((a["m"] * xs + a["b"] - ys) ** 2))
    if stem == "examples__logistic":
        w, b = a["w"], a["b"]
        losses = [np.log(1 + np.exp(-lab * (w @ s + b))) for s, lab in ((a["x1"], 1), (a["x2"], -1), (a["x3"], 1))]
        return float(np.mean(losses) + 0.01 * w @ w)
    if stem == "examples__nested_loops":
        x, y = a["x"], a["y"]
        return (x + x**2 / 2 + x**2 * y / 3 + x**3 / 3 + x**3 * y / 4 + x**3 * y**2 / 5) / 6
    if stem == "examples__piecewise":
        return 0.752
    if stem == "examples__polar":
        x, y = a["x"], a["y"]
        return x**2 - y**2 + 2 * x * y
    if stem == "examples__vec_stats":
        v, w = a["v"], a["w"]
        h = v / 2
        taylor = sum(h**k / math.factorial(k) for k in range(6))
        p = _softplus(w)
        z = 1.5 * v - 0.5
        return float(np.std(v) + (p @ v) / p.sum() + np.mean(np.sqrt(z * z + 1) - 1) + np.sum(np.exp(h) - taylor))
    if stem == "examples__while_newton_sqrt":
        return math.sqrt(a["a"])
    if stem == "examples__oscillator":
        x, v = a["x0"], a["v0"]
        for _ in range(a["n"]):
            x, v = x + a["h"] * v, v + a["h"] * (-a["k"] * x - a["c"] * v)
        return x
    if stem == "examples__lstsq":
        return float(np.sum((a["A"] @ a["x"] - a["y"]) ** 2))
    if stem == "examples__logreg_mat":
        p = 1 / (1 + np.exp(-(a["X"] @ a["w"] + a["b"])))
        y = a["y"]
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)) + 0.01 * a["w"] @ a["w"])
    if stem == "examples__tanh_net":
        H = np.tanh(a["X"] @ a["W1"] + a["b1"])
        return float(np.mean((H @ a["v"] + a["c"] - a["y"]) ** 2))
    raise AssertionError(f"no expected value for {stem}; add one")


@pytest.mark.parametrize("path", PROGRAM_PATHS, ids=lambda p: f"{p.parent.name}__{p.stem}")
def test_example_programs_compute_their_documented_value(path):
    example = load_example(path)
    value = run_function(example.finished, example.fn, example.args).value
    assert value == pytest.approx(_expected_value(example.golden_name, example.args), rel=1e-12)


def test_example_helper_functions():
    polar = compile_source(PROGRAMS_DIR.joinpath("examples", "polar.ad").read_text())
    r, c, s = run_function(polar, "polar", {"x": 3.0, "y": 4.0}).value
    assert (r, c, s) == pytest.approx((5.0, 0.6, 0.8), rel=1e-15)
    piecewise = compile_source(PROGRAMS_DIR.joinpath("examples", "piecewise.ad").read_text())
    for u in (-0.5, 0.0, 0.25, 0.999, 1.0, 3.0):
        expected = 0.0 if u <= 0 else 3 * u**2 - 2 * u**3 if u < 1 else 1.0
        assert run_function(piecewise, "smoothstep", {"u": u}).value == pytest.approx(expected, rel=1e-14)


# ---------------------------------------------------------------- a program run again


def test_a_run_after_a_failed_run_starts_from_empty_tapes():
    """Plain runs of one program reuse its machine: a run that stopped with values on the tapes (here at a
    division by zero inside the loop that pushes) leaves nothing the next run counts or pops."""
    program = compile_text("""
        def f(x, n: int, k: int) -> float:
            let s = 0.0
            for i in 0..n:
                push(x * float(i))
                s = s + 1.0 / float(i - k)
            for i in 0..n:
                let y: float = pop()
                s = s + y
            return s
    """)
    good = run_function(program, "f", {"x": 2.0, "n": 4, "k": -1})
    with pytest.raises(RuntimeFault, match="division by zero"):
        run_function(program, "f", {"x": 2.0, "n": 4, "k": 2})
    again = run_function(program, "f", {"x": 2.0, "n": 4, "k": -1})
    expected = sum(1.0 / (i + 1) for i in range(4)) + sum(2.0 * i for i in range(4))
    assert good.value == again.value == expected
    assert good.steps == again.steps and good.tape_peak == again.tape_peak == 4
    assert good.loop_trips == again.loop_trips
    with pytest.raises(RuntimeFault, match="more than 3 values"):
        run_function(program, "f", {"x": 2.0, "n": 4, "k": -1}, max_tape=3)
    assert run_function(program, "f", {"x": 2.0, "n": 4, "k": -1}, max_steps=good.steps).value == expected
    with pytest.raises(RuntimeFault, match="step limit of 10 "):
        run_function(program, "f", {"x": 2.0, "n": 4, "k": -1}, max_steps=10)
