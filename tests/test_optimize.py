"""`adlang optimize`: the methods on the lecture's line fit (against numpy.polyfit), stopping, divergence,
the JSON object and usage errors, through `adlang.optimize` and through `python -m adlang optimize`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import ROOT, compile_text

from adlang.arguments import bind_arguments
from adlang.lang.errors import RuntimeFault, UsageError
from adlang.optimize import optimize, parse_options
from adlang.pipeline import compile_source

LINEFIT = "programs/lecture/linefit.ad"
CSV = "programs/data/line_samples.csv"
DATA = [f"xs=@{CSV}:x", f"ys=@{CSV}:y"]
LOSS_DEF_LINE = 12  # `def loss(m, b, xs: vec, ys: vec) -> float:` in linefit.ad
BASE = ["optimize", LINEFIT, "--fn", "loss", "--wrt", "m,b", "m=0", "b=0", *DATA]
ERR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): runtime error: (?P<msg>.*)$", re.M)

WRONG_KINDS = """\
def f(x, n: int) -> float:
    return x * n

def g(x) -> vec:
    return [x, x]
"""


@pytest.fixture(scope="module")
def linefit():
    """The program, the arguments m=0 b=0 with the shipped samples, and numpy's least-squares line."""
    program = compile_source((ROOT / LINEFIT).read_text(), LINEFIT)
    fn = program.function("loss")
    args = bind_arguments(fn, ["m=0", "b=0", *(word.replace("@", f"@{ROOT}/") for word in DATA)])
    data = np.genfromtxt(ROOT / CSV, delimiter=",", names=True)
    m, b = np.polyfit(data["x"], data["y"], 1)
    return program, args, (float(m), float(b))


def fitted(result) -> tuple[float, float]:
    return result.params["m"], result.params["b"]


# ---------------------------------------------------------------- the API


def test_newton_reaches_the_least_squares_line(linefit):
    program, args, best = linefit
    result = optimize(program, "loss", args, ["m", "b"], method="newton")
    assert result.converged and result.steps <= 10
    assert fitted(result) == pytest.approx(best, abs=1e-8)
    assert result.grad_norm <= 1e-8
    assert len(result.history) == result.steps + 1 and result.history[-1] == result.loss
    assert result.history[0] == pytest.approx(45.3536040478551)


@pytest.mark.parametrize(
    ("method", "lr", "mode"),
    [("gd", 0.05, "reverse"), ("adam", 0.1, "reverse"), ("momentum", None, "reverse"), ("gd", 0.05, "forward")],
)
def test_first_order_methods_get_close(linefit, method, lr, mode):
    program, args, best = linefit
    result = optimize(program, "loss", args, ["m", "b"], method=method, lr=lr, mode=mode)
    assert fitted(result) == pytest.approx(best, abs=1e-3)
    assert result.steps <= 1000 and result.method == method


def test_gd_runs_out_of_steps_with_a_small_rate(linefit):
    program, args, _ = linefit
    result = optimize(program, "loss", args, ["m", "b"], steps=20)
    assert not result.converged and result.steps == 20 and len(result.history) == 21
    assert all(later < earlier for earlier, later in zip(result.history, result.history[1:]))


def test_tol_stops_early(linefit):
    program, args, _ = linefit
    loose = optimize(program, "loss", args, ["m", "b"], lr=0.05, tol=1e-2)
    tight = optimize(program, "loss", args, ["m", "b"], lr=0.05)
    assert loose.converged and tight.converged
    assert loose.grad_norm <= 1e-2 < optimize(program, "loss", args, ["m", "b"], lr=0.05, steps=loose.steps - 1,
                                             tol=1e-2).grad_norm
    assert loose.steps < tight.steps


def test_progress_callback_sees_every_step(linefit):
    program, args, _ = linefit
    seen = []
    result = optimize(program, "loss", args, ["m", "b"], steps=5, on_step=lambda k, loss: seen.append((k, loss)))
    assert seen == list(enumerate(result.history)) and [k for k, _ in seen] == [0, 1, 2, 3, 4, 5]


