"""Binomial checkpointing (`--checkpoint revolve:S`): a loop function's VJP that holds at most S states.

The checkpoint pass turns the loop into a call `state = foo_loop(inputs, state, lo, hi)`.
Reverse mode saves the state before the call and, on the way back, calls
`foo_loop_vjp`, which this module writes instead of the taped VJP. It is
Griewank and Walther's revolve as two adlang while loops, so it needs no recursion: the outer one
reverses one iteration a trip (`fine` iterations are left to reverse; the state held is that
before iteration `lo + capo`), the inner one brings the state to the last of them:

- while `left = fine - capo` is 2 or more: take a snapshot of the state unless it is the newest
  one (the newest stays in variables, older ones go on the tape), then advance
  `revolve_advance(left, free)` iterations with `foo_loop`;
- reverse iteration `lo + capo` by `foo_loop_taped_vjp` over that one iteration (it runs it
  again, taped), freeing its snapshot if it has one;
- restore the newest snapshot.

One trip of the outer loop per reversed iteration and one of the inner loop per advance (a trip
per action, as the schedule is usually written, costs about three times the statements).
Snapshots are taken and freed last in, first out, so the tape holds them.
With S snapshots (the one of the loop's first state included) the advances
run `r*l - C(S + r, S + 1)` iterations for l iterations, the optimum
(`checkpoint_schedules.binomial_cost`), and each iteration is run once more,
taped, to be reversed.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from adlang.ir import naming
from adlang.ir import nodes as ir
from adlang.ir.builder import differentiable, zero_expr
from adlang.ir.naming import Namer
from adlang.ir.primitives import Emitter
from adlang.ir.types import BOOL, INT


def revolve_vjp(snapshots: int):
    """The custom-VJP builder `ReverseMode` calls for a loop function checkpointed with revolve:S."""
    return partial(_build, snapshots)


def _build(snapshots: int, mode, loop_fn: ir.Function, name: str) -> tuple[ir.Function, list[ir.Function]]:
    taped = mode.taped_vjp(loop_fn, mode.fn_names.name(naming.role(loop_fn.name, naming.TAPED_VJP)))
    driver = _Driver(mode.tape, loop_fn, taped, snapshots)
    return driver.function(name), [taped]


class _Driver:
    def __init__(self, tape: int, loop_fn: ir.Function, taped: ir.Function, snapshots: int):
        self.tape = tape
        self.loop_fn = loop_fn
        self.taped = taped
        self.snapshots = snapshots
        self.span = loop_fn.span
        self.names = Namer({p.name for p in taped.params} | {loop_fn.name, taped.name})
        *self.args, self.lo, self.hi = loop_fn.params
        self.state = [v for v in loop_fn.returned.values if isinstance(v, ir.Var)]
        carried = {v.name for v in self.state}
        self.inputs = [p for p in self.args if p.name not in carried]
        cotangents = taped.params[len(loop_fn.params):]
        self.cotangent = dict(zip([v.name for v in self.state if differentiable(v)], cotangents))
        single = len(self.state) == 1
        self.prefix = self.state[0].name if single else loop_fn.name

    # ------------------------------------------------------------ small builders

    def var(self, base: str, type_) -> ir.Var:
        return ir.Var(self.names.name(base), type_)

    def let(self, out: list, base: str, expr: ir.Expr, type_=INT) -> ir.Var:
        var = self.var(base, type_)
        out.append(ir.Let((var,), expr, self.span))
        return var

    def set(self, out: list, var: ir.Var, expr: ir.Expr) -> None:
        out.append(ir.Assign(var, expr, self.span))

    def prim(self, op: str, *args: ir.Atom) -> ir.Prim:
        return ir.Prim(op, args)

    def call_into(self, out: list, targets: list[ir.Var], call: ir.CallFn, base: str) -> list[ir.Var]:
        """`targets = call` for one target; `let t1, t2 = call` then the assignments for several."""
        if len(targets) == 1:
            self.set(out, targets[0], call)
            return targets
        temps = [self.var(naming.role(base, t.name), t.type) for t in targets]
        out.append(ir.Let(tuple(temps), call, self.span))
        for t, v in zip(targets, temps):
            self.set(out, t, v)
        return temps

    # ------------------------------------------------------------ the function

    def function(self, name: str) -> ir.Function:
        """Positions are iterations (lo..hi): `fine`, the first not yet reversed; `capo`, the iteration the
        state held comes before; `top`, the newest snapshot's (hi: none). `free` counts the snapshots
        still to take plus one, as `revolve_advance` takes it."""
        c = ir.Const
        out: list[ir.Stmt] = []
        fine = self.let(out, "fine", self.hi)
        capo = self.let(out, "capo", self.lo)
        top = self.let(out, "top", self.hi)
        free = self.let(out, "free", c(self.snapshots + 1, INT))
        snaps = {v.name: self.let(out, naming.role(v.name, naming.SNAPSHOT), v, v.type) for v in self.state}
        adjoints = {}
        for u in self.inputs:
            if differentiable(u):
                e = Emitter(self.names.temp, self.span)
                zero = zero_expr(e, u.type, u)
                out.extend(e.stmts)
                adjoints[u.name] = self.let(out, naming.derivative(self.prefix, u.name), zero,
                                            u.type.unsized)
        more = self.let(out, "more", self.prim("gt", fine, self.lo), BOOL)
        schedule = replace(self.span, role="schedule")
        body: list[ir.Stmt] = []
        left = self.let(body, "left", self.prim("sub", fine, capo))
        behind = self.let(body, "behind", self.prim("gt", left, c(1, INT)), BOOL)
        forwards = self.snapshot(capo, top, free, snaps) + self.advance(left, capo, free)
        self.set(forwards, left, self.prim("sub", fine, capo))
        self.set(forwards, behind, self.prim("gt", left, c(1, INT)))
        body.append(ir.While(behind, tuple(forwards), schedule))
        body.extend(self.reverse_one(fine, capo, top, free, snaps, adjoints))
        self.set(body, capo, top)
        for v in self.state:
            self.set(body, v, snaps[v.name])
        self.set(body, more, self.prim("gt", fine, self.lo))
        out.append(ir.While(more, tuple(body), schedule))
        grads = []
        for p in self.loop_fn.params:
            if differentiable(p):
                grads.append(adjoints[p.name] if p.name in adjoints else self.cotangent[p.name])
        out.append(ir.Return(tuple(grads), self.span))
        return ir.Function(name, self.taped.params, self.taped.ret, tuple(out), self.span)

    def reverse_one(self, fine, capo, top, free, snaps, adjoints) -> list[ir.Stmt]:
        """Reverse iteration capo (the last not reversed) from the state held, freeing its snapshot if it has
        one."""
        c = ir.Const
        out: list[ir.Stmt] = []
        freed = self.let(out, "freed", self.prim("eq", top, capo), BOOL)
        release: list[ir.Stmt] = []
        self.set(release, free, self.prim("add", free, c(1, INT)))
        older = self.let(release, "older", self.prim("le", free, c(self.snapshots, INT)), BOOL)
        restore_older: list[ir.Stmt] = []
        for v in reversed(self.state):
            self.set(restore_older, snaps[v.name], ir.Pop(self.tape))
        self.set(restore_older, top, ir.Pop(self.tape))
        none_left: list[ir.Stmt] = []
        self.set(none_left, top, self.hi)
        release.append(ir.If(older, tuple(restore_older), tuple(none_left), self.span))
        out.append(ir.If(freed, tuple(release), (), self.span))
        after = self.let(out, "i_next", self.prim("add", capo, c(1, INT)))
        args = tuple(self.args) + (capo, after) + tuple(self.cotangent.values())
        diff_params = [p for p in self.loop_fn.params if differentiable(p)]
        results = [self.var(naming.role(naming.derivative(self.prefix, p.name), naming.STEP), p.type)
                   for p in diff_params]
        out.append(ir.Let(tuple(results), ir.CallFn(self.taped.name, args), self.span))
        for p, r in zip(diff_params, results):
            if p.name in adjoints:
                total = adjoints[p.name]
                self.set(out, total, self.prim("addto" if p.type.is_array else "add", total, r))
            else:
                self.set(out, self.cotangent[p.name], r)
        self.set(out, fine, capo)
        return out

    def snapshot(self, capo, top, free, snaps) -> list[ir.Stmt]:
        """Keep the state before iteration capo unless the newest snapshot is it; the newest snapshot before
        it goes on the tape."""
        c = ir.Const
        out: list[ir.Stmt] = []
        fresh = self.let(out, "fresh", self.prim("ne", top, capo), BOOL)
        take: list[ir.Stmt] = []
        older = self.let(take, "older", self.prim("le", free, c(self.snapshots, INT)), BOOL)
        save = [ir.Push(top, self.span, self.tape)] + [ir.Push(snaps[v.name], self.span, self.tape)
                                                       for v in self.state]
        take.append(ir.If(older, tuple(save), (), self.span))
        self.set(take, top, capo)
        for v in self.state:
            self.set(take, snaps[v.name], v)
        self.set(take, free, self.prim("sub", free, c(1, INT)))
        out.append(ir.If(fresh, tuple(take), (), self.span))
        return out

    def advance(self, left, capo, free) -> list[ir.Stmt]:
        """Run as many iterations as revolve says before the next snapshot."""
        out: list[ir.Stmt] = []
        ahead = self.let(out, "ahead", self.prim("revolve_advance", left, free))
        start = self.let(out, "a", capo)
        self.set(out, capo, self.prim("add", capo, ahead))
        args = tuple(self.args) + (start, capo)
        self.call_into(out, self.state, ir.CallFn(self.loop_fn.name, args), "advanced")
        return out
