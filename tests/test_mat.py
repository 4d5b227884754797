"""Matrices through the whole pipeline: syntax, types, engines, both modes, diff, arguments, JSON and the API.

The rules of the mat primitives one by one are in test_rules.py (finite differences and the dot-product
test); here are whole programs with mat parameters and mat intermediates, checked against numpy and
central differences, in both engines.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import ROOT, assert_error_at, compile_text, load_example, type_error
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import adlang
from adlang import cli
from adlang.derivatives import compute
from adlang.interp.engines import ENGINES
from adlang.interp.interpreter import run_function
from adlang.ir.derive import diff_source, finish
from adlang.ir.printer import print_program
from adlang.lang.errors import ParseError, RuntimeFault, UsageError
from adlang.lang.parser import parse
from adlang.optimize import optimize
from adlang.pipeline import compile_source

A = np.array([[0.7, -1.3, 0.45], [1.1, 0.35, -0.6]])
B = np.array([[0.5, -1.2], [0.8, 0.3], [-0.4, 1.6]])
X = np.array([0.9, -0.4, 1.2])
Y = np.array([0.3, -0.8])

# ---------------------------------------------------------------- syntax and types


def test_matmul_is_as_tight_as_times_and_left_associative():
    (fn,) = parse("def f(A: mat, B: mat, s) -> mat:\n    return A @ B * s + A\n", "<t>").functions
    expr = fn.body[0].values[0]
    assert expr.op == "+" and expr.left.op == "*" and expr.left.left.op == "@"


def test_mat_types_literals_and_indexing_lower_to_typed_ir():
    program = compile_text("def f(A: mat(2, 3), v: vec) -> float:\n"
                           "    let M = [[1.0, 2], [3.0, 4.0]]\n"
                           "    let r = A[1]\n"
                           "    let y = A @ v\n"
                           "    return A[0, 2] + M[1, 1] + sum(r) + sum(y) + rows(A) + cols(M)\n")
    text = print_program(program, types=True)
    assert "M: mat(2, 2)" in text and "r: vec(3) = A[1]" in text and "y: vec(2) = A @ v" in text
    assert "A[0, 2]" in text


@pytest.mark.parametrize("text, message, line", [
    ("def f(A: mat, v: vec) -> float:\n    let s = A + v\n    return sum(s)\n", "a mat and a vec", 2),
    ("def f(A: mat(2, 3), B: mat(3, 2)) -> float:\n    let C = A + B\n    return sum(C)\n",
     "mats of different shapes (mat(2, 3) and mat(3, 2))", 2),
    ("def f(A: mat(2, 3)) -> float:\n    let C = A @ A\n    return sum(C)\n", "inner lengths differ (3 and 2)", 2),
    ("def f(A: mat(2, 3), v: vec(2)) -> float:\n    let y = A @ v\n    return sum(y)\n", "inner lengths", 2),
    ("def f(x) -> float:\n    let M = [[x, 1.0], [2.0]]\n    return sum(M)\n", "rows of a mat literal", 2),
    ("def f(A: mat) -> float:\n    let n = len(A)\n    return 1.0\n", "len() takes a vec, got mat", 2),
    ("def f(v: vec) -> float:\n    let x = v[0, 1]\n    return x\n", "only a mat takes two indices", 2),
    ("def f(A: mat) -> float:\n    let x = A[0.5]\n    return x\n", "a row index must be an int", 2),
    ("def f(A: mat) -> float:\n    let x = dot(A, A)\n    return x\n", "dot() takes two vecs", 2),
    ("def f(A: mat(2, 2)) -> float:\n    let B: mat(3, 3) = A\n    return sum(B)\n", "", 2),
])
def test_type_errors_point_at_their_line(text, message, line):
    assert_error_at(type_error(text), message, line)


def test_mat_takes_two_sizes():
    with pytest.raises(ParseError, match="rows and columns"):
        parse("def f(A: mat(2)) -> float:\n    return 1.0\n", "<t>")


def test_printed_mat_program_lowers_to_the_same_ir():
    source = ("def f(A: mat, B: mat(3, 2), v: vec) -> float:\n"
              "    let C = transpose(A @ B) * 2.0 - ones(2, 2)\n"
              "    let M = [[1.0, 2.0], [v[0], 4.0]]\n"
              "    let w = v @ transpose(A)\n"
              "    return sum(C @ M) + mean(exp(A)) + A[1, 2] + sum(A[0]) + dot(w, w)\n")
    program = compile_source(source)
    text = print_program(program)
    again = compile_source(text)
    assert print_program(again) == text
    args = dict(A=A, B=B, v=X)
    assert run_function(again, "f", args).value == run_function(program, "f", args).value


# ---------------------------------------------------------------- values against numpy, in every engine

NN = """\
# a two-layer network with tanh: a mat parameter per layer, mat intermediates
def main(W1: mat, b1: vec, W2: mat, X: mat, y: vec) -> float:
    let total = 0.0
    for i in 0..rows(X):
        let h = tanh(W1 @ X[i] + b1)
        let out = W2 @ h
        total = total + (out[0] - y[i]) ^ 2
    return total / rows(X)
