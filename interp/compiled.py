"""The compiled engine: a program's IR turned into Python source, exec'd once and cached.

It gives exactly what the interpreter (`interpreter.run_function`) gives: the
same value bit for bit, the same step count, the same runtime errors at the
same statements. Every operation calls the evaluation function of the registry
(`prim.evaluator(arg_types)`), bound as a name of the generated module; only
a primitive that names its `python_operator` (`+ - *`, comparisons, negation)
is written as that operator on scalars, and where its evaluation checks the
result (`operator_checks`: a NaN, an int past 64 bits) the code calls the
registry's function when the check fails, so the error is the registry's own.

Safety: no user text ever becomes code. Variables are `v_NAME` and functions
`f_NAME` when the name is an identifier of the language (a prefix makes it no
Python keyword or builtin), else a numbered name; constants other than plain
ints, bools and finite floats, spans, types and messages live in tables that
the code reads by index.

Shape of the generated module: one factory `_make(max_steps, tapes)` holding
every function of the program as a nested function, so each run gets fresh
functions sharing one step counter (`_steps`, a closure cell). A function keeps
its count in a local and writes it back around calls and at its return. Steps
are counted as the interpreter counts them (a block's statements on entering
it, one per loop trip, one per return) and checked there; on crossing the limit
a helper finds the statement the interpreter names. A `for` loop whose body is
straight-line code (no call, branch or loop) adds all its trips' steps at once
when they fit under the limit, and then runs a body with no counting in it;
otherwise it runs the counted body. Either way the count is the interpreter's
whenever a run ends without an error (the only time a count is seen).

Tapes are plain Python lists of the values themselves. The count of values on
them (`tape_peak`) costs nothing per push or pop of a scalar: the values held
are the tapes' lengths, plus `_extra` (a vec's length less one, for tapes that
can hold a vec), and the most held is only looked at where it may stop growing:
before a pop (or, for a loop that pops but never pushes nor calls, once before
the loop, since the count only falls inside it) and at the end of the run.

Runtime errors of operations are caught once per function (a try block costs
nothing until it raises) and placed through a table from generated line numbers
to statements; so is the IndexError of a pop from an empty tape.
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass, field

import numpy as np

from adlang.interp.faults import operation_fault
from adlang.interp.prologue import prologue
from adlang.interp.pynames import PythonNames, mangled
from adlang.interp.runtime import (
    DEFAULT_MAX_STEPS,
    DEFAULT_MAX_TAPE,
    EMPTY_TAPE,
    UNFINISHED,
    ArrayPool,
    ProgramCache,
    RunResult,
    accumulates_in_place,
    addat_in_place,
    addto_in_place,
    array_square,
    array_ufunc,
    check_length,
    loop_key,
    poolable,
    pops_only,
    step_limit,
    tape_limit,
    tape_size,
)
from adlang.ir import nodes as ir
from adlang.ir.liveness import Releases, releases
from adlang.ir.primitives import lookup
from adlang.ir.prims_scalar import INT_MAX, INT_MIN, INVALID, POOLED, made_nan, run_quietly
from adlang.ir.types import Type
from adlang.lang.errors import DomainError, RuntimeFault
from adlang.lang.span import Span

SCALAR_KINDS = ("float", "int", "bool")


def run_compiled(
    program: ir.Program, fn_name: str, args: dict[str, object], *, max_steps: int = DEFAULT_MAX_STEPS,
    max_tape: int = DEFAULT_MAX_TAPE,
) -> RunResult:
    """Run one function of a checked program, as `run_function` does (without a trace)."""
    compiled = compile_program(program)
    if compiled is None:  # nested deeper than Python compiles: the interpreter gives the same results
        from adlang.interp.interpreter import run_function

        return run_function(program, fn_name, args, max_steps=max_steps, max_tape=max_tape)
    tapes: dict[int, list] = {}
    trips = [0] * len(compiled.loops)
    functions, steps, tape_peak = compiled.make(max_steps, tapes, trips, max_tape)
    with run_quietly():  # the registry's `.quiet` evaluations run here (see `Generator.evaluator`)
        _, values = prologue(compiled.program, fn_name, args)  # a vec's squares may overflow: quietly
        value = functions[fn_name](*values)
    loop_trips: dict[tuple[int, int, str], int] = {}
    for key, count in zip(compiled.loops, trips):
        if count:
            loop_trips[key] = loop_trips.get(key, 0) + count
    return RunResult(value, steps(), None, tape_peak(), loop_trips)


# ---------------------------------------------------------------- the cache

_CACHE = ProgramCache(64)


def compile_program(program: ir.Program) -> Compiled | None:
    """The compiled module of this very Program object (by identity: spans take no part in equality).

    None where Python cannot compile the generated code: blocks nested deeper than its limits
    (20 nested loops, 100 levels of indentation); `run_compiled` then runs the interpreter.
    """
    return _CACHE.get(program, _generate)


def _generate(program: ir.Program) -> Compiled | None:
    try:
        return Generator(program).module()
    except (SyntaxError, RecursionError, MemoryError):  # IndentationError is a SyntaxError
        return None


@dataclass
class Compiled:
    program: ir.Program
    source: str
    make: object  # make(max_steps, tapes, trips, max_tape) -> ({function name: callable}, steps(), tape_peak())
    loops: list  # the loop key (line, col, role) counted at each index of `trips`


# ---------------------------------------------------------------- what the generated code calls


@dataclass
class Tables:
    """Everything the code refers to by index: constants, statements, checks, places of lines."""

    consts: list = field(default_factory=list)
    stmts: list = field(default_factory=list)  # the statements a step-limit error names
    blocks: list = field(default_factory=list)  # blocks, for the statement a block entry crosses the limit at
    checks: list = field(default_factory=list)  # (type, what, span) of vec(N) length checks
    faults: list = field(default_factory=list)  # ready-made errors: (message, span)
    lines: dict = field(default_factory=dict)  # generated line -> (primitive, span)
    pops: dict = field(default_factory=dict)  # generated line of a pop -> index of its fault
    loops: list = field(default_factory=list)  # the loop key of each counter in `_trips`
    max_steps: int = 0

    def index(self, table: list, item) -> int:
        table.append(item)
        return len(table) - 1


def _runtime(tables: Tables) -> dict:
    """The names the generated module reads besides the evaluation functions and constants."""

    def limit(max_steps: int, k: int) -> RuntimeFault:
        return step_limit(max_steps, tables.stmts[k].span)

    def over_block(steps: int, max_steps: int, b: int) -> RuntimeFault:
        stmts = tables.blocks[b]
        count = len(stmts)
        return limit_at(max_steps, stmts[count - (steps - max_steps)])

    def over_trip(steps: int, max_steps: int, k: int, b: int) -> RuntimeFault:
        count = len(tables.blocks[b])
        if steps - count > max_steps:
            return limit(max_steps, k)
        return over_block(steps, max_steps, b)

    def limit_at(max_steps: int, stmt: ir.Stmt) -> RuntimeFault:
        return step_limit(max_steps, stmt.span)

    def check(value, k: int) -> None:
        type_, what, span = tables.checks[k]
        check_length(type_, value, what, span)

    def fault(k: int) -> RuntimeFault:
        message, span = tables.faults[k]
        return RuntimeFault(message, span)

    def empty_tape(err: IndexError) -> RuntimeFault | None:
        """The interpreter's error for a pop from an empty tape, if `err` came from a pop's line; else None."""
        k = tables.pops.get(err.__traceback__.tb_lineno) if err.__traceback__ is not None else None
        return None if k is None else fault(k)

    def placed(err: Exception) -> Exception:
        """A primitive's error as the interpreter reports it, at the statement of the line it came from."""
        info = tables.lines.get(err.__traceback__.tb_lineno) if err.__traceback__ is not None else None
        if info is None:
            return err
        prim, span = info
        return operation_fault(prim.describe(), err, span)

    def over_tape(max_tape: int, k: int) -> RuntimeFault:
        return tape_limit(max_tape, tables.stmts[k])

    return {
        "_tape_limit": over_tape,
        "_limit": limit,
        "_over_block": over_block,
        "_over_trip": over_trip,
        "_check": check,
        "_fault": fault,
        "_empty_tape": empty_tape,
        "_IndexError": IndexError,
        "_zip": zip,
        "_reversed": reversed,
        "_islice": itertools.islice,
        "_float": float,
        "_placed": placed,
        "_CATCH": (DomainError, ArithmeticError, ValueError),
        "_rc": sys.getrefcount,
        "_addto_ip": addto_in_place,
        "_addat_ip": addat_in_place,
        "_ArrayPool": ArrayPool,
        "_poolable": poolable,
        "_nd": np.ndarray,
        "_invalid": INVALID,
        "_made_nan": made_nan,
    }


