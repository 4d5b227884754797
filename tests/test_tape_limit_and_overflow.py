"""--max-tape bounds the tape with an error that suggests checkpointing; an overflow to inf is a warning."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import ROOT, compile_text

from adlang.derivatives import compute
from adlang.lang.errors import RuntimeFault

LOOP = str(ROOT / "programs/lecture/loop.ad")


def adlang(*words: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adlang", *words], capture_output=True, text=True, cwd=cwd,
                          timeout=60)


@pytest.mark.parametrize("engine", ["interp", "compiled"])
def test_a_tape_past_max_tape_is_a_runtime_error_at_the_push(engine):
    program = compile_text("""
        def f(x, n: int) -> float:
            let s = x
            for i in 0..n:
                s = sin(s) * x
            return s
    """)
    args = {"x": 0.9, "n": 100}
    peak = compute(program, "f", args, wrt=["x"], engine=engine).tape_peak
    assert peak >= 100  # each iteration saves what it overwrites
    ok = compute(program, "f", args, wrt=["x"], engine=engine, max_tape=peak)
    assert ok.tape_peak == peak
    expected = f"more than {peak - 1} values.*--checkpoint sqrt or revolve:S.*--max-tape N"
    with pytest.raises(RuntimeFault, match=expected) as err:
        compute(program, "f", args, wrt=["x"], engine=engine, max_tape=peak - 1)
    assert err.value.span.line == 4
    checked = compute(program, "f", args, wrt=["x"], engine=engine, max_tape=peak - 1, checkpoint="sqrt")
    assert checked.grad["x"] == pytest.approx(ok.grad["x"], rel=1e-12)


def test_max_tape_on_the_command_line():
    done = adlang("run", LOOP, "x=1.5", "y=1.1", "--grad", "x,y", "--max-tape", "5", "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "runtime" and error["line"] == 9 and "--checkpoint" in error["message"]
    assert adlang("run", LOOP, "x=1.5", "y=1.1", "--grad", "x,y", "--max-tape", "5", "--checkpoint",
                  "revolve:2").returncode == 0
    bad = adlang("run", LOOP, "x=1.5", "y=1.1", "--max-tape", "lots")
    assert bad.returncode == 2 and "--max-tape needs a whole number" in bad.stderr


OVERFLOW = """\
def f(x):
    let a = x * 1e300
    let b = a * a
    let c = 1.0 / b
    return b + c
"""


@pytest.mark.parametrize("extra", [[], ["--grad", "x"], ["--engine", "compiled"], ["--json"], ["--trace"]])
def test_an_overflow_to_inf_is_a_warning_naming_its_line(tmp_path, extra):
    path = tmp_path / "overflow.ad"
    path.write_text(OVERFLOW)
    done = adlang("run", str(path), "x=10", *extra)
    assert done.returncode == 0
    assert f"{path}:3:5: warning: 'b' overflowed to inf here first" in done.stderr
    assert "    let b = a * a\n    ^" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_warning_when_nothing_overflows(tmp_path):
    done = adlang("run", LOOP, "x=1.5", "y=1.1", "--grad", "x,y")
    assert done.returncode == 0 and done.stderr == ""


def test_an_overflow_in_a_derivative_only_names_the_adjoint(tmp_path):
    path = tmp_path / "steep.ad"
    path.write_text("def f(x):\n    let s = 1.0 / x\n    return s\n")
    done = adlang("run", str(path), "x=1e-200", "--grad", "x")  # 1e200, but its derivative is -1e400
    assert done.returncode == 0 and "warning: 'dsdx' overflowed to inf here first" in done.stderr


def test_an_inf_argument_is_not_called_an_overflow(tmp_path):
    path = tmp_path / "given.ad"
    path.write_text(OVERFLOW)
    done = adlang("run", str(path), "x=inf")
    assert done.returncode == 0
    assert (f"{path}:2:5: warning: 'a' is the first value here to hold an inf, and the results that depend on it are "
            "inf; the argument 'x' is inf already") in done.stderr
    assert "overflowed" not in done.stderr