def test_divergence_is_a_runtime_fault_at_the_def(linefit):
    program, args, _ = linefit
    with pytest.raises(RuntimeFault) as info:
        optimize(program, "loss", args, ["m", "b"], lr=5.0)
    err = info.value
    assert err.span.line == LOSS_DEF_LINE and err.span.col == 1
    assert re.search(r"the loss became inf at step \d+; lower --lr \(now 5\)", err.message), err.message


def test_non_finite_start_is_reported_as_such(linefit):
    program, args, _ = linefit
    with pytest.raises(RuntimeFault, match="the loss is inf at the starting point, before any step"):
        optimize(program, "loss", {**args, "m": 1e200}, ["m", "b"])


def test_vec_parameters():
    program = compile_text("""
        def f(v: vec, t: vec) -> float:
            let d = v - t
            return dot(d, d)
        """)
    target = np.array([1.0, 2.0, 3.0])
    args = {"v": np.zeros(3), "t": target}
    for mode in ("reverse", "forward"):
        result = optimize(program, "f", args, ["v"], lr=0.1, mode=mode)
        assert result.converged and isinstance(result.params["v"], np.ndarray)
        assert result.params["v"] == pytest.approx(target, abs=1e-8)
    assert np.array_equal(args["v"], np.zeros(3))  # the starting values are not changed in place
    # Newton: a Hessian over v's elements; the function is quadratic, so one step lands on the minimum
    result = optimize(program, "f", args, ["v"], method="newton")
    assert result.converged and result.steps == 1
    assert result.params["v"] == pytest.approx(target, abs=1e-12)


def test_newton_falls_back_when_the_hessian_is_singular():
    program = compile_text("""
        def f(x, y) -> float:
            return (x + y - 1.0) ^ 2
        """)
    result = optimize(program, "f", {"x": 0.0, "y": 0.0}, ["x", "y"], method="newton")
    assert result.converged and result.loss == 0.0
    assert result.params["x"] + result.params["y"] == pytest.approx(1.0)


def test_newton_goes_down_where_the_hessian_is_negative():
    """Plain Newton from 0.5 would climb to cos's maximum at 0; the damped search goes down to pi."""
    program = compile_text("""
        def f(x) -> float:
            return cos(x)
        """)
    result = optimize(program, "f", {"x": 0.5}, ["x"], method="newton")
    assert result.converged and result.params["x"] == pytest.approx(np.pi, abs=1e-8)
    assert all(later < earlier for earlier, later in zip(result.history, result.history[1:]))


def test_runtime_errors_of_the_function_propagate():
    program = compile_text("""
        def f(x) -> float:
            let y = x * 2.0
            return sqrt(y)
        """)
    with pytest.raises(RuntimeFault) as info:
        optimize(program, "f", {"x": 1.0}, ["x"], lr=4.0)
    assert "sqrt" in info.value.message and info.value.span.line == 3


def test_parse_options():
    assert parse_options() == {"method": "gd", "steps": None, "lr": None, "tol": 1e-8, "mode": "reverse"}
    assert parse_options("adam", "1_000", "0.5", "0", "forward") == {
        "method": "adam", "steps": 1000, "lr": 0.5, "tol": 0.0, "mode": "forward"}
    bad = [
        (("sgd",), "did you mean 'gd'?.*gd, momentum, adam, newton"),
        ((None, "0"), "--steps"),
        ((None, "ten"), "--steps"),
        ((None, "2.5"), "--steps"),
        ((None, None, "0"), "--lr"),
        ((None, None, "-0.1"), "--lr"),
        ((None, None, "inf"), "--lr"),
        ((None, None, "fast"), "--lr"),
        ((None, None, None, "-1e-3"), "--tol"),
        ((None, None, None, "nan"), "--tol"),
        (("newton", None, "0.1"), "--lr is not used by --method newton"),
        ((None, None, None, None, "forward-over-reverse"), "forward, reverse"),
    ]
    for options, message in bad:
        with pytest.raises(UsageError, match=message):
            parse_options(*options)