# ---------------------------------------------------------------- the generator


class Generator(PythonNames):
    def __init__(self, program: ir.Program):
        self.program = program
        self.tables = Tables()
        self.lines: list[str] = []
        self.globals: dict[str, object] = {}
        self.fn_names = {fn.name: mangled("f_", fn.name, i) for i, fn in enumerate(program.functions)}
        self.var_names: dict[str, str] = {}
        self.evaluators: dict[int, str] = {}
        self.const_names: dict[tuple, str] = {}
        self.temps = 0
        # every tape the program uses, named up front: a peak check counts them all
        used = sorted(self._tapes_used(program))
        self.tape_names: dict[int, str] = {number: f"_T{i}" for i, number in enumerate(used)}
        # tapes that may hold a vec: there a push or pop adjusts `_extra` by the value's length less one
        self.vec_tapes = {s.tape for fn in program.functions for s in ir.walk(fn.body)
                          if isinstance(s, ir.Push) and s.value.type.kind not in SCALAR_KINDS}
        self.pop_only = False  # inside a loop that pops but neither pushes nor calls: its peak was checked before it
        self.tape_bounded = False  # inside a loop whose pushes were checked against --max-tape before it
        self.releases = Releases()  # of the function being written

    @staticmethod
    def _tapes_used(program: ir.Program) -> set[int]:
        return {s.tape if isinstance(s, ir.Push) else s.expr.tape for fn in program.functions for s in ir.walk(fn.body)
                if isinstance(s, ir.Push) or (isinstance(s, (ir.Let, ir.Assign)) and isinstance(s.expr, ir.Pop))}

    # ------------------------------------------------------------ output

    def emit(self, depth: int, text: str, place: tuple | None = None) -> None:
        self.lines.append("    " * depth + text)
        if place is not None:
            self.tables.lines[len(self.lines)] = place

    def module(self) -> Compiled:
        self.emit(0, "def _make(_max, _tapes, _trips, _maxtape):")
        self.emit(1, "_steps = 0; _extra = 0; _peak = 0; _pool = _ArrayPool()")
        tapes = "; ".join(f"{name} = _tapes.setdefault({int(number)}, [])" for number, name in self.tape_names.items())
        self.emit(1, tapes or "pass")
        for fn in self.program.functions:
            self.function(fn)
        self.emit(1, "def _count():")
        self.emit(2, "return _steps")
        self.emit(1, "def _tape_peak():")  # the count may have grown since the last pop
        self.emit(2, f"_h = {self.held()}")
        self.emit(2, "return _h if _h > _peak else _peak")
        entries = ", ".join(f"{k!r}: {v}" for k, v in self._entry_names())
        self.emit(1, f"return {{{entries}}}, _count, _tape_peak")
        source = "\n".join(self.lines) + "\n"
        namespace = dict(self.globals)
        namespace.update(_runtime(self.tables))
        namespace["__builtins__"] = {"range": range, "len": len}
        exec(compile(source, "<adlang compiled>", "exec"), namespace)
        return Compiled(self.program, source, namespace["_make"], self.tables.loops)

    def _entry_names(self):
        # the keys are written with repr (a Python string literal), never as code
        return [(fn.name, self.fn_names[fn.name]) for fn in self.program.functions]

    def bind(self, prefix: str, value: object, table: dict, key) -> str:
        name = table.get(key)
        if name is None:
            name = f"{prefix}{len(table)}"
            table[key] = name
            self.globals[name] = value
        return name

    # ------------------------------------------------------------ names and atoms

    def atom(self, a: ir.Atom) -> str:
        if isinstance(a, ir.Var):
            return self.var(a.name)
        value = a.value
        kind = type(value)
        if kind is bool or kind is int:
            return repr(value)
        if kind is float and math.isfinite(value):
            text = repr(value)
            return f"({text})" if text.startswith("-") else text
        return self.bind("_k", value, self.const_names, (kind, repr(value), id(value)))

    @staticmethod
    def size(a: ir.Atom | None, value: str) -> str:
        """Python for how many values a tape entry holds (`tape_size`): a constant's is known here."""
        if isinstance(a, ir.Const):
            return str(tape_size(a.value))
        return f"({value}.size if {value}.__class__ is _nd else 1)"

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def tape(self, number: int) -> str:
        return self.tape_names[number]

    def held(self) -> str:
        """Python for the values on all the tapes now."""
        parts = [f"len({name})" for name in self.tape_names.values()]
        if self.vec_tapes:
            parts.append("_extra")
        return " + ".join(parts) or "0"

    def peak_check(self, depth: int) -> None:
        """The most values held so far, looked at before the count may fall (a pop)."""
        self.emit(depth, f"_h = {self.held()}")
        self.emit(depth, "if _h > _peak: _peak = _h")

    # ------------------------------------------------------------ functions

    def function(self, fn: ir.Function) -> None:
        self.var_names = {}
        self.releases = releases(fn)
        params = ", ".join(self.var(p.name) for p in fn.params)
        name = self.fn_names[fn.name]
        start = len(self.lines)
        self.emit(1, f"def {name}({params}):")
        try:
            self._function_body(fn)
        except RuntimeFault as err:  # the interpreter raises this on the function's first call
            del self.lines[start + 1:]
            self.pop_only = False
            for table in (self.tables.lines, self.tables.pops):  # the lines taken back may be written again
                for line in [line for line in table if line > start + 1]:
                    del table[line]
            k = self.tables.index(self.tables.faults, (err.message, err.span))
            self.emit(2, f"raise _fault({k})")

    def _function_body(self, fn: ir.Function) -> None:
        self.emit(2, "nonlocal _steps, _extra, _peak")
        self.emit(2, "st = _steps")
        self.emit(2, "try:")
        self.block(fn.body[:-1], 3)
        ret = fn.returned
        k = self.tables.index(self.tables.stmts, ret)
        self.emit(3, "st += 1")
        self.emit(3, f"if st > _max: raise _limit(_max, {k})")
        ret_types = fn.ret.items if fn.ret.kind == "tuple" else (fn.ret,)
        values = [self.atom(a) for a in ret.values]
        if len(values) == len(ret_types):
            for value, type_ in zip(values, ret_types):
                self.length_check(3, value, type_, f"the result of '{fn.name}'", ret.span)
        self.emit(3, "_steps = st")
        self.emit(3, f"return {values[0]}" if len(values) == 1 else f"return ({', '.join(values)},)")
        self.emit(2, "except _CATCH as err:")
        self.emit(3, "raise _placed(err) from None")
        if self.tape_names:
            self.emit(2, "except _IndexError as err:")
            self.emit(3, "_e = _empty_tape(err)")
            self.emit(3, "if _e is None: raise")
            self.emit(3, "raise _e from None")

    def length_check(self, depth: int, value: str, type_: Type, what: str, span: Span) -> None:
        if (type_.kind == "vec" and type_.length is not None) or type_.shape is not None:
            k = self.tables.index(self.tables.checks, (type_, what, span))
            self.emit(depth, f"_check({value}, {k})")

    # ------------------------------------------------------------ blocks and statements

    def block(self, stmts: tuple[ir.Stmt, ...], depth: int, trip: int | None = None, counted: bool = True) -> None:
        """A block: its steps counted on entry (with the trip of the loop it is the body of, if any).

        `counted=False`: the steps were counted before the loop (see `for_`).
        """
        count = len(stmts)
        if counted:
            b = self.tables.index(self.tables.blocks, stmts)
            if trip is not None:
                self.emit(depth, f"st += {count + 1}")
                self.emit(depth, f"if st > _max: raise _over_trip(st, _max, {trip}, {b})")
            elif count:
                self.emit(depth, f"st += {count}")
                self.emit(depth, f"if st > _max: raise _over_block(st, _max, {b})")
        for stmt in stmts:
            self.statement(stmt, depth)
        if not count and (trip is None or not counted):
            self.emit(depth, "pass")

    def statement(self, stmt: ir.Stmt, depth: int) -> None:
        """The statement, then the arrays it was the last to read dropped (ir/liveness.py)."""
        if isinstance(stmt, ir.Let) and len(stmt.targets) > 1:
            self.destructure(stmt, depth)
        elif isinstance(stmt, (ir.Let, ir.Assign)):
            target = stmt.targets[0] if isinstance(stmt, ir.Let) else stmt.target
            self.assign(target, stmt.expr, stmt, depth)
        elif isinstance(stmt, ir.Push):
            value = self.atom(stmt.value)
            self.emit(depth, f"{self.tape(stmt.tape)}.append({value})")
            if stmt.tape in self.vec_tapes and stmt.value.type.kind not in SCALAR_KINDS:
                self.emit(depth, f"_extra += {self.size(stmt.value, value)} - 1")
            if not self.tape_bounded:
                k = self.tables.index(self.tables.stmts, stmt)
                self.emit(depth, f"if {self.held()} > _maxtape: raise _tape_limit(_maxtape, {k})")
        elif isinstance(stmt, ir.If):
            self.emit(depth, f"if {self.atom(stmt.cond)}:")
            self.block(stmt.then, depth + 1)
            self.emit(depth, "else:")
            self.block(stmt.orelse, depth + 1)
        elif isinstance(stmt, (ir.For, ir.While)):
            outer = self.pop_only
            if not outer and pops_only(stmt.body):
                self.peak_check(depth)
                self.pop_only = True
            if isinstance(stmt, ir.For):
                self.for_(stmt, depth)
            else:
                k = self.tables.index(self.tables.stmts, stmt)
                counter = self.tables.index(self.tables.loops, loop_key(stmt))
                self.emit(depth, f"while {self.atom(stmt.cond)}:")
                self.emit(depth + 1, f"_trips[{counter}] += 1")
                self.block(stmt.body, depth + 1, trip=k)
            self.pop_only = outer
        else:
            raise RuntimeFault("`return` must be the last statement", stmt.span)
        dead = self.releases.of(stmt)
        if dead and isinstance(stmt, (ir.Let, ir.Assign)):
            # each was read or written here, so it is bound: into the run's pool where nothing else holds it (the
            # local and getrefcount's argument: 2)
            for name in dead:
                var = self.var(name)
                self.emit(depth, f"if {var}.size >= {POOLED} and _rc({var}) == 2 and _poolable({var}): "
                                 f"_pool.give({var})")
        if dead:
            self.emit(depth, " = ".join(self.var(name) for name in dead) + " = None")

    def for_(self, stmt: ir.For, depth: int) -> None:
        """A counted loop; one with a straight-line body counts all its trips at once where they fit the limit."""
        k = self.tables.index(self.tables.stmts, stmt)
        loop_var, start, stop = self.var(stmt.var.name), self.atom(stmt.start), self.atom(stmt.stop)
        header = f"for {loop_var} in range({start}, {stop}):"
        counter = self.tables.index(self.tables.loops, loop_key(stmt))
        if not self.straight(stmt.body):
            self.emit(depth, f"_trips[{counter}] += len(range({start}, {stop}))")
            self.emit(depth, header)
            self.block(stmt.body, depth + 1, trip=k)
            return
        trips = self.temp()
        self.emit(depth, f"{trips} = {stop} - {start}")
        self.emit(depth, f"if {trips} > 0: _trips[{counter}] += {trips}")
        # the fast path runs where neither the step limit nor --max-tape can be crossed
        pushes = [s for s in stmt.body if isinstance(s, ir.Push)]
        scalar_pushes = all(s.value.type.kind in SCALAR_KINDS for s in pushes)
        bound = f" or {self.held()} + {trips} * {len(pushes)} > _maxtape" if pushes and scalar_pushes else ""
        self.emit(depth, f"if {trips} > 0 and (st + {trips} * {len(stmt.body) + 1} > _max{bound}):")
        self.emit(depth + 1, header)
        self.block(stmt.body, depth + 2, trip=k)
        self.emit(depth, "else:")
        self.emit(depth + 1, f"if {trips} > 0: st += {trips} * {len(stmt.body) + 1}")
        outer_bounded = self.tape_bounded
        self.tape_bounded = outer_bounded or (bool(pushes) and scalar_pushes)
        popped = self.pops_first(stmt)
        if popped is not None:
            # The trip's pop is the tape's next value backwards: walk the tape, then drop what was walked.
            # (A tape shorter than the trips: the loop below pops until the interpreter's error.)
            tape = self.tape(popped.expr.tape)
            target = self.var(popped.targets[0].name if isinstance(popped, ir.Let) else popped.target.name)
            self.emit(depth + 1, f"if {trips} > 0 and len({tape}) >= {trips}:")
            if any(v.name == stmt.var.name for s in stmt.body for v in ir.used_vars(s) + ir.defined_vars(s)):
                self.emit(depth + 2, f"for {loop_var}, {target} in _zip(range({start}, {stop}), _reversed({tape})):")
                self.block(stmt.body[1:], depth + 3, trip=k, counted=False)
            else:
                self.emit(depth + 2, f"for {target} in _islice(_reversed({tape}), {trips}):")
                self.block(stmt.body[1:], depth + 3, trip=k, counted=False)
                self.emit(depth + 2, f"{loop_var} = {stop} - 1")
            self.emit(depth + 2, f"del {tape}[len({tape}) - {trips}:]")
            self.emit(depth + 1, "else:")
            depth += 1
        self.emit(depth + 1, header)
        self.block(stmt.body, depth + 2, trip=k, counted=False)
        self.tape_bounded = outer_bounded

    def pops_first(self, stmt: ir.For) -> ir.Let | ir.Assign | None:
        """The pop that starts a loop's body, if it is the body's only tape operation and takes one scalar."""
        first = stmt.body[0] if stmt.body else None
        if not isinstance(first, (ir.Let, ir.Assign)) or not isinstance(first.expr, ir.Pop):
            return None
        target = first.targets[0] if isinstance(first, ir.Let) else first.target
        if len(getattr(first, "targets", (target,))) != 1 or target.type.kind not in SCALAR_KINDS:
            return None
        if target.name == stmt.var.name:  # after the loop it holds the last value popped, not the last trip's number
            return None
        if first.expr.tape in self.vec_tapes or not pops_only(stmt.body):
            return None
        if any(isinstance(getattr(s, "expr", None), ir.Pop) for s in stmt.body[1:]):
            return None
        return first

    @staticmethod
    def straight(body: tuple[ir.Stmt, ...]) -> bool:
        """Statements without a call, branch or loop: a trip's steps are the same every time."""
        return all(isinstance(s, ir.Push) or (isinstance(s, (ir.Let, ir.Assign)) and not isinstance(s.expr, ir.CallFn))
                   for s in body)

    def destructure(self, stmt: ir.Let, depth: int) -> None:
        value = self.expression(stmt.expr, stmt.span, depth)
        targets = ", ".join(self.var(t.name) for t in stmt.targets)
        self.emit(depth, f"{targets} = {value}")
        self.after(stmt.expr, depth)

    def after(self, expr: ir.Expr, depth: int) -> None:
        """After a call, the function's count takes the callee's steps."""
        if isinstance(expr, ir.CallFn) and self.program.function(expr.fn) is not None:
            self.emit(depth, "st = _steps")

    def assign(self, target: ir.Var, expr: ir.Expr, stmt: ir.Stmt, depth: int) -> None:
        name = self.var(target.name)
        if accumulates_in_place(target, expr):
            self.add_at_in_place(name, expr, stmt.span, depth)
            return
        if isinstance(expr, ir.Prim) and (self.inline(name, expr, stmt.span, depth)
                                          or self.inline_array(name, expr, stmt.span, depth)):
            pass
        elif isinstance(expr, ir.Pop):
            self.pop(name, expr, stmt.span, depth)
        else:
            value = self.expression(expr, stmt.span, depth)
            self.emit(depth, f"{name} = {value}", self.place(expr, stmt.span))
            self.after(expr, depth)
        self.length_check(depth, name, target.type, f"'{target.name}'", stmt.span)

    def pop(self, name: str, expr: ir.Pop, span: Span, depth: int) -> None:
        """`name = pop(k)`; list.pop's IndexError on an empty tape becomes the interpreter's error (`_empty_tape`)."""
        if not self.pop_only:
            self.peak_check(depth)
        k = self.tables.index(self.tables.faults, (EMPTY_TAPE, span))
        self.emit(depth, f"{name} = {self.tape(expr.tape)}.pop()")
        self.tables.pops[len(self.lines)] = k
        if expr.tape in self.vec_tapes:
            self.emit(depth, f"_extra -= {self.size(None, name)} - 1")

    def place(self, expr: ir.Expr, span: Span) -> tuple | None:
        return (lookup(expr.op), span) if isinstance(expr, ir.Prim) else None

    def inline(self, name: str, expr: ir.Prim, span: Span, depth: int) -> bool:
        """A scalar operation whose primitive has a `python_operator`, as that operator; False where not."""
        prim = lookup(expr.op)
        if prim.python_operator is None or not all(a.type.kind in SCALAR_KINDS for a in expr.args):
            return False
        if prim.evaluator(tuple(a.type for a in expr.args)) is not prim.scalar:
            return False
        args = [self.atom(a) for a in expr.args]
        place = (prim, span)
        op = prim.python_operator
        value = f"{op}{args[0]}" if prim.syntax == "prefix" else f"{args[0]} {op} {args[1]}"
        call = f"{self.evaluator(expr)}({', '.join(args)})"
        if all(a.type.kind == "int" for a in expr.args):
            if "int" in prim.operator_checks:  # the registry's 64-bit check, and its error
                t = self.temp()  # the check calls the registry with the operands, so the target waits
                self.emit(depth, f"{t} = {value}", place)
                self.emit(depth, f"if not {INT_MIN} <= {t} <= {INT_MAX}: {t} = {call}", place)
                self.emit(depth, f"{name} = {t}", place)
                return True
        elif "nan" in prim.operator_checks:
            # A float result goes straight to the target, unless the target is an operand: the error names
            # the operands as they were. Where it is NaN, the registry's function is called to raise it.
            result = self.temp() if name in args else name
            self.emit(depth, f"{result} = {value}", place)
            self.emit(depth, f"if {result} != {result}: {result} = {call}", place)
            if result != name:
                self.emit(depth, f"{name} = {result}", place)
            return True
        self.emit(depth, f"{name} = {value}", place)
        return True

    def inline_array(self, name: str, expr: ir.Prim, span: Span, depth: int) -> bool:
        """`+ - *` with an array operand as numpy's ufunc, where the array is short (`runtime.array_ufunc`); False
        where not."""
        if array_square(expr) and getattr(lookup("pow").evaluator(tuple(a.type for a in expr.args)), "pooled", False):
            base = self.atom(expr.args[0])
            square = self.bind("_u", np.square, self.evaluators, id(np.square))
            call = f"{self.evaluator(expr)}({base}, {self.atom(expr.args[1])}, _pool)"
            self.emit(depth, f"{name} = {square}({base}) if {base}.size < {POOLED} else {call}", (lookup("pow"), span))
            return True
        ufunc = array_ufunc(expr)
        if ufunc is None:
            return False
        arrays = [a for a in expr.args if a.type.is_array]
        checked = lookup(expr.op).evaluator(tuple(a.type for a in expr.args))
        if not getattr(checked, "pooled", False):
            return False
        args = [self.atom(a) for a in expr.args]
        place = (lookup(expr.op), span)
        size = f"{self.atom(arrays[0])}.size < {POOLED}"
        same = f" and {args[0]}.shape == {args[1]}.shape" if len(arrays) == 2 else ""
        call = f"{self.evaluator(expr)}({', '.join(args)}, _pool)"
        result = self.temp() if name in args else name  # the registry's error names the operands as they were
        self.emit(depth, f"if {size}{same}:")
        self.emit(depth + 1, f"{result} = {self.bind('_u', ufunc, self.evaluators, id(ufunc))}({', '.join(args)})",
                  place)
        self.emit(depth + 1, f"if _invalid.seen and _made_nan({result}): {result} = {call}", place)
        self.emit(depth, f"else: {result} = {call}", place)
        if result != name:
            self.emit(depth, f"{name} = {result}")
        return True

    def evaluator(self, expr: ir.Prim) -> str:
        fn = lookup(expr.op).evaluator(tuple(a.type for a in expr.args))
        fn = getattr(fn, "quiet", fn)  # numpy's warnings are off for the whole run (`run_compiled`)
        return self.bind("_p", fn, self.evaluators, id(fn))

    def expression(self, expr: ir.Expr, span: Span, depth: int) -> str:
        """Python for the value of `expr`; statements it needs first (a pop's check, a call's) are emitted."""
        if isinstance(expr, (ir.Var, ir.Const)):
            return self.atom(expr)
        if isinstance(expr, ir.Prim):
            checked = lookup(expr.op).evaluator(tuple(a.type for a in expr.args))
            pool = ["_pool"] if getattr(checked, "pooled", False) else []  # dead arrays to write into
            return f"{self.evaluator(expr)}({', '.join([*(self.atom(a) for a in expr.args), *pool])})"
        if isinstance(expr, ir.CallFn):
            return self.call(expr, span, depth)
        if isinstance(expr, ir.GradOf):
            raise TypeError(UNFINISHED)
        raise RuntimeFault(f"the compiled engine cannot run {type(expr).__name__}", span)

    def call(self, expr: ir.CallFn, span: Span, depth: int) -> str:
        callee = self.program.function(expr.fn)
        if callee is None:
            k = self.tables.index(self.tables.faults, (f"no function '{expr.fn}' in the program", None))
            self.emit(depth, f"raise _fault({k})")
            return "None"
        args = [self.atom(a) for a in expr.args]
        for value, param in zip(args, callee.params):
            self.length_check(depth, value, param.type, f"argument '{param.name}' of {expr.fn}", span)
        self.emit(depth, "_steps = st")
        return f"{self.fn_names[expr.fn]}({', '.join(args)})"

    def add_at_in_place(self, name: str, expr: ir.Prim, span: Span, depth: int) -> None:
        """`d = addto(d, c)` or `w = addat(w, ...)`: in place when nothing else holds the array (the local and
        getrefcount's argument: 2). An element of a vec inline (a scalar loop's case); the rest by
        `runtime.addto_in_place` and `addat_in_place`."""
        value = f"{self.evaluator(expr)}({', '.join(self.atom(a) for a in expr.args)})"
        place = (lookup(expr.op), span)
        if expr.op == "addto" or expr.args[0].type.kind == "mat":
            if expr.op == "addto":
                test = f"_addto_ip({name}, {self.atom(expr.args[1])})"
            else:
                rest = ", ".join(self.atom(a) for a in expr.args[2:])
                test = f"_addat_ip({name}, {self.atom(expr.args[1])}, ({rest},))"
            self.emit(depth, f"if _rc({name}) != 2 or not {test}: {name} = {value}", place)
            return
        i, x = self.atom(expr.args[1]), self.atom(expr.args[2])
        t, total = self.temp(), self.temp()
        self.emit(depth, f"{t} = {i}")
        self.emit(depth, f"if _rc({name}) == 2 and 0 <= {t} < {name}.shape[0]:")
        self.emit(depth + 1, f"{total} = _float({name}[{t}]) + {x}")
        self.emit(depth + 1, f"if {total} != {total}: {name} = {value}", place)  # inf + -inf: the registry's error
        self.emit(depth + 1, f"{name}[{t}] = {total}")
        self.emit(depth, f"else: {name} = {value}", place)
