"""Stepping through a run: the program runs once with recording on, then the cursor moves over its events.

Moving forwards and backwards is navigation of the recorded list, which is
what "replaying" means here: `back` shows a binding again, it does not undo
anything. Only bindings are stops; tape pushes and pops, calls and returns
between two stops are passed on to whoever shows the step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adlang.interp.events import Event
from adlang.interp.interpreter import run_function
from adlang.ir import nodes as ir
from adlang.ir.derive import finish
from adlang.ir.printer import print_program
from adlang.lang.errors import AdlangError

STEP_LIMIT = 1_000_000
DERIVATIVE_NAME = re.compile(r"d.+d.+")


@dataclass
class Move:
    """What one command passed over (`passed`: events before the stop) and where it stopped (None: the end)."""

    passed: list[Event]
    stop: Event | None


@dataclass
class Stepper:
    program: ir.Program
    entry: str
    events: list[Event]
    error: AdlangError | None
    value: object
    mode: str | None
    primal_names: set[str]
    cursor: int = -1
    breakpoints: set[int] = field(default_factory=set)
    text: list[str] = field(default_factory=list)
    lines: dict[int, int] = field(default_factory=dict)

    @classmethod
    def start(cls, program: ir.Program, entry: str, args: dict, original: ir.Program, mode: str | None,
              max_steps: int = STEP_LIMIT) -> Stepper:
        """Runs `entry` of `program` once, recording; a runtime error ends the recording where it happened."""
        program = finish(program)
        events: list[Event] = []
        error = value = None
        try:
            value = run_function(program, entry, args, max_steps=max_steps, events=events).value
        except AdlangError as err:
            error = err
        primal = {v.name for fn in original.functions for v in fn.params}
        primal |= {name for fn in original.functions for name in ir.names_in(fn)}
        stepper = cls(program, entry, events, error, value, mode, primal)
        stepper.text = print_program(program).rstrip("\n").split("\n")
        stepper.lines = statement_lines(program)
        return stepper

    # ------------------------------------------------------------ where the cursor is

    @property
    def current(self) -> Event | None:
        return self.events[self.cursor] if self.cursor >= 0 else None

    @property
    def at_end(self) -> bool:
        return self._next_stop(self.cursor) is None

    def program_line(self, event: Event) -> int:
        """The line of the printed program (`text`) holding the event's statement, 0 if it has none."""
        return self.lines.get(id(event.stmt), 0) if event.stmt is not None else 0

    def stops(self) -> list[int]:
        return [i for i, e in enumerate(self.events) if e.kind == "bind"]

    def _next_stop(self, index: int) -> int | None:
        for i in range(index + 1, len(self.events)):
            if self.events[i].kind == "bind":
                return i
        return None

    # ------------------------------------------------------------ moving

    def next(self) -> Move:
        return self._move_to(self._next_stop(self.cursor))

    def over(self) -> Move:
        """Like next, but a call or loop that starts after the cursor is run through to its end."""
        if self.current is None:
            return self.next()
        level = self.current.level
        index = self._next_stop(self.cursor)
        while index is not None and self.events[index].level > level:
            index = self._next_stop(index)
        return self._move_to(index)

    def step_out(self) -> Move:
        """`finish`: to the first binding after the innermost loop or call around the cursor has ended (the
        whole loop, not one iteration), else to the end."""
        if self.current is None:
            return self.next()
        level = self.current.level
        index = self._next_stop(self.cursor)
        while index is not None and self.events[index].level >= level:
            index = self._next_stop(index)
        return self._move_to(index)

    def cont(self) -> Move:
        """To the next binding on a breakpoint line of the original program, else to the end."""
        index = self._next_stop(self.cursor)
        while index is not None and self.events[index].line not in self.breakpoints:
            index = self._next_stop(index)
        return self._move_to(index)

    def back(self) -> Move:
        """The previous binding again (replayed from the record); nothing before the first."""
        for i in range(self.cursor - 1, -1, -1):
            if self.events[i].kind == "bind":
                self.cursor = i
                return Move([], self.events[i])
        self.cursor = -1
        return Move([], None)

    def _move_to(self, index: int | None) -> Move:
        end = len(self.events) if index is None else index
        passed = self.events[self.cursor + 1: end]
        self.cursor = end - 1 if index is None else index
        return Move(passed, None if index is None else self.events[index])

    # ------------------------------------------------------------ what the cursor sees

    def frame_values(self) -> list[tuple[str, object, str]]:
        """Every live value of the current call at the cursor: (name, value, kind), in the order first bound."""
        if not self.events:
            return []
        here = self.current or self.events[0]
        values: dict[str, object] = {}
        params: set[str] = set()
        for event in self.events[: self.cursor + 1] if self.cursor >= 0 else self.events[:1]:
            if event.frame != here.frame:
                continue
            if event.kind == "call":
                values.update(event.value)
                params.update(event.value)
            elif event.kind == "bind":
                values[event.name] = event.value
        return [(name, value, self.kind_of(name, name in params)) for name, value in values.items()]

    def kind_of(self, name: str, is_param: bool) -> str:
        if is_param:
            return "parameter"
        if name in self.primal_names or self.mode is None:
            return "primal"
        if DERIVATIVE_NAME.fullmatch(name):
            return "adjoint" if self.mode.startswith("reverse") else "tangent"
        return "helper"

    def tape_events(self) -> list[Event]:
        return [e for e in self.events[: self.cursor + 1] if e.kind in ("push", "pop")]

    def tapes(self) -> dict[int, list]:
        """Each tape's contents at the cursor, bottom first (replayed from the pushes and pops)."""
        tapes: dict[int, list] = {}
        for event in self.tape_events():
            stack = tapes.setdefault(event.tape, [])
            if event.kind == "push":
                stack.append(event.value)
            elif stack:
                stack.pop()
        return tapes


def statement_lines(program: ir.Program) -> dict[int, int]:
    """id(statement) -> its line in `print_program(program)`, following the printer's layout."""
    lines: dict[int, int] = {}
    line = 0
    for fn in program.functions:
        line += 1
        line = _block_lines(fn.body, line, lines)
        line += 1
    return lines


def _block_lines(body: tuple[ir.Stmt, ...], line: int, lines: dict[int, int]) -> int:
    for stmt in body:
        line += 1
        lines[id(stmt)] = line
        if isinstance(stmt, ir.If):
            line = _if_lines(stmt, line, lines)
        else:
            for block in ir.blocks_of(stmt):
                line = _block_lines(block, line, lines)
    return line


def _if_lines(stmt: ir.If, line: int, lines: dict[int, int]) -> int:
    line = _block_lines(stmt.then, line, lines)
    orelse = stmt.orelse
    if len(orelse) == 1 and isinstance(orelse[0], ir.If):
        lines[id(orelse[0])] = line + 1
        return _if_lines(orelse[0], line + 1, lines)
    if orelse:
        line = _block_lines(orelse, line + 1, lines)
    return line
