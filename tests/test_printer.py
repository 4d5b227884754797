"""The printer: IR to adlang text that lowers back to the same IR, on the examples and on random programs.

`compile_source(print_program(p, types=True)) == p` (IR equality ignores
spans) and printing that again gives the same bytes; the untyped print
(`types=False`, the lecture style) compiles too and computes the same values.
Random programs come from `strategies.py`; their values are also checked
against an equivalent Python program, which never goes through adlang.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import PROGRAM_PATHS, PROGRAMS_DIR, compile_text, golden_stem, load_example, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import generated, points

from adlang.interp.interpreter import run_function
from adlang.ir import nodes as ir
from adlang.ir.derive import finish
from adlang.ir.printer import print_expr, print_program, print_statement
from adlang.ir.types import BOOL, FLOAT, INT, vec
from adlang.lang.span import Span
from adlang.pipeline import compile_source

RANDOM = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_round_trip(program: ir.Program) -> str:
    """The typed print lowers back to `program` and prints again to the same bytes; returns the text."""
    text = print_program(program, types=True)
    again = compile_source(text, "<printed>")
    assert again == program, f"the printed program lowers to another IR:\n{text}"
    assert print_program(again, types=True) == text
    return text


def untyped_copy(program: ir.Program) -> ir.Program:
    """The lecture-style print, compiled; printing it again in that style gives the same bytes."""
    text = print_program(program)
    copy = compile_source(text, "<printed>")
    assert print_program(copy) == text
    return copy


def same_value(a, b) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b and type(a) is type(b)


# ---------------------------------------------------------------- the examples


@pytest.mark.parametrize("path", PROGRAM_PATHS, ids=golden_stem)
def test_examples_round_trip(path):
    example = load_example(path)
    assert_round_trip(example.program)
    copy = untyped_copy(example.program)
    original = run_function(example.finished, example.fn, example.args).value
    printed = run_function(finish(copy), example.fn, example.args).value
    assert same_value(original, printed)


def test_the_untyped_print_reads_like_the_source():
    program = compile_source(PROGRAMS_DIR.joinpath("lecture", "foo.ad").read_text())
    assert print_program(program) == "def foo(x, y):\n    let a = x + 5\n    let b = a * y\n    return b\n"
    assert print_program(program, types=True) == (
        "def foo(x: float, y: float) -> float:\n    let a: float = x + 5\n    let b: float = a * y\n    return b\n"
    )


# ---------------------------------------------------------------- random programs


@RANDOM
@given(generated(), st.data())
def test_random_programs_round_trip_and_match_python(gen, data):
    program = compile_source(gen.source, "<generated>")
    assert_round_trip(program)
    copy = untyped_copy(program)
    args = data.draw(points(gen.arg_names), label="args")
    value = run_function(finish(program), gen.fn, dict(args), max_steps=100_000).value
    assert isinstance(value, float) and math.isfinite(value)
    assert same_value(run_function(finish(copy), gen.fn, dict(args), max_steps=100_000).value, value)
    expected = gen.python_function()(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()})
    assert value == pytest.approx(float(expected), rel=1e-9, abs=1e-12), gen.source


@RANDOM
@given(generated(mats=True), st.data())
def test_random_mat_programs_round_trip_and_match_numpy(gen, data):
    """Programs with mats (`mats=True`): printed and parsed back, and run, against their numpy oracle."""
    program = compile_source(gen.source, "<generated>")
    assert_round_trip(program)
    args = data.draw(points(gen.arg_names), label="args")
    value = run_function(finish(program), gen.fn, dict(args), max_steps=100_000).value
    assert isinstance(value, float) and math.isfinite(value)
    assert same_value(run_function(finish(untyped_copy(program)), gen.fn, dict(args), max_steps=100_000).value, value)
    expected = gen.python_function()(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()})
    assert value == pytest.approx(float(expected), rel=1e-9, abs=1e-12), gen.source


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(generated(smooth=True), st.data())
def test_smooth_random_programs_have_no_abs_min_max_or_float_conditions(gen, data):
    program = compile_source(gen.source, "<generated>")
    for fn in program.functions:
        for stmt in ir.walk(fn.body):
            if isinstance(stmt, (ir.Let, ir.Assign)) and isinstance(stmt.expr, ir.Prim):
                assert stmt.expr.op not in ("abs", "min", "max")
                if stmt.expr.op in ("lt", "le", "gt", "ge", "eq", "ne"):
                    assert all(a.type == INT for a in stmt.expr.args), stmt
    args = data.draw(points(gen.arg_names), label="args")
    value = run_function(finish(program), gen.fn, dict(args), max_steps=100_000).value
    assert value == pytest.approx(float(gen.python_function()(**args)), rel=1e-9, abs=1e-12)


def test_the_generator_covers_the_language():
    """Over a fixed set of draws, every kind of statement and most primitives appear."""
    seen_stmts: set[str] = set()
    seen_ops: set[str] = set()
    seen_calls = 0

    @settings(max_examples=100, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(generated())
    def collect(gen):
        nonlocal seen_calls
        program = compile_source(gen.source)
        for fn in program.functions:
            for stmt in ir.walk(fn.body):
                tuple_let = isinstance(stmt, ir.Let) and len(stmt.targets) > 1
                seen_stmts.add(type(stmt).__name__ + ("*" if tuple_let else ""))
                if isinstance(stmt, (ir.Let, ir.Assign)):
                    if isinstance(stmt.expr, ir.Prim):
                        seen_ops.add(stmt.expr.op)
                    seen_calls += isinstance(stmt.expr, ir.CallFn)

    collect()
    assert {"Let", "Let*", "Assign", "If", "For", "While", "Return"} <= seen_stmts
    assert seen_calls > 0
    wanted = {"add", "sub", "mul", "div", "pow", "neg", "sin", "cos", "tanh", "exp", "sqrt", "log", "abs", "min",
              "max", "sum", "mean", "dot", "index", "veclit", "lt", "and", "or", "not"}
    assert wanted <= seen_ops, sorted(wanted - seen_ops)


# ---------------------------------------------------------------- how things are printed


def _printed_line(source: str, startswith: str) -> str:
    text = print_program(compile_text(source), types=False)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(startswith)]
    assert lines, text
    return lines[0]


@pytest.mark.parametrize(
    "expr, printed",
    [
        ("(-1.5) ^ 2", "(-1.5) ^ 2"),
        ("x - -1.5", "x - -1.5"),
        ("x * -2", "x * -2"),
        ("x ^ -2", "x ^ -2"),
        ("-x", "-x"),
        ("-0.0 + x", "-0.0 + x"),
        ("(-0.0) ^ x", "(-0.0) ^ x"),
        ("x + 1e-05", "x + 1e-05"),
        ("x + 0.00001", "x + 1e-05"),
        ("x * 1e300", "x * 1e+300"),
        ("x * 2.5E+16", "x * 2.5e+16"),
        ("x * 123456789012.5", "x * 123456789012.5"),
        ("x + 1e999", "x + 1e999"),
        ("x - 1e999", "x - 1e999"),
        ("x + .5", "x + 0.5"),
        ("x + 3", "x + 3"),
        ("float(3)", "float(3)"),
        ("pow(x, 2)", "x ^ 2"),
        ("[x, 1, -2.5]", "[x, 1, -2.5]"),
        ("sum([x])", "sum(_1)"),
        ("x + sin(x) * 2.0", "x + _2"),
    ],
)
def test_printing_constants_and_operations(expr, printed):
    source = f"def f(x):\n    let r = {expr}\n    return x\n"
    assert _printed_line(source, "let r") == f"let r = {printed}"
    assert_round_trip(compile_text(source))


def test_negative_constants_keep_their_meaning():
    for x in (-1.25, 0.0, 2.0):
        assert run("def f(x):\n    return (-1.5) ^ 2 + x - -1.5\n", x=x) == pytest.approx(2.25 + x + 1.5)
    program = compile_text("def f(x):\n    let a = (-2.0) ^ 3\n    let b = -2.0 ^ 2\n    return a + b + x\n")
    assert_round_trip(program)
    assert run_function(untyped_copy(program), "f", {"x": 0.0}).value == -8.0 - 4.0


def test_printing_bools():
    source = """
        def f(x) -> bool:
            let t = true
            let b = (x > 0.0) == false
            let c = not t
            return b or c
        """
    text = print_program(compile_text(source))
    assert "let t = true" in text and "== false" in text and "not t" in text
    assert_round_trip(compile_text(source))


def test_printing_an_elif_chain():
    source = """
        def f(x, b: bool) -> int:
            let r = 0
            if x < 0.0:
                r = 1
            elif b:
                r = 2
            elif x > 10.0:
                r = 3
            else:
                r = 4
            return r
        """
    program = compile_text(source)
    text = print_program(program)
    lines = [ln.strip() for ln in text.splitlines()]
    assert "elif b:" in lines  # a condition that needs no statement of its own prints as elif
    assert "else:" in lines
    assert_round_trip(program)
    copy = untyped_copy(program)
    for x in (-1.0, 5.0, 20.0):
        for b in (True, False):
            assert run_function(copy, "f", {"x": x, "b": b}).value == run_function(program, "f", {"x": x, "b": b}).value


def test_printing_a_while_loop():
    source = """
        def f(x) -> int:
            let k = 0
            while x > 1.0 and k < 100:
                x = x / 2.0
                k += 1
            while false:
                k += 1
            return k
        """
    program = compile_text(source)
    text = print_program(program)
    assert "while false:" in text
    whiles = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("while")]
    assert len(whiles) == 2
    assert_round_trip(program)
    assert run_function(untyped_copy(program), "f", {"x": 40.0}).value == 6


def test_printing_tuple_lets_and_tuple_returns():
    source = """
        def f(x):
            let a, b = g(x)
            return a * b
        def g(x) -> (float, int):
            return x, 3
        """
    program = compile_text(source)
    typed = print_program(program, types=True)
    assert "    let a, b = g(x)  # float, int\n" in typed
    assert "def g(x: float) -> (float, int):" in typed
    untyped = print_program(program)
    assert "    let a, b = g(x)\n" in untyped
    assert "def g(x) -> (float, int):" in untyped
    assert_round_trip(program)
    assert run_function(untyped_copy(program), "f", {"x": 1.5}).value == 4.5


def test_printing_push_and_pop():
    source = """
        def f(x, v: vec):
            push(x)
            push(v)
            push(x, 1)
            let w: vec = pop()
            let y: float = pop()
            let z: float = pop(1)
            return y + sum(w) + z
        """
    program = compile_text(source)
    text = print_program(program)
    for line in ("push(x)", "push(v)", "push(x, 1)", "let w: vec = pop()", "let y: float = pop()",
                 "let z: float = pop(1)"):
        assert f"    {line}\n" in text, text
    assert_round_trip(program)
    v = np.array([1.0, 2.0])
    assert run_function(untyped_copy(program), "f", {"x": 0.5, "v": v}).value == 0.5 + 3.0 + 0.5


def test_printing_an_update_from_the_tape():
    program = compile_text("def f(x):\n    push(x * 2.0)\n    x = pop()\n    return x\n")
    assert "    x = pop()\n" in print_program(program)
    assert_round_trip(program)
    assert run_function(untyped_copy(program), "f", {"x": 1.5}).value == 3.0


def test_an_untyped_print_keeps_a_vec_type_that_the_value_alone_would_not_give():
    source = """
        def f(x):
            let v: vec = [1.0, 2.0]
            v = [1.0, 2.0, x]
            let w: vec = g(x)
            w = v
            let u: vec(2) = h(x)
            let plain = g(x)
            return sum(v) + sum(w) + sum(u) + sum(plain)
        def g(x) -> vec(2):
            return [x, x]
        def h(x) -> vec:
            return [x, 1.0]
        """
    program = compile_text(source)
    text = print_program(program)
    assert "    let v: vec = [1.0, 2.0]\n" in text
    assert "    let w: vec = g(x)\n" in text
    assert "    let u: vec(2) = h(x)\n" in text
    assert "    let plain = g(x)\n" in text
    copy = untyped_copy(program)
    assert run_function(copy, "f", {"x": 3.0}).value == (1 + 2 + 3) * 2 + 4 + 6


def test_print_statement_gives_one_line():
    program = compile_text(
        """
        def f(x):
            for i in 0..3:
                x = x * 2.0
            if x > 1.0:
                x = 0.0
            return x
        """
    )
    loop, cond_let, branch, ret = program.functions[0].body
    assert print_statement(loop) == "for i in 0..3:"
    assert print_statement(cond_let) == "let _1 = x > 1.0"
    assert print_statement(cond_let, types=True) == "let _1: bool = x > 1.0"
    assert print_statement(branch) == "if _1:"
    assert print_statement(ret) == "return x"


def test_hand_built_ir_prints_as_valid_adlang():
    """IR that the derivative passes build (not the lowering): negative constants as operands."""
    x = ir.Var("x", FLOAT)
    r = ir.Var("r", FLOAT)
    cases = [
        (ir.Prim("neg", (ir.Const(-1.5, FLOAT),)), "-(-1.5)", 1.5),
        (ir.Prim("pow", (ir.Const(-2.0, FLOAT), ir.Const(2, INT))), "(-2.0) ^ 2", 4.0),
        (ir.Prim("sub", (x, ir.Const(-1.5, FLOAT))), "x - -1.5", 3.5),
        (ir.Prim("mul", (ir.Const(-1.5, FLOAT), x)), "-1.5 * x", -3.0),
        (ir.Prim("pow", (x, ir.Const(-1, INT))), "x ^ -1", 0.5),
        (ir.Prim("add", (x, ir.Const(math.inf, FLOAT))), "x + 1e999", math.inf),
    ]
    span = Span(1, 1)
    for expr, printed, value in cases:
        assert print_expr(expr) == printed
        fn = ir.Function("f", (x,), FLOAT, (ir.Let((r,), expr, span), ir.Return((r,), span)), span)
        program = ir.Program((fn,))
        copy = compile_source(print_program(program, types=True))
        assert run_function(copy, "f", {"x": 2.0}).value == value, printed
    bools = ir.Prim("and", (ir.Const(True, BOOL), ir.Var("b", BOOL)))
    assert print_expr(bools) == "true and b"
    assert print_expr(ir.Prim("index", (ir.Var("v", vec(3)), ir.Const(2, INT)))) == "v[2]"
