"""Forward mode as source transformation: the lecture's dual numbers, written out as code.

For every varied variable `a` and every direction `x` the derivative program
carries a tangent `dadx` (vector forward mode: one run gives the derivative
along every direction). Scalar parameters are directions of their own, seeded
as the lecture does (`let dxdx = 1.0`, `let dydx = 0.0`). A vec parameter of
length n needs n directions: the entry loops over them, calling a JVP of the
function seeded with the j-th unit vec, and gathers the gradient element by
element. A call becomes a call of the callee's JVP, generated once.
"""

from __future__ import annotations

from dataclasses import replace

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.activity import varied_names
from adlang.ir.builder import bind, differentiable, zero_expr
from adlang.ir.naming import Namer
from adlang.ir.primitives import Emitter, lookup
from adlang.ir.types import FLOAT, INT, tuple_of
from adlang.lang.span import Span


class ForwardMode:
    """Builds forward-mode derivative functions for one program; each JVP function once."""

    def __init__(self, program: ir.Program, fn_names: Namer):
        self.program = program
        self.fn_names = fn_names
        self.generated: dict[tuple, ir.Function] = {}
        self.order: list[tuple] = []

    def jvp_name(self, fn_name: str, directions: tuple[str, ...], active: tuple[str, ...]) -> str:
        """The JVP function of `fn_name` for these directions and active parameters, made on first use."""
        key = (fn_name, directions, active)
        if key not in self.generated:
            fn = self.program.function(fn_name)
            name = self.fn_names.name(naming.role(fn_name, naming.JVP))
            self.generated[key] = None  # reserved while it is built
            built = FunctionJvp(self, fn, directions, set(active), seeds=None).build(name)
            self.generated[key] = built
            self.order.append(key)
        return self.generated[key].name

    def functions(self) -> list[ir.Function]:
        return [self.generated[k] for k in self.order]


