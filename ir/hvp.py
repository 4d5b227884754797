"""Hessian-vector products as a pass: from G, a first-order derivative program, to one giving H u.

G(params) -> (value, gradient...) is built in the inner mode (`ir/derive.py`).
The outer mode then gives H u for a direction u, in a program whose size is
that of G, not of n^2 copies of it:
- forward: G's JVP along u (the tangent of the gradient is H u);
- reverse: the reverse-mode gradient of `sum_p <u_p, g_p>` (H is symmetric,
  so that gradient is H u), which is G's VJP with the gradient's cotangent u
  and the value's zero: `F_directional(params, u)` calls that VJP alone, asked
  to do no work for the value, and never runs G itself.
Either way the entry `F_hvp(params..., seeds...)` returns (value, gradient...,
H u...), a part of u and of H u per parameter, in wrt's order. Each run costs a
small constant times the function, whatever the length of its vecs.
"""

from __future__ import annotations

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.forward import ForwardMode
from adlang.ir.naming import Namer
from adlang.ir.reverse import ReverseMode
from adlang.ir.types import FLOAT, tuple_of


def seed_params(fn: ir.Function, wrt: list[str]) -> tuple[ir.Var, ...]:
    """The direction's parameters, one per wrt parameter in wrt's order, typed as it is (`v_seed`)."""
    local = Namer(p.name for p in fn.params)
    params = {p.name: p for p in fn.params}
    return tuple(ir.Var(local.name(naming.role(w, naming.SEED)), params[w].type) for w in wrt)


def directional(fn: ir.Function, g: ir.Function, wrt: list[str], reverse: ReverseMode, names: Namer) -> ir.Function:
    """`F_directional(params..., seeds...)` = H times the seeds, the parts in wrt's order: the gradient of
    `sum_p <seed_p, dF/dp>` by reverse mode, which is one call of G's VJP with the seeds as the cotangents of
    G's gradient and zero for its value (a VJP made to skip the value's reversal)."""
    seeds = seed_params(fn, wrt)
    by_wrt = dict(zip(wrt, seeds))
    active = [p.name for p in fn.params if p.name in by_wrt]
    vjp, returned = reverse.vjp(g.name, active, silent=(0,))
    local = Namer([p.name for p in fn.params] + [s.name for s in seeds])
    adjoints = {w: ir.Var(local.name(naming.role(naming.derivative(fn.name, w), naming.HVP)), by_wrt[w].type)
                for w in returned}
    cotangents = (ir.Const(0.0, FLOAT), *seeds)
    call = ir.Let(tuple(adjoints[w] for w in returned), ir.CallFn(vjp, fn.params + cotangents), fn.span)
    parts = tuple(adjoints[w] for w in wrt)
    ret = parts[0].type if len(parts) == 1 else tuple_of([p.type for p in parts])
    name = names.name(naming.role(fn.name, naming.DIRECTIONAL))
    return ir.Function(name, fn.params + seeds, ret, (call, ir.Return(parts, fn.span)), fn.span)


def forward_over(forward: ForwardMode, fn: ir.Function, g: ir.Function, wrt: list[str]) -> ir.Function:
    """The entry by forward mode over G: G's JVP along the seeds, its value's tangent dropped.

    The JVP takes its tangents in parameter order and returns G's outputs, then their tangents.
    """
    jvp = forward.jvp_name(g.name, (naming.DIRECTION,), tuple(wrt))
    seeds = seed_params(fn, wrt)
    by_wrt = dict(zip(wrt, seeds))
    in_order = tuple(by_wrt[p.name] for p in fn.params if p.name in by_wrt)
    local, value, grads, parts = _outputs(fn, wrt, seeds)
    slope = ir.Var(local.temp(), FLOAT)  # the value's tangent: the gradient along the seeds, not needed
    body = (ir.Let((value, *grads, slope, *parts), ir.CallFn(jvp, fn.params + in_order), fn.span),
            _returned(fn, value, grads, parts))
    return _entry(fn, seeds, value, grads, parts, body, forward.fn_names)


def reverse_over(fn: ir.Function, g: ir.Function, wrt: list[str], along: ir.Function, names: Namer) -> ir.Function:
    """The entry by reverse mode over G: G for the value and gradient, then `along` (`directional`) for H u."""
    seeds = seed_params(fn, wrt)
    local, value, grads, parts = _outputs(fn, wrt, seeds)
    body = (ir.Let((value, *grads), ir.CallFn(g.name, fn.params), fn.span),
            ir.Let(tuple(parts), ir.CallFn(along.name, fn.params + seeds), fn.span),
            _returned(fn, value, grads, parts))
    return _entry(fn, seeds, value, grads, parts, body, names)


def _outputs(fn: ir.Function, wrt: list[str], seeds: tuple[ir.Var, ...]):
    """The entry's variables: the value `F_value`, the gradient `dFdp` and H u's parts `dFdp_hvp`."""
    local = Namer([p.name for p in fn.params] + [s.name for s in seeds])
    value = ir.Var(local.name(naming.role(fn.name, naming.VALUE)), FLOAT)
    grads = [ir.Var(local.name(naming.derivative(fn.name, w)), s.type) for w, s in zip(wrt, seeds)]
    parts = [ir.Var(local.name(naming.role(naming.derivative(fn.name, w), naming.HVP)), s.type)
             for w, s in zip(wrt, seeds)]
    return local, value, grads, parts


def _returned(fn: ir.Function, value: ir.Var, grads: list[ir.Var], parts: list[ir.Var]) -> ir.Return:
    return ir.Return((value, *grads, *parts), fn.span)


def _entry(fn, seeds, value, grads, parts, body, names: Namer) -> ir.Function:
    ret = tuple_of([value.type] + [g.type for g in grads] + [p.type for p in parts])
    return ir.Function(names.name(naming.role(fn.name, naming.HVP)), fn.params + seeds, ret, body, fn.span)
