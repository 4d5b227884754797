"""`tape_peak`: the most values the tapes held at once during a run, the same in both engines.

All numbered tapes count together; a vec counts its length, a float, int or bool 1.
`adlang run --grad` reports it in `stats` (JSON) and next to the step count.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, compile_text

from adlang.derivatives import compute
from adlang.interp.compiled import run_compiled
from adlang.interp.interpreter import run_function
from adlang.ir.derive import derivative_program
from adlang.pipeline import compile_source

LOOP_PATH = ROOT / "programs" / "lecture" / "loop.ad"
LOOP_ARGS = {"x": 1.5, "y": 1.1}
ENGINES = ["interp", "compiled"]


def loop_program():
    return compile_source(LOOP_PATH.read_text(), str(LOOP_PATH))


def run_engine(engine: str, program, fn: str, args: dict):
    runner = run_compiled if engine == "compiled" else run_function
    return runner(program, fn, dict(args))


@pytest.mark.parametrize("engine", ENGINES)
def test_reverse_mode_of_the_lecture_loop_holds_one_value_per_trip(engine):
    # The forward sweep pushes `accum` (one float, tape 1) before each of the 9 trips overwrites it,
    # and the backward sweep pops only after the loop has ended: 9 values at once.
    derived, entry = derivative_program(loop_program(), "foo", ["x", "y"], "reverse")
    assert run_engine(engine, derived, entry, LOOP_ARGS).tape_peak == 9
    assert compute(loop_program(), "foo", LOOP_ARGS, wrt=["x", "y"], engine=engine).tape_peak == 9


@pytest.mark.parametrize("engine", ENGINES)
def test_forward_mode_and_plain_runs_use_no_tape(engine):
    program = loop_program()
    assert run_engine(engine, program, "foo", LOOP_ARGS).tape_peak == 0
    derived, entry = derivative_program(program, "foo", ["x", "y"], "forward")
    assert run_engine(engine, derived, entry, LOOP_ARGS).tape_peak == 0
    assert compute(program, "foo", LOOP_ARGS, wrt=["x", "y"], mode="forward", engine=engine).tape_peak == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_reverse_over_reverse_holds_more(engine):
    run = compute(loop_program(), "foo", LOOP_ARGS, wrt=["x", "y"], mode="reverse-over-reverse", order=2,
                  engine=engine)
    assert run.tape_peak > 9


VEC_LOOP = """
    def f(v: vec, x) -> float:
        let w = v
        for i in 0..3:
            w = w * x
        return sum(w)
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_pushed_vec_counts_its_length(engine):
    # Reverse mode pushes `w` (a vec of length 4) before each of the 3 trips: 12 values.
    args = {"v": np.array([1.0, 2.0, 3.0, 4.0]), "x": 2.0}
    assert compute(compile_text(VEC_LOOP), "f", args, wrt=["x"], engine=engine).tape_peak == 12


PUSHES = """
    def f(v: vec, x) -> float:
        push(x)
        let a: float = pop()
        push(v, 2)
        push(x)
        push(true, 3)
        let b: bool = pop(3)
        let c: float = pop()
        let w: vec = pop(2)
        push(1)
        let d: int = pop()
        return a + c + sum(w)
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_pops_release_values_and_all_tapes_count_together(engine):
    # At most v (5) + x (1) + true (1) are on tapes 2, 0 and 3 at once; the pops bring it back down.
    args = {"v": np.arange(5.0), "x": 1.0}
    assert run_engine(engine, compile_text(PUSHES), "f", args).tape_peak == 7


def test_engines_agree_on_every_mode_of_the_loop():
    program = loop_program()
    for mode, order in [("forward", 1), ("reverse", 1), ("reverse-over-reverse", 2), ("forward-over-reverse", 2),
                        ("reverse-over-forward", 2), ("forward", 2)]:
        derived, entry = derivative_program(program, "foo", ["x", "y"], mode, order)
        a = run_function(derived, entry, dict(LOOP_ARGS))
        b = run_compiled(derived, entry, dict(LOOP_ARGS))
        assert a.tape_peak == b.tape_peak, mode


# ---------------------------------------------------------------- the command line


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adlang", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("engine", ENGINES)
def test_cli_json_has_tape_peak_only_with_grad(engine):
    path = str(LOOP_PATH)
    with_grad = cli("run", path, "x=1.5", "y=1.1", "--grad", "x,y", "--json", "--engine", engine)
    assert with_grad.returncode == 0, with_grad.stderr
    assert json.loads(with_grad.stdout)["stats"]["tape_peak"] == 9
    plain = cli("run", path, "x=1.5", "y=1.1", "--json", "--engine", engine)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["stats"] == {"steps": 21}


def test_cli_shows_tape_peak_next_to_the_steps():
    path = str(LOOP_PATH)
    out = cli("run", path, "x=1.5", "y=1.1", "--grad", "x,y").stdout
    assert "80 steps, tape peak: 9 values" in out
    assert "tape peak" not in cli("run", path, "x=1.5", "y=1.1").stdout


def test_the_text_leaves_out_zero_stats_and_the_json_keeps_them():
    path = str(ROOT / "programs/lecture/foo.ad")
    text = cli("run", path, "x=2", "y=3", "--grad", "x,y").stdout
    assert "7 steps\n" in text and "tape peak" not in text and "recomputed" not in text
    stats = json.loads(cli("run", path, "x=2", "y=3", "--grad", "x,y", "--json").stdout)["stats"]
    assert stats == {"steps": 7, "tape_peak": 0, "recomputed": 0}