"""

NN_ARGS = dict(W1=np.array([[0.5, -0.3, 0.8], [0.1, 0.9, -0.4]]), b1=np.array([0.1, -0.2]),
               W2=np.array([[1.2, -0.7]]), X=np.array([[0.5, 1.0, -1.5], [2.0, -0.5, 0.3], [-1.0, 0.2, 0.7]]),
               y=np.array([0.3, -0.1, 0.8]))

POWERS = """\
# a mat state updated in a loop: the sum of A^k for k < n
def main(A: mat, n: int) -> float:
    let P = A
    let S = zeros(rows(A), cols(A))
    for k in 0..n:
        S = S + P
        P = P @ A
    return sum(S * S)
"""

POWERS_ARGS = dict(A=np.array([[0.3, -0.5], [0.4, 0.2]]), n=4)


def nn_numpy(W1, b1, W2, X, y):
    h = np.tanh(X @ W1.T + b1)
    return float(np.mean(((h @ W2.T)[:, 0] - y) ** 2))


@pytest.mark.parametrize("engine", list(ENGINES))
def test_values_agree_with_numpy(engine):
    value = adlang.compile(NN).run(args=NN_ARGS, engine=engine).value
    assert value == pytest.approx(nn_numpy(**NN_ARGS), rel=1e-12)
    A_, n = POWERS_ARGS["A"], POWERS_ARGS["n"]
    S = sum(np.linalg.matrix_power(A_, k + 1) for k in range(n))
    assert adlang.compile(POWERS).run(args=POWERS_ARGS, engine=engine).value == pytest.approx(np.sum(S * S))


def central(source: str, args: dict, name: str) -> np.ndarray:
    program = compile_source(source)
    base = np.asarray(args[name], dtype=float)
    grad = np.zeros(base.size)
    for k in range(base.size):
        h = 1e-6 * max(1.0, abs(base.flat[k]))
        sides = []
        for step in (h, -h):
            moved = base.copy().ravel()
            moved[k] += step
            sides.append(run_function(program, "main", dict(args, **{name: moved.reshape(base.shape)})).value)
        grad[k] = (sides[0] - sides[1]) / (2 * h)
    return grad.reshape(base.shape)


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("checkpoint", ["none", "every:2", "revolve:2"])
@pytest.mark.parametrize("source, args, wrt", [(NN, NN_ARGS, ["W1", "b1", "W2"]), (POWERS, POWERS_ARGS, ["A"])])
def test_forward_reverse_and_finite_differences_agree(source, args, wrt, checkpoint, engine):
    program = compile_source(source)
    want = {w: central(source, args, w) for w in wrt}
    for mode in ("forward", "reverse"):
        if mode == "forward" and checkpoint != "none":
            continue
        run = compute(program, "main", dict(args), wrt=wrt, mode=mode, engine=engine, checkpoint=checkpoint)
        for w in wrt:
            got = run.grad[w]
            assert isinstance(got, np.ndarray) and got.shape == np.shape(args[w]), f"{mode} d/d{w}: {got!r}"
            np.testing.assert_allclose(got, want[w], rtol=1e-6, atol=1e-8, err_msg=f"{mode} d/d{w}")


def test_a_float_hessian_through_mat_intermediates():
    """--order 2 with respect to floats and vecs works when mats are only data and intermediates."""
    source = "def main(A: mat, x: vec, s) -> float:\n    let y = A @ (x * s)\n    return sum(y ^ 2)\n"
    run = compute(compile_source(source), "main", dict(A=A, x=X, s=0.5), wrt=["x", "s"], order=2,
                  mode="forward-over-reverse")
    np.testing.assert_allclose(run.hessian["x"]["x"], 2 * 0.25 * A.T @ A, rtol=1e-12)


@pytest.mark.parametrize("mode", ["reverse-over-reverse", "forward-over-reverse", "reverse-over-forward",
                                  "forward-over-forward"])
@pytest.mark.parametrize("wrt", [["A"], ["A", "x"], ["x", "A", "s"]])
def test_second_order_with_respect_to_a_mat_is_a_usage_error(wrt, mode):
    """Beside a vec too, whose Hessian is built from Hessian-vector products: the same error, not one from
    inside those programs."""
    source = "def main(A: mat, x: vec, s) -> float:\n    return sum((A @ x) ^ 2) * s\n"
    with pytest.raises(UsageError, match="mat parameter \\('A'\\) are not supported"):
        compute(compile_source(source), "main", dict(A=A, x=X, s=0.5), wrt=wrt, order=2, mode=mode)
    with pytest.raises(UsageError, match="mat parameter \\('A'\\) are not supported"):
        diff_source(compile_source(source), "main", wrt, mode, order=2)


def test_grad_form_with_respect_to_a_mat():
    source = ("def loss(A: mat, x: vec) -> float:\n    return sum((A @ x) ^ 2)\n\n"
              "def main(A: mat, x: vec) -> float:\n    let l, dA = grad loss(A, x) wrt A\n    return sum(dA * A) + l\n")
    value = run_function(finish(compile_source(source)), "main", dict(A=A, x=X)).value
    y = A @ X
    assert value == pytest.approx(np.sum(2 * np.outer(y, X) * A) + np.sum(y**2), rel=1e-12)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_printed_derivative_program_runs_to_the_same_numbers(mode):
    program = compile_source(NN)
    text = diff_source(program, "main", ["W1", "b1"], mode)
    printed = compile_source(text)
    outputs = run_function(printed, printed.functions[-1].name, dict(NN_ARGS)).value
    run = compute(program, "main", dict(NN_ARGS), wrt=["W1", "b1"], mode=mode)
    assert outputs[0] == pytest.approx(run.value, rel=1e-12)
    np.testing.assert_allclose(outputs[1], run.grad["W1"], rtol=1e-12)
    np.testing.assert_allclose(outputs[2], run.grad["b1"], rtol=1e-12)


# ---------------------------------------------------------------- runtime errors name both shapes


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("text, args, line, fragment", [
    ("def f(A: mat, x: vec) -> float:\n    let s = sum(x)\n    let y = A @ x\n    return sum(y) + s\n",
     dict(A=A, x=Y), 3, "a 2x3 mat and a vec of length 2"),
    ("def f(A: mat, B: mat) -> float:\n    let s = 1.0\n    let C = A - B\n    return sum(C) + s\n",
     dict(A=A, B=B), 3, "mats of different shapes (2x3 and 3x2)"),
    ("def f(A: mat, i: int) -> float:\n    let s = 1.0\n    let x = A[i, 0]\n    return x + s\n",
     dict(A=A, i=2), 3, "row index 2 is out of range for a 2x3 mat"),
    ("def f(A: mat, i: int) -> float:\n    let s = 1.0\n    let r = A[i]\n    return sum(r) + s\n",
     dict(A=A, i=-1), 3, "row index -1 is out of range"),
    ("def f(A: mat) -> float:\n    let s = 1.0\n    let L = log(A)\n    return sum(L) + s\n",
     dict(A=A), 3, "log of a mat element (-1.3 at [0, 1])"),
    ("def f(A: mat(2, 2)) -> float:\n    return sum(A)\n", dict(A=A), 1, "is a mat(2, 2) (2x2), but this mat is 2x3"),
])
def test_runtime_errors_in_every_engine(engine, text, args, line, fragment):
    program = compile_source(text)
    with pytest.raises(RuntimeFault) as caught:
        ENGINES[engine].run(program, "f", args, max_steps=10_000, max_tape=10_000)
    assert fragment in caught.value.message
    assert caught.value.span.line == line


def test_a_shape_error_in_a_derivative_program_points_at_the_source():
    source = "def f(A: mat, x: vec) -> float:\n    let s = sum(x)\n    let y = A @ x\n    return sum(y) + s\n"
    for mode in ("forward", "reverse"):
        with pytest.raises(RuntimeFault) as caught:
            compute(compile_source(source), "f", dict(A=A, x=Y), wrt=["A", "x"], mode=mode)
        assert caught.value.span.line == 3


# ---------------------------------------------------------------- the command line


def run_cli(capsys, *argv: str) -> tuple[int, dict]:
    code = cli.main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_cli_json_has_mats_as_lists_of_rows(tmp_path, capsys):
    prog = tmp_path / "p.ad"
    prog.write_text("def f(A: mat, x: vec) -> float:\n    return sum((A @ x) ^ 2)\n")
    code, obj = run_cli(capsys, "run", str(prog), "A=[[1, 2], [3, 4]]", "x=[1, -1]", "--grad", "A,x", "--json")
    assert code == 0
    assert obj["args"]["A"] == [[1.0, 2.0], [3.0, 4.0]]
    assert obj["value"] == 2.0
    assert obj["grad"]["A"] == [[-2.0, 2.0], [-2.0, 2.0]]
    assert obj["grad"]["x"] == [-8.0, -12.0]


def test_cli_reads_mats_from_npy_and_csv(tmp_path, capsys):
    prog = tmp_path / "p.ad"
    prog.write_text("def f(A: mat) -> float:\n    return sum(A) + rows(A) * 100 + cols(A) * 10\n")
    np.save(tmp_path / "a.npy", A)
    (tmp_path / "a.csv").write_text("p,q,r\n1,2,3\n4,5,6\n")
    (tmp_path / "b.csv").write_text("1\n2\n3\n")
    for arg, want in ((f"A=@{tmp_path / 'a.npy'}", A.sum() + 230), (f"A=@{tmp_path / 'a.csv'}", 21 + 230),
                      (f"A=@{tmp_path / 'b.csv'}", 6 + 310), (f"A=@{tmp_path / 'a.csv'}:q", 7 + 210)):
        code, obj = run_cli(capsys, "run", str(prog), arg, "--json")
        assert code == 0 and obj["value"] == pytest.approx(want), arg


@pytest.mark.parametrize("param, arg, fragment", [
    ("A: mat", "A=[1, 2]", "is a mat, but [1, 2] is a vec; write a mat as [[1.0, 2.0], [3.0, 4.0]] or @FILE"),
    ("A: mat", "A=[[1, 2], [3]]", "rows of the mat have different lengths"),
    ("A: mat(2, 2)", "A=[[1, 2, 3], [4, 5, 6]]", "is a mat(2, 2), but [[1, 2, 3], [4, 5, 6]] is a 2x3 mat"),
    ("A: mat", "A=@v.npy", "a mat is 2-D"),
    ("v: vec", "v=[[1, 2], [3, 4]]", "element 1 of the vec"),
])
def test_cli_usage_errors_name_the_parameter(tmp_path, capsys, monkeypatch, param, arg, fragment):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "v.npy", X)
    prog = tmp_path / "p.ad"
    prog.write_text(f"def f({param}) -> float:\n    return 1.0\n")
    code, obj = run_cli(capsys, "run", str(prog), arg, "--json")
    assert code == 2 and obj["error"]["kind"] == "usage"
    assert fragment in obj["error"]["message"]


@pytest.mark.parametrize("command", [["compare"], ["check", "--sweep"]])
def test_compare_and_sweep_move_each_element_of_a_mat(tmp_path, capsys, command):
    prog = tmp_path / "p.ad"
    prog.write_text("def f(A: mat, x: vec) -> float:\n    return sum((A @ x) ^ 2)\n")
    code = cli.main([*command, str(prog), "A=[[1, 2], [3, 4], [5, 6]]", "x=[0.5, -0.25]", "--wrt", "A,x", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    A_, x = np.array([[1.0, 2], [3, 4], [5, 6]]), np.array([0.5, -0.25])
    want = 2 * np.outer(A_ @ x, x)
    if command == ["compare"]:
        got = json.loads(out)["reverse"]["value"]
        fd = json.loads(out)["finite_differences"]["value"]
        assert list(got)[:3] == ["A[0, 0]", "A[0, 1]", "A[1, 0]"] and list(got)[-2:] == ["x[0]", "x[1]"]
        for (i, j), w in np.ndenumerate(want):
            assert got[f"A[{i}, {j}]"] == pytest.approx(w, rel=1e-12)
            assert fd[f"A[{i}, {j}]"] == pytest.approx(w, rel=1e-6)
    else:
        assert "A[2, 1]" in out


def test_cli_text_output_writes_a_mat_a_row_per_line(tmp_path, capsys):
    prog = tmp_path / "p.ad"
    prog.write_text("def f(A: mat) -> mat:\n    return A * 2.0\n")
    assert cli.main(["run", str(prog), "A=[[1, 2], [3, 4]]"]) == 0
    assert "value = [[2.0, 4.0],\n [6.0, 8.0]]" in capsys.readouterr().out
    big = "[" + ", ".join("[" + ", ".join(str(i * 20 + j) for j in range(20)) + "]" for i in range(20)) + "]"
    assert cli.main(["run", str(prog), f"A={big}"]) == 0
    out = capsys.readouterr().out
    assert "(20x20 mat)" in out and "<20x20 mat>" in out


# ---------------------------------------------------------------- the API


def test_api_takes_numpy_arrays_and_lists_of_rows():
    prog = adlang.compile("def f(A: mat, x: vec, y: vec) -> float:\n    return sum((A @ x - y) ^ 2)\n")
    r = prog.grad(args={"A": np.ones((2, 3)), "x": X, "y": Y}, wrt=["A", "x"])
    resid = np.ones((2, 3)) @ X - Y
    np.testing.assert_allclose(r.grad["A"], 2 * np.outer(resid, X), rtol=1e-12)
    np.testing.assert_allclose(r.grad["x"], 2 * np.ones((2, 3)).T @ resid, rtol=1e-12)
    again = prog.grad(args={"A": [[1, 1, 1], [1, 1, 1]], "x": list(X), "y": list(Y)}, wrt=["A", "x"], mode="forward")
    np.testing.assert_allclose(again.grad["A"], r.grad["A"], rtol=1e-12)
    assert json.loads(json.dumps(r.to_json()))["grad"]["A"] == r.grad["A"].tolist()
    assert set(prog.grad(args={"A": A, "x": X, "y": Y}).grad) == {"A", "x", "y"}  # mats are differentiated by default


def test_api_refuses_a_mat_of_the_wrong_kind():
    prog = adlang.compile("def f(A: mat) -> float:\n    return sum(A)\n")
    with pytest.raises(adlang.Error, match="a 2-D array or a list of rows"):
        prog.run(args={"A": np.ones(3)})
    with pytest.raises(adlang.Error, match="NaN"):
        prog.run(args={"A": [[1.0, float("nan")]]})


TWO_LAYER = """\
def loss(W1: mat, W2: mat, X: mat, y: vec) -> float:
    let H = tanh(X @ W1)
    let out = H @ W2
    let total = 0.0
    for i in 0..rows(X):
        total = total + (out[i, 0] - y[i]) ^ 2
    return total / rows(X)
