"""Fuzzing (issue 7): whatever goes in, adlang answers with a correct result or a clean error.

Four kinds of input, all through the command line (`adlang.cli.main`, in-process):

- random text and random bytes, and soups of the language's own tokens, into the parser;
- well-formed random programs (tests/strategies.py) with one type error put in, into the checker:
  a type error at the line put in, exit 2;
- well-typed random programs using every construct and builtin (`generated(extra=True)`) through
  `run` in both engines, `--grad` in both modes and with a random `--checkpoint`, `--order 2` in
  the four mode pairs, `diff` and
  running what it prints, `check`, and a random `--max-steps`: the engines give the same numbers,
  the modes agree, and finite differences agree away from kinks;

The only acceptable outcomes are those, or a clean error: exit 1 or 2 with the spec's error object,
never exit 3 (a bug in adlang), a traceback, a hang or a crash.

The budget: CI runs a fixed number of examples per test (`BUDGET` below), derandomized, so CI sees
the same examples every run and stays within a minute or so. For a long local run set
ADLANG_FUZZ_EXAMPLES to the examples per test (every test then gets that many, randomized, and
hypothesis keeps what fails in .hypothesis/):

    ADLANG_FUZZ_EXAMPLES=2000 python -m pytest -q tests/test_fuzz.py

Inputs the fuzzer found are kept as regression tests at the end of this file.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from strategies import generated, points
from test_derivative_properties import (
    assume_hessian_continuous,
    close,
    gradient_differences,
    hessian_matrix,
    smooth_differences,
)

from adlang import cli
from adlang.lang.errors import ParseError, TypeCheckError
from adlang.pipeline import compile_source

_LONG = os.environ.get("ADLANG_FUZZ_EXAMPLES")


def budget(ci: int):
    """Hypothesis settings: `ci` examples, derandomized; or ADLANG_FUZZ_EXAMPLES of them, random."""
    checks = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
              HealthCheck.function_scoped_fixture]
    if _LONG:
        return settings(max_examples=int(_LONG), deadline=None, suppress_health_check=checks)
    return settings(max_examples=ci, deadline=None, derandomize=True, database=None, suppress_health_check=checks)


ERROR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<kind>parse|type|runtime) error: .+$")


# ---------------------------------------------------------------- the command line, in-process


class Outcome:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    @property
    def json(self) -> dict:
        return json.loads(self.out)


def adlang(*argv: str) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    outcome = Outcome(code, out.getvalue(), err.getvalue())
    with contextlib.suppress(InvalidArgument):  # outside a hypothesis test (the regression tests) no notes
        note(f"adlang {' '.join(argv)} -> exit {code}\n{outcome.out[:2000]}{outcome.err[:2000]}")
    assert_clean(outcome, json_mode="--json" in argv)
    return outcome


def assert_clean(o: Outcome, json_mode: bool) -> None:
    """A result, or an error the spec's way: exit 1 (runtime) or 2 (usage, parse, type)."""
    assert "Traceback" not in o.out + o.err
    assert o.code in (0, 1, 2), f"exit {o.code}: {o.out}{o.err}"
    if o.code == 0 or not json_mode and o.out and not o.err:  # check's exit 1 prints its table
        return
    if json_mode:
        obj = o.json
        if "error" not in obj:  # `check --json` that found a difference
            assert o.code == 1 and obj.get("ok") is False, obj
            return
        error = obj["error"]
        assert error["kind"] in ("usage", "parse", "type", "runtime"), error
        assert o.code == (1 if error["kind"] == "runtime" else 2), (o.code, error)
        assert (error["line"] is None) == (error["kind"] == "usage"), error
    else:
        first = o.err.split("\n")[0]
        assert first.startswith("adlang: usage error: ") or ERROR_LINE.match(first), o.err


def words(args: dict) -> list[str]:
    """NAME=VALUE words that give exactly these values."""
    out = []
    for name, value in args.items():
        if isinstance(value, np.ndarray):
            text = "[" + ", ".join(repr(float(x)) for x in value) + "]"
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = repr(value)
        out.append(f"{name}={text}")
    return out


