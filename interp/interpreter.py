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
from dataclasses import field
from operator import itemgetter

import numpy as np

from adlang.interp.events import Event
from adlang.interp.faults import operation_fault
from adlang.interp.notes import kink_note
from adlang.interp.prologue import prologue
from adlang.interp.runtime import (
    DEFAULT_MAX_STEPS,
    DEFAULT_MAX_TAPE,
    EMPTY_TAPE,
    UNFINISHED,
    ArrayPool,
    ProgramCache,
    RunResult,
    TapeCount,
    TraceEntry,
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
)
from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.liveness import Releases, releases
from adlang.ir.primitives import lookup
from adlang.ir.prims_scalar import INVALID, POOLED, made_nan, quiet_off, quiet_on, run_quietly
from adlang.ir.printer import atom as atom_text
from adlang.ir.types import Type
from adlang.lang.errors import DomainError, RuntimeFault
from adlang.lang.record import mutable_record
from adlang.lang.span import Span

Env = dict
Code = Callable[[Env], None]


@mutable_record
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
    tape_lists: list[list] = field(default_factory=list)  # the lists of `tapes`, every tape the program uses
    vec_tapes: set[int] = field(default_factory=set)  # tapes a vec may be pushed on
    count: TapeCount = field(default_factory=TapeCount)
    compiled: dict[str, Callable] = field(default_factory=dict)
    events: list[Event] | None = None
    note: str | None = None
    depth: int = 0
    loops: int = 0
    frame: int = 0
    frames: int = 0
    trips: dict[tuple[int, int, str], int] = field(default_factory=dict)
    pool: ArrayPool = field(default_factory=ArrayPool)  # dead arrays of this run, for `pooled` evaluations

    def __post_init__(self) -> None:
        for fn in self.program.functions:
            for s in ir.walk(fn.body):
                if isinstance(s, ir.Push):
                    self.tape(s.tape)
                    if s.value.type.is_array:
                        self.vec_tapes.add(s.tape)
                elif isinstance(getattr(s, "expr", None), ir.Pop):
                    self.tape(s.expr.tape)

    def start(self, max_steps: int) -> None:
        """A machine taken again for a plain run: counts at zero. Its tapes and pool are empty: every run ends
        with `finish`, one that failed too."""
        self.max_steps = max_steps
        self.steps = 0
        self.count.extra = self.count.peak = 0
        self.trips.clear()
        self.note = None

    def finish(self) -> None:
        """Drop what the tapes and the pool still hold, so an idle machine keeps no arrays alive."""
        for tape in self.tape_lists:
            tape.clear()
        self.pool.clear()

    def tape(self, number: int) -> list:
        if number not in self.tapes:
            self.tapes[number] = []
            self.tape_lists.append(self.tapes[number])
        return self.tapes[number]

    def held(self) -> int:
        """The values on all the tapes now."""
        return sum(map(len, self.tape_lists)) + self.count.extra

    def look_at_peak(self) -> None:
        held = self.held()
        if held > self.count.peak:
            self.count.peak = held

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
        return step_limit(self.max_steps, stmt.span)


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
    if trace or events is not None:
        machine = Machine(program, max_steps, [] if events is None else None, events=events, max_tape=max_tape)
        with run_quietly():  # the registry's `.quiet` evaluations run here (see `Compiler.primitive`)
            _, values = prologue(program, fn_name, args)  # a vec's squares may overflow: quietly
            value = machine.function(fn_name)(*values)
        return _result(machine, value)
    # A plain run reuses an idle machine of the program, its closures built already (taken from the pool while
    # it runs, so two threads never share one). Closures read --max-tape as they were built: one pool per value.
    idle = _IDLE.get(program, _no_machines)
    pool = idle.get(max_tape)
    if pool is None:
        pool = idle.setdefault(max_tape, [])
    try:
        machine = pool.pop()
    except IndexError:
        machine = Machine(program, max_tape=max_tape)
    machine.start(max_steps)
    try:
        quiet = quiet_on()  # run_quietly, without a `with`'s calls
        try:
            _, values = prologue(program, fn_name, args)  # a vec's squares may overflow: quietly
            value = machine.function(fn_name)(*values)
        finally:
            quiet_off(quiet)
        return _result(machine, value)
    finally:
        machine.finish()
        pool.append(machine)


