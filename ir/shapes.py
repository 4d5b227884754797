"""Which arrays of a function are known to have one shape wherever they are read, updated ones too.

Reverse mode asks it of `addto(d, c)`: the cotangent of an operand is the result's cotangent fitted to the
operand's shape (`fitto`), which reads the operand; when d and c are known to have one shape it is the
cotangent itself, and an adjoint that reverse mode accumulates (`d = addto(d, c)`) is not saved on the tape
just for its shape.

Each array gets a witness: a parameter or a variable declared once, at the function's top level, and never
updated, whose shape it has whenever it is read. Such a variable is its own; any other has a witness when
every one of its definitions gives that witness, its own old value assumed to have it (as it does, by
induction over the definitions that ran). A `pop` gives none, nor does any operation but a copy, an
elementwise one, `addat`, `fitto`, `zeros`/`ones` of a measured size, and `addto` of arrays alike.
Witnesses are compared as `simplify.as_long_as` compares fixed variables: by the elementwise operations and
copies they were defined by.
"""

from __future__ import annotations

from adlang.ir import nodes as ir
from adlang.ir.primitives import lookup
from adlang.ir.simplify import as_long_as, fixed_definitions, measured

_PENDING = object()


class Shapes:
    """`same(x, y)`: x and y have one shape wherever both are read (False when not known)."""

    def __init__(self, fn: ir.Function):
        body = fn.body
        self.params = {p.name for p in fn.params}
        self.fixed = fixed_definitions(body)
        # a let in a loop runs once a trip, perhaps with another shape each time: only the function's own are
        # witnesses (the others are checked as updated ones are)
        self.top = {t.name for s in body if isinstance(s, ir.Let) for t in s.targets if t.name in self.fixed}
        self.definitions: dict[str, list[ir.Expr | None]] = {}
        for s in ir.walk(body):
            if isinstance(s, ir.Let):
                for t in s.targets:
                    self.definitions.setdefault(t.name, []).append(s.expr if len(s.targets) == 1 else None)
            elif isinstance(s, ir.Assign):
                self.definitions.setdefault(s.target.name, []).append(s.expr)
        self.witnesses: dict[str, object] = {}
        self.updated = {s.target.name for s in ir.walk(body) if isinstance(s, ir.Assign)}

    def same(self, x: ir.Atom, y: ir.Atom) -> bool:
        wx, wy = self.witness(x), self.witness(y)
        return wx is not None and wy is not None and self.alike(wx, wy)

    def alike(self, x: ir.Var, y: ir.Var) -> bool:
        if x.name == y.name or as_long_as(x, y, self.fixed, self.updated):
            return True
        x, y = self.root(x), self.root(y)
        return x.name == y.name or as_long_as(x, y, self.fixed, self.updated)

    def root(self, w: ir.Var) -> ir.Var:
        """The witness w's own definition gives, followed back (`v` for `let a = w * s`, w updated like v)."""
        while w.name in self.top:
            found = self.of_expr(self.fixed[w.name])
            if found is None or found.name == w.name:
                break
            w = found
        return w

    def witness(self, a: ir.Atom) -> ir.Var | None:
        if not (isinstance(a, ir.Var) and a.type.is_array):
            return None
        if a.name in self.top or (a.name in self.params and a.name not in self.definitions):
            return a
        if a.name in self.params or a.name not in self.definitions:
            return None  # an updated parameter's first value is the caller's
        found = self.witnesses.get(a.name)
        if found is _PENDING:
            return None
        if a.name in self.witnesses:
            return found
        self.witnesses[a.name] = _PENDING
        before = set(self.witnesses)
        candidate = next((w for w in map(self.of_expr, self.definitions[a.name]) if w is not None), None)
        if candidate is not None:
            self.witnesses[a.name] = candidate  # assumed for its old value, then checked for every definition
            given = [self.of_expr(expr) for expr in self.definitions[a.name]]
            if not all(w is not None and self.alike(w, candidate) for w in given):
                candidate = None
                for name in set(self.witnesses) - before:  # found under the assumption that failed
                    del self.witnesses[name]
        self.witnesses[a.name] = candidate
        return candidate

    def of_expr(self, expr: ir.Expr | None) -> ir.Var | None:
        """The witness of the value expr computes."""
        if isinstance(expr, ir.Var):
            return self.witness(expr)
        if not isinstance(expr, ir.Prim) or not any(a.type.is_array for a in expr.args):
            if isinstance(expr, ir.Prim) and expr.op in ("zeros", "ones"):
                source = measured(expr.args, self.fixed)
                return self.witness(source) if source is not None else None
            return None
        if lookup(expr.op).elementwise:
            return next((w for w in map(self.witness, expr.args) if w is not None), None)
        if expr.op == "addat":
            return self.witness(expr.args[0])
        if expr.op == "fitto":
            return self.witness(expr.args[1])
        if expr.op == "addto":
            d, c = (self.witness(a) for a in expr.args)
            return d if d is not None and c is not None and self.alike(d, c) else None
        return None
