"""A picture of the computation: a function's values as a graph, with the tangents or adjoints of its derivative.

Nodes are the parameters, the bindings (`let` and assignments: one primitive
operation or call each, as the IR has them, temporaries included) and the
return; an edge runs from the binding that made a value to each operand that
reads it, one edge per use, so a value used twice has two out-edges (the
lecture's fan-out, x1 = x2 = x). With `wrt` the nodes also carry the
derivative program's names, as `adlang diff` prints them (ir/derivative_names.py):
in forward mode each value's tangents (`dadx`), which flow along the edges
(blue); in reverse mode each value's adjoint (`dbda`), which flows back along
every edge (red, against the arrow), so a value used twice sums two.

Without arguments the graph is the function's text: a loop is a cluster whose
body is drawn once (an edge from a later statement of the body to an earlier
one is dashed: it carries the value of the previous trip), an `if` is a
diamond and a cluster for each branch. With arguments the function is run: a
run of at most MAX_UNROLLED_STEPS statements is drawn unrolled, as the
lecture's Wengert list (every binding the run made a node, each trip of a
`for` loop a cluster, only the branches taken), with each node's value and,
with `wrt`, its tangents or adjoint at that point, computed by differentiating
the unrolled run (adlang/unroll.py). A longer run is drawn as the text is, with
the result in the title. Values show 6 significant digits (`adlang run --trace`
shows them all).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from adlang import dot
from adlang.interp.interpreter import run_function
from adlang.ir import nodes as ir
from adlang.ir.derivative_names import Names, bound_names, derivative_names
from adlang.ir.derive import derive, finish
from adlang.ir.printer import atom as atom_text
from adlang.ir.printer import print_expr
from adlang.lang.errors import UsageError
from adlang.unroll import Unrolled, record, unroll

MAX_UNROLLED_STEPS = 400
MODES = ("forward", "reverse")


@dataclass(frozen=True)
class Node:
    """`kind`: param, op (a binding), control (a loop variable, an `if` or `while` condition) or return.

    `text` is the statement as adlang prints it (`a = x + 5`); `derivatives` are (name, value) pairs, the value
    None where the graph has no arguments."""

    id: str
    kind: str
    text: str
    value: str | None = None
    derivatives: tuple[tuple[str, str | None], ...] = ()
    cluster: str | None = None


@dataclass(frozen=True)
class Edge:
    """`kind`: data; carried (the value of the previous trip); tape (pushed, then popped); adjoint (reverse
    mode: the adjoint flows from target back to source); tangent and carried_tangent (forward mode: data that
    carries tangents)."""

    source: str
    target: str
    kind: str = "data"
    label: str = ""


@dataclass(frozen=True)
class Cluster:
    id: str
    label: str
    parent: str | None = None


@dataclass(frozen=True)
class Graph:
    """The picture: `.dot` is Graphviz DOT text (the same input gives the same bytes); `.svg()` and `.png()`
    draw it with Graphviz's `dot` program, which must be installed."""

    function: str
    title: tuple[str, ...]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    clusters: tuple[Cluster, ...] = ()
    mode: str | None = None
    unrolled: bool = False

    @property
    def dot(self) -> str:
        return dot.write(self)

    def svg(self) -> str:
        return dot.render(self.dot, "svg").decode("utf-8")

    def png(self) -> bytes:
        return dot.render(self.dot, "png")

    def save(self, path: str, format: str | None = None) -> None:  # noqa: A002 - the command line's word
        """Writes DOT text, SVG or PNG to `path`; the format is `format`, else the name's suffix, else DOT."""
        dot.save(self.dot, path, dot.format_for(path, format))

    def __str__(self) -> str:
        return self.dot

    def _repr_svg_(self) -> str | None:
        return self.svg() if dot.available() else None

    def _repr_html_(self) -> str:
        return dot.html(self.dot)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.dot.rstrip("\n"))


# ---------------------------------------------------------------- building


