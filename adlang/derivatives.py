"""Derivatives on demand: run the program `ir/derive.py` builds, check it against finite differences.

A Hessian with respect to vecs is computed here, one Hessian-vector product per
element (`hessians.py`), where the arguments give the vecs' lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from adlang.interp import engines
from adlang.interp.runtime import DEFAULT_MAX_STEPS, DEFAULT_MAX_TAPE, check_length
from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.derive import derive, finish, vecs_in
from adlang.ir.naming import Namer, function_namer
from adlang.ir.types import FLOAT
from adlang.kinks import Difference, central_difference
from adlang.lang.errors import RuntimeFault, UsageError

if TYPE_CHECKING:
    from rich.table import Table


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
            from adlang.ir.checkpoint_schedules import pass_schedule, simulate  # only with checkpointed loops

            predicted = simulate(pass_schedule(loop.strategy, trips), trips).recomputed_steps
            predicted += trips if loop.counted else 0  # the run that counts a while loop's trips
        out.append(LoopStats(loop.span.line, loop.strategy, trips, max(0, forward - trips), predicted, loop.counted))
    return out


# ---------------------------------------------------------------- running


def compute(program: ir.Program, fn_name: str, args: dict, *, wrt: list[str], mode: str = "reverse",
            order: int = 1, trace: bool = False, max_steps: int = DEFAULT_MAX_STEPS,
            engine: str = "interp", checkpoint: str = "none", max_tape: int = DEFAULT_MAX_TAPE,
            cache: dict | None = None) -> DerivativeRun:
    """Build the derivative program and run it: `engine="compiled"` runs it compiled unless `trace` asks for one.

    A Hessian with respect to vecs is n Hessian-vector products (`hessians.py`), one run per direction.
    `cache`, where given, keeps what was built for the next call with the same function, parameters, mode,
    order and checkpointing.
    """
    fn = program.function(fn_name)
    if order == 2 and fn is not None and vecs_in(fn, wrt):
        return _compute_by_directions(program, fn, args, wrt, mode, checkpoint, cache,
                                      dict(trace=trace, max_steps=max_steps, max_tape=max_tape, engine=engine))
    key = (fn_name, tuple(wrt), mode, order, checkpoint)
    derived = cache.get(key) if cache is not None else None
    if derived is None:
        derived = derive(program, fn_name, wrt, mode, order, True, checkpoint)
        if cache is not None:
            cache[key] = derived
    entry, loops = derived.entry, derived.loops
    try:
        result = _run(derived.program, entry, args, trace, max_steps, max_tape, engine)
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


def _compute_by_directions(program: ir.Program, fn: ir.Function, args: dict, wrt: list[str], mode: str,
                           checkpoint: str, cache: dict | None, options: dict) -> DerivativeRun:
    """`compute` of a Hessian with respect to vecs: the gradient once, then H u along each unit direction u."""
    from adlang import hessians

    places = hessians.layout(wrt, args)
    key = ("hvp", fn.name, tuple(wrt), mode, checkpoint)
    built = cache.get(key) if cache is not None else None
    if built is None:
        built = hessians.hvp_program(program, fn, wrt, mode, checkpoint)
        if cache is not None:
            cache[key] = built
    first = built.first
    try:
        gradient = _run(first.program, first.entry, args, **options)
        directions = []
        for k in range(sum(hessians.width(size) for _, size in places)):
            seeds = hessians.unit_seeds(built, wrt, args, places, k)
            directions.append(_run(built.program, built.entry, {**args, **seeds}, **options))
    except RuntimeFault as fault:
        raise derivative_fault(fault, program, fn.name, args, options["max_steps"], options["max_tape"],
                               options["engine"]) from None
    columns = [run.value[built.hu_at:built.hu_at + len(wrt)] for run in directions]
    hessian = hessians.assemble(wrt, places, columns)
    steps, peak, trace = hessians.combined(gradient, directions)
    outputs = gradient.value
    grad = {w: outputs[1 + i] for i, w in enumerate(wrt)}
    return DerivativeRun(outputs[0], grad, hessian, trace, steps, peak, recomputed_iterations(gradient.loop_trips),
                         loop_stats(first.loops, gradient.loop_trips))


def _run(program: ir.Program, fn_name: str, args: dict, trace: bool = False, max_steps: int = DEFAULT_MAX_STEPS,
         max_tape: int = DEFAULT_MAX_TAPE, engine: str = "interp"):
    return engines.run(finish(program), fn_name, args, engine=engine, trace=trace, max_steps=max_steps,
                       max_tape=max_tape)


def derivative_fault(fault: RuntimeFault, program: ir.Program, fn_name: str, args: dict,
                     max_steps: int = DEFAULT_MAX_STEPS, max_tape: int = DEFAULT_MAX_TAPE,
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


# ---------------------------------------------------------------- check


@dataclass
class CheckRow:
    name: str
    forward: float
    reverse: float
    finite: float
    note: str = ""  # why the finite difference is not the plain one, or cannot be (adlang/kinks.py)

    @property
    def central(self) -> float:
        """The central difference (the spec's name for it in the API)."""
        return self.finite

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

    def _repr_html_(self) -> str:
        from adlang.display import check_html

        return check_html(self)

    def __rich__(self) -> Table:
        from rich.table import Table  # only when shown: `adlang run` starts without rich

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
            for k in (np.ndindex(value.shape) if value.ndim == 2 else range(value.shape[0])):
                fd = _central(program, fn_name, args, w, k, float(reverse[w][k]))
                label = f"{w}[{k}]" if value.ndim == 1 else f"{w}[{k[0]}, {k[1]}]"
                rows.append(CheckRow(label, float(forward[w][k]), float(reverse[w][k]), fd.value, fd.note))
        else:
            fd = _central(program, fn_name, args, w, None, float(reverse[w]))
            rows.append(CheckRow(w, float(forward[w]), float(reverse[w]), fd.value, fd.note))
    outcome = CheckOutcome(fn_name, rows)
    unexplained = [r for r in rows if not r.note and r.errors()[1] > outcome.fd_tol]
    if unexplained:
        conventions = convention_notes(program, fn_name, args, wrt)
        for row in unexplained:
            if conventions:
                row.note = ("the function is smooth here, but the program passes through a point where the "
                            "derivative is a convention, and forward and reverse mode followed it: "
                            + "; ".join(conventions))
    return outcome


def convention_notes(program: ir.Program, fn_name: str, args: dict, wrt: list[str]) -> list[str]:
    """The kink and tie notes of a traced run of fn's reverse-mode derivative (abs at 0, a tie of max...), each
    once, in order."""
    trace = compute(program, fn_name, args, wrt=wrt, trace=True).trace or []
    notes: list[str] = []
    for entry in trace:
        for note in (entry.note or "").split("; "):
            if note and note not in notes:
                notes.append(note)
    return notes


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
        return float(engines.run(finish(program), fn_name, moved).value)

    return central_difference(at, x, h, derivative, CheckOutcome.fd_tol)
