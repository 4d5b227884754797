"""Lowering: scoping, the type checker and the shape of the IR it builds.

Every static error is checked through `compile_source`, with a part of its
message and the line (and column where it means something) it points at.
Sources are dedented, so the first `def` is line 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_error_at, compile_text, is_atom, run, type_error

from adlang.ir import nodes as ir
from adlang.ir.types import BOOL, FLOAT, INT, Type, tuple_of, vec

# ---------------------------------------------------------------- names and scopes


def test_undeclared_name_suggests_a_close_one():
    err = type_error(
        """
        def f(x):
            let total = x
            return totl
        """
    )
    assert_error_at(err, "'totl' is not declared", 3, 12)
    assert "did you mean 'total'?" in err.message


def test_undeclared_name_without_a_close_one():
    err = type_error(
        """
        def f(x):
            let y = x + zzz
            return y
        """
    )
    assert_error_at(err, "'zzz' is not declared", 2, 17)
    assert "did you mean" not in err.message


def test_redeclaring_a_let_is_an_error():
    err = type_error(
        """
        def f(x):
            let a = x
            let a = 2.0
            return a
        """
    )
    assert_error_at(err, "'a' is already declared", 3, 9)


def test_redeclaring_a_param_is_an_error():
    err = type_error(
        """
        def f(x, y):
            let y = 1.0
            return x
        """
    )
    assert_error_at(err, "'y' is already declared", 2, 9)


def test_redeclaring_an_outer_name_inside_a_block_is_an_error():
    err = type_error(
        """
        def f(x):
            let t = 1.0
            for i in 0..3:
                let t = x
            return t
        """
    )
    assert_error_at(err, "'t' is already declared", 4, 13)


def test_a_loop_variable_cannot_shadow_a_visible_name():
    err = type_error(
        """
        def f(x, i: int):
            for i in 0..3:
                x = x + 1.0
            return x
        """
    )
    assert_error_at(err, "'i' is already declared", 2, 9)


def test_a_destructuring_let_cannot_redeclare():
    err = type_error(
        """
        def f(x):
            let a, x = g(x)
            return a
        def g(x):
            return x, x
        """
    )
    assert_error_at(err, "'x' is already declared", 2, 12)


def test_sibling_blocks_may_declare_the_same_name():
    program = compile_text(
        """
        def f(x):
            for i in 0..3:
                let t = x * 2.0
                x = t
            for i in 0..2:
                let t = x + 1.0
                x = t
            if x > 0.0:
                let u = 1.0
                x = x + u
            elif x < -1.0:
                let u = 2.0
                x = x + u
            else:
                let u = 3.0
                x = x + u
            while x > 100.0:
                let w = 0.5
                x = x * w
            while x > 200.0:
                let w = 0.25
                x = x * w
            return x
        """
    )
    assert program.names == ["f"]
    # x=1: 8, then 10; > 0 so 11; not > 100
    assert run(
        """
        def f(x):
            for i in 0..3:
                let t = x * 2.0
                x = t
            for i in 0..2:
                let t = x + 1.0
                x = t
            if x > 0.0:
                let u = 1.0
                x = x + u
            else:
                let u = 3.0
                x = x + u
            return x
        """,
        x=1.0,
    ) == 11.0


def test_a_let_inside_a_block_is_not_visible_after_it():
    for block in ("for i in 0..3:", "if x > 0.0:", "while x > 5.0:"):
        err = type_error(
            f"""
            def f(x):
                {block}
                    let inner = x
                    x = inner * 0.5
                return inner
            """
        )
        assert_error_at(err, "'inner' is not declared", 5, 12)


def test_a_let_in_an_else_branch_is_not_visible_after_it():
    err = type_error(
        """
        def f(x):
            if x > 0.0:
                x = 1.0
            else:
                let e = 2.0
                x = e
            return x + e
        """
    )
    assert_error_at(err, "'e' is not declared", 7, 16)


def test_the_loop_variable_is_not_visible_after_the_loop_and_may_be_declared_again():
    err = type_error(
        """
        def f(x):
            for i in 0..3:
                x = x + 1.0
            return x * i
        """
    )
    assert_error_at(err, "'i' is not declared", 4, 16)
    assert run(
        """
        def f(x):
            for i in 0..3:
                x = x + 1.0
            let i = 10
            return x * i
        """,
        x=0.5,
    ) == pytest.approx(35.0)


def test_updating_an_undeclared_name():
    err = type_error(
        """
        def f(x):
            let a = x
            b = 2.0
            return a
        """
    )
    assert_error_at(err, "'b' is not declared", 3, 5)
    err = type_error(
        """
        def f(x):
            b += 2.0
            return x
        """
    )
    assert_error_at(err, "'b' is not declared", 2, 5)


def test_a_function_name_is_not_a_variable():
    err = type_error(
        """
        def f(x):
            return g + x
        def g(x):
            return x
        """
    )
    assert_error_at(err, "'g' is a function", 2, 12)


def test_the_loop_variable_cannot_be_updated():
    for update in ("i = 2", "i += 1"):
        err = type_error(
            f"""
            def f(x):
                for i in 0..3:
                    x = x + 1.0
                    {update}
                return x
            """
        )
        assert_error_at(err, "'i' is the loop variable", 4, 9)


def test_a_user_name_like_a_temporary_does_not_clash_with_temporaries():
    program = compile_text(
        """
        def f(x, y):
            let _1 = x * y
            let _2 = x + y * 2.0
            return _1 * _2 + x * x
        """
    )
    lets = [s for s in program.functions[0].body if isinstance(s, ir.Let)]
    names = [t.name for s in lets for t in s.targets]
    assert len(names) == len(set(names)), names
    x, y = 1.5, -2.0
    assert run(
        """
        def f(x, y):
            let _1 = x * y
            let _2 = x + y * 2.0
            return _1 * _2 + x * x
        """,
        x=x,
        y=y,
    ) == pytest.approx((x * y) * (x + y * 2.0) + x * x)


# ---------------------------------------------------------------- types and promotion


def _let_type(program: ir.Program, name: str) -> Type:
    for stmt in ir.walk(program.functions[0].body):
        if isinstance(stmt, ir.Let):
            for t in stmt.targets:
                if t.name == name:
                    return t.type
    raise AssertionError(f"no let of {name}")


def test_an_int_literal_promotes_to_a_declared_float():
    program = compile_text(
        """
        def f(x):
            let a: float = 3
            return a + x
        """
    )
    first = program.functions[0].body[0]
    assert isinstance(first, ir.Let)
    assert first.targets[0].type == FLOAT
    assert first.expr == ir.Const(3.0, FLOAT)
    assert isinstance(first.expr.value, float)


def test_an_int_variable_promotes_to_a_declared_float():
    value = run(
        """
        def f(x, n: int):
            let a: float = n
            return a
        """,
        x=0.0,
        n=4,
    )
    assert value == 4.0 and isinstance(value, float)


def test_an_int_argument_promotes_to_a_float_param():
    program = compile_text(
        """
        def f(x, n: int):
            let a = g(2, n)
            return a
        def g(y, z):
            return y / z
        """
    )
    (call_let,) = [s for s in program.functions[0].body if isinstance(s, ir.Let) and isinstance(s.expr, ir.CallFn)]
    assert all(a.type == FLOAT for a in call_let.expr.args)
    assert call_let.expr.args[0] == ir.Const(2.0, FLOAT)
    value = run(
        """
        def f(x, n: int):
            let a = g(2, n)
            return a
        def g(y, z):
            return y / z
        """,
        x=0.0,
        n=4,
    )
    assert value == 0.5


def test_updating_a_float_with_an_int():
    value = run(
        """
        def f(x, n: int):
            x = 3
            x += n
            x = n * 2
            return x
        """,
        x=0.5,
        n=5,
    )
    assert value == 10.0 and isinstance(value, float)


def test_ints_promote_in_comparisons_and_arithmetic():
    program = compile_text(
        """
        def f(x, n: int):
            let b = x < n
            let c = n + x
            let d = n + 1
            return c
        """
    )
    assert _let_type(program, "b") == BOOL
    assert _let_type(program, "c") == FLOAT
    assert _let_type(program, "d") == INT


@pytest.mark.parametrize(
    "body, message, line, col",
    [
        ("let n: int = 2.5", "'n' is declared int, but the value is float", 2, 18),
        ("let n = 2\n    n = x", "'n' is int (declared on line 2), but the new value is float: 'x' is float (a "
         "parameter of f, line 1)", 3, 9),
        ("let n = 2\n    n += 0.5", "'n' is int (declared on line 2), but `n += ...` gives float", 3, 10),
        ("let n = 2\n    n /= 2", "'n' is int (declared on line 2), but `n /= ...` gives float", 3, 10),
        ("let b: bool = 1", "'b' is declared bool, but the value is int", 2, 19),
        ("let v: vec = x", "'v' is declared vec, but the value is float", 2, 18),
    ],
)
def test_no_conversion_but_int_to_float(body, message, line, col):
    err = type_error(f"def f(x):\n    {body}\n    return x\n")
    assert_error_at(err, message, line, col)


def test_a_float_argument_for_an_int_param_is_an_error():
    err = type_error(
        """
        def f(x):
            return g(x)
        def g(n: int):
            return 1.0
        """
    )
    assert_error_at(err, "argument 'n' of g is int (def on line 3), but this is float: 'x' is float", 2, 14)


def test_the_declared_return_type_is_checked():
    err = type_error(
        """
        def f(x) -> int:
            let y = x
            return y
        """
    )
    assert_error_at(err, "'f' is declared to return int (line 1), but this returns float: "
                    "'y' is float (declared on line 2)", 3, 5)


def test_an_int_result_promotes_to_a_declared_float_return():
    program = compile_text(
        """
        def f(n: int) -> float:
            return n * 2
        """
    )
    assert program.functions[0].ret == FLOAT
    assert program.functions[0].returned.values[0].type == FLOAT
    value = run(
        """
        def f(n: int) -> float:
            return n * 2
        """,
        n=3,
    )
    assert value == 6.0 and isinstance(value, float)


@pytest.mark.parametrize(
    "expr, message, col",
    [
        ("x + b", "'+' needs numbers, vecs or mats, got float and bool", 13),
        ("b * 2.0", "'*' needs numbers, vecs or mats, got bool and float", 13),
        ("-b", "got bool", 13),
        ("sin(b)", "got bool", 13),
        ("b < 1.0", "'<' compares two numbers", 13),
    ],
)
def test_bool_in_arithmetic_is_an_error(expr, message, col):
    err = type_error(f"def f(x):\n    let b = x > 0.0\n    let y = {expr}\n    return x\n")
    assert_error_at(err, message, 3, col)


def test_not_and_or_need_bools():
    err = type_error("def f(x):\n    let b = not x\n    return x\n")
    assert_error_at(err, "'not' needs bools", 2, 13)
    err = type_error("def f(x):\n    let b = x > 0.0 and x\n    return x\n")
    assert_error_at(err, "the right side of 'and' must be a bool, got float", 2, 25)
    err = type_error("def f(x):\n    let b = x or x > 0.0\n    return x\n")
    assert_error_at(err, "the left side of 'or' must be a bool, got float", 2, 13)


def test_bools_compare_for_equality():
    assert run("def f(x):\n    let b = (x > 0.0) == true\n    let r = 0.0\n    if b:\n        r = 1.0\n    return r\n",
               x=1.0) == 1.0


# ---------------------------------------------------------------- vecs


def test_vec_literals_of_different_lengths_cannot_be_added():
    err = type_error(
        """
        def f(x):
            let v = [1.0, 2.0] + [1.0, 2.0, 3.0]
            return x
        """
    )
    assert_error_at(err, "vecs of different lengths (vec(2) and vec(3))", 2, 13)


def test_a_vec_literal_of_the_wrong_length_for_its_annotation():
    err = type_error(
        """
        def f(x):
            let v: vec(3) = [1.0, 2.0]
            return x
        """
    )
    assert_error_at(err, "'v' is declared vec(3), but the value is vec(2)", 2, 21)


def test_vec_lengths_are_checked_through_params_and_dot():
    err = type_error(
        """
        def f(x):
            return g([1.0, 2.0, 3.0])
        def g(u: vec(2)):
            return sum(u)
        """
    )
    assert_error_at(err, "argument 'u' of g is vec(2) (def on line 3), but this is vec(3): "
                    "`[1.0, 2.0, 3.0]` is vec(3)", 2, 14)
    err = type_error("def f(x):\n    return dot([x], [x, x])\n")
    assert_error_at(err, "different lengths", 2, 12)


def test_vec_and_vec_n_are_interchangeable():
    program = compile_text(
        """
        def f(v: vec):
            let w: vec(2) = v
            let u: vec = [1.0, 2.0]
            return g(v) + g(w) + sum(u)
        def g(u: vec(2)):
            return sum(u)
        """
    )
    assert _let_type(program, "w") == vec(2)
    assert _let_type(program, "u") == vec()


def test_a_vec_literal_has_its_length_as_type():
    program = compile_text(
        """
        def f(x):
            let v = [x, 1, 2.0]
            let w = v * 2.0
            let z = zeros(4)
            return sum(w)
        """
    )
    assert _let_type(program, "v") == vec(3)
    assert _let_type(program, "w") == vec(3)
    assert _let_type(program, "z") == vec(4)


def test_indexing_needs_an_int_and_a_vec():
    err = type_error(
        """
        def f(x, v: vec):
            let y = v[1.0]
            return y
        """
    )
    assert_error_at(err, "a vec index must be an int, got float", 2, 13)
    err = type_error("def f(x):\n    return x[0]\n")
    assert_error_at(err, "only a vec or a mat can be indexed, got float", 2, 12)


def test_vec_builtins_need_vecs():
    err = type_error("def f(x):\n    return sum(x)\n")
    assert_error_at(err, "takes a vec or a mat, got float: 'x' is float (a parameter of f, line 1)", 2, 12)
    err = type_error("def f(x):\n    let v = zeros(2.0)\n    return x\n")
    assert_error_at(err, "zeros() takes an int length, got float", 2, 13)


# ---------------------------------------------------------------- conditions and loops


def test_an_if_condition_must_be_a_bool():
    err = type_error(
        """
        def f(x):
            if x:
                x = 1.0
            return x
        """
    )
    assert_error_at(err, "an if condition must be a bool, got float", 2, 8)


def test_an_elif_condition_must_be_a_bool():
    err = type_error(
        """
        def f(x):
            if x > 0.0:
                x = 1.0
            elif 1:
                x = 2.0
            return x
        """
    )
    assert_error_at(err, "an if condition must be a bool, got int", 4, 10)


def test_a_while_condition_must_be_a_bool():
    err = type_error(
        """
        def f(x):
            while x - 1.0:
                x = 1.0
            return x
        """
    )
    assert_error_at(err, "a while condition must be a bool, got float", 2, 11)


@pytest.mark.parametrize(
    "header, message, col",
    [
        ("for i in 0..x:", "the end of a for range must be an int, got float", 17),
        ("for i in 0.0..3:", "the start of a for range must be an int, got float", 14),
        ("for i in 0..len(x):", "len() takes a vec, got float", 17),
    ],
)
def test_for_bounds_must_be_ints(header, message, col):
    err = type_error(f"def f(x):\n    {header}\n        x = 1.0\n    return x\n")
    assert_error_at(err, message, 2, col)


# ---------------------------------------------------------------- return


def test_a_missing_return_points_at_the_def():
    err = type_error(
        """
        # a comment first

        def f(x):
            let y = x
            y = y * 2.0
        """
    )
    assert_error_at(err, "has no return", 3, 1)


def test_a_return_that_is_not_last_points_at_the_next_statement():
    err = type_error(
        """
        def f(x):
            let y = x
            return y
            y = 2.0
            let z = 3.0
        """
    )
    assert_error_at(err, "comes after the return", 4, 5)


def test_a_return_inside_a_block():
    for header in ("if x > 0.0:", "for i in 0..2:", "while x > 0.0:"):
        err = type_error(
            f"""
            def f(x):
                {header}
                    return x
                return x
            """
        )
        assert_error_at(err, "not inside a block", 3, 9)


def test_a_return_inside_an_else_branch():
    err = type_error(
        """
        def f(x):
            if x > 0.0:
                x = 1.0
            else:
                x = 2.0
                return x
            return x
        """
    )
    assert_error_at(err, "not inside a block", 6, 9)


# ---------------------------------------------------------------- functions and calls


def test_direct_recursion_points_at_the_call():
    err = type_error(
        """
        def f(x):
            let y = x * 2.0
            return f(y) + 1.0
        """
    )
    assert_error_at(err, "recursion", 3, 12)


def test_mutual_recursion_points_at_the_call_that_closes_the_cycle():
    err = type_error(
        """
        def f(x):
            let y = g(x)
            return y

        def g(x):
            let z = h(x)
            return z

        def h(x):
            let w = x + 1.0
            return f(w)
        """
    )
    assert_error_at(err, "recursion: 'f'", 11, 12)


def test_recursion_hidden_in_a_block_and_an_argument():
    err = type_error(
        """
        def f(x):
            let y = x
            if x > 0.0:
                y = sin(g(x))
            return y
        def g(x):
            return f(x)
        """
    )
    # checking starts at f: f -> g -> f, closed by g's call
    assert_error_at(err, "recursion: 'f'", 7, 12)


@pytest.mark.parametrize(
    "call, message",
    [
        ("sin(x, x)", "sin() takes 1 argument, got 2"),
        ("min(x)", "min() takes 2 arguments, got 1"),
        ("pow(x)", "takes 2 arguments, got 1"),
        ("dot([x])", "dot() takes 2 arguments, got 1"),
        ("g(x)", "g(a, b) takes 2 arguments, got 1"),
        ("g(x, x, x)", "g(a, b) takes 2 arguments, got 3"),
        ("h(x)", "h() takes 0 arguments, got 1"),
    ],
)
def test_arity(call, message):
    err = type_error(
        f"""
        def f(x):
            let r = {call}
            return x
        def g(a, b):
            return a
        def h():
            return 1.0
        """
    )
    assert_error_at(err, message, 2, 13)


def test_a_function_without_params_can_be_called():
    assert run("def f(x):\n    return h() + x\ndef h():\n    return 1.5\n", x=1.0) == 2.5


def test_an_unknown_function_suggests_a_close_name():
    err = type_error("def f(x):\n    return sinn(x)\n")
    assert_error_at(err, "unknown function 'sinn'; did you mean 'sin'?", 2, 12)
    err = type_error("def f(x):\n    return helpr(x)\ndef helper(x):\n    return x\n")
    assert_error_at(err, "unknown function 'helpr'; did you mean 'helper'?", 2, 12)
    err = type_error("def f(x):\n    return qqqq(x)\n")
    assert_error_at(err, "unknown function 'qqqq'", 2, 12)
    assert "did you mean" not in err.message


def test_a_tuple_result_in_an_expression_is_an_error():
    tail = "def g(x):\n    return x, 2.0 * x\n"
    err = type_error("def f(x):\n    let y = g(x) + 1.0\n    return y\n" + tail)
    assert_error_at(err, "returns 2 values", 2, 13)
    err = type_error("def f(x):\n    let y = g(x)\n    return y\n" + tail)
    assert_error_at(err, "returns 2 values", 2, 13)
    err = type_error("def f(x):\n    return sin(g(x))\n" + tail)
    assert_error_at(err, "returns 2 values", 2, 16)
    err = type_error("def f(x):\n    return h(g(x))\ndef h(y):\n    return y\n" + tail)
    assert_error_at(err, "returns 2 values", 2, 14)


def test_destructuring_with_the_wrong_count():
    err = type_error(
        """
        def f(x):
            let a, b, c = g(x)
            return a
        def g(x):
            return x, x
        """
    )
    assert_error_at(err, "'g' returns 2 values (float, float), but 3 names are given", 2)
    err = type_error("def f(x):\n    let a, b = sin(x)\n    return a\n")
    assert_error_at(err, "needs a call of a function that returns 2 values", 2)


def test_destructuring_a_tuple_call():
    source = """
        def f(x):
            let a, b = g(x)
            return a - b
        def g(x) -> (float, int):
            return 2.0 * x, 3
        """
    program = compile_text(source)
    first = program.functions[0].body[0]
    assert isinstance(first, ir.Let) and isinstance(first.expr, ir.CallFn)
    assert [t.name for t in first.targets] == ["a", "b"]
    assert [t.type for t in first.targets] == [FLOAT, INT]
    assert program.function("g").ret == tuple_of([FLOAT, INT])
    assert run(source, x=5.0) == 7.0


def test_returning_a_tuple_call_passes_it_on():
    source = """
        def f(x):
            let a, b = g(x)
            return a * b
        def g(x):
            return h(x)
        def h(x):
            return x + 1.0, x - 1.0
        """
    program = compile_text(source)
    assert program.function("g").ret == tuple_of([FLOAT, FLOAT])
    assert run(source, x=3.0) == 8.0
    assert run(source, "g", x=3.0) == (4.0, 2.0)


def test_a_function_named_like_a_builtin_is_an_error():
    for name in ("sin", "len", "pow", "push", "pop"):
        err = type_error(f"def f(x):\n    return x\n\ndef {name}(x):\n    return x\n")
        assert_error_at(err, f"'{name}' is a builtin function", 4, 5)


def test_a_function_defined_twice_is_an_error():
    err = type_error("def f(x):\n    return x\ndef f(y):\n    return y\n")
    assert_error_at(err, "'f' is defined twice", 3, 5)


def test_functions_may_be_defined_after_their_use():
    source = """
        def main(x):
            return double(x) + later(x)
        def double(x):
            return 2.0 * later(x)
        def later(x):
            return x * x
        """
    program = compile_text(source)
    assert program.names == ["main", "double", "later"]
    assert run(source, "main", x=3.0) == 27.0


def test_the_result_of_a_call_must_be_used():
    err = type_error("def f(x):\n    sin(x)\n    return x\n")
    assert_error_at(err, "is not used", 2, 5)


def test_push_and_pop_are_checked():
    err = type_error("def f(x):\n    let y = pop()\n    return y\n")
    assert_error_at(err, "`pop()` needs the type", 2, 5)
    err = type_error("def f(x):\n    let y = push(x)\n    return x\n")
    assert_error_at(err, "push() works on the tape", 2, 13)
    err = type_error("def f(x):\n    push(x, 1, 2)\n    return x\n")
    assert_error_at(err, "push() takes one value", 2, 5)
    err = type_error("def f(x):\n    push(x, x)\n    return x\n")
    assert_error_at(err, "a tape is named by an int literal", 2)


def test_push_and_pop_restore_values_last_in_first_out():
    source = """
        def f(x, y):
            push(x)
            push(y)
            let a: float = pop()
            let b: float = pop()
            return a - b
        """
    assert run(source, x=1.0, y=5.0) == 4.0


# ---------------------------------------------------------------- and / or


def test_and_short_circuits_a_right_side_that_can_fail():
    source = """
        def f(v: vec) -> int:
            let i = 0
            while i < len(v) and v[i] > 0.0:
                i += 1
            return i
        """
    assert run(source, v=np.array([1.0, 2.0, 3.0])) == 3
    assert run(source, v=np.array([1.0, -2.0, 3.0])) == 1
    assert run(source, v=np.array([], dtype=float)) == 0


def test_or_short_circuits_a_right_side_that_can_fail():
    source = """
        def f(x, y):
            let r = 0.0
            if x == 0.0 or y / x > 1.0:
                r = 1.0
            return r
        """
    assert run(source, x=0.0, y=1.0) == 1.0
    assert run(source, x=2.0, y=1.0) == 0.0
    assert run(source, x=0.5, y=1.0) == 1.0


def test_and_does_not_call_a_function_on_the_right_when_the_left_is_false():
    source = """
        def f(x):
            let r = 0.0
            if x > 0.0 and g(x) > 0.0:
                r = 1.0
            return r
        def g(x):
            return log(x)
        """
    assert run(source, x=-1.0) == 0.0
    assert run(source, x=0.5) == 0.0
    assert run(source, x=2.0) == 1.0


def test_and_or_on_a_total_right_side_is_one_primitive():
    program = compile_text(
        """
        def f(x, y):
            let b = x > 0.0 and y > 0.0
            let c = x > 1.0 or not b
            return x
        """
    )
    body = program.functions[0].body
    assert not any(isinstance(s, ir.If) for s in body)
    ops = [s.expr.op for s in body if isinstance(s, ir.Let) and isinstance(s.expr, ir.Prim)]
    assert "and" in ops and "or" in ops


def test_and_or_truth_tables():
    # (v[0] > 0.0) == b: the right side can fail (indexing), so `and`/`or` branch on the left.
    source = """
        def f(a: bool, b: bool, v: vec) -> int:
            let r = 0
            if a and (v[0] > 0.0) == b:
                r += 1
            if a or (v[0] > 0.0) == b:
                r += 2
            if not a and b:
                r += 4
            return r
        """
    for a in (True, False):
        for b in (True, False):
            expected = (a and b) * 1 + (a or b) * 2 + ((not a) and b) * 4
            assert run(source, a=a, b=b, v=np.array([1.0])) == expected, (a, b)


# ---------------------------------------------------------------- the shape of the IR


SHAPE_SOURCE = """
def f(x, y, n: int, v: vec):
    let a = x * y + 1.0 / (2.0 + sin(x))
    let b: float = a ^ 2 - -a
    for i in 0..n + 1:
        b += a * v[i] * 2.0
    if b > 0.0 and x < y:
        b = -b
    elif b < -10.0 or not (x == y):
        b = b / 2
    else:
        b = max(b, min(x, 3))
    while b > 1000.0:
        b = b * 0.5
    let p, q = g(b, n)
    return p + q + sum(v * x) + mean(v) + dot(v, v) + len(v)