def check_mode(mode: str | None, wrt: list[str] | None) -> str | None:
    """The mode a graph draws: None without `wrt`; forward or reverse (the default) with it."""
    if wrt is None:
        if mode is not None:
            raise UsageError("--mode needs --wrt: the parameters whose tangents or adjoints to draw")
        return None
    if mode is None:
        return "reverse"
    if mode not in MODES:
        raise UsageError(f"a graph draws --mode forward or reverse, not '{mode}'")
    return mode


def graph(program: ir.Program, fn_name: str, args: dict[str, object] | None = None, wrt: list[str] | None = None,
          mode: str | None = None, max_steps: int = 1_000_000) -> Graph:
    """The picture of `fn_name` (checked arguments or None, checked `wrt` or None)."""
    mode = check_mode(mode, wrt)
    finished = finish(program)
    fn = finished.function(fn_name)
    names: Names = {}
    if wrt is not None:
        if mode == "forward":
            arrays = [p.name for p in fn.params if p.name in wrt and p.type.kind != "float"]
            if arrays:
                raise UsageError(f"a forward-mode graph takes float parameters in --wrt, and '{arrays[0]}' is a "
                                 f"{next(p.type for p in fn.params if p.name == arrays[0])} (forward mode runs "
                                 "once per element of it); draw it with --mode reverse")
        derived = derive(program, fn_name, wrt, mode)
        bound = bound_names(derived.program.function(derived.entry))
        names = {key: name for key, name in derivative_names(program, fn_name, wrt, mode).items() if name in bound}
    labels = _Labels(names, tuple(wrt or ()), mode)
    title = [_signature(fn, args)]
    if args is None:
        return _static(fn, labels, title)
    run = run_function(finished, fn_name, args, max_steps=max_steps)
    if run.steps > MAX_UNROLLED_STEPS:
        title[0] += f" = {short(run.value)}"
        title.append(f"the run takes {run.steps:,} steps, more than the {MAX_UNROLLED_STEPS} a graph unrolls: "
                     "each loop body is drawn once")
        return _static(fn, labels, title)
    unrolled = unroll(finished, fn_name, record(finished, fn_name, args, max_steps))
    title[0] += f" = {short(unrolled.value)}"
    values = _derivative_values(finished, unrolled, args, labels, max_steps) if wrt is not None else {}
    return _unrolled(fn, unrolled, labels, values, args, title)


@dataclass(frozen=True)
class _Labels:
    """The derivative names of each value, by the value's name, and what the title says of them."""

    names: Names
    wrt: tuple[str, ...]
    mode: str | None

    def keys(self, value: str) -> list[tuple[str, str | None]]:
        """The (value, direction) keys of a value's tangents (one per direction) or its adjoint."""
        if self.mode == "forward":
            return [(value, d) for d in self.wrt]
        return [(value, None)] if self.mode == "reverse" else []

    def of(self, value: str) -> list[str]:
        return [self.names[key] for key in self.keys(value) if key in self.names]

    def lines(self, fn: ir.Function, parts: bool) -> list[str]:
        """What the colours mean, for the title."""
        if self.mode == "forward":
            return [f"forward mode along {', '.join(self.wrt)}: each value's tangents (blue)",
                    "flow with it along the blue edges"]
        if self.mode == "reverse":
            output = ", ".join(atom_text(v) for v in fn.returned.values)
            each = "each red edge is labelled with what its use sends back, and " if parts else ""
            return [f"reverse mode: the adjoints of {output} (red) flow back along the red edges;",
                    f"{each}a value used twice sums its two uses"]
        return []


def _signature(fn: ir.Function, args: dict[str, object] | None) -> str:
    if args is None:
        return f"{fn.name}({', '.join(p.name for p in fn.params)})"
    return f"{fn.name}({', '.join(f'{p.name}={short(args[p.name])}' for p in fn.params)})"


