"""The runtime contract every engine keeps: limits and their messages, tape counting, the run result.

An engine runs a finished program (`ir.derive` built it; no `grad` form is
left) and must give what the interpreter gives: the same value, the same step
count, the same `tape_peak`, and the same errors at the same statements. What
they share to do so lives here, so a new engine writes only how it executes;
`engines.py` is the table of them, `prologue.py` binds and checks arguments.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import field

import numpy as np

from adlang.ir import nodes as ir
from adlang.ir.prims_scalar import POOLED, has_nan, made_nan
from adlang.ir.types import Type
from adlang.lang.errors import RuntimeFault
from adlang.lang.record import mutable_record
from adlang.lang.span import Span

DEFAULT_MAX_STEPS = 100_000_000
DEFAULT_MAX_TAPE = 50_000_000  # values held on the tapes at once (a vec counts its length): about 2 GB
UNFINISHED = "a `grad` form reached an engine: engines run finished programs (adlang.ir.derive.finish)"
EMPTY_TAPE = "pop() on an empty tape: every pop needs a push before it"


@mutable_record
class TraceEntry:
    name: str
    value: object
    line: int
    span: Span | None = None
    note: str | None = None


@mutable_record
class RunResult:
    """What a run gives: the value, the statements run, the trace if one was asked for, the most values the tapes
    held, and the trips of each loop by (line, col, role) (see `loop_key`): only loops that ran a trip, so an
    engine need not tell a loop reached with no trips from one never reached."""

    value: object
    steps: int
    trace: list[TraceEntry] | None = None
    tape_peak: int = 0
    loop_trips: dict[tuple[int, int, str], int] = field(default_factory=dict)


# ---------------------------------------------------------------- limits


def step_limit(max_steps: int, span: Span | None) -> RuntimeFault:
    """The error of running past --max-steps, at the statement that crossed it."""
    return RuntimeFault(
        f"the program ran past the step limit of {max_steps:,} statements; "
        "a loop may not end (raise it with --max-steps N)",
        span,
    )


def tape_limit(max_tape: int, stmt: ir.Stmt) -> RuntimeFault:
    """The error of a push past --max-tape: what fills the tape, and the two ways out."""
    return RuntimeFault(
        f"the tapes would hold more than {max_tape:,} values (reverse mode saves what each loop iteration "
        "overwrites); checkpoint the loop with --checkpoint sqrt or revolve:S, or raise the limit with --max-tape N",
        stmt.span,
    )


def check_length(type_: Type, value: object, what: str, span: Span | None) -> None:
    """A `vec` value where a `vec(N)` is expected has its length checked when it runs (spec: Types), and a mat's
    shape where a `mat(R, C)` is.

    `what` is "argument 'v' of g" (or "argument 'v'" for the function run), "the result of 'f'" or "'w'" (a
    `let` or update); the message's fix follows it. Every engine calls this, so their messages are the same.
    """
    if type_.kind == "vec" and type_.length is not None and len(value) != type_.length:
        if what.startswith("argument"):
            fix = f"pass a vec of length {type_.length}, or declare the parameter `vec` to take any length"
        elif what.startswith("the result"):
            fix = f"return a vec of length {type_.length}, or declare the result `vec` to take any length"
        else:
            fix = f"give it a vec of length {type_.length}, or declare it `vec` to take any length"
        raise RuntimeFault(f"{what} is a {type_}, but this vec has length {len(value)}; {fix}", span)
    if type_.shape is not None and value.shape != type_.shape:
        rows, cols = type_.shape
        got = "x".join(str(n) for n in value.shape)
        if what.startswith("argument"):
            fix = f"pass a {rows}x{cols} mat, or declare the parameter `mat` to take any shape"
        elif what.startswith("the result"):
            fix = f"return a {rows}x{cols} mat, or declare the result `mat` to take any shape"
        else:
            fix = f"give it a {rows}x{cols} mat, or declare it `mat` to take any shape"
        raise RuntimeFault(f"{what} is a {type_} ({rows}x{cols}), but this mat is {got}; {fix}", span)


# ---------------------------------------------------------------- counting


class TapeCount:
    """The most values the tapes have held, as far as looked (all tapes together; a vec counts its length).

    The values held now are the tapes' lengths plus `extra` (each vec's length less one), so a
    scalar push or pop changes no counter: the peak is looked at only where it may stop growing,
    before a pop (once before a loop that `pops_only`) and at the end of a run.
    """

    __slots__ = ("extra", "peak")

    def __init__(self) -> None:
        self.extra = 0
        self.peak = 0


def tape_size(value: object) -> int:
    """The values one tape entry holds: a vec its length, a float, int or bool 1."""
    return value.size if value.__class__ is np.ndarray else 1


def pops_only(body: tuple[ir.Stmt, ...]) -> bool:
    """A block that pops but never pushes nor calls: the tapes only shrink while it runs, so their peak
    can be looked at once before it."""
    pops = False
    for s in ir.walk(body):
        expr = getattr(s, "expr", None)
        if isinstance(s, ir.Push) or isinstance(expr, ir.CallFn):
            return False
        pops = pops or isinstance(expr, ir.Pop)
    return pops


def loop_key(loop: ir.For | ir.While) -> tuple[int, int, str]:
    """Counts of loop iterations are kept by source loop and by role (see `Span.role`)."""
    return loop.span.line, loop.span.col, loop.span.role


# ---------------------------------------------------------------- adjoints accumulated in place

# `d = addto(d, c)` and `w = addat(w, ...)` are how reverse mode adds up adjoints. Values are values, so the
# registry's functions copy; an engine that has found nothing but the variable holds the array (its reference
# count) may instead change it in place with these, which give the registry's result or say it must run
# (False: an index out of range, shapes that differ, a NaN whose error the registry's function words).


def accumulates_in_place(stmt_target: ir.Var, expr: ir.Expr) -> bool:
    """`d = addto(d, c)` or `w = addat(w, ...)` of an array of any size: a candidate for updating in place."""
    return (
        isinstance(expr, ir.Prim)
        and expr.op in ("addto", "addat")
        and isinstance(expr.args[0], ir.Var)
        and expr.args[0].name == stmt_target.name
        and stmt_target.type.is_array
        and stmt_target.type.length is None
        and stmt_target.type.shape is None
    )


def own_array(w: object) -> bool:
    """An array that owns its float data and may be written (not a view of another, not read-only)."""
    return w.__class__ is np.ndarray and w.base is None and w.dtype == np.float64 and w.flags.writeable


def addto_in_place(d: np.ndarray, c: object) -> bool:
    """d += c where both have one shape; False (d unchanged where it matters) where the registry must run.
    Like the registry's `.quiet` functions, these run where the engine has turned numpy's warnings off."""
    if c.__class__ is not np.ndarray or c.shape != d.shape or not own_array(d):
        return False
    np.add(d, c, out=d)
    if made_nan(d):
        # Neither operand held a NaN (no value does), so each NaN was inf + -inf: put d's inf back where the
        # error looks (its first NaN) and let the registry's function word it.
        lost = np.isnan(d)
        d[lost] = -c[lost]
        return False
    return True


def addat_in_place(w: np.ndarray, i: object, rest: tuple) -> bool:
    """w[i] += x (an element of a vec, a row of a mat) or w[i, j] += x; False where the registry must run."""
    if i.__class__ is not int or not 0 <= i < w.shape[0] or not own_array(w):
        return False
    x = rest[-1]
    if len(rest) == 2:  # an element of a mat
        j = rest[0]
        if w.ndim != 2 or j.__class__ is not int or not 0 <= j < w.shape[1]:
            return False
        total = float(w[i, j]) + x
        if total != total:
            return False
        w[i, j] = total
        return True
    if w.ndim == 2:  # a row
        if x.__class__ is not np.ndarray or x.shape != (w.shape[1],):
            return False
        row = w[i] + x
        if has_nan(row):
            return False
        w[i] = row
        return True
    total = float(w[i]) + x
    if total != total:
        return False
    w[i] = total
    return True


# ---------------------------------------------------------------- short arrays without the registry's call

# The ufunc of each primitive whose registry evaluation on arrays is `prims_scalar.elementwise` of it. On a vec of
# 1000 floats numpy takes about half a microsecond, and a call of the registry's function as much again (issue 15),
# so an engine may call the ufunc itself where the operands are arrays of one shape (or an array and a number) under
# `POOLED` floats (where the registry would take no dead array either), and call the registry's function only where
# numpy met an invalid operation and the result holds a NaN (`made_nan`): to raise its error. Larger arrays and
# arrays of different shapes go to the registry's function. tests/test_compiled.py checks the registry still agrees.
ARRAY_UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply}


def array_ufunc(expr: ir.Expr) -> np.ufunc | None:
    """The ufunc an engine may call for `expr` (see `ARRAY_UFUNCS`): `+ - *` of two atoms, one an array at least,
    the other an array of the same kind or a number."""
    if not isinstance(expr, ir.Prim) or expr.op not in ARRAY_UFUNCS or len(expr.args) != 2:
        return None
    kinds = [a.type.kind for a in expr.args]
    arrays = {k for k in kinds if k in ("vec", "mat")}
    if len(arrays) != 1 or not all(k in ("float", "int", "vec", "mat") for k in kinds):
        return None
    return ARRAY_UFUNCS[expr.op]


def array_square(expr: ir.Expr) -> bool:
    """`a ^ 2` of an array: the registry's evaluation is np.square without a check (the square of a number is a
    number), which an engine may call itself under `POOLED` floats, as for `ARRAY_UFUNCS`."""
    if not isinstance(expr, ir.Prim) or expr.op != "pow" or len(expr.args) != 2:
        return False
    base, exponent = expr.args
    return (base.type.kind in ("vec", "mat") and isinstance(exponent, ir.Const)
            and exponent.value.__class__ in (int, float) and exponent.value == 2)


# ---------------------------------------------------------------- dead arrays reused


class ArrayPool:
    """Arrays of one run that died with nothing else holding them, by shape, for a later operation to write its
    result into (the registry's `.quiet` evaluations marked `pooled` take the pool): memory reused instead of
    fresh pages, which the kernel faults in one by one (20,000 for a vec of 10^7 floats). A run's engine gives
    what `poolable` admits as each variable dies (ir/liveness.py); the pool lives as long as the run."""

    __slots__ = ("free",)
    KEPT = 2  # arrays kept per shape: an operation reads at most two and writes one

    def __init__(self) -> None:
        self.free: dict[tuple, list] = {}

    def give(self, a: np.ndarray) -> None:
        bucket = self.free.setdefault(a.shape, [])
        if len(bucket) < self.KEPT:
            bucket.append(a)

    def take(self, shape: tuple) -> np.ndarray | None:
        bucket = self.free.get(shape)
        return bucket.pop() if bucket else None

    def clear(self) -> None:
        self.free.clear()


def poolable(a: object) -> bool:
    """An array worth keeping for reuse, and safe to write over: large, its own float data, C order. (The engine
    has found that nothing but the dying variable holds it.)"""
    return (a.__class__ is np.ndarray and a.size >= POOLED and a.base is None and a.dtype == np.float64
            and a.flags.c_contiguous and a.flags.writeable)


# ---------------------------------------------------------------- what an engine builds per program


class ProgramCache:
    """What an engine built for a program, kept by the program's identity (spans take no part in equality, so
    two equal programs from different files must not share code) for as long as the program lives, and at
    most `size` of them: so an API loop or an optimizer builds once."""

    def __init__(self, size: int):
        self.size = size
        self.entries: dict[int, tuple[weakref.ref, object]] = {}

    def get(self, program: ir.Program, build: Callable[[ir.Program], object]) -> object:
        key = id(program)
        hit = self.entries.get(key)
        if hit is not None and hit[0]() is program:
            return hit[1]
        built = build(program)
        if len(self.entries) >= self.size:
            del self.entries[next(iter(self.entries))]
        self.entries[key] = (weakref.ref(program, self._forget(key)), built)
        return built

    def _forget(self, key: int) -> Callable[[weakref.ref], None]:
        """The callback dropping a dead program's entry (not a newer program's that took its id)."""
        entries = self.entries

        def forget(ref: weakref.ref) -> None:
            entry = entries.get(key)
            if entry is not None and entry[0] is ref:
                del entries[key]

        return forget

