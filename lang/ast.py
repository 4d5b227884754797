"""The syntax tree the parser builds: frozen dataclasses, each with its source span.

The tree is only syntax: no types, no scopes, no evaluation. Lowering
(`adlang.ir.lower`) checks it and turns it into the typed IR.
"""

from __future__ import annotations

from dataclasses import field

from adlang.lang.record import record
from adlang.lang.span import Span

# ---------------------------------------------------------------- types written in the source


TYPE_NAMES = "float, int, bool, vec, vec(N), mat and mat(R, C)"  # as messages list them


@record
class TypeRef:
    """`float`, `int`, `bool`, `vec`, `vec(N)`, `mat`, `mat(R, C)`, or a tuple of those (return types only)."""

    name: str
    length: int | None = None
    items: tuple[TypeRef, ...] = ()
    cols: int | None = None
    span: Span = field(default=Span(0, 0), compare=False)


# ---------------------------------------------------------------- expressions


@record
class Num:
    """A number literal: an int (`3`) or a float (`3.0`, `.5`, `1e-3`)."""

    value: int | float
    span: Span = field(default=Span(0, 0), compare=False)


@record
class Bool:
    value: bool
    span: Span = field(default=Span(0, 0), compare=False)


@record
class Name:
    id: str
    span: Span = field(default=Span(0, 0), compare=False)


@record
class Unary:
    """`-e` or `not e`."""

    op: str
    operand: Expr
    span: Span = field(default=Span(0, 0), compare=False)


@record
class Binary:
    """`+ - * / ^ < <= > >= == != and or`."""

    op: str
    left: Expr
    right: Expr
    span: Span = field(default=Span(0, 0), compare=False)


@record
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span = field(default=Span(0, 0), compare=False)


@record
class Index:
    """`v[i]`, `A[i]` (a row) or `A[i, j]` (`column` is j)."""

    target: Expr
    index: Expr
    column: Expr | None = None
    span: Span = field(default=Span(0, 0), compare=False)


@record
class VecLit:
    items: tuple[Expr, ...]
    span: Span = field(default=Span(0, 0), compare=False)


@record
class GradCall:
    """`grad f(a, b) wrt x, y`: f's value and its derivatives with respect to its parameters x, y."""

    call: Call
    wrt: tuple[Name, ...]
    span: Span = field(default=Span(0, 0), compare=False)


Expr = Num | Bool | Name | Unary | Binary | Call | Index | VecLit


# ---------------------------------------------------------------- statements


@record
class Let:
    """`let x = e`, `let x: T = e`, `let a, b = f(...)`."""

    names: tuple[Name, ...]
    type: TypeRef | None
    value: Expr
    span: Span = field(default=Span(0, 0), compare=False)


@record
class Assign:
    """`x = e` and the sugar `x += e` (op is `=`, `+=`, `-=`, `*=` or `/=`)."""

    name: Name
    op: str
    value: Expr
    span: Span = field(default=Span(0, 0), compare=False)


@record
class CallStmt:
    """A call standing alone as a statement: only `push(e)`, the tape of reverse mode."""

    call: Call
    span: Span = field(default=Span(0, 0), compare=False)


@record
class For:
    """`for var in start..stop:`."""

    var: Name
    start: Expr
    stop: Expr
    body: tuple[Stmt, ...]
    span: Span = field(default=Span(0, 0), compare=False)
    checkpoint: str | None = None  # from a `# checkpoint: S` comment on the header line


@record
class While:
    cond: Expr
    body: tuple[Stmt, ...]
    span: Span = field(default=Span(0, 0), compare=False)
    checkpoint: str | None = None


@record
class If:
    """`if c: ... elif c: ... else: ...`; `branches` holds the if and each elif in order."""

    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    orelse: tuple[Stmt, ...] | None
    span: Span = field(default=Span(0, 0), compare=False)


@record
class Return:
    values: tuple[Expr, ...]
    span: Span = field(default=Span(0, 0), compare=False)


Stmt = Let | Assign | CallStmt | For | While | If | Return


# ---------------------------------------------------------------- definitions


@record
class Param:
    name: Name
    type: TypeRef | None
    span: Span = field(default=Span(0, 0), compare=False)


@record
class FunctionDef:
    name: Name
    params: tuple[Param, ...]
    ret: TypeRef | None
    body: tuple[Stmt, ...]
    span: Span = field(default=Span(0, 0), compare=False)


@record
class Module:
    functions: tuple[FunctionDef, ...]
