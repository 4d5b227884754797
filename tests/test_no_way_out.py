"""No way out (issue 7): an .ad program reaches nothing but its own numbers, in every engine.

- Python's keywords and builtins, and names that mean something to the compiled engine's
  generated Python, are ordinary names in adlang: as variables, parameters, loop variables and
  function names they run correctly in the interpreter, the compiled engine, both derivative
  modes, second order, `diff` and running what it prints, `--trace` and the REPL.
- Programs that try to reach Python or the file system (`open`, `__import__`, `exec`, strings,
  attributes, `import` statements) end in a clean parse or type error in every command, and
  leave nothing behind.
- `@PATH` arguments open exactly the file they name (watched with an audit hook), and a missing
  or malformed file is a usage error that names it.
"""

from __future__ import annotations

import contextlib
import io
import json
import keyword
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from adlang import cli
from adlang.repl import Repl

# Python keywords (those adlang does not have itself), builtins, and names the engines use inside.
PYTHON_NAMES = sorted(
    {k for k in keyword.kwlist if k not in ("def", "for", "in", "while", "if", "elif", "else", "return", "and",
                                             "or", "not")}
    | {"__import__", "exec", "eval", "open", "compile", "globals", "locals", "getattr", "setattr", "print",
       "input", "breakpoint", "exit", "quit", "type", "object", "super", "self", "cls", "os", "sys", "np", "math",
       "__builtins__", "__name__", "__class__", "__dict__", "_make", "_max", "_tapes", "_steps", "_held", "_peak",
       "_count", "_tape_peak", "_k0", "v_x", "f_main", "range", "args", "kwargs", "print_", "match", "case",
       "soft", "_", "__", "id", "hash", "iter", "next", "vars", "dir", "help", "license", "copyright"}
)