def write(tmp: Path, text: str, name: str = "prog.ad") -> str:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# ---------------------------------------------------------------- 1. anything into the parser


def assert_parses_or_clean_error(text: str) -> None:
    try:
        compile_source(text, "<fuzz>")
    except (ParseError, TypeCheckError) as err:
        assert err.message and "Token(" not in err.message and "Tree(" not in err.message
        assert err.span is not None and err.span.line >= 1 and err.span.col >= 1, err.message
        assert err.span.line <= text.count("\n") + 2, (err.span, err.message)


@budget(300)
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("utf-8", "replace"))))
def test_random_text_is_a_program_or_a_located_error(text):
    assert_parses_or_clean_error(text)


TOKENS = [
    "def", "let", "for", "in", "while", "if", "elif", "else", "return", "and", "or", "not", "true", "false",
    "grad", "wrt", "x", "y", "v", "n", "f", "main", "sin", "sum", "zeros", "push", "pop", "float", "int", "vec",
    "0", "1", "2.5", ".5", "1e-3", "(", ")", "[", "]", ",", ":", "..", "->", "=", "+=", "-=", "*=", "/=",
    "+", "-", "*", "/", "^", "<", "<=", ">", ">=", "==", "!=", "#", "\n", "\n    ", "\n        ", "\n  ", "\t",
]


@st.composite
def token_soups(draw) -> str:
    """Mostly the start of a real function, then tokens at random: the parser sees deep states."""
    start = draw(st.sampled_from(["", "def f(x):\n    ", "def f(x, v: vec, n: int) -> float:\n    let y = "]))
    tokens = draw(st.lists(st.sampled_from(TOKENS), max_size=40))
    return start + " ".join(tokens)


@budget(300)
@given(token_soups())
def test_token_soups_are_programs_or_located_errors(text):
    assert_parses_or_clean_error(text)


@budget(60)
@given(token_soups())
def test_token_soups_through_the_cli(tmp, text):
    path = write(tmp, text)
    for json_mode in (False, True):
        outcome = adlang("run", path, "x=1", *(["--json"] if json_mode else []))
        assert outcome.code in (1, 2) or outcome.code == 0


@budget(60)
@given(st.binary(max_size=300))
def test_random_bytes_as_a_program_file(tmp, data):
    """Bytes that are not UTF-8 are a usage error naming the file; the rest parse or fail in place."""
    path = tmp / "bytes.ad"
    path.write_bytes(data)
    outcome = adlang("run", str(path), "x=1", "--json")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        error = outcome.json["error"]
        assert error["kind"] == "usage" and "is not UTF-8 text" in error["message"], error


@budget(60)
@given(st.lists(token_soups(), min_size=1, max_size=4))
def test_token_soups_into_the_repl(entries):
    """Whatever is typed, the REPL answers and goes on: no internal error, no traceback."""
    from adlang.repl import Repl

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        repl = Repl(interactive=False)
        for entry in entries + ["def ok(x):\n    return x * 2.0\n", "ok(1.5)"]:
            repl.execute(entry)
    shown = out.getvalue() + err.getvalue()
    assert "internal error" not in shown and "Traceback" not in shown, shown
    assert out.getvalue().rstrip().split("\n")[-1] == "3.0", shown  # the session still works


# ---------------------------------------------------------------- 2. one type error in a well-formed program

# Each is one line put into main's body; each is a type error at that line, whatever the program.
TYPE_ERRORS = [
    "let q_bad: int = 1.5",
    "let q_bad = [1.0, true]",
    "let q_bad = sin(true)",
    "let q_bad = undeclared_name + 1.0",
    "let q_bad = x0[0]",
    "x0 = true",
    "let q_bad = missing_function(1.0)",
    "let q_bad = dot(x0, x0)",
    "let q_bad = len(x0)",
    "let x0 = 1.0",
    "let q_bad = x0 < true",
    "let q_bad = not x0",
    "let q_bad = x0 + [1.0, 2.0] + true",
    "let q_bad = main()",
    "let q_bad = sum(x0) * 2.0",
    "let q_bad = zeros(1.5)",
    "let q_bad = 2 ^ true",
    "let q_bad = pop()",
    "sin(x0)",
    "let q_bad, q_other = sin(x0)",
]


