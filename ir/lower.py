"""Lowering: the syntax tree becomes the typed IR, checked on the way.

One pass does scoping, type checking and ANF conversion together, since each
needs the others' answers (the type of a name comes from its scope, the
temporaries of an expression from its type). Every static error of the spec
is raised here as a TypeCheckError at the place it names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import replace

from adlang.ir import nodes as ir
from adlang.ir.naming import Namer
from adlang.ir.primitives import BY_BUILTIN, BY_OPERATOR, TypeRuleError, lookup
from adlang.ir.types import BOOL, FLOAT, INT, Type, accepts, mat, tuple_of, vec
from adlang.lang import ast
from adlang.lang.errors import TypeCheckError
from adlang.lang.span import Span, Written

TAPE_BUILTINS = ("push", "pop")

# Limits of nesting (README, "Limits"): deeper programs are refused up front with a type error,
# since the passes after parsing walk blocks and expressions recursively.
MAX_BLOCK_DEPTH = 200
MAX_EXPR_DEPTH = 200
MAX_VEC_LITERAL = 100_000
# Functions calling functions: the engines and derivative programs recurse once per call.
MAX_CALL_DEPTH = 100

# What people try first to see a value: there is no print, and two better ways.
NO_PRINT = ("adlang has no print: run with --trace to see every value as it is bound (with its line), or step "
            "through the run in the REPL (`adlang repl FILE`, then `:step F x=...`)")


def lower(module: ast.Module, source: str | None = None) -> ir.Program:
    """Check a parsed module and lower every function, in source order.

    With the `source` text, type errors quote the expressions whose types they name.
    """
    defs = _collect_definitions(module)
    for d in module.functions:
        _check_nesting(d)
    order = _callees_first(defs)
    signatures: dict[str, tuple[tuple[ir.Var, ...], Type]] = {}
    lowered: dict[str, ir.Function] = {}
    for name in order:
        fn = FunctionLowering(defs[name], defs, signatures, source).lower()
        lowered[name] = fn
        signatures[name] = (fn.params, fn.ret)
    return ir.Program(tuple(lowered[d.name.id] for d in module.functions))


def did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _collect_definitions(module: ast.Module) -> dict[str, ast.FunctionDef]:
    defs: dict[str, ast.FunctionDef] = {}
    for d in module.functions:
        name = d.name.id
        if name in defs:
            raise TypeCheckError(f"function '{name}' is defined twice; rename one of them", d.name.span)
        if name in BY_BUILTIN or name in TAPE_BUILTINS:
            raise TypeCheckError(f"'{name}' is a builtin function; give yours another name", d.name.span)
        defs[name] = d
    if not defs:
        raise TypeCheckError("the program defines no function; start one with `def name(x):`", Span(1, 1, 1, 1))
    return defs


def _children(node) -> list:
    """The sub-nodes of a syntax-tree node (or the items of a tuple), in source order."""
    if isinstance(node, tuple):
        return list(node)
    if hasattr(node, "__dataclass_fields__"):
        return [getattr(node, f) for f in node.__dataclass_fields__ if f != "span"]
    return []


def _walk(node) -> Iterator:
    """Every node of a syntax tree, in source order (pre-order), without recursion."""
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(reversed(_children(item)))


def _calls_in(node) -> Iterator[ast.Call]:
    """Every call in a syntax tree, in source order."""
    return (item for item in _walk(node) if isinstance(item, ast.Call))


_TOO_DEEP_BLOCKS = (f"blocks nested too deeply (more than {MAX_BLOCK_DEPTH} levels); "
                    "move the inner blocks into a function of their own")


def _check_nesting(d: ast.FunctionDef) -> None:
    """Blocks nested more than MAX_BLOCK_DEPTH deep, or expressions more than MAX_EXPR_DEPTH, are errors.

    An expression's depth is what lowering needs: the left operand of `+ - * / ^` and comparisons
    adds none (a long sum is lowered by a loop), every other operand one level. An `elif` counts
    as a block inside the `else` of the `if` before it, which is what it is.
    """
    stack: list[tuple[object, int, int]] = [(stmt, 1, 0) for stmt in d.body]
    while stack:
        node, blocks, exprs = stack.pop()
        if isinstance(node, (ast.For, ast.While, ast.If)) and blocks > MAX_BLOCK_DEPTH:
            raise TypeCheckError(_TOO_DEEP_BLOCKS, node.span)
        if isinstance(node, (ast.For, ast.While)):
            stack.extend((s, blocks + 1, 0) for s in node.body)
            exprs_of = [node.start, node.stop] if isinstance(node, ast.For) else [node.cond]
            stack.extend((e, blocks, 1) for e in exprs_of)
        elif isinstance(node, ast.If):
            for i, (cond, body) in enumerate(node.branches):
                if blocks + i > MAX_BLOCK_DEPTH:
                    raise TypeCheckError(_TOO_DEEP_BLOCKS + " (each `elif` is one level deeper)", cond.span)
                stack.append((cond, blocks + i, 1))
                stack.extend((s, blocks + i + 1, 0) for s in body)
            if node.orelse is not None:
                stack.extend((s, blocks + len(node.branches), 0) for s in node.orelse)
        elif isinstance(node, ast.Expr):
            if exprs > MAX_EXPR_DEPTH and not isinstance(node, (ast.Name, ast.Num, ast.Bool)):
                raise TypeCheckError(
                    f"expression nested too deeply (more than {MAX_EXPR_DEPTH} levels); split it with let",
                    node.span)
            for child in _children(node):
                same = isinstance(node, ast.Binary) and node.op not in ("and", "or") and child is node.left
                stack.append((child, blocks, exprs if same else exprs + 1))
        elif isinstance(node, tuple):
            stack.extend((item, blocks, exprs) for item in node)
        elif hasattr(node, "__dataclass_fields__"):
            stack.extend((child, blocks, exprs + 1) for child in _children(node))


def _callees_first(defs: dict[str, ast.FunctionDef]) -> list[str]:
    """Functions ordered so that each comes after those it calls; a cycle is recursion, an error.

    Iterative (a chain of thousands of functions is fine here), and it measures the longest chain
    of calls: more than MAX_CALL_DEPTH is an error at the call that makes it longer.
    """
    calls = {name: [c for c in _calls_in(d.body) if c.func in defs] for name, d in defs.items()}
    order: list[str] = []
    state: dict[str, str] = {}
    depth: dict[str, int] = {}
    for root in defs:
        if root in state:
            continue
        state[root] = "open"
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            name, i = stack[-1]
            if i < len(calls[name]):
                stack[-1] = (name, i + 1)
                call = calls[name][i]
                if state.get(call.func) == "open":
                    raise TypeCheckError(
                        f"recursion: '{call.func}' calls itself through this call; adlang functions cannot recurse, "
                        "write a loop instead",
                        call.span,
                    )
                if call.func not in state:
                    state[call.func] = "open"
                    stack.append((call.func, 0))
                continue
            stack.pop()
            state[name] = "done"
            order.append(name)
            deepest = max(calls[name], key=lambda c: depth[c.func], default=None)
            depth[name] = 1 + (depth[deepest.func] if deepest is not None else 0)
            if depth[name] > MAX_CALL_DEPTH:
                raise TypeCheckError(
                    f"calls nested too deeply: this call makes a chain of {depth[name]} functions, each calling "
                    f"the next ({name} -> {deepest.func} -> ...), more than {MAX_CALL_DEPTH}; call some of them "
                    "one after another instead of one inside the other",
                    deepest.span,
                )
    return order


def type_from_ref(ref: ast.TypeRef) -> Type:
    if ref.name == "tuple":
        return tuple_of(type_from_ref(item) for item in ref.items)
    if ref.name == "vec":
        return vec(ref.length)
    if ref.name == "mat":
        return mat(ref.length, ref.cols)
    if ref.name in ("float", "int", "bool"):
        return Type(ref.name)
    hint = did_you_mean(ref.name, ("float", "int", "bool", "vec", "mat"))
    raise TypeCheckError(f"unknown type '{ref.name}'{hint} (the types are {ast.TYPE_NAMES})", ref.span)


def _names_in_def(d: ast.FunctionDef) -> set[str]:
    return {item.id for item in _walk(d) if isinstance(item, ast.Name)}


def _rewritten(e: ast.Expr, texts: list[str]) -> str:
    """e written on one line from its operands' text (the source writes it over several)."""
    def wrapped(x: ast.Expr, text: str) -> str:
        return text if isinstance(x, (ast.Name, ast.Num, ast.Call, ast.Index)) else f"({text})"

    if isinstance(e, ast.Binary):
        return f"{wrapped(e.left, texts[0])} {e.op} {wrapped(e.right, texts[1])}"
    if isinstance(e, ast.Unary):
        return f"{e.op} {texts[0]}" if e.op.isalpha() else f"{e.op}{wrapped(e.operand, texts[0])}"
    if isinstance(e, ast.Index):
        return f"{wrapped(e.target, texts[0])}[{', '.join(texts[1:])}]"
    return f"{e.func}({', '.join(texts)})"


