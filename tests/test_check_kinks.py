"""`adlang check` near a kink (issue 7): it says the finite differences straddle one, and steps closer.

abs(x) at x = 1e-9: check's step (6e-6) reaches across 0, so the plain central
difference is 1e-9 / 6e-6. Check sees the one-sided differences disagree, says
so, and reports the central difference of a step that no longer straddles the
kink; at the kink itself it says x is at it and which convention the
derivative took (adlang/kinks.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from adlang import cli
from adlang.derivatives import check as derivative_check
from adlang.kinks import central_difference
from adlang.pipeline import compile_source


def check(tmp_path, source: str, *argv: str) -> tuple[int, dict, str]:
    path = tmp_path / "k.ad"
    path.write_text(source, encoding="utf-8")
    results = []
    for json_mode in (True, False):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = cli.main(["check", str(path), *argv, *(["--json"] if json_mode else [])])
        results.append((code, out.getvalue()))
    (code, text_json), (code_text, text) = results
    assert code == code_text
    return code, json.loads(text_json), text


ABS = "def f(x):\n    let y = abs(x)\n    return y\n"


@pytest.mark.parametrize("x", ["1e-9", "-1e-9", "3e-7"])
def test_abs_near_zero_says_the_differences_straddle_the_kink_and_passes(tmp_path, x):
    code, out, text = check(tmp_path, ABS, f"x={x}", "--wrt", "x")
    (row,) = out["rows"]
    assert code == 0 and out["ok"]
    assert row["finite_difference"] == pytest.approx(math.copysign(1.0, float(x)), rel=1e-6)
    assert "with step 6.0e-06 the finite differences straddle a kink" in row["note"]
    assert "they do not, and that difference is shown" in row["note"]
    assert "straddle a kink" in " ".join(text.split())  # the table's caption says it too


def test_abs_at_the_kink_says_x_is_at_it_and_the_convention(tmp_path):
    code, out, text = check(tmp_path, ABS, "x=1e-13", "--wrt", "x")
    (row,) = out["rows"]
    assert code == 1 and not out["ok"]
    assert "so x = 1e-13 is at it" in row["note"] and "abs'(0) = 0" in row["note"]
    assert "DIFFERENT" in text and "is at it" in " ".join(text.split())


def test_a_smooth_function_has_no_note(tmp_path):
    code, out, _ = check(tmp_path, "def f(x):\n    return sin(x) * x\n", "x=0.3", "--wrt", "x")
    assert code == 0 and out["rows"][0]["note"] is None


def test_a_kink_in_one_element_of_a_vec(tmp_path):
    source = "def f(v: vec):\n    return sum(abs(v)) + max(v[1], 0.5)\n"
    code, out, _ = check(tmp_path, source, "v=[1e-9, 0.5000000001]", "--wrt", "v")
    assert code == 0
    notes = {row["name"]: row["note"] for row in out["rows"]}
    assert "straddle" in notes["v[0]"] and "straddle" in notes["v[1]"]


def test_a_jump_at_x_is_reported_as_such():
    def step(x):
        return x + (1.0 if x > 1e-7 else 0.0)

    d = central_difference(step, 1e-7, 6e-6, 1.0, 1e-5)
    assert d.value > 1e4 and "is at it" in d.note
    d = central_difference(step, 2e-7, 6e-6, 1.0, 1e-5)
    assert d.value == pytest.approx(1.0) and "they do not" in d.note


def test_a_real_difference_is_left_alone():
    """Smooth, but the derivative given is wrong: no kink to blame, no note."""
    d = central_difference(math.sin, 0.3, 6e-6, 0.5, 1e-5)
    assert d.value == pytest.approx(math.cos(0.3)) and d.note == ""


def test_a_smooth_function_written_with_kinks_names_the_conventions():
    """softplus written as max(z, 0) + log(1 + exp(-abs(z))) is smooth, but at z = 0 AD follows the conventions
    of max and abs (1.0, not the true 0.5): check says DIFFERENT and names them."""
    program = compile_source("def softplus(z) -> float:\n    return max(z, 0.0) + log(1.0 + exp(-abs(z)))\n")
    outcome = derivative_check(program, "softplus", {"z": 0.0}, ["z"])
    row = outcome.rows[0]
    assert not outcome.ok and row.forward == row.reverse == 1.0 and abs(row.central - 0.5) < 1e-9
    assert "the function is smooth here" in row.note
    assert "max(z, 0.0) at a tie" in row.note and "abs'(0) = 0" in row.note
    assert derivative_check(program, "softplus", {"z": 1.0}, ["z"]).rows[0].note == ""