@st.composite
def broken_programs(draw):
    gen = draw(generated(smooth=draw(st.booleans())))
    lines = gen.source.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("def main("))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("def ")), len(lines))
    # before a statement of main's own block, not before an elif/else (that would break the if)
    spots = [i for i in range(start + 1, end) if lines[i].startswith("    ") and not lines[i].startswith("     ")
             and not lines[i].lstrip().startswith(("elif", "else"))]
    at = draw(st.sampled_from(spots))
    bad = draw(st.sampled_from(TYPE_ERRORS))
    lines.insert(at, "    " + bad)
    note("\n".join(lines))
    return "\n".join(lines), at + 1, gen.arg_names


@budget(100)
@given(broken_programs())
def test_one_type_error_is_found_at_its_line(tmp, case):
    source, line, arg_names = case
    with pytest.raises(TypeCheckError) as info:
        compile_source(source, "<fuzz>")
    assert info.value.span.line == line, info.value.message
    path = write(tmp, source)
    args = [f"{n}=1" if n == "n" else (f"{n}=[1, 2, 3]" if n == "v" else f"{n}=0.5") for n in arg_names]
    error = adlang("run", path, *args, "--json").json["error"]
    assert (error["kind"], error["line"]) == ("type", line)
    outcome = adlang("run", path, *args)
    assert outcome.code == 2 and f":{line}:" in outcome.err.split("\n")[0]


# ---------------------------------------------------------------- 3. well-typed programs through everything

FIRST = ("forward", "reverse")
SECOND = ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward")
CHECKPOINTS = ("sqrt", "every:1", "every:2", "every:5", "revolve:1", "revolve:2", "revolve:4")


@st.composite
def cases(draw):
    smooth = draw(st.booleans())
    gen = draw(generated(smooth=smooth, extra=True))
    args = draw(points(gen.arg_names))
    candidates = [n for n in gen.arg_names if n != "n"]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=len(candidates), unique=True))
    wrt = [n for n in candidates if n in chosen]
    note(gen.source)
    note(f"args: {args}, wrt: {wrt}")
    checkpoint = draw(st.sampled_from(CHECKPOINTS)), draw(st.sampled_from(("interp", "compiled")))
    return gen, args, wrt, draw(st.integers(1, 300)), draw(st.sampled_from(SECOND)), checkpoint


def as_array(value) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=float))


