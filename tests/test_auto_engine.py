"""`auto`, the engine optimize chooses by default and the API's run, grad and jacobian on request
(interp/engines.py): the compiled engine, and the native one once a program has run SWITCH_STEPS statements
under `auto`, if numba imports and the program lowers. The rule is tested here with a small threshold; why the
threshold is what it is, is bench's business."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ROOT, compile_text

import adlang
from adlang.interp import engines
from adlang.lang.errors import UsageError
from adlang.options import check_engine

LOOP = "def f(x, n: int) -> float:\n    let r = x\n    for i in 0..n:\n        r = r * x\n    return r\n"


@pytest.fixture
def threshold(monkeypatch):
    monkeypatch.setattr(engines, "SWITCH_STEPS", 100)
    return 100


def chosen_while_running(program, args, runs: int) -> list[str]:
    """The engine `auto` picks before each of `runs` runs, and checks each run gives the interpreter's result."""
    expected = engines.run(program, "f", args, engine="interp")
    picks = []
    for _ in range(runs):
        picks.append(engines.chosen(program))
        got = engines.run(program, "f", args, engine=engines.AUTO)
        assert (got.value, got.steps) == (expected.value, expected.steps)
    return picks


def test_auto_runs_compiled_then_native_once_the_program_has_run_enough(threshold):
    pytest.importorskip("numba")
    program = compile_text(LOOP)
    steps = engines.run(program, "f", {"x": 1.5, "n": 20}, engine="interp").steps  # 44 a run
    picks = chosen_while_running(program, {"x": 1.5, "n": 20}, 5)
    switch = -(-threshold // steps)  # the first run after `threshold` statements
    assert picks == ["compiled"] * switch + ["native"] * (5 - switch)
    assert engines.chosen(compile_text(LOOP)) == "compiled"  # an equal program of its own has run nothing


def test_auto_stays_compiled_without_numba(threshold, monkeypatch):
    monkeypatch.setattr(engines.importlib.util, "find_spec", lambda name: None)
    assert chosen_while_running(compile_text(LOOP), {"x": 1.5, "n": 20}, 5) == ["compiled"] * 5


MAT_LOOP = ("def f(A: mat, x: vec, n: int) -> float:\n    let s = 0.0\n    for i in 0..n:\n"
            "        s = s + sum(A @ x)\n    return s\n")


def test_auto_moves_a_program_with_mats_to_native_like_any_other(threshold):
    pytest.importorskip("numba")
    args = {"A": np.eye(2), "x": np.array([1.0, 2.0]), "n": 30}
    assert chosen_while_running(compile_text(MAT_LOOP), args, 4) == ["compiled"] + ["native"] * 3


def test_auto_stays_compiled_for_a_program_native_does_not_lower(threshold, monkeypatch):
    """Every program of the language lowers today; one whose lowering fails (as an unknown primitive would)
    keeps running compiled."""
    pytest.importorskip("numba")
    from adlang.interp import native

    def unsupported(program):
        raise native.Unsupported("made to fail")

    monkeypatch.setattr(native.Generator, "module", lambda self: unsupported(self.program))
    args = {"A": np.eye(2), "x": np.array([1.0, 2.0]), "n": 30}
    assert chosen_while_running(compile_text(MAT_LOOP), args, 4) == ["compiled"] * 4


def test_optimize_defaults_to_auto_and_run_and_the_apis_runs_to_the_interpreter():
    """The spec's API signatures show engine="interp" for run, grad and jacobian: that default is the contract."""
    import inspect

    from adlang import cli, optimize

    for method in (adlang.Program.optimize, optimize.optimize):
        assert inspect.signature(method).parameters["engine"].default == engines.AUTO
    for method in (adlang.Program.run, adlang.Program.grad, adlang.Program.jacobian):
        assert inspect.signature(method).parameters["engine"].default == "interp"
    _, commands = cli.build_parser()
    assert commands["run"].parse_args(["f.ad"]).engine == "interp"
    assert commands["optimize"].parse_args(["f.ad"]).engine == engines.AUTO


def test_auto_is_an_engine_name_everywhere():
    assert check_engine("auto") == "auto"
    with pytest.raises(UsageError, match=r"engines: interp, compiled, native, auto"):
        check_engine("fast")
    prog = adlang.load(ROOT / "programs" / "lecture" / "loop.ad")
    args = {"x": 1.5, "y": 1.1}
    assert prog.grad(args=args, wrt=["x", "y"], engine="auto").grad == prog.grad(args=args, wrt=["x", "y"]).grad


def test_auto_stays_compiled_for_a_program_too_long_to_compile_soon(threshold, monkeypatch):
    """A native module longer than AUTO_NATIVE_LINES (numba would take minutes over it) keeps running compiled."""
    pytest.importorskip("numba")
    from adlang.interp import native

    program = compile_text(LOOP)
    lines = native.compile_program(program).lines
    monkeypatch.setattr(engines, "AUTO_NATIVE_LINES", lines - 1)
    assert chosen_while_running(program, {"x": 1.5, "n": 20}, 5) == ["compiled"] * 5
    monkeypatch.setattr(engines, "AUTO_NATIVE_LINES", lines)
    assert engines.chosen(program) == "native"