def _index_operands(e: ast.Index) -> tuple[ast.Expr, ...]:
    return (e.target, e.index) if e.column is None else (e.target, e.index, e.column)


class FunctionLowering:
    """Lowers one function: a stack of scopes, a stack of blocks being built, a temporary counter."""

    def __init__(self, d: ast.FunctionDef, defs, signatures, source: str | None = None):
        self.d = d
        self.lines = source.split("\n") if source is not None else None
        # Where each variable in scope was declared (by the Var's identity), for type errors.
        self.origins: dict[int, str] = {}
        self.defs = defs
        self.signatures = signatures
        self.scopes: list[dict[str, ir.Var]] = [{}]
        self.loop_vars: set[str] = set()
        self.blocks: list[list[ir.Stmt]] = [[]]
        self.names = Namer(_names_in_def(d))

    # ------------------------------------------------------------ scopes and blocks

    def fresh(self) -> str:
        return self.names.temp()

    def emit(self, stmt: ir.Stmt) -> None:
        self.blocks[-1].append(stmt)

    def visible(self, name: str) -> ir.Var | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def lookup_var(self, name: ast.Name) -> ir.Var:
        var = self.visible(name.id)
        if var is not None:
            return var
        visible = [n for scope in self.scopes for n in scope]
        hint = did_you_mean(name.id, visible)
        if name.id in self.defs:
            raise TypeCheckError(f"'{name.id}' is a function; call it as {name.id}(...)", name.span)
        raise TypeCheckError(f"'{name.id}' is not declared{hint or '; declare it with let'}", name.span)

    def declare(self, name: ast.Name, type_: Type, origin: str | None = None) -> ir.Var:
        for scope in self.scopes:
            if name.id in scope:
                raise TypeCheckError(
                    f"'{name.id}' is already declared here; use `{name.id} = ...` to update it, "
                    "or pick a new name",
                    name.span,
                )
        var = ir.Var(name.id, type_)
        self.scopes[-1][name.id] = var
        self.origins[id(var)] = origin or f"declared on line {name.span.line}"
        return var

    def block(self, stmts: tuple[ast.Stmt, ...], before=()) -> tuple[ir.Stmt, ...]:
        """Lower a nested block in its own scope; `before` are (name, type) declared first (loop vars)."""
        self.scopes.append({})
        self.blocks.append([])
        try:
            for stmt in stmts:
                self.statement(stmt)
            return tuple(self.blocks[-1])
        finally:
            self.blocks.pop()
            self.scopes.pop()

    # ------------------------------------------------------------ where a type came from

    def quote(self, e: ast.Expr, limit: int = 40) -> str | None:
        """The source text of a short one-line expression, to quote in a message."""
        span = e.span
        if self.lines is None or not 1 <= span.line <= len(self.lines) or span.end_line != span.line:
            return None
        text = self.lines[span.line - 1][span.col - 1: span.end_col].strip()
        return text if 0 < len(text) <= limit else None

    def written(self, span: Span, e: ast.Expr, rhs: ir.Expr) -> Span:
        """`span` of the statement computing `rhs` from `e`, with `e` as written when `rhs` is e's primitive
        (`pow(a, b)` stays `pow(a, b)`): derivative rules name the operation in the source's terms."""
        operands = {ast.Binary: lambda: (e.left, e.right), ast.Call: lambda: e.args,
                    ast.Unary: lambda: (e.operand,), ast.Index: lambda: _index_operands(e)}.get(type(e))
        if not isinstance(rhs, ir.Prim) or operands is None or len(operands()) != len(rhs.args):
            return span
        texts = [self.quote(x) for x in operands()]
        if None in texts:
            return span
        text = self.quote(e, 60) or _rewritten(e, texts)
        return replace(span, written=Written(rhs.op, text, tuple(texts)))

    def origin(self, e: ast.Expr, type_: Type) -> str | None:
        """What `e` is and where its type comes from ("'v' is vec(3) (declared on line 2)"); None for a literal."""
        if isinstance(e, (ast.Num, ast.Bool)):
            return None
        if isinstance(e, ast.Name):
            var = self.visible(e.id)
            if var is not None:
                return f"'{e.id}' is {var.type} ({self.origins.get(id(var), 'declared earlier')})"
        if isinstance(e, ast.Call) and e.func in self.defs:
            return f"{e.func}(...) returns {type_} (def on line {self.defs[e.func].span.line})"
        text = self.quote(e)
        if text is not None:
            return f"`{text}` is {type_}"
        return f"the expression at line {e.span.line}, column {e.span.col} is {type_}"

    def origins_of(self, pairs) -> str:
        """`: 'a' is T (...), 'b' is U (...)` for the (expression, type) pairs that are not literals."""
        parts = [o for e, t in pairs if (o := self.origin(e, t)) is not None]
        return ": " + ", ".join(parts[:3]) if parts else ""

    def signature_line(self, name: str) -> str:
        return f"def on line {self.defs[name].span.line}"

    # ------------------------------------------------------------ the function

    def lower(self) -> ir.Function:
        d = self.d
        params = []
        for p in d.params:
            type_ = type_from_ref(p.type) if p.type is not None else FLOAT
            if type_.kind == "tuple":
                raise TypeCheckError("a parameter cannot be a tuple", p.span)
            params.append(self.declare(p.name, type_, f"a parameter of {d.name.id}, line {p.span.line}"))
        body = d.body
        self._check_return_placement(body)
        for stmt in body[:-1]:
            self.statement(stmt)
        values, ret = self.return_values(body[-1])
        self.emit(ir.Return(values, body[-1].span))
        return ir.Function(d.name.id, tuple(params), ret, tuple(self.blocks[0]), d.span)

    def _check_return_placement(self, body: tuple[ast.Stmt, ...]) -> None:
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.Return) and i != len(body) - 1:
                raise TypeCheckError(
                    "this statement comes after the return; `return` must be the last statement of a function",
                    body[i + 1].span,
                )
            for nested in _nested_returns(stmt):
                raise TypeCheckError(
                    "`return` must be the last statement of the function, not inside a block; "
                    "keep the result in a variable and return it at the end",
                    nested.span,
                )
        if not body or not isinstance(body[-1], ast.Return):
            raise TypeCheckError(
                f"function '{self.d.name.id}' has no return; end it with `return ...`", self.d.span
            )

    def return_values(self, stmt: ast.Return) -> tuple[tuple[ir.Atom, ...], Type]:
        declared = type_from_ref(self.d.ret) if self.d.ret is not None else None
        if len(stmt.values) == 1 and self._is_tuple_call(stmt.values[0]):
            atoms = self.destructure_call(stmt.values[0])
        else:
            atoms = tuple(self.atom(v) for v in stmt.values)
        types = [a.type for a in atoms]
        got = types[0] if len(types) == 1 else tuple_of(types)
        if declared is None:
            return atoms, got
        if not accepts(declared, got):
            raise TypeCheckError(
                f"'{self.d.name.id}' is declared to return {declared} (line {self.d.ret.span.line}), "
                f"but this returns {got}{self.origins_of(zip(stmt.values, types))}", stmt.span
            )
        wanted = declared.items if declared.kind == "tuple" else (declared,)
        atoms = tuple(self.coerce_atom(a, t, stmt.span) for a, t in zip(atoms, wanted))
        return atoms, declared

    # ------------------------------------------------------------ statements

    def statement(self, stmt: ast.Stmt) -> None:
        method = getattr(self, "stmt_" + type(stmt).__name__)
        method(stmt)

    def stmt_Let(self, stmt: ast.Let) -> None:
        if isinstance(stmt.value, ast.GradCall):
            self.let_grad(stmt)
            return
        if len(stmt.names) > 1:
            self.let_destructure(stmt)
            return
        declared = type_from_ref(stmt.type) if stmt.type is not None else None
        if self._is_pop(stmt.value):
            if declared is None:
                raise TypeCheckError("`pop()` needs the type of what it restores: `let x: float = pop()`", stmt.span)
            target = self.declare(stmt.names[0], declared)
            self.emit(ir.Let((target,), self._pop_expr(stmt.value), stmt.span))
            return
        rhs, got = self.rhs(stmt.value)
        span = self.written(stmt.span, stmt.value, rhs)
        if got.kind == "tuple":
            raise TypeCheckError(
                f"this call returns {len(got.items)} values {got}; destructure it: `let a, b = ...`", stmt.value.span
            )
        type_ = got
        if declared is not None:
            if not accepts(declared, got):
                raise TypeCheckError(
                    f"'{stmt.names[0].id}' is declared {declared}, but the value is {got}"
                    f"{self.origins_of([(stmt.value, got)])}", stmt.value.span
                )
            rhs = self.coerce_rhs(rhs, got, declared, stmt.value.span)
            type_ = declared
        target = self.declare(stmt.names[0], type_)
        self.emit(ir.Let((target,), rhs, span))

    def let_grad(self, stmt: ast.Let) -> None:
        """`let v, d1, d2 = grad f(args) wrt p1, p2`: checked like a call, typed (float, type of p1, ...)."""
        g: ast.GradCall = stmt.value
        call = g.call
        if call.func not in self.defs:
            choices = list(self.defs)
            raise TypeCheckError(f"grad needs a function of the program; unknown '{call.func}'"
                                 f"{did_you_mean(call.func, choices)}", call.span)
        params, ret = self.signatures[call.func]
        if ret != FLOAT:
            raise TypeCheckError(f"grad takes the derivative of a float result, but {call.func} returns {ret}",
                                 call.span)
        by_name = {p.name: p for p in params}
        wrt: list[str] = []
        for n in g.wrt:
            p = by_name.get(n.id)
            if p is None:
                raise TypeCheckError(f"'{n.id}' is not a parameter of {call.func}({', '.join(by_name)})"
                                     f"{did_you_mean(n.id, by_name)}", n.span)
            if not p.type.is_differentiable:
                raise TypeCheckError(f"'{n.id}' is {p.type}; derivatives are taken with respect to float, vec and "
                                     "mat parameters", n.span)
            if n.id in wrt:
                raise TypeCheckError(f"'{n.id}' appears twice after wrt", n.span)
            wrt.append(n.id)
        if len(stmt.names) != 1 + len(wrt):
            given = "1 name is" if len(stmt.names) == 1 else f"{len(stmt.names)} names are"
            raise TypeCheckError(
                f"grad {call.func}(...) wrt {', '.join(wrt)} gives {1 + len(wrt)} values (the value, then one "
                f"derivative per parameter), but {given} given", stmt.span)
        if stmt.type is not None:
            raise TypeCheckError("a grad let takes no type annotation", stmt.type.span)
        args = self.call_expr(call).args
        types = [FLOAT] + [by_name[w].type for w in wrt]
        targets = tuple(self.declare(n, t) for n, t in zip(stmt.names, types))
        self.emit(ir.Let(targets, ir.GradOf(call.func, tuple(wrt), args), stmt.span))

    def let_destructure(self, stmt: ast.Let) -> None:
        if stmt.type is not None:
            raise TypeCheckError("a destructuring let takes no type annotation", stmt.type.span)
        if not self._is_tuple_call(stmt.value):
            raise TypeCheckError(
                f"`let {', '.join(n.id for n in stmt.names)} = ...` needs a call of a function that returns "
                f"{len(stmt.names)} values",
                stmt.value.span,
            )
        call = self.call_expr(stmt.value)
        _, ret = self.signatures[stmt.value.func]
        if len(ret.items) != len(stmt.names):
            raise TypeCheckError(
                f"'{stmt.value.func}' returns {len(ret.items)} values {ret}, but {len(stmt.names)} names are given",
                stmt.span,
            )
        seen: set[str] = set()
        for n in stmt.names:
            if n.id in seen:
                raise TypeCheckError(f"'{n.id}' appears twice in this let", n.span)
            seen.add(n.id)
        targets = tuple(self.declare(n, t) for n, t in zip(stmt.names, ret.items))
        self.emit(ir.Let(targets, call, stmt.span))

    def stmt_Assign(self, stmt: ast.Assign) -> None:
        target = self.lookup_var(stmt.name)
        if target.name in self.loop_vars:
            raise TypeCheckError(
                f"'{target.name}' is the loop variable; it cannot be updated inside its loop", stmt.name.span
            )
        if stmt.op == "=" and self._is_pop(stmt.value):
            self.emit(ir.Assign(target, self._pop_expr(stmt.value), stmt.span))
            return
        value: ast.Expr = stmt.value
        if stmt.op != "=":
            value = ast.Binary(stmt.op[0], stmt.name, stmt.value, stmt.span)
        rhs, got = self.rhs(value)
        span = self.written(stmt.span, stmt.value, rhs) if stmt.op == "=" else stmt.span
        if not accepts(target.type, got):
            where = self.origins.get(id(target), "declared earlier")
            if stmt.op == "=":
                new = f"the new value is {got}{self.origins_of([(stmt.value, got)])}"
            else:
                operand = rhs.args[1].type if isinstance(rhs, ir.Prim) else got
                new = f"`{target.name} {stmt.op} ...` gives {got}{self.origins_of([(stmt.value, operand)])}"
            raise TypeCheckError(f"'{target.name}' is {target.type} ({where}), but {new}", stmt.value.span)
        rhs = self.coerce_rhs(rhs, got, target.type, stmt.value.span)
        self.emit(ir.Assign(target, rhs, span))

    def stmt_CallStmt(self, stmt: ast.CallStmt) -> None:
        call = stmt.call
        if call.func == "print" and "print" not in self.defs:
            raise TypeCheckError(NO_PRINT, call.span)
        if call.func != "push":
            raise TypeCheckError(
                f"the result of {call.func}(...) is not used; bind it with `let r = {call.func}(...)`", stmt.span
            )
        if len(call.args) not in (1, 2):
            raise TypeCheckError("push() takes one value, and optionally a tape number: push(x), push(x, 1)", call.span)
        tape = self._tape_number(call.args[1:], call.span)
        value = self.atom(call.args[0])
        if value.type.kind == "tuple":
            raise TypeCheckError("push() saves one value, not a tuple", call.span)
        self.emit(ir.Push(value, stmt.span, tape))

    def stmt_For(self, stmt: ast.For) -> None:
        start = self.int_atom(stmt.start, "the start of a for range")
        stop = self.int_atom(stmt.stop, "the end of a for range")
        self.scopes.append({})
        self.blocks.append([])
        try:
            var = self.declare(stmt.var, INT, f"the loop variable of line {stmt.span.line}")
            self.loop_vars.add(var.name)
            for s in stmt.body:
                self.statement(s)
            body = tuple(self.blocks[-1])
        finally:
            self.loop_vars.discard(stmt.var.id)
            self.blocks.pop()
            self.scopes.pop()
        self.emit(ir.For(var, start, stop, body, stmt.span, stmt.checkpoint))

    def stmt_While(self, stmt: ast.While) -> None:
        if isinstance(stmt.cond, (ast.Name, ast.Bool)):
            cond = self.bool_atom(stmt.cond, "a while condition")
            body = self.block(stmt.body)
            self.emit(ir.While(cond, body, stmt.span, stmt.checkpoint))
            return
        flag = self.bool_atom(stmt.cond, "a while condition")
        self.scopes.append({})
        self.blocks.append([])
        try:
            for s in stmt.body:
                self.statement(s)
            rhs, _ = self.rhs(stmt.cond)
            self.emit(ir.Assign(flag, rhs, stmt.cond.span))
            body = tuple(self.blocks[-1])
        finally:
            self.blocks.pop()
            self.scopes.pop()
        self.emit(ir.While(flag, body, stmt.span, stmt.checkpoint))

    def stmt_If(self, stmt: ast.If) -> None:
        self.emit(self.if_chain(stmt.branches, stmt.orelse, stmt.span))

    def if_chain(self, branches, orelse, span: Span) -> ir.If:
        (cond_expr, body), rest = branches[0], branches[1:]
        cond = self.bool_atom(cond_expr, "an if condition")
        then = self.block(body)
        if rest:
            self.blocks.append([])
            self.scopes.append({})
            try:
                self.emit(self.if_chain(rest, orelse, rest[0][0].span))
                else_block = tuple(self.blocks[-1])
            finally:
                self.scopes.pop()
                self.blocks.pop()
        elif orelse is not None:
            else_block = self.block(orelse)
        else:
            else_block = ()
        return ir.If(cond, then, else_block, span)

    def stmt_Return(self, stmt: ast.Return) -> None:
        raise TypeCheckError("`return` must be the last statement of the function", stmt.span)

    # ------------------------------------------------------------ expressions

    def atom(self, e: ast.Expr) -> ir.Atom:
        """Lower an expression to an atom, binding compound results to a temporary."""
        rhs, type_ = self.rhs(e)
        if isinstance(rhs, (ir.Var, ir.Const)):
            return rhs
        if type_.kind == "tuple":
            raise TypeCheckError(
                f"this call returns {len(type_.items)} values {type_}; destructure it with `let a, b = ...`",
                e.span,
            )
        tmp = ir.Var(self.fresh(), type_)
        self.emit(ir.Let((tmp,), rhs, self.written(e.span, e, rhs)))
        return tmp

    def rhs(self, e: ast.Expr) -> tuple[ir.Expr, Type]:
        """Lower an expression to one IR expression over atoms (its operands are emitted first)."""
        if isinstance(e, ast.Num):
            return self._const(e.value)
        if isinstance(e, ast.Bool):
            return ir.Const(e.value, BOOL), BOOL
        if isinstance(e, ast.Name):
            var = self.lookup_var(e)
            return var, var.type
        if isinstance(e, ast.Unary):
            return self.unary(e)
        if isinstance(e, ast.Binary):
            if e.op in ("and", "or"):
                return self.logical(e)
            return self.binary_chain(e)
        if isinstance(e, ast.Call):
            if e.func in self.defs:
                call = self.call_expr(e)
                return call, self.signatures[e.func][1]
            return self.builtin_call(e)
        if isinstance(e, ast.Index):
            operands = _index_operands(e)
            args = tuple(self.atom(x) for x in operands)
            name = "index"
            if args[0].type.kind == "mat":
                name = "row" if e.column is None else "matindex"
            elif e.column is not None:
                raise TypeCheckError(f"only a mat takes two indices `A[i, j]`; this is {args[0].type}"
                                     + self.origins_of([(e.target, args[0].type)]), e.span)
            return self.prim(name, args, e.span, operands)
        if isinstance(e, ast.VecLit):
            if len(e.items) > MAX_VEC_LITERAL:
                raise TypeCheckError(
                    f"a vec literal of {len(e.items):,} elements, more than the limit of {MAX_VEC_LITERAL:,}; "
                    "load large data with x=@file.npy", e.span)
            items = tuple(self.atom(item) for item in e.items)
            name = "matlit" if any(a.type.kind == "vec" for a in items) else "veclit"
            return self.prim(name, items, e.span, e.items)
        raise TypeCheckError(f"unsupported expression {type(e).__name__}", getattr(e, "span", None))

    def binary_chain(self, e: ast.Binary) -> tuple[ir.Expr, Type]:
        """`a + b + c + ...` (left-nested) lowered by a loop down its left side, not by recursion.

        The temporaries come out in the order the recursive lowering gives them.
        """
        spine = [e]
        while isinstance(spine[-1].left, ast.Binary) and spine[-1].left.op not in ("and", "or"):
            spine.append(spine[-1].left)
        left = self.atom(spine[-1].left)
        for b in reversed(spine[1:]):
            rhs, type_ = self.prim(BY_OPERATOR[(b.op, 2)].name, (left, self.atom(b.right)), b.span, (b.left, b.right))
            left = ir.Var(self.fresh(), type_)
            self.emit(ir.Let((left,), rhs, self.written(b.span, b, rhs)))
        return self.prim(BY_OPERATOR[(e.op, 2)].name, (left, self.atom(e.right)), e.span, (e.left, e.right))

    def _const(self, value) -> tuple[ir.Const, Type]:
        type_ = INT if isinstance(value, int) and not isinstance(value, bool) else FLOAT
        return ir.Const(value, type_), type_

    def unary(self, e: ast.Unary) -> tuple[ir.Expr, Type]:
        if e.op == "-" and isinstance(e.operand, ast.Num):
            return self._const(-e.operand.value)
        if e.op == "-" and isinstance(e.operand, ast.Unary) and e.operand.op == "-":
            inner = self.atom(e.operand)
            if isinstance(inner, ir.Const):
                return self._const(-inner.value)
            return self.prim("neg", (inner,), e.span, (e.operand,))
        return self.prim(BY_OPERATOR[(e.op, 1)].name, (self.atom(e.operand),), e.span, (e.operand,))

    def prim(self, name: str, args: tuple[ir.Atom, ...], span: Span, operands: tuple[ast.Expr, ...] = ()
             ) -> tuple[ir.Prim, Type]:
        """The primitive applied to atoms; `operands` are the expressions they came from, named in a type error."""
        prim = lookup(name)
        try:
            type_ = prim.check(args)
        except TypeRuleError as err:
            message = str(err)
            if message.startswith("expected "):
                message = f"{prim.describe()} takes {message[len('expected '):]}"
            if len(operands) == len(args) and (prim.arity is None or len(args) == prim.arity):
                pairs = [(e, a.type) for e, a in zip(operands, args)]
                if prim.arity is None:  # a vec literal: only the items that are not numbers
                    pairs = [(e, t) for e, t in pairs if not t.is_scalar_number]
                elif name in ("index", "row", "matindex") and args[0].type.is_array:  # only an index is wrong
                    pairs = pairs[1:]
                message += self.origins_of(pairs)
            raise TypeCheckError(message, span) from None
        return ir.Prim(name, args), type_

    def builtin_call(self, e: ast.Call) -> tuple[ir.Expr, Type]:
        if e.func in TAPE_BUILTINS:
            raise TypeCheckError(
                f"{e.func}() works on the tape: `push(x)` as a statement, `let x: T = pop()` or `x = pop()`",
                e.span,
            )
        prim = BY_BUILTIN.get(e.func)
        if prim is None and e.func == "print":
            raise TypeCheckError(NO_PRINT, e.span)
        if prim is None:
            choices = list(self.defs) + list(BY_BUILTIN)
            raise TypeCheckError(f"unknown function '{e.func}'{did_you_mean(e.func, choices)}", e.span)
        args = tuple(self.atom(a) for a in e.args)
        return self.prim(prim.name, args, e.span, e.args)

    def call_expr(self, e: ast.Call) -> ir.CallFn:
        params, _ = self.signatures[e.func]
        if len(e.args) != len(params):
            names = ", ".join(p.name for p in params)
            raise TypeCheckError(
                f"{e.func}({names}) takes {len(params)} argument{'s' * (len(params) != 1)}, got {len(e.args)} "
                f"({self.signature_line(e.func)})",
                e.span,
            )
        args = []
        for param, arg in zip(params, e.args):
            atom = self.atom(arg)
            if not accepts(param.type, atom.type):
                raise TypeCheckError(
                    f"argument '{param.name}' of {e.func} is {param.type} ({self.signature_line(e.func)}), "
                    f"but this is {atom.type}{self.origins_of([(arg, atom.type)])}", arg.span
                )
            args.append(self.coerce_atom(atom, param.type, arg.span))
        return ir.CallFn(e.func, tuple(args))

    def destructure_call(self, e: ast.Call) -> tuple[ir.Atom, ...]:
        call = self.call_expr(e)
        _, ret = self.signatures[e.func]
        temps = tuple(ir.Var(self.fresh(), t) for t in ret.items)
        self.emit(ir.Let(temps, call, e.span))
        return temps

    def _is_tuple_call(self, e: ast.Expr) -> bool:
        return (
            isinstance(e, ast.Call)
            and e.func in self.signatures
            and self.signatures[e.func][1].kind == "tuple"
        )

    def _is_pop(self, e: ast.Expr) -> bool:
        return isinstance(e, ast.Call) and e.func == "pop"

    def _tape_number(self, args: tuple[ast.Expr, ...], span: Span) -> int:
        """`pop()` and `push(x)` use tape 0; `pop(K)` and `push(x, K)` tape K, an int literal."""
        if not args:
            return 0
        if len(args) == 1 and isinstance(args[0], ast.Num) and isinstance(args[0].value, int) and args[0].value >= 0:
            return args[0].value
        raise TypeCheckError("a tape is named by an int literal: push(x, 1), pop(1)", span)

    def _pop_expr(self, e: ast.Call) -> ir.Pop:
        return ir.Pop(self._tape_number(e.args, e.span))

    def logical(self, e: ast.Binary) -> tuple[ir.Expr, Type]:
        """`and`/`or`: both sides evaluated when the right one cannot fail, else short-circuited."""
        left = self.bool_atom(e.left, f"the left side of '{e.op}'")
        self.blocks.append([])
        try:
            right = self.bool_atom(e.right, f"the right side of '{e.op}'")
            right_stmts = self.blocks[-1]
        finally:
            self.blocks.pop()
        if all(_cannot_fail(s) for s in right_stmts):
            self.blocks[-1].extend(right_stmts)
            return self.prim(e.op, (left, right), e.span)
        result = ir.Var(self.fresh(), BOOL)
        self.emit(ir.Let((result,), left, e.span))
        guard = result
        if e.op == "or":
            guard = ir.Var(self.fresh(), BOOL)
            self.emit(ir.Let((guard,), ir.Prim("not", (left,)), e.span))
        self.emit(ir.If(guard, tuple(right_stmts) + (ir.Assign(result, right, e.span),), (), e.span))
        return result, BOOL

    # ------------------------------------------------------------ conversions

    def bool_atom(self, e: ast.Expr, what: str) -> ir.Atom:
        a = self.atom(e)
        if a.type != BOOL:
            raise TypeCheckError(f"{what} must be a bool, got {a.type}{self.origins_of([(e, a.type)])}", e.span)
        return a

    def int_atom(self, e: ast.Expr, what: str) -> ir.Atom:
        a = self.atom(e)
        if a.type != INT:
            raise TypeCheckError(f"{what} must be an int, got {a.type}{self.origins_of([(e, a.type)])}", e.span)
        return a

    def coerce_atom(self, a: ir.Atom, want: Type, span: Span) -> ir.Atom:
        """An int where a float is wanted becomes a float (the only implicit conversion)."""
        if want.kind == "float" and a.type.kind == "int":
            if isinstance(a, ir.Const):
                return ir.Const(float(a.value), FLOAT)
            tmp = ir.Var(self.fresh(), FLOAT)
            self.emit(ir.Let((tmp,), ir.Prim("float", (a,)), span))
            return tmp
        return a

    def coerce_rhs(self, rhs: ir.Expr, got: Type, want: Type, span: Span) -> ir.Expr:
        if want.kind == "float" and got.kind == "int":
            if isinstance(rhs, (ir.Var, ir.Const)):
                atom = rhs
            else:
                atom = ir.Var(self.fresh(), got)
                self.emit(ir.Let((atom,), rhs, span))
            if isinstance(atom, ir.Const):
                return ir.Const(float(atom.value), FLOAT)
            return ir.Prim("float", (atom,))
        return rhs


def _nested_returns(stmt: ast.Stmt) -> Iterator[ast.Return]:
    blocks: list[tuple[ast.Stmt, ...]] = []
    if isinstance(stmt, (ast.For, ast.While)):
        blocks.append(stmt.body)
    elif isinstance(stmt, ast.If):
        blocks.extend(body for _, body in stmt.branches)
        if stmt.orelse is not None:
            blocks.append(stmt.orelse)
    for block in blocks:
        for inner in block:
            if isinstance(inner, ast.Return):
                yield inner
            yield from _nested_returns(inner)


def _cannot_fail(stmt: ir.Stmt) -> bool:
    return isinstance(stmt, ir.Let) and isinstance(stmt.expr, ir.Prim) and lookup(stmt.expr.op).total
