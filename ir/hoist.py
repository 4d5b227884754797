"""Preparing a function for reverse mode: every variable declared once, at the top level.

The backward sweep runs after the forward sweep, outside the blocks where the
forward sweep declared things, so it can only see top-level names. This pass
moves each `let` of a nested block to a declaration before the outermost
block that holds it (renaming where sibling blocks reused a name), turns the
`let` into an update, counts the trips of every while loop, and copies an
`if` condition or a `for` bound that its own block overwrites. The result
computes the same values.
"""

from __future__ import annotations

from dataclasses import field, replace

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.builder import dummy_value, rename_atom, rename_expr, rename_stmt
from adlang.ir.naming import Namer
from adlang.ir.primitives import Emitter
from adlang.ir.types import INT
from adlang.lang.record import mutable_record


@mutable_record
class Hoisted:
    """A function ready for reversal and what the reverse pass must know about it."""

    fn: ir.Function
    in_loop_lets: set[str] = field(default_factory=set)
    first_binds: set[int] = field(default_factory=set)
    counter_steps: set[int] = field(default_factory=set)
    # temporaries that take apart a tuple inside a block (`let _1, _2 = f(...)`): seen in that block only
    block_temps: set[str] = field(default_factory=set)


def assigned_in(body) -> set[str]:
    return {v.name for s in ir.walk(body) for v in ir.defined_vars(s)}


class Hoister:
    def __init__(self, fn: ir.Function, names: Namer):
        self.fn = fn
        self.names = names
        self.reserved = {p.name for p in fn.params}
        for s in fn.body:
            self.reserved.update(v.name for v in ir.defined_vars(s) if not isinstance(s, ir.For))
        self.result = Hoisted(fn)

    def run(self) -> Hoisted:
        body: list[ir.Stmt] = []
        for s in self.fn.body:
            declarations: list[ir.Stmt] = []
            body_stmts = self.statement(s, {}, declarations, depth=0, in_loop=False)
            body.extend(declarations)
            body.extend(body_stmts)
        fn = self.fn
        self.result.fn = ir.Function(fn.name, fn.params, fn.ret, tuple(body), fn.span)
        return self.result

    def block(self, stmts, mapping, declarations, depth, in_loop) -> tuple[ir.Stmt, ...]:
        mapping = dict(mapping)
        out: list[ir.Stmt] = []
        for s in stmts:
            out.extend(self.statement(s, mapping, declarations, depth, in_loop))
        return tuple(out)

    def statement(self, s: ir.Stmt, mapping: dict, declarations: list, depth: int, in_loop: bool) -> list[ir.Stmt]:
        r = lambda a: rename_atom(a, mapping)  # noqa: E731
        if isinstance(s, ir.Let):
            expr = rename_expr(s.expr, mapping)
            if depth == 0:
                return [ir.Let(s.targets, expr, s.span)]
            return self.hoist_let(s, expr, mapping, declarations, in_loop)
        if isinstance(s, ir.Assign):
            return [ir.Assign(r(s.target), rename_expr(s.expr, mapping), s.span)]
        if isinstance(s, (ir.Push, ir.Return)):
            return [rename_stmt(s, mapping)]
        if isinstance(s, ir.If):
            cond = r(s.cond)
            pre: list[ir.Stmt] = []
            if isinstance(cond, ir.Var) and cond.name in assigned_in(s.then + s.orelse):
                cond = self.copy_before(cond, pre, declarations, depth, in_loop, s.span)
            then = self.block(s.then, mapping, declarations, depth + 1, in_loop)
            orelse = self.block(s.orelse, mapping, declarations, depth + 1, in_loop)
            return pre + [ir.If(cond, then, orelse, s.span)]
        if isinstance(s, ir.For):
            pre = []
            changed = assigned_in(s.body)
            start, stop = r(s.start), r(s.stop)
            if isinstance(start, ir.Var) and start.name in changed:
                start = self.copy_before(start, pre, declarations, depth, in_loop, s.span)
            if isinstance(stop, ir.Var) and stop.name in changed:
                stop = self.copy_before(stop, pre, declarations, depth, in_loop, s.span)
            var = s.var
            inner = dict(mapping)
            if var.name in self.reserved:
                var = ir.Var(self.names.name(var.name), INT)
                inner[s.var.name] = var.name
            self.reserved.add(var.name)
            body = self.block(s.body, inner, declarations, depth + 1, True)
            return pre + [replace(s, var=var, start=start, stop=stop, body=body)]
        if isinstance(s, ir.While):
            counter = ir.Var(self.names.name("trips"), INT)
            start = ir.Let((counter,), ir.Const(0, INT), s.span)
            pre = [start] if depth == 0 else self.hoist_let(start, start.expr, {}, declarations, in_loop)
            self.reserved.add(counter.name)
            bump = ir.Assign(counter, ir.Prim("add", (counter, ir.Const(1, INT))), s.span)
            self.result.counter_steps.add(id(bump))
            body = self.block(s.body, mapping, declarations, depth + 1, True)
            return pre + [ir.While(r(s.cond), (bump,) + body, s.span)]
        raise TypeError(s)

    def copy_before(self, var: ir.Var, pre: list, declarations, depth, in_loop, span) -> ir.Var:
        copy = ir.Var(self.names.name(naming.role(var.name, naming.AT_START)), var.type)
        let = ir.Let((copy,), var, span)
        pre.extend([let] if depth == 0 else self.hoist_let(let, var, {}, declarations, in_loop))
        self.reserved.add(copy.name)
        return copy

    def hoist_let(self, s: ir.Let, expr: ir.Expr, mapping: dict, declarations: list, in_loop: bool) -> list[ir.Stmt]:
        """`let x = e` in a nested block: declare x before the outermost block, assign it here."""
        targets = []
        for t in s.targets:
            name = t.name
            if name in self.reserved:
                name = self.names.name(t.name)
                mapping[t.name] = name
            self.reserved.add(name)
            declared = ir.Var(name, t.type.unsized)
            e = Emitter(self.names.temp, s.span)
            placeholder = dummy_value(e, t.type)
            declarations.extend(e.stmts)
            declarations.append(ir.Let((declared,), placeholder, s.span))
            targets.append(declared)
            if in_loop:
                self.result.in_loop_lets.add(name)
        if len(targets) == 1:
            assign = ir.Assign(targets[0], expr, s.span)
            if not in_loop:
                self.result.first_binds.add(id(assign))
            return [assign]
        temps = tuple(ir.Var(self.names.temp(), t.type) for t in targets)
        self.result.block_temps.update(t.name for t in temps)
        out: list[ir.Stmt] = [ir.Let(temps, expr, s.span)]
        for target, temp in zip(targets, temps):
            assign = ir.Assign(target, temp, s.span)
            if not in_loop:
                self.result.first_binds.add(id(assign))
            out.append(assign)
        return out


def hoist(fn: ir.Function, names: Namer) -> Hoisted:
    return Hoister(fn, names).run()
