"""Derivatives on demand: run the program `ir/derive.py` builds, check it against finite differences.

A Hessian with respect to vecs is computed here, one Hessian-vector product per
element (`hessians.py`), where the arguments give the vecs' lengths.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

import numpy as np

from adlang.interp import engines
from adlang.interp.runtime import DEFAULT_MAX_STEPS, DEFAULT_MAX_TAPE
from adlang.ir import nodes as ir
from adlang.ir.derive import Hvp, derive, derive_hvp, finish, refuse_mat_hessian, vecs_in
from adlang.kinks import Difference, central_difference
from adlang.lang.errors import RuntimeFault
from adlang.lang.record import mutable_record

if TYPE_CHECKING:
    from rich.table import Table


@mutable_record
class DerivativeRun:
    value: object
    grad: dict[str, object]
    hessian: dict[str, dict[str, object]] | None
    trace: list | None
    steps: int
    tape_peak: int = 0
    recomputed: int = 0  # loop iterations run again (see `recomputed_iterations`)
    loops: list[LoopStats] = field(default_factory=list)  # each checkpointed loop
    hvp: dict[str, object] | None = None  # H u, a part per wrt parameter (`compute_hvp`)


@mutable_record
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
    if fn is not None:
        refuse_mat_hessian(fn, wrt, order)
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


def compute_hvp(program: ir.Program, fn_name: str, args: dict, direction: dict, *, wrt: list[str],
                mode: str = "forward-over-reverse", trace: bool = False, max_steps: int = DEFAULT_MAX_STEPS,
                engine: str = "interp", checkpoint: str = "none", max_tape: int = DEFAULT_MAX_TAPE,
                cache: dict | None = None) -> DerivativeRun:
    """The value, the gradient and H u in one run of the Hessian-vector product program, `direction` holding
    u's part for every wrt parameter (`hessians.direction_parts`)."""
    built = hvp_program(program, fn_name, wrt, mode, checkpoint, cache)
    seeds = dict(zip(built.seeds, (direction[w] for w in wrt)))
    try:
        result = _run(built.program, built.entry, {**args, **seeds}, trace, max_steps, max_tape, engine)
    except RuntimeFault as fault:
        raise derivative_fault(fault, program, fn_name, args, max_steps, max_tape, engine) from None
    outputs = result.value
    n = len(wrt)
    return DerivativeRun(outputs[0], dict(zip(wrt, outputs[1:1 + n])), None, result.trace, result.steps,
                         result.tape_peak, recomputed_iterations(result.loop_trips),
                         hvp=dict(zip(wrt, outputs[1 + n:])))


def _compute_by_directions(program: ir.Program, fn: ir.Function, args: dict, wrt: list[str], mode: str,
                           checkpoint: str, cache: dict | None, options: dict) -> DerivativeRun:
    """`compute` of a Hessian with respect to vecs: the gradient once, then H u along each unit direction u."""
    from adlang import hessians

    places = hessians.layout(wrt, args)
    built = hvp_program(program, fn.name, wrt, mode, checkpoint, cache)
    first = built.first
    try:
        gradient = _run(first.program, first.entry, args, **options)
        directions = []
        for k in range(sum(hessians.width(size) for _, size in places)):
            seeds = hessians.unit_seeds(built, places, k)
            directions.append(_run(built.program, built.directional, {**args, **seeds}, **options))
    except RuntimeFault as fault:
        raise derivative_fault(fault, program, fn.name, args, options["max_steps"], options["max_tape"],
                               options["engine"]) from None
    columns = [built.hu(run.value) for run in directions]
    hessian = hessians.assemble(wrt, places, columns)
    steps, peak, trace = hessians.combined(gradient, directions)
    outputs = gradient.value
    grad = {w: outputs[1 + i] for i, w in enumerate(wrt)}
    return DerivativeRun(outputs[0], grad, hessian, trace, steps, peak, recomputed_iterations(gradient.loop_trips),
                         loop_stats(first.loops, gradient.loop_trips))


def hvp_program(program: ir.Program, fn_name: str, wrt: list[str], mode: str, checkpoint: str = "none",
                cache: dict | None = None) -> Hvp:
    """The Hessian-vector product program (`ir/derive.py`), built once per function, parameters, mode and
    checkpointing where `cache` keeps it."""
    key = ("hvp", fn_name, tuple(wrt), mode, checkpoint)
    built = cache.get(key) if cache is not None else None
    if built is None:
        built = derive_hvp(program, fn_name, wrt, mode, checkpoint=checkpoint)
        if cache is not None:
            cache[key] = built
    return built


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


# ---------------------------------------------------------------- check


@mutable_record
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


LONG_TABLE = 20  # a check table of more rows is shown summarised (`CheckOutcome.shown_rows`)
SHOWN_ENDS = 5


