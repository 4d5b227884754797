"""Plain text without rich (adlang/plain.py) is byte for byte what rich writes off a terminal, or None."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
from helpers import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from adlang.plain import PIPE_WIDTH, RULE, Grid, Line, Raw, plain_text, writes_plain
from adlang.report import RunReport, make_console, render, run_pieces, show_run

TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
ODD = st.lists(st.sampled_from(["a", " ", "\t", "\u00e9", "\u4e2d", "\x1b", RULE, "\n", "[b]"]),
               max_size=6).map("".join)  # what rich measures, replaces or reads as markup
CELL = st.one_of(TEXT, st.builds(str.__add__, TEXT, ODD))
STYLE = st.sampled_from([None, "bold", "dim", "bold cyan"])


@st.composite
def grids(draw):
    n = draw(st.integers(0, 6))
    grid = Grid(tuple(draw(st.lists(CELL, min_size=n, max_size=n))))
    for _ in range(draw(st.integers(0, 5))):
        grid.add_row(*draw(st.lists(CELL, min_size=n, max_size=n)))
    return grid


LINES = st.builds(Line, st.lists(st.tuples(st.one_of(CELL, st.text("ab \n", max_size=250)), STYLE), min_size=1,
                                 max_size=3).map(tuple), st.booleans())
PIECES = st.lists(st.one_of(LINES, grids(), st.builds(Raw, TEXT)), max_size=5)


def with_rich(pieces) -> str:
    out = io.StringIO()
    render(make_console(out), pieces)
    return out.getvalue()


@settings(max_examples=400, deadline=None)
@given(PIECES)
def test_plain_text_is_what_rich_writes_or_none(pieces):
    text = plain_text(pieces)
    if text is not None:
        assert text == with_rich(pieces)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text("0123456789.e-xyz[]_", min_size=1, max_size=40), min_size=2, max_size=2),
                min_size=1, max_size=6))
def test_tables_of_names_and_numbers_are_written_plain(rows):
    """The tables a run prints (ASCII cells, narrower than the console) never need rich."""
    grid = Grid(("parameter", "derivative"), [tuple(row) for row in rows])
    text = plain_text([grid])
    assert text is not None and text == with_rich([grid])


def test_what_plain_text_leaves_to_rich():
    assert plain_text([Grid(("a",), [("x" * PIPE_WIDTH,)])]) is None  # rich folds a cell this wide
    assert plain_text([Line.of("y" * (PIPE_WIDTH + 1), wrap=True)]) is None  # and wraps this line
    assert plain_text([Line.of("y" * (PIPE_WIDTH + 1))]) == "y" * (PIPE_WIDTH + 1) + "\n"  # a soft-wrapped one
    assert plain_text([Grid(("a",), [("two\nlines",)])]) is None
    assert plain_text([Line.of("tab\there")]) is None


def report(**kw) -> RunReport:
    base = dict(function="foo", args={"x": 2.0, "y": 3.0}, value=21.0, steps=7)
    return RunReport(**{**base, **kw})


def test_runs_of_every_shape_are_written_as_rich_writes_them():
    reports = [
        report(),
        report(grad={"x": 3.0, "y": 7.0}, mode="reverse", tape_peak=3),
        report(grad={"x": 1.0, "v": np.arange(30.0)}, hessian={"x": {"x": 2.0, "v": np.zeros(30)},
               "v": {"x": np.zeros(30), "v": np.eye(30)}}, mode="forward-over-reverse"),
        report(value=(1.5, np.array([1.0, 2.0])), jacobian={"x": [np.ones((1, 1)), np.ones((2, 1))]}),
        report(value=np.eye(3), grad={"m": np.ones((3, 3))}, mode="reverse"),
    ]
    for r in reports:
        out = io.StringIO()
        show_run(r, out)
        assert out.getvalue() == with_rich(run_pieces(r))


def test_writes_plain_only_where_rich_would_write_no_styles(monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert writes_plain(io.StringIO())
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not writes_plain(io.StringIO())
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert not writes_plain(io.StringIO())
    monkeypatch.delenv("TTY_COMPATIBLE")
    assert not writes_plain(io.TextIOWrapper(io.BytesIO(), encoding="ascii"))


def test_adlang_run_does_not_import_rich_into_a_pipe():
    code = ("import sys; from adlang.cli import main; main(['run', 'programs/lecture/foo.ad', 'x=2', 'y=3', "
            "'--grad', 'x,y']); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rich', 'prompt_toolkit', 'pygments', 'numba', 'importlib_metadata') or m == 'importlib.metadata'))")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=60)
    assert done.stdout.splitlines()[-1] == "[]"
    assert "x           3.0" in done.stdout
