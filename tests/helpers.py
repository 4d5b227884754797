"""Shared test helpers: compile a source string, run it, catch its errors, load the example programs.

Sources written in tests are dedented and lose their leading newline, so the
first `def` of a triple-quoted string is line 1: a test that checks a line
number can count lines in the string it wrote.
"""

from __future__ import annotations

import csv
import difflib
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from adlang.interp.interpreter import RunResult, run_function
from adlang.ir import nodes as ir
from adlang.ir.derive import finish
from adlang.lang.errors import AdlangError, RuntimeFault, TypeCheckError
from adlang.pipeline import compile_source

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS_DIR = ROOT / "programs"
PROGRAM_PATHS = sorted(PROGRAMS_DIR.glob("**/*.ad"))


def src(text: str) -> str:
    """A test's source text, dedented, starting at its first line of code (line 1)."""
    return textwrap.dedent(text).lstrip("\n")


def compile_text(text: str, filename: str = "<test>") -> ir.Program:
    return compile_source(src(text), filename)


def type_error(text: str) -> TypeCheckError:
    """The TypeCheckError that compiling `text` raises (the test fails if it compiles)."""
    with pytest.raises(TypeCheckError) as info:
        compile_text(text)
    return info.value


def assert_error_at(err: AdlangError, substring: str, line: int, col: int | None = None) -> None:
    assert substring in err.message, f"{substring!r} not in {err.message!r}"
    assert err.span is not None, f"no place for {err.message!r}"
    assert err.span.line == line, f"line {err.span.line}, wanted {line}: {err.message}"
    if col is not None:
        assert err.span.col == col, f"column {err.span.col}, wanted {col}: {err.message}"


def default_fn(program: ir.Program) -> str:
    """`f` if the program has one, else its first function."""
    return "f" if program.function("f") is not None else program.functions[0].name


def run_result(text: str, fn: str | None = None, *, trace: bool = False, max_steps: int = 1_000_000,
               **args) -> RunResult:
    program = compile_text(text)
    return run_function(program, fn or default_fn(program), args, trace=trace, max_steps=max_steps)


def run(text: str, fn: str | None = None, **args):
    """The value that `fn` (default `f`) of the program returns for these arguments."""
    return run_result(text, fn, **args).value


def runtime_error(text: str, fn: str | None = None, *, max_steps: int = 1_000_000, **args) -> RuntimeFault:
    program = compile_text(text)
    with pytest.raises(RuntimeFault) as info:
        run_function(program, fn or default_fn(program), args, max_steps=max_steps)
    return info.value


# ---------------------------------------------------------------- the example programs and their .args


@dataclass
class Example:
    path: Path
    source: str
    program: ir.Program
    args: dict[str, object]
    wrt: list[str]

    @property
    def golden_name(self) -> str:
        """`programs/lecture/foo.ad` -> `lecture__foo`."""
        return golden_stem(self.path)

    @property
    def finished(self) -> ir.Program:
        """The program as engines run it: `grad` forms expanded (the pass manager's order 0)."""
        return finish(self.program)

    @property
    def fn(self) -> str:
        """The function the `.args` are for: `main` if there is one, else the last function."""
        if self.program.function("main") is not None:
            return "main"
        return self.program.functions[-1].name


def load_example(path: Path) -> Example:
    source = path.read_text()
    program = compile_source(source, str(path))
    lines = path.with_suffix(".args").read_text().splitlines()
    words = dict(_split_word(w) for w in lines[0].split()) if lines else {}
    wrt = [w for w in lines[1].split(",") if w] if len(lines) > 1 else []
    example = Example(path, source, program, {}, wrt)
    fn = program.function(example.fn)
    assert fn is not None
    assert set(words) == {p.name for p in fn.params}, f"{path.name}.args does not match {fn.name}'s parameters"
    example.args = {p.name: _convert(words[p.name], p) for p in fn.params}
    return example


def _split_word(word: str) -> tuple[str, str]:
    name, sep, value = word.partition("=")
    assert sep, f"not NAME=VALUE: {word!r}"
    return name, value


def _convert(text: str, param: ir.Var):
    kind = param.type.kind
    if kind == "mat":
        from adlang.arguments import parse_mat_value

        return parse_mat_value("@" + str(ROOT / text[1:]) if text.startswith("@") else text, param.name)
    if text.startswith("@"):
        return _csv_column(text[1:])
    if text.startswith("["):
        return np.array([float(x) for x in text.strip("[]").split(",") if x.strip()], dtype=float)
    if text in ("true", "false"):
        return text == "true"
    if kind == "int":
        return int(text)
    return float(text)


def _csv_column(spec: str) -> np.ndarray:
    path, _, column = spec.partition(":")
    with open(ROOT / path, newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([float(row[column]) for row in rows], dtype=float)


# ---------------------------------------------------------------- the IR


def is_atom(x) -> bool:
    return isinstance(x, (ir.Var, ir.Const))


def all_statements(program: ir.Program):
    for fn in program.functions:
        yield from ir.walk(fn.body)


# ---------------------------------------------------------------- golden files

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def golden_stem(path: Path) -> str:
    """`programs/lecture/foo.ad` -> `lecture__foo`."""
    return f"{path.parent.name}__{path.stem}"


def check_golden(name: str, text: str, request: pytest.FixtureRequest) -> None:
    """Compare `text` with `tests/golden/<name>`, or write it there under `--update-golden`."""
    golden = GOLDEN_DIR / name
    if request.config.getoption("--update-golden"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        if not golden.exists() or golden.read_text() != text:
            golden.write_text(text)
        return
    if not golden.exists():
        pytest.fail(f"no golden file {golden}; run pytest --update-golden to create it, then read it")
    expected = golden.read_text()
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"golden/{name}",
                tofile="current output",
            )
        )
        pytest.fail(f"output differs from golden/{name} (pytest --update-golden rewrites it):\n{diff}")
