"""The line fit written in adlang: gradient descent (programs/lecture/linefit_gd.ad) and Newton's
method (programs/lecture/linefit_newton.ad), each step taking `grad` inside the language.

Expected numbers come from numpy (polyfit, the mean squared error of its line, the envelope
theorem for the derivative of the minimum) and from central differences of plain runs.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adlang.derivatives import compute
from adlang.interp.interpreter import run_function
from adlang.ir.derive import finish
from adlang.pipeline import compile_source

ROOT = Path(__file__).resolve().parent.parent
LECTURE = ROOT / "programs" / "lecture"
GD = LECTURE / "linefit_gd.ad"
NEWTON = LECTURE / "linefit_newton.ad"
MODES = ("forward", "reverse")


def _data() -> tuple[np.ndarray, np.ndarray]:
    table = np.genfromtxt(ROOT / "programs" / "data" / "line_samples.csv", delimiter=",", names=True)
    return np.asarray(table["x"], dtype=np.float64), np.asarray(table["y"], dtype=np.float64)


XS, YS = _data()
M_FIT, B_FIT = np.polyfit(XS, YS, 1)
MSE_FIT = float(np.mean((M_FIT * XS + B_FIT - YS) ** 2))


@pytest.fixture(scope="module")
def gd():
    return compile_source(GD.read_text(), str(GD))


@pytest.fixture(scope="module")
def newton():
    return compile_source(NEWTON.read_text(), str(NEWTON))


def gd_args(steps: int, lr: float = 0.05, m0: float = 0.0, b0: float = 0.0) -> dict:
    return {"m0": m0, "b0": b0, "xs": XS, "ys": YS, "steps": steps, "lr": lr}


def newton_args(steps: int, m0: float = 0.0, b0: float = 0.0, ys: np.ndarray = YS) -> dict:
    return {"m0": m0, "b0": b0, "xs": XS, "ys": ys, "steps": steps}


def value(program, fn: str, args: dict):
    return run_function(finish(program), fn, args).value


def central_difference(program, args: dict, name: str, h: float = 1e-6) -> float:
    up, down = dict(args), dict(args)
    up[name] += h
    down[name] -= h
    return (value(program, "main", up) - value(program, "main", down)) / (2 * h)


def test_the_data_and_numpy_fit():
    assert XS.shape == YS.shape == (30,)
    assert M_FIT == pytest.approx(2.0, abs=0.1) and B_FIT == pytest.approx(1.0, abs=0.1)


# ---------------------------------------------------------------- Newton


@pytest.mark.parametrize("start", [(0.0, 0.0), (-10.0, 50.0)])
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_newton_reaches_the_least_squares_line(newton, start, steps):
    """The loss is quadratic in m and b: one Newton step lands on the minimum, later steps stay there."""
    m, b = value(newton, "fit", newton_args(steps, *start))
    assert abs(m - M_FIT) <= 1e-9 and abs(b - B_FIT) <= 1e-9, (m, b, M_FIT, B_FIT)


def test_newton_zero_steps_returns_the_start(newton):
    assert tuple(value(newton, "fit", newton_args(0, 1.5, -2.0))) == (1.5, -2.0)


@pytest.mark.parametrize("steps", [1, 3, 5])
def test_newton_final_loss_is_numpys_mean_squared_error(newton, steps):
    assert abs(value(newton, "main", newton_args(steps)) - MSE_FIT) <= 1e-12


@pytest.mark.parametrize("mode", MODES)
def test_newton_final_loss_does_not_depend_on_the_start(newton, mode):
    """Through every Newton step (a grad of a grad inside): d(final loss)/d(m0, b0) is 0, as are central differences."""
    args = newton_args(2, m0=0.5, b0=-0.25)
    run = compute(newton, "main", args, wrt=["m0", "b0"], mode=mode)
    assert abs(run.value - MSE_FIT) <= 1e-12
    for name in ("m0", "b0"):
        fd = central_difference(newton, args, name)
        assert abs(run.grad[name]) <= 1e-12 and abs(fd) <= 1e-8, (name, run.grad[name], fd)


@pytest.mark.parametrize("mode", MODES)
def test_newton_final_loss_wrt_the_data_is_the_envelope_theorem(newton, mode):
    """The minimum of the loss moves with the data as the loss does at the fixed optimum: d/dy_i = -2 r_i / n."""
    run = compute(newton, "main", newton_args(1), wrt=["ys"], mode=mode)
    residuals = M_FIT * XS + B_FIT - YS
    assert isinstance(run.grad["ys"], np.ndarray) and run.grad["ys"].shape == YS.shape
    np.testing.assert_allclose(run.grad["ys"], -2 * residuals / len(YS), rtol=0, atol=1e-12)


# ---------------------------------------------------------------- gradient descent


def test_gd_gets_close_to_the_least_squares_line(gd):
    m, b = value(gd, "fit", gd_args(150, lr=0.1))
    assert abs(m - M_FIT) <= 1e-3 and abs(b - B_FIT) <= 1e-3, (m, b, M_FIT, B_FIT)
    assert value(gd, "main", gd_args(150, lr=0.1)) == pytest.approx(MSE_FIT, abs=1e-6)


def test_gd_loss_falls_step_after_step(gd):
    losses = [value(gd, "main", gd_args(steps)) for steps in range(0, 13)]
    assert losses[0] == pytest.approx(float(np.mean(YS**2)))
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] > MSE_FIT


def test_gd_one_step_by_hand(gd):
    """One step from (m0, b0): the gradient of the mean squared error written out with numpy."""
    m0, b0, lr = 1.0, 0.5, 0.05
    r = m0 * XS + b0 - YS
    m1, b1 = m0 - lr * np.mean(2 * r * XS), b0 - lr * np.mean(2 * r)
    assert value(gd, "fit", gd_args(1, lr, m0, b0)) == pytest.approx([m1, b1], rel=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_gd_final_loss_wrt_lr_and_start_matches_central_differences(gd, mode):
    """main has `grad` inside a loop; differentiating it again goes through every step."""
    args = gd_args(12, lr=0.05, m0=0.3, b0=-0.2)
    wrt = ["lr", "m0", "b0"]
    run = compute(gd, "main", args, wrt=wrt, mode=mode)
    assert run.value == value(gd, "main", args)
    for name in wrt:
        fd = central_difference(gd, args, name)
        assert abs(run.grad[name] - fd) <= 1e-5 * max(abs(fd), 1e-3), (name, run.grad[name], fd)
    assert run.grad["lr"] < 0  # a bigger step (still below 2 / 18.5) gets further down in 12 steps


def test_gd_forward_and_reverse_agree(gd):
    args = gd_args(12, lr=0.05, m0=0.3, b0=-0.2)
    forward = compute(gd, "main", args, wrt=["lr", "m0", "b0"], mode="forward")
    reverse = compute(gd, "main", args, wrt=["lr", "m0", "b0"], mode="reverse")
    for name in ("lr", "m0", "b0"):
        assert forward.grad[name] == pytest.approx(reverse.grad[name], rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------- the documented commands


def run_lines(path: Path) -> list[list[str]]:
    """The `adlang run ...` commands written in the program's leading comment."""
    commands = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip().removeprefix("Run:").strip()
        if text.startswith("adlang run "):
            commands.append(shlex.split(text)[2:])
    return commands


