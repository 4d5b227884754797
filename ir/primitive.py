"""What a primitive is, the registry that holds them, and the IR builder their derivative rules use.

A primitive holds together its surface syntax (how the printer writes it and
how lowering finds it), its type rule, its evaluation on scalars and on numpy
vecs, and its derivative rules. The rules are IR builders: given the atoms of
an operation they emit IR statements through an `Emitter`, so the derivative
passes produce programs, not numbers. The definitions live in
`prims_scalar.py` and `prims_vec.py`; `primitives.py` gathers them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from adlang.ir import nodes as ir
from adlang.ir.types import FLOAT, Type
from adlang.lang.record import record
from adlang.lang.span import Rule, Span, Written


class TypeRuleError(Exception):
    """A primitive's type rule refused its operands; lowering adds the place."""


@record
class IndexContribution:
    """An adjoint contribution `value` to element `index` of a vec, to row `index` of a mat, or to element
    (`index`, `column`) of a mat (a scatter-add, not a whole array)."""

    index: ir.Atom
    value: ir.Atom
    column: ir.Atom | None = None

    @property
    def indices(self) -> tuple[ir.Atom, ...]:
        return (self.index,) if self.column is None else (self.index, self.column)


# jvp(emitter, args, tangents, result) -> the result's tangent, or None where it is zero.
#   tangents[i] is None where argument i has a zero tangent.
Jvp = Callable[["Emitter", tuple, tuple, ir.Atom], "ir.Atom | None"]
# vjp(emitter, args, result, cotangent, wants) -> one contribution per argument
#   (an atom, an IndexContribution, or None), computed only where wants[i].
Vjp = Callable[["Emitter", tuple, ir.Atom, ir.Atom, tuple], tuple]


@record
class Primitive:
    """One operation of the language.

    syntax: "infix" (`a + b`), "prefix" (`-a`, `not a`), "call" (`sin(a)`),
    "index" (`v[i]`, `A[i]`, `A[i, j]`) or "veclit" (`[a, b]`, and a mat's rows `[u, v]`); `symbol` is what the
    source writes.
    `scalar` evaluates when no operand is a vec or a mat, `vector` when one is (numpy arrays).
    `total` is false where evaluation can fail at run time (division, log, indexing...).
    `vjp_uses_result` says the reverse rule reads the result, which reverse mode then keeps.
    The fields after `doc` are facts other modules derive their tables from; each primitive sets its own
    by keyword in its `register(...)`, so adding a primitive touches no table elsewhere.
    """

    name: str
    syntax: str
    symbol: str
    arity: int | None
    type_rule: Callable[[tuple[ir.Atom, ...]], Type]
    scalar: Callable | None
    vector: Callable | None
    jvp: Jvp
    vjp: Vjp
    total: bool = True
    vjp_uses_result: bool = False
    doc: str = ""
    # Identities the simplifier applies (ir/simplify.py): `x OP right_unit` and `left_unit OP x` are x,
    # `0 OP x` is the prefix primitive `from_zero` of x (0 - x = -x), and an involution undoes itself: -(-x) = x.
    right_unit: int | None = None
    left_unit: int | None = None
    from_zero: str | None = None
    involution: bool = False
    # Where the derivative is a convention, not a limit (abs'(0) = 0, a tie of min/max, a comparison of equal
    # sides): kink(names, values) is the note a trace shows for operands written `names` having `values`,
    # None away from the kink (interp/notes.py).
    kink: Callable[[list[str], list], str | None] | None = None
    # The compiled engine writes this operation on scalars as this Python operator (`a + b`, `-a`);
    # `operator_checks` is what `scalar` adds to the bare operator, which the inline code redoes by calling
    # `scalar`: "nan" (a NaN float result is an error), "int" (an int result must fit in 64 bits).
    python_operator: str | None = None
    operator_checks: frozenset[str] = frozenset()
    # Elementwise: with a vec or mat among the operands, the result has their shape and element k is the scalar
    # evaluation on their elements k (and the numbers). The simplifier reads it to know two arrays have one
    # length (ir/simplify.py, `_broadcast_scalars`).
    elementwise: bool = False

    def check(self, args: tuple[ir.Atom, ...]) -> Type:
        if self.arity is not None and len(args) != self.arity:
            raise TypeRuleError(
                f"{self.describe()} takes {self.arity} argument{'s' * (self.arity != 1)}, got {len(args)}"
            )
        return self.type_rule(args)

    def describe(self) -> str:
        if self.syntax in ("infix", "prefix"):
            return f"'{self.symbol}'"
        if self.syntax == "index":
            return "indexing"
        if self.syntax == "veclit":
            return "a mat literal" if self.name == "matlit" else "a vec literal"
        return f"{self.symbol}()"

    def emit_jvp(self, e: Emitter, args: tuple, tangents: tuple, result: ir.Atom) -> ir.Atom | None:
        """The JVP rule, its statements marked as this derivative (`Emitter.deriving`)."""
        with e.deriving(self, args):
            return self.jvp(e, args, tangents, result)

    def emit_vjp(self, e: Emitter, args: tuple, result: ir.Atom, g: ir.Atom, wants: tuple) -> tuple:
        with e.deriving(self, args):
            return self.vjp(e, args, result, g, wants)

    def written(self, args: tuple[ir.Atom, ...]) -> Written:
        """This operation on these atoms as a printed program writes it (`a ^ b`, `sin(x)`)."""
        from adlang.ir.printer import atom, print_expr

        return Written(self.name, print_expr(ir.Prim(self.name, args)), tuple(atom(a) for a in args))

    def evaluator(self, arg_types: tuple[Type, ...]) -> Callable:
        """The evaluation function for operands of these types, picked once before running."""
        if any(t.is_array for t in arg_types) and self.vector is not None:
            return self.vector
        return self.scalar if self.scalar is not None else self.vector


