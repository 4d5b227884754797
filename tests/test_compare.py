"""`adlang compare` (issue 18): symbolic, finite differences and AD side by side."""

from __future__ import annotations

import json
import sys

import pytest
from helpers import ROOT

import adlang
from adlang import cli

STRAIGHT_LINE = ["lecture/foo", "lecture/fanout", "lecture/cube", "lecture/square_plus5", "lecture/dual",
                 "lecture/foo_mul", "examples/polar", "examples/logistic"]
LOOPS = ["lecture/loop", "examples/nested_loops", "examples/vec_stats", "lecture/linefit"]


def example(name: str) -> tuple[str, list[str], list[str]]:
    args, wrt = (ROOT / "programs" / f"{name}.args").read_text().splitlines()[:2]
    return str(ROOT / "programs" / f"{name}.ad"), args.split(), ["--wrt", wrt]


def compare_json(path, args, wrt, capsys) -> dict:
    code = cli.main(["compare", path, *args, *wrt, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize("name", STRAIGHT_LINE + LOOPS)
def test_symbolic_values_agree_with_ad(name, capsys):
    pytest.importorskip("sympy")
    data = compare_json(*example(name), capsys)
    assert data["symbolic"]["ok"], data["symbolic"]["reason"]
    assert data["symbolic"]["value"].keys() == data["reverse"]["value"].keys()
    for p, ad in data["reverse"]["value"].items():
        assert data["symbolic"]["value"][p] == pytest.approx(ad, rel=1e-9, abs=1e-12), p
        assert data["forward"]["value"][p] == pytest.approx(ad, rel=1e-12, abs=1e-15), p
        assert data["finite_differences"]["value"][p] == pytest.approx(ad, rel=1e-5, abs=1e-7), p


def test_the_lecture_formulas(capsys):
    pytest.importorskip("sympy")
    assert compare_json(*example("lecture/foo"), capsys)["symbolic"]["formula"] == {"x": "y", "y": "x + 5"}
    assert compare_json(*example("lecture/fanout"), capsys)["symbolic"]["formula"] == {"x": "2*x + 2"}
    loop = compare_json(*example("lecture/loop"), capsys)["symbolic"]
    assert loop["formula"] == {"x": "y**9", "y": "9*x*y**8"} and loop["operations"] == 4


@pytest.mark.parametrize("name, reason", [
    ("examples/while_newton_sqrt", "line 11 is a while loop: how many times it runs is known only by running it"),
    ("examples/piecewise", "line 10 branches on a float (x/k <= 0): which side runs depends on the parameters'"),
])
def test_refusals_say_why(name, reason, capsys):
    pytest.importorskip("sympy")
    data = compare_json(*example(name), capsys)
    assert data["symbolic"] == {"ok": False, "reason": data["symbolic"]["reason"], "formula": {}, "value": {},
                                "operations": None}
    assert data["symbolic"]["reason"].startswith(reason)
    assert data["reverse"]["value"]  # the other ways still answer


@pytest.mark.parametrize("name, reason", [
    ("examples/lstsq", "parameter 'A' of main is a mat: the symbolic way writes formulas over floats and vecs"),
    ("examples/logreg_mat", "parameter 'X' of main is a mat: the symbolic way writes formulas over floats and vecs"),
])
def test_a_mat_is_refused_in_a_sentence(name, reason, capsys):
    """Not sympy's or numpy's TypeError: a mat parameter, differentiated or not, is a refusal that says why."""
    pytest.importorskip("sympy")
    data = compare_json(*example(name), capsys)
    assert data["symbolic"]["ok"] is False and data["symbolic"]["reason"].startswith(reason)
    assert "Error" not in data["symbolic"]["reason"]
    assert data["reverse"]["value"] and data["finite_differences"]["value"]


def test_a_mat_made_inside_the_function_is_refused_at_its_line(tmp_path, capsys):
    pytest.importorskip("sympy")
    path = tmp_path / "matlit.ad"
    path.write_text("def f(x) -> float:\n    let s = x * 2.0\n    let A = [[x, 1.0], [2.0, s]]\n    return sum(A)\n")
    data = compare_json(str(path), ["x=2"], ["--wrt", "x"], capsys)
    assert data["symbolic"]["reason"].startswith("line 3 computes with a mat")
    assert data["reverse"]["value"] == {"x": 3.0}


def test_a_loop_past_the_size_limit_is_refused(tmp_path, capsys):
    pytest.importorskip("sympy")
    path = tmp_path / "long.ad"
    path.write_text("def f(x, n: int):\n    let s = x\n    for i in 0..n:\n        s = s * x\n    return s\n")
    data = compare_json(str(path), ["x=1.0001", "n=30000"], ["--wrt", "x"], capsys)
    assert not data["symbolic"]["ok"] and "more than 20,000 statements" in data["symbolic"]["reason"]
    small = compare_json(str(path), ["x=1.5", "n=30"], ["--wrt", "x"], capsys)  # unrolled, int-argument bounds
    assert small["symbolic"]["formula"] == {"x": "31*x**30"}


def test_json_has_exactly_the_specs_keys(capsys):
    data = compare_json(*example("examples/logistic"), capsys)
    assert set(data) == {"symbolic", "finite_differences", "forward", "reverse"}
    assert set(data["symbolic"]) == {"ok", "reason", "formula", "value", "operations"}
    assert set(data["finite_differences"]) == {"h", "value", "evaluations"}
    assert set(data["forward"]) == set(data["reverse"]) == {"value", "operations", "steps"}
    assert list(data["reverse"]["value"]) == ["w[0]", "w[1]", "b"]
    assert data["finite_differences"]["evaluations"] == 6  # 2 per parameter element
    assert data["forward"]["operations"] > 0 and data["reverse"]["steps"] > 0


def test_without_sympy_the_symbolic_row_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sympy", None)
    data = compare_json(*example("lecture/foo"), capsys)
    assert data["symbolic"]["ok"] is False and "pip install adlang[symbolic]" in data["symbolic"]["reason"]
    assert data["reverse"]["value"] == {"x": 3.0, "y": 7.0}


def test_text_api_and_repl(capsys):
    pytest.importorskip("sympy")
    assert cli.main(["compare", *example("lecture/foo")[0:1], "x=2", "y=3", "--wrt", "x,y"]) == 0
    out = capsys.readouterr().out
    assert "three ways to the derivative of foo" in out and "symbolic: dfoo/dy = x + 5" in out
    outcome = adlang.load(ROOT / "programs/lecture/foo.ad").compare({"x": 2, "y": 3}, ["x", "y"])
    assert outcome.to_json()["symbolic"]["value"] == {"x": 3.0, "y": 7.0}
    assert "x + 5" in outcome._repr_html_()
    from adlang.repl import Repl

    repl = Repl(interactive=False)
    repl.execute(f":load {ROOT / 'programs/lecture/foo.ad'}")
    repl.execute(":compare foo x=2 y=3 wrt x --json")
    assert repl.exit_code == 0
    assert '"formula": {"x": "y"}' in capsys.readouterr().out
