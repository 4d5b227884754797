"""A run as straight-line code: the lecture's Wengert list, every binding a variable of its own.

The interpreter records one event per binding, each with the statement that
ran. Read in order, the bindings of the function's own frame (not those inside
the functions it calls) become a function without loops or branches: `accum =
accum * y` on trip 3 becomes `let accum_3 = accum_5 * y_2`, each operand read
through a copy of its own (`let accum_5 = accum_2`, `let y_2 = y`), so that
the copy's adjoint is what that one use sends back (the lecture's x1 = x2 =
x); a loop variable becomes a constant, and a value popped from the tape is the variable that was
pushed (so the data flow goes through the tape). It computes the same value
as the run, and every derivative pass applies to it, so each binding gets a
tangent or adjoint of its own: the values a picture of the unrolled
computation shows beside each node (adlang/graph.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from adlang.interp.events import Event
from adlang.interp.interpreter import run_function
from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.naming import Namer, function_namer
from adlang.ir.types import INT


@dataclass(frozen=True)
class Binding:
    """One binding the run made in the function's own frame.

    `stmt` is the program's statement that ran (a `For` binds its loop variable); `names` are the variables it
    bound and `unrolled` their names in the straight-line function; `reads` the straight-line names of the
    variables it read, one per operand (a value used twice is read twice), and `uses` the copy each operand
    reads it through (the lecture's x1 = x2 = x: the adjoint of a copy is what that one use sends back);
    `popped` is the name a value taken from the tape was pushed as; `loops` counts the loops around it.
    """

    stmt: ir.Stmt
    names: tuple[str, ...]
    unrolled: tuple[str, ...]
    values: tuple[object, ...]
    reads: tuple[str, ...]
    uses: tuple[str, ...]
    popped: str | None
    loops: int


@dataclass(frozen=True)
class Unrolled:
    """The straight-line function (named by naming.UNROLLED, beside the program's functions), the run's bindings
    in order, what the return statement read and the value it returned."""

    function: ir.Function
    bindings: tuple[Binding, ...]
    returned: tuple[str, ...]
    value: object


def record(program: ir.Program, fn_name: str, args: dict[str, object], max_steps: int) -> list[Event]:
    """The events of one recorded run of a finished program."""
    events: list[Event] = []
    run_function(program, fn_name, args, max_steps=max_steps, events=events)
    return events


def unroll(program: ir.Program, fn_name: str, events: list[Event]) -> Unrolled:
    """The run recorded in `events` (of `fn_name` in the finished `program`) as straight-line code."""
    return _Unroller(program, program.function(fn_name)).run(events)


class _Unroller:
    def __init__(self, program: ir.Program, fn: ir.Function):
        self.program = program
        self.fn = fn
        self.names = Namer(ir.names_in(fn))
        self.current: dict[str, ir.Var] = {p.name: p for p in fn.params}  # each variable's latest binding
        self.first = set(self.current)  # the variables bound once already: the first keeps its name
        self.tapes: dict[int, list[ir.Atom]] = {}
        self.body: list[ir.Stmt] = []
        self.bindings: list[Binding] = []

    def run(self, events: list[Event]) -> Unrolled:
        frame = events[0].frame
        own = [e for e in events if e.frame == frame and e.kind in ("bind", "push", "return")]
        value = None
        k = 0
        while k < len(own):
            event = own[k]
            k += 1
            if event.kind == "push":
                self.tapes.setdefault(event.stmt.tape, []).append(self.read(event.stmt.value))
            elif event.kind == "return":
                value = event.value
            else:
                k += self.binding(event, own[k:])
        fn = self.fn
        values = tuple(self.read(v) for v in fn.returned.values)
        returned = tuple(a.name for a in values if isinstance(a, ir.Var))
        self.body.append(ir.Return(values, fn.returned.span))
        name = function_namer(self.program.names).name(naming.role(fn.name, naming.UNROLLED))
        function = ir.Function(name, fn.params, fn.ret, tuple(self.body), fn.span)
        return Unrolled(function, tuple(self.bindings), returned, value)

    def read(self, atom: ir.Atom) -> ir.Atom:
        return self.current[atom.name] if isinstance(atom, ir.Var) else atom

    def binding(self, event: Event, following: list[Event]) -> int:
        """One binding (a call's several targets are as many events: the ones after it it takes)."""
        stmt = event.stmt
        popped = None
        reads: list[str] = []
        uses: list[str] = []
        if isinstance(stmt, ir.For):
            targets, expr, values = (stmt.var,), ir.Const(event.value, INT), (event.value,)
        else:
            targets = stmt.targets if isinstance(stmt, ir.Let) else (stmt.target,)
            values = (event.value,) + tuple(e.value for e in following[:len(targets) - 1])
            if isinstance(stmt.expr, ir.Pop):
                expr = self.tapes[stmt.expr.tape].pop()
                popped = expr.name if isinstance(expr, ir.Var) else None
            else:
                expr = _renamed(stmt.expr, lambda a: self.use(a, stmt.span, reads, uses))
        news = tuple(self.fresh(t) for t in targets)
        self.body.append(ir.Let(news, expr, stmt.span))
        self.current.update({t.name: new for t, new in zip(targets, news)})
        self.bindings.append(Binding(stmt, tuple(t.name for t in targets), tuple(n.name for n in news), values,
                                     tuple(reads), tuple(uses), popped, event.loops))
        return len(targets) - 1

    def use(self, atom: ir.Atom, span, reads: list[str], uses: list[str]) -> ir.Atom:
        """An operand read through a copy of its own (the lecture's x1 = x2 = x)."""
        if not isinstance(atom, ir.Var):
            return atom
        source = self.current[atom.name]
        copy = ir.Var(self.names.name(atom.name), source.type)
        self.body.append(ir.Let((copy,), source, span))
        reads.append(source.name)
        uses.append(copy.name)
        return copy

    def fresh(self, var: ir.Var) -> ir.Var:
        if var.name in self.first:
            return ir.Var(self.names.name(var.name), var.type)
        self.first.add(var.name)
        return var


def _renamed(expr: ir.Expr, read) -> ir.Expr:
    if isinstance(expr, (ir.Var, ir.Const)):
        return read(expr)
    if isinstance(expr, ir.Prim):
        return ir.Prim(expr.op, tuple(read(a) for a in expr.args))
    if isinstance(expr, ir.CallFn):
        return ir.CallFn(expr.fn, tuple(read(a) for a in expr.args))
    return expr