class FunctionJvp:
    """The JVP of one function: primal statements interleaved with their tangents."""

    def __init__(self, mode: ForwardMode, fn: ir.Function, directions, active: set[str], seeds):
        self.mode = mode
        self.fn = fn
        self.directions = directions
        self.active = active
        self.seeds = seeds
        self.names = Namer(ir.names_in(fn))
        self.varied = varied_names(fn, active)
        self.tangents: dict[tuple[str, str], ir.Var] = {}

    def tangent(self, var: ir.Var, d: str) -> ir.Var:
        key = (var.name, d)
        if key not in self.tangents:
            self.tangents[key] = ir.Var(self.names.name(naming.derivative(var.name, d)), var.type)
        return self.tangents[key]

    def is_varied(self, a: ir.Atom) -> bool:
        return isinstance(a, ir.Var) and a.name in self.varied and differentiable(a)

    def tangent_or_none(self, a: ir.Atom, d: str) -> ir.Atom | None:
        return self.tangent(a, d) if self.is_varied(a) else None

    def tangent_or_zero(self, a: ir.Atom, d: str, out: list, span: Span) -> ir.Atom:
        if self.is_varied(a):
            return self.tangent(a, d)
        e = Emitter(self.names.temp, span)
        zero = zero_expr(e, a.type, a)
        out.extend(e.stmts)
        return zero

    # ------------------------------------------------------------ the function

    def build(self, name: str) -> ir.Function:
        """With seeds None: a JVP taking tangent parameters; else the entry, tangents seeded in its body."""
        fn = self.fn
        active_params = [p for p in fn.params if p.name in self.active and differentiable(p)]
        tangent_params = [self.tangent(p, d) for d in self.directions for p in active_params]
        body: list[ir.Stmt] = []
        for p in fn.params:
            if p.name in self.varied and p not in active_params and differentiable(p):
                for d in self.directions:
                    e = Emitter(self.names.temp, fn.span)
                    zero = zero_expr(e, p.type, p)
                    body.extend(e.stmts)
                    body.append(ir.Let((self.tangent(p, d),), zero, fn.span))
        if self.seeds is not None:
            for d in self.directions:
                for p in active_params:
                    body.append(ir.Let((self.tangent(p, d),), self.seeds(p, d), fn.span))
        body.extend(self.block(fn.body[:-1]))
        ret = fn.returned
        values = list(ret.values)
        types = [v.type for v in values]
        for v in ret.values:
            if differentiable(v):
                for d in self.directions:
                    values.append(self.tangent_or_zero(v, d, body, ret.span))
                    types.append(v.type)
        body.append(ir.Return(tuple(values), ret.span))
        params = fn.params if self.seeds is not None else fn.params + tuple(tangent_params)
        ret_type = types[0] if len(types) == 1 else tuple_of(types)
        return ir.Function(name, tuple(params), ret_type, tuple(body), fn.span)

    def block(self, body) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for stmt in body:
            self.statement(stmt, out)
        return out

    def statement(self, s: ir.Stmt, out: list) -> None:
        if isinstance(s, ir.If):
            out.append(ir.If(s.cond, tuple(self.block(s.then)), tuple(self.block(s.orelse)), s.span))
        elif isinstance(s, ir.For):
            out.append(replace(s, body=tuple(self.block(s.body))))
        elif isinstance(s, ir.While):
            out.append(replace(s, body=tuple(self.block(s.body))))
        elif isinstance(s, ir.Push):
            out.append(s)
            if differentiable(s.value):
                for d in self.directions:
                    out.append(ir.Push(self.tangent_or_zero(s.value, d, out, s.span), s.span, s.tape))
        elif isinstance(s.expr, ir.Pop):
            self.pop(s, out)
        elif isinstance(s.expr, ir.CallFn):
            self.call(s, out)
        else:
            self.binding(s, out)

    # ------------------------------------------------------------ bindings

    def binding(self, s: ir.Let | ir.Assign, out: list) -> None:
        """`x = op(args)`: the primal, then each direction's tangent (before the primal if x is an operand)."""
        target = s.targets[0] if isinstance(s, ir.Let) else s.target
        if not self.is_varied(target):
            out.append(s)
            return
        declare = isinstance(s, ir.Let)
        overwrites_operand = not declare and any(
            isinstance(a, ir.Var) and a.name == target.name for a in ir.atoms_of(s.expr)
        )
        result = target
        if overwrites_operand:
            result = ir.Var(self.names.temp(), target.type)
            out.append(ir.Let((result,), s.expr, s.span))
        else:
            out.append(s)
        for d in self.directions:
            e = Emitter(self.names.temp, s.span)
            tangent = self.tangent_of(e, s.expr, d, result)
            if tangent is None:
                tangent = zero_expr(e, target.type, result)
            elif target.type.is_array and not tangent.type.is_array:
                tangent = e.op("add", e.zeros_like(result), tangent)
            out.extend(e.stmts)
            bind(out, self.tangent(target, d), tangent, declare, s.span, self.names)
        if overwrites_operand:
            out.append(ir.Assign(target, result, s.span))

    def tangent_of(self, e, expr: ir.Expr, d: str, result: ir.Atom) -> ir.Atom | None:
        if isinstance(expr, ir.Var):
            return self.tangent_or_none(expr, d)
        if isinstance(expr, ir.Const):
            return None
        prim = lookup(expr.op)
        tangents = tuple(self.tangent_or_none(a, d) for a in expr.args)
        if all(t is None for t in tangents):
            return None
        return prim.emit_jvp(e, expr.args, tangents, result)

    def pop(self, s: ir.Let | ir.Assign, out: list) -> None:
        target = s.targets[0] if isinstance(s, ir.Let) else s.target
        if differentiable(target):
            for d in reversed(self.directions):
                tangent = self.tangent(target, d)
                popped = ir.Pop(s.expr.tape)
                out.append(ir.Let((tangent,), popped, s.span) if isinstance(s, ir.Let)
                           else ir.Assign(tangent, popped, s.span))
        out.append(s)

    def call(self, s: ir.Let | ir.Assign, out: list) -> None:
        call: ir.CallFn = s.expr
        targets = list(s.targets) if isinstance(s, ir.Let) else [s.target]
        varied_targets = [t for t in targets if self.is_varied(t)]
        if not varied_targets:
            out.append(s)
            return
        callee = self.mode.program.function(call.fn)
        active = tuple(p.name for p in callee.params if differentiable(p))
        if not any(self.is_varied(a) for a in call.args):
            out.append(s)
            for t in varied_targets:
                for d in self.directions:
                    e = Emitter(self.names.temp, s.span)
                    zero = zero_expr(e, t.type, t)
                    out.extend(e.stmts)
                    bind(out, self.tangent(t, d), zero, isinstance(s, ir.Let), s.span, self.names)
            return
        name = self.mode.jvp_name(call.fn, self.directions, active)
        tangent_args = [
            self.tangent_or_zero(a, d, out, s.span)
            for d in self.directions
            for a, p in zip(call.args, callee.params)
            if differentiable(p)
        ]
        results = [ir.Var(self.names.temp(), t.type) for t in targets]
        result_tangents = [
            ir.Var(self.names.temp(), t.type) for t in targets if differentiable(t) for _ in self.directions
        ]
        out.append(ir.Let(tuple(results + result_tangents), ir.CallFn(name, call.args + tuple(tangent_args)), s.span))
        declare = isinstance(s, ir.Let)
        tangent_iter = iter(result_tangents)
        for target, result in zip(targets, results):
            out.append(ir.Let((target,), result, s.span) if declare else ir.Assign(target, result, s.span))
            if differentiable(target):
                for d in self.directions:
                    value = next(tangent_iter)
                    if self.is_varied(target):
                        bind(out, self.tangent(target, d), value, declare, s.span, self.names)