"""


def test_optimize_trains_a_two_layer_network_with_adam(tmp_path, capsys):
    prog = tmp_path / "nn.ad"
    prog.write_text(TWO_LAYER)
    code = cli.main(["optimize", str(prog), "--fn", "loss", "--wrt", "W1,W2",
                     "W1=[[0.5, -0.3], [0.1, 0.9], [0.2, -0.4]]", "W2=[[1.2], [-0.7]]",
                     "X=[[0.5, 1.0, -1.5], [2.0, -0.5, 0.3], [-1.0, 0.2, 0.7], [0.3, 0.3, 0.3]]",
                     "y=[0.3, -0.1, 0.8, 0.2]", "--method", "adam", "--steps", "300", "--lr", "0.05", "--json"])
    obj = json.loads(capsys.readouterr().out)
    assert code == 0 and obj["loss"] < 1e-4 < obj["history"][0]
    W1, W2 = np.array(obj["params"]["W1"]), np.array(obj["params"]["W2"])
    assert W1.shape == (3, 2) and W2.shape == (2, 1)
    X = np.array([[0.5, 1.0, -1.5], [2.0, -0.5, 0.3], [-1.0, 0.2, 0.7], [0.3, 0.3, 0.3]])
    y = np.array([0.3, -0.1, 0.8, 0.2])
    assert float(np.mean(((np.tanh(X @ W1) @ W2)[:, 0] - y) ** 2)) == pytest.approx(obj["loss"], rel=1e-6)


def test_check_compares_every_element_of_a_mat():
    from adlang.derivatives import check

    outcome = check(compile_source(NN), "main", dict(NN_ARGS), ["W1", "b1"])
    assert [r.name for r in outcome.rows][:3] == ["W1[0, 0]", "W1[0, 1]", "W1[0, 2]"]
    assert len(outcome.rows) == 6 + 2 and outcome.ok


# ---------------------------------------------------------------- random mat programs

MAT_PARAMS = {(2, 3): ["P", "Q"], (3, 2): ["R"], (2, 2): []}
VEC_PARAMS = {3: ["u"], 2: ["v"]}
RANDOM_ARGS = dict(P=A, Q=A[::-1] * 0.5, R=B, u=X, v=Y, s=0.8)


def _mats(shape, depth):
    """Expressions of a mat of this shape, built from every mat primitive that keeps values finite."""
    r, c = shape
    leaves = [st.sampled_from(MAT_PARAMS[shape])] if MAT_PARAMS.get(shape) else []
    leaves.append(st.just(f"ones({r}, {c})"))
    if depth == 0:
        return st.one_of(*leaves)
    sub = _mats(shape, depth - 1)
    return st.one_of(
        *leaves,
        st.tuples(sub, st.sampled_from(["+", "-", "*"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(["*", "+"])).map(lambda t: f"({t[0]} {t[1]} s)"),
        st.tuples(st.sampled_from(["sin", "tanh", "cos", "-"]), sub).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(sub, st.sampled_from(["min", "max"]), sub).map(lambda t: f"{t[1]}({t[0]}, {t[2]})"),
        _mats((c, r), depth - 1).map(lambda m: f"transpose({m})"),
        st.tuples(_mats((r, 2), depth - 1), _mats((2, c), depth - 1)).map(lambda t: f"({t[0]} @ {t[1]})"),
        st.tuples(_vecs(r, depth - 1), _vecs(c, depth - 1)).map(lambda t: f"outer({t[0]}, {t[1]})"),
        st.lists(_vecs(c, depth - 1), min_size=r, max_size=r).map(lambda rows: "[" + ", ".join(rows) + "]"),
        sub.map(lambda m: f"({m}) ^ 2"),
    )


def _vecs(n, depth):
    leaves = st.sampled_from(VEC_PARAMS[n])
    if depth == 0:
        return leaves
    return st.one_of(
        leaves,
        _mats((n, 3), depth - 1).map(lambda m: f"({m} @ u)"),
        _mats((2, n), depth - 1).map(lambda m: f"(v @ {m})"),
        st.tuples(_mats((2, n), depth - 1), st.sampled_from([0, 1])).map(lambda t: f"({t[0]})[{t[1]}]"),
    )


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=_mats((2, 3), 3), reduce=st.sampled_from(["sum({e})", "mean({e}) * s", "({e})[1, 2]", "v @ ({e}) @ u"]))
def test_random_mat_programs_in_both_modes_and_engines(body, reduce):
    source = (f"def main(P: mat, Q: mat(2, 3), R: mat, u: vec, v: vec, s) -> float:\n"
              f"    return {reduce.format(e=body)}\n")
    note(source)
    program = compile_source(source)
    wrt = ["P", "R", "u", "s"]
    plain = run_function(program, "main", dict(RANDOM_ARGS)).value
    reverse = compute(program, "main", dict(RANDOM_ARGS), wrt=wrt, mode="reverse")
    for engine in ENGINES:
        for mode in ("forward", "reverse"):
            run = compute(program, "main", dict(RANDOM_ARGS), wrt=wrt, mode=mode, engine=engine)
            assert run.value == pytest.approx(plain, rel=1e-12)
            for w in wrt:
                np.testing.assert_allclose(run.grad[w], reverse.grad[w], rtol=1e-9, atol=1e-12)
    for w in ("P", "R"):
        np.testing.assert_allclose(reverse.grad[w], central(source, RANDOM_ARGS, w), rtol=1e-5, atol=1e-7)


def test_jacobian_with_respect_to_a_mat_has_a_column_per_element(tmp_path, capsys):
    prog = tmp_path / "j.ad"
    prog.write_text("def f(A: mat, x: vec) -> vec:\n    return A @ x\n")
    for mode in ("forward", "reverse"):
        code, obj = run_cli(capsys, "run", str(prog), "A=[[1, 2], [3, 4]]", "x=[5, 6]", "--jacobian", "A,x",
                            "--mode", mode, "--json")
        assert code == 0
        assert obj["jacobian"]["A"] == [[5.0, 6.0, 0.0, 0.0], [0.0, 0.0, 5.0, 6.0]]
        assert obj["jacobian"]["x"] == [[1.0, 2.0], [3.0, 4.0]]


# ---------------------------------------------------------------- the example programs against numpy

TANH_NET = ROOT / "programs" / "examples" / "tanh_net.ad"


def tanh_net_numpy(X, y, W1, b1, v, c):
    """The network's loss and its gradient with respect to W1, b1, v and c, by backpropagation written out."""
    H = np.tanh(X @ W1 + b1)
    r = H @ v + c - y
    n = len(y)
    dout = 2.0 * r / n
    dZ = np.outer(dout, v) * (1.0 - H**2)
    return float(np.mean(r**2)), X.T @ dZ, dZ.sum(axis=0), H.T @ dout, float(dout.sum())


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_tanh_net_value_and_gradient_are_numpys(engine, mode):
    example = load_example(TANH_NET)
    args = example.args
    assert args["X"].shape == (60, 2) and example.wrt == ["W1", "b1", "v", "c"]
    run = compute(example.program, "main", dict(args), wrt=example.wrt, mode=mode, engine=engine)
    value, dW1, db1, dv, dc = tanh_net_numpy(**args)
    assert run.value == pytest.approx(value, rel=1e-12)
    for name, want in (("W1", dW1), ("b1", db1), ("v", dv)):
        np.testing.assert_allclose(run.grad[name], want, rtol=1e-10, atol=1e-14, err_msg=name)
    assert run.grad["c"] == pytest.approx(dc, rel=1e-10)


