"""Simplification: IR -> IR passes that make derivative programs read like the lecture's slides.

Constant folding, algebraic identities (`x * 1`, `x + 0`, `-(-x)`, `x ^ 1`),
copy propagation, common subexpressions, sinking a temporary into its only use,
and dead code. Named variables (`dbda`, the program's own) are kept even when
they become copies: they are what a student reads. Temporaries (`_1`) are
folded away where they can be. No pass ever removes an operation that can fail
(a division, a log), so errors still happen where the program says.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Collection
from dataclasses import replace

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.builder import without_empty_blocks
from adlang.ir.naming import Namer
from adlang.ir.primitives import lookup
from adlang.ir.types import INT

MAX_ROUNDS = 20


def simplify_program(program: ir.Program) -> ir.Program:
    return ir.Program(tuple(simplify_function(fn) for fn in program.functions))


def simplify_function(fn: ir.Function) -> ir.Function:
    for _ in range(MAX_ROUNDS):
        new = _round(fn)
        if new == fn:
            return new
        fn = new
    return fn


def _round(fn: ir.Function) -> ir.Function:
    reassigned = _reassigned(fn)
    body = _rewrite_block(fn.body, reassigned)
    body = _broadcast_scalars(body, Namer(ir.names_in(fn)), reassigned)
    body = _propagate_copies(body, reassigned)
    body = _common_subexpressions(body, reassigned, {})
    body = _sink_temporaries(body)
    body = _drop_dead(body, Namer(ir.names_in(fn)))
    return ir.Function(fn.name, fn.params, fn.ret, body, fn.span)


def _reassigned(fn: ir.Function) -> set[str]:
    """Names updated after their declaration (their value is not fixed where they are declared)."""
    names = set()
    for s in ir.walk(fn.body):
        if isinstance(s, ir.Assign):
            names.add(s.target.name)
    return names


# ---------------------------------------------------------------- folding and identities


def _rewrite_block(body, reassigned) -> tuple[ir.Stmt, ...]:
    defs: dict[str, ir.Expr] = {}
    out = []
    for s in body:
        if isinstance(s, (ir.Let, ir.Assign)) and isinstance(s.expr, ir.Prim):
            target = s.targets[0] if isinstance(s, ir.Let) else s.target
            if not (isinstance(s, ir.Let) and len(s.targets) > 1):
                expr = _simplify_expr(s.expr, target, defs, reassigned)
                s = ir.Let(s.targets, expr, s.span) if isinstance(s, ir.Let) else ir.Assign(target, expr, s.span)
        if isinstance(s, ir.Let) and len(s.targets) == 1 and s.targets[0].name not in reassigned:
            defs[s.targets[0].name] = s.expr
        out.append(ir.map_blocks(s, lambda b: _rewrite_block(b, reassigned)))
    return tuple(out)


def _is_const(a, value) -> bool:
    return isinstance(a, ir.Const) and not isinstance(a.value, bool) and a.value == value


def _simplify_expr(expr: ir.Prim, target: ir.Var, defs, reassigned) -> ir.Expr:
    prim = lookup(expr.op)
    args = expr.args
    if args and all(isinstance(a, ir.Const) for a in args) and target.type.kind in ("float", "int", "bool"):
        try:
            value = prim.evaluator(tuple(a.type for a in args))(*[a.value for a in args])
        except (ArithmeticError, ValueError):
            value = None
        if value is not None and not (isinstance(value, float) and not math.isfinite(value)):
            if target.type.kind == "float" and not isinstance(value, bool):
                value = float(value)
            return ir.Const(value, target.type)
    product = _summed_product(expr, defs, reassigned)
    if product is not None:
        return ir.Prim("dot", product)
    same = None  # the identities are the primitive's own (`Primitive.right_unit` and the fields after it)
    if prim.right_unit is not None and _is_const(args[1], prim.right_unit):
        same = args[0]
    elif prim.left_unit is not None and _is_const(args[0], prim.left_unit):
        same = args[1]
    elif prim.involution and isinstance(args[0], ir.Var):
        inner = defs.get(args[0].name)
        if isinstance(inner, ir.Prim) and inner.op == expr.op:
            operand = inner.args[0]
            if isinstance(operand, ir.Const) or operand.name not in reassigned:
                same = operand
    elif prim.from_zero is not None and _is_const(args[0], 0) and target.type.kind == args[1].type.kind:
        return ir.Prim(prim.from_zero, (args[1],))
    if same is not None and same.type.kind == target.type.kind:
        return same
    return expr


def _summed_product(expr: ir.Prim, defs, reassigned) -> tuple[ir.Var, ir.Var] | None:
    """(u, v) where expr is `sum(t)` of a temporary `t = u * v` of two vecs known to be as long as each other:
    `dot(u, v)` is one pass and no array (reverse mode's adjoint of `m * xs` with m a number is `sum(xs * g)`).
    u and v must still hold what t was made of (never updated)."""
    if expr.op != "sum" or not isinstance(expr.args[0], ir.Var) or not naming.is_temp(expr.args[0].name):
        return None
    made = defs.get(expr.args[0].name)
    if not (isinstance(made, ir.Prim) and made.op == "mul"):
        return None
    u, v = made.args
    if not all(isinstance(a, ir.Var) and a.type.kind == "vec" and a.name not in reassigned for a in (u, v)):
        return None
    return (u, v) if as_long_as(u, v, defs, reassigned) else None


# ---------------------------------------------------------------- a number in place of a filled array

# What `ones(n) * s` may stand in for: the array with every element s, as an operand of these
# (not a divisor: a division by an array names the element that is 0, by a number does not).
_FILLED_OPERAND = {"add": (0, 1), "sub": (0, 1), "mul": (0, 1), "div": (0,)}


def _broadcast_scalars(body, names: Namer, reassigned: set[str]) -> tuple[ir.Stmt, ...]:
    """`u = f * y`, where f = ones(len(x)) * s and y is as long as x, becomes `u = s * y` (and so for + - and a
    dividend f): numpy broadcasts the number, and no array of copies of s is made and read.

    The adjoint of `sum(v)` and `mean(v)` is such an f (every element of v gets the same share), and it is
    usually multiplied by another adjoint at once. Lengths are known equal from definitions that have run,
    never guessed: `as_long_as` follows the definitions y and x were computed by.
    f times a number c (`u = f * c`, `c * f`, `f / c`: the adjoint of a mean through `^ 2`) is filled too: it
    becomes `t = s * c` and `u = ones(len(x)) * t`, so the number is worked out once and u, in its turn, is
    broadcast where it meets an array.
    s is a constant or a variable never updated (`reassigned`): where f is read, s must still hold what f was
    made of. f itself is left to dead-code removal, with the `ones` (see `_removable`) when nothing else reads
    them.
    """
    defs = fixed_definitions(body)
    if not any(isinstance(e, ir.Prim) and e.op == "ones" for e in defs.values()):
        return body

    def resolve(a: ir.Atom) -> ir.Atom:
        while isinstance(a, ir.Var) and isinstance(defs.get(a.name), (ir.Var, ir.Const)):
            a = defs[a.name]
        return a

    def filled(a: ir.Atom) -> tuple[ir.Atom, ir.Var, ir.Var] | None:
        """(s, x, ones) where a is ones * s or s * ones, ones = ones(len(x)) (ones(rows(x), cols(x)) for a mat)."""
        a = resolve(a)
        expr = defs.get(a.name) if isinstance(a, ir.Var) else None
        if not (isinstance(expr, ir.Prim) and expr.op == "mul" and a.type.is_array):
            return None
        for ones_at in (0, 1):
            ones, s = resolve(expr.args[ones_at]), expr.args[1 - ones_at]
            sized = defs.get(ones.name) if isinstance(ones, ir.Var) else None
            fixed = isinstance(s, ir.Const) or s.name not in reassigned  # s still holds what f was made of
            if s.type.is_scalar_number and fixed and isinstance(sized, ir.Prim) and sized.op == "ones":
                source = measured(sized.args, defs)
                if isinstance(source, ir.Var):
                    return s, source, ones
        return None

    def scaled(s: ir.Let, expr: ir.Prim) -> tuple[ir.Stmt, ...] | None:
        """`u = f * c` (or `c * f`, `f / c`) as `t = s * c` (`c * s`, `s / c`) and `u = ones * t`."""
        for k in ((0, 1) if expr.op == "mul" else (0,) if expr.op == "div" else ()):
            found, number = filled(expr.args[k]), expr.args[1 - k]
            if found is None or not number.type.is_scalar_number:
                continue
            operands = list(expr.args)
            operands[k] = found[0]
            product = ir.Prim(expr.op, tuple(operands))
            t = ir.Var(names.temp(), lookup(expr.op).type_rule(product.args))
            return (ir.Let((t,), product, s.span), ir.Let(s.targets, ir.Prim("mul", (found[2], t)), s.span))
        return None

    def rewrite(s: ir.Stmt) -> tuple[ir.Stmt, ...]:
        expr = getattr(s, "expr", None)
        if not (isinstance(s, (ir.Let, ir.Assign)) and isinstance(expr, ir.Prim) and expr.op in _FILLED_OPERAND):
            return (ir.map_blocks(s, lambda b: tuple(u for v in b for u in rewrite(v))),)
        if isinstance(s, ir.Let) and len(s.targets) == 1 and s.targets[0].name in defs:
            split = scaled(s, expr)
            if split is not None:
                return split
        for k in _FILLED_OPERAND[expr.op]:
            found = filled(expr.args[k])
            other = expr.args[1 - k]
            if found is None or not isinstance(other, ir.Var) or not other.type.is_array:
                continue
            if not as_long_as(found[1], other, defs, reassigned):
                continue
            args = list(expr.args)
            args[k] = found[0]
            expr = ir.Prim(expr.op, tuple(args))
            if isinstance(s, ir.Let):
                return (ir.Let(s.targets, expr, s.span),)
            return (ir.Assign(s.target, expr, s.span),)
        return (s,)

    return tuple(u for s in body for u in rewrite(s))


def as_long_as(x: ir.Var, y: ir.Var, defs: dict[str, ir.Expr], updated: Collection[str] = ()) -> bool:
    """Whether the arrays x and y are known to have one shape where both can be read.

    Where a variable can be read its definition has run, and so have those of its operands: an elementwise
    operation among them (`Primitive.elementwise`) ran on arrays of one shape, its result's; a copy is its
    source. Those equalities, over the definitions x and y come from, are joined; only variables declared once
    and never updated are followed (`fixed_definitions`), and an `updated` operand joins nothing: it may have
    had another shape when another definition read it (`d = zeros(0)`, later `d = addto(d, v)`).
    """
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    seen: set[str] = set()
    todo = [x.name, y.name]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        expr = defs.get(name)
        operands = [a for a in ir.atoms_of(expr) if isinstance(a, ir.Var)] if expr is not None else []
        todo += [a.name for a in operands]
        operands = [a for a in operands if a.name not in updated]
        if isinstance(expr, ir.Var) and expr.type.is_array and expr.name not in updated:
            parent[find(name)] = find(expr.name)
        elif isinstance(expr, ir.Prim) and lookup(expr.op).elementwise:
            for a in operands:
                if a.type.is_array:
                    parent[find(a.name)] = find(name)
    return find(x.name) == find(y.name)


def fixed_definitions(body) -> dict[str, ir.Expr]:
    """The expression of each variable declared once (one `let` in the whole function) and never updated."""
    lets = Counter()
    found: dict[str, ir.Expr] = {}
    updated = set()
    for s in ir.walk(body):
        if isinstance(s, ir.Let):
            for t in s.targets:
                lets[t.name] += 1
            if len(s.targets) == 1:
                found[s.targets[0].name] = s.expr
        elif isinstance(s, (ir.Assign, ir.For)):
            updated.update(v.name for v in ir.defined_vars(s))
    return {name: expr for name, expr in found.items() if lets[name] == 1 and name not in updated}


def measured(sizes: tuple[ir.Atom, ...], defs: dict[str, ir.Expr]) -> ir.Atom | None:
    """x where the sizes are `len(x)`, or `rows(x), cols(x)` of one x; else None."""
    found = [defs.get(a.name) if isinstance(a, ir.Var) else None for a in sizes]
    if not all(isinstance(e, ir.Prim) for e in found):
        return None
    ops = tuple(e.op for e in found)
    if ops == ("len",) or (ops == ("rows", "cols") and found[0].args[0] == found[1].args[0]):
        return found[0].args[0]
    return None


# ---------------------------------------------------------------- copies and common subexpressions


def _propagate_copies(body, reassigned) -> tuple[ir.Stmt, ...]:
    """Replace a temporary that copies a fixed value by that value."""
    mapping: dict[str, ir.Atom] = {}
    for s in ir.walk(body):
        if isinstance(s, ir.Let) and len(s.targets) == 1 and isinstance(s.expr, (ir.Var, ir.Const)):
            t = s.targets[0]
            source = s.expr
            if naming.is_temp(t.name) and t.name not in reassigned and t.type.kind == source.type.kind:
                if isinstance(source, ir.Const) or source.name not in reassigned:
                    mapping[t.name] = source
    if not mapping:
        return body

    def resolve(a):
        seen = 0
        while isinstance(a, ir.Var) and a.name in mapping and seen < 100:
            a = mapping[a.name]
            seen += 1
        return a

    return _substitute(body, resolve, set(mapping))


def _substitute(body, resolve, dropped: set[str]) -> tuple[ir.Stmt, ...]:
    out = []
    for s in body:
        if isinstance(s, ir.Let) and len(s.targets) == 1 and s.targets[0].name in dropped:
            continue
        out.append(_substitute_stmt(s, resolve, dropped))
    return tuple(out)


def _substitute_stmt(s, resolve, dropped):
    def expr(e):
        if isinstance(e, (ir.Var, ir.Const)):
            return resolve(e)
        if isinstance(e, ir.Prim):
            return ir.Prim(e.op, tuple(resolve(a) for a in e.args))
        if isinstance(e, ir.CallFn):
            return ir.CallFn(e.fn, tuple(resolve(a) for a in e.args))
        return e

    if isinstance(s, ir.Let):
        return ir.Let(s.targets, expr(s.expr), s.span)
    if isinstance(s, ir.Assign):
        return ir.Assign(s.target, expr(s.expr), s.span)
    if isinstance(s, ir.Push):
        return ir.Push(resolve(s.value), s.span, s.tape)
    if isinstance(s, ir.Return):
        return ir.Return(tuple(resolve(a) for a in s.values), s.span)
    if isinstance(s, ir.If):
        return ir.If(resolve(s.cond), _substitute(s.then, resolve, dropped),
                     _substitute(s.orelse, resolve, dropped), s.span)
    if isinstance(s, ir.For):
        return replace(s, start=resolve(s.start), stop=resolve(s.stop), body=_substitute(s.body, resolve, dropped))
    if isinstance(s, ir.While):
        return replace(s, cond=resolve(s.cond), body=_substitute(s.body, resolve, dropped))
    return s


def _common_subexpressions(body, reassigned, available: dict) -> tuple[ir.Stmt, ...]:
    """A second `let t = op(a, b)` of fixed operands reuses the first (in the same or an enclosing block)."""
    available = dict(available)
    out = []
    for s in body:
        if isinstance(s, ir.Let) and len(s.targets) == 1 and isinstance(s.expr, ir.Prim):
            t = s.targets[0]
            fixed = all(not isinstance(a, ir.Var) or a.name not in reassigned for a in s.expr.args)
            if fixed and t.name not in reassigned:
                key = (s.expr, t.type)
                if key in available:
                    s = ir.Let(s.targets, available[key], s.span)
                else:
                    available[key] = t
        out.append(ir.map_blocks(s, lambda b: _common_subexpressions(b, reassigned, available)))
    return tuple(out)


# ---------------------------------------------------------------- sinking and dead code


def _use_counts(body, besides_own_updates: bool = False) -> Counter:
    """How often each variable is read; optionally not counting `v = f(v, ...)` reading v."""
    counts: Counter = Counter()
    for s in ir.walk(body):
        own = {s.target.name} if besides_own_updates and isinstance(s, ir.Assign) else set()
        for v in ir.used_vars(s):
            if v.name not in own:
                counts[v.name] += 1
    return counts


def _sink_temporaries(body, counts: Counter | None = None) -> tuple[ir.Stmt, ...]:
    """`let _1 = y * d; ...; d = _1` becomes `d = y * d` when nothing between changes y or d.

    In one pass over the block: where each variable is read and written, and where the next
    statement that stops a move (a loop, an `if`, a push or a pop) is, are looked up, not scanned.
    """
    if counts is None:
        counts = _use_counts(body)
    stmts: list[ir.Stmt | None] = list(body)
    n = len(stmts)
    barrier = [n] * (n + 1)  # barrier[k]: the first statement at k or after it that stops a move
    for k in range(n - 1, -1, -1):
        u = stmts[k]
        stops = isinstance(u, (ir.If, ir.For, ir.While, ir.Push)) or isinstance(getattr(u, "expr", None), ir.Pop)
        barrier[k] = k if stops else barrier[k + 1]
    written: dict[str, list[int]] = {}
    first_read: dict[str, int] = {}
    for k, u in enumerate(stmts):
        for v in ir.defined_vars(u):
            written.setdefault(v.name, []).append(k)
        for v in ir.used_vars(u):
            first_read.setdefault(v.name, k)

    def written_between(name: str, i: int, j: int) -> bool:
        places = written.get(name, ())
        k = bisect_right(places, i)
        return k < len(places) and places[k] < j

    for i, s in enumerate(stmts):
        if not (isinstance(s, ir.Let) and len(s.targets) == 1 and naming.is_temp(s.targets[0].name)
                and isinstance(s.expr, ir.Prim) and counts[s.targets[0].name] == 1):
            continue
        temp = s.targets[0]
        if len(written[temp.name]) != 1:  # a user's `_1` that is updated later keeps its declaration
            continue
        j = first_read.get(temp.name)
        if j is None or j <= i or barrier[i + 1] < j:
            continue
        u = stmts[j]
        if not (isinstance(u, (ir.Let, ir.Assign)) and u.expr == temp):
            continue
        target = u.targets[0] if isinstance(u, ir.Let) else u.target
        if len(getattr(u, "targets", (target,))) != 1 or target.type.kind != temp.type.kind:
            continue
        operands = {a.name for a in s.expr.args if isinstance(a, ir.Var)} | {temp.name}
        if any(written_between(name, i, j) for name in operands):
            continue
        span = u.span.computing(s.span)
        stmts[j] = ir.Let(u.targets, s.expr, span) if isinstance(u, ir.Let) else ir.Assign(target, s.expr, span)
        stmts[i] = None
    return tuple(ir.map_blocks(s, lambda b: _sink_temporaries(b, counts)) for s in stmts if s is not None)


def _removable(s: ir.Stmt, defs: dict[str, ir.Expr], in_range: frozenset[int] = frozenset()) -> bool:
    """An unread binding that cannot fail. `zeros` and `ones` as large as an array that exists fail only past
    the element limit, which guards sizes written by hand, not those of arrays the program already holds;
    indexing fails only out of range (`_indexes_in_range`)."""
    if id(s) in in_range:
        return True
    if not isinstance(s, (ir.Let, ir.Assign)):
        return False
    if isinstance(s, ir.Let) and len(s.targets) > 1:
        return False
    expr = s.expr
    if isinstance(expr, (ir.Var, ir.Const)):
        return True
    if isinstance(expr, ir.Prim) and expr.op in ("zeros", "ones"):
        return measured(expr.args, defs) is not None
    return isinstance(expr, ir.Prim) and lookup(expr.op).total


def _indexes_in_range(body, defs: dict[str, ir.Expr]) -> frozenset[int]:
    """The `v[i + j]` of a loop `for i in 0..len(v) - k` with 0 <= j <= k, v never updated: always in range.

    Inside the loop body's own statements (not its nested blocks) a variable set to `i + j`, with neither it nor
    i set again in between, is known to be i + j; the statements (ids) reading v there are returned.
    """
    assigned = {v.name for s in ir.walk(body) for v in ir.defined_vars(s) if not isinstance(s, ir.Let)}
    lets = Counter(t.name for s in ir.walk(body) if isinstance(s, ir.Let) for t in s.targets)
    found: set[int] = set()

    def measured_stop(stop: ir.Atom) -> tuple[str, int] | None:
        """(v, k) where stop is len(v) - k, k >= 0 (or len(v))."""
        expr = defs.get(stop.name) if isinstance(stop, ir.Var) else None
        k = 0
        if isinstance(expr, ir.Prim) and expr.op == "sub" and isinstance(expr.args[1], ir.Const):
            k = expr.args[1].value
            expr = defs.get(expr.args[0].name) if isinstance(expr.args[0], ir.Var) else None
        if not (isinstance(expr, ir.Prim) and expr.op == "len" and isinstance(expr.args[0], ir.Var)):
            return None
        if type(k) is not int or k < 0 or expr.args[0].name in assigned or lets[expr.args[0].name] > 1:
            return None
        return expr.args[0].name, k

    for loop in ir.walk(body):
        if not (isinstance(loop, ir.For) and isinstance(loop.start, ir.Const) and loop.start.value == 0):
            continue
        bound = measured_stop(loop.stop)
        if bound is None:
            continue
        vec_name, k = bound
        offsets = {loop.var.name: 0}
        for s in loop.body:
            if not isinstance(s, (ir.Let, ir.Assign)) or (isinstance(s, ir.Let) and len(s.targets) != 1):
                for v in (v for u in ir.walk((s,)) for v in ir.defined_vars(u)):
                    offsets.pop(v.name, None)
                continue
            target, expr = (s.targets[0] if isinstance(s, ir.Let) else s.target), s.expr
            if isinstance(expr, ir.Prim) and expr.op == "index" and len(expr.args) == 2:
                v, x = expr.args
                if (isinstance(v, ir.Var) and v.name == vec_name and isinstance(x, ir.Var)
                        and 0 <= offsets.get(x.name, -1) <= k):
                    found.add(id(s))
            offset = None
            if isinstance(expr, ir.Prim) and expr.op == "add" and target.type == INT:
                for a, b in (expr.args, expr.args[::-1]):
                    if isinstance(a, ir.Var) and a.name in offsets and isinstance(b, ir.Const) and type(b.value) is int:
                        offset = offsets[a.name] + b.value
            offsets.pop(target.name, None)
            if target.name == loop.var.name:
                break
            if offset is not None:
                offsets[target.name] = offset
    return frozenset(found)


def _drop_dead(body, names: Namer) -> tuple[ir.Stmt, ...]:
    """Remove bindings of variables nobody reads, when they cannot fail. A variable read only by
    its own updates (a trip counter nobody asks for) is not read."""
    counts = _use_counts(body, besides_own_updates=True)
    defs = fixed_definitions(body)
    in_range = _indexes_in_range(body, defs)
    kept_updates = {s.target.name for s in ir.walk(body)
                    if isinstance(s, ir.Assign) and not _removable(s, defs, in_range)}

    def keep(s) -> bool:
        if not _removable(s, defs, in_range):
            return True
        target = s.targets[0] if isinstance(s, ir.Let) else s.target
        if isinstance(s, ir.Let) and target.name in kept_updates:
            return True
        return counts[target.name] > 0

    def prune(block):
        out = []
        for s in block:
            if keep(s):
                out.append(ir.map_blocks(s, prune))
        return tuple(out)

    return without_empty_blocks(prune(body), names)
