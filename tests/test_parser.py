"""The parser: every construct, precedence, layout, spans and error messages with their places."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from adlang.lang import ast
from adlang.lang.ast import (
    Assign,
    Binary,
    Bool,
    Call,
    CallStmt,
    For,
    FunctionDef,
    If,
    Index,
    Let,
    Name,
    Num,
    Param,
    Return,
    TypeRef,
    Unary,
    VecLit,
    While,
)
from adlang.lang.errors import ParseError
from adlang.lang.parser import parse


def expr(text: str) -> ast.Expr:
    """The expression `text`, parsed as what a one-line function returns."""
    (fn,) = parse(f"def f(x):\n    return {text}\n").functions
    (value,) = fn.body[-1].values
    return value


def body(text: str) -> tuple[ast.Stmt, ...]:
    """The statements of a function whose body is `text` (already indented by 4)."""
    (fn,) = parse("def f(x):\n" + text).functions
    return fn.body


def error(source: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(source)
    return info.value


def sp(node) -> tuple[int, int, int, int]:
    """Where `node` is: first line and column, last line and column (1-based, inclusive)."""
    return (node.span.line, node.span.col, node.span.end_line, node.span.end_col)


def N(id: str) -> Name:
    return Name(id)


def B(op: str, left, right) -> Binary:
    return Binary(op, left, right)


x, y, z = N("x"), N("y"), N("z")
a, b, c = N("a"), N("b"), N("c")


# ---------------------------------------------------------------- functions and types


def test_lecture_function():
    src = "def foo(x, y: float, n: int, v: vec) -> float:\n    let a = x + 5\n    let b = a * y\n    return b\n"
    (fn,) = parse(src).functions
    assert fn == FunctionDef(
        N("foo"),
        (
            Param(x, None),
            Param(y, TypeRef("float")),
            Param(N("n"), TypeRef("int")),
            Param(N("v"), TypeRef("vec")),
        ),
        TypeRef("float"),
        (
            Let((a,), None, B("+", x, Num(5))),
            Let((b,), None, B("*", a, y)),
            Return((b,)),
        ),
    )


def test_param_types_and_no_return_type():
    (fn,) = parse("def g(v: vec(3), b: bool, n: int):\n    return v\n").functions
    assert fn.params == (
        Param(N("v"), TypeRef("vec", 3)),
        Param(b, TypeRef("bool")),
        Param(N("n"), TypeRef("int")),
    )
    assert fn.ret is None


def test_no_params_and_space_before_paren():
    (fn,) = parse("def multiply ():\n    return 1\n").functions
    assert fn.name == N("multiply") and fn.params == ()


def test_tuple_return_type():
    (fn,) = parse("def g(x) -> (float, vec, vec(2)):\n    return x, x, x\n").functions
    assert fn.ret == TypeRef("tuple", items=(TypeRef("float"), TypeRef("vec"), TypeRef("vec", 2)))
    assert fn.body == (Return((x, x, x)),)


def test_several_functions():
    src = "def f(x):\n    return g(x)\n\ndef g(x):\n    return x\n"
    assert [fn.name.id for fn in parse(src).functions] == ["f", "g"]


def test_empty_file():
    assert parse("").functions == ()
    assert parse("# nothing here\n\n").functions == ()


def test_length_on_a_type_other_than_vec():
    e = error("def f(x: int(3)):\n    return x\n")
    assert "only `vec` takes a length" in e.message
    assert (e.span.line, e.span.col) == (1, 14)


# ---------------------------------------------------------------- statements


def test_let_forms():
    stmts = body("    let a = 1\n    let b: vec(2) = [1.0, 2.0]\n    let a, b = g(x)\n    return a\n")
    assert stmts[:3] == (
        Let((a,), None, Num(1)),
        Let((b,), TypeRef("vec", 2), VecLit((Num(1.0), Num(2.0)))),
        Let((a, b), None, Call("g", (x,))),
    )


def test_destructuring_let_takes_no_type():
    e = error("def f(x):\n    let a, b: float = g(x)\n    return a\n")
    assert "several names takes no type" in e.message
    assert (e.span.line, e.span.col) == (2, 15)


@pytest.mark.parametrize("op", ["=", "+=", "-=", "*=", "/="])
def test_assignments(op):
    assert body(f"    x {op} y\n    return x\n")[0] == Assign(x, op, y)


def test_return_several_values():
    assert body("    return x, y + 1, z\n") == (Return((x, B("+", y, Num(1)), z)),)


def test_call_statement():
    assert body("    push(x)\n    push(g(x, 2))\n    return x\n")[:2] == (
        CallStmt(Call("push", (x,))),
        CallStmt(Call("push", (Call("g", (x, Num(2))),))),
    )


def test_for_with_expressions_as_bounds():
    (loop, _) = body("    for i in 0..n-1:\n        x += i\n    return x\n")
    assert loop == For(N("i"), Num(0), B("-", N("n"), Num(1)), (Assign(x, "+=", N("i")),))
    (loop, _) = body("    for i in 1..len(v):\n        x = x * y\n    return x\n")
    assert loop.start == Num(1) and loop.stop == Call("len", (N("v"),))


def test_for_range_of_int_literals_is_not_a_float():
    (loop, _) = body("    for i in 1..10:\n        x = x * y\n    return x\n")
    assert loop.start == Num(1) and loop.stop == Num(10)
    assert type(loop.start.value) is int and type(loop.stop.value) is int
    (loop, _) = body("    for i in 0..n:\n        x = x * y\n    return x\n")
    assert loop.start == Num(0) and loop.stop == N("n")


def test_while():
    (loop, _) = body("    while x < 10.0 and not y:\n        x = x * 2\n    return x\n")
    assert loop == While(B("and", B("<", x, Num(10.0)), Unary("not", y)), (Assign(x, "=", B("*", x, Num(2))),))


def test_if_elif_else_chain():
    src = (
        "    if x < 0:\n        y = 1\n"
        "    elif x < 1:\n        y = 2\n"
        "    elif x < 2:\n        y = 3\n"
        "    else:\n        y = 4\n"
        "    return y\n"
    )
    (stmt, _) = body(src)
    assert stmt == If(
        (
            (B("<", x, Num(0)), (Assign(y, "=", Num(1)),)),
            (B("<", x, Num(1)), (Assign(y, "=", Num(2)),)),
            (B("<", x, Num(2)), (Assign(y, "=", Num(3)),)),
        ),
        (Assign(y, "=", Num(4)),),
    )


def test_if_without_else():
    (stmt, _) = body("    if x:\n        y = 1\n    return y\n")
    assert stmt == If(((x, (Assign(y, "=", Num(1)),)),), None)


def test_nested_blocks_three_deep():
    src = (
        "    for i in 0..3:\n"
        "        while x < 1.0:\n"
        "            if y:\n"
        "                x = x + 1\n"
        "            x = x * 2\n"
        "        y = false\n"
        "    return x\n"
    )
    (loop, _) = body(src)
    inner = If(((y, (Assign(x, "=", B("+", x, Num(1))),)),), None)
    assert loop == For(
        N("i"),
        Num(0),
        Num(3),
        (
            While(B("<", x, Num(1.0)), (inner, Assign(x, "=", B("*", x, Num(2))))),
            Assign(y, "=", Bool(False)),
        ),
    )


# ---------------------------------------------------------------- expressions and precedence


def test_atoms():
    assert expr("x") == x
    assert expr("true") == Bool(True) and expr("false") == Bool(False)
    assert expr("[1.0, x]") == VecLit((Num(1.0), x))
    assert expr("[]") == VecLit(())
    assert expr("f()") == Call("f", ())
    assert expr("(x)") == x


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("3.0", 3.0),
        (".5", 0.5),
        ("1e-3", 1e-3),
        ("2.5E+4", 2.5e4),
        ("1e+16", 1e16),
        ("1e-05", 1e-5),
        ("3.", 3.0),
    ],
)
def test_numbers(text, value):
    num = expr(text)
    assert num == Num(value) and type(num.value) is type(value)


def test_names_that_start_with_keywords():
    assert expr("order + notable + iffy + define") == B(
        "+", B("+", B("+", N("order"), N("notable")), N("iffy")), N("define")
    )


def test_unary_minus_stays_syntactic():
    assert expr("-3") == Unary("-", Num(3))
    assert expr("--x") == Unary("-", Unary("-", x))


def test_power_binds_tighter_than_unary_minus():
    assert expr("-x^2") == Unary("-", B("^", x, Num(2)))


def test_power_is_right_associative():
    assert expr("2^3^2") == B("^", Num(2), B("^", Num(3), Num(2)))


def test_power_of_a_negation():
    assert expr("x ^ -2") == B("^", x, Unary("-", Num(2)))
    assert expr("a ^ -b ^ c") == B("^", a, Unary("-", B("^", b, c)))


def test_left_associative_arithmetic():
    assert expr("a - b - c") == B("-", B("-", a, b), c)
    assert expr("a / b * c") == B("*", B("/", a, b), c)


def test_product_binds_tighter_than_sum():
    assert expr("a + b * c") == B("+", a, B("*", b, c))
    assert expr("(a + b) * c") == B("*", B("+", a, b), c)


def test_comparison_is_looser_than_arithmetic():
    assert expr("a + 1 <= b * 2") == B("<=", B("+", a, Num(1)), B("*", b, Num(2)))


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_comparison_operators(op):
    assert expr(f"a {op} b") == B(op, a, b)


def test_boolean_precedence():
    assert expr("not a and b") == B("and", Unary("not", a), b)
    assert expr("a or b and c") == B("or", a, B("and", b, c))
    assert expr("not a < b") == Unary("not", B("<", a, b))
    assert expr("a and b or c") == B("or", B("and", a, b), c)


def test_postfix_calls_and_indexing():
    assert expr("f(x)[0]") == Index(Call("f", (x,)), Num(0))
    assert expr("v[i][j]") == Index(Index(N("v"), N("i")), N("j"))
    assert expr("[1, 2][0]") == Index(VecLit((Num(1), Num(2))), Num(0))
    assert expr("-v[0]^2") == Unary("-", B("^", Index(N("v"), Num(0)), Num(2)))
    assert expr("max(a, b + 1)") == Call("max", (a, B("+", b, Num(1))))


def test_chained_comparison_is_an_error():
    e = error("def f(a, b, c):\n    return a < b < c\n")
    assert "comparisons cannot be chained" in e.message
    assert (e.span.line, e.span.col) == (2, 18)
    assert "chained" in error("def f(a):\n    return a == a != a\n").message


# ---------------------------------------------------------------- layout


def test_comments_blank_lines_and_odd_indentation():
    src = (
        "# a file may start with a comment\n"
        "\n"
        "   # at any indentation\n"
        "def f(x):   # after the colon\n"
        "\n"
        "        # deeper than the block\n"
        "    let y = x  # after a statement\n"
        "  # shallower than the block\n"
        "\n"
        "    if y > 0:# right after the colon\n"
        "      # odd\n"
        "        y = 1\n"
        "# at column 1 inside the block\n"
        "    return y\n"
        "\n"
        "# trailing comment, no newline"
    )
    (fn,) = parse(src).functions
    assert fn.body == (
        Let((y,), None, x),
        If(((B(">", y, Num(0)), (Assign(y, "=", Num(1)),)),), None),
        Return((y,)),
    )


def test_missing_trailing_newline_and_crlf():
    assert parse("def f(x):\n    return x").functions[0].body == (Return((x,)),)
    assert parse("def f(x):\r\n    return x\r\n").functions[0].body == (Return((x,)),)


def test_trailing_spaces_are_ignored():
    assert parse("def foo(x, y):  \n    return x  \n").functions[0].body == (Return((x,)),)


def test_newlines_inside_brackets_are_ignored():
    src = "def f(x):\n    let v = [1.0,\n  2.0,\n]\n    return g(x,\n# comment\n             v)\n"
    (fn,) = parse(src).functions
    assert fn.body == (Let((N("v"),), None, VecLit((Num(1.0), Num(2.0)))), Return((Call("g", (x, N("v"))),)))


def test_tab_in_indentation():
    e = error("def f(x):\n\tlet a = 1\n\treturn a\n")
    assert e.message == "a tab in indentation; use spaces"
    assert (e.span.line, e.span.col) == (2, 1)
    e = error("def f(x):\n    let a = 1\n    \treturn a\n")
    assert (e.span.line, e.span.col) == (3, 5)
    assert "tab" in error("\tdef f(x):\n    return x\n").message


def test_tab_inside_a_line_is_whitespace():
    assert expr("x\t+\ty") == B("+", x, y)


def test_dedent_to_a_level_no_block_has():
    e = error("def f(x):\n    if x:\n        let a = 1\n      let b = 2\n    return a\n")
    assert e.message.startswith("indentation does not match any outer block; line it up")
    assert (e.span.line, e.span.col) == (4, 7)


def test_unexpected_indentation():
    e = error("def f(x):\n    let a = 1\n        let b = 2\n    return a\n")
    assert e.message.startswith("unexpected indentation; only the lines of a block")
    assert (e.span.line, e.span.col) == (3, 9)
    e = error("  def f(x):\n    return x\n")
    assert e.message.startswith("unexpected indentation; only the lines of a block")
    assert (e.span.line, e.span.col) == (1, 3)


def test_missing_block():
    for src in ("def f(x):\n    if x:\n    return 1\n", "def f(x):\n    if x:\n", "def f(x):\n    if x:"):
        e = error(src)
        assert e.message == "expected a block after ':' (indent the next line)"
        assert (e.span.line, e.span.col) == (2, 9)


def test_block_on_the_header_line():
    e = error("def f(x):\n    if x: return 1\n")
    assert "block starts on the line after ':'" in e.message and "found 'return'" in e.message
    assert (e.span.line, e.span.col) == (2, 11)


# ---------------------------------------------------------------- error messages and places


def test_missing_colon_points_at_the_if_line():
    src = "def f(x):\n    let y = x\n    if y > 0.0\n        y = y * 2.0\n    return y\n"
    e = error(src)
    assert e.message == "expected ':' at the end of the `if` line"
    assert (e.span.line, e.span.col) == (3, 15)
    e = error(src.replace("0.0\n", "0.0  # a comment\n"))
    assert (e.span.line, e.span.col) == (3, 15)


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("def f(x)", "def"),
        ("def f(x) -> float", "def"),
        ("def f(x):\n    while x", "while"),
        ("def f(x):\n    for i in 0..3", "for"),
    ],
)
def test_missing_colon_names_the_line(header, kind):
    e = error(header + "\n        x = 1\n    return x\n")
    assert e.message == f"expected ':' at the end of the `{kind}` line"
    assert e.span.line == header.count("\n") + 1


def test_missing_colon_after_else():
    src = "def f(x):\n    if x:\n        x = 1\n    else\n        x = 2\n    return x\n"
    e = error(src)
    assert e.message == "expected ':' at the end of the `else` line"
    assert (e.span.line, e.span.col) == (4, 9)


def test_expected_an_expression():
    e = error("def f(x):\n    let a = x +\n    return a\n")
    assert e.message == "expected an expression after '+', found the end of the line"
    assert (e.span.line, e.span.col) == (2, 16)
    e = error("def f(x):\n    return x + )\n")
    assert e.message == "expected an expression after '+', found ')'"
    assert (e.span.line, e.span.col) == (2, 16)
    assert "x ^ n" in error("def f(x):\n    return x ** 2\n").message


def test_unexpected_closing_bracket():
    e = error("def f(x):\n    return f(x))\n")
    assert e.message == "unexpected ')': no '(' is open; remove it or add the '('"
    assert (e.span.line, e.span.col) == (2, 16)
    e = error("def f(x):\n    return (x]\n")
    assert e.message == "unexpected ']': the '(' on line 2 is still open"
    assert (e.span.line, e.span.col) == (2, 14)


def test_unclosed_bracket_points_at_the_bracket():
    e = error("def f(x):\n    let a = (x + 1\n    let b = 2\n    return a\n")
    assert e.message == "unclosed '(': no ')' before 'let'"
    assert (e.span.line, e.span.col) == (2, 13)
    e = error("def f(x):\n    let v = [x, f(x\n    y = 2\n    return v\n")
    assert e.message.startswith("unclosed '('")
    assert (e.span.line, e.span.col) == (2, 18)
    e = error("def f(x):\n    return (x")
    assert e.message == "unclosed '(': no ')' before the end of the file"
    assert (e.span.line, e.span.col) == (2, 12)
    e = error("def f(x:\n    return x\n")
    assert (e.span.line, e.span.col) == (1, 6)


def test_a_missing_comma_in_a_long_vec_is_not_an_unclosed_bracket():
    e = error("def f(x):\n    let v = [1.0,\n             2.0\n             3.0]\n    return v\n")
    assert e.message == "expected an operator, ',' or ']' after '2.0', found '3.0'; is a ',' missing?"
    assert (e.span.line, e.span.col) == (4, 14)


def test_for_line_shape():
    for header in ("for i in range(n):", "for i = 0..n:", "for i in 0..:", "for i"):
        e = error(f"def f(x):\n    {header}\n        x = 1\n    return x\n")
        assert e.message.startswith("a `for` line looks like `for i in a..b:`"), header
        assert e.span.line == 2


def test_unexpected_character():
    e = error("def f(x):\n    let a = $x\n")
    assert e.message == "unexpected character '$'"
    assert (e.span.line, e.span.col) == (2, 13)
    assert error("def f(x):\n    return !x\n").message == "unexpected character '!'; write `not`"


def test_keyword_where_a_name_belongs():
    e = error("def f(x):\n    let if = 3\n")
    assert e.message == "expected a name after 'let', found 'if'"
    assert (e.span.line, e.span.col) == (2, 9)


def test_else_without_if():
    e = error("def f(x):\n    else:\n        return 1\n")
    assert e.message == "'else' without an `if` before it at the same indentation"
    assert (e.span.line, e.span.col) == (2, 5)


def test_statement_and_definition_expected():
    assert error("def f(x):\n    3 = x\n").message == "expected a statement, found '3'"
    e = error("let x = 1\n")
    assert e.message == "expected a function definition `def name(...):`, found 'let'"
    assert (e.span.line, e.span.col) == (1, 1)


def test_expression_alone_as_a_statement():
    e = error("def f(x):\n    x + 1\n    return x\n")
    assert e.message == "expected '=', an update like '+=', or a call '(' after 'x', found '+'"
    assert (e.span.line, e.span.col) == (2, 7)


def test_small_expected_sets_are_listed():
    assert error("def f(x) float:\n    return x\n").message == "expected '->' or ':' after ')', found 'float'"
    assert error("def f(x):\n    let a 3\n").message == "expected ',', ':' or '=' after 'a', found '3'"


def test_return_needs_a_value():
    e = error("def f(x):\n    return\n")
    assert e.message == "expected an expression after 'return', found the end of the line"
    assert (e.span.line, e.span.col) == (2, 11)


def test_range_is_not_an_expression():
    assert "found '..'" in error("def f(x):\n    return 1..2\n").message


# ---------------------------------------------------------------- spans


def test_spans():
    src = "def f(x, v: vec(2)) -> float:\n    let a = 2 * x + v[0]\n    for i in 1..3:\n        a += i\n    return -a\n"
    (fn,) = parse(src).functions
    assert sp(fn) == (1, 1, 1, 29)
    assert sp(fn.name) == (1, 5, 1, 5)
    assert sp(fn.params[1]) == (1, 10, 1, 18)
    assert sp(fn.params[1].type) == (1, 13, 1, 18)
    assert sp(fn.ret) == (1, 24, 1, 28)
    let, loop, ret = fn.body
    assert sp(let) == (2, 5, 2, 24)
    assert sp(let.value) == (2, 13, 2, 24)
    assert sp(let.value.left) == (2, 13, 2, 17)
    assert sp(let.value.right) == (2, 21, 2, 24)
    assert sp(let.value.right.index) == (2, 23, 2, 23)
    assert sp(loop) == (3, 5, 3, 18)
    assert sp(loop.var) == (3, 9, 3, 9)
    assert sp(loop.stop) == (3, 17, 3, 17)
    assert sp(loop.body[0]) == (4, 9, 4, 14)
    assert sp(ret) == (5, 5, 5, 13)
    assert sp(ret.values[0]) == (5, 12, 5, 13)


def test_binary_span_starts_at_an_opening_parenthesis():
    value = expr("(x + 1) * 2")
    assert (value.span.col, value.span.end_col) == (12, 22)
    assert value.left.span.col == 13


def test_if_span_is_its_header():
    (stmt, _) = body("    if x:  # c\n        y = 1\n    else:\n        y = 2\n    return y\n")
    assert sp(stmt) == (2, 5, 2, 9)


def test_a_keyword_does_not_split_a_name():
    assert error("def f(x):\n    return x order\n").message == (
        "expected an operator, ',' or the end of the line after 'x', found 'order'; is a ',' missing?")


# ---------------------------------------------------------------- robustness

_PROGRAM = """\
def g(x, v: vec(3), n: int) -> (float, vec):
    let a, b = h(x)   # c
    for i in 0..n:
        while a < 1.0 and not (b > 2):
            if a == b:
                a += -x^2 * [1.0, .5][0]
            elif a != 3:
                push(a)
            else:
                a /= 2.5e-3
    return a, v