@pytest.mark.parametrize("path", [GD, NEWTON], ids=lambda p: p.stem)
def test_documented_run_command_exits_0_with_json(path):
    commands = run_lines(path)
    assert len(commands) == 3
    words = commands[0]
    out = subprocess.run([sys.executable, "-m", "adlang", "run", *words, "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["function"] == "main"
    assert result["args"]["xs"] == pytest.approx(XS.tolist()) and result["args"]["ys"] == pytest.approx(YS.tolist())
    if path == NEWTON:
        assert abs(result["value"] - MSE_FIT) <= 1e-12
    else:
        assert MSE_FIT < result["value"] < MSE_FIT + 1e-5


def test_documented_fit_and_grad_commands(tmp_path):
    """The other commands in the comments: --fn fit gives m, b; --grad gives a gradient per parameter."""
    for path in (GD, NEWTON):
        for words in run_lines(path)[1:]:
            out = subprocess.run([sys.executable, "-m", "adlang", "run", *words, "--json"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, (words, out.stderr)
            result = json.loads(out.stdout)
            if "--fn" in words:
                assert result["value"] == pytest.approx([M_FIT, B_FIT], abs=3e-3)
            else:
                assert set(result["grad"]) == set(words[words.index("--grad") + 1].split(","))


def test_newton_gradient_and_hessian_from_grad_in_the_language():
    """What each Newton step uses, pulled out by a wrapper.

    g = 2 [mean(r x), mean(r)] and H = 2 [[mean x^2, mean x], [mean x, 1]] with r = m x + b - y.
    """
    wrapper = """
def parts_(m, b, xs: vec, ys: vec) -> (float, float, float, float, float, float):
    let gm, hmm, hmb = grad dloss_dm(m, b, xs, ys) wrt m, b
    let gb, hbm, hbb = grad dloss_db(m, b, xs, ys) wrt m, b
    return gm, gb, hmm, hmb, hbm, hbb
"""
    program = compile_source(NEWTON.read_text() + wrapper, "<linefit_newton + parts_>")
    m, b = 1.25, -0.5
    r = m * XS + b - YS
    want = [2 * np.mean(r * XS), 2 * np.mean(r), 2 * np.mean(XS**2), 2 * np.mean(XS), 2 * np.mean(XS), 2.0]
    got = value(program, "parts_", {"m": m, "b": b, "xs": XS, "ys": YS})
    assert got == pytest.approx(want, rel=1e-12)
