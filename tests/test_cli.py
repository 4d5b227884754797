"""The command line end to end, as a user (and the acceptance runner) calls it: `python -m adlang ...`."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from adlang import cli

ERR_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<kind>parse|type|runtime) error: (?P<msg>.*)$", re.M
)

FOO = """\
# a = x + 5, b = a * y
def foo(x, y):
    let a = x + 5
    let b = a * y
    return b
"""

DIV = """\
def f(x, n: int) -> float:
    let r = 0.0
    for i in 0..n:
        let d = 2.0 - i
        r = r + 1.0 / d
    return r
"""

MANY = """\
def helper(v: vec, k: int, flag: bool) -> vec:
    return v * 2.0

def pair(x) -> (float, vec):
    return x, [x, 2.0 * x]

def last(x) -> float:
    return x + 1.0
"""

WITH_MAIN = """\
def main(x) -> float:
    return x * 2.0

def other(x) -> float:
    return x
"""


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        obj = json.loads(self.out)
        assert isinstance(obj, dict)
        return obj


def adlang(*args: str, cwd=None) -> Outcome:
    """Runs `python -m adlang`; no output may ever hold a Python traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "adlang", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def prog(tmp_path):
    def write(text: str, name: str = "prog.ad") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def needs_derivatives():
    pytest.importorskip("adlang.derivatives", reason="adlang.derivatives is not written yet")


def assert_usage(outcome: Outcome, *fragments: str) -> None:
    assert outcome.code == 2
    assert outcome.err.startswith("adlang: usage error: ")
    for fragment in fragments:
        assert fragment in outcome.err


def assert_usage_json(outcome: Outcome, *fragments: str) -> None:
    assert outcome.code == 2
    err = outcome.json()["error"]
    assert err["kind"] == "usage" and err["line"] is None and err["column"] is None
    for fragment in fragments:
        assert fragment in err["message"]


# ---------------------------------------------------------------- run


def test_run_json_has_exactly_the_spec_keys(prog):
    r = adlang("run", prog(FOO), "x=2", "y=3.0", "--json")
    assert r.code == 0 and r.err == ""
    obj = r.json()
    assert obj == {"function": "foo", "args": {"x": 2.0, "y": 3.0}, "value": 21.0, "stats": obj["stats"]}
    assert isinstance(obj["stats"]["steps"], int) and obj["stats"]["steps"] > 0


def test_run_trace(prog):
    obj = adlang("run", prog(FOO), "x=2", "y=3", "--json", "--trace").json()
    assert obj["trace"] == [{"name": "a", "value": 7.0, "line": 3}, {"name": "b", "value": 21.0, "line": 4}]
    assert "grad" not in obj and "hessian" not in obj


def test_run_for_a_person(prog):
    r = adlang("run", prog(FOO), "x=2", "y=3", "--trace")
    assert r.code == 0
    assert "foo(x=2.0, y=3.0)" in r.out
    assert "value = 21.0" in r.out
    assert "\x1b[" not in r.out


def test_options_and_arguments_mix_and_negative_values(prog):
    obj = adlang("run", "--json", prog(FOO), "x=-1.5", "--fn", "foo", "y=2").json()
    assert obj["args"] == {"x": -1.5, "y": 2.0}
    assert obj["value"] == 7.0


def test_vec_int_bool_arguments_and_tuple_value(prog):
    path = prog(MANY)
    obj = adlang("run", path, "--fn", "helper", "v=[1, 2.5]", "k=3", "flag=true", "--json").json()
    assert obj["args"] == {"v": [1.0, 2.5], "k": 3, "flag": True}
    assert isinstance(obj["args"]["k"], int)
    assert obj["value"] == [2.0, 5.0]
    assert adlang("run", path, "--fn", "pair", "x=1.5", "--json").json()["value"] == [1.5, [1.5, 3.0]]


def test_default_function_is_main_else_the_last(prog):
    assert adlang("run", prog(WITH_MAIN, "m.ad"), "x=2", "--json").json()["function"] == "main"
    assert adlang("run", prog(MANY, "n.ad"), "x=2", "--json").json()["function"] == "last"


