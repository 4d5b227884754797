"""Errors raised inside a derivative rule name that derivative in the program's own terms (issue 12).

`d/db (a ^ b)` at a <= 0 has no value while `a ^ b` may have one ((-2) ^ 2 = 4). The error
used to be log's own ("log of -2.0: log needs a number > 0; guard the call with an `if`"),
advice about a call the user never wrote. It now says which derivative, as the program
writes the operation (`a ^ b` or `pow(a, b)`), in both modes, both engines, at second
order and elementwise on vecs. Every test runs the command line in-process and checks
the whole output.
"""

from __future__ import annotations

import json

import pytest

from adlang import cli

ADVICE = "differentiate where {base} > 0, or keep {exp} out of the derivative (an int power `x ^ n` is " \
         "differentiable at every x)"

FIRST_ORDER = ["forward", "reverse"]
SECOND_ORDER = ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"]
ENGINES = ["interp", "compiled"]
WRITTEN = {"^": "a ^ b", "pow": "pow(a, b)"}


def run(tmp_path, capsys, source: str, *argv: str) -> tuple[int, str, str]:
    path = tmp_path / "f.ad"
    path.write_text(source)
    code = cli.main(["run", str(path), *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def expected(tmp_path, line: int, col: int, message: str, source_line: str, caret: int) -> str:
    place = f"{tmp_path / 'f.ad'}:{line}:{col}"
    return f"{place}: runtime error: {message}\n{source_line}\n{' ' * (col - 1)}{'^' * caret}\n"


def scalar_program(syntax: str) -> tuple[str, str]:
    written = WRITTEN[syntax]
    line = f"    let c = {written}"
    return f"def f(a, b):\n{line}\n    return c\n", line


def scalar_message(syntax: str) -> str:
    written = WRITTEN[syntax]
    return (f"the derivative of {written} with respect to b needs a > 0 (it is {written} * log(a)); here a = -2.0; "
            + ADVICE.format(base="a", exp="b"))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", FIRST_ORDER)
@pytest.mark.parametrize("syntax", ["^", "pow"])
def test_issue_12_pow_exponent_derivative_names_the_power_written(tmp_path, capsys, syntax, mode, engine):
    source, line = scalar_program(syntax)
    code, out, err = run(tmp_path, capsys, source, "a=-2", "b=2", "--grad", "a,b", "--mode", mode, "--engine", engine)
    assert (code, out) == (1, "")
    assert err == expected(tmp_path, 2, 5, scalar_message(syntax), line, len(line) - 4)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", SECOND_ORDER)
@pytest.mark.parametrize("syntax", ["^", "pow"])
def test_issue_12_pow_exponent_derivative_at_second_order(tmp_path, capsys, syntax, mode, engine):
    source, line = scalar_program(syntax)
    code, out, err = run(tmp_path, capsys, source, "a=-2", "b=2", "--grad", "a,b", "--order", "2", "--mode", mode,
                         "--engine", engine)
    assert (code, out) == (1, "")
    assert err == expected(tmp_path, 2, 5, scalar_message(syntax), line, len(line) - 4)


VEC = "def f(u: vec, w: vec):\n    let c = sum({op})\n    return c\n"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", FIRST_ORDER + ["forward-over-reverse", "reverse-over-reverse"])
@pytest.mark.parametrize("syntax", ["^", "pow"])
def test_issue_12_pow_exponent_derivative_on_vecs_names_the_element(tmp_path, capsys, syntax, mode, engine):
    op = {"^": "u ^ w", "pow": "pow(u, w)"}[syntax]
    order = ["--order", "2"] if "-over-" in mode else []
    code, out, err = run(tmp_path, capsys, VEC.format(op=op), "u=[1, -2, 3]", "w=[2, 2, 1]", "--grad", "u,w",
                         "--mode", mode, "--engine", engine, *order)
    message = (f"the derivative of {op} with respect to w needs u > 0 (it is {op} * log(u)); here u = -2.0, index 1 "
               "of a vec; " + ADVICE.format(base="u", exp="w"))
    assert (code, out) == (1, "")
    assert err == expected(tmp_path, 2, 17, message, f"    let c = sum({op})", len(op))


def test_issue_12_engines_give_the_same_bytes_text_and_json(tmp_path, capsys):
    source, _ = scalar_program("^")
    outputs = {}
    for engine in ENGINES:
        for json_flag in ([], ["--json"]):
            outputs[engine, bool(json_flag)] = run(tmp_path, capsys, source, "a=-2", "b=2", "--grad", "b",
                                                   "--engine", engine, *json_flag)
    assert outputs["interp", False] == outputs["compiled", False]
    assert outputs["interp", True] == outputs["compiled", True]
    code, out, err = outputs["interp", True]
    assert (code, err) == (1, "")
    assert json.loads(out) == {"error": {"kind": "runtime", "message": scalar_message("^"), "line": 2, "column": 5}}


def test_issue_12_operands_are_quoted_as_written_even_over_two_lines(tmp_path, capsys):
    """The base is an expression, and the call spans two lines: its operands are quoted, the call rebuilt."""
    source = "def f(x, y):\n    let c = (x + 1.0) ^ y + pow(2.0 * x,\n        y)\n    return c\n"
    code, _, err = run(tmp_path, capsys, source, "x=-3", "y=2", "--grad", "x,y")
    assert code == 1
    assert err.splitlines()[0] == (
        f"{tmp_path / 'f.ad'}:2:29: runtime error: the derivative of pow(2.0 * x, y) with respect to y needs "
        "2.0 * x > 0 (it is pow(2.0 * x, y) * log(2.0 * x)); here 2.0 * x = -6.0; "
        + ADVICE.format(base="2.0 * x", exp="y"))
    code, _, err = run(tmp_path, capsys, source, "x=-1.5", "y=2", "--grad", "y", "--mode", "forward")
    assert code == 1
    assert err.splitlines()[0] == (
        f"{tmp_path / 'f.ad'}:2:13: runtime error: the derivative of (x + 1.0) ^ y with respect to y needs x + 1.0 > 0 "
        "(it is (x + 1.0) ^ y * log(x + 1.0)); here x + 1.0 = -0.5; " + ADVICE.format(base="x + 1.0", exp="y"))


def test_issue_12_only_the_derivative_asked_for_is_computed(tmp_path, capsys):
    """With respect to the base alone, (-2) ^ b has a derivative: b * (-2) ^ (b - 1) = -4 at b = 2."""
    source, _ = scalar_program("^")
    code, out, err = run(tmp_path, capsys, source, "a=-2", "b=2", "--grad", "a", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["grad"] == {"a": -4.0}


def test_issue_12_a_printed_derivative_program_says_what_dpowb_is(tmp_path, capsys):
    """`adlang diff` writes d/db as dpowb(a, c); run on its own, its error explains the builtin."""
    source, _ = scalar_program("^")
    path = tmp_path / "f.ad"
    path.write_text(source)
    assert cli.main(["diff", str(path), "--wrt", "a,b"]) == 0
    printed, _ = capsys.readouterr()
    assert "    let _4 = dpowb(a, c)\n" in printed
    derived = tmp_path / "f_reverse.ad"
    derived.write_text(printed)
    assert cli.main(["run", str(derived), "a=-2", "b=2"]) == 1
    _, err = capsys.readouterr()
    assert err == (f"{derived}:7:5: runtime error: dpowb(a, y) = y * log(a), the derivative of a ^ b with respect to b "
                   "(y = a ^ b), needs a > 0; here a = -2.0; " + ADVICE.format(base="a", exp="b")
                   + "\n    let _4 = dpowb(a, c)\n    ^^^^^^^^^^^^^^^^^^^^\n")


@pytest.mark.parametrize("mode", FIRST_ORDER)
def test_issue_12_other_rule_errors_name_the_derivative_and_drop_the_functions_advice(tmp_path, capsys, mode):
    """x ^ 0.5 at 0: its derivative 0.5 * x ^ -0.5 divides by zero. The advice is not to guard a call."""
    source = "def f(x):\n    let y = x ^ 0.5\n    return y\n"
    code, _, err = run(tmp_path, capsys, source, "x=0", "--grad", "x", "--mode", mode)
    assert code == 1
    assert err.splitlines()[0] == (
        f"{tmp_path / 'f.ad'}:2:5: runtime error: the derivative of x ^ 0.5 with respect to x (0.5 * x ^ (0.5 - 1)) "
        "is undefined here: 0 to a negative power is a division by zero: 0.0 ^ -0.5; the operation has a value here "
        "but not this derivative; differentiate at other arguments")


def test_issue_12_an_error_outside_any_rule_keeps_the_old_wording(tmp_path, capsys):
    """Reverse mode adds x's two adjoint contributions, inf and -inf: no rule made that sum."""
    source = "def f(x, s, t):\n    let y = 10.0 * (x * s) + 10.0 * (x * t)\n    return y\n"
    code, _, err = run(tmp_path, capsys, source, "x=0", "s=1e308", "t=-1e308", "--grad", "x")
    assert code == 1
    assert err.splitlines()[0] == (
        f"{tmp_path / 'f.ad'}:2:21: runtime error: this line has a value here but no derivative: -inf + inf is not a "
        "number (NaN); the inf is an argument or a value that overflowed earlier: rescale the inputs so the values "
        "stay finite")


def test_issue_12_sqrt_keeps_its_own_message(tmp_path, capsys):
    source = "def f(x):\n    let y = sqrt(x)\n    return y\n"
    code, _, err = run(tmp_path, capsys, source, "x=0", "--grad", "x", "--engine", "compiled")
    assert code == 1
    assert err.splitlines()[0] == (
        f"{tmp_path / 'f.ad'}:2:5: runtime error: the derivative of sqrt is undefined at 0.0 (sqrt'(x) = "
        "1 / (2 sqrt(x)) needs x > 0); differentiate at a point where sqrt's argument is > 0")
