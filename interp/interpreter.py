"""A tree-walking interpreter over the IR.

Each function is turned once into a tree of Python closures, one per
statement, that read and write a dict of variables; running is then walking
that tree. Tracing builds other closures, and so does recording (every
binding, tape push and pop, call and return appended to a list of events, for
the REPL's stepper), so a run without either pays nothing for them. Steps
are counted a block at a time and checked against the limit there, pointing
at the exact statement that crossed it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from adlang.errors import DomainError, RuntimeFault, Span
from adlang.interp.events import Event
from adlang.interp.notes import kink_note
from adlang.ir import nodes as ir
from adlang.ir.grads import expand_grads
from adlang.ir.primitives import lookup
from adlang.ir.printer import atom as atom_text
from adlang.ir.types import Type

DEFAULT_MAX_STEPS = 100_000_000
DEFAULT_MAX_TAPE = 50_000_000  # values held on the tapes at once (a vec counts its length): about 2 GB

Env = dict
Code = Callable[[Env], None]


@dataclass
class TraceEntry:
    name: str
    value: object
    line: int
    span: Span | None = None
    note: str | None = None


@dataclass
class RunResult:
    value: object
    steps: int
    trace: list[TraceEntry] | None = None
    tape_peak: int = 0
    loop_trips: dict[tuple[int, int, str], int] = field(default_factory=dict)


class TapeCount:
    """How many values the tapes hold now and at most (all tapes together; a vec counts its length)."""

    __slots__ = ("held", "peak")

    def __init__(self) -> None:
        self.held = 0
        self.peak = 0


def tape_size(value: object) -> int:
    """The values one tape entry holds: a vec its length, a float, int or bool 1."""
    return value.size if value.__class__ is np.ndarray else 1


@dataclass
class Machine:
    """The state of one run: step count and limit, the tapes and their count, the trace or the events if asked for.

    `note` holds a convention note of a temporary (left out of the trace) until
    the next traced binding takes it; `depth`, `loops` and `frame` place events.
    """

    program: ir.Program
    max_steps: int = DEFAULT_MAX_STEPS
    trace: list[TraceEntry] | None = None
    steps: int = 0
    max_tape: int = DEFAULT_MAX_TAPE
    tapes: dict[int, list] = field(default_factory=dict)
    count: TapeCount = field(default_factory=TapeCount)
    compiled: dict[str, Callable] = field(default_factory=dict)
    events: list[Event] | None = None
    note: str | None = None
    depth: int = 0
    loops: int = 0
    frame: int = 0
    frames: int = 0
    trips: dict[tuple[int, int, str], int] = field(default_factory=dict)

    def tape(self, number: int) -> list:
        return self.tapes.setdefault(number, [])

    def take_note(self, own: str | None = None) -> str | None:
        """A pending note of a temporary joined with the binding's own note."""
        pending, self.note = self.note, None
        if pending is None:
            return own
        return pending if own is None else f"{pending}; {own}"

    def event(self, kind: str, name: str, value: object, stmt: ir.Stmt | None, function: str, tape: int = 0,
              note: str | None = None) -> None:
        self.events.append(Event(kind, name, value, stmt, function, self.frame, self.depth, self.loops, tape, note))

    def function(self, name: str) -> Callable:
        code = self.compiled.get(name)
        if code is None:
            fn = self.program.function(name)
            if fn is None:
                raise RuntimeFault(f"no function '{name}' in the program")
            code = Compiler(self).function(fn)
            self.compiled[name] = code
        return code

    def tape_limit(self, stmt: ir.Stmt) -> RuntimeFault:
        return tape_limit(self.max_tape, stmt)

    def step_limit(self, stmt: ir.Stmt) -> RuntimeFault:
        return RuntimeFault(
            f"the program ran past the step limit of {self.max_steps:,} statements; "
            "a loop may not end (raise it with --max-steps N)",
            stmt.span,
        )


