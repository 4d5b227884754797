"""`check --jacobian` and `check --order 2`: every entry two ways and by central differences, as `check` does."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

import adlang
from adlang import cli

SOURCE = """\
def softmax(v: vec) -> vec:
    let e = exp(v)
    return e / sum(e)

def pair(x, v: vec) -> (float, vec):
    return x * sum(v), v * x

def chain(v: vec, x) -> float:
    let s = 0.0
    for i in 0..len(v) - 1:
        s += sin(v[i]) * v[i + 1]
    return x * sum(v * v) + s

def kink(x, y) -> float:
    return abs(x) * y + x * x * y

def count(n: int) -> int:
    return n
"""


def command(*words: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main([str(w) for w in words])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def path(tmp_path):
    file = tmp_path / "second.ad"
    file.write_text(SOURCE)
    return file


def test_check_jacobian_compares_every_entry(path):
    v = [0.1, 0.5, -1.0]
    code, out, _ = command("check", path, "v=[0.1,0.5,-1]", "--fn", "softmax", "--jacobian", "v", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["ok"] is True and obj["jacobian"] == ["v"]
    s = np.exp(v) / np.sum(np.exp(v))
    expected = np.diag(s) - np.outer(s, s)
    assert [r["name"] for r in obj["rows"]] == [f"softmax[{i}] / v[{j}]" for j in range(3) for i in range(3)]
    for r in obj["rows"]:
        i, j = int(r["name"][8]), int(r["name"][-2])
        assert r["forward"] == pytest.approx(expected[i, j], rel=1e-12, abs=1e-15)
        assert r["reverse"] == pytest.approx(expected[i, j], rel=1e-12, abs=1e-15)
        assert r["finite_difference"] == pytest.approx(expected[i, j], rel=1e-7, abs=1e-9)
    code, text, _ = command("check", path, "v=[0.1,0.5,-1]", "--fn", "softmax", "--jacobian", "v")
    assert code == 0 and "the Jacobian of softmax: forward, reverse, central differences" in text


def test_check_jacobian_of_a_tuple_names_its_items(path):
    code, out, _ = command("check", path, "x=2", "v=[0.1,0.5]", "--fn", "pair", "--jacobian", "x,v", "--json")
    names = [r["name"] for r in json.loads(out)["rows"]]
    assert code == 0
    assert names == ["pair.0 / x", "pair.1[0] / x", "pair.1[1] / x", "pair.0 / v[0]", "pair.1[0] / v[0]",
                     "pair.1[1] / v[0]", "pair.0 / v[1]", "pair.1[0] / v[1]", "pair.1[1] / v[1]"]


@pytest.mark.parametrize("n", [1, 4])
def test_check_order_2_compares_two_mode_pairs_and_differences_of_the_gradient(path, n):
    v = np.linspace(-1.0, 1.2, n)
    words = [f"v=[{','.join(map(repr, map(float, v)))}]", "x=0.7", "--fn", "chain", "--wrt", "v,x", "--order", "2"]
    code, out, _ = command("check", path, *words, "--json")
    obj = json.loads(out)
    assert code == 0 and obj["ok"] is True and obj["order"] == 2
    assert obj["modes"] == {"forward": "forward-over-reverse", "reverse": "reverse-over-reverse"}
    assert len(obj["rows"]) == (n + 1) ** 2
    hessian = adlang.compile(SOURCE).grad(args={"v": v, "x": 0.7}, fn="chain", order=2).hessian
    by_name = {r["name"]: r for r in obj["rows"]}
    for i in range(n):
        for j in range(n):
            row = by_name[f"v[{i}], v[{j}]"]
            assert row["forward"] == pytest.approx(hessian["v"]["v"][i, j], rel=1e-12, abs=1e-14)
            assert row["finite_difference"] == pytest.approx(hessian["v"]["v"][i, j], rel=1e-6, abs=1e-8)
        assert by_name[f"x, v[{i}]"]["reverse"] == pytest.approx(2 * v[i], rel=1e-12)
    code, text, _ = command("check", path, *words)
    assert code == 0 and "forward-over-reverse" in text and "pairs apart" in text


def test_check_order_2_at_a_kink_differs_and_says_why(path):
    code, out, _ = command("check", path, "x=0", "y=2", "--fn", "kink", "--wrt", "x,y", "--order", "2", "--json")
    obj = json.loads(out)
    assert code == 1 and obj["ok"] is False
    row = obj["rows"][0]
    assert row["name"] == "x, x" and row["forward"] == row["reverse"] == 4.0
    assert "abs" in row["note"] and "convention" in row["note"]


@pytest.mark.parametrize("words, fragment", [
    (["x=1", "y=2", "--fn", "kink", "--wrt", "x", "--jacobian", "x"], "check --jacobian takes the parameters itself"),
    (["x=1", "y=2", "--fn", "kink", "--wrt", "x", "--order", "2", "--sweep"], "--sweep is for first derivatives"),
    (["x=1", "y=2", "--fn", "kink", "--wrt", "x", "--order", "3"], "--order must be 1 or 2, not '3'"),
    (["n=1", "--fn", "count", "--jacobian", "n"], "a Jacobian needs a function whose result is a float, a vec"),
    (["v=[1,2]", "--fn", "softmax", "--wrt", "v", "--order", "2"], "--wrt needs a function whose result is a float"),
])
def test_check_usage_errors(path, words, fragment):
    code, _, err = command("check", path, *words)
    assert code == 2 and fragment in err, err


def test_the_api_is_what_the_command_prints(path):
    prog = adlang.load(path)
    jac = prog.check(args={"v": [0.1, 0.5, -1]}, fn="softmax", jacobian=["v"])
    code, out, _ = command("check", path, "v=[0.1,0.5,-1]", "--fn", "softmax", "--jacobian", "v", "--json")
    assert jac.to_json() == json.loads(out)
    second = prog.check(args={"v": [0.3, 0.1], "x": 2}, fn="chain", order=2)
    code, out, _ = command("check", path, "v=[0.3,0.1]", "x=2", "--fn", "chain", "--wrt", "v,x", "--order", "2",
                           "--json")
    assert second.ok and second.to_json() == json.loads(out)
    assert [(r.name, r.forward) for r in second.rows][:2] == [("v[0], v[0]", second.rows[0].reverse),
                                                             ("v[1], v[0]", second.rows[1].reverse)]
    for call, fragment in [(lambda: prog.check(args={"x": 1, "y": 2}, fn="kink", order=3), "order must be 1 or 2"),
                           (lambda: prog.check(args={"x": 1, "y": 2}, fn="kink", jacobian="x", wrt="x"),
                            "takes the parameters itself"),
                           (lambda: prog.check(args={"x": 1, "y": 2}, fn="kink", order=2, sweep=True),
                            "sweep is for first derivatives")]:
        with pytest.raises(adlang.Error, match=fragment):
            call()


@pytest.mark.parametrize("words", [["--wrt", "v,x"], ["--wrt", "v,x", "--order", "2"], ["--wrt", "v", "--sweep"]])
def test_check_runs_in_the_engine_asked_for(path, monkeypatch, words):
    """`check --engine E` (and the API's `engine=`) runs every derivative and every difference in E, with the
    interpreter's outcome."""
    from adlang.interp.engines import Engine

    used = []
    runner = Engine.runner
    monkeypatch.setattr(Engine, "runner", lambda self: used.append(self.name) or runner(self))
    base = ["check", path, "v=[0.3,-0.2,0.9]", "x=0.7", "--fn", "chain", *words, "--json"]
    code, interp, _ = command(*base)
    assert code == 0 and set(used) == {"interp"}
    used.clear()
    code, compiled, _ = command(*base, "--engine", "compiled")
    assert code == 0 and set(used) == {"compiled"}
    assert json.dumps(json.loads(compiled)) == json.dumps(json.loads(interp))  # the engines agree to the bit
    code, out, _ = command(*base, "--engine", "nope")
    assert code == 2 and "unknown --engine 'nope'" in json.loads(out)["error"]["message"]
    if "--sweep" not in words:
        used.clear()
        order = 2 if "--order" in words else 1
        outcome = adlang.load(path).check(args={"v": [0.3, -0.2, 0.9], "x": 0.7}, fn="chain", wrt=["v", "x"],
                                          order=order, engine="compiled")
        assert set(used) == {"compiled"} and outcome.to_json() == json.loads(interp)
