"""Derivative programs on demand: build them with the IR passes, print them, run them, check them.

`derivative_program` is the one place where the passes are composed: first
order is forward or reverse mode of the function; second order applies the
outer mode to each gradient component of the first-order program (a wrapper
per row that picks component i), so the outer pass differentiates the inner
pass's output, tape and all, as the lecture does by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from rich.table import Table

from adlang.interp.interpreter import DEFAULT_MAX_TAPE, check_length, run_function
from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.builder import rename_calls
from adlang.ir.checkpoint import checkpoint_loops, parse_strategy
from adlang.ir.checkpoint_schedules import pass_schedule, simulate
from adlang.ir.forward import ForwardMode, forward_entry
from adlang.ir.grads import expand_grads
from adlang.ir.naming import Namer, function_namer
from adlang.ir.printer import print_program
from adlang.ir.reverse import ReverseMode, reverse_entry
from adlang.ir.simplify import simplify_function
from adlang.ir.types import FLOAT, tuple_of
from adlang.kinks import Difference, central_difference
from adlang.lang.errors import RuntimeFault, UsageError

FIRST_ORDER = ("forward", "reverse")


@dataclass
class DerivativeRun:
    value: object
    grad: dict[str, object]
    hessian: dict[str, dict[str, object]] | None
    trace: list | None
    steps: int
    tape_peak: int = 0
    recomputed: int = 0  # loop iterations run again (see `recomputed_iterations`)
    loops: list[LoopStats] = field(default_factory=list)  # each checkpointed loop


@dataclass
class LoopStats:
    """A checkpointed loop in one run: its trips, the iterations run again, and what its schedule predicts."""

    line: int
    strategy: str
    trips: int
    recomputed: int
    predicted: int | None  # None where the loop may run more than once (in a callee, inside a loop)
    counted: bool = False  # a while loop: one more run counts its trips first


def recomputed_iterations(loop_trips: dict[tuple[int, int, str], int]) -> int:
    """Iterations run more than once: for each source loop reverse mode ran backwards, the iterations
    run forwards (first sweep, checkpoint recomputation, a callee's VJP running it again) beyond
    the ones reversed. Loops over checkpoint segments have a role of their own and are left out."""
    total = 0
    for (line, col, role), back in loop_trips.items():
        if role == "backward" and back > 0:
            total += max(0, loop_trips.get((line, col, ""), 0) - back)
    return total


def loop_stats(loops, loop_trips: dict[tuple[int, int, str], int]) -> list[LoopStats]:
    out = []
    for loop in loops:
        key = (loop.span.line, loop.span.col)
        trips = loop_trips.get((*key, "backward"), 0)
        forward = loop_trips.get((*key, ""), 0)
        predicted = None
        if loop.predictable:
            predicted = simulate(pass_schedule(loop.strategy, trips), trips).recomputed_steps
            predicted += trips if loop.counted else 0  # the run that counts a while loop's trips
        out.append(LoopStats(loop.span.line, loop.strategy, trips, max(0, forward - trips), predicted, loop.counted))
    return out


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


def derivative_program(program: ir.Program, fn_name: str, wrt: list[str], mode: str = "reverse",
                       order: int = 1, simplify: bool = True, checkpoint: str = "none") -> tuple[ir.Program, str]:
    """A program whose last function takes fn's parameters and returns (value, gradient..., Hessian...).

    `checkpoint` (none, sqrt, every:K, revolve:S) applies to fn's top-level loops when the inner pass is
    reverse mode.
    """
    derived, entry, _ = _derive(program, fn_name, wrt, mode, order, simplify, checkpoint)
    return derived, entry


def _derive(program, fn_name, wrt, mode, order, simplify, checkpoint):
    """`derivative_program`, and the loops it checkpointed."""
    passes = split_mode(mode, order)
    program = expand_grads(program)
    parse_strategy(checkpoint)
    custom, loops = {}, ()
    if passes[0] == "reverse":
        checkpointed = checkpoint_loops(program, fn_name, checkpoint, function_namer(program.names))
        program, custom, loops = checkpointed.program, checkpointed.custom_vjps, checkpointed.loops
    fn = program.function(fn_name)
    if order == 2 and _vecs_in(fn, wrt):
        raise UsageError("a derivative program of order 2 takes float parameters only (the language has no matrix "
                         "type for a vec's Hessian); `adlang run ... --grad V --order 2` gives it, element by element")
    names = function_namer(program.names)
    mode = ForwardMode(program, names) if passes[0] == "forward" else ReverseMode(program, names, custom)
    entry = _entry(mode, fn, wrt)
    generated = mode.functions() + [entry]
    if order == 2:
        inner = ir.Program(program.functions + tuple(generated))
        generated += _second_order(inner, fn, generated[-1], wrt, passes[1], names)
    if simplify:
        generated = [simplify_function(f) for f in generated]
    entry = generated[-1]
    needed = _reachable(program, generated, entry)
    return ir.Program(tuple(needed)), entry.name, loops


def _mode(name: str, program: ir.Program, names: Namer) -> ForwardMode | ReverseMode:
    return ForwardMode(program, names) if name == "forward" else ReverseMode(program, names)


def _entry(mode: ForwardMode | ReverseMode, fn: ir.Function, wrt: list[str]) -> ir.Function:
    return forward_entry(mode, fn, wrt) if isinstance(mode, ForwardMode) else reverse_entry(mode, fn, wrt)


def _second_order(program, fn, first, wrt, outer_mode, names) -> list[ir.Function]:
    """The outer mode applied to `first`'s gradient outputs; the entry returns value, gradient, Hessian rows.

    Forward mode differentiates every output along every direction in one pass, so
    it takes `first` whole; reverse mode takes one gradient component at a time.
    """
    mode = _mode(outer_mode, program, names)
    if isinstance(mode, ForwardMode):
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


# ---------------------------------------------------------------- running


def compute(program: ir.Program, fn_name: str, args: dict, *, wrt: list[str], mode: str = "reverse",
            order: int = 1, trace: bool = False, max_steps: int = 100_000_000,
            engine: str = "interp", checkpoint: str = "none", max_tape: int = DEFAULT_MAX_TAPE) -> DerivativeRun:
    """Build the derivative program and run it: `engine="compiled"` runs it compiled unless `trace` asks for one.

    A Hessian with respect to vecs is computed element by element (`elementwise_program`): the lengths are
    known once the arguments are.
    """
    fn = program.function(fn_name)
    if order == 2 and fn is not None and _vecs_in(fn, wrt):
        return _compute_elementwise(program, fn, args, wrt, mode, dict(trace=trace, max_steps=max_steps,
                                                                      engine=engine, checkpoint=checkpoint,
                                                                      max_tape=max_tape))
    derived, entry, loops = _derive(program, fn_name, wrt, mode, order, True, checkpoint)
    try:
        result = _run(derived, entry, args, trace, max_steps, max_tape, engine)
    except RuntimeFault as fault:
        raise derivative_fault(fault, program, fn_name, args, max_steps, max_tape, engine) from None
    outputs = result.value
    n = len(wrt)
    grad = {w: outputs[1 + i] for i, w in enumerate(wrt)}
    hessian = None
    if order == 2:
        flat = outputs[1 + n:]
        hessian = {p: {q: flat[i * n + j] for j, q in enumerate(wrt)} for i, p in enumerate(wrt)}
    return DerivativeRun(outputs[0], grad, hessian, result.trace, result.steps, result.tape_peak,
                         recomputed_iterations(result.loop_trips), loop_stats(loops, result.loop_trips))


def _compute_elementwise(program: ir.Program, fn: ir.Function, args: dict, wrt: list[str], mode: str,
                         options: dict) -> DerivativeRun:
    """`compute` of a Hessian with respect to vecs: of fn's elementwise wrapper, regrouped."""
    wrapped, entry, layout, flat_args = elementwise_program(program, fn, wrt, args)
    if not layout:  # only empty vecs: the first derivatives, and a Hessian of empty blocks
        first = compute(program, fn.name, args, wrt=wrt, mode=split_mode(mode, 2)[0], **options)
        return replace(first, hessian={p: {q: np.zeros((0, 0)) for q in wrt} for p in wrt})
    flat = compute(wrapped, entry, flat_args, wrt=[name for name, _, _ in layout], mode=mode, order=2, **options)
    grad, hessian = _regroup(wrt, layout, flat.grad, flat.hessian)
    return replace(flat, grad=grad, hessian=hessian)


def _run(program: ir.Program, fn_name: str, args: dict, trace: bool, max_steps: int, max_tape: int, engine: str):
    if engine == "compiled" and not trace:
        from adlang.interp.compiled import run_compiled

        return run_compiled(program, fn_name, args, max_steps=max_steps, max_tape=max_tape)
    return run_function(program, fn_name, args, trace=trace, max_steps=max_steps, max_tape=max_tape)


def derivative_fault(fault: RuntimeFault, program: ir.Program, fn_name: str, args: dict,
                     max_steps: int = 100_000_000, max_tape: int = DEFAULT_MAX_TAPE,
                     engine: str = "interp") -> RuntimeFault:
    """The error to report where fn's derivative program failed: if fn itself runs at these arguments, an
    operation that failed failed in the derivative (log(a) in d/db a ^ b), and the message says so."""
    if not fault.undefined_operation or fault.message.startswith("the derivative"):
        return fault
    try:
        _run(program, fn_name, args, False, max_steps, max_tape, engine)
    except RuntimeFault:
        return fault
    return RuntimeFault(f"this line has a value here but no derivative: {fault.message}", fault.span)


def _vecs_in(fn: ir.Function, wrt: list[str]) -> bool:
    return any(p.type.kind == "vec" for p in fn.params if p.name in wrt)


# Each element of a vec in --grad becomes a parameter of its own: the Hessian program grows with the
# square of their number.
MAX_HESSIAN_ELEMENTS = 50


def elementwise_program(program: ir.Program, fn: ir.Function, wrt: list[str], args: dict):
    """fn as a function of floats: each vec in `wrt` passed element by element (`v_0, v_1, ...`) and
    rebuilt as a vec literal before fn is called. Returns the program with that wrapper, its name,
    the layout (flat parameter, the parameter of fn it belongs to, the element or None) and the
    wrapper's arguments.
    """
    var_names = Namer({p.name for p in fn.params})
    params: list[ir.Var] = []
    body: list[ir.Stmt] = []
    layout: list[tuple[str, str, int | None]] = []
    flat_args: dict[str, object] = {}
    for p in fn.params:
        if p.name not in wrt or p.type.kind != "vec":
            params.append(p)
            flat_args[p.name] = args[p.name]
            if p.name in wrt:
                layout.append((p.name, p.name, None))
            continue
        value = np.asarray(args[p.name], dtype=float)
        check_length(p.type, value, f"argument '{p.name}'", fn.span)
        items = [ir.Var(var_names.name(naming.element(p.name, i)), FLOAT) for i in range(len(value))]
        params += items
        body.append(ir.Let((p,), ir.Prim("veclit", tuple(items)), fn.span))
        for i, item in enumerate(items):
            layout.append((item.name, p.name, i))
            flat_args[item.name] = float(value[i])
    if len(layout) > MAX_HESSIAN_ELEMENTS:
        raise UsageError(f"--order 2 differentiates each element of a vec on its own: {len(layout):,} elements, "
                         f"more than the limit of {MAX_HESSIAN_ELEMENTS}; use shorter vecs or fewer --grad "
                         "parameters")
    layout.sort(key=lambda entry: wrt.index(entry[1]))  # --grad's order, elements in order within a vec
    result = ir.Var(var_names.name(fn.name), fn.ret)
    body.append(ir.Let((result,), ir.CallFn(fn.name, fn.params), fn.span))
    body.append(ir.Return((result,), fn.span))
    name = function_namer(program.names).name(naming.role(fn.name, naming.ELEMENTWISE))
    wrapper = ir.Function(name, tuple(params), fn.ret, tuple(body), fn.span)
    return ir.Program(program.functions + (wrapper,)), name, layout, flat_args


def _regroup(wrt: list[str], layout, flat_grad: dict, flat_hessian: dict) -> tuple[dict, dict]:
    """The flat gradient and Hessian back in fn's parameters: a vec's entries as a vec, a block of
    the Hessian as a number, a vec or a matrix (rows: the first parameter's elements)."""
    names = [flat for flat, _, _ in layout]
    rows = {w: [k for k, (_, owner, _) in enumerate(layout) if owner == w] for w in wrt}
    is_float = {w: any(owner == w and element is None for _, owner, element in layout) for w in wrt}
    gradient = np.array([flat_grad[a] for a in names], dtype=float)
    matrix = np.array([[flat_hessian[a][b] for b in names] for a in names], dtype=float).reshape(len(names), -1)

    def block(p: str, q: str):
        entries = matrix[np.ix_(rows[p], rows[q])]  # p's elements by q's; a float has one
        if is_float[p]:
            entries = entries[0]
        if is_float[q]:
            entries = entries[..., 0]
        return float(entries) if entries.ndim == 0 else entries

    grad = {w: float(gradient[rows[w][0]]) if is_float[w] else gradient[rows[w]] for w in wrt}
    return grad, {p: {q: block(p, q) for q in wrt} for p in wrt}


def diff_source(program: ir.Program, fn_name: str, wrt: list[str], mode: str = "reverse", order: int = 1,
                simplify: bool = True, checkpoint: str = "none") -> str:
    derived, _ = derivative_program(program, fn_name, wrt, mode, order, simplify, checkpoint)
    return print_program(derived)


# ---------------------------------------------------------------- check


@dataclass
class CheckRow:
    name: str
    forward: float
    reverse: float
    finite: float
    note: str = ""  # why the finite difference is not the plain one, or cannot be (adlang/kinks.py)

    def errors(self) -> tuple[float, float]:
        return _relative(self.forward, self.reverse), max(_relative(self.forward, self.finite),
                                                          _relative(self.reverse, self.finite))


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(a), abs(b))


