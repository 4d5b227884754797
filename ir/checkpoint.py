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

from dataclasses import field, replace

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.naming import Namer
from adlang.ir.reverse import CustomVjp
from adlang.ir.types import BOOL, INT, tuple_of
from adlang.lang.errors import UsageError
from adlang.lang.record import record
from adlang.lang.span import Span


def parse_strategy(text: str, option: str = "--checkpoint") -> tuple[str, int]:
    """`none`, `sqrt`, `every:K` or `revolve:S` -> (kind, K or S); `option` as the caller spells it."""
    if text in ("none", "sqrt"):
        return text, 0
    kind, _, number = text.partition(":")
    if kind in ("every", "revolve") and number.isdigit() and int(number) >= 1:
        return kind, int(number)
    raise UsageError(f"unknown {option} '{text}'; choose none, sqrt, every:K (K a whole number >= 1) "
                     "or revolve:S (S snapshots, S >= 1)")


@record
class CheckpointedLoop:
    """A loop the pass rewrote: where it is (its iterations are counted there) and how.

    `predictable`: it runs once per run (in the differentiated function, not inside
    another loop), so its schedule predicts its recomputation; `counted`: a while
    loop, run once more first to count its trips.
    """

    span: Span
    strategy: str
    predictable: bool = True
    counted: bool = False


@record
class Checkpointed:
    """The rewritten program, the VJPs reverse mode must take for its loop functions, and the loops."""

    program: ir.Program
    custom_vjps: dict[str, CustomVjp] = field(default_factory=dict)
    loops: tuple[CheckpointedLoop, ...] = ()


def checkpoint_loops(program: ir.Program, fn_name: str, strategy: str, fn_names: Namer) -> Checkpointed:
    """The program with loops checkpointed for reverse mode.

    `strategy` applies to the outermost loops of fn and of every function it calls; a
    `# checkpoint: S` comment on a loop's header overrides it for that loop (nested loops
    included). The functions a loop becomes are added before the function it was in.
    """
    parse_strategy(strategy)
    table = {f.name: f for f in program.functions}
    reachable = set(ir.callees_first(table, fn_name))
    rewriter = _Rewriter(fn_names, fn_name)
    functions: list[ir.Function] = []
    for f in program.functions:
        if f.name in reachable:
            rewritten = rewriter.function(f, strategy)
            functions.extend(rewriter.added)
            rewriter.added = []
            functions.append(rewritten)
        else:
            functions.append(f)
    if not rewriter.loops:
        return Checkpointed(program)
    return Checkpointed(ir.Program(tuple(functions)), rewriter.custom, tuple(rewriter.loops))


class _Rewriter:
    def __init__(self, fn_names: Namer, entry: str):
        self.fn_names = fn_names
        self.entry = entry
        self.added: list[ir.Function] = []
        self.custom: dict[str, CustomVjp] = {}
        self.loops: list[CheckpointedLoop] = []

    def function(self, fn: ir.Function, strategy: str) -> ir.Function:
        self.fn = fn
        self.names = Namer(ir.names_in(fn))
        body = self.block(fn.body, strategy, in_loop=False)
        return ir.Function(fn.name, fn.params, fn.ret, body, fn.span)

    def block(self, stmts: tuple[ir.Stmt, ...], strategy: str, in_loop: bool) -> tuple[ir.Stmt, ...]:
        """`strategy` is the flag's for the outermost loops, "none" inside a loop."""
        out: list[ir.Stmt] = []
        for s in stmts:
            if isinstance(s, (ir.For, ir.While)):
                out.extend(self.loop(s, s.checkpoint or ("none" if in_loop else strategy), in_loop))
            elif isinstance(s, ir.If):
                out.append(replace(s, then=self.block(s.then, strategy, in_loop),
                                   orelse=self.block(s.orelse, strategy, in_loop)))
            else:
                out.append(s)
        return tuple(out)

    def loop(self, loop: ir.For | ir.While, strategy: str, in_loop: bool) -> list[ir.Stmt]:
        """The loop (its inner loops rewritten first) as calls of functions that run its iterations."""
        loop = replace(loop, body=self.block(loop.body, "none", True), checkpoint=None)
        kind, k = parse_strategy(strategy)
        if kind == "none" or not _can_checkpoint(loop):
            return [loop]
        out: list[ir.Stmt] = []
        counted = isinstance(loop, ir.While)
        if counted:
            loop = self.counted_for(loop, out)
        self.loops.append(CheckpointedLoop(loop.span, strategy, self.fn.name == self.entry and not in_loop, counted))
        if kind == "revolve":
            from adlang.ir.revolve import revolve_vjp  # only for revolve: most runs never load it

            loop_fn = _segment_function(self.fn, loop, self.fn_names, naming.LOOP)
            self.custom[loop_fn.name] = revolve_vjp(k)
            out.extend(_loop_call(loop, loop_fn, self.names))
        else:
            loop_fn = _segment_function(self.fn, loop, self.fn_names, naming.SEGMENT)
            out.extend(_segment_loop(loop, loop_fn, kind, k, self.names))
        self.added.append(loop_fn)
        return out

    def counted_for(self, loop: ir.While, out: list[ir.Stmt]) -> ir.For:
        """A while loop's trips are known once it has run: count them with a run of a function that
        only counts, then run the body that many times as a for loop (its condition, still updated,
        is not read)."""
        carried = _carried(loop)
        inputs = _inputs(loop, carried)
        local = Namer({v.name for v in carried + inputs} | _declared_inside(loop))
        count = ir.Var(local.name("trips"), INT)
        span = loop.span
        body = (ir.Let((count,), ir.Const(0, INT), span),
                ir.While(loop.cond, loop.body + (ir.Assign(count, ir.Prim("add", (count, ir.Const(1, INT))), span),),
                         span),
                ir.Return((count,), span))
        name = self.fn_names.name(naming.role(self.fn.name, naming.TRIPS))
        counter = ir.Function(name, tuple(inputs + carried), INT, body, span)
        self.added.append(counter)
        trips = ir.Var(self.names.name("trips"), INT)
        out.append(ir.Let((trips,), ir.CallFn(counter.name, tuple(inputs + carried)), span))
        return ir.For(ir.Var(self.names.name("trip"), INT), ir.Const(0, INT), trips, loop.body, span)


