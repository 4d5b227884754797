"""The typed IR: every intermediate value named, every value typed, control flow structured.

A function body is a tuple of statements. Each statement does one thing: binds
(`Let`) or updates (`Assign`) variables with one expression whose operands are
atoms (variables or constants), pushes onto or pops from the tape, or holds
blocks (`If`, `For`, `While`). Variables are mutable, as in the language, so a
loop is reversed as a loop. Spans point at the original source and take no
part in equality, so `parse(print(ir))` can be compared with `ir`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import field, replace

from adlang.ir.types import Type
from adlang.lang.record import record
from adlang.lang.span import Span

NO_SPAN = Span(0, 0, 0, 0)



# ---------------------------------------------------------------- atoms and expressions


@record
class Var:
    name: str
    type: Type


@record
class Const:
    value: bool | int | float
    type: Type


Atom = Var | Const


@record
class Prim:
    """A primitive of the registry applied to atoms: `add(a, b)`, `sin(x)`, `index(v, i)`."""

    op: str
    args: tuple[Atom, ...]


@record
class CallFn:
    """A call of a function of the program."""

    fn: str
    args: tuple[Atom, ...]


@record
class Pop:
    """The value on top of a tape, removed from it; its type is the target's.

    Tapes are numbered: the program's own are 0 (`pop()`), and each reverse pass
    saves on a tape of its own (`pop(1)`), so a pass applied to a program that
    already uses the tape never takes the program's values.
    """

    tape: int = 0


@record
class GradOf:
    """`grad f(args) wrt p1, p2`: f's value, then its derivatives with respect to its parameters p1, p2.

    It stays in the IR as written (so it prints back as written) and is expanded
    into a call of f's reverse-mode derivative program before anything runs or
    is differentiated (`adlang.ir.grads`).
    """

    fn: str
    wrt: tuple[str, ...]
    args: tuple[Atom, ...]


Expr = Var | Const | Prim | CallFn | Pop | GradOf


# ---------------------------------------------------------------- statements


@record
class Let:
    """Declares new variables; several targets only for a call returning a tuple."""

    targets: tuple[Var, ...]
    expr: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@record
class Assign:
    """Updates a variable that is already declared."""

    target: Var
    expr: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@record
class Push:
    """Saves a value on the tape (reverse mode restores it with `Pop`)."""

    value: Atom
    span: Span = field(default=NO_SPAN, compare=False)
    tape: int = 0


@record
class If:
    cond: Atom
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@record
class For:
    """`for var in start..stop:` over ints, half-open; start and stop are evaluated once.

    `checkpoint` is the strategy of a `# checkpoint: S` comment on the header
    line, for reverse mode (ir/checkpoint.py); the printer writes it back.
    """

    var: Var
    start: Atom
    stop: Atom
    body: tuple[Stmt, ...]
    span: Span = field(default=NO_SPAN, compare=False)
    checkpoint: str | None = None


@record
class While:
    """`while cond:`; the body itself recomputes `cond` (lowering puts that at its end)."""

    cond: Atom
    body: tuple[Stmt, ...]
    span: Span = field(default=NO_SPAN, compare=False)
    checkpoint: str | None = None


@record
class Return:
    values: tuple[Atom, ...]
    span: Span = field(default=NO_SPAN, compare=False)


Stmt = Let | Assign | Push | If | For | While | Return


# ---------------------------------------------------------------- functions and programs


@record
class Function:
    name: str
    params: tuple[Var, ...]
    ret: Type
    body: tuple[Stmt, ...]
    span: Span = field(default=NO_SPAN, compare=False)

    @property
    def returned(self) -> Return:
        last = self.body[-1]
        assert isinstance(last, Return)
        return last


@record
class Program:
    functions: tuple[Function, ...]

    def function(self, name: str) -> Function | None:
        for fn in self.functions:
            if fn.name == name:
                return fn
        return None

    @property
    def names(self) -> list[str]:
        return [fn.name for fn in self.functions]


# ---------------------------------------------------------------- walking


def blocks_of(stmt: Stmt) -> tuple[tuple[Stmt, ...], ...]:
    """The nested blocks of a statement, in source order."""
    if isinstance(stmt, If):
        return (stmt.then, stmt.orelse)
    if isinstance(stmt, (For, While)):
        return (stmt.body,)
    return ()


def map_blocks(stmt: Stmt, fn) -> Stmt:
    """The statement with `fn` applied to each of its nested blocks (itself if it has none)."""
    if isinstance(stmt, If):
        return If(stmt.cond, fn(stmt.then), fn(stmt.orelse), stmt.span)
    if isinstance(stmt, For):
        return replace(stmt, body=fn(stmt.body))
    if isinstance(stmt, While):
        return replace(stmt, body=fn(stmt.body))
    return stmt


def walk(body: tuple[Stmt, ...]) -> Iterator[Stmt]:
    """Every statement of a block and of its nested blocks, in source order."""
    for stmt in body:
        yield stmt
        for block in blocks_of(stmt):
            yield from walk(block)


def atoms_of(expr: Expr) -> tuple[Atom, ...]:
    if isinstance(expr, (Var, Const)):
        return (expr,)
    if isinstance(expr, (Prim, CallFn, GradOf)):
        return expr.args
    return ()


def used_vars(stmt: Stmt) -> list[Var]:
    """The variables a statement reads itself (not those of its nested blocks), in order."""
    if isinstance(stmt, (Let, Assign)):
        atoms = atoms_of(stmt.expr)
    elif isinstance(stmt, Push):
        atoms = (stmt.value,)
    elif isinstance(stmt, (If, While)):
        atoms = (stmt.cond,)
    elif isinstance(stmt, For):
        atoms = (stmt.start, stmt.stop)
    elif isinstance(stmt, Return):
        atoms = stmt.values
    else:
        atoms = ()
    return [a for a in atoms if isinstance(a, Var)]


def defined_vars(stmt: Stmt) -> list[Var]:
    """The variables a statement binds or updates itself, in order."""
    if isinstance(stmt, Let):
        return list(stmt.targets)
    if isinstance(stmt, Assign):
        return [stmt.target]
    if isinstance(stmt, For):
        return [stmt.var]
    return []


def callees_first(functions: dict[str, Function], root: str) -> list[str]:
    """root and every function it reaches by calls or grads, callees first (programs never recurse)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for s in walk(functions[name].body):
            expr = getattr(s, "expr", None)
            if isinstance(expr, (CallFn, GradOf)):
                visit(expr.fn)
        order.append(name)

    visit(root)
    return order


def tapes_in(functions) -> set[int]:
    """The tape numbers the functions use."""
    tapes = {0}
    for fn in functions:
        for s in walk(fn.body):
            if isinstance(s, Push):
                tapes.add(s.tape)
            elif isinstance(s, (Let, Assign)) and isinstance(s.expr, Pop):
                tapes.add(s.expr.tape)
    return tapes


def names_in(fn: Function) -> set[str]:
    """Every variable name a function uses, for picking fresh ones (membership only, never iterated)."""
    names = {p.name for p in fn.params}
    for stmt in walk(fn.body):
        names.update(v.name for v in defined_vars(stmt))
        names.update(v.name for v in used_vars(stmt))
    return names
