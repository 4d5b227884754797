"""The REPL's state: the functions defined so far (from a file or typed), and the session's variables.

All functions are compiled together as one source, so they can call each
other; each keeps where its text came from, so an error or a stepped line is
shown at its place in the file or in what was typed, not in the joined text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from adlang.interp.interpreter import run_function
from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.derive import finish
from adlang.lang.errors import AdlangError, UsageError
from adlang.lang.span import Span
from adlang.options import read_source
from adlang.pipeline import compile_source
from adlang.report import format_error

SOURCE_NAME = "<session>"
INPUT_NAME = "<input>"
DEF_NAME = re.compile(r"def\s+([A-Za-z_]\w*)")
EVAL_PREFIX = "    return "


@dataclass
class Definition:
    """One function's text; its line k is line `first_line + k - 1` of `origin`, shifted `col_shift` columns.

    `shown`, when set, is the line a person typed, shown instead of line 2 of `text` (the REPL's
    `let y = EXPR` is evaluated as `return EXPR`; an error in EXPR is shown in the whole entry).
    `entry` numbers what was typed: the `def`s of one entry share it (their lines count from its first).
    """

    name: str
    text: str
    origin: str
    first_line: int = 1
    col_shift: int = 0
    shown: str | None = None
    entry: int = 0


@dataclass(frozen=True)
class Loaded:
    """What `:load` did: FILE's functions, the typed ones they replaced, the typed ones kept, and the functions of
    the file loaded before (`previous`) that are gone."""

    names: list[str]
    replaced: list[str]
    kept: list[str]
    dropped: list[str]
    previous: str | None

    def summary(self, path: str) -> str:
        text = f"loaded {path}: {', '.join(self.names) or 'no functions'}"
        if self.replaced:
            text += f"; replaced {', '.join(self.replaced)} typed in the session"
        if self.kept:
            text += f"; kept {', '.join(self.kept)} typed in the session"
        if self.dropped:
            text += f"; {', '.join(self.dropped)} of {self.previous} no longer defined"
        return text


@dataclass
class Session:
    file: str | None = None
    file_defs: list[Definition] = field(default_factory=list)
    typed: dict[str, Definition] = field(default_factory=dict)
    variables: dict[str, object] = field(default_factory=dict)
    program: ir.Program = field(default_factory=lambda: ir.Program(()))
    placed: list[tuple[int, Definition]] = field(default_factory=list)
    entries: int = 0  # entries typed so far

    # ------------------------------------------------------------ functions

    def load(self, path: str) -> Loaded:
        """FILE's functions replace those of the file loaded before; functions typed in the session stay, except
        those FILE defines too (nothing changes if FILE has an error)."""
        defs = split_definitions(read_source(path), path)
        names = [d.name for d in defs]
        typed = {name: d for name, d in self.typed.items() if name not in names}
        dropped = [d.name for d in self.file_defs if d.name not in names and d.name not in typed]
        replaced = [name for name in names if name in self.typed]
        before = self.file
        self._adopt(defs, typed)
        self.file = path
        return Loaded(names, replaced, list(typed), dropped, before)

    def reload(self) -> list[str]:
        """The file again; functions typed since stay, replacing the file's of the same name."""
        if self.file is None:
            raise UsageError("no file loaded yet: use :load FILE")
        defs = split_definitions(read_source(self.file), self.file)
        self._adopt(defs, self.typed)
        return [d.name for d in defs]

    def define(self, text: str) -> list[str]:
        """Typed `def` blocks: each adds a function or replaces the one of that name."""
        self.entries += 1
        defs = split_definitions(text, INPUT_NAME, self.entries)
        if not defs:
            raise UsageError("a definition starts with 'def NAME(...):'")
        typed = dict(self.typed)
        for d in defs:
            typed.pop(d.name, None)
            typed[d.name] = d
        self._adopt(self.file_defs, typed)
        return [d.name for d in defs]

    def _adopt(self, file_defs: list[Definition], typed: dict[str, Definition]) -> None:
        defs = [d for d in file_defs if d.name not in typed] + list(typed.values())
        program, placed = self._compile(defs)
        self.file_defs, self.typed, self.program, self.placed = file_defs, typed, program, placed

    def _compile(self, defs: list[Definition]) -> tuple[ir.Program, list[tuple[int, Definition]]]:
        placed, line = [], 1
        for d in defs:
            placed.append((line, d))
            line += d.text.count("\n")
        try:
            return compile_source(self.source(defs), SOURCE_NAME), placed
        except AdlangError as err:
            err.placed = placed
            raise

    @staticmethod
    def source(defs: list[Definition]) -> str:
        return "".join(d.text for d in defs)

    # ------------------------------------------------------------ places

    def origin(self, line: int, placed: list[tuple[int, Definition]] | None = None) -> tuple[str, int, str]:
        """Line `line` of the joined source as (file or <input>, its line there, its text)."""
        found = self._placed_at(line, placed)
        if found is None:
            return SOURCE_NAME, line, ""
        start, d = found
        lines = d.text.split("\n")
        k = line - start
        text = lines[k] if k < len(lines) else ""
        if k and d.shown is not None:
            return d.origin, d.first_line + k, d.shown
        return d.origin, d.first_line + k, text[d.col_shift:] if k else text

    def _placed_at(self, line: int, placed: list[tuple[int, Definition]] | None) -> tuple[int, Definition] | None:
        for start, d in reversed(self.placed if placed is None else placed):
            if line >= start:
                return start, d
        return None

    def line_of(self, line: int) -> int:
        """Line `line` of the joined source as a line of its file or of what was typed (a trace's lines)."""
        return self.origin(line)[1] if line >= 1 else line

    def format(self, err: AdlangError) -> str:
        """The CLI's error text, placed in the file or the input the error's line came from."""
        span = err.span
        placed = getattr(err, "placed", self.placed)
        if err.kind == "usage" or span is None or span.line < 1:
            return format_error(err, INPUT_NAME, None)
        origin, line, text = self.origin(span.line, placed)
        shift = next((d.col_shift for s, d in reversed(placed) if span.line >= s), 0)
        if shift and line == 0:
            shift = 0
        moved = Span(line, max(1, span.col - shift), line, max(1, span.end_col - shift))
        # The session's variables are parameters of the function an entry is evaluated in.
        message = re.sub(r"a parameter of repl_value(_\d+)?, line \d+", "a session variable", err.message)
        message = self._lines_in(message, self._placed_at(span.line, placed), placed)
        shown = AdlangError(message, moved)
        shown.kind = err.kind
        return format_error(shown, origin, "\n" * max(0, line - 1) + text)

    def _lines_in(self, message: str, here: tuple[int, Definition] | None,
                  placed: list[tuple[int, Definition]]) -> str:
        """`line N` in a message (where a name was declared, a def, a bracket opened) as the line a person
        sees: of the same entry or file as the error, or named (`line 2 of foo.ad`, `line 1 of the entry that
        defined g`)."""

        def moved(match: re.Match) -> str:
            number = int(match.group(1))
            there = self._placed_at(number, placed)
            if there is None:
                return match.group(0)
            origin, line, _ = self.origin(number, placed)
            d = there[1]
            if here is not None and origin == here[1].origin and (origin != INPUT_NAME or d.entry == here[1].entry):
                return f"line {line}"
            if origin != INPUT_NAME:
                return f"line {line} of {origin}"
            return f"line {line} of the entry that defined {d.name}"

        return re.sub(r"\bline (\d+)", moved, message)

    # ------------------------------------------------------------ values

    def evaluate(self, expr: str, max_steps: int, entry: str | None = None, offset: int = 0) -> object:
        """An expression over the session's variables: the body of a temporary function taking them.

        `entry` is the whole line typed, in which `expr` starts at `offset`: errors point into it.
        """
        name = self._fresh(naming.REPL_VALUE)
        params = ", ".join(f"{k}: {value_type(v)}" for k, v in self.variables.items())
        text = f"def {name}({params}):\n{EVAL_PREFIX}{expr}\n"
        self.entries += 1
        wrapper = Definition(name, text, INPUT_NAME, 0, len(EVAL_PREFIX) - offset, entry, self.entries)
        defs = [d for d in self.file_defs if d.name not in self.typed] + list(self.typed.values()) + [wrapper]
        program, placed = self._compile(defs)
        try:
            return run_function(finish(program), name, dict(self.variables), max_steps=max_steps).value
        except AdlangError as err:
            err.placed = placed
            raise

    def _fresh(self, base: str) -> str:
        return naming.Namer([*self.program.names, *self.variables]).name(base)


def value_type(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, np.ndarray):
        return "mat" if value.ndim == 2 else "vec"
    return "float"


def split_definitions(text: str, origin: str, entry: int = 0) -> list[Definition]:
    """Text cut before each `def` at the start of a line; comments before the first go with it."""
    if not text.endswith("\n"):
        text += "\n"
    lines = text.split("\n")[:-1]
    starts = [i for i, line in enumerate(lines) if DEF_NAME.match(line)]
    defs = []
    for k, start in enumerate(starts):
        begin = 0 if k == 0 else start
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        body = "\n".join(lines[begin:end]) + "\n"
        defs.append(Definition(DEF_NAME.match(lines[start]).group(1), body, origin, begin + 1, entry=entry))
    return defs