def _text(stmt: ir.Stmt) -> str:
    """A binding as adlang prints it, without `let`: `a = x + 5`."""
    if isinstance(stmt, ir.Let):
        return f"{', '.join(t.name for t in stmt.targets)} = {print_expr(stmt.expr)}"
    if isinstance(stmt, ir.Assign):
        return f"{stmt.target.name} = {print_expr(stmt.expr)}"
    if isinstance(stmt, ir.Push):
        return f"push({atom_text(stmt.value)}{f', {stmt.tape}' if stmt.tape else ''})"
    if isinstance(stmt, ir.Return):
        return f"return {', '.join(atom_text(v) for v in stmt.values)}"
    raise TypeError(f"no node for {stmt!r}")


def _targets(stmt: ir.Stmt) -> tuple[str, ...]:
    return tuple(v.name for v in ir.defined_vars(stmt)) if not isinstance(stmt, ir.For) else (stmt.var.name,)


def _finish(fn: ir.Function, nodes: list[Node], edges: list[Edge], clusters: list[Cluster], labels: _Labels,
            title: list[str], unrolled: bool, parts: dict[int, str] | None = None) -> Graph:
    """Adds the derivative edges: in forward mode data edges out of a value with tangents carry them, in reverse
    mode every edge between two values with adjoints carries an adjoint back, labelled with what that one use
    sends back where `parts` (by the edge's index) knows it."""
    with_derivatives = {n.id for n in nodes if n.derivatives}
    out: list[Edge] = []
    for k, edge in enumerate(edges):
        if labels.mode == "forward" and edge.source in with_derivatives and edge.kind in ("data", "carried"):
            out.append(replace(edge, kind="tangent" if edge.kind == "data" else "carried_tangent"))
            continue
        out.append(edge)
        if labels.mode == "reverse" and edge.source in with_derivatives and edge.target in with_derivatives:
            out.append(Edge(edge.source, edge.target, "adjoint", (parts or {}).get(k, "")))
    title.extend(labels.lines(fn, bool(parts)))
    return Graph(fn.name, tuple(title), tuple(nodes), tuple(out), tuple(clusters), labels.mode, unrolled)


# ---------------------------------------------------------------- the function's text


