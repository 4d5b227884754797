"""Checkpointing a loop for reverse mode: store its state every K iterations, recompute in between.

`for i in a..b: body` becomes a while loop over segments of K iterations, each
segment a call of a generated function that runs those iterations:

    let seg_start = a
    ...  (seg_count = ceil((b - a) / K), counted)
    for seg in 0..seg_count:
        let seg_lo = seg_start + seg * K
        let seg_hi = min(seg_lo + K, seg_stop)
        accum = foo_segment(y, accum, seg_lo, seg_hi)

Reverse mode then saves only the loop state at each segment's start (restored
from the tape; the bounds are recomputed), and reverses a segment by calling the
segment's VJP, which runs the segment forward again and reverses it with a
tape of K iterations: memory O(n / K + K) instead of O(n), each iteration
computed twice. `sqrt` picks K = ceil(sqrt(n)) when the loop starts.
"""

from __future__ import annotations

from adlang.errors import UsageError
from adlang.ir import nodes as ir
from adlang.ir.builder import Namer
from adlang.ir.types import BOOL, INT, tuple_of


def parse_strategy(text: str) -> tuple[str, int]:
    """`none`, `sqrt` or `every:K` -> (kind, K); revolve is planned, see ir/checkpoint_schedules.py."""
    if text in ("none", "sqrt"):
        return text, 0
    kind, _, number = text.partition(":")
    if kind == "every" and number.isdigit() and int(number) >= 1:
        return "every", int(number)
    if kind == "revolve":
        raise UsageError("--checkpoint revolve:S is not available yet (its schedule is planned in "
                         "ir/checkpoint_schedules.py); use every:K or sqrt")
    raise UsageError(f"unknown --checkpoint '{text}'; choose none, sqrt or every:K (K a whole number >= 1)")


def checkpoint_loops(program: ir.Program, fn_name: str, strategy: str, fn_names: Namer) -> ir.Program:
    """The program with fn's top-level for loops checkpointed; the segment functions are added before fn."""
    kind, k = parse_strategy(strategy)
    if kind == "none":
        return program
    fn = program.function(fn_name)
    names = Namer(ir.names_in(fn))
    segments: list[ir.Function] = []
    body: list[ir.Stmt] = []
    for s in fn.body:
        if isinstance(s, ir.For) and _can_checkpoint(s):
            segment = _segment_function(fn, s, fn_names)
            segments.append(segment)
            body.extend(_segment_loop(s, segment, kind, k, names))
        else:
            body.append(s)
    if not segments:
        return program
    rewritten = ir.Function(fn.name, fn.params, fn.ret, tuple(body), fn.span)
    functions = []
    for f in program.functions:
        if f.name == fn_name:
            functions.extend(segments)
            functions.append(rewritten)
        else:
            functions.append(f)
    return ir.Program(tuple(functions))


def _can_checkpoint(loop: ir.For) -> bool:
    """A loop whose iterations carry state; a loop that uses the tape itself is left alone."""
    for s in ir.walk(loop.body):
        if isinstance(s, ir.Push) or isinstance(getattr(s, "expr", None), ir.Pop):
            return False
    return bool(_carried(loop))


def _declared_inside(loop: ir.For) -> set[str]:
    inside = {loop.var.name}
    for s in ir.walk(loop.body):
        if isinstance(s, (ir.Let, ir.For)):
            inside.update(v.name for v in ir.defined_vars(s))
    return inside


def _carried(loop: ir.For) -> list[ir.Var]:
    """Variables of the enclosing function that the body updates, in order of first update."""
    inside = _declared_inside(loop)
    out: dict[str, ir.Var] = {}
    for s in ir.walk(loop.body):
        if isinstance(s, ir.Assign) and s.target.name not in inside:
            out.setdefault(s.target.name, s.target)
    return list(out.values())


def _inputs(loop: ir.For, carried: list[ir.Var]) -> list[ir.Var]:
    """Variables of the enclosing function that the body only reads, in order of first use."""
    skip = _declared_inside(loop) | {v.name for v in carried}
    out: dict[str, ir.Var] = {}
    for s in ir.walk(loop.body):
        for v in ir.used_vars(s):
            if v.name not in skip:
                out.setdefault(v.name, v)
    return list(out.values())


