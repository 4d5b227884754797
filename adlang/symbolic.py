"""The lecture's first way to a derivative: substitute every `let` into the result, then differentiate the formula.

The function is run with sympy expressions in place of numbers: float
parameters are symbols (a vec being differentiated, one symbol per element,
`v[0]`, ...; other vecs are their numbers), ints and bools are what the
arguments make them, calls are inlined and `for` loops unrolled (ints are
always known at the point, so their bounds are). What the lecture asks of
symbolic differentiation ("control flow?") shows as refusals, each a sentence:
a `while` loop (its trip count is known only by running it), a branch on a
float (no one formula holds on both sides), a program past a size limit
(expression swell), what only derivative programs use (the tape, `grad`), and
a mat anywhere in the function or what it calls (formulas are over floats and
vecs).
sympy is an optional extra (`pip install adlang[symbolic]`); without it the
result says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from adlang.ir import nodes as ir
from adlang.perturb import elements

MAX_STATEMENTS = 20_000  # statements run symbolically (loops unrolled, calls inlined) before refusing


@dataclass
class Symbolic:
    """The symbolic way's answer: `formula` (sympy's str of each derivative), its `value` at the arguments and
    `operations` (sympy's count_ops of the formulas); or `ok` False with the `reason` in a sentence."""

    ok: bool
    reason: str | None = None
    formula: dict[str, str] = field(default_factory=dict)
    value: dict[str, float | None] = field(default_factory=dict)
    operations: int | None = None

    def to_json(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "formula": dict(self.formula), "value": dict(self.value),
                "operations": self.operations}


class Refusal(Exception):
    """Where the symbolic way cannot go, as the sentence a person reads."""


def symbolic(program: ir.Program, fn_name: str, args: dict, wrt: list[str]) -> Symbolic:
    """The derivative of fn with respect to each element of `wrt` as one formula, and its value at `args`."""
    try:
        import sympy
    except ImportError:
        return Symbolic(False, "the symbolic way needs sympy, which is not installed: pip install adlang[symbolic]")
    fn = program.function(fn_name)
    try:
        _refuse_mats(program, fn)
        env, symbols = _parameters(sympy, fn, args, wrt)
        result = _Evaluator(sympy, program).call(fn, env)
        at = {symbol: sympy.Float(float(value), 17) for symbol, value in symbols.values()}
        formula, value, operations = {}, {}, 0
        for element in elements(wrt, args):
            symbol = symbols[element.label][0]
            derivative = sympy.diff(result, symbol)
            formula[element.label] = str(derivative)
            value[element.label] = _number(derivative.xreplace(at))
            operations += int(sympy.count_ops(derivative))
    except Refusal as refusal:
        return Symbolic(False, str(refusal))
    except (ArithmeticError, TypeError, ValueError, RecursionError) as err:  # sympy's own limits: compare goes on
        return Symbolic(False, f"sympy could not build or differentiate the formula ({type(err).__name__}: {err})")
    return Symbolic(True, None, formula, value, operations)


def _refuse_mats(program: ir.Program, fn: ir.Function) -> None:
    """A Refusal where fn, or a function it calls, has a mat: the symbolic way runs on floats and on vecs as lists
    of them, and writes no formula over a matrix."""
    why = "the symbolic way writes formulas over floats and vecs, not mats"
    for p in fn.params:
        if p.type.kind == "mat":
            raise Refusal(f"parameter '{p.name}' of {fn.name} is a mat: {why}")
    for name in ir.callees_first({f.name: f for f in program.functions}, fn.name):
        for stmt in ir.walk(program.function(name).body):
            expr = getattr(stmt, "expr", None)
            atoms = ir.atoms_of(expr) if expr is not None else ()
            if any(v.type.kind == "mat" for v in (*ir.used_vars(stmt), *ir.defined_vars(stmt), *atoms)):
                raise Refusal(f"line {stmt.span.line} computes with a mat: {why}")


def _parameters(sympy, fn: ir.Function, args: dict, wrt: list[str]) -> tuple[dict, dict]:
    """fn's parameters as sympy values, and each symbol with the number it stands for, by element label."""
    env, symbols = {}, {}
    for p in fn.params:
        value = args[p.name]
        if p.type.kind == "float":
            symbol = sympy.Symbol(p.name, real=True)
            env[p.name] = symbol
            symbols[p.name] = (symbol, value)
        elif p.type.kind == "vec" and p.name in wrt:
            items = []
            for k, item in enumerate(np.asarray(value, dtype=float)):
                symbol = sympy.Symbol(f"{p.name}[{k}]", real=True)
                items.append(symbol)
                symbols[f"{p.name}[{k}]"] = (symbol, item)
            env[p.name] = items
        else:
            env[p.name] = _constant(sympy, value)
    return env, symbols


def _constant(sympy, value):
    if isinstance(value, (bool, np.bool_)):
        return sympy.true if value else sympy.false
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, np.ndarray):
        return [_constant(sympy, float(v)) for v in value]
    value = float(value)
    return sympy.Integer(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else sympy.Float(value, 17)


def _number(expr) -> float | None:
    """A formula without symbols as a float; None where it has no real value (a division by zero, a log of -1)."""
    try:
        value = complex(expr.evalf())
    except (TypeError, ValueError):
        return None
    if value.imag != 0 or not math.isfinite(value.real):
        return None
    return value.real


class _Evaluator:
    """Runs IR with sympy values, one statement at a time, counting statements against MAX_STATEMENTS."""

    def __init__(self, sympy, program: ir.Program):
        self.sp = sympy
        self.program = program
        self.statements = 0
        self.unary = {"sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp, "log": sympy.log,
                      "tanh": sympy.tanh, "sqrt": sympy.sqrt, "abs": sympy.Abs, "sign": sympy.sign,
                      "neg": lambda a: -a, "float": lambda a: a, "not": sympy.Not}
        self.binary = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
                       "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "max": sympy.Max, "min": sympy.Min,
                       "lt": sympy.Lt, "le": sympy.Le, "gt": sympy.Gt, "ge": sympy.Ge, "eq": sympy.Eq,
                       "ne": sympy.Ne, "and": sympy.And, "or": sympy.Or}

    def call(self, fn: ir.Function, env: dict):
        returned = self.block(fn.body, env)
        return returned[0] if len(returned) == 1 else tuple(returned)

    def block(self, body, env: dict):
        """Runs statements; the returned values once a Return is reached, else None."""
        for stmt in body:
            self.statements += 1
            if self.statements > MAX_STATEMENTS:
                raise Refusal(f"unrolling loops and inlining calls takes more than {MAX_STATEMENTS:,} statements "
                              f"(line {stmt.span.line}): the formula would swell past what the symbolic way "
                              "writes out")
            returned = self.statement(stmt, env)
            if returned is not None:
                return returned
        return None

    def statement(self, stmt, env: dict):
        if isinstance(stmt, ir.Return):
            return [self.atom(a, env) for a in stmt.values]
        if isinstance(stmt, ir.Let):
            value = self.expr(stmt.expr, env, stmt.span)
            if len(stmt.targets) == 1:
                env[stmt.targets[0].name] = value
            else:
                env.update((t.name, v) for t, v in zip(stmt.targets, value))
        elif isinstance(stmt, ir.Assign):
            env[stmt.target.name] = self.expr(stmt.expr, env, stmt.span)
        elif isinstance(stmt, ir.If):
            cond = self.atom(stmt.cond, env)
            if cond not in (self.sp.true, self.sp.false):
                raise Refusal(f"line {stmt.span.line} branches on a float ({cond}): which side runs depends on "
                              "the parameters' values, so no one formula holds on both sides")
            return self.block(stmt.then if cond == self.sp.true else stmt.orelse, env)
        elif isinstance(stmt, ir.For):
            start, stop = int(self.atom(stmt.start, env)), int(self.atom(stmt.stop, env))
            for i in range(start, stop):
                env[stmt.var.name] = self.sp.Integer(i)
                returned = self.block(stmt.body, env)
                if returned is not None:
                    return returned
        elif isinstance(stmt, ir.While):
            raise Refusal(f"line {stmt.span.line} is a while loop: how many times it runs is known only by running "
                          "it, so there is no formula to write down")
        else:
            raise Refusal(f"line {stmt.span.line} uses the tape (push), which the symbolic way does not follow")
        return None

    def atom(self, atom, env: dict):
        if isinstance(atom, ir.Var):
            return env[atom.name]
        return _constant(self.sp, atom.value)

    def expr(self, expr, env: dict, span):
        if isinstance(expr, (ir.Var, ir.Const)):
            return self.atom(expr, env)
        if isinstance(expr, ir.CallFn):
            callee = self.program.function(expr.fn)
            inner = {p.name: self.atom(a, env) for p, a in zip(callee.params, expr.args)}
            return self.call(callee, inner)
        if isinstance(expr, ir.Prim):
            return self.prim(expr.op, [self.atom(a, env) for a in expr.args], span)
        what = "grad inside the program" if isinstance(expr, ir.GradOf) else "the tape (pop)"
        raise Refusal(f"line {span.line} uses {what}, which the symbolic way does not follow")

    def prim(self, op: str, args: list, span):
        sp = self.sp
        if op == "index":
            vec, i = args
            if not 0 <= int(i) < len(vec):
                raise Refusal(f"line {span.line} indexes a vec of length {len(vec)} at {i}")
            return vec[int(i)]
        if op == "veclit":
            return list(args)
        if op == "len":
            return sp.Integer(len(args[0]))
        if op in ("zeros", "ones"):
            n = int(args[0])
            if n > MAX_STATEMENTS:
                raise Refusal(f"line {span.line} makes a vec of {n:,} elements, past what the symbolic way writes out")
            return [sp.Integer(0 if op == "zeros" else 1)] * n
        if op == "sum":
            return sp.Add(*args[0])
        if op == "mean":
            return sp.Add(*args[0]) / len(args[0])
        if op == "dot":
            return sp.Add(*(a * b for a, b in zip(args[0], args[1])))
        if op in self.unary:
            return _elementwise(self.unary[op], args)
        if op in self.binary:
            return _elementwise(self.binary[op], args)
        raise Refusal(f"line {span.line} uses {op}, a builtin of derivative programs that the symbolic way does "
                      "not know")


def _elementwise(fn, args: list):
    """fn on scalars, or element by element where an argument is a vec (a scalar beside a vec broadcast)."""
    lengths = [len(a) for a in args if isinstance(a, list)]
    if not lengths:
        return fn(*args)
    return [fn(*(a[k] if isinstance(a, list) else a for a in args)) for k in range(lengths[0])]