@mutable_record
class CheckOutcome:
    """Derivatives two ways and by finite differences, a row per entry. `check --jacobian` and `check --order 2`
    (`checks.py`) fill it too: `what` titles the table, `columns` names its first four columns, and `keys` are
    added to the JSON (which Jacobian, which mode pairs)."""

    function: str
    rows: list[CheckRow]
    modes_tol: float = 1e-9
    fd_tol: float = 1e-5
    what: str = "derivatives"
    columns: tuple[str, str, str, str] = ("d/d", "forward", "reverse", "fwd vs rev")
    keys: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(self.good())

    @property
    def title(self) -> str:
        return f"{self.what} of {self.function}: {self.columns[1]}, {self.columns[2]}, central differences"

    def to_json(self) -> dict:
        return {
            "function": self.function,
            "ok": self.ok,
            **self.keys,
            "rows": [{"name": r.name, "forward": r.forward, "reverse": r.reverse, "finite_difference": r.finite,
                      "modes_error": r.errors()[0], "fd_error": r.errors()[1], "note": r.note or None}
                     for r in self.rows],
        }

    def _repr_html_(self) -> str:
        from adlang.display import check_html

        return check_html(self)

    def __rich__(self) -> Table:
        from rich.table import Table  # only when shown: `adlang run` starts without rich

        table = Table(title=self.title, caption="\n".join(self.notes("--json lists every row")) or None,
                      caption_justify="left")
        first, one, other, apart = self.columns
        for col in (first, one, other, "finite diff.", apart, "vs finite diff.", ""):
            table.add_column(col, justify="right" if col not in (first, "") else "left")
        for cells in self.table_rows(repr):
            table.add_row(*cells)
        return table

    def table_rows(self, number) -> list[list[str]]:
        """The rows as shown (`shown_rows`), numbers written by `number`, a gap of rows left out as one row."""
        good = self.good()
        lines = []
        previous = -1
        for i in self.shown_rows(good):
            if i > previous + 1:
                lines.append([f"... {i - previous - 1} ok", "", "", "", "", "", ""])
            r = self.rows[i]
            modes, fd = r.errors()
            lines.append([r.name, number(r.forward), number(r.reverse), number(r.finite), f"{modes:.1e}",
                          f"{fd:.1e}", "ok" if good[i] else "DIFFERENT"])
            previous = i
        return lines

    def notes(self, where_all: str) -> list[str]:
        """Each row's note, and how many rows are shown where the table is summarised (`where_all` says where
        every row is)."""
        notes = [f"{r.name}: {r.note}" for r in self.rows if r.note]
        shown = len(self.shown_rows(self.good()))
        if shown < len(self.rows):
            notes.append(f"{shown} of {len(self.rows)} rows shown: the first and last {SHOWN_ENDS} and every "
                         f"one that is not ok or has a note; {where_all}")
        return notes

    def good(self) -> list[bool]:
        return [r.errors()[0] <= self.modes_tol and r.errors()[1] <= self.fd_tol for r in self.rows]

    def shown_rows(self, good: list[bool]) -> list[int]:
        """Every row of a short table; of a long one (a long vec's entries) the ends and each row that is not
        ok or carries a note, so a 10^4-element check stays a screenful and still shows every disagreement."""
        count = len(self.rows)
        if count <= LONG_TABLE:
            return list(range(count))
        return [i for i in range(count)
                if i < SHOWN_ENDS or i >= count - SHOWN_ENDS or not good[i] or self.rows[i].note]


def check(program: ir.Program, fn_name: str, args: dict, wrt: list[str], engine: str = "interp") -> CheckOutcome:
    """Forward mode, reverse mode and central differences of f, every run in `engine`."""
    forward = compute(program, fn_name, args, wrt=wrt, mode="forward", engine=engine).grad
    reverse = compute(program, fn_name, args, wrt=wrt, mode="reverse", engine=engine).grad
    rows = []
    for w in wrt:
        value = args[w]
        if isinstance(value, np.ndarray):
            for k in (np.ndindex(value.shape) if value.ndim == 2 else range(value.shape[0])):
                fd = _central(program, fn_name, args, w, k, float(reverse[w][k]), engine)
                label = f"{w}[{k}]" if value.ndim == 1 else f"{w}[{k[0]}, {k[1]}]"
                rows.append(CheckRow(label, float(forward[w][k]), float(reverse[w][k]), fd.value, fd.note))
        else:
            fd = _central(program, fn_name, args, w, None, float(reverse[w]), engine)
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


def _central(program, fn_name, args, name, index, derivative: float, engine: str = "interp") -> Difference:
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
        return float(engines.run(finish(program), fn_name, moved, engine=engine).value)

    return central_difference(at, x, h, derivative, CheckOutcome.fd_tol)
