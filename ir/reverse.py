"""Reverse mode as source transformation: a forward sweep, then the adjoints in reverse order.

As in the lecture: `let dbdb = 1.0`, `let dbda = y * dbdb`, ... A variable used
several times gets the sum of its contributions (fan-out). Loops run backwards
as loops: the forward sweep saves on the tape (`push`) each value it
overwrites that the backward sweep will read, and the backward sweep restores
it (`x = pop()`) as it passes the statement that overwrote it, so every
statement is reversed in the state it ran in. A while loop counts its trips;
an `if` is reversed under the same condition, which the restored state still
holds. A call is reversed by calling the callee's VJP, generated once. Only
variables that depend on the parameters asked for and that the result depends
on get adjoints (activity analysis).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.activity import useful_names, varied_names
from adlang.ir.builder import bind, differentiable, dummy_value, rename_body, without_empty_blocks, zero_expr
from adlang.ir.hoist import hoist
from adlang.ir.loop_locals import localize
from adlang.ir.naming import Namer
from adlang.ir.primitives import Emitter, IndexContribution, lookup
from adlang.ir.shapes import Shapes
from adlang.ir.types import FLOAT, INT, tuple_of
from adlang.lang.span import Span

# custom(mode, fn, name) -> (fn's VJP named `name`, the functions that VJP calls that the mode does not make)
CustomVjp = Callable[["ReverseMode", ir.Function, str], tuple[ir.Function, list[ir.Function]]]


class ReverseMode:
    """Builds reverse-mode derivative functions for one program; each callee's VJP once.

    A callee named in `custom` gets the VJP that function builds instead of the
    taped one (checkpointing writes a loop function's VJP this way); it takes the
    same arguments and returns the same adjoints, so call sites do not change.
    """

    def __init__(self, program: ir.Program, fn_names: Namer, custom: dict[str, CustomVjp] | None = None):
        self.program = program
        self.fn_names = fn_names
        self.custom = custom or {}
        self.generated: dict[tuple[str, tuple[str, ...], tuple[int, ...]], ir.Function | None] = {}
        self.order: list[tuple[str, tuple[str, ...], tuple[int, ...]]] = []
        self.helpers: list[ir.Function] = []
        self.tape = max(ir.tapes_in(program.functions)) + 1

    def vjp(self, fn_name: str, wanted: list[str], silent: tuple[int, ...] = ()) -> tuple[str, list[str]]:
        """The VJP of fn_name returning the adjoints of the `wanted` parameters (a call site's active
        arguments), made on first use; and the parameters it returns adjoints of, in order. A custom
        VJP returns them for every float or vec parameter. `silent`: the positions of fn's results whose
        cotangent the call site passes as zero; that VJP still takes them, but does no work for them (a
        gradient program's VJP asked only about the gradient skips reversing the value's computation)."""
        fn = self.program.function(fn_name)
        if fn_name in self.custom:
            wanted = [p.name for p in fn.params if differentiable(p)]
            silent = ()
        key = (fn_name, tuple(wanted), tuple(silent))
        if key not in self.generated:
            self.generated[key] = None
            name = self.fn_names.name(naming.role(fn_name, naming.VJP))
            if fn_name in self.custom:
                built, helpers = self.custom[fn_name](self, fn, name)
                self.helpers.extend(helpers)
            else:
                built = FunctionVjp(self, fn, list(wanted), entry=False, silent=tuple(silent)).build(name)
            self.generated[key] = built
            self.order.append(key)
        return self.generated[key].name, list(wanted)

    def taped_vjp(self, fn: ir.Function, name: str) -> ir.Function:
        """fn's VJP that tapes what fn overwrites: fn's arguments and the output's cotangents in, the adjoints
        of every float and vec parameter out."""
        active = [p.name for p in fn.params if differentiable(p)]
        return FunctionVjp(self, fn, active, entry=False).build(name)

    def functions(self) -> list[ir.Function]:
        return self.helpers + [self.generated[k] for k in self.order]


class FunctionVjp:
    """The reverse-mode derivative of one function."""

    def __init__(self, mode: ReverseMode, fn: ir.Function, active_params: list[str], entry: bool,
                 silent: tuple[int, ...] = ()):
        self.mode = mode
        self.silent = silent
        self.entry = entry
        self.active_params = active_params
        self.names = Namer(ir.names_in(fn) | {fn.name})
        fn = localize(self._name_output(fn), self.names)
        hoisted = hoist(fn, self.names)
        self.fn = hoisted.fn
        self.in_loop_lets = hoisted.in_loop_lets
        self.block_temps = hoisted.block_temps
        self.shapes = Shapes(self.fn)
        self.first_binds = hoisted.first_binds
        self.counter_steps = hoisted.counter_steps
        assigned = [s.target.name for s in ir.walk(self.fn.body) if isinstance(s, ir.Assign)]
        self.assigned_once = {n for n in assigned if assigned.count(n) == 1}
        top_level = {v.name for s in self.fn.body if isinstance(s, ir.Let) for v in s.targets}
        self.fixed = (top_level | {p.name for p in self.fn.params}) - set(assigned)
        self.frames: list[tuple[set[str], list[ir.Stmt]] | None] = []
        varied = varied_names(self.fn, set(active_params))
        self.active = varied & useful_names(self.fn, silent)
        self.resized = {
            s.target.name for s in ir.walk(self.fn.body) if isinstance(s, ir.Assign) and s.target.type.is_array
        }
        self.adjoints: dict[str, ir.Var] = {}
        self.declared: set[str] = set()
        self.depth = 0
        self.pending: list[tuple[ir.Var, ir.Var]] = []  # (adjoint, its primal), to declare before a block
        self.saves: list[tuple[str, ir.Stmt, ir.Stmt]] = []
        returned = [v for v in self.fn.returned.values if isinstance(v, ir.Var)]
        self.prefix = returned[0].name if len(self.fn.returned.values) == 1 and returned else fn.name

    def _name_output(self, fn: ir.Function) -> ir.Function:
        """A temporary returned alone takes the function's name, so adjoints read `dfoodx`."""
        values = fn.returned.values
        params = {p.name for p in fn.params}  # a user's parameter `_1` keeps its name
        if (len(values) == 1 and isinstance(values[0], ir.Var) and naming.is_temp(values[0].name)
                and values[0].name not in params):
            name = self.names.name(fn.name)
            return ir.Function(fn.name, fn.params, fn.ret, rename_body(fn.body, {values[0].name: name}), fn.span)
        return fn

    # ------------------------------------------------------------ adjoint variables

    def adjoint(self, var: ir.Var) -> ir.Var:
        if var.name not in self.adjoints:
            type_ = var.type.unsized
            self.adjoints[var.name] = ir.Var(self.names.name(naming.derivative(self.prefix, var.name)), type_)
        return self.adjoints[var.name]

    def is_active(self, a: ir.Atom) -> bool:
        return isinstance(a, ir.Var) and a.name in self.active and differentiable(a)

    def accumulate(self, var: ir.Var, contribution, out: list, span: Span) -> None:
        """Add a contribution to var's adjoint: declare it on the first one, else `d = d + c`."""
        adj = self.adjoint(var)
        e = Emitter(self.names.temp, span)
        if isinstance(contribution, IndexContribution):
            if adj.name in self.declared or self.depth > 0:
                self._ensure_declared(adj, var)
                base = adj
                if var.name in self.resized:
                    base = e.op("addto", adj, e.zeros_like(var))
                value = ir.Prim("addat", (base, *contribution.indices, contribution.value))
                out.extend(e.stmts)
                out.append(ir.Assign(adj, value, span))
            else:
                zeros = zero_expr(e, var.type, var)
                out.extend(e.stmts)
                out.append(ir.Let((adj,), ir.Prim("addat", (zeros, *contribution.indices, contribution.value)), span))
                self.declared.add(adj.name)
            return
        if not var.type.is_array and contribution.type.is_array:
            contribution = e.op("sum", contribution)
        out.extend(e.stmts)
        if adj.name in self.declared or self.depth > 0:
            self._ensure_declared(adj, var)
            add = "addto" if var.type.is_array else "add"
            out.append(ir.Assign(adj, ir.Prim(add, (adj, contribution)), span))
        else:
            bind(out, adj, contribution, True, span, self.names)
            self.declared.add(adj.name)

    def live(self, target: ir.Var, in_loop: bool) -> bool:
        """Whether target's adjoint can be nonzero here; in a loop a later trip may feed it, so yes if active."""
        if not self.is_active(target):
            return False
        adj = self.adjoint(target) if in_loop else self.adjoints.get(target.name)
        if in_loop:
            self._ensure_declared(adj, target)
        return adj is not None and adj.name in self.declared

    def _ensure_declared(self, adj: ir.Var, primal: ir.Var) -> None:
        if adj.name not in self.declared:
            self.declared.add(adj.name)
            self.pending.append((adj, primal))

    def take_pending(self, span: Span) -> list[ir.Stmt]:
        """Zero declarations for adjoints first reached inside a block, to go before it."""
        out: list[ir.Stmt] = []
        for adj, primal in self.pending:
            e = Emitter(self.names.temp, span)
            # a primal declared inside the block is not visible before it: a vec adjoint starts as the empty
            # vec, which addto takes for a zero of any length (as for a hoisted vec's placeholder)
            zero = dummy_value(e, adj.type) if primal.name in self.block_temps else zero_expr(e, adj.type, primal)
            out.extend(e.stmts)
            out.append(ir.Let((adj,), zero, span))
        self.pending = []
        return out

    # ------------------------------------------------------------ the function

    def build(self, name: str) -> ir.Function:
        fn = self.fn
        ret = fn.returned
        forward = []
        backward_seed: list[ir.Stmt] = []
        extra_params: list[ir.Var] = []
        for k, value in enumerate(ret.values):
            if not differentiable(value):
                continue
            if self.entry:
                if self.is_active(value):
                    adj = self.adjoint(value)
                    backward_seed.append(ir.Let((adj,), ir.Const(1.0, FLOAT), ret.span))
                    self.declared.add(adj.name)
                continue
            output = value.name if isinstance(value, ir.Var) else str(k)
            param = ir.Var(self.names.name(naming.derivative(self.prefix, output)), value.type)
            extra_params.append(param)
            if k not in self.silent and self.is_active(value):
                if self.adjoint(value).name in self.declared:
                    adj = self.adjoint(value)
                    backward_seed.append(ir.Assign(adj, ir.Prim("add", (adj, param)), ret.span))
                else:
                    self.adjoints[value.name] = param
                    self.declared.add(param.name)
        fwd, bwd = self.block(fn.body[:-1], in_loop=False)
        forward.extend(fwd)
        outputs = []
        restored = {name for name, _, _ in self.saves}
        for value in ret.values:
            if isinstance(value, ir.Var) and value.name in restored:
                keep = ir.Var(self.names.name(naming.role(value.name, naming.FINAL)), value.type)
                forward.append(ir.Let((keep,), value, ret.span))
                value = keep
            outputs.append(value)
        backward = backward_seed + bwd
        forward, backward = self.drop_unneeded_saves(forward, backward)
        grads = []
        tail: list[ir.Stmt] = []
        by_name = {p.name: p for p in fn.params}
        for p in self.active_params:
            param = by_name[p]
            adj = self.adjoints.get(p)
            if adj is not None and adj.name in self.declared:
                grads.append(adj)
            else:
                e = Emitter(self.names.temp, ret.span)
                grads.append(zero_expr(e, param.type, param))
                tail.extend(e.stmts)
        values = tuple(outputs) + tuple(grads) if self.entry else tuple(grads)
        body = tuple(forward + backward + tail + [ir.Return(values, ret.span)])
        types = [v.type for v in values]
        ret_type = types[0] if len(types) == 1 else tuple_of(types)
        return ir.Function(name, fn.params + tuple(extra_params), ret_type, body, fn.span)

    def drop_unneeded_saves(self, forward, backward):
        """Keep a push/pop pair only for a variable the backward sweep reads."""
        drops = set()
        saved_stmts = {id(pop) for _, _, pop in self.saves}
        needed = set()
        for s in ir.walk(tuple(backward)):
            if id(s) not in saved_stmts:
                needed.update(v.name for v in ir.used_vars(s))
        for name, push, pop in self.saves:
            if name not in needed:
                drops.add(id(push))
                drops.add(id(pop))
        forward = without_empty_blocks(tuple(_without(forward, drops)), self.names)
        backward = without_empty_blocks(tuple(_without(backward, drops)), self.names)
        return list(forward), list(backward)

    # ------------------------------------------------------------ blocks

    def block(self, body, in_loop: bool) -> tuple[list[ir.Stmt], list[ir.Stmt]]:
        """The forward sweep of a block and its backward sweep (already in backward order)."""
        forward_parts: list[list[ir.Stmt]] = []
        backward: list[ir.Stmt] = []
        for s in reversed(body):
            fwd_part, bwd_part = self.statement(s, in_loop)
            forward_parts.append(fwd_part)
            backward.extend(bwd_part)
        return [stmt for part in reversed(forward_parts) for stmt in part], backward

    def nested(self, body, in_loop: bool):
        self.depth += 1
        try:
            return self.block(body, in_loop)
        finally:
            self.depth -= 1

    def statement(self, s: ir.Stmt, in_loop: bool) -> tuple[list[ir.Stmt], list[ir.Stmt]]:
        if isinstance(s, (ir.If, ir.For, ir.While)):
            fwd, bwd = self.compound(s, in_loop)
            if self.depth == 0:
                bwd = self.take_pending(s.span) + bwd
            return fwd, bwd
        if isinstance(s, ir.Push):
            return self.push(s)
        if isinstance(s.expr, ir.Pop):
            return self.pop(s, in_loop)
        if isinstance(s.expr, ir.CallFn):
            return self.call(s, in_loop)
        return self.binding(s, in_loop)

    def compound(self, s, in_loop):
        if isinstance(s, ir.If):
            self.frames.append(None)
            then_f, then_b = self.nested(s.then, in_loop)
            else_f, else_b = self.nested(s.orelse, in_loop)
            self.frames.pop()
            forward = [ir.If(s.cond, tuple(then_f), tuple(else_f), s.span)]
            return forward, self.make_if(s.cond, then_b, else_b, s.span)
        if isinstance(s, ir.For):
            outer = self.frames[-1][0] if self.frames and self.frames[-1] is not None else set()
            recomputed = self.recomputable_lets(s.body, outer | {s.var.name})
            self.frames.append((outer | {s.var.name}, {id(r) for r in recomputed}))
            body_f, body_b = self.nested(s.body, True)
            self.frames.pop()
            forward = [ir.For(s.var, s.start, s.stop, tuple(body_f), s.span)]
            if not body_b:
                return forward, []
            recomputed = _read_by(recomputed, body_b)
            e = Emitter(self.names.temp, s.span)
            step = ir.Var(self.names.name(naming.role(s.var.name, naming.REVERSED)), INT)
            last = e.op("sub", e.op("add", s.start, s.stop), ir.Const(1, INT))
            back_body = [ir.Let((s.var,), ir.Prim("sub", (last, step)), s.span)] + recomputed + body_b
            return forward, e.stmts + [ir.For(step, s.start, s.stop, tuple(back_body), backward_span(s.span))]
        self.frames.append(None)
        body_f, body_b = self.nested(s.body, True)
        self.frames.pop()
        counter = s.body[0].target
        forward = [ir.While(s.cond, tuple(body_f), s.span)]
        if not body_b:
            return forward, []
        step = ir.Var(self.names.name("trip_rev"), INT)
        return forward, [ir.For(step, ir.Const(0, INT), counter, tuple(body_b), backward_span(s.span))]

    def make_if(self, cond, then_b, else_b, span) -> list[ir.Stmt]:
        if not then_b and not else_b:
            return []
        if isinstance(cond, ir.Const):
            return then_b if cond.value else else_b
        if not then_b:
            negated = ir.Var(self.names.temp(), cond.type)
            return [ir.Let((negated,), ir.Prim("not", (cond,)), span), ir.If(negated, tuple(else_b), (), span)]
        return [ir.If(cond, tuple(then_b), tuple(else_b), span)]

    # ------------------------------------------------------------ saving and restoring

    def saves_old_value(self, s: ir.Stmt, in_loop: bool) -> bool:
        if not isinstance(s, ir.Assign) or id(s) in self.counter_steps:
            return False
        return id(s) not in self.first_binds

    def recomputable_lets(self, body, loop_vars: set[str]) -> list[ir.Stmt]:
        """A loop's own `let`s (hoisted) that depend only on loop variables, fixed values and each other, in
        order: the backward sweep recomputes them at the top of each trip instead of saving them on the tape
        (the lecture's trade). Only statements directly in the loop body, never one under an if."""
        known = set(loop_vars) | self.fixed
        out = []
        for s in body:
            if (isinstance(s, ir.Assign) and isinstance(s.expr, (ir.Prim, ir.Var, ir.Const))
                    and s.target.name in self.in_loop_lets and s.target.name in self.assigned_once
                    and all(isinstance(a, ir.Const) or a.name in known for a in ir.atoms_of(s.expr))):
                out.append(s)
                known.add(s.target.name)
        return out

    def save(self, target: ir.Var, span: Span) -> tuple[ir.Stmt, ir.Stmt]:
        push = ir.Push(target, span, self.mode.tape)
        pop = ir.Assign(target, ir.Pop(self.mode.tape), span)
        self.saves.append((target.name, push, pop))
        return push, pop

    # ------------------------------------------------------------ statements

    def binding(self, s: ir.Let | ir.Assign, in_loop: bool):
        target = s.targets[0] if isinstance(s, ir.Let) else s.target
        forward: list[ir.Stmt] = []
        backward: list[ir.Stmt] = []
        saving = self.saves_old_value(s, in_loop)
        if saving and self.frames and self.frames[-1] is not None and id(s) in self.frames[-1][1]:
            saving = False
        if saving:
            push, pop = self.save(target, s.span)
            forward.append(push)
        forward.append(s)
        live = self.live(target, in_loop)
        adj = self.adjoints.get(target.name)
        result: ir.Atom = target
        if live and isinstance(s.expr, ir.Prim) and lookup(s.expr.op).vjp_uses_result and saving:
            result = ir.Var(self.names.temp(), target.type)
            backward.append(ir.Let((result,), target, s.span))
        if saving:
            backward.append(pop)
        if live:
            self.reverse_expr(s, target, adj, result, backward)
        return forward, backward

    def reverse_expr(self, s, target: ir.Var, g: ir.Var, result: ir.Atom, out: list) -> None:
        """Contributions of `target = expr` to its operands' adjoints, target's own adjoint last."""
        expr = s.expr
        e = Emitter(self.names.temp, s.span)
        e.same_shape = self.shapes.same
        contributions: list[tuple[ir.Var, object]] = []
        if isinstance(expr, ir.Var):
            if self.is_active(expr):
                contributions.append((expr, g))
        elif isinstance(expr, ir.Prim):
            wants = tuple(self.is_active(a) for a in expr.args)
            if any(wants):
                parts = lookup(expr.op).emit_vjp(e, expr.args, result, g, wants)
                contributions.extend((a, c) for a, c, w in zip(expr.args, parts, wants) if w and c is not None)
        out.extend(e.stmts)
        self.apply(target, g, contributions, isinstance(s, ir.Assign), out, s.span)

    def apply(self, target: ir.Var, g: ir.Var, contributions, overwrites: bool, out: list, span: Span) -> None:
        """Accumulate into the operands; an update's target then holds only what flowed to its old value."""
        own = [c for a, c in contributions if a.name == target.name]
        others = [(a, c) for a, c in contributions if a.name != target.name]
        if overwrites:
            own_value = self.sum_contributions(target, own, out, span, like=g)
            for a, c in others:
                self.accumulate(a, c, out, span)
            if own_value is not g:
                out.append(ir.Assign(g, own_value, span))
        else:
            for a, c in others:
                self.accumulate(a, c, out, span)

    def sum_contributions(self, var: ir.Var, parts, out: list, span: Span, like: ir.Atom) -> ir.Atom:
        e = Emitter(self.names.temp, span)
        total = None
        for c in parts:
            if isinstance(c, IndexContribution):
                base = total if total is not None else zero_expr(e, var.type, like)
                total = e.op("addat", base, *c.indices, c.value)
            else:
                if not var.type.is_array and c.type.is_array:
                    c = e.op("sum", c)
                total = c if total is None else e.op("add", total, c)
        if total is None:
            total = zero_expr(e, var.type, like)
        out.extend(e.stmts)
        return total

    def call(self, s: ir.Let | ir.Assign, in_loop: bool):
        call: ir.CallFn = s.expr
        targets = list(s.targets) if isinstance(s, ir.Let) else [s.target]
        forward: list[ir.Stmt] = []
        backward: list[ir.Stmt] = []
        saving = self.saves_old_value(s, in_loop)
        pop = None
        if saving:
            push, pop = self.save(s.target, s.span)
            forward.append(push)
        forward.append(s)
        if pop is not None:
            backward.append(pop)
        callee = self.mode.program.function(call.fn)
        cotangents = []
        silent = []
        live = False
        for k, t in enumerate(targets):
            if not differentiable(t):
                continue
            if self.live(t, in_loop):
                cotangents.append(self.adjoints[t.name])
                live = True
            else:
                e = Emitter(self.names.temp, s.span)
                cotangents.append(zero_expr(e, t.type, t))
                backward.extend(e.stmts)
                silent.append(k)
        diff_params = [(a, p) for a, p in zip(call.args, callee.params) if differentiable(p)]
        if not live or not any(self.is_active(a) for a, _ in diff_params):
            self.reset_targets(s, targets, backward)
            return forward, backward
        wanted = [p.name for a, p in diff_params if self.is_active(a)]
        vjp, returned = self.mode.vjp(call.fn, wanted, tuple(silent))
        by_param = {p.name: (a, p) for a, p in diff_params}
        results = tuple(ir.Var(self.names.temp(), by_param[name][1].type) for name in returned)
        backward.append(ir.Let(results, ir.CallFn(vjp, call.args + tuple(cotangents)), s.span))
        contributions = [(by_param[name][0], r) for name, r in zip(returned, results)
                         if self.is_active(by_param[name][0])]
        if isinstance(s, ir.Assign):
            self.apply(s.target, self.adjoint(s.target), contributions, True, backward, s.span)
        else:
            for a, c in contributions:
                self.accumulate(a, c, backward, s.span)
            if in_loop:
                for g in cotangents:
                    if isinstance(g, ir.Var) and g.name in self.declared:
                        e = Emitter(self.names.temp, s.span)
                        zero = zero_expr(e, g.type, g)
                        backward.extend(e.stmts)
                        backward.append(ir.Assign(g, zero, s.span))
        return forward, backward

    def reset_targets(self, s, targets, out: list) -> None:
        if isinstance(s, ir.Assign) and self.is_active(s.target):
            adj = self.adjoints.get(s.target.name)
            if adj is not None and adj.name in self.declared:
                e = Emitter(self.names.temp, s.span)
                zero = zero_expr(e, adj.type, adj)
                out.extend(e.stmts)
                out.append(ir.Assign(adj, zero, s.span))

    def push(self, s: ir.Push):
        """A value saved by the program itself: its adjoint comes back through the tape."""
        backward: list[ir.Stmt] = []
        if differentiable(s.value):
            back = ir.Var(self.names.temp(), s.value.type)
            backward.append(ir.Let((back,), ir.Pop(s.tape), s.span))
            if self.is_active(s.value):
                self.accumulate(s.value, back, backward, s.span)
        return [s], backward

    def pop(self, s: ir.Let | ir.Assign, in_loop: bool):
        target = s.targets[0] if isinstance(s, ir.Let) else s.target
        forward: list[ir.Stmt] = []
        backward: list[ir.Stmt] = []
        if self.saves_old_value(s, in_loop):
            popped = ir.Var(self.names.temp(), target.type)
            push, pop = self.save(target, s.span)
            forward.extend([ir.Let((popped,), s.expr, s.span), push, ir.Assign(target, popped, s.span)])
            backward.append(pop)
        else:
            forward.append(s)
        if differentiable(target):
            live = self.live(target, in_loop)
            adj = self.adjoints.get(target.name)
            e = Emitter(self.names.temp, s.span)
            if live:
                backward.append(ir.Push(adj, s.span, s.expr.tape))
                zero = zero_expr(e, adj.type, adj)
                backward.extend(e.stmts)
                backward.append(ir.Assign(adj, zero, s.span))
            else:
                zero = zero_expr(e, target.type, target)
                backward.extend(e.stmts)
                backward.append(ir.Push(zero, s.span, s.expr.tape))
        return forward, backward


def backward_span(span: Span) -> Span:
    """The place of a loop that runs another loop's iterations backwards (engines count those apart)."""
    return replace(span, role=f"{span.role} backward".lstrip())


def _read_by(recomputed: list[ir.Stmt], body: list[ir.Stmt]) -> list[ir.Stmt]:
    """The recomputed `let`s that the backward trip reads, directly or through one another: the rest (a value
    only the forward sweep wanted, such as a running sum's term) would be computed for nothing."""
    needed = {v.name for s in ir.walk(tuple(body)) for v in ir.used_vars(s)}
    kept = []
    for s in reversed(recomputed):
        if s.target.name in needed:
            kept.append(s)
            needed.update(v.name for v in ir.used_vars(s))
    return kept[::-1]


def _without(body, drops: set[int]):
    for s in body:
        if id(s) not in drops:
            yield ir.map_blocks(s, lambda block: tuple(_without(block, drops)))


def reverse_entry(mode: ReverseMode, fn: ir.Function, wrt: list[str]) -> ir.Function:
    """The entry of a reverse-mode derivative program: fn's parameters in, (value, d/dwrt1, ...) out.

    The callees' VJPs it needs are made in `mode` (`mode.functions()`), once for all entries built there.
    """
    return FunctionVjp(mode, fn, list(wrt), entry=True).build(mode.fn_names.name(naming.role(fn.name, naming.REVERSE)))

