"""Error text with its caret, the JSON objects of the spec, and the human rendering of a run."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import pytest

from adlang.lang.errors import ParseError, RuntimeFault, TypeCheckError, UsageError
from adlang.lang.span import Span
from adlang.report import (
    RunReport,
    call_line,
    caret_line,
    dump_json,
    error_object,
    format_error,
    format_value,
    make_console,
    print_run,
    run_object,
    to_json_value,
)

SOURCE = "def f(x):\n    let y = x / 0.0\n    return y\n"


@dataclass
class Entry:
    name: str
    value: object
    line: int


# ---------------------------------------------------------------- error text


def test_error_line_source_line_and_caret():
    err = RuntimeFault("division by zero", Span(2, 13))
    lines = format_error(err, "prog.ad", SOURCE).split("\n")
    assert lines[0] == "prog.ad:2:13: runtime error: division by zero"
    assert lines[1] == "    let y = x / 0.0"
    assert lines[2] == " " * 12 + "^"
    assert lines[1][lines[2].index("^")] == "x"


def test_caret_underlines_a_span_on_one_line():
    err = TypeCheckError("bad", Span(2, 13, 2, 19))
    caret = format_error(err, "prog.ad", SOURCE).split("\n")[2]
    assert caret == " " * 12 + "^" * 7


def test_caret_for_a_span_over_several_lines_is_one_caret():
    assert caret_line("abc", Span(1, 2, 3, 1)) == " ^"


def test_caret_copies_tabs_so_it_lines_up():
    assert caret_line("\tx = 1", Span(1, 2)) == "\t^"


def test_caret_past_the_end_of_the_line():
    assert caret_line("if x", Span(1, 5)) == "    ^"


def test_windows_line_endings_are_not_shown():
    err = ParseError("bad", Span(1, 1))
    assert format_error(err, "p.ad", "abc\r\ndef\r\n").split("\n")[1] == "abc"


def test_error_without_a_place_still_names_file_and_kind():
    assert format_error(RuntimeFault("boom"), "p.ad", SOURCE) == "p.ad: runtime error: boom"
    assert format_error(RuntimeFault("boom", Span(0, 0)), "p.ad", SOURCE) == "p.ad: runtime error: boom"


def test_line_outside_the_source_gives_only_the_error_line():
    assert format_error(ParseError("eof", Span(9, 1)), "p.ad", SOURCE) == "p.ad:9:1: parse error: eof"


def test_usage_error_text():
    assert format_error(UsageError("missing argument 'x'"), None, None) == "adlang: usage error: missing argument 'x'"


# ---------------------------------------------------------------- JSON errors


def test_error_object():
    obj = error_object(TypeCheckError("'z' is not declared", Span(3, 16)))
    assert obj == {"error": {"kind": "type", "message": "'z' is not declared", "line": 3, "column": 16}}


def test_usage_error_object_has_null_place():
    obj = error_object(UsageError("missing argument 'rate'", Span(1, 1)))
    assert obj["error"]["kind"] == "usage"
    assert obj["error"]["line"] is None and obj["error"]["column"] is None


def test_error_object_is_one_json_line():
    text = dump_json(error_object(RuntimeFault("x", Span(1, 2))))
    assert "\n" not in text
    assert json.loads(text)["error"]["line"] == 1


# ---------------------------------------------------------------- JSON values


def test_non_finite_floats_become_strings_recursively():
    value = (float("nan"), np.array([1.0, np.inf, -np.inf]), [np.float64("nan")])
    assert to_json_value(value) == ["nan", [1.0, "inf", "-inf"], ["nan"]]


def test_numpy_scalars_and_arrays_become_python():
    assert to_json_value(np.float64(1.5)) == 1.5 and type(to_json_value(np.float64(1.5))) is float
    assert type(to_json_value(np.int64(3))) is int
    assert to_json_value(np.bool_(True)) is True
    assert to_json_value(np.eye(2)) == [[1.0, 0.0], [0.0, 1.0]]
    assert to_json_value(np.array(2.5)) == 2.5


def test_ints_and_bools_keep_their_type():
    assert to_json_value([1, True, 2.0]) == [1, True, 2.0]
    assert type(to_json_value(1)) is int and to_json_value(True) is True


def test_dump_json_never_writes_nan():
    text = dump_json({"v": float("nan"), "w": [float("-inf")]})
    assert text == '{"v": "nan", "w": ["-inf"]}'


def test_unknown_values_are_refused():
    with pytest.raises(TypeError):
        to_json_value(object())


def report(**extra) -> RunReport:
    base = {"function": "foo", "args": {"x": 2.0, "y": 3.0}, "value": 21.0, "steps": 3}
    return RunReport(**(base | extra))


def test_run_object_plain_has_only_the_plain_keys():
    obj = run_object(report())
    assert list(obj) == ["function", "args", "value", "stats"]
    assert obj["stats"] == {"steps": 3}


def test_run_object_with_everything():
    obj = run_object(
        report(
            grad={"x": 3.0, "y": np.float64(7.0)},
            hessian={"x": {"x": 0.0, "y": 1.0}, "y": {"x": 1.0, "y": 0.0}},
            trace=[Entry("a", 7.0, 2), Entry("b", np.float64(21.0), 3)],
        )
    )
    assert list(obj) == ["function", "args", "value", "grad", "hessian", "trace", "stats"]
    assert obj["grad"] == {"x": 3.0, "y": 7.0}
    assert obj["hessian"]["x"]["y"] == 1.0
    assert obj["trace"] == [{"name": "a", "value": 7.0, "line": 2}, {"name": "b", "value": 21.0, "line": 3}]
    json.loads(dump_json(obj))


def test_run_object_vec_and_tuple_values():
    obj = run_object(report(args={"v": np.array([1.0, 2.0])}, value=(1.5, np.array([3.0, np.nan]), 2, True)))
    assert obj["args"] == {"v": [1.0, 2.0]}
    assert obj["value"] == [1.5, [3.0, "nan"], 2, True]


# ---------------------------------------------------------------- human output


def test_format_value_keeps_full_precision():
    assert format_value(3.536921536500002) == "3.536921536500002"
    assert format_value(np.float64(0.1)) == "0.1"
    assert format_value(True) == "true"
    assert format_value(np.array([1.0, 2.5])) == "[1.0, 2.5]"
    assert format_value((1.0, 2, np.array([float("inf")]))) == "(1.0, 2, [inf])"


def test_call_line_shortens_long_vecs():
    assert call_line("foo", {"x": 2.0, "y": 3.0}) == "foo(x=2.0, y=3.0)"
    line = call_line("fit", {"xs": np.arange(100.0)})
    assert "(100 values)" in line and "99.0" in line


def render(r: RunReport) -> str:
    out = io.StringIO()
    print_run(make_console(out), r)
    return out.getvalue()


def test_print_run_plain_text_without_escape_codes():
    text = render(report(grad={"x": 3.536921536500002, "y": 7.0}, mode="reverse"))
    assert "\x1b[" not in text
    assert "foo(x=2.0, y=3.0)" in text
    assert "value = 21.0" in text
    assert "gradient (reverse mode)" in text
    assert "3.536921536500002" in text
    assert "3 steps" in text


def test_print_run_hessian_and_trace():
    text = render(
        report(
            grad={"x": 1.0},
            hessian={"x": {"x": 2.0}},
            trace=[Entry("a", 7.0, 2), Entry("i", 0, 3)],
            mode="forward-over-reverse",
        )
    )
    assert "hessian (forward-over-reverse)" in text
    assert "trace" in text
    lines = text.splitlines()
    assert any(line.split() == ["2", "a", "7.0"] for line in lines)
    assert any(line.split() == ["3", "i", "0"] for line in lines)


def test_long_numbers_are_never_cut():
    value = np.linspace(0.1, 1.7, 20) / 3.0  # as long as a vec is shown whole (report.LONG_VEC)
    text = render(report(value=value, grad={"x": value}, mode="reverse"))
    for x in value:
        assert repr(float(x)) in text


def test_a_long_source_line_is_cut_to_a_window_around_the_error():
    from adlang.lang.errors import TypeCheckError
    from adlang.lang.span import Span
    from adlang.report import SHOWN_CHARS, format_error

    for col in (14, 12_000, 25_014):
        text = "    let v = [" + ", ".join(["1.0"] * 5000) + ", y]"
        text = text[: col - 1] + "y" + text[col:]
        source = f"def f(x):\n{text}\n    return x\n"
        shown = format_error(TypeCheckError("'y' is not declared", Span(2, col, 2, col)), "f.ad", source)
        head, line, caret = shown.split("\n")
        assert len(line) <= SHOWN_CHARS + 8 and head.startswith(f"f.ad:2:{col}: type error")
        assert line[len(caret) - 1] == "y" and caret.strip() == "^"
        assert line.startswith("... ") == (col > 100) and line.endswith(" ...") == (col < len(text) - 110)


# ---------------------------------------------------------------- large values (issue 17)


def run_text(tmp_path, source: str, *words: str) -> str:
    import contextlib

    from adlang import cli

    path = tmp_path / "p.ad"
    path.write_text(source)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["run", str(path), *words]) == 0
    return out.getvalue()


def test_a_long_vec_is_summarised_in_text_and_complete_in_json_and_save(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(1000.0))
    source = "def f(v: vec) -> float:\n    return sum(v * v)\n"
    text = run_text(tmp_path, source, f"v=@{tmp_path / 'v.npy'}", "--grad", "v", "--save", str(tmp_path / "o.npz"))
    assert "(length 1,000; min 0.0, max 1998.0, norm " in text and " 996.0" not in text
    assert len(text.splitlines()) < 20
    saved = np.load(tmp_path / "o.npz")
    assert saved["grad_v"].tolist() == (2 * np.arange(1000.0)).tolist() and saved["value"] == 332833500.0
    out = io.StringIO()
    import contextlib

    from adlang import cli

    with contextlib.redirect_stdout(out):
        cli.main(["run", str(tmp_path / "p.ad"), f"v=@{tmp_path / 'v.npy'}", "--grad", "v", "--json"])
    assert json.loads(out.getvalue())["grad"]["v"] == (2 * np.arange(1000.0)).tolist()


def test_a_wide_hessian_is_a_block_per_parameter_pair(tmp_path):
    source = "def f(v: vec, x) -> float:\n    return x * dot(v, v)\n"
    text = run_text(tmp_path, source, "v=[" + ",".join(["1"] * 12) + "]", "x=2", "--grad", "v,x", "--order", "2")
    assert "d2f/dv dv   12 x 12" in text and "d2f/dv dx   12 x 1" in text and "d2f/dx dv   1 x 12" in text
    assert "4.0, 4.0, 4.0" in text  # the diagonal of d2f/dv2 = 2x
    small = run_text(tmp_path, source, "v=[1,2]", "x=2", "--grad", "v,x", "--order", "2")
    assert "v[1]" in small and "d2f/dv dv" not in small


def test_save_needs_an_npz_name_before_anything_runs(tmp_path):
    from adlang import cli

    path = tmp_path / "p.ad"
    path.write_text("def f(x):\n    return x\n")
    err = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(err):
        assert cli.main(["run", str(path), "x=1", "--save", str(tmp_path / "out.txt")]) == 2
    assert "give a name ending in .npz" in err.getvalue()


def test_a_long_check_table_shows_its_ends_and_every_disagreement(tmp_path):
    import contextlib

    from adlang import cli

    source = ("def f(v: vec) -> float:\n    let s = 0.0\n    for i in 0..len(v):\n"
              "        s = s + max(v[i], 0.0)\n    return s\n")
    (tmp_path / "p.ad").write_text(source)
    v = np.arange(200.0) + 1.0
    v[100] = 0.0  # a kink: AD follows the tie's convention, finite differences straddle it
    np.save(tmp_path / "v.npy", v)
    words = ["check", str(tmp_path / "p.ad"), f"v=@{tmp_path / 'v.npy'}", "--grad", "v"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(words) == 1
    text = out.getvalue()
    assert "v[0]" in text and "v[199]" in text and "v[100]" in text and "DIFFERENT" in text
    assert "v[50]" not in text and "... 95 ok" in text and "11 of 200 rows shown" in text
    assert len(text.splitlines()) < 40
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main([*words, "--json"]) == 1
    assert len(json.loads(out.getvalue())["rows"]) == 200


def test_a_long_check_in_a_notebook_is_summarised_as_in_the_terminal():
    import adlang

    program = adlang.compile("def f(v: vec) -> float:\n    let s = 0.0\n    for i in 0..len(v):\n"
                             "        s = s + max(v[i], 0.0)\n    return s\n")
    v = np.arange(200.0) + 1.0
    v[100] = 0.0
    outcome = program.check({"v": v}, ["v"])
    html = outcome._repr_html_()
    assert "v[0]<" in html and "v[199]<" in html and "v[100]<" in html and "DIFFERENT" in html
    assert "v[50]<" not in html and "... 95 ok" in html and "11 of 200 rows shown" in html
    assert html.count("<tr>") < 20 and len(outcome.rows) == 200
    short = program.check({"v": v[:4]}, ["v"])._repr_html_()
    assert "rows shown" not in short and short.count("<tr>") == 5