def _can_checkpoint(loop: ir.For | ir.While) -> bool:
    """A loop whose iterations carry state; a loop that uses the tape itself is left alone."""
    for s in ir.walk(loop.body):
        if isinstance(s, ir.Push) or isinstance(getattr(s, "expr", None), ir.Pop):
            return False
    return bool(_carried(loop))


def _declared_inside(loop: ir.For | ir.While) -> set[str]:
    inside = {loop.var.name} if isinstance(loop, ir.For) else set()
    for s in ir.walk(loop.body):
        if isinstance(s, (ir.Let, ir.For)):
            inside.update(v.name for v in ir.defined_vars(s))
    return inside


def _carried(loop: ir.For | ir.While) -> list[ir.Var]:
    """Variables of the enclosing function that the body updates, in order of first update."""
    inside = _declared_inside(loop)
    out: dict[str, ir.Var] = {}
    for s in ir.walk(loop.body):
        if isinstance(s, ir.Assign) and s.target.name not in inside:
            out.setdefault(s.target.name, s.target)
    return list(out.values())


def _inputs(loop: ir.For | ir.While, carried: list[ir.Var]) -> list[ir.Var]:
    """Variables of the enclosing function that the body only reads, in order of first use."""
    skip = _declared_inside(loop) | {v.name for v in carried}
    out: dict[str, ir.Var] = {}
    for s in ir.walk(loop.body):
        for v in ir.used_vars(s):
            if v.name not in skip:
                out.setdefault(v.name, v)
    return list(out.values())


def _segment_function(fn: ir.Function, loop: ir.For, fn_names: Namer, role: str) -> ir.Function:
    """The loop as a function of what it reads and carries, running iterations lo..hi."""
    carried = _carried(loop)
    inputs = _inputs(loop, carried)
    taken = {v.name for v in carried + inputs} | _declared_inside(loop)
    local = Namer(taken)
    lo, hi = ir.Var(local.name("lo"), INT), ir.Var(local.name("hi"), INT)
    body = (ir.For(loop.var, lo, hi, loop.body, loop.span), ir.Return(tuple(carried), loop.span))
    ret = carried[0].type if len(carried) == 1 else tuple_of(v.type for v in carried)
    name = fn_names.name(naming.role(fn.name, role))
    return ir.Function(name, tuple(inputs + carried) + (lo, hi), ret, body, loop.span)


def _loop_call(loop: ir.For, loop_fn: ir.Function, names: Namer) -> list[ir.Stmt]:
    """`state = foo_loop(inputs, state, start, stop)`: reverse mode saves the state before it, and
    reverses it with the revolve VJP of `foo_loop` (ir/revolve.py)."""
    carried = _carried(loop)
    args = tuple(_inputs(loop, carried) + carried) + (loop.start, loop.stop)
    return _assign_state(carried, ir.CallFn(loop_fn.name, args), names, loop.span)


def _assign_state(carried: list[ir.Var], call: ir.CallFn, names: Namer, span: Span) -> list[ir.Stmt]:
    if len(carried) == 1:
        return [ir.Assign(carried[0], call, span)]
    results = tuple(ir.Var(names.temp(), v.type) for v in carried)
    return [ir.Let(results, call, span)] + [ir.Assign(v, r, span) for v, r in zip(carried, results)]


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
    body.extend(_assign_state(carried, ir.CallFn(segment.name, tuple(inputs + carried) + (lo, hi)), names, span))
    out.append(ir.For(j, ir.Const(0, INT), count, tuple(body), schedule_span(span)))
    return out


def schedule_span(span: Span) -> Span:
    """The place of a loop over checkpoint segments: the source loop's, with a role of its own."""
    return replace(span, role="schedule")


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
    out.append(ir.While(more, body, schedule_span(span)))
