"""fn as a function of floats: each vec it is differentiated by passed element by element.

A pass for derivative programs that take float parameters only (a dense
Hessian program of order 2): `F_elementwise(v_0, v_1, ..., x)` rebuilds each
vec as a vec literal and calls fn. Its size grows with the vecs' lengths, which
are fixed when it is built.
"""

from __future__ import annotations

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.naming import Namer, function_namer
from adlang.ir.types import FLOAT


def elementwise_program(program: ir.Program, fn: ir.Function, wrt: list[str], lengths: dict[str, int]):
    """The program with the wrapper, the wrapper's name and its layout: (flat parameter, the parameter of fn
    it belongs to, the element or None), in wrt's order, elements in order within a vec. `lengths` gives
    each vec in `wrt` its length."""
    var_names = Namer({p.name for p in fn.params})
    params: list[ir.Var] = []
    body: list[ir.Stmt] = []
    layout: list[tuple[str, str, int | None]] = []
    for p in fn.params:
        if p.name not in wrt or p.type.kind != "vec":
            params.append(p)
            if p.name in wrt:
                layout.append((p.name, p.name, None))
            continue
        items = [ir.Var(var_names.name(naming.element(p.name, i)), FLOAT) for i in range(lengths[p.name])]
        params += items
        body.append(ir.Let((p,), ir.Prim("veclit", tuple(items)), fn.span))
        layout += [(item.name, p.name, i) for i, item in enumerate(items)]
    layout.sort(key=lambda entry: wrt.index(entry[1]))
    result = ir.Var(var_names.name(fn.name), fn.ret)
    body.append(ir.Let((result,), ir.CallFn(fn.name, fn.params), fn.span))
    body.append(ir.Return((result,), fn.span))
    name = function_namer(program.names).name(naming.role(fn.name, naming.ELEMENTWISE))
    wrapper = ir.Function(name, tuple(params), fn.ret, tuple(body), fn.span)
    return ir.Program(program.functions + (wrapper,)), name, layout