REGISTRY: dict[str, Primitive] = {}
BY_OPERATOR: dict[tuple[str, int], Primitive] = {}
BY_BUILTIN: dict[str, Primitive] = {}


def register(prim: Primitive, aliases: tuple[str, ...] = ()) -> Primitive:
    if prim.name in REGISTRY:
        raise ValueError(f"primitive {prim.name} registered twice")
    REGISTRY[prim.name] = prim
    if prim.syntax == "infix":
        BY_OPERATOR[(prim.symbol, 2)] = prim
    elif prim.syntax == "prefix":
        BY_OPERATOR[(prim.symbol, 1)] = prim
    elif prim.syntax == "call":
        BY_BUILTIN[prim.symbol] = prim
    for alias in aliases:
        BY_BUILTIN[alias] = prim
    return prim


def lookup(name: str) -> Primitive:
    return REGISTRY[name]


def no_jvp(e, args, tangents, result):
    """The rule of a primitive whose result carries no derivative (bools, ints, constants)."""
    return None


def no_vjp(e, args, result, g, wants):
    return tuple(None for _ in args)


class Emitter:
    """Builds the IR of derivative rules: one operation per fresh temporary, constants folded."""

    def __init__(self, fresh: Callable[[], str], span: Span):
        self.fresh = fresh
        self.span = span
        self.stmts: list[ir.Stmt] = []
        # whether two operands have one shape wherever both are read (reverse mode knows; else not known)
        self.same_shape: Callable[[ir.Atom, ir.Atom], bool] = lambda a, b: False
        self._ours = False  # self.span.rule was set by `deriving` here, not inherited

    @contextmanager
    def deriving(self, prim: Primitive, args: tuple[ir.Atom, ...]) -> Iterator[None]:
        """Statements emitted inside are prim's derivative rule on these operands: their span says so (a
        `Rule`, in the source's terms where lowering recorded them), and a runtime error there names it.

        A statement that a rule emitted keeps its rule when differentiated again: the error is still in
        that derivative.
        """
        if self.span.rule is not None:
            yield
            return
        written = self.span.written
        if written is None or written.op != prim.name or len(written.operands) != len(args):
            written = prim.written(args)
        saved = self.span
        self.span, self._ours = replace(saved, rule=Rule(written, 0 if len(args) == 1 else None)), True
        try:
            yield
        finally:
            self.span, self._ours = saved, False

    @contextmanager
    def wrt(self, k: int, formula: Callable[..., str] | None = None) -> Iterator[None]:
        """Inside `deriving`: the statements emitted inside compute the derivative with respect to operand k;
        `formula(*operands)` writes it in the operands' terms."""
        if not self._ours:
            yield
            return
        saved = self.span
        written = saved.rule.written
        text = formula(*written.operands) if formula is not None else ""
        self.span = replace(saved, rule=Rule(written, k, text))
        try:
            yield
        finally:
            self.span = saved

    def op(self, name: str, *args: ir.Atom) -> ir.Atom:
        prim = REGISTRY[name]
        type_ = prim.check(args)
        folded = self._fold(prim, args, type_)
        if folded is not None:
            return folded
        var = ir.Var(self.fresh(), type_)
        self.stmts.append(ir.Let((var,), ir.Prim(name, args), self.span))
        return var

    def _fold(self, prim: Primitive, args, type_: Type) -> ir.Const | None:
        if not args or not all(isinstance(a, ir.Const) for a in args) or type_.kind not in ("float", "int", "bool"):
            return None
        try:
            value = prim.evaluator(tuple(a.type for a in args))(*[a.value for a in args])
        except (ArithmeticError, ValueError):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return ir.Const(value, type_)

    def zeros_like(self, a: ir.Atom) -> ir.Atom:
        """zeros of a vec's length or a mat's shape, as the value `a` has when it runs."""
        if a.type.kind == "mat":
            return self.op("zeros", self.op("rows", a), self.op("cols", a))
        return self.op("zeros", self.op("len", a))

    def ones_like(self, a: ir.Atom) -> ir.Atom:
        if a.type.kind == "mat":
            return self.op("ones", self.op("rows", a), self.op("cols", a))
        return self.op("ones", self.op("len", a))

    @staticmethod
    def const(value: float) -> ir.Const:
        return ir.Const(float(value), FLOAT)

    def add_all(self, terms) -> ir.Atom | None:
        """The sum of the terms that are not None (None when all are)."""
        total = None
        for term in terms:
            if term is None:
                continue
            total = term if total is None else self.op("add", total, term)
        return total

    def times(self, factor: ir.Atom, tangent: ir.Atom | None) -> ir.Atom | None:
        return None if tangent is None else self.op("mul", tangent, factor)