# ---------------------------------------------------------------- the command line


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        assert self.out.count("\n") == 1, self.out  # exactly one JSON object, on one line
        obj = json.loads(self.out)
        assert isinstance(obj, dict)
        return obj


def adlang(*args: str, cwd=ROOT) -> Outcome:
    proc = subprocess.run([sys.executable, "-m", "adlang", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def test_cli_newton_json(linefit):
    _, _, best = linefit
    r = adlang(*BASE, "--method", "newton", "--json")
    assert r.code == 0 and r.err == ""
    obj = r.json()
    assert set(obj) == {"function", "method", "params", "loss", "grad_norm", "steps", "converged", "diverged",
                        "interrupted", "history", "newton_solver", "hessian_vector_products"}
    assert obj["function"] == "loss" and obj["method"] == "newton" and obj["converged"] is True
    assert obj["newton_solver"] == "program" and obj["hessian_vector_products"] == 0  # floats: the Hessian program
    assert set(obj["params"]) == {"m", "b"}
    assert (obj["params"]["m"], obj["params"]["b"]) == pytest.approx(best, abs=1e-8)
    assert isinstance(obj["steps"], int) and 1 <= obj["steps"] <= 10
    assert len(obj["history"]) == obj["steps"] + 1 and obj["history"][-1] == obj["loss"]
    assert obj["grad_norm"] <= 1e-8


def test_cli_adam_with_options_and_vec_params_as_lists(linefit):
    _, _, best = linefit
    obj = adlang(*BASE, "--method", "adam", "--lr", "0.1", "--steps", "2000", "--json").json()
    assert obj["converged"] and (obj["params"]["m"], obj["params"]["b"]) == pytest.approx(best, abs=1e-3)
    obj = adlang(*BASE, "--steps", "3", "--tol", "0", "--mode", "forward", "--json").json()
    assert obj["steps"] == 3 and obj["converged"] is False and len(obj["history"]) == 4
    obj = adlang("optimize", "programs/examples/logistic.ad", "w=[0.5,-0.25]", "b=0.1", "x1=[1,2]",
                 "x2=[-1,0.5]", "x3=[2,-1]", "--wrt", "w,b", "--steps", "2", "--json").json()
    assert isinstance(obj["params"]["w"], list) and len(obj["params"]["w"]) == 2


def test_cli_tol_stops_early():
    obj = adlang(*BASE, "--lr", "0.05", "--tol", "0.01", "--json").json()
    assert obj["converged"] is True and obj["grad_norm"] <= 0.01 and obj["steps"] < 300


def test_cli_text_output():
    r = adlang(*BASE, "--lr", "0.05")
    assert r.code == 0 and r.err == ""
    assert re.search(r"^\s*m\s+2\.0239", r.out, re.M) and re.search(r"^\s*b\s+0\.9554", r.out, re.M)
    assert "loss = 0.0450336" in r.out and "gradient norm = " in r.out
    assert re.search(r"converged after \d+ steps", r.out)
    assert "\x1b" not in r.out and "optimizing" not in r.out  # no progress bar off a terminal
    r = adlang(*BASE, "--steps", "5")
    assert r.code == 0 and "steps = 5" in r.out and "ran out of steps after 5 steps" in r.out


def test_cli_divergence_is_a_runtime_error():
    r = adlang(*BASE, "--lr", "5")
    assert r.code == 1 and r.out == ""
    match = ERR_LINE.search(r.err)
    assert match, r.err
    assert match["file"] == LINEFIT and int(match["line"]) == LOSS_DEF_LINE and match["col"] == "1"
    assert re.fullmatch(r"the loss became inf at step \d+; lower --lr \(now 5\) or try --method newton",
                        match["msg"])
    assert "def loss(m, b, xs: vec, ys: vec) -> float:" in r.err
    r = adlang(*BASE, "--lr", "5", "--json")
    assert r.code == 1
    error = r.json()["error"]
    assert error["kind"] == "runtime" and error["line"] == LOSS_DEF_LINE and "--lr" in error["message"]


def test_cli_usage_errors(tmp_path):
    def usage(outcome: Outcome, *fragments: str) -> None:
        assert outcome.code == 2, outcome
        assert outcome.err.startswith("adlang: usage error: "), outcome.err
        for fragment in fragments:
            assert fragment in outcome.err, (fragment, outcome.err)

    usage(adlang(*BASE, "--method", "bfgs"), "'bfgs'", "gd, momentum, adam, newton")
    usage(adlang(*BASE, "--steps", "0"), "--steps")
    usage(adlang(*BASE, "--lr", "-1"), "--lr")
    usage(adlang(*BASE, "--tol", "-1"), "--tol")
    path = tmp_path / "kinds.ad"
    path.write_text(WRONG_KINDS)
    usage(adlang("optimize", str(path), "--fn", "f", "--wrt", "n", "x=1", "n=2"), "'n'", "int")
    usage(adlang("optimize", str(path), "--fn", "g", "--wrt", "x", "x=1"), "result is a float")
    usage(adlang("optimize", LINEFIT, "--fn", "loss", "--wrt", "m,b", "m=0", *DATA), "missing argument 'b'")
    r = adlang(*BASE, "--method", "bfgs", "--json")
    assert r.code == 2 and r.json()["error"]["kind"] == "usage" and r.json()["error"]["line"] is None


@pytest.mark.parametrize("checkpoint", ["sqrt", "revolve:3"])
def test_checkpointing_the_loss_loop_takes_the_same_steps(linefit, checkpoint):
    """--checkpoint reaches loss's loop (a called function's outermost loop): the same path, step for step."""
    program, args, best = linefit
    plain = optimize(program, "loss", args, ["m", "b"], method="gd", steps=30, lr=0.05)
    checked = optimize(program, "loss", args, ["m", "b"], method="gd", steps=30, lr=0.05, checkpoint=checkpoint)
    assert checked.history == pytest.approx(plain.history, rel=1e-12)
    newton = optimize(program, "loss", args, ["m", "b"], method="newton", checkpoint=checkpoint)
    assert fitted(newton) == pytest.approx(best, abs=1e-8)


def test_both_engines_take_the_same_path(linefit):
    program, args, _ = linefit
    for method in ("gd", "adam", "newton"):
        compiled = optimize(program, "loss", args, ["m", "b"], method=method, steps=40)
        interp = optimize(program, "loss", args, ["m", "b"], method=method, steps=40, engine="interp")
        assert compiled.history == interp.history and compiled.params == interp.params
    with pytest.raises(UsageError, match="unknown engine"):
        optimize(program, "loss", args, ["m", "b"], engine="jit")


def test_an_error_only_the_derivative_makes_says_so():
    """(-2) ^ b has a value at b = 2, but its derivative a ^ b log(a) has none: the search says which."""
    program = compile_text("""
        def f(a, b) -> float:
            return a ^ b
        """)
    with pytest.raises(RuntimeFault, match=r"^the derivative of a \^ b with respect to b needs a > 0 .*; here a = -2"):
        optimize(program, "f", {"a": -2.0, "b": 2.0}, ["b"], steps=3)


# ---------------------------------------------------------------- when things go wrong (issue 17)

SQUARES = "def loss(w: vec) -> float:\n    return sum(w * w)\n"


def test_ctrl_c_keeps_the_steps_taken():
    program = compile_text(SQUARES)

    def stop_at_three(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    result = optimize(program, "loss", {"w": np.array([1.0, 2.0])}, ["w"], lr=0.1, steps=100, on_step=stop_at_three)
    assert result.interrupted and not result.converged and result.steps == 3
    assert result.params["w"].tolist() == pytest.approx([0.8 ** 3, 2 * 0.8 ** 3])
    assert result.history == pytest.approx([5.0 * 0.64 ** k for k in range(4)])


def test_ctrl_c_in_the_command_prints_what_was_reached_and_exits_130(tmp_path, monkeypatch, capsys):
    import adlang.optimize as module
    from adlang import cli

    path = tmp_path / "loss.ad"
    path.write_text(SQUARES)
    real = module._Search.evaluate

    def evaluate(self, x, step):
        if step == 4:
            raise KeyboardInterrupt
        return real(self, x, step)

    monkeypatch.setattr(module._Search, "evaluate", evaluate)
    code = cli.main(["optimize", str(path), "--wrt", "w", "w=[1,2]", "--lr", "0.1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 130 and out["interrupted"] is True and out["steps"] == 3 and len(out["history"]) == 4
    assert out["params"]["w"] == pytest.approx([0.8 ** 3, 2 * 0.8 ** 3])


def test_a_loss_that_rises_is_diverging_not_minimized(tmp_path):
    program = compile_text(SQUARES)
    result = optimize(program, "loss", {"w": np.array([1.0, 2.0])}, ["w"], lr=1.5, steps=20)
    assert result.diverged and not result.converged
    path = tmp_path / "loss.ad"
    path.write_text(SQUARES)
    out = subprocess.run([sys.executable, "-m", "adlang", "optimize", str(path), "--wrt", "w", "w=[1,2]",
                          "--lr", "1.5", "--steps", "20"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "diverging: the loss rose from 5.0 to" in out.stdout and "lower --lr (now 1.5)" in out.stdout
    calm = optimize(program, "loss", {"w": np.array([1.0, 2.0])}, ["w"], lr=0.1, steps=20)
    assert not calm.diverged and not calm.interrupted


def test_a_loss_rising_for_many_steps_is_diverging_even_below_the_start():
    from adlang.optimize import OptimizeResult

    history = [10.0, 1.0] + [1.0 + k for k in range(1, 12)]
    assert OptimizeResult("f", "gd", {}, history[-1], 1.0, 12, False, history).diverged
    assert not OptimizeResult("f", "gd", {}, 1.0, 1.0, 3, False, [10.0, 1.0, 2.0, 3.0]).diverged


def test_newton_past_the_old_limit_of_50_elements_builds_the_hessian_from_products(monkeypatch):
    from adlang import optimize as module

    monkeypatch.setattr(module, "DENSE_NEWTON", 100)  # dense past 50 elements still works, where it is chosen
    program = compile_text(SQUARES)
    start = np.linspace(-3, 3, 60)
    result = optimize(program, "loss", {"w": start}, ["w"], method="newton")
    assert result.solver == "dense" and result.converged and result.steps == 1
    assert result.products == 60  # one H e_k per element at the start; at the minimum the gradient stops it
    assert np.allclose(result.params["w"], 0.0, atol=1e-12)


LSTSQ = compile_text("""
    def loss(x: vec, A: mat, y: vec) -> float:
        let r = A @ x - y
        return sum(r ^ 2)
    """)


@pytest.mark.parametrize("engine", ["compiled", "interp"])
def test_newton_cg_solves_500_parameter_least_squares_as_numpy_does(engine):
    """Past DENSE_NEWTON elements Newton is conjugate gradients on Hessian-vector products: no 500 x 500 matrix."""
    from adlang.optimize import DENSE_NEWTON

    rng = np.random.default_rng(16)
    a = rng.normal(size=(600, 500))
    y = rng.normal(size=600)
    best = np.linalg.lstsq(a, y, rcond=None)[0]
    result = optimize(LSTSQ, "loss", {"x": np.zeros(500), "A": a, "y": y}, ["x"], method="newton", engine=engine,
                      tol=1e-7)
    assert 500 > DENSE_NEWTON and result.solver == "cg" and result.converged
    assert np.allclose(result.params["x"], best, rtol=1e-9, atol=1e-9)
    assert result.loss == pytest.approx(float(np.sum((a @ best - y) ** 2)), rel=1e-12)
    assert result.steps <= 12 and result.products < 500, (result.steps, result.products)  # fewer than n


def test_newton_cg_on_a_nonconvex_function_goes_down_to_a_minimum():
    """sum(cos(w)) + 0.01 |w|^2 from points where H is indefinite: negative curvature is never stepped up."""
    program = compile_text("""
        def f(w: vec) -> float:
            return sum(cos(w)) + 0.01 * dot(w, w)
        """)
    start = np.random.default_rng(3).uniform(-1.0, 1.0, 150)
    result = optimize(program, "f", {"w": start}, ["w"], method="newton")
    assert result.solver == "cg" and result.converged
    # down at every step (a full Newton step may leave the loss equal up to rounding)
    assert all(later <= earlier + 1e-14 * abs(earlier) for earlier, later in zip(result.history, result.history[1:]))
    w = result.params["w"]
    assert np.allclose(-np.sin(w) + 0.02 * w, 0.0, atol=1e-8)  # a stationary point ...
    assert np.all(-np.cos(w) + 0.02 > 0)  # ... where the Hessian (diagonal) is positive: a minimum


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_dense_and_cg_newton_agree_with_the_hessian_program(monkeypatch, mode):
    """The same problem solved three ways (the Hessian program over floats, dense over a vec, cg) ends at the
    same point."""
    import adlang.optimize as module

    floats = compile_text("""
        def f(a, b, c) -> float:
            return exp(a - 1.0) + (a * b - 2.0) ^ 2 + (b + c) ^ 4 + c * c
        """)
    vec = compile_text("""
        def f(w: vec) -> float:
            return exp(w[0] - 1.0) + (w[0] * w[1] - 2.0) ^ 2 + (w[1] + w[2]) ^ 4 + w[2] * w[2]
        """)
    by_program = optimize(floats, "f", {"a": 0.5, "b": 0.5, "c": 0.5}, ["a", "b", "c"], method="newton", mode=mode)
    dense = optimize(vec, "f", {"w": np.full(3, 0.5)}, ["w"], method="newton", mode=mode)
    monkeypatch.setattr(module, "DENSE_NEWTON", 2)
    cg = optimize(vec, "f", {"w": np.full(3, 0.5)}, ["w"], method="newton", mode=mode)
    assert (by_program.solver, dense.solver, cg.solver) == ("program", "dense", "cg")
    for result in (by_program, dense, cg):
        assert result.converged
    point = [by_program.params[p] for p in "abc"]
    assert np.allclose(dense.params["w"], point, atol=1e-8) and np.allclose(cg.params["w"], point, atol=1e-8)
    assert dense.history == pytest.approx(by_program.history, rel=1e-9)  # the same steps: the same Hessians


def test_newton_cg_says_how_it_solved(tmp_path):
    path = tmp_path / "sq.ad"
    path.write_text(SQUARES)
    out = subprocess.run([sys.executable, "-m", "adlang", "optimize", str(path), "--wrt", "w",
                          "w=[" + ",".join(["1"] * 150) + "]", "--method", "newton"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "loss minimized with newton-CG (conjugate gradients on 1 Hessian-vector products)" in out.stdout
    obj = adlang("optimize", str(path), "--wrt", "w", "w=[" + ",".join(["1"] * 150) + "]", "--method", "newton",
                 "--json").json()
    assert obj["converged"] and obj["newton_solver"] == "cg" and obj["hessian_vector_products"] == 1
    obj = adlang("optimize", str(path), "--wrt", "w", "w=[" + ",".join(["1"] * 20) + "]", "--method", "newton",
                 "--json").json()
    assert obj["converged"] and obj["newton_solver"] == "dense" and obj["hessian_vector_products"] == 20
    gd = adlang("optimize", str(path), "--wrt", "w", "w=[1,1]", "--steps", "2", "--json").json()
    assert "newton_solver" not in gd and "hessian_vector_products" not in gd
