"""The pass manager: from (program, function, wrt, mode, order, checkpoint, simplify) to a finished program.

This is the one place where the passes are composed: first order is forward
or reverse mode of the function; second order applies the outer mode to each
gradient component of the first-order program (a wrapper per row that picks
component i), so the outer pass differentiates the inner pass's output, tape
and all, as the lecture does by hand. A Hessian-vector product applies the
outer mode to the whole first-order program along one direction (`hvp.py`);
a Jacobian differentiates one float wrapper per item of the result
(`jacobian.py`). Engines receive what this builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adlang.ir import jacobian, naming
from adlang.ir import nodes as ir
from adlang.ir.builder import rename_calls
from adlang.ir.checkpoint import checkpoint_loops, parse_strategy
from adlang.ir.grads import expand_grads
from adlang.ir.naming import Namer, function_namer
from adlang.ir.printer import print_program
from adlang.ir.reverse import ReverseMode, reverse_entry
from adlang.ir.simplify import simplify_function
from adlang.ir.types import FLOAT, tuple_of
from adlang.lang.errors import UsageError
from adlang.lang.record import record

if TYPE_CHECKING:
    from adlang.ir.forward import ForwardMode

FIRST_ORDER = ("forward", "reverse")


def split_mode(mode: str, order: int) -> list[str]:
    """The passes to apply, innermost first: `forward-over-reverse` is reverse, then forward."""
    if order == 1:
        if mode not in FIRST_ORDER:
            raise UsageError(f"--mode {mode} needs --order 2")
        return [mode]
    if mode in FIRST_ORDER:
        return [mode, mode]
    outer, _, inner = mode.partition("-over-")
    if outer not in FIRST_ORDER or inner not in FIRST_ORDER:
        raise UsageError(f"unknown --mode '{mode}'")
    return [inner, outer]


@record
class Derived:
    """A finished derivative program: its functions (the entry last), the entry's name, and the loops that
    checkpointing rewrote (for the run's statistics)."""

    program: ir.Program
    entry: str
    loops: tuple = ()


def finish(program: ir.Program) -> ir.Program:
    """Order 0: the program as engines run it, every `grad` form expanded into a call of its derivative
    program (remembered by identity, so running it again builds nothing)."""
    return expand_grads(program)


def derivative_program(program: ir.Program, fn_name: str, wrt: list[str], mode: str = "reverse",
                       order: int = 1, simplify: bool = True, checkpoint: str = "none") -> tuple[ir.Program, str]:
    """A program whose last function takes fn's parameters and returns (value, gradient..., Hessian...)."""
    derived = derive(program, fn_name, wrt, mode, order, simplify, checkpoint)
    return derived.program, derived.entry


def derive(program: ir.Program, fn_name: str, wrt: list[str], mode: str = "reverse", order: int = 1,
           simplify: bool = True, checkpoint: str = "none") -> Derived:
    """The passes, composed: `grad` forms expanded, loops checkpointed (none, sqrt, every:K, revolve:S on fn's
    top-level loops, when the inner pass is reverse mode), the first-order mode, the second order, simplified,
    and only what the entry reaches kept."""
    passes = split_mode(mode, order)
    program = finish(program)
    parse_strategy(checkpoint)
    custom, loops = {}, ()
    if passes[0] == "reverse":
        checkpointed = checkpoint_loops(program, fn_name, checkpoint, function_namer(program.names))
        program, custom, loops = checkpointed.program, checkpointed.custom_vjps, checkpointed.loops
    fn = program.function(fn_name)
    refuse_mat_hessian(fn, wrt, order)
    if order == 2 and vecs_in(fn, wrt):
        raise UsageError("a derivative program of order 2 takes float parameters only (it returns the Hessian as "
                         "one float per pair of parameters); `adlang run ... --grad V --order 2` gives a vec's "
                         "Hessian, one Hessian-vector product per element, and `diff --hvp` prints the "
                         "Hessian-vector product program")
    names = function_namer(program.names)
    mode = _mode(passes[0], program, names, custom)
    entry = _entry(mode, fn, wrt)
    generated = mode.functions() + [entry]
    if order == 2:
        inner = ir.Program(program.functions + tuple(generated))
        generated += _second_order(inner, fn, generated[-1], wrt, passes[1], names)
    if simplify:
        generated = [simplify_function(f) for f in generated]
    entry = generated[-1]
    needed = _reachable(program, generated, entry)
    return Derived(ir.Program(tuple(needed)), entry.name, tuple(loops))


@record
class Hvp:
    """A Hessian-vector product program. `entry` takes fn's parameters, then `seeds` (the direction: one
    parameter per wrt parameter, in wrt's order) and returns (value, gradient..., H u...). `directional` takes
    the same arguments and returns H u's parts from `hu_at` on, at the least cost (the entry itself where the
    outer mode is forward). `first` is the first-order program the outer mode differentiated."""

    first: Derived
    program: ir.Program
    entry: str
    seeds: tuple[str, ...]
    directional: str
    hu_at: int

    def hu(self, value) -> tuple:
        """H u's parts, in wrt's order, from what a run of `directional` returned."""
        n = len(self.seeds)
        if self.hu_at == 0 and n == 1:
            return (value,)
        return tuple(value[self.hu_at:self.hu_at + n])


def derive_hvp(program: ir.Program, fn_name: str, wrt: list[str], mode: str = "forward-over-reverse",
               simplify: bool = True, checkpoint: str = "none") -> Hvp:
    """H u for fn's Hessian with respect to `wrt` (floats and vecs of any length), `mode` a pair (outer over
    inner, or a plain mode at both levels): the inner mode's gradient program, then the outer mode over it
    along the direction u."""
    inner, outer = split_mode(mode, 2)
    fn = finish(program).function(fn_name)
    refuse_mat_hessian(fn, wrt, 2)
    first = derive(program, fn_name, wrt, inner, 1, simplify, checkpoint)
    g = first.program.function(first.entry)
    names = function_namer(first.program.names)
    from adlang.ir import hvp  # with forward mode: loaded by the runs that use it

    if outer == "forward":
        forward = _mode("forward", first.program, names)
        entry = hvp.forward_over(forward, fn, g, wrt)
        generated = forward.functions() + [entry]
        directional, hu_at = entry, 1 + len(wrt)
    else:
        reverse = ReverseMode(first.program, names)
        directional = hvp.directional(fn, g, wrt, reverse, names)
        entry = hvp.reverse_over(fn, g, wrt, directional, names)
        generated = reverse.functions() + [directional, entry]
        hu_at = 0
    if simplify:
        generated = [simplify_function(f) for f in generated]
    needed = _reachable(first.program, generated, generated[-1])
    seeds = tuple(p.name for p in generated[-1].params[len(fn.params):])
    return Hvp(first, ir.Program(tuple(needed)), generated[-1].name, seeds, directional.name, hu_at)


def derive_jacobian(program: ir.Program, fn_name: str, wrt: list[str], mode: str = "reverse",
                    checkpoint: str = "none") -> tuple[Derived, ...]:
    """One first-order program per item of fn's result: its entry takes fn's parameters and `row`, and returns
    (that element of the item, its gradient...): row `row` of the item's Jacobian."""
    program = finish(program)
    wrappers = jacobian.components(program.function(fn_name), function_namer(program.names))
    with_wrappers = ir.Program(program.functions + tuple(wrappers))
    return tuple(derive(with_wrappers, w.name, wrt, mode, 1, True, checkpoint) for w in wrappers)


def _mode(name: str, program: ir.Program, names: Namer, custom: dict | None = None) -> ForwardMode | ReverseMode:
    if name == "reverse":
        return ReverseMode(program, names, custom)
    from adlang.ir.forward import ForwardMode  # loaded by the runs that use it: reverse mode starts faster

    return ForwardMode(program, names)


def _entry(mode: ForwardMode | ReverseMode, fn: ir.Function, wrt: list[str]) -> ir.Function:
    if isinstance(mode, ReverseMode):
        return reverse_entry(mode, fn, wrt)
    from adlang.ir.forward import forward_entry

    return forward_entry(mode, fn, wrt)


def _second_order(program, fn, first, wrt, outer_mode, names) -> list[ir.Function]:
    """The outer mode applied to `first`'s gradient outputs; the entry returns value, gradient, Hessian rows.

    Forward mode differentiates every output along every direction in one pass, so
    it takes `first` whole; reverse mode takes one gradient component at a time.
    """
    mode = _mode(outer_mode, program, names)
    if not isinstance(mode, ReverseMode):
        return _second_order_forward(mode, fn, first, wrt, names)
    out: list[ir.Function] = []
    rows: list[str] = []
    span = fn.span
    grads_types = first.ret.items
    for i, w in enumerate(wrt):
        # The first-order program itself, returning only d/dw: the outer pass then reads like the
        # lecture's slides (dbdx, then ddbdxddbdx, ddbdxddbda, ddbdxdx).
        picked = first.returned.values[1 + i]
        body = first.body[:-1] + (ir.Return((picked,), first.returned.span),)
        picker = ir.Function(names.name(naming.picked_derivative(fn.name, w)), first.params, picked.type, body, span)
        row = _entry(mode, picker, wrt)
        out.append(row)
        rows.append(row.name)
    local = Namer(p.name for p in fn.params)  # the entry's variables: F's parameters are taken
    values = [ir.Var(local.name(naming.role(fn.name, naming.VALUE)), grads_types[0])]
    grads = [ir.Var(local.name(naming.derivative(fn.name, w)), grads_types[1 + i]) for i, w in enumerate(wrt)]
    hessian = [[ir.Var(local.name(naming.second_derivative(fn.name, w, v)), grads_types[0]) for v in wrt]
               for w in wrt]
    body: list[ir.Stmt] = [ir.Let(tuple(values + grads), ir.CallFn(first.name, fn.params), span)]
    for i, hessian_row in enumerate(hessian):
        row_value = ir.Var(local.temp(), grads_types[0])  # d/dwrt_i again: the gradient above has it
        body.append(ir.Let((row_value, *hessian_row), ir.CallFn(rows[i], fn.params), span))
    result = tuple(values + grads + [h for row in hessian for h in row])
    body.append(ir.Return(result, span))
    entry = ir.Function(names.name(naming.role(fn.name, naming.HESSIAN)), fn.params, tuple_of(v.type for v in result),
                        tuple(body), span)
    return mode.functions() + out + [entry]


def _second_order_forward(mode: ForwardMode, fn, first, wrt, names) -> list[ir.Function]:
    """Tangents of (value, gradient) along every parameter: row i of the Hessian is the tangent of d/dwrt_i."""
    from adlang.ir.forward import forward_entry

    span = fn.span
    n = len(wrt)
    tangents = forward_entry(mode, first, wrt)
    local = Namer(p.name for p in fn.params)  # the entry's variables: F's parameters are taken
    values = [ir.Var(local.name(naming.role(fn.name, naming.VALUE)), FLOAT)]
    grads = [ir.Var(local.name(naming.derivative(fn.name, w)), FLOAT) for w in wrt]
    hessian = [ir.Var(local.name(naming.second_derivative(fn.name, p, q)), FLOAT) for p in wrt for q in wrt]
    value_slopes = [ir.Var(local.temp(), FLOAT) for _ in range(n)]  # the gradient again
    call = ir.Let(tuple(values + grads + value_slopes + hessian), ir.CallFn(tangents.name, fn.params), span)
    result = tuple(values + grads + hessian)
    entry = ir.Function(names.name(naming.role(fn.name, naming.HESSIAN)), fn.params, tuple_of(v.type for v in result),
                        (call, ir.Return(result, span)), span)
    return mode.functions() + [tangents, entry]


def _reachable(program: ir.Program, generated: list[ir.Function], entry: ir.Function) -> list[ir.Function]:
    """The functions the entry needs, callees first, the entry last; the original `main` renamed away."""
    table = {f.name: f for f in program.functions}
    table.update({f.name: f for f in generated})
    order = ir.callees_first(table, entry.name)
    functions = [table[n] for n in order]
    if "main" in order:
        mapping = {"main": Namer(table).name(naming.role("main", naming.PRIMAL))}
        functions = [rename_calls(f, mapping) for f in functions]
    return functions


def refuse_mat_hessian(fn: ir.Function, wrt: list[str], order: int) -> None:
    """Second derivatives with respect to a mat are a usage error, wherever they are asked for (a derivative
    program, or the Hessian-vector products of `run --order 2`): the README says why and what works."""
    mats = [p.name for p in fn.params if p.name in wrt and p.type.kind == "mat"]
    if order == 2 and mats:
        raise UsageError(f"second derivatives with respect to a mat parameter ('{mats[0]}') are not supported; "
                         "take its gradient without --order 2, or the Hessian with respect to float and vec "
                         "parameters")


def vecs_in(fn: ir.Function, wrt: list[str]) -> bool:
    return any(p.type.kind == "vec" for p in fn.params if p.name in wrt)


def diff_source(program: ir.Program, fn_name: str, wrt: list[str], mode: str = "reverse", order: int = 1,
                simplify: bool = True, checkpoint: str = "none") -> str:
    derived, _ = derivative_program(program, fn_name, wrt, mode, order, simplify, checkpoint)
    return print_program(derived)


def hvp_source(program: ir.Program, fn_name: str, wrt: list[str], mode: str = "forward-over-reverse",
               simplify: bool = True, checkpoint: str = "none") -> str:
    """The Hessian-vector product program as text: its entry `F_hvp` last."""
    return print_program(derive_hvp(program, fn_name, wrt, mode, simplify, checkpoint).program)