"""
_PIECES = [*"()[]:,.+-*/^<>=!#\n\t $", "    ", "\n    ", "if", "else", "let", "..", "return", "def", "3.", "e"]


def test_mangled_programs_give_parse_errors_with_places():
    """Whatever the text, the parser answers with an AST or a ParseError inside the file."""
    rng = random.Random(7)
    for _ in range(1500):
        chars = list(_PROGRAM)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(chars))
            if rng.random() < 0.5:
                del chars[i]
            else:
                chars.insert(i, rng.choice(_PIECES))
        source = "".join(chars)
        try:
            parse(source)
        except ParseError as e:
            assert e.message and "Token" not in e.message
            assert 1 <= e.span.line <= source.count("\n") + 2 and e.span.col >= 1


# ---------------------------------------------------------------- the grammar's cache (issue 17, start-up)


def _fresh_parse(cache_home, **env) -> subprocess.CompletedProcess:
    """A new process that imports the parser and parses a program, with its cache under `cache_home`."""
    import os

    code = "from adlang.lang.parser import parse\nprint(len(parse('def f(x):\\n    return x\\n', 'f.ad').functions))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache_home), **env})


def test_the_grammar_is_cached_and_a_broken_cache_is_rebuilt_quietly(tmp_path):
    first = _fresh_parse(tmp_path)
    cache = tmp_path / "adlang" / "grammar.lark-cache"
    assert first.stdout == "1\n" and first.stderr == "" and cache.stat().st_size > 1000
    written = cache.stat().st_mtime_ns
    again = _fresh_parse(tmp_path)
    assert again.stdout == "1\n" and cache.stat().st_mtime_ns == written  # loaded, not rebuilt
    cache.write_bytes(b"not a cache\n\x00\x01")
    broken = _fresh_parse(tmp_path)
    assert broken.stdout == "1\n" and broken.stderr == ""
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        assert _fresh_parse(tmp_path / "ro" / "x").stdout == "1\n"
    finally:
        (tmp_path / "ro").chmod(0o700)
    assert _fresh_parse(tmp_path / "none", ADLANG_NO_CACHE="1").stdout == "1\n"
    assert not (tmp_path / "none").exists()