@dataclass
class CheckOutcome:
    function: str
    rows: list[CheckRow]
    modes_tol: float = 1e-9
    fd_tol: float = 1e-5

    @property
    def ok(self) -> bool:
        return all(r.errors()[0] <= self.modes_tol and r.errors()[1] <= self.fd_tol for r in self.rows)

    def to_json(self) -> dict:
        return {
            "function": self.function,
            "ok": self.ok,
            "rows": [{"name": r.name, "forward": r.forward, "reverse": r.reverse, "finite_difference": r.finite,
                      "modes_error": r.errors()[0], "fd_error": r.errors()[1], "note": r.note or None}
                     for r in self.rows],
        }

    def __rich__(self) -> Table:
        notes = "\n".join(f"{r.name}: {r.note}" for r in self.rows if r.note)
        table = Table(title=f"derivatives of {self.function}: forward, reverse, central differences",
                      caption=notes or None, caption_justify="left")
        for col in ("d/d", "forward", "reverse", "finite diff.", "fwd vs rev", "vs finite diff.", ""):
            table.add_column(col, justify="right" if col not in ("d/d", "") else "left")
        for r in self.rows:
            modes, fd = r.errors()
            good = modes <= self.modes_tol and fd <= self.fd_tol
            table.add_row(r.name, repr(r.forward), repr(r.reverse), repr(r.finite), f"{modes:.1e}", f"{fd:.1e}",
                          "ok" if good else "DIFFERENT")
        return table