@dataclass
class _Static:
    """Reaching definitions over structured code: which bindings a use may read, loops twice round."""

    fn: ir.Function
    labels: _Labels
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    order: dict[int, int] = field(default_factory=dict)  # id(statement) -> its place in the text
    ids: dict[int, str] = field(default_factory=dict)  # id(statement) -> its node

    def build(self, title: list[str]) -> Graph:
        for k, stmt in enumerate(ir.walk(self.fn.body)):
            self.order[id(stmt)] = k
        env: dict[str, tuple[str, ...]] = {}
        for k, p in enumerate(self.fn.params):
            node = Node(f"p{k}", "param", p.name if p.type.kind == "float" else f"{p.name}: {p.type}",
                        derivatives=self._derivatives(p.name))
            self.nodes.append(node)
            env[p.name] = (node.id,)
        self.block(self.fn.body, env, None, emit=True)
        return _finish(self.fn, self.nodes, self.edges, self.clusters, self.labels, title, unrolled=False)

    def _derivatives(self, value: str) -> tuple[tuple[str, None], ...]:
        return tuple((name, None) for name in self.labels.of(value))

    def node(self, stmt: ir.Stmt, kind: str, text: str, cluster: str | None, emit: bool) -> str:
        key = id(stmt)
        if key not in self.ids:
            self.ids[key] = f"s{self.order.get(key, len(self.order))}"
        if emit:
            derivatives = tuple(d for name in _targets(stmt) for d in self._derivatives(name))
            self.nodes.append(Node(self.ids[key], kind, text, derivatives=derivatives, cluster=cluster))
        return self.ids[key]

    def cluster(self, label: str, parent: str | None, emit: bool) -> str | None:
        if not emit:
            return parent
        cluster = Cluster(f"cluster_{len(self.clusters)}", label, parent)
        self.clusters.append(cluster)
        return cluster.id

    def reads(self, stmt: ir.Stmt, node: str, atoms, env, emit: bool) -> None:
        """An edge from every binding each operand may come from; dashed where it comes from later in the text."""
        if not emit:
            return
        here = self.order.get(id(stmt), len(self.order))
        for a in atoms:
            if isinstance(a, ir.Var):
                for source in env.get(a.name, ()):
                    carried = source.startswith("s") and int(source[1:]) >= here
                    self.edges.append(Edge(source, node, "carried" if carried else "data"))

    def block(self, body, env: dict[str, tuple[str, ...]], cluster: str | None, emit: bool) -> None:
        for stmt in body:
            self.statement(stmt, env, cluster, emit)

    def statement(self, stmt: ir.Stmt, env, cluster: str | None, emit: bool) -> None:
        if isinstance(stmt, (ir.Let, ir.Assign)):
            node = self.node(stmt, "op", _text(stmt), cluster, emit)
            self.reads(stmt, node, ir.atoms_of(stmt.expr), env, emit)
            for name in _targets(stmt):
                env[name] = (node,)
        elif isinstance(stmt, ir.Push):
            node = self.node(stmt, "op", _text(stmt), cluster, emit)
            self.reads(stmt, node, (stmt.value,), env, emit)
        elif isinstance(stmt, ir.Return):
            node = self.node(stmt, "return", _text(stmt), cluster, emit)
            self.reads(stmt, node, stmt.values, env, emit)
        elif isinstance(stmt, ir.If):
            node = self.node(stmt, "control", f"if {atom_text(stmt.cond)}", cluster, emit)
            self.reads(stmt, node, (stmt.cond,), env, emit)
            then_env, else_env = dict(env), dict(env)
            self.block(stmt.then, then_env, self.cluster(f"if {atom_text(stmt.cond)}", cluster, emit), emit)
            if stmt.orelse:
                self.block(stmt.orelse, else_env, self.cluster("else", cluster, emit), emit)
            env.update(_merged(then_env, else_env))
        elif isinstance(stmt, ir.For):
            inner = self.cluster(f"for {stmt.var.name} in {atom_text(stmt.start)}..{atom_text(stmt.stop)}",
                                 cluster, emit)
            node = self.node(stmt, "control", stmt.var.name, inner, emit)
            self.reads(stmt, node, (stmt.start, stmt.stop), env, emit)
            self.loop(stmt, {**env, stmt.var.name: (node,)}, env, inner, emit)
        elif isinstance(stmt, ir.While):
            inner = self.cluster(f"while {atom_text(stmt.cond)}", cluster, emit)
            node = self.node(stmt, "control", f"while {atom_text(stmt.cond)}", inner, emit)
            after_one = dict(env)
            self.block(stmt.body, after_one, inner, emit=False)
            self.reads(stmt, node, (stmt.cond,), _merged(env, after_one), emit)
            self.loop(stmt, dict(env), env, inner, emit)

    def loop(self, stmt: ir.For | ir.While, start: dict, env: dict, inner: str | None, emit: bool) -> None:
        """The body reads what comes in or what its previous trip left; after it, either (a loop may not run)."""
        after_one = dict(start)
        self.block(stmt.body, after_one, inner, emit=False)
        entering = _merged(start, after_one)
        self.block(stmt.body, entering, inner, emit)
        env.update(_merged(env, entering))