_IDLE = ProgramCache(64)  # per program: {max_tape: [idle machines]}


def _no_machines(program: ir.Program) -> dict:
    return {}


def _result(machine: Machine, value: object) -> RunResult:
    if machine.note is not None and machine.trace:
        last = machine.trace[-1]
        last.note = f"{last.note}; {machine.note}" if last.note else machine.note
    count = machine.count
    if machine.tape_lists:
        machine.look_at_peak()
    elif count.extra > count.peak:  # no tape: what `held` would count, without its calls (issue 15: a short run)
        count.peak = count.extra
    trips = machine.trips  # runtime.RunResult: no empty loops
    trips = {key: n for key, n in trips.items() if n} if trips else {}
    return RunResult(value, machine.steps, machine.trace, count.peak, trips)


class Compiler:
    """Turns IR statements into closures for one machine."""

    def __init__(self, machine: Machine):
        self.m = machine
        self.tracing = machine.trace is not None
        self.recording = machine.events is not None
        self.fn_name = ""
        self.current: ir.Stmt | None = None
        self.pop_only = False  # in a loop that pops but never pushes nor calls: its peak was looked at before it
        self.releases = Releases()

    def function(self, fn: ir.Function) -> Callable:
        self.fn_name = fn.name
        self.pop_only = False
        # A run that neither traces nor records drops each array after its last read (ir/liveness.py).
        self.releases = Releases() if self.tracing or self.recording else releases(fn)
        names = [p.name for p in fn.params]
        body = self.block(fn.body[:-1])
        ret = fn.returned
        getters = [self.getter(a) for a in ret.values]
        single = len(getters) == 1
        ret_types = fn.ret.items if fn.ret.kind == "tuple" else (fn.ret,)
        if any(_has_length(t) for t in ret_types):
            getters = [self.checked(g, t, f"the result of '{fn.name}'", ret.span) for g, t in zip(getters, ret_types)]

        m = self.m
        first = getters[0] if single else None
        # several variables returned, unchecked: one C call makes their tuple (a comprehension is a call more)
        pick = None
        if not single and all(isinstance(a, ir.Var) for a in ret.values) and not any(map(_has_length, ret_types)):
            pick = itemgetter(*[a.name for a in ret.values])

        def call(*values):
            env = dict(zip(names, values))
            body(env)
            m.steps += 1
            if m.steps > m.max_steps:
                raise m.step_limit(ret)
            if single:
                return first(env)
            if pick is not None:
                return pick(env)
            return tuple([g(env) for g in getters])

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
        pairs = [self.statement_and_dead(s) for s in stmts]
        count = len(pairs)
        m = self.m
        if any(dead for _, dead in pairs):
            return self.releasing_block(stmts, pairs)
        codes = [code for code, _ in pairs]

        def run(env):
            m.steps += count
            if m.steps > m.max_steps:
                over = m.steps - m.max_steps
                m.steps -= count
                raise m.step_limit(stmts[count - over])
            for code in codes:
                code(env)

        return run

    def releasing_block(self, stmts: tuple[ir.Stmt, ...], pairs: list[tuple[Code, tuple[str, ...]]]) -> Code:
        """A block whose statements drop arrays after their last read, as `releasing` does, in the block's own
        loop: one closure less to call for each such statement (a vectorised program is mostly these)."""
        count = len(pairs)
        m = self.m
        give, rc, nd, big = m.pool.give, sys.getrefcount, np.ndarray, POOLED
        # (closure, None) or (closure, the names it is the last to read): one test for most statements
        steps = [(code, dead or None) for code, dead in pairs]

        def run(env):
            m.steps += count
            if m.steps > m.max_steps:
                over = m.steps - m.max_steps
                m.steps -= count
                raise m.step_limit(stmts[count - over])
            drop = env.pop
            for code, dead in steps:
                code(env)
                if dead is not None:
                    for name in dead:
                        a = drop(name, None)
                        if a.__class__ is nd and a.size >= big and rc(a) == 2 and poolable(a):
                            give(a)
                    a = None  # the dead array goes now, not when the next one is dropped

        return run

    def statement(self, stmt: ir.Stmt) -> Code:
        """The statement's closure, then the arrays it was the last to read dropped. (One frame per nested block
        here: programs nest blocks 200 deep.)"""
        code, dead = self.statement_and_dead(stmt)
        return code if not dead else self.releasing(code, dead)

    def statement_and_dead(self, stmt: ir.Stmt) -> tuple[Code, tuple[str, ...]]:
        """The statement's closure, and the arrays it is the last to read."""
        self.current = stmt
        if isinstance(stmt, ir.Let) and len(stmt.targets) > 1:
            code = self.destructure(stmt)
        elif isinstance(stmt, (ir.Let, ir.Assign)):
            target = stmt.targets[0] if isinstance(stmt, ir.Let) else stmt.target
            code = self.bind(target, stmt.expr, stmt)
        elif isinstance(stmt, ir.Push):
            code = self.push(stmt)
        elif isinstance(stmt, ir.If):
            code = self.if_(stmt)
        elif isinstance(stmt, (ir.For, ir.While)):
            code = self.loop(stmt)
        else:
            raise RuntimeFault("`return` must be the last statement", stmt.span)
        return code, self.releases.of(stmt)

    def releasing(self, code: Code, dead: tuple[str, ...]) -> Code:
        """The statement, then the arrays it was the last to read dropped (a branch may have dropped one already),
        into the run's pool where nothing else holds them (`a` and getrefcount's argument make 2, once the env's
        reference is gone)."""
        give, rc = self.m.pool.give, sys.getrefcount
        if len(dead) == 1:
            (name,) = dead

            def run1(env):
                code(env)
                a = env.pop(name, None)
                if a.__class__ is np.ndarray and a.size >= POOLED and rc(a) == 2 and poolable(a):
                    give(a)

            return run1

        def run(env):
            code(env)
            for name in dead:
                a = env.pop(name, None)
                if a.__class__ is np.ndarray and a.size >= POOLED and rc(a) == 2 and poolable(a):
                    give(a)

        return run

    def loop(self, stmt: ir.For | ir.While) -> Code:
        """A loop whose body only pops has its tape peak looked at once, before it (the count only falls)."""
        outer = self.pop_only
        first = not outer and pops_only(stmt.body)
        self.pop_only = outer or first
        code = self.for_(stmt) if isinstance(stmt, ir.For) else self.while_(stmt)
        self.pop_only = outer
        if not first:
            return code
        m = self.m

        def run(env):
            m.look_at_peak()
            code(env)

        return run

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
        if isinstance(expr, ir.GradOf):
            raise TypeError(UNFINISHED)
        return self.primitive(expr, span)

    def primitive(self, expr: ir.Prim, span: Span) -> Callable[[Env], object]:
        prim = lookup(expr.op)
        checked = prim.evaluator(tuple(a.type for a in expr.args))
        fn = getattr(checked, "quiet", checked)  # numpy's warnings are off for the whole run (`run_function`)
        extra = (self.m.pool,) if getattr(checked, "pooled", False) else ()  # dead arrays to write into
        args = expr.args

        def fail(err: Exception):
            return operation_fault(prim.describe(), err, span)

        if len(args) == 2 and isinstance(args[0], ir.Var) and isinstance(args[1], ir.Var):
            a, b = args[0].name, args[1].name

            def run2(env):
                try:
                    return fn(env[a], env[b], *extra)
                except (DomainError, ArithmeticError, ValueError) as err:
                    raise fail(err) from None

            return run2
        if len(args) == 2 and isinstance(args[0], ir.Var):
            a, cb = args[0].name, args[1].value

            def run_vc(env):
                try:
                    return fn(env[a], cb, *extra)
                except (DomainError, ArithmeticError, ValueError) as err:
                    raise fail(err) from None

            return run_vc
        if len(args) == 1 and isinstance(args[0], ir.Var):
            a = args[0].name

            def run1(env):
                try:
                    return fn(env[a], *extra)
                except (DomainError, ArithmeticError, ValueError) as err:
                    raise fail(err) from None

            return run1
        getters = [self.getter(x) for x in args]

        def run_n(env):
            try:
                return fn(*[g(env) for g in getters], *extra)
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
        m = self.m
        tape = m.tape(expr.tape)
        take = tape.pop
        count = m.count
        nd = np.ndarray
        look = not self.pop_only  # the peak, before the count falls

        if expr.tape in m.vec_tapes:
            def run(env):
                if look:
                    m.look_at_peak()
                try:
                    value = take()
                except IndexError:
                    raise RuntimeFault(EMPTY_TAPE, span) from None
                if value.__class__ is nd:
                    count.extra -= value.size - 1
                return value
        elif len(m.tape_lists) == 1 and look:
            def run(env):
                held = len(tape) + count.extra
                if held > count.peak:
                    count.peak = held
                try:
                    return take()
                except IndexError:
                    raise RuntimeFault(EMPTY_TAPE, span) from None
        else:
            def run(env):
                if look:
                    m.look_at_peak()
                try:
                    return take()
                except IndexError:
                    raise RuntimeFault(EMPTY_TAPE, span) from None

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
        # `d = addto(d, c)` or `w = addat(w, ...)` without a trace: reverse mode adding up an adjoint, in place
        if not self.tracing and not self.recording and accumulates_in_place(target, expr):
            return self.add_at_in_place(target, expr, span)
        compute = self.evaluate(expr, span)
        if _has_length(target.type):
            compute = self.checked(compute, target.type, f"'{target.name}'", span)
        name = target.name
        if self.recording:
            return self.recorded_bind(name, compute, kink_note(expr), stmt)
        if self.tracing:
            return self.traced_bind(name, compute, kink_note(expr), span)
        if isinstance(expr, ir.Pop) and self.pop_only and expr.tape not in self.m.vec_tapes:
            take = self.m.tape(expr.tape).pop

            def pop_into(env):
                try:
                    env[name] = take()
                except IndexError:
                    raise RuntimeFault(EMPTY_TAPE, span) from None

            return pop_into
        if isinstance(expr, ir.Prim) and not _has_length(target.type):
            fused = self.primitive_into(name, expr, span)
            if fused is not None:
                return fused
        if isinstance(expr, ir.Var) and not _has_length(target.type):
            source = expr.name

            def copy(env):
                env[name] = env[source]

            return copy
        if isinstance(expr, ir.Const) and not _has_length(target.type):
            value = expr.value

            def constant(env):
                env[name] = value

            return constant

        def run(env):
            env[name] = compute(env)

        return run

    def primitive_into(self, name: str, expr: ir.Prim, span: Span) -> Code | None:
        """`name = op(a, b)` of two atoms as one closure (a vectorised program is mostly these, and on short vecs
        each closure called costs a tenth of numpy's work); `+ - *` on short arrays as numpy's ufunc
        (`runtime.array_ufunc`). None for other shapes of expression."""
        args = expr.args
        if len(args) not in (1, 2) or not all(isinstance(a, (ir.Var, ir.Const)) for a in args):
            return None
        prim = lookup(expr.op)
        checked = prim.evaluator(tuple(a.type for a in args))
        fn = getattr(checked, "quiet", checked)
        pooled = getattr(checked, "pooled", False)
        pool = self.m.pool
        catch = (DomainError, ArithmeticError, ValueError)

        def fail(err: Exception):
            return operation_fault(prim.describe(), err, span)

        a_var = isinstance(args[0], ir.Var)
        a = args[0].name if a_var else args[0].value
        if len(args) == 1 and a_var and expr.op in _REDUCTIONS and args[0].type.kind == "vec":
            return self.reduction(name, a, expr.op == "mean", fn, fail)
        if len(args) == 1 and not pooled:

            def run1(env):
                try:
                    env[name] = fn(env[a] if a_var else a)
                except catch as err:
                    raise fail(err) from None

            return run1
        if len(args) == 1:

            def run1_pooled(env):
                try:
                    env[name] = fn(env[a] if a_var else a, pool)
                except catch as err:
                    raise fail(err) from None

            return run1_pooled
        b_var = isinstance(args[1], ir.Var)
        b = args[1].name if b_var else args[1].value
        if pooled and a_var and array_square(expr):
            square = np.square

            def run_square(env):
                x = env[a]
                try:
                    env[name] = square(x) if x.size < POOLED else fn(x, b, pool)
                except catch as err:
                    raise fail(err) from None

            return run_square
        ufunc = array_ufunc(expr) if pooled else None
        if ufunc is None and not pooled:

            def run2(env):
                try:
                    env[name] = fn(env[a] if a_var else a, env[b] if b_var else b)
                except catch as err:
                    raise fail(err) from None

            return run2
        if ufunc is None:

            def run2_pooled(env):
                try:
                    env[name] = fn(env[a] if a_var else a, env[b] if b_var else b, pool)
                except catch as err:
                    raise fail(err) from None

            return run2_pooled
        first_array = args[0].type.is_array
        both = args[0].type.is_array and args[1].type.is_array
        invalid = INVALID
        if both and a_var and b_var:  # the common shapes without the general closure's tests

            def run_arrays(env):
                x, y = env[a], env[b]
                try:
                    if x.size < POOLED and x.shape == y.shape:
                        r = ufunc(x, y)
                        if invalid.seen and made_nan(r):
                            r = fn(x, y, pool)
                    else:
                        r = fn(x, y, pool)
                except catch as err:
                    raise fail(err) from None
                env[name] = r

            return run_arrays
        number = _as_float64(a) if not a_var else None  # a constant operand as numpy's float, made once
        if not both and b_var and not first_array:

            def run_scalar_array(env):
                x = env[a] if a_var else a
                y = env[b]
                try:
                    if y.size < POOLED:
                        r = ufunc(x if a_var else number, y)
                        if invalid.seen and made_nan(r):
                            r = fn(x, y, pool)
                    else:
                        r = fn(x, y, pool)
                except catch as err:
                    raise fail(err) from None
                env[name] = r

            return run_scalar_array
        if not both and a_var and first_array:

            number = _as_float64(b) if not b_var else None

            def run_array_scalar(env):
                x = env[a]
                y = env[b] if b_var else b
                try:
                    if x.size < POOLED:
                        r = ufunc(x, y if b_var else number)
                        if invalid.seen and made_nan(r):
                            r = fn(x, y, pool)
                    else:
                        r = fn(x, y, pool)
                except catch as err:
                    raise fail(err) from None
                env[name] = r

            return run_array_scalar

        def run_ufunc(env):
            x = env[a] if a_var else a
            y = env[b] if b_var else b
            try:
                if (x if first_array else y).size < POOLED and (not both or x.shape == y.shape):
                    r = ufunc(x, y)
                    if INVALID.seen and made_nan(r):
                        r = fn(x, y, pool)
                else:
                    r = fn(x, y, pool)
            except catch as err:
                raise fail(err) from None
            env[name] = r

        return run_ufunc

    def reduction(self, name: str, a: str, mean: bool, fn: Callable, fail: Callable) -> Code:
        """`name = sum(a)` or `mean(a)` of a vec: numpy's `add.reduce` called here, as the registry's `_sum` and
        `_mean` call it (axis=None, which on one axis is the same pairwise sum, bit for bit), without their
        frame; the registry's function only for an empty vec's mean or a NaN, to raise its error."""
        add = np.add.reduce
        catch = (DomainError, ArithmeticError, ValueError)

        if mean:

            def run_mean(env):
                x = env[a]
                size = x.size
                if size:
                    r = float(add(x)) / size
                    if r == r:
                        env[name] = r
                        return
                try:
                    env[name] = fn(x)
                except catch as err:
                    raise fail(err) from None

            return run_mean

        def run_sum(env):
            x = env[a]
            r = float(add(x))
            if r == r:
                env[name] = r
                return
            try:
                env[name] = fn(x)
            except catch as err:
                raise fail(err) from None

        return run_sum

    def traced_bind(self, name: str, compute: Callable, note: Callable | None, span: Span) -> Code:
        """A binding that appends to the trace; a temporary's note waits for the next traced binding."""
        m = self.m
        trace = m.trace
        line = span.line
        if naming.is_temp(name):
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

    def add_at_in_place(self, target: ir.Var, expr: ir.Prim, span: Span) -> Code:
        """Arrays are values, so one is changed in place only when nothing else holds it.

        CPython's reference count tells: the env, the local and getrefcount's argument make 3;
        more means a copy, the tape or another variable shares it, and the pure copy runs instead.
        An element of a vec is added here (the scalar loop's case, where a call would cost more than
        the addition); the rest by `runtime.addto_in_place` and `addat_in_place`.
        """
        name = target.name
        copy_and_add = self.evaluate(expr, span)
        if expr.op == "addto":
            get_other = self.getter(expr.args[1])

            def add_to(env):
                d = env[name]
                if sys.getrefcount(d) == 3 and addto_in_place(d, get_other(env)):
                    return
                del d
                env[name] = copy_and_add(env)

            return add_to
        if target.type.kind == "mat":
            getters = [self.getter(a) for a in expr.args[1:]]

            def add_at_mat(env):
                w = env[name]
                if sys.getrefcount(w) == 3 and addat_in_place(w, getters[0](env), [g(env) for g in getters[1:]]):
                    return
                del w
                env[name] = copy_and_add(env)

            return add_at_mat
        get_index, get_value = self.getter(expr.args[1]), self.getter(expr.args[2])

        def run(env):
            w = env[name]
            i = get_index(env)
            if sys.getrefcount(w) == 3 and 0 <= i < w.shape[0]:
                total = float(w[i]) + get_value(env)
                if total == total:  # else inf + -inf: the copy raises the registry's error
                    w[i] = total
                    return
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
                elif trace is not None and not naming.is_temp(name):
                    trace.append(TraceEntry(name, value, line, stmt.span, m.take_note() if m.note else None))

        return run

    def push(self, stmt: ir.Push) -> Code:
        get = self.getter(stmt.value)
        m = self.m
        tape = m.tape(stmt.tape)
        append = tape.append
        count = m.count
        nd = np.ndarray

        if stmt.value.type.is_array:
            def run(env):
                value = get(env)
                append(value)
                if value.__class__ is nd:
                    count.extra += value.size - 1
                if m.held() > m.max_tape:
                    raise m.tape_limit(stmt)
        elif len(m.tape_lists) == 1 and not m.vec_tapes:
            limit = m.max_tape
            if isinstance(stmt.value, ir.Var):
                name = stmt.value.name

                def run(env):
                    append(env[name])
                    if len(tape) > limit:
                        raise m.tape_limit(stmt)
            else:
                def run(env):
                    append(get(env))
                    if len(tape) > limit:
                        raise m.tape_limit(stmt)
        else:
            def run(env):
                append(get(env))
                if m.held() > m.max_tape:
                    raise m.tape_limit(stmt)

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
        name = stmt.var.name
        m = self.m
        trace = m.trace
        line = stmt.span.line
        trips, key = m.trips, loop_key(stmt)
        if trace is None and not self.recording:
            return self.plain_for(stmt, start, stop)
        body = self.block(stmt.body)
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

    def plain_for(self, stmt: ir.For, start: Callable, stop: Callable) -> Code:
        """A loop without trace or recording: a trip and its body's statements are counted at once, and the
        error of crossing the step limit names what the interpreter would have stopped at one by one."""
        codes = [self.statement(s) for s in stmt.body]
        stmts = stmt.body
        count = len(codes)
        per_trip = count + 1
        name = stmt.var.name
        m = self.m
        trips, key = m.trips, loop_key(stmt)

        def over_limit() -> RuntimeFault:
            over = m.steps - m.max_steps
            if over > count:  # the trip itself crossed it
                m.steps -= count
                return m.step_limit(stmt)
            m.steps -= count
            return m.step_limit(stmts[count - over])

        if count == 1:
            (code,) = codes

            def run(env):
                span = range(start(env), stop(env))
                trips[key] = trips.get(key, 0) + len(span)
                for i in span:
                    m.steps += per_trip
                    if m.steps > m.max_steps:
                        raise over_limit()
                    env[name] = i
                    code(env)

            return run
        if count == 2:
            c1, c2 = codes

            def run(env):
                span = range(start(env), stop(env))
                trips[key] = trips.get(key, 0) + len(span)
                for i in span:
                    m.steps += per_trip
                    if m.steps > m.max_steps:
                        raise over_limit()
                    env[name] = i
                    c1(env)
                    c2(env)

            return run
        if count == 3:
            c1, c2, c3 = codes

            def run(env):
                span = range(start(env), stop(env))
                trips[key] = trips.get(key, 0) + len(span)
                for i in span:
                    m.steps += per_trip
                    if m.steps > m.max_steps:
                        raise over_limit()
                    env[name] = i
                    c1(env)
                    c2(env)
                    c3(env)

            return run
        if count == 4:
            c1, c2, c3, c4 = codes

            def run(env):
                span = range(start(env), stop(env))
                trips[key] = trips.get(key, 0) + len(span)
                for i in span:
                    m.steps += per_trip
                    if m.steps > m.max_steps:
                        raise over_limit()
                    env[name] = i
                    c1(env)
                    c2(env)
                    c3(env)
                    c4(env)

            return run

        def run(env):
            span = range(start(env), stop(env))
            trips[key] = trips.get(key, 0) + len(span)
            for i in span:
                m.steps += per_trip
                if m.steps > m.max_steps:
                    raise over_limit()
                env[name] = i
                for code in codes:
                    code(env)

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


def _has_length(type_: Type) -> bool:
    """A vec(N) or a mat(R, C): a value bound to it has its length or shape checked."""
    return (type_.kind == "vec" and type_.length is not None) or type_.shape is not None


_REDUCTIONS = ("sum", "mean")  # of a vec: see `Compiler.reduction`
_FLOAT64 = np.float64
_EXACT = 2**53  # ints of at most this size are floats exactly: numpy's cast of a Python int gives the same float


def _as_float64(x: object) -> object:
    """A constant operand as numpy's float64, for a ufunc on a short array: the same float, so the same result
    bit for bit (numpy casts a Python number to the array's float64 anyway), without numpy's conversion of a
    Python int on every run (`2 * v`, as reverse mode writes it: 0.07 µs of 0.7). A Python float converts as
    fast as numpy's own, so a variable stays as it is."""
    cls = x.__class__
    if cls is float or (cls is int and -_EXACT <= x <= _EXACT):
        return _FLOAT64(x)
    return x