def run_function(
    program: ir.Program,
    fn_name: str,
    args: dict[str, object],
    *,
    trace: bool = False,
    max_steps: int = DEFAULT_MAX_STEPS,
    events: list[Event] | None = None,
    max_tape: int = DEFAULT_MAX_TAPE,
) -> RunResult:
    """Run one function of a checked program on argument values given by name.

    With `events` (a list the caller keeps, so it survives an error) the run
    records into it instead of tracing.
    """
    program = expand_grads(program)
    machine = Machine(program, max_steps, [] if trace and events is None else None, events=events,
                      max_tape=max_tape)
    fn = program.function(fn_name)
    if fn is None:
        raise RuntimeFault(f"no function '{fn_name}' in the program")
    values = [args[p.name] for p in fn.params]
    for param, value in zip(fn.params, values):
        check_length(param.type, value, f"argument '{param.name}'", fn.span)
    value = machine.function(fn_name)(*values)
    if machine.note is not None and machine.trace:
        last = machine.trace[-1]
        last.note = f"{last.note}; {machine.note}" if last.note else machine.note
    return RunResult(value, machine.steps, machine.trace, machine.count.peak, machine.trips)


def check_length(type_: Type, value: object, what: str, span: Span | None) -> None:
    """A `vec` value where a `vec(N)` is expected has its length checked when it runs (spec: Types)."""
    if type_.kind == "vec" and type_.length is not None and len(value) != type_.length:
        raise RuntimeFault(f"{what} is a {type_}, but this vec has length {len(value)}", span)


