"""The syntax tree the parser builds: frozen dataclasses, each with its source span.

The tree is only syntax: no types, no scopes, no evaluation. Lowering
(`adlang.ir.lower`) checks it and turns it into the typed IR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adlang.lang.span import Span

# ---------------------------------------------------------------- types written in the source


TYPE_NAMES = "float, int, bool, vec, vec(N), mat and mat(R, C)"  # as messages list them


@dataclass(frozen=True)
class TypeRef:
    """`float`, `int`, `bool`, `vec`, `vec(N)`, `mat`, `mat(R, C)`, or a tuple of those (return types only)."""

    name: str
    length: int | None = None
    items: tuple[TypeRef, ...] = ()
    cols: int | None = None
    span: Span = field(default=Span(0, 0), compare=False)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Num:
    """A number literal: an int (`3`) or a float (`3.0`, `.5`, `1e-3`)."""

    value: int | float
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class Unary:
    """`-e` or `not e`."""

    op: str
    operand: Expr
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class Binary:
    """`+ - * / ^ < <= > >= == != and or`."""

    op: str
    left: Expr
    right: Expr
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class Index:
    """`v[i]`, `A[i]` (a row) or `A[i, j]` (`column` is j)."""

    target: Expr
    index: Expr
    column: Expr | None = None
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class VecLit:
    items: tuple[Expr, ...]
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class GradCall:
    """`grad f(a, b) wrt x, y`: f's value and its derivatives with respect to its parameters x, y."""

    call: Call
    wrt: tuple[Name, ...]
    span: Span = field(default=Span(0, 0), compare=False)


Expr = Num | Bool | Name | Unary | Binary | Call | Index | VecLit


# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class Let:
    """`let x = e`, `let x: T = e`, `let a, b = f(...)`."""

    names: tuple[Name, ...]
    type: TypeRef | None
    value: Expr
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class Assign:
    """`x = e` and the sugar `x += e` (op is `=`, `+=`, `-=`, `*=` or `/=`)."""

    name: Name
    op: str
    value: Expr
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class CallStmt:
    """A call standing alone as a statement: only `push(e)`, the tape of reverse mode."""

    call: Call
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class For:
    """`for var in start..stop:`."""

    var: Name
    start: Expr
    stop: Expr
    body: tuple[Stmt, ...]
    span: Span = field(default=Span(0, 0), compare=False)
    checkpoint: str | None = None  # from a `# checkpoint: S` comment on the header line


@dataclass(frozen=True)
class While:
    cond: Expr
    body: tuple[Stmt, ...]
    span: Span = field(default=Span(0, 0), compare=False)
    checkpoint: str | None = None


@dataclass(frozen=True)
class If:
    """`if c: ... elif c: ... else: ...`; `branches` holds the if and each elif in order."""

    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    orelse: tuple[Stmt, ...] | None
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class Return:
    values: tuple[Expr, ...]
    span: Span = field(default=Span(0, 0), compare=False)


Stmt = Let | Assign | CallStmt | For | While | If | Return


# ---------------------------------------------------------------- definitions


@dataclass(frozen=True)
class Param:
    name: Name
    type: TypeRef | None
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class FunctionDef:
    name: Name
    params: tuple[Param, ...]
    ret: TypeRef | None
    body: tuple[Stmt, ...]
    span: Span = field(default=Span(0, 0), compare=False)


@dataclass(frozen=True)
class Module:
    functions: tuple[FunctionDef, ...]