@budget(30)
@given(cases())
def test_well_typed_programs_through_every_command(tmp, case):
    gen, args, wrt, max_steps, compiled_pair, (checkpoint, checkpoint_engine) = case
    path = write(tmp, gen.source)
    argv = words(args)
    program = compile_source(gen.source, "<fuzz>")

    # run, in both engines: the same value bit for bit, the same steps
    runs = {e: adlang("run", path, *argv, "--json", "--engine", e).json for e in ("interp", "compiled")}
    assert runs["interp"]["value"] == runs["compiled"]["value"]
    assert runs["interp"]["stats"]["steps"] == runs["compiled"]["stats"]["steps"]
    value = runs["interp"]["value"]
    assert isinstance(value, float) and math.isfinite(value)

    # a step limit anywhere: the result, or the same runtime error in both engines
    limited = [adlang("run", path, *argv, "--json", "--engine", e, "--max-steps", str(max_steps))
               for e in ("interp", "compiled")]
    assert limited[0].code == limited[1].code and limited[0].json == limited[1].json

    # --grad in both modes and both engines: they agree
    grads = {}
    for mode in FIRST:
        for engine in ("interp", "compiled"):
            out = adlang("run", path, *argv, "--grad", ",".join(wrt), "--mode", mode, "--engine", engine,
                         "--json").json
            assert close(out["value"], value, 1e-12, 1e-12)
            grads[mode, engine] = {w: as_array(out["grad"][w]) for w in wrt}
    first = grads["reverse", "interp"]
    for key, grad in grads.items():
        for w in wrt:
            assert close(grad[w], first[w], 1e-9, 1e-9), f"{key} d/d{w}: {grad[w]} vs reverse {first[w]}"

    # checkpointed reverse mode: the same numbers (to rounding)
    out = adlang("run", path, *argv, "--grad", ",".join(wrt), "--checkpoint", checkpoint, "--engine",
                 checkpoint_engine, "--json").json
    for w in wrt:
        assert close(as_array(out["grad"][w]), first[w], 1e-9, 1e-9), f"--checkpoint {checkpoint} d/d{w}"

    # diff in both modes: what it prints runs and gives the same numbers; its IR prints
    for mode in FIRST:
        printed = adlang("diff", path, "--wrt", ",".join(wrt), "--mode", mode).out
        entry = [line.split("(")[0][4:] for line in printed.splitlines() if line.startswith("def ")][-1]
        printed_path = write(tmp, printed, "printed.ad")
        out = adlang("run", printed_path, *argv, "--fn", entry, "--json").json["value"]
        assert close(out[0], value, 1e-12, 1e-300)
        for i, w in enumerate(wrt):
            assert close(out[1 + i], first[w], 1e-9, 1e-12), f"printed {mode} d/d{w}: {out[1 + i]} vs {first[w]}"
        assert adlang("ir", printed_path).code == 0

    # check: forward, reverse and differences; a difference only where differences are off
    checked = adlang("check", path, *argv, "--wrt", ",".join(wrt), "--json").json
    assert all(row["modes_error"] <= 1e-9 for row in checked["rows"])

    # finite differences, away from kinks (the example is discarded near one)
    fd = smooth_differences(program, args, wrt)
    for w in wrt:
        assert close(first[w], fd[w], 1e-5, 1e-5), f"d/d{w}: {first[w]} vs differences {fd[w]}"

    # --order 2 (vecs element by element): four mode pairs agree, the Hessian is symmetric
    hessians = {}
    for pair in SECOND:
        out = adlang("run", path, *argv, "--grad", ",".join(wrt), "--mode", pair, "--order", "2", "--json").json
        hessians[pair] = hessian_matrix(out["hessian"], args, wrt)
    out = adlang("run", path, *argv, "--grad", ",".join(wrt), "--mode", compiled_pair, "--order", "2",
                 "--engine", "compiled", "--json").json
    hessians["compiled " + compiled_pair] = hessian_matrix(out["hessian"], args, wrt)
    base = hessians["reverse-over-reverse"]
    for pair, h in hessians.items():
        assert close(h, h.T, 1e-9, 1e-9), f"{pair}: not symmetric\n{h}"
        assert close(h, base, 1e-9, 1e-9), f"{pair} vs reverse-over-reverse:\n{h}\n{base}"
    assume_hessian_continuous(program, args, wrt, base)
    assert close(base, gradient_differences(program, args, wrt), 1e-5, 1e-5)


def test_the_budget_knob_is_documented():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "ADLANG_FUZZ_EXAMPLES" in readme and "ADLANG_FUZZ_EXAMPLES" in __doc__



# ---------------------------------------------------------------- what the fuzzing found


def test_found_a_lone_bom_byte_is_not_an_empty_program(tmp):
    """b"\\xef" alone was read as an empty file (Python's utf-8-sig reader drops a partial BOM at the end)."""
    path = tmp / "lone.ad"
    path.write_bytes(b"\xef")
    error = adlang("run", str(path), "x=1", "--json").json["error"]
    assert error["kind"] == "usage" and "is not UTF-8 text (byte 0xef on line 1)" in error["message"]