def _merged(a: dict[str, tuple[str, ...]], b: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Either environment's bindings, in a fixed order (a's first)."""
    out = dict(a)
    for name, sources in b.items():
        out[name] = tuple(dict.fromkeys(out.get(name, ()) + sources))
    return out


def _static(fn: ir.Function, labels: _Labels, title: list[str]) -> Graph:
    return _Static(fn, labels).build(title)


# ---------------------------------------------------------------- the run, unrolled


def _derivative_values(finished: ir.Program, unrolled: Unrolled, args, labels: _Labels,
                       max_steps: int) -> dict[tuple[str, str | None], object]:
    """Each straight-line variable's tangents or adjoint, by (its name, direction): the unrolled function
    differentiated and run once (not simplified, so no binding is dropped)."""
    program = ir.Program(finished.functions + (unrolled.function,))
    name = unrolled.function.name
    derived = derive(program, name, list(labels.wrt), labels.mode, simplify=False)
    events = record(derived.program, derived.entry, args, max_steps)
    frame = events[0].frame
    last = {e.name: e.value for e in events if e.kind == "bind" and e.frame == frame}
    table = derivative_names(program, name, list(labels.wrt), labels.mode)
    return {key: last[var] for key, var in table.items() if var in last}


def _unrolled(fn: ir.Function, unrolled: Unrolled, labels: _Labels, values: dict, args, title: list[str]) -> Graph:
    nodes: list[Node] = []
    edges: list[Edge] = []
    clusters: list[Cluster] = []
    made: dict[str, str] = {}  # straight-line name -> its node
    parts: dict[int, str] = {}  # an edge's index -> the adjoint its use sends back

    def derivatives(value: str, unrolled_name: str) -> tuple[tuple[str, str | None], ...]:
        out = []
        for key in labels.keys(value):
            if key in labels.names:
                got = values.get((unrolled_name, key[1]))
                out.append((labels.names[key], None if got is None else short(got)))
        return tuple(out)

    for k, p in enumerate(fn.params):
        made[p.name] = f"p{k}"
        text = p.name if p.type.kind == "float" else f"{p.name}: {p.type}"
        nodes.append(Node(f"p{k}", "param", text, short(args[p.name]), derivatives(p.name, p.name)))
    trips: list[tuple[int, str]] = []  # (loops around the trip's body, cluster) of the trips we are in
    loop_vars: list[str] = []
    trip_count = 0
    for k, b in enumerate(unrolled.bindings):
        while trips and trips[-1][0] > b.loops - (1 if isinstance(b.stmt, ir.For) else 0):
            trips.pop()
        if isinstance(b.stmt, ir.For):
            trip_count += 1
            cluster = Cluster(f"cluster_{len(clusters)}", f"{b.names[0]} = {short(b.values[0])}",
                              trips[-1][1] if trips else None)
            clusters.append(cluster)
            trips.append((b.loops, cluster.id))
        node = f"n{k}"
        kind = "control" if isinstance(b.stmt, ir.For) else "op"
        text = b.names[0] if isinstance(b.stmt, ir.For) else _text(b.stmt)
        shown = ", ".join(short(v) for v in b.values)
        nodes.append(Node(node, kind, text, shown,
                          tuple(d for name, new in zip(b.names, b.unrolled) for d in derivatives(name, new)),
                          trips[-1][1] if trips else None))
        if isinstance(b.stmt, ir.For):
            loop_vars.append(node)
        if b.popped is not None and b.popped in made:
            edges.append(Edge(made[b.popped], node, "tape", "tape"))
        for read, use in zip(b.reads, b.uses):
            if (use, None) in values:
                parts[len(edges)] = short(values[(use, None)])
            edges.append(Edge(made[read], node))
        for new in b.unrolled:
            made[new] = node
    ret = fn.returned
    nodes.append(Node("ret", "return", _text(ret), short(unrolled.value)))
    edges.extend(Edge(made[name], "ret") for name in unrolled.returned)
    used = {e.source for e in edges}
    nodes = [n for n in nodes if n.id not in loop_vars or n.id in used]  # a loop variable nobody reads
    if trip_count:
        title.append(f"loops unrolled: {trip_count} trips, one cluster each")
    return _finish(fn, nodes, edges, clusters, labels, title, unrolled=True, parts=parts)


# ---------------------------------------------------------------- values for a picture


def short(value: object) -> str:
    """A value in 6 significant digits; a vec of more than 4 elements by its ends and length, a mat by its
    shape."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(short(v) for v in value) + ")"
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return f"<{value.shape[0]}x{value.shape[1]} mat>"
    if isinstance(value, (list, np.ndarray)):
        items = [f"{float(v):.4g}" for v in value]
        if len(items) > 4:
            return f"[{items[0]}, {items[1]}, ..., {items[-1]}] ({len(items)})"
        return "[" + ", ".join(items) + "]"
    return str(value)