def check(program: ir.Program, fn_name: str, args: dict, wrt: list[str]) -> CheckOutcome:
    forward = compute(program, fn_name, args, wrt=wrt, mode="forward").grad
    reverse = compute(program, fn_name, args, wrt=wrt, mode="reverse").grad
    rows = []
    for w in wrt:
        value = args[w]
        if isinstance(value, np.ndarray):
            for k in range(value.shape[0]):
                fd = _central(program, fn_name, args, w, k, float(reverse[w][k]))
                rows.append(CheckRow(f"{w}[{k}]", float(forward[w][k]), float(reverse[w][k]), fd.value, fd.note))
        else:
            fd = _central(program, fn_name, args, w, None, float(reverse[w]))
            rows.append(CheckRow(w, float(forward[w]), float(reverse[w]), fd.value, fd.note))
    return CheckOutcome(fn_name, rows)


def _central(program, fn_name, args, name, index, derivative: float) -> Difference:
    """(f(x + h) - f(x - h)) / 2h with h scaled to x; rounding and truncation errors balance near eps^(1/3).

    Where it does not match `derivative` because it straddles a kink, a smaller step (see kinks.py).
    """
    base = args[name]
    x = float(base[index]) if index is not None else float(base)
    h = 6e-6 * max(1.0, abs(x))

    def at(v: float) -> float:
        moved = dict(args)
        if index is None:
            moved[name] = v
        else:
            arr = np.array(base, dtype=float)
            arr[index] = v
            moved[name] = arr
        return float(run_function(program, fn_name, moved).value)

    return central_difference(at, x, h, derivative, CheckOutcome.fd_tol)
