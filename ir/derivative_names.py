"""Which variable of a first-order derivative program carries each value's tangent or adjoint.

A picture of the computation (adlang/graph.py) labels the value `a` with
`dadx` (forward mode) or `dbda` (reverse mode), exactly as `adlang diff`
prints them. The names are not rebuilt from naming's templates, which would be
wrong where a user's name clashes (a user's `dadx` makes the tangent
`dadx_1`): the entry is built by the same passes, in the same order, as the
pass manager (ir/derive.py) builds it, and the builder's own table is read.
Simplification never renames a named variable, though it may drop an unused
one; `bound_names` tells which names the finished program still binds.
"""

from __future__ import annotations

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.checkpoint import checkpoint_loops
from adlang.ir.derive import finish
from adlang.ir.forward import ForwardMode, FunctionJvp
from adlang.ir.naming import function_namer
from adlang.ir.reverse import FunctionVjp, ReverseMode
from adlang.ir.types import FLOAT

# (value, direction) -> name; the direction is the parameter of a tangent, None for an adjoint
Names = dict[tuple[str, str | None], str]


def derivative_names(program: ir.Program, fn_name: str, wrt: list[str], mode: str) -> Names:
    """The tangents (`mode="forward"`, float parameters in `wrt` only) or the adjoints (`"reverse"`) of fn's
    values, by the names the entry of `derive(program, fn_name, wrt, mode)` gives them."""
    program = finish(program)
    names = function_namer(program.names)
    if mode == "forward":
        fn = program.function(fn_name)
        directions = tuple(wrt)
        seeds = lambda p, d: ir.Const(1.0 if p.name == d else 0.0, FLOAT)  # noqa: E731 - as forward_entry seeds
        builder = FunctionJvp(ForwardMode(program, names), fn, directions, set(directions), seeds)
        builder.build(names.name(naming.role(fn_name, naming.FORWARD)))
        return {(value, d): var.name for (value, d), var in builder.tangents.items()}
    checkpointed = checkpoint_loops(program, fn_name, "none", names)
    program = checkpointed.program
    fn = program.function(fn_name)
    vjp = FunctionVjp(ReverseMode(program, names, checkpointed.custom_vjps), fn, list(wrt), entry=True)
    vjp.build(names.name(naming.role(fn_name, naming.REVERSE)))
    table: Names = {(value, None): var.name for value, var in vjp.adjoints.items()}
    # a temporary returned alone is renamed to the function's name (so adjoints read `dfoodx`): its adjoint is
    # the renamed one's
    returned, renamed = fn.returned.values, vjp.fn.returned.values
    if len(returned) == 1 and isinstance(returned[0], ir.Var) and renamed[0] != returned[0]:
        if (renamed[0].name, None) in table:
            table[(returned[0].name, None)] = table[(renamed[0].name, None)]
    return table


def bound_names(fn: ir.Function) -> set[str]:
    """The names a function's parameters and statements bind (membership only, never iterated)."""
    bound = {p.name for p in fn.params}
    for stmt in ir.walk(fn.body):
        bound.update(v.name for v in ir.defined_vars(stmt))
    return bound