def test_vec_from_csv_column(prog, tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n3,4\n")
    path = prog(MANY)
    r = adlang("run", path, "--fn", "helper", "v=@data.csv:b", "k=1", "flag=false", "--json", cwd=tmp_path)
    assert r.json()["value"] == [4.0, 8.0]


# ---------------------------------------------------------------- errors with a place


def test_runtime_error_text_and_exit_1(prog):
    path = prog(DIV)
    r = adlang("run", path, "x=2.0", "n=5")
    assert r.code == 1 and r.out == ""
    m = ERR_LINE.search(r.err)
    assert m and m["kind"] == "runtime" and m["line"] == "5" and m["file"] == path
    after = r.err[m.end() :].lstrip("\n").split("\n")
    assert after[0] == "        r = r + 1.0 / d"
    assert after[1].index("^") == int(m["col"]) - 1


def test_runtime_error_json(prog):
    r = adlang("run", prog(DIV), "x=2.0", "n=5", "--json")
    assert r.code == 1
    err = r.json()["error"]
    assert err["kind"] == "runtime" and err["line"] == 5 and isinstance(err["column"], int)


def test_parse_error(prog):
    path = prog("def f(x):\n    if x > 0.0\n        return x\n    return x\n")
    r = adlang("run", path, "x=1")
    m = ERR_LINE.search(r.err)
    assert r.code == 2 and m and m["kind"] == "parse" and m["line"] == "2"
    assert re.search(r"^\s*\^", r.err[m.end() :], re.M)
    assert adlang("run", path, "x=1", "--json").json()["error"]["kind"] == "parse"


def test_type_error(prog):
    r = adlang("run", prog("def f(x):\n    return x + z\n"), "x=1", "--json")
    assert r.code == 2
    assert r.json()["error"]["kind"] == "type" and r.json()["error"]["line"] == 2


def test_step_limit(prog):
    path = prog("def f(x) -> float:\n    let s = 0.0\n    while s < 10.0:\n        s = s + 0.0\n    return s\n")
    r = adlang("run", path, "x=1", "--max-steps", "1000", "--json")
    assert r.code == 1 and r.json()["error"]["kind"] == "runtime"


# ---------------------------------------------------------------- usage errors


def test_missing_argument_names_it(prog):
    path = prog("def model(x, rate) -> float:\n    return x * rate\n")
    r = adlang("run", path, "x=1.0")
    assert_usage(r, "rate")
    assert r.out == ""
    assert_usage_json(adlang("run", path, "x=1.0", "--json"), "rate")


def test_bad_arguments(prog):
    path = prog(FOO)
    assert_usage(adlang("run", path, "x=1", "y=2", "z=3"), "'z'")
    assert_usage(adlang("run", path, "x=1", "y=[1, 2]"), "'y'")
    assert_usage(adlang("run", path, "x=1", "y=oops"), "'y'", "oops")
    assert_usage(adlang("run", path, "x=1", "y"), "NAME=VALUE")
    assert_usage(adlang("run", path, "x=1", "y=@nope.csv"), "nope.csv")


def test_mode_or_order_without_grad(prog):
    path = prog(FOO)
    assert_usage(adlang("run", path, "x=1", "y=2", "--mode", "forward"), "--mode", "--grad")
    assert_usage(adlang("run", path, "x=1", "y=2", "--order", "2"), "--order", "--grad")
    assert_usage_json(adlang("run", path, "x=1", "y=2", "--mode", "reverse", "--json"), "--grad")


def test_bad_mode_and_order(prog):
    path = prog(FOO)
    assert_usage(adlang("run", path, "x=1", "y=2", "--grad", "x", "--order", "3"), "--order")
    assert_usage(adlang("run", path, "x=1", "y=2", "--grad", "x", "--mode", "forward-over-reverse"), "--order 2")
    assert_usage(adlang("run", path, "x=1", "y=2", "--grad", "x", "--mode", "fwd"), "did you mean 'forward'")


def test_grad_must_name_float_or_vec_parameters(prog):
    path = prog(DIV)
    assert_usage(adlang("run", path, "x=1", "n=2", "--grad", "n"), "'n'")
    assert_usage(adlang("run", path, "x=1", "n=2", "--grad", "q"), "'q'")
    assert_usage(adlang("run", path, "x=1", "n=2", "--grad", "x,x"), "twice")


def test_grad_needs_a_float_result(prog):
    path = prog(MANY)
    r = adlang("run", path, "--fn", "helper", "v=[1]", "k=1", "flag=true", "--grad", "v")
    assert_usage(r, "float", "helper")


def test_unknown_function_suggests_the_closest(prog):
    r = adlang("run", prog(FOO), "x=1", "y=2", "--fn", "fo")
    assert_usage(r, "unknown function 'fo'; did you mean 'foo'?")


def test_missing_file_and_unknown_option(prog, tmp_path):
    assert_usage(adlang("run", str(tmp_path / "nope.ad")), "nope.ad")
    assert_usage(adlang("run", prog(FOO), "--bogus"), "--bogus")
    assert_usage_json(adlang("run", prog(FOO), "--bogus", "--json"), "--bogus")
    assert_usage(adlang("run", prog(FOO), "x=1", "y=2", "--max-steps", "many"), "--max-steps")


def test_commands_themselves():
    assert_usage(adlang(), "command")
    assert_usage(adlang("rn"), "did you mean 'run'")
    r = adlang("--help")
    assert r.code == 0 and "run" in r.out and r.err == ""
    r = adlang("run", "--help")
    assert r.code == 0 and "--grad" in r.out
    assert adlang("--version").code == 0


# ---------------------------------------------------------------- ir, diff, check, repl


def test_ir(prog):
    path = prog(FOO)
    r = adlang("ir", path)
    assert r.code == 0 and "def foo" in r.out and "float" in r.out
    r = adlang("ir", prog(MANY, "many.ad"), "--fn", "pair")
    assert r.code == 0 and "def pair" in r.out and "def helper" not in r.out
    assert_usage(adlang("ir", path, "--fn", "bar"), "'bar'")


def test_diff_and_check_validate_before_computing(prog):
    path = prog(DIV)
    assert_usage(adlang("diff", path), "--wrt")
    assert_usage(adlang("diff", path, "--wrt", "n"), "'n'")
    assert_usage(adlang("check", path, "x=1", "--wrt", "x"), "'n'")
    assert_usage(adlang("check", path, "x=1", "n=1"), "--wrt")


def test_grad_json(prog):
    needs_derivatives()
    obj = adlang("run", prog(FOO), "x=2", "y=3", "--grad", "x,y", "--json").json()
    assert obj["grad"] == pytest.approx({"x": 3.0, "y": 7.0})
    assert "hessian" not in obj and "trace" not in obj


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_grad_modes(prog, mode):
    needs_derivatives()
    obj = adlang("run", prog(FOO), "x=2", "y=3", "--grad", "y", "--mode", mode, "--json").json()
    assert obj["value"] == pytest.approx(21.0) and obj["grad"] == pytest.approx({"y": 7.0})


def test_hessian_json(prog):
    needs_derivatives()
    obj = adlang("run", prog(FOO), "x=2", "y=3", "--grad", "x,y", "--order", "2", "--json").json()
    assert obj["hessian"]["x"] == pytest.approx({"x": 0.0, "y": 1.0})
    assert obj["hessian"]["y"] == pytest.approx({"x": 1.0, "y": 0.0})


VEC_QUADRATIC = "def f(v: vec, x) -> float:\n    return x * dot(v, v)\n"


def test_vec_hessian_json_is_a_list_of_lists(prog):
    """The spec: hessian[p][q] is "a list or a list of lists where vecs are involved"."""
    needs_derivatives()
    obj = adlang("run", prog(VEC_QUADRATIC), "v=[1,2]", "x=3", "--grad", "v,x", "--order", "2", "--json").json()
    assert obj["grad"] == {"v": [6.0, 12.0], "x": 5.0}
    assert obj["hessian"] == {"v": {"v": [[6.0, 0.0], [0.0, 6.0]], "x": [2.0, 4.0]},
                              "x": {"v": [2.0, 4.0], "x": 0.0}}


def test_vec_hessian_for_a_person_has_a_row_per_element(prog):
    needs_derivatives()
    r = adlang("run", prog(VEC_QUADRATIC), "v=[1,2]", "x=3", "--grad", "v,x", "--order", "2")
    assert r.code == 0, r.err
    rows = r.out[r.out.index("hessian"):].splitlines()
    assert re.search(r"^\s+v\[0\]\s+v\[1\]\s+x\s*$", rows[1]), rows
    cells = {line.split()[0]: line.split()[1:] for line in rows[3:6]}
    assert cells == {"v[0]": ["6.0", "0.0", "2.0"], "v[1]": ["0.0", "6.0", "4.0"], "x": ["2.0", "4.0", "0.0"]}


def test_grad_for_a_person(prog):
    needs_derivatives()
    r = adlang("run", prog(FOO), "x=2", "y=3", "--grad", "x,y", "--order", "2")
    assert r.code == 0 and "gradient" in r.out and "hessian" in r.out


def test_diff_is_deterministic(prog):
    needs_derivatives()
    path = prog(FOO)
    first = adlang("diff", path, "--wrt", "x,y")
    assert first.code == 0 and "def " in first.out
    assert adlang("diff", path, "--wrt", "x,y").out == first.out


def test_check_passes_on_a_smooth_function(prog):
    needs_derivatives()
    assert adlang("check", prog(FOO), "x=2", "y=3", "--wrt", "x,y").code == 0


def test_missing_later_steps_are_usage_errors(prog):
    if importlib.util.find_spec("adlang.derivatives") is None:
        assert_usage(adlang("run", prog(FOO), "x=2", "y=3", "--grad", "x"), "not implemented")
    if importlib.util.find_spec("adlang.repl") is None:
        assert_usage(adlang("repl"), "not implemented")


# ---------------------------------------------------------------- failures that are not the user's


def test_internal_error_is_one_line_and_exit_3(monkeypatch, capsys):
    def broken(argv, ctx):
        raise ValueError("oops")

    monkeypatch.setattr(cli, "_dispatch", broken)
    monkeypatch.delenv("ADLANG_DEBUG", raising=False)
    assert cli.main(["run", "x.ad"]) == 3
    captured = capsys.readouterr()
    assert "internal error" in captured.err and "oops" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_internal_error_json(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_dispatch", lambda argv, ctx: 1 / 0)
    assert cli.main(["run", "x.ad", "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "internal"


def test_adlang_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_dispatch", lambda argv, ctx: 1 / 0)
    monkeypatch.setenv("ADLANG_DEBUG", "1")
    assert cli.main(["run", "x.ad"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_interrupt_exits_130_quietly(monkeypatch, capsys):
    def interrupted(argv, ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dispatch", interrupted)
    assert cli.main(["run", "x.ad"]) == 130
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_byte_order_mark_is_dropped(tmp_path):
    """Some editors start UTF-8 files with a BOM: it is not part of the program, and columns are unchanged."""
    from adlang.options import read_source

    path = tmp_path / "bom.ad"
    path.write_bytes(b"\xef\xbb\xbfdef f(x):\r\n    return x +\r\n")
    assert read_source(str(path)).startswith("def f(x):")


@pytest.mark.parametrize("command, extra", [("run", ["x=2", "y=3", "--json"]), ("diff", []),
                                            ("check", ["x=2", "y=3", "--json"]),
                                            ("optimize", ["x=2", "y=3", "--steps", "2", "--json"])])
def test_grad_and_wrt_are_the_same_flag_on_every_command(tmp_path, command, extra):
    """A new user's first guess must work: `--grad` and `--wrt` name the parameters on every command."""
    path = tmp_path / "f.ad"
    path.write_text("def f(x, y):\n    return x * x + y\n")
    outs = [cli.main([command, str(path), flag, "x", *extra]) for flag in ("--grad", "--wrt")]
    assert outs == [0, 0]
    both = [adlang(command, str(path), flag, "x", *extra) for flag in ("--grad", "--wrt")]
    assert both[0].code == both[1].code == 0 and both[0].out == both[1].out and both[0].out


LONG = "def f(n: int) -> vec:\n    return ones(n) * 0.5\n"


def test_the_command_writes_everything_before_it_ends_at_once(prog, tmp_path):
    """`command` leaves by os._exit: what it printed to a pipe larger than the pipe's buffer, and the files it
    saved, must all be there, and its exit codes those of `main`."""
    path = prog(LONG)
    out = adlang("run", path, "n=100000", "--json", "--save", str(tmp_path / "v.npz"))
    assert out.code == 0, out.err
    assert out.json()["value"] == [0.5] * 100000
    import numpy as np

    with np.load(tmp_path / "v.npz") as saved:
        assert [saved[name].shape for name in saved.files] == [(100000,)]
    assert adlang("run", path, "n=1.5").code == 2
    assert adlang("run", str(tmp_path / "missing.ad")).code == 2


def test_a_reader_that_goes_away_ends_the_command_quietly(prog):
    path = prog(LONG)
    process = subprocess.Popen([sys.executable, "-m", "adlang", "run", path, "n=100000", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stdout.read(10) == b'{"function'
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == cli.EXIT_BROKEN_PIPE
    assert err == ""