def g(u, k: int):
    return u * k, u - k
"""


def test_every_operand_is_an_atom_and_every_var_is_typed():
    program = compile_text(SHAPE_SOURCE)
    seen_prims = 0
    for fn in program.functions:
        types: dict[str, Type] = {p.name: p.type for p in fn.params}
        for stmt in ir.walk(fn.body):
            if isinstance(stmt, (ir.Let, ir.Assign)) and isinstance(stmt.expr, (ir.Prim, ir.CallFn)):
                seen_prims += isinstance(stmt.expr, ir.Prim)
                assert all(is_atom(a) for a in stmt.expr.args), stmt
            if isinstance(stmt, (ir.If, ir.While)):
                assert is_atom(stmt.cond) and stmt.cond.type == BOOL
            if isinstance(stmt, ir.For):
                assert is_atom(stmt.start) and is_atom(stmt.stop)
                assert stmt.start.type == INT == stmt.stop.type == stmt.var.type
            if isinstance(stmt, ir.Return):
                assert all(is_atom(a) for a in stmt.values)
            for var in ir.defined_vars(stmt) + ir.used_vars(stmt):
                assert isinstance(var.type, Type) and var.type.kind in ("float", "int", "bool", "vec"), var
                # one name, one type, in the whole function
                assert types.setdefault(var.name, var.type) == var.type, var
            if isinstance(stmt, ir.Let) and isinstance(stmt.expr, ir.Prim):
                assert len(stmt.targets) == 1
    assert seen_prims > 20


def test_the_ir_computes_what_the_source_says():
    x, y, n, v = 0.7, -1.3, 2, np.array([0.5, -1.0, 2.0])
    a = x * y + 1.0 / (2.0 + np.sin(x))
    b = a**2 + a
    for i in range(n + 1):
        b += a * v[i] * 2.0
    if b > 0.0 and x < y:
        b = -b
    elif b < -10.0 or not (x == y):
        b = b / 2
    else:
        b = max(b, min(x, 3))
    while b > 1000.0:
        b *= 0.5
    p, q = b * n, b - n
    expected = p + q + np.sum(v * x) + np.mean(v) + np.dot(v, v) + len(v)
    assert run(SHAPE_SOURCE, x=x, y=y, n=n, v=v) == pytest.approx(expected, rel=1e-12)


def test_statements_keep_the_lines_of_their_source():
    program = compile_text(
        """
        def f(x, y):
            let a = x * y + 1.0
            let b = sin(a)
            for i in 0..3:
                b += a * 2.0
            if b > 0.0:
                b = -b
            return b
        """
    )
    fn = program.functions[0]
    assert fn.span.line == 1
    lines = [(type(s).__name__, s.span.line) for s in ir.walk(fn.body)]
    assert lines == [
        ("Let", 2),  # _1 = x * y
        ("Let", 2),  # a = _1 + 1.0
        ("Let", 3),
        ("For", 4),
        ("Let", 5),  # _2 = a * 2.0
        ("Assign", 5),
        ("Let", 6),  # _3 = b > 0.0
        ("If", 6),
        ("Assign", 7),
        ("Return", 8),
    ]
    # statement spans start at the statement's column
    cols = {type(s).__name__: s.span.col for s in ir.walk(fn.body) if type(s).__name__ in ("For", "Return")}
    assert cols == {"For": 5, "Return": 5}
    assert fn.body[-2].then[0].span.col == 9


def test_a_while_condition_is_recomputed_at_the_end_of_its_body():
    program = compile_text(
        """
        def f(x):
            while x < 10.0:
                x = x * 2.0
            return x
        """
    )
    body = program.functions[0].body
    cond_let, loop = body[0], body[1]
    assert isinstance(cond_let, ir.Let) and isinstance(loop, ir.While)
    assert loop.cond == cond_let.targets[0]
    last = loop.body[-1]
    assert isinstance(last, ir.Assign) and last.target == loop.cond
    assert last.expr == cond_let.expr
    assert last.span.line == 2


def test_elif_lowers_to_an_if_in_the_else_block():
    program = compile_text(
        """
        def f(x):
            if x > 1.0:
                x = 1.0
            elif x > 0.0:
                x = 0.0
            else:
                x = -1.0
            return x
        """
    )
    outer = program.functions[0].body[1]
    assert isinstance(outer, ir.If)
    assert isinstance(outer.orelse[0], ir.Let)  # the elif's condition, computed only when needed
    inner = outer.orelse[1]
    assert isinstance(inner, ir.If) and inner.span.line == 4
    assert len(inner.orelse) == 1 and inner.orelse[0].span.line == 7


def test_negative_literals_are_constants():
    program = compile_text("def f(x):\n    let a = -1.5\n    let b = x - -2\n    let c = - -3.0\n    return a\n")
    body = program.functions[0].body
    assert body[0].expr == ir.Const(-1.5, FLOAT)
    assert body[1].expr == ir.Prim("sub", (ir.Var("x", FLOAT), ir.Const(-2, INT)))
    assert body[2].expr == ir.Const(3.0, FLOAT)


def test_power_binds_tighter_than_unary_minus():
    assert run("def f(x):\n    return -x ^ 2\n", x=3.0) == -9.0
    assert run("def f(x):\n    return x ^ -2\n", x=2.0) == 0.25
    assert run("def f(x):\n    return 2.0 ^ 3 ^ 2\n", x=0.0) == 2.0**9