def test_tanh_net_trains_with_adam(capsys):
    words = TANH_NET.with_suffix(".args").read_text().split("\n")[0].split()
    words = [w.replace("@", f"@{ROOT}/") for w in words]
    code = cli.main(["optimize", str(TANH_NET), "--method", "adam", "--lr", "0.05", "--steps", "2000",
                     "--wrt", "W1,b1,v,c", *words, "--json"])
    obj = json.loads(capsys.readouterr().out)
    assert code == 0 and obj["method"] == "adam"
    assert obj["history"][0] > 0.15 and obj["loss"] < 0.01  # from 0.177 to near the noise (variance 0.0025)
    args = load_example(TANH_NET).args
    trained = {k: np.array(v) if isinstance(v, list) else v for k, v in obj["params"].items()}
    assert np.shape(trained["W1"]) == (2, 4)
    assert tanh_net_numpy(args["X"], args["y"], **trained)[0] == pytest.approx(obj["loss"], rel=1e-9)


def test_least_squares_by_newton_is_numpys_lstsq():
    """lstsq.ad minimised over x by Newton's method: one step, to numpy.linalg.lstsq's solution."""
    program = compile_source((ROOT / "programs" / "examples" / "lstsq.ad").read_text())
    rng = np.random.default_rng(15)
    A_ = rng.normal(size=(30, 4))
    y = A_ @ np.array([1.0, -2.0, 0.5, 3.0]) + rng.normal(0.0, 0.1, 30)
    result = optimize(program, "main", {"A": A_, "x": np.zeros(4), "y": y}, ["x"], method="newton")
    best, residual, _, _ = np.linalg.lstsq(A_, y, rcond=None)
    assert result.converged and result.steps <= 2
    np.testing.assert_allclose(result.params["x"], best, rtol=1e-9)
    assert result.loss == pytest.approx(float(residual[0]), rel=1e-9)