class Compiler:
    """Turns IR statements into closures for one machine."""

    def __init__(self, machine: Machine):
        self.m = machine
        self.tracing = machine.trace is not None
        self.recording = machine.events is not None
        self.fn_name = ""
        self.current: ir.Stmt | None = None

    def function(self, fn: ir.Function) -> Callable:
        self.fn_name = fn.name
        names = [p.name for p in fn.params]
        body = self.block(fn.body[:-1])
        ret = fn.returned
        getters = [self.getter(a) for a in ret.values]
        single = len(getters) == 1
        ret_types = fn.ret.items if fn.ret.kind == "tuple" else (fn.ret,)
        if any(_has_length(t) for t in ret_types):
            getters = [self.checked(g, t, f"the result of '{fn.name}'", ret.span) for g, t in zip(getters, ret_types)]

        def call(*values):
            env = dict(zip(names, values))
            body(env)
            self.m.steps += 1
            if self.m.steps > self.m.max_steps:
                raise self.m.step_limit(ret)
            if single:
                return getters[0](env)
            return tuple(g(env) for g in getters)

        return self.recorded_call(fn, names, call) if self.recording else call

    def recorded_call(self, fn: ir.Function, names: list[str], call: Callable) -> Callable:
        """The call between a "call" event (in a new frame) and a "return" event."""
        m = self.m

        def run(*values):
            caller = m.frame
            m.frames += 1
            m.frame = m.frames
            m.event("call", fn.name, dict(zip(names, values)), None, fn.name)
            m.depth += 1
            value = call(*values)
            m.depth -= 1
            m.event("return", fn.name, value, fn.returned, fn.name)
            m.frame = caller
            return value

        return run

    def checked(self, get: Callable[[Env], object], type_: Type, what: str, span: Span) -> Callable[[Env], object]:
        """`get` followed by the length check of a `vec(N)` (only built where the type has a length)."""

        def run(env):
            value = get(env)
            check_length(type_, value, what, span)
            return value

        return run

    # ------------------------------------------------------------ blocks and statements

    def block(self, stmts: tuple[ir.Stmt, ...]) -> Code:
        codes = [self.statement(s) for s in stmts]
        count = len(codes)
        m = self.m

        def run(env):
            m.steps += count
            if m.steps > m.max_steps:
                over = m.steps - m.max_steps
                m.steps -= count
                raise m.step_limit(stmts[count - over])
            for code in codes:
                code(env)

        return run

    def statement(self, stmt: ir.Stmt) -> Code:
        self.current = stmt
        if isinstance(stmt, ir.Let) and len(stmt.targets) > 1:
            return self.destructure(stmt)
        if isinstance(stmt, (ir.Let, ir.Assign)):
            target = stmt.targets[0] if isinstance(stmt, ir.Let) else stmt.target
            return self.bind(target, stmt.expr, stmt)
        if isinstance(stmt, ir.Push):
            return self.push(stmt)
        if isinstance(stmt, ir.If):
            return self.if_(stmt)
        if isinstance(stmt, ir.For):
            return self.for_(stmt)
        if isinstance(stmt, ir.While):
            return self.while_(stmt)
        raise RuntimeFault("`return` must be the last statement", stmt.span)

    def getter(self, a: ir.Atom) -> Callable[[Env], object]:
        if isinstance(a, ir.Const):
            value = a.value
            return lambda env: value
        name = a.name
        return lambda env: env[name]

    def evaluate(self, expr: ir.Expr, span: Span) -> Callable[[Env], object]:
        """A closure computing an expression; domain errors become runtime errors at `span`."""
        if isinstance(expr, (ir.Var, ir.Const)):
            return self.getter(expr)
        if isinstance(expr, ir.Pop):
            return self.pop(expr, span)
        if isinstance(expr, ir.CallFn):
            return self.call(expr, span)
        return self.primitive(expr, span)

    def primitive(self, expr: ir.Prim, span: Span) -> Callable[[Env], object]:
        prim = lookup(expr.op)
        fn = prim.evaluator(tuple(a.type for a in expr.args))
        args = expr.args

        def fail(err: Exception):
            return RuntimeFault(str(err) if isinstance(err, DomainError) else f"{prim.describe()}: {err}", span)

        if len(args) == 2 and isinstance(args[0], ir.Var) and isinstance(args[1], ir.Var):
            a, b = args[0].name, args[1].name

            def run2(env):
                try:
                    return fn(env[a], env[b])
                except (DomainError, ArithmeticError, ValueError) as err:
                    raise fail(err) from None

            return run2
        if len(args) == 2 and isinstance(args[0], ir.Var):
            a, cb = args[0].name, args[1].value

            def run_vc(env):
                try:
                    return fn(env[a], cb)
                except (DomainError, ArithmeticError, ValueError) as err:
                    raise fail(err) from None

            return run_vc
        if len(args) == 1 and isinstance(args[0], ir.Var):
            a = args[0].name

            def run1(env):
                try:
                    return fn(env[a])
                except (DomainError, ArithmeticError, ValueError) as err:
                    raise fail(err) from None

            return run1
        getters = [self.getter(x) for x in args]

        def run_n(env):
            try:
                return fn(*[g(env) for g in getters])
            except (DomainError, ArithmeticError, ValueError) as err:
                raise fail(err) from None

        return run_n

    def call(self, expr: ir.CallFn, span: Span) -> Callable[[Env], object]:
        getters = [self.getter(a) for a in expr.args]
        callee = self.m.program.function(expr.fn)
        if callee is not None:
            getters = [
                self.checked(g, p.type, f"argument '{p.name}' of {expr.fn}", span) if _has_length(p.type) else g
                for g, p in zip(getters, callee.params)
            ]
        m = self.m
        name = expr.fn

        def run(env):
            return m.function(name)(*[g(env) for g in getters])

        return run

    def pop(self, expr: ir.Pop, span: Span) -> Callable[[Env], object]:
        tape = self.m.tape(expr.tape)
        count = self.m.count
        nd = np.ndarray

        def run(env):
            try:
                value = tape.pop()
            except IndexError:
                raise RuntimeFault("pop() on an empty tape: every pop needs a push before it", span) from None
            count.held -= value.size if value.__class__ is nd else 1
            return value

        if not self.recording:
            return run
        m, number, stmt, fn_name = self.m, expr.tape, self.current, self.fn_name

        def recorded(env):
            value = run(env)
            m.event("pop", f"tape {number}", value, stmt, fn_name, number)
            return value

        return recorded

    def bind(self, target: ir.Var, expr: ir.Expr, stmt: ir.Stmt) -> Code:
        span = stmt.span
        if self.updates_in_place(target, expr):
            return self.add_at_in_place(target, expr, span)
        compute = self.evaluate(expr, span)
        if _has_length(target.type):
            compute = self.checked(compute, target.type, f"'{target.name}'", span)
        name = target.name
        if self.recording:
            return self.recorded_bind(name, compute, kink_note(expr), stmt)
        if self.tracing:
            return self.traced_bind(name, compute, kink_note(expr), span)

        def run(env):
            env[name] = compute(env)

        return run

    def traced_bind(self, name: str, compute: Callable, note: Callable | None, span: Span) -> Code:
        """A binding that appends to the trace; a temporary's note waits for the next traced binding."""
        m = self.m
        trace = m.trace
        line = span.line
        if ir.is_temp(name):
            if note is None:

                def run(env):
                    env[name] = compute(env)

                return run

            def pending(env):
                text = note(env)
                env[name] = compute(env)
                if text is not None:
                    m.note = m.take_note(text)

            return pending
        if note is None:

            def traced(env):
                value = env[name] = compute(env)
                trace.append(TraceEntry(name, value, line, span, m.take_note() if m.note else None))

            return traced

        def noted(env):
            text = note(env)
            value = env[name] = compute(env)
            trace.append(TraceEntry(name, value, line, span, m.take_note(text)))

        return noted

    def recorded_bind(self, name: str, compute: Callable, note: Callable | None, stmt: ir.Stmt) -> Code:
        m, fn_name = self.m, self.fn_name

        def recorded(env):
            text = note(env) if note is not None else None
            value = env[name] = compute(env)
            m.event("bind", name, value, stmt, fn_name, note=text)

        return recorded

    def updates_in_place(self, target: ir.Var, expr: ir.Expr) -> bool:
        """`w = addat(w, i, x)` without a trace: the scatter-add of reverse mode, worth doing in place."""
        return (
            not self.tracing
            and not self.recording
            and isinstance(expr, ir.Prim)
            and expr.op == "addat"
            and isinstance(expr.args[0], ir.Var)
            and expr.args[0].name == target.name
            and not _has_length(target.type)
        )

    def add_at_in_place(self, target: ir.Var, expr: ir.Prim, span: Span) -> Code:
        """Vecs are values, so the array is changed in place only when nothing else holds it.

        CPython's reference count tells: the env, the local and getrefcount's argument make 3;
        more means a copy, the tape or another variable shares it, and the pure copy runs instead.
        """
        name = target.name
        get_index, get_value = self.getter(expr.args[1]), self.getter(expr.args[2])
        copy_and_add = self.evaluate(expr, span)

        def run(env):
            w = env[name]
            i = get_index(env)
            if sys.getrefcount(w) == 3 and 0 <= i < w.shape[0]:
                w[i] += get_value(env)
            else:
                del w
                env[name] = copy_and_add(env)

        return run

    def destructure(self, stmt: ir.Let) -> Code:
        compute = self.evaluate(stmt.expr, stmt.span)
        names = [t.name for t in stmt.targets]
        m = self.m
        trace = m.trace
        line = stmt.span.line
        fn_name = self.fn_name
        recording = self.recording

        def run(env):
            values = compute(env)
            for name, value in zip(names, values):
                env[name] = value
                if recording:
                    m.event("bind", name, value, stmt, fn_name)
                elif trace is not None and not ir.is_temp(name):
                    trace.append(TraceEntry(name, value, line, stmt.span, m.take_note() if m.note else None))

        return run

    def push(self, stmt: ir.Push) -> Code:
        get = self.getter(stmt.value)
        tape = self.m.tape(stmt.tape)
        count = self.m.count
        nd = np.ndarray
        m = self.m

        def run(env):
            value = get(env)
            tape.append(value)
            held = count.held = count.held + (value.size if value.__class__ is nd else 1)
            if held > count.peak:
                count.peak = held
                if held > m.max_tape:
                    raise m.tape_limit(stmt)

        def run_scalar(env):
            tape.append(get(env))
            held = count.held = count.held + 1
            if held > count.peak:
                count.peak = held
                if held > m.max_tape:
                    raise m.tape_limit(stmt)

        if stmt.value.type.kind != "vec":
            run = run_scalar

        if not self.recording:
            return run
        m, number, fn_name, what = self.m, stmt.tape, self.fn_name, atom_text(stmt.value)

        def recorded(env):
            run(env)
            m.event("push", what, tape[-1], stmt, fn_name, number)

        return recorded

    def if_(self, stmt: ir.If) -> Code:
        cond = self.getter(stmt.cond)
        then = self.block(stmt.then)
        orelse = self.block(stmt.orelse)

        def run(env):
            if cond(env):
                then(env)
            else:
                orelse(env)

        return run

    def for_(self, stmt: ir.For) -> Code:
        start, stop = self.getter(stmt.start), self.getter(stmt.stop)
        body = self.block(stmt.body)
        name = stmt.var.name
        m = self.m
        trace = m.trace
        line = stmt.span.line
        trips, key = m.trips, loop_key(stmt)
        if self.recording:
            return self.recorded_for(stmt, start, stop, body)

        def run(env):
            span = range(start(env), stop(env))
            trips[key] = trips.get(key, 0) + len(span)
            for i in span:
                m.steps += 1
                if m.steps > m.max_steps:
                    raise m.step_limit(stmt)
                env[name] = i
                if trace is not None:
                    trace.append(TraceEntry(name, i, line, stmt.span, m.take_note() if m.note else None))
                body(env)

        return run

    def recorded_for(self, stmt: ir.For, start: Callable, stop: Callable, body: Code) -> Code:
        """The loop variable is recorded inside the loop, one level deeper, so `over` skips the whole loop."""
        name, m, fn_name = stmt.var.name, self.m, self.fn_name

        trips, key = m.trips, loop_key(stmt)

        def run(env):
            span = range(start(env), stop(env))
            trips[key] = trips.get(key, 0) + len(span)
            m.loops += 1
            for i in span:
                m.steps += 1
                if m.steps > m.max_steps:
                    raise m.step_limit(stmt)
                env[name] = i
                m.event("bind", name, i, stmt, fn_name)
                body(env)
            m.loops -= 1

        return run

    def while_(self, stmt: ir.While) -> Code:
        cond = self.getter(stmt.cond)
        body = self.block(stmt.body)
        m = self.m
        trips, key = m.trips, loop_key(stmt)

        def run(env):
            count = 0
            while cond(env):
                m.steps += 1
                if m.steps > m.max_steps:
                    raise m.step_limit(stmt)
                count += 1
                body(env)
            trips[key] = trips.get(key, 0) + count

        if not self.recording:
            return run

        def recorded(env):
            m.loops += 1
            run(env)
            m.loops -= 1

        return recorded


def tape_limit(max_tape: int, stmt: ir.Stmt) -> RuntimeFault:
    """The error of a push past --max-tape: what fills the tape, and the two ways out."""
    return RuntimeFault(
        f"the tapes would hold more than {max_tape:,} values (reverse mode saves what each loop iteration "
        "overwrites); checkpoint the loop with --checkpoint sqrt or revolve:S, or raise the limit with --max-tape N",
        stmt.span,
    )


def loop_key(loop: ir.For | ir.While) -> tuple[int, int, str]:
    """Counts of loop iterations are kept by source loop and by role (see `Span.role`)."""
    return loop.span.line, loop.span.col, loop.span.role


def _has_length(type_: Type) -> bool:
    return type_.kind == "vec" and type_.length is not None
