"""`check --sweep` (issue 18): finite differences against h beside AD, its JSON, its plots."""

from __future__ import annotations

import json
import sys

import pytest
from helpers import ROOT

import adlang
from adlang import cli
from adlang.sweep import PLOT_WIDTH, STEPS

ROW_KEYS = {"param", "h", "forward", "central", "forward_error", "central_error"}


def sweep_json(path, *words, capsys):
    code = cli.main(["check", str(path), *words, "--sweep", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def write(tmp_path, text: str):
    path = tmp_path / "f.ad"
    path.write_text(text)
    return path


@pytest.mark.parametrize("body, x", [("x ^ 3", "2"), ("sin(x)", "1"), ("exp(x)", "0.5"), ("log(x) * x", "3")])
def test_the_central_error_falls_then_rises_again(body, x, tmp_path, capsys):
    """Truncation error falls with h, rounding error grows as h shrinks: the minimum of the central error
    lies between 1e-8 and 1e-2 for a function whose third derivative is not 0, and it rises again below."""
    data = sweep_json(write(tmp_path, f"def f(x):\n    return {body}\n"), f"x={x}", "--wrt", "x", capsys=capsys)
    rows = [r for r in data["sweep"] if r["h"] > 0]
    best = min(rows, key=lambda r: r["central_error"])
    assert 1e-8 <= best["h"] <= 1e-2
    below = [r["central_error"] for r in rows if r["h"] <= 1e-12]
    assert max(below) > 100 * best["central_error"]
    above = [r["central_error"] for r in rows if r["h"] == 1e-1]
    assert above[0] > 100 * best["central_error"]


def test_h_zero_is_the_lectures_div_by_zero_row(capsys):
    data = sweep_json(ROOT / "programs/lecture/cube.ad", "x=2", "--wrt", "x", capsys=capsys)
    assert [r["h"] for r in data["sweep"]] == list(STEPS)
    last = data["sweep"][-1]
    assert last == {"param": "x", "h": 0.0, "forward": None, "central": None, "forward_error": None,
                    "central_error": None}
    code = cli.main(["check", str(ROOT / "programs/lecture/cube.ad"), "x=2", "--wrt", "x", "--sweep"])
    out = capsys.readouterr().out
    assert code == 0 and "ERR: DIV BY 0" in out


def test_the_central_difference_of_x_squared_is_exact_up_to_rounding(capsys):
    data = sweep_json(ROOT / "programs/lecture/square_plus5.ad", "x=3", "--wrt", "x", capsys=capsys)
    assert data["ad"] == {"x": 6.0}
    for r in data["sweep"]:
        if r["h"] >= 1e-4:
            assert r["central_error"] < 1e-9, r  # (x+h)^2 - (x-h)^2 = 4xh: no truncation error at all
    assert data["sweep"][0]["forward_error"] == pytest.approx(0.1 / 6, rel=1e-6)  # h / 2x


def test_json_has_exactly_the_specs_keys_and_a_vec_gives_a_row_set_per_element(capsys):
    data = sweep_json(ROOT / "programs/examples/vec_stats.ad", "v=[1,2.5,3,4.5]", "w=[0.5,-1,2,0.25]", "--wrt",
                      "v,w", capsys=capsys)
    assert set(data) == {"sweep", "ad"}
    assert list(data["ad"]) == ["v[0]", "v[1]", "v[2]", "v[3]", "w[0]", "w[1]", "w[2]", "w[3]"]
    assert all(set(r) == ROW_KEYS for r in data["sweep"])
    assert [r["param"] for r in data["sweep"]] == [p for p in data["ad"] for _ in STEPS]
    grad = adlang.load(ROOT / "programs/examples/vec_stats.ad").grad(
        {"v": [1, 2.5, 3, 4.5], "w": [0.5, -1, 2, 0.25]}, ["v", "w"]).grad
    assert data["ad"]["v[2]"] == pytest.approx(grad["v"][2], rel=1e-12)


def test_a_domain_error_at_x_minus_h_is_a_null_with_a_note(tmp_path, capsys):
    path = write(tmp_path, "def f(x):\n    return sqrt(x)\n")
    data = sweep_json(path, "x=0.001", "--wrt", "x", capsys=capsys)
    first = data["sweep"][0]  # h = 0.1 reaches below 0 on the left
    assert first["central"] is None and first["central_error"] is None and first["forward"] is not None
    assert cli.main(["check", str(path), "x=0.001", "--wrt", "x", "--sweep"]) == 0
    assert "f fails at x - h (sqrt of" in capsys.readouterr().out


def test_f_failing_at_x_is_the_error(tmp_path, capsys):
    path = write(tmp_path, "def f(x):\n    return log(x)\n")
    assert cli.main(["check", str(path), "x=-1", "--wrt", "x", "--sweep"]) == 1


def test_the_text_plot_fits_80_columns_and_marks_the_best_h(capsys):
    outcome = adlang.load(ROOT / "programs/lecture/cube.ad").sweep({"x": 2}, ["x"])
    plot = outcome.text_plot("x")
    assert all(len(line) <= PLOT_WIDTH for line in plot.splitlines())
    assert "C" in plot and "F" in plot and "best h: central 1e-05" in plot
    assert outcome.best("x", "central").h == 1e-5


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "sweep.png"
    code = cli.main(["check", str(ROOT / "programs/lecture/cube.ad"), "x=2", "--wrt", "x", "--sweep", "--plot",
                     str(out)])
    assert code == 0, capsys.readouterr()
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = adlang.load(ROOT / "programs/lecture/cube.ad").check({"x": 2}, ["x"], sweep=True)._repr_html_()
    assert "data:image/png;base64," in html and "ERR: DIV BY 0" in html


def test_without_matplotlib_plot_is_a_usage_error_saying_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = cli.main(["check", str(ROOT / "programs/lecture/cube.ad"), "x=2", "--wrt", "x", "--sweep", "--plot",
                     str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert code == 2 and "pip install adlang[plot]" in err
    html = adlang.load(ROOT / "programs/lecture/cube.ad").sweep({"x": 2}, ["x"])._repr_html_()
    assert "<pre>" in html  # the text plot instead of the image