# ---------------------------------------------------------------- the entry


def forward_entry(mode: ForwardMode, fn: ir.Function, wrt: list[str]) -> ir.Function:
    """The entry of a forward-mode derivative program: fn's parameters in, (value, d/dwrt1, ...) out.

    The JVPs it calls are made in `mode` (`mode.functions()`), once for all entries built there.
    """
    fn_names = mode.fn_names
    params = {p.name: p for p in fn.params}
    scalars = tuple(w for w in wrt if params[w].type.kind == "float")
    vecs = [w for w in wrt if params[w].type.is_array]
    entry_name = fn_names.name(naming.role(fn.name, naming.FORWARD))
    if not vecs:
        seeds = lambda p, d: ir.Const(1.0 if p.name == d else 0.0, FLOAT)  # noqa: E731
        return FunctionJvp(mode, fn, scalars, set(scalars), seeds).build(entry_name)
    return _entry_with_vecs(mode, fn, wrt, scalars, vecs, entry_name)


def _sizes(e: Emitter, a: ir.Atom) -> tuple[ir.Atom, ...]:
    """A vec's length, or a mat's rows and columns."""
    if a.type.kind == "mat":
        return (e.op("rows", a), e.op("cols", a))
    return (e.op("len", a),)


def _entry_with_vecs(mode: ForwardMode, fn: ir.Function, wrt, scalars, vecs, entry_name) -> ir.Function:
    """Scalar directions in one JVP call; each vec parameter by a loop over its unit vecs, each mat parameter by
    two nested loops over its unit mats."""
    names = Namer({p.name for p in fn.params} | {fn.name})
    e = Emitter(names.temp, fn.span)
    grads: dict[str, ir.Atom] = {}
    value = ir.Var(names.name(fn.name), fn.ret)
    args = fn.params
    if scalars:
        jvp = mode.jvp_name(fn.name, scalars, scalars)
        outs = [ir.Var(names.name(naming.derivative(fn.name, d)), FLOAT) for d in scalars]
        ones = tuple(ir.Const(1.0 if p == d else 0.0, FLOAT) for d in scalars for p in scalars)
        e.stmts.append(ir.Let((value, *outs), ir.CallFn(jvp, args + ones), fn.span))
        grads.update(zip(scalars, outs))
    else:
        e.stmts.append(ir.Let((value,), ir.CallFn(fn.name, args), fn.span))
    by_name = {p.name: p for p in fn.params}
    for v in vecs:
        param = by_name[v]
        grad = ir.Var(names.name(naming.derivative(fn.name, v)), param.type)
        e.stmts.append(ir.Let((grad,), ir.Prim("zeros", _sizes(e, param)), fn.span))
        is_mat = param.type.kind == "mat"
        indices = (ir.Var(names.name("j"), INT),) + ((ir.Var(names.name("k"), INT),) if is_mat else ())
        inner = Emitter(names.temp, fn.span)
        seed = ir.Var(names.name(naming.derivative(v, v)), param.type)
        inner.stmts.append(ir.Let((seed,), ir.Prim("addat", (inner.op("zeros", *_sizes(inner, param)), *indices,
                                                               ir.Const(1.0, FLOAT))), fn.span))
        jvp = mode.jvp_name(fn.name, (v,), (v,))
        result = ir.Var(names.temp(), fn.ret)
        slope = ir.Var(names.name(naming.role(naming.derivative(fn.name, v), naming.DIRECTION)), FLOAT)
        inner.stmts.append(ir.Let((result, slope), ir.CallFn(jvp, args + (seed,)), fn.span))
        inner.stmts.append(ir.Assign(grad, ir.Prim("addat", (grad, *indices, slope)), fn.span))
        loop: tuple[ir.Stmt, ...] = tuple(inner.stmts)
        if is_mat:
            loop = (ir.For(indices[1], ir.Const(0, INT), e.op("cols", param), loop, fn.span),)
            stop = e.op("rows", param)
        else:
            stop = e.op("len", param)
        e.stmts.append(ir.For(indices[0], ir.Const(0, INT), stop, loop, fn.span))
        grads[v] = grad
    values = (value,) + tuple(grads[w] for w in wrt)
    e.stmts.append(ir.Return(values, fn.span))
    return ir.Function(entry_name, fn.params, tuple_of(v.type for v in values), tuple(e.stmts), fn.span)