def adlang(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def names_program() -> tuple[str, float, float]:
    """One function per name, each using the name as its parameter, a let and a loop variable.

    `NAME(NAME) = NAME * (1 + k)` for the k-th name (a loop of k trips adds NAME each time);
    main sums them all at x: the value is x * sum(1 + k), and so is the derivative / x.
    """
    lines = []
    total = 0.0
    for k, name in enumerate(PYTHON_NAMES):
        lines += [
            f"def {name}({name}) -> float:",
            f"    let {name}_ = {name}",
            f"    for {name}__ in 0..{k}:",
            f"        {name}_ = {name}_ + {name}",
            f"    return {name}_",
        ]
        total += 1 + k
    lines.append("def main(x) -> float:")
    lines.append("    let s = 0.0")
    for name in PYTHON_NAMES:
        lines += [f"    let {name} = {name}(x)", f"    s = s + {name}"]
    lines.append("    return s")
    return "\n".join(lines) + "\n", total, 2.0


@pytest.fixture(scope="module")
def names_file(tmp_path_factory) -> tuple[str, float, float]:
    source, total, x = names_program()
    path = tmp_path_factory.mktemp("names") / "names.ad"
    path.write_text(source, encoding="utf-8")
    return str(path), total, x


@pytest.mark.parametrize("engine", ["interp", "compiled"])
def test_python_names_run_in_both_engines(names_file, engine):
    path, total, x = names_file
    code, out, err = adlang("run", path, f"x={x}", "--engine", engine, "--json")
    assert code == 0, err + out
    assert json.loads(out)["value"] == pytest.approx(total * x)


@pytest.mark.parametrize("engine", ["interp", "compiled"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_python_names_differentiate(names_file, engine, mode):
    path, total, x = names_file
    code, out, err = adlang("run", path, f"x={x}", "--grad", "x", "--mode", mode, "--engine", engine, "--json")
    assert code == 0, err + out
    assert json.loads(out)["grad"]["x"] == pytest.approx(total)


@pytest.mark.parametrize("pair", ["reverse-over-reverse", "forward-over-reverse"])
def test_python_names_second_order(names_file, pair):
    path, total, x = names_file
    code, out, err = adlang("run", path, f"x={x}", "--grad", "x", "--mode", pair, "--order", "2", "--json")
    assert code == 0, err + out
    assert json.loads(out)["hessian"]["x"]["x"] == pytest.approx(0.0)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_python_names_in_printed_derivative_programs(names_file, tmp_path, mode):
    path, total, x = names_file
    code, printed, err = adlang("diff", path, "--wrt", "x", "--mode", mode)
    assert code == 0, err
    again = tmp_path / "printed.ad"
    again.write_text(printed, encoding="utf-8")
    entry = [line.split("(")[0][4:] for line in printed.splitlines() if line.startswith("def ")][-1]
    for engine in ("interp", "compiled"):
        code, out, err = adlang("run", str(again), f"x={x}", "--fn", entry, "--engine", engine, "--json")
        assert code == 0, err + out
        assert json.loads(out)["value"] == pytest.approx([total * x, total])


def test_python_names_in_the_trace(names_file):
    path, total, x = names_file
    code, out, err = adlang("run", path, f"x={x}", "--trace", "--json")
    assert code == 0, err
    traced = {entry["name"] for entry in json.loads(out)["trace"]}
    assert {"lambda", "__import__", "exec", "os", "self", "import_"} <= traced


def test_python_names_in_the_repl(capsys):
    repl = Repl(interactive=False)
    repl.execute("def lambda(import, exec: int) -> float:\n    let os = import * float(exec)\n"
                 "    for __import__ in 0..exec:\n        os = os + 1.0\n    return os\n")
    repl.execute("let self = lambda(2.0, 3)")
    repl.execute("self + 1.0")
    out, err = capsys.readouterr()
    assert "self = 9.0" in out and "10.0" in out, out + err


# ---------------------------------------------------------------- trying to get out

CANARY = "adlang_canary_file"
ESCAPES = {
    "open": ("def main(x):\n    let f = open(x)\n    return x\n", "type"),
    "dunder-import": ("def main(x):\n    let os = __import__(x)\n    return x\n", "type"),
    "exec": ("def main(x):\n    let y = exec(x)\n    return y\n", "type"),
    "eval": ("def main(x):\n    let y = eval(x)\n    return y\n", "type"),
    "string": ("def main(x):\n    let y = open(\"" + CANARY + "\", \"w\")\n    return x\n", "parse"),
    "import-statement": ("import os\ndef main(x):\n    return x\n", "parse"),
    "from-import": ("def main(x):\n    from os import system\n    return x\n", "parse"),
    "attribute": ("def main(x):\n    let y = x.__class__\n    return x\n", "parse"),
    "semicolon": ("def main(x):\n    let y = x; import os\n    return x\n", "parse"),
    "lambda": ("def main(x):\n    let y = lambda: x\n    return x\n", "parse"),
    "backslash": ("def main(x):\n    let y = x \\\n        + 1.0\n    return y\n", "parse"),
    "fullwidth-name": ("def main(x):\n    let ｏｓ = x\n    return x\n", "parse"),
    "builtins-call": ("def main(x):\n    let y = __builtins__(x)\n    return y\n", "type"),
    "getattr": ("def main(x):\n    let y = getattr(x, x)\n    return y\n", "type"),
    "decorator": ("@open\ndef main(x):\n    return x\n", "parse"),
    "format-string": ("def main(x):\n    let y = f\"{x}\"\n    return y\n", "parse"),
    "python-call-syntax": ("def main(x):\n    let y = sin(x=x)\n    return y\n", "parse"),
    "star-args": ("def main(x):\n    let y = sin(*x)\n    return y\n", "parse"),
    "huge-exponent-literal": ("def main(x):\n    let y = 1e99999 * x\n    return y\n", None),
}
COMMANDS = [
    ("run", "x=1"),
    ("run", "x=1", "--engine", "compiled"),
    ("run", "x=1", "--grad", "x", "--mode", "forward"),
    ("run", "x=1", "--grad", "x", "--engine", "compiled"),
    ("run", "x=1", "--grad", "x", "--mode", "reverse-over-reverse", "--order", "2"),
    ("run", "x=1", "--trace"),
    ("diff", "--wrt", "x"),
    ("ir",),
    ("check", "x=1", "--wrt", "x"),
]


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_trying_to_reach_python_or_files_fails_cleanly(name, tmp_path, monkeypatch):
    source, kind = ESCAPES[name]
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "escape.ad"
    path.write_text(source, encoding="utf-8")
    for command, *rest in COMMANDS:
        code, out, err = adlang(command, str(path), *rest, "--json")
        if kind is None:  # not an escape at all: a number (an inf literal), computed or a clean runtime error
            assert code in (0, 1), out + err
            continue
        assert code == 2, (command, out, err)
        error = json.loads(out)["error"]
        assert error["kind"] == kind and error["line"] >= 1, error
    assert sorted(os.listdir(tmp_path)) == ["escape.ad"]


def test_trying_to_get_out_from_the_repl(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    repl = Repl(interactive=False)
    for entry in ["__import__('os').system('touch " + CANARY + "')", "open(1.0)", "exec(1.0)",
                  ":load /etc/passwd", ":load " + CANARY, "let os = 2.0", "os * 3.0"]:
        repl.execute(entry)
    out, err = capsys.readouterr()
    assert "6.0" in out
    assert "Traceback" not in out + err and "internal error" not in out + err
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- @PATH reads only the file it names


# adlang's own caches (the grammar's tables, checked programs): read and written by adlang, named by no user
ADLANG_CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "adlang") + os.sep


class Opened:
    """The files the process opens while a command runs (an audit hook; Python's own modules and adlang's cache
    left out)."""

    paths: list[str] | None = None

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if cls.paths is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.fsdecode(args[0])
            own = path.endswith((".py", ".pyc", ".so")) or path.startswith((sys.prefix, sys.base_prefix)) \
                or "site-packages" in path or ".egg-info" in path or ".dist-info" in path \
                or path.startswith(ADLANG_CACHE)  # the metadata `--version` reads; adlang's cache
            if not own:
                cls.paths.append(os.path.realpath(path))


sys.addaudithook(Opened.hook)


def opened_by(*argv: str) -> tuple[int, str, list[str]]:
    Opened.paths = []
    try:
        code, out, err = adlang(*argv)
    finally:
        paths, Opened.paths = Opened.paths, None
    return code, out + err, paths


VEC_PROGRAM = "def main(v: vec) -> float:\n    return sum(v)\n"


def test_at_path_opens_only_the_file_it_names(tmp_path):
    prog = tmp_path / "p.ad"
    prog.write_text(VEC_PROGRAM)
    (tmp_path / "data.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "other.csv").write_text("x\n100\n")
    np.save(tmp_path / "data.npy", np.array([1.0, 2.0, 3.0]))
    for arg, value in ((f"v=@{tmp_path / 'data.csv'}:y", 6.0), (f"v=@{tmp_path / 'data.npy'}", 6.0)):
        code, out, paths = opened_by("run", str(prog), arg, "--json")
        assert code == 0 and json.loads(out)["value"] == value, out
        named = os.path.realpath(arg[3:].rsplit(":", 1)[0] if arg.endswith(":y") else arg[3:])
        assert sorted(set(paths)) == sorted({os.path.realpath(prog), named}), paths


@pytest.mark.parametrize(
    ("setup", "arg", "says"),
    [
        (None, "v=@missing.csv", "cannot read 'missing.csv': no such file"),
        (None, "v=@missing.npy", "cannot read 'missing.npy': no such file"),
        ("text", "v=@bad.csv", "'bad.csv' line 2: 'hello' is not a number"),
        ("pickle", "v=@obj.npy", "'obj.npy' is not a .npy array file"),
        ("garbage", "v=@junk.npy", "'junk.npy' is not a .npy array file"),
        ("matrix", "v=@m.npy", "'m.npy' holds an array of shape (2, 2); a vec is 1-D"),
        ("dir", "v=@d.csv", "cannot read 'd.csv': it is a directory"),
        (None, "v=@/etc/passwd", "cannot read '/etc/passwd': only .npy and .csv files hold vecs"),
        (None, "v=@p.ad", "cannot read 'p.ad': only .npy and .csv files hold vecs"),
        ("text", "v=@bad.csv:nope", "'bad.csv' has no column 'nope'"),
    ],
)
def test_a_missing_or_malformed_file_is_a_usage_error_naming_it(tmp_path, monkeypatch, setup, arg, says):
    monkeypatch.chdir(tmp_path)
    Path("p.ad").write_text(VEC_PROGRAM)
    if setup == "text":
        Path("bad.csv").write_text("x\nhello\n")
    elif setup == "pickle":
        np.save("obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif setup == "garbage":
        Path("junk.npy").write_bytes(b"\x93NUMPY garbage")
    elif setup == "matrix":
        np.save("m.npy", np.ones((2, 2)))
    elif setup == "dir":
        os.mkdir("d.csv")
    code, out, paths = opened_by("run", "p.ad", arg)
    assert code == 2
    assert out.startswith("adlang: usage error: argument 'v': ") and says in out, out
    named = os.path.realpath(arg[3:].split(":")[0])
    assert set(paths) <= {os.path.realpath("p.ad"), named}, paths