def _segment_function(fn: ir.Function, loop: ir.For, fn_names: Namer) -> ir.Function:
    carried = _carried(loop)
    inputs = _inputs(loop, carried)
    taken = {v.name for v in carried + inputs} | _declared_inside(loop)
    local = Namer(taken)
    lo, hi = ir.Var(local.name("lo"), INT), ir.Var(local.name("hi"), INT)
    body = (ir.For(loop.var, lo, hi, loop.body, loop.span), ir.Return(tuple(carried), loop.span))
    ret = carried[0].type if len(carried) == 1 else tuple_of(v.type for v in carried)
    return ir.Function(fn_names.name(f"{fn.name}_segment"), tuple(inputs + carried) + (lo, hi), ret, body, loop.span)


def _segment_loop(loop: ir.For, segment: ir.Function, kind: str, k: int, names: Namer) -> list[ir.Stmt]:
    """The loop as a for loop over segments; a segment's bounds are lets of the segment index and fixed
    values, so reverse mode recomputes them instead of saving them: only the state is saved per segment."""
    span = loop.span
    carried = _carried(loop)
    inputs = _inputs(loop, carried)
    out: list[ir.Stmt] = []

    def let(base: str, expr: ir.Expr, type_=INT, into: list | None = None) -> ir.Var:
        var = ir.Var(names.name(base) if base else names.temp(), type_)
        (out if into is None else into).append(ir.Let((var,), expr, span))
        return var

    start = let("seg_start", loop.start)
    stop = let("seg_stop", loop.stop)
    if kind == "every":
        size: ir.Atom = ir.Const(k, INT)
    else:
        size = let("seg_size", _ceil_sqrt(start, stop, names, out, span))
    count = _segment_count(start, stop, size, names, out, span)
    j = ir.Var(names.name("seg"), INT)
    body: list[ir.Stmt] = []
    offset = let("", ir.Prim("mul", (j, size)), into=body)
    lo = let("seg_lo", ir.Prim("add", (start, offset)), into=body)
    end = let("", ir.Prim("add", (lo, size)), into=body)
    hi = let("seg_hi", ir.Prim("min", (end, stop)), into=body)
    call = ir.CallFn(segment.name, tuple(inputs + carried) + (lo, hi))
    if len(carried) == 1:
        body.append(ir.Assign(carried[0], call, span))
    else:
        results = tuple(ir.Var(names.temp(), v.type) for v in carried)
        body.append(ir.Let(results, call, span))
        body.extend(ir.Assign(v, r, span) for v, r in zip(carried, results))
    out.append(ir.For(j, ir.Const(0, INT), count, tuple(body), span))
    return out


def _segment_count(start: ir.Var, stop: ir.Var, size: ir.Atom, names: Namer, out: list, span) -> ir.Var:
    """ceil((stop - start) / size) by counting (the language has no integer division), kept in a variable
    that is never updated, so the counter itself is not saved for the backward sweep."""
    count = ir.Var(names.name("seg_count"), INT)
    covered = ir.Var(names.name("seg_covered"), INT)
    out.append(ir.Let((count,), ir.Const(0, INT), span))
    out.append(ir.Let((covered,), start, span))
    _while_less(covered, stop, [(count, ir.Prim("add", (count, ir.Const(1, INT)))),
                                (covered, ir.Prim("add", (covered, size)))], names, out, span)
    total = ir.Var(names.name("seg_total"), INT)
    out.append(ir.Let((total,), count, span))
    return total


def _ceil_sqrt(lo: ir.Var, stop: ir.Var, names: Namer, out: list, span) -> ir.Var:
    """K = ceil(sqrt(stop - lo)), at least 1, by counting up (O(sqrt n) steps, ints only)."""
    n = ir.Var(names.name("seg_n"), INT)
    out.append(ir.Let((n,), ir.Prim("sub", (stop, lo)), span))
    size = ir.Var(names.name("seg_k"), INT)
    out.append(ir.Let((size,), ir.Const(1, INT), span))
    square = ir.Var(names.temp(), INT)
    out.append(ir.Let((square,), ir.Prim("mul", (size, size)), span))
    _while_less(square, n, [(size, ir.Prim("add", (size, ir.Const(1, INT)))),
                            (square, ir.Prim("mul", (size, size)))], names, out, span)
    return size


def _while_less(left: ir.Var, right: ir.Var, updates, names: Namer, out: list, span) -> None:
    """`while left < right:` doing the updates (target, expression) in order; the condition is recomputed last."""
    more = ir.Var(names.temp(), BOOL)
    test = ir.Prim("lt", (left, right))
    out.append(ir.Let((more,), test, span))
    body = tuple(ir.Assign(target, expr, span) for target, expr in updates) + (ir.Assign(more, test, span),)
    out.append(ir.While(more, body, span))
