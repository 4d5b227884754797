"""Helpers the derivative passes share: zeros of a type, renaming variables, dropping empty blocks."""

from __future__ import annotations

from dataclasses import replace

from adlang.ir import nodes as ir
from adlang.ir.naming import Namer
from adlang.ir.primitives import Emitter
from adlang.ir.types import BOOL, FLOAT, INT, Type
from adlang.lang.span import Span


def zero_expr(e: Emitter, type_: Type, like: ir.Atom | None) -> ir.Atom:
    """The zero of a float, int, bool, vec or mat (a vec as long as `like`, a mat of its shape)."""
    if type_.is_array:
        return e.zeros_like(like)
    if type_.kind == "int":
        return ir.Const(0, INT)
    if type_.kind == "bool":
        return ir.Const(False, BOOL)
    return ir.Const(0.0, FLOAT)


def dummy_value(e: Emitter, type_: Type) -> ir.Atom:
    """A placeholder for a variable declared before it gets its first real value."""
    if type_.kind == "vec":
        return e.op("zeros", ir.Const(0, INT))
    if type_.kind == "mat":
        return e.op("zeros", ir.Const(0, INT), ir.Const(0, INT))
    return zero_expr(e, type_, None)


def rename_atom(a: ir.Atom, mapping: dict[str, str]) -> ir.Atom:
    if isinstance(a, ir.Var) and a.name in mapping:
        return ir.Var(mapping[a.name], a.type)
    return a


def rename_expr(expr: ir.Expr, mapping: dict[str, str]) -> ir.Expr:
    if isinstance(expr, (ir.Var, ir.Const)):
        return rename_atom(expr, mapping)
    if isinstance(expr, ir.Prim):
        return ir.Prim(expr.op, tuple(rename_atom(a, mapping) for a in expr.args))
    if isinstance(expr, ir.CallFn):
        return ir.CallFn(expr.fn, tuple(rename_atom(a, mapping) for a in expr.args))
    return expr


def rename_body(body: tuple[ir.Stmt, ...], mapping: dict[str, str]) -> tuple[ir.Stmt, ...]:
    return tuple(rename_stmt(s, mapping) for s in body)


def rename_stmt(s: ir.Stmt, mapping: dict[str, str]) -> ir.Stmt:
    r = lambda a: rename_atom(a, mapping)  # noqa: E731
    if isinstance(s, ir.Let):
        return ir.Let(tuple(r(t) for t in s.targets), rename_expr(s.expr, mapping), s.span)
    if isinstance(s, ir.Assign):
        return ir.Assign(r(s.target), rename_expr(s.expr, mapping), s.span)
    if isinstance(s, ir.Push):
        return ir.Push(r(s.value), s.span, s.tape)
    if isinstance(s, ir.If):
        return ir.If(r(s.cond), rename_body(s.then, mapping), rename_body(s.orelse, mapping), s.span)
    if isinstance(s, ir.For):
        return replace(s, var=r(s.var), start=r(s.start), stop=r(s.stop), body=rename_body(s.body, mapping))
    if isinstance(s, ir.While):
        return replace(s, cond=r(s.cond), body=rename_body(s.body, mapping))
    if isinstance(s, ir.Return):
        return ir.Return(tuple(r(a) for a in s.values), s.span)
    raise TypeError(s)


def rename_calls(fn: ir.Function, mapping: dict[str, str]) -> ir.Function:
    """The function renamed and its calls retargeted, both by `mapping`."""

    def stmt(s: ir.Stmt) -> ir.Stmt:
        if isinstance(s, (ir.Let, ir.Assign)) and isinstance(s.expr, ir.CallFn) and s.expr.fn in mapping:
            call = ir.CallFn(mapping[s.expr.fn], s.expr.args)
            return ir.Let(s.targets, call, s.span) if isinstance(s, ir.Let) else ir.Assign(s.target, call, s.span)
        return ir.map_blocks(s, block)

    def block(body):
        return tuple(stmt(s) for s in body)

    return ir.Function(mapping.get(fn.name, fn.name), fn.params, fn.ret, block(fn.body), fn.span)


def without_empty_blocks(body, names: Namer) -> tuple[ir.Stmt, ...]:
    """adlang has no empty block: a for loop with no body goes, an if with only an else branch is
    negated, an if with neither goes."""
    out: list[ir.Stmt] = []
    for s in body:
        s = ir.map_blocks(s, lambda block: without_empty_blocks(block, names))
        if isinstance(s, ir.For) and not s.body:
            continue
        if isinstance(s, ir.If) and not s.then:
            if s.orelse:
                negated = ir.Var(names.temp(), s.cond.type)
                out.append(ir.Let((negated,), ir.Prim("not", (s.cond,)), s.span))
                out.append(ir.If(negated, s.orelse, (), s.span))
            continue
        out.append(s)
    return tuple(out)


def bind(out: list, var: ir.Var, value: ir.Atom, declare: bool, span: Span, names: Namer) -> None:
    """Bind var (a tangent or an adjoint) to value; when value is the temporary `names` just made for the
    statement before, bind it in place (no copy). A user's `_1` is never bound in place."""
    if out and isinstance(value, ir.Var) and names.made_temp(value.name):
        last = out[-1]
        if isinstance(last, ir.Let) and last.targets == (value,):
            span = span.computing(last.span)
            out[-1] = ir.Let((var,), last.expr, span) if declare else ir.Assign(var, last.expr, span)
            return
    out.append(ir.Let((var,), value, span) if declare else ir.Assign(var, value, span))


def differentiable(a: ir.Atom) -> bool:
    return a.type.is_differentiable
