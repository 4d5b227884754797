"""Every error a user can cause, one test each, through the command line exactly as the spec fixes it.

Each entry of CATALOGUE is one kind of error: a program and a command line
that cause it, a piece of the message it must have, and its place. The test
runs the command in-process twice, as text and with `--json`, and checks the
spec's shape: exit code 2 (usage, parse, type) or 1 (runtime);
`FILE:LINE:COL: KIND error: MESSAGE`, the source line and a caret under the
column (`adlang: usage error: MESSAGE` for usage); the same message, kind,
line and column in the JSON error object; never a traceback.

docs/errors.md is the table of these errors (message, exit code, test), made
from this file: `pytest tests/test_error_catalogue.py --update-golden`
rewrites it, and a test fails when it is out of date.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ROOT

from adlang import cli
from adlang.repl import Repl
from adlang.report import SHOWN_CHARS

EXIT = {"usage": 2, "parse": 2, "type": 2, "runtime": 1}
ERROR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<kind>parse|type|runtime) error: (?P<msg>.+)$")
DOCS = ROOT / "docs" / "errors.md"


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    program: str  # the program, as written in a test (dedented; line 1 is its first line)
    argv: str  # the command line after the command word: FILE is the program's path
    fragment: str  # a piece of the message that says what is wrong and what to do
    line: int | None = None
    col: int | None = None
    command: str = "run"
    what: str = ""  # for the docs: what the user did
    encoding: str = "utf-8"  # how the program file is written


F = "def f(x):\n    return x\n"  # a program for the usage errors

CATALOGUE: list[Case] = [
    # ------------------------------------------------------------ parse
    Case("parse-checkpoint-comment", "parse", "def f(x):\n    for i in 0..3:  # checkpoint: often\n        x = x * 2.0\n"
         "    return x\n", "FILE x=1", "unknown checkpoint strategy 'often' in this comment", 2, 21,
         what="a `# checkpoint:` comment on a loop naming no strategy"),
    Case("parse-missing-colon", "parse", "def f(x):\n    if x > 0.0\n        x = 1.0\n    return x\n", "FILE x=1",
         "expected ':' at the end of the `if` line", 2, 15, what="a block line without its ':'"),
    Case("parse-expression-after-operator", "parse", "def f(x):\n    let y = x +\n    return y\n", "FILE x=1",
         "expected an expression after '+', found the end of the line", 2, 16, what="an operator with nothing after it"),
    Case("parse-power-written-twice-star", "parse", "def f(x):\n    return x ** 2\n", "FILE x=1",
         "(a power is written `x ^ n`)", 2, 15, what="`**` for a power"),
    Case("parse-missing-operator", "parse", "def f(x):\n    let y = x 2.0\n    return y\n", "FILE x=1",
         "expected an operator or the end of the line after 'x', found '2.0'; is an operator missing?", 2, 15,
         what="two values with nothing between them"),
    Case("parse-missing-comma", "parse", "def f(x):\n    let v = [x 2.0]\n    return sum(v)\n", "FILE x=1",
         "expected an operator, ',' or ']' after 'x', found '2.0'; is a ',' missing?", 2, 16,
         what="a vec literal without a ',' between two items"),
    Case("parse-two-statements-on-a-line", "parse", "def f(x):\n    let y = x let z = y\n    return z\n", "FILE x=1",
         "'let' starts a statement: put it on a line of its own", 2, 15, what="two statements on one line"),
    Case("parse-for-shape", "parse", "def f(x):\n    for i in range(3):\n        x = x + 1.0\n    return x\n",
         "FILE x=1", "a `for` line looks like `for i in a..b:`; found ':'", 2, 22, what="a `for` written as in Python"),
    Case("parse-unexpected-indentation", "parse", "def f(x):\n    let y = x\n        let z = y\n    return z\n",
         "FILE x=1", "unexpected indentation; only the lines of a block", 3, 9, what="a line indented for no block"),
    Case("parse-indentation-no-outer-block", "parse",
         "def f(x):\n    if x > 0.0:\n        x = 1.0\n      x = 2.0\n    return x\n", "FILE x=1",
         "indentation does not match any outer block", 4, 7, what="a dedent to a column no block has"),
    Case("parse-tab", "parse", "def f(x):\n\treturn x\n", "FILE x=1", "a tab in indentation; use spaces", 2, 1,
         what="a tab in indentation"),
    Case("parse-missing-block", "parse", "def f(x):\n    if x > 0.0:\n    return x\n", "FILE x=1",
         "expected a block after ':' (indent the next line)", 2, 15, what="a ':' with no indented block after it"),
    Case("parse-block-on-header-line", "parse", "def f(x):\n    if x > 0.0: x = 1.0\n    return x\n", "FILE x=1",
         "a block starts on the line after ':', indented", 2, 17, what="a block on the `if` line itself"),
    Case("parse-unclosed-bracket", "parse", "def f(x):\n    let y = (x + 1.0\n    return y\n", "FILE x=1",
         "unclosed '(': no ')' before 'return'", 2, 13, what="a bracket never closed (points at the bracket)"),
    Case("parse-stray-closer", "parse", "def f(x):\n    return x)\n", "FILE x=1",
         "unexpected ')': no '(' is open; remove it or add the '('", 2, 13, what="a closing bracket with none open"),
    Case("parse-mismatched-closer", "parse", "def f(x):\n    return (x]\n", "FILE x=1",
         "unexpected ']': the '(' on line 2 is still open", 2, 14, what="brackets closed in the wrong order"),
    Case("parse-unexpected-character", "parse", "def f(x):\n    return $x\n", "FILE x=1",
         "unexpected character '$'", 2, 12, what="a character that is not in the language"),
    Case("parse-bang-for-not", "parse", "def f(x):\n    return !x\n", "FILE x=1",
         "unexpected character '!'; write `not`", 2, 12, what="`!`, `&` or `|` for `not`, `and`, `or`"),
    Case("parse-keyword-as-name", "parse", "def f(x):\n    let if = x\n    return x\n", "FILE x=1",
         "expected a name after 'let', found 'if'", 2, 9, what="a keyword where a name belongs"),
    Case("parse-misspelt-keyword", "parse", "def f(x):\n    retrun x\n", "FILE x=1",
         "did you mean `return`?", 2, 12, what="a misspelt keyword at the start of a statement"),
    Case("parse-swapped-letters", "parse", "def f(x):\n    fi x > 1.0:\n        x = 1.0\n    return x\n", "FILE x=1",
         "after 'fi', found 'x'; did you mean `if`?", 2, 8, what="a keyword with two letters swapped"),
    Case("parse-type-expected", "parse", "def f(x: > 1):\n    return x\n", "FILE x=1",
         "expected a type after ':', found '>'; the types are float, int, bool, vec, vec(N), mat and mat(R, C)", 1, 10,
         what="something else where a type belongs"),
    Case("parse-misspelt-def", "parse", "dfe f(x):\n    return x\n", "FILE x=1",
         "expected a function definition `def name(...):`, found 'dfe'; did you mean `def`?", 1, 1,
         what="a file that does not start with `def`"),
    Case("parse-else-without-if", "parse", "def f(x):\n    else:\n        x = 1.0\n    return x\n", "FILE x=1",
         "'else' without an `if` before it at the same indentation", 2, 5, what="`else`/`elif` with no `if`"),
    Case("parse-expression-statement", "parse", "def f(x):\n    x + 1.0\n    return x\n", "FILE x=1",
         "expected '=', an update like '+=', or a call '(' after 'x', found '+'", 2, 7,
         what="an expression alone as a statement"),
    Case("parse-statement-expected", "parse", "def f(x):\n    3 = x\n    return x\n", "FILE x=1",
         "expected a statement, found '3'", 2, 5, what="a statement that starts with something else"),
    Case("parse-small-expected-set", "parse", "def f(x) float:\n    return x\n", "FILE x=1",
         "expected '->' or ':' after ')', found 'float'", 1, 10, what="a token where a few others fit"),
    Case("parse-chained-comparison", "parse", "def f(x):\n    let b = 0.0 < x < 1.0\n    return x\n", "FILE x=1",
         "comparisons cannot be chained: write `a < b and b < c`", 2, 21, what="`a < b < c`"),
    Case("parse-length-on-a-non-vec", "parse", "def f(x: float(2)):\n    return x\n", "FILE x=1",
         "only `vec` takes a length, as in `vec(2)`, and `mat` rows and columns, as in `mat(2, 3)`", 1, 16, what="a length on a type other than vec"),
    Case("parse-typed-destructuring", "parse", "def g(x) -> (float, float):\n    return x, x\n"
         "def f(x):\n    let a, b: float = g(x)\n    return a\n", "FILE x=1 --fn f",
         "a `let` with several names takes no type", 4, 15, what="a type on a destructuring `let`"),
    Case("parse-grad-shape", "parse", "def g(x):\n    return x\ndef f(x):\n    let a, d = grad g(x) of x\n    return d\n",
         "FILE x=1", "expected `wrt` after the call in a grad, found 'of'", 4, 26, what="a `grad` without `wrt`"),
    Case("parse-source-too-long", "parse", "def f(x):\n    return x" + " + x" * 250_000 + "\n", "FILE x=1",
         "characters, more than adlang reads (1,000,000); split it into smaller files", 2, None,
         what="a program over 1,000,000 characters"),
    Case("parse-int-too-large", "parse", "def f(x):\n    let n = 99999999999999999999999\n    return x\n", "FILE x=1",
         "the int 99999999999999999999999 does not fit in 64 bits (at most 9223372036854775807); for a number this large write a float, as 9.999e22",
         2, 13, what="an int literal past 64 bits"),
    # ------------------------------------------------------------ type
    Case("type-undeclared-name", "type", "def f(x):\n    let total = x\n    return totl\n", "FILE x=1",
         "'totl' is not declared; did you mean 'total'?", 3, 12, what="a name never declared"),
    Case("type-undeclared-no-suggestion", "type", "def f(x):\n    return zz\n", "FILE x=1",
         "'zz' is not declared; declare it with let", 2, 12, what="a name never declared, nothing close"),
    Case("type-function-as-value", "type", "def g(x):\n    return x\ndef f(x):\n    return g\n", "FILE x=1",
         "'g' is a function; call it as g(...)", 4, 12, what="a function's name used as a value"),
    Case("type-unknown-function", "type", "def foo(x):\n    return x\ndef f(x):\n    return fo(x)\n", "FILE x=1",
         "unknown function 'fo'; did you mean 'foo'?", 4, 12, what="a call of a function that does not exist"),
    Case("type-print", "type", "def f(x):\n    print(x)\n    return x\n", "FILE x=1",
         "adlang has no print: run with --trace to see every value as it is bound (with its line), or step through "
         "the run in the REPL (`adlang repl FILE`, then `:step F x=...`)", 2, 5, what="`print(x)`, which adlang "
         "does not have"),
    Case("parse-vec-element-update", "parse", "def f(v: vec) -> float:\n    v[0] = 1.0\n    return sum(v)\n",
         "FILE v=[1,2]", "vecs and mats are immutable: there is no `v[i] = ...` (or `v[i, j] = ...`); make a new one "
         "instead, as `let w = addat(v, i, value - v[i])` (w is v with element i set to value; `addat(v, i, j, "
         "value - v[i, j])` sets an element of a mat), or build it whole with a literal or arithmetic",
         2, 6, what="`v[i] = e` or `A[i, j] = e`: an update of one element"),
    Case("parse-mat-one-size", "parse", "def f(A: mat(2)) -> float:\n    return sum(A)\n", "FILE A=[[1]]",
         "`mat` takes rows and columns, as in `mat(2, 3)`", 1, 14, what="`mat(N)`: a mat type with one size"),
    Case("type-redeclared", "type", "def f(x):\n    let y = x\n    let y = 2.0\n    return y\n", "FILE x=1",
         "'y' is already declared here; use `y = ...` to update it", 3, 9, what="`let` of a name already visible"),
    Case("type-operands", "type", "def f(x):\n    let v = [1.0, 2.0]\n    let b = true\n    return sum(v + b)\n",
         "FILE x=1", "'+' needs numbers, vecs or mats, got vec(2) and bool: 'v' is vec(2) (declared on line 2), "
         "'b' is bool (declared on line 3)", 4, 16, what="an operator on types it does not take"),
    Case("type-update", "type", "def f(x):\n    let n = 3\n    n = x\n    return x\n", "FILE x=1",
         "'n' is int (declared on line 2), but the new value is float: 'x' is float (a parameter of f, line 1)",
         3, 9, what="an update with a value of another type"),
    Case("type-let-annotation", "type", "def f(x):\n    let n: int = x * 2.0\n    return x\n", "FILE x=1",
         "'n' is declared int, but the value is float: `x * 2.0` is float", 2, 18,
         what="a `let` whose value does not fit its type"),
    Case("type-argument", "type", "def g(n: int):\n    return 1.0\ndef f(x):\n    return g(x)\n", "FILE x=1",
         "argument 'n' of g is int (def on line 1), but this is float: 'x' is float (a parameter of f, line 3)",
         4, 14, what="an argument of the wrong type"),
    Case("type-arity", "type", "def g(a, b):\n    return a\ndef f(x):\n    return g(x)\n", "FILE x=1",
         "g(a, b) takes 2 arguments, got 1 (def on line 1)", 4, 12, what="a call with too few or too many arguments"),
    Case("type-builtin-arity", "type", "def f(x):\n    return sin(x, x)\n", "FILE x=1",
         "sin() takes 1 argument, got 2", 2, 12, what="a builtin with the wrong number of arguments"),
    Case("type-builtin-operand", "type", "def f(x):\n    return sum(x)\n", "FILE x=1",
         "sum() takes a vec or a mat, got float: 'x' is float (a parameter of f, line 1)", 2, 12,
         what="a builtin given a type it does not take"),
    Case("type-return-type", "type", "def f(x) -> int:\n    return x * 2.0\n", "FILE x=1",
         "'f' is declared to return int (line 1), but this returns float: `x * 2.0` is float", 2, 5,
         what="a result that does not fit the declared type"),
    Case("type-condition", "type", "def f(x):\n    if x:\n        x = 1.0\n    return x\n", "FILE x=1",
         "an if condition must be a bool, got float: 'x' is float (a parameter of f, line 1)", 2, 8,
         what="a condition that is not a bool"),
    Case("type-range-bound", "type", "def f(x):\n    for i in 0..x:\n        x = 1.0\n    return x\n", "FILE x=1",
         "the end of a for range must be an int, got float", 2, 17, what="a float bound of a `for` range"),
    Case("type-index", "type", "def f(x, v: vec):\n    return v[x]\n", "FILE x=1 v=[1]",
         "a vec index must be an int, got float: 'x' is float (a parameter of f, line 1)", 2, 12,
         what="a float index"),
    Case("type-index-non-vec", "type", "def f(x):\n    return x[0]\n", "FILE x=1",
         "only a vec or a mat can be indexed, got float", 2, 12, what="indexing a number"),
    Case("type-matmul-shapes", "type", "def f(A: mat(2, 3), x: vec(2)) -> float:\n    return sum(A @ x)\n",
         "FILE A=[[1,2,3],[4,5,6]] x=[1,2]", "'@' of mat(2, 3) and vec(2): the inner lengths differ (3 and 2)", 2, 16,
         what="`@` of shapes that do not fit (known statically)"),
    Case("type-mat-and-vec", "type", "def f(A: mat, v: vec) -> float:\n    return sum(A + v)\n",
         "FILE A=[[1]] v=[1]", "'+' of a mat and a vec (mat and vec): elementwise operations take mats of one shape, "
         "or a mat and a number (use A[i] for a row, or A @ v for a product)", 2, 16,
         what="an elementwise operation of a mat and a vec (no broadcasting)"),
    Case("type-len-of-mat", "type", "def f(A: mat) -> float:\n    return float(len(A))\n", "FILE A=[[1]]",
         "len() takes a vec, got mat (a mat has rows(A) and cols(A))", 2, 18, what="`len` of a mat"),
    Case("type-mat-literal-rows", "type", "def f(x) -> float:\n    return sum([[x, x], [x]])\n", "FILE x=1",
         "the rows of a mat literal have different lengths (2, 1); give every row as many elements", 2, 16,
         what="a mat literal whose rows differ in length (known statically)"),
    Case("type-vec-lengths", "type", "def f(x):\n    return dot([x], [x, x])\n", "FILE x=1",
         "dot() of vecs of different lengths (vec(1) and vec(2)): `[x]` is vec(1), `[x, x]` is vec(2)", 2, 12, what="vecs of lengths that differ (known statically)"),
    Case("type-vec-literal-item", "type", "def f(x):\n    let v = [x, x > 1.0]\n    return x\n", "FILE x=1",
         "a vec literal holds numbers, got bool: `x > 1.0` is bool", 2, 13, what="a bool inside a vec literal"),
    Case("type-unknown-type", "type", "def f(x: flot):\n    return x\n", "FILE x=1",
         "unknown type 'flot'; did you mean 'float'? (the types are float, int, bool, vec, vec(N), mat and mat(R, C))", 1, 10,
         what="a type that does not exist"),
    Case("type-missing-return", "type", "def f(x):\n    let y = x\n", "FILE x=1",
         "function 'f' has no return; end it with `return ...`", 1, 1, what="a function with no `return`"),
    Case("type-return-not-last", "type", "def f(x):\n    return x\n    let y = x\n", "FILE x=1",
         "this statement comes after the return", 3, 5, what="a statement after `return`"),
    Case("type-return-in-block", "type", "def f(x):\n    if x > 0.0:\n        return x\n    return x\n", "FILE x=1",
         "`return` must be the last statement of the function, not inside a block", 3, 9,
         what="a `return` inside a block"),
    Case("type-recursion", "type", "def f(x):\n    return g(x)\ndef g(x):\n    return f(x)\n", "FILE x=1",
         "recursion: 'f' calls itself through this call", 4, 12, what="a function that calls itself"),
    Case("type-defined-twice", "type", "def f(x):\n    return x\ndef f(x):\n    return x\n", "FILE x=1",
         "function 'f' is defined twice; rename one of them", 3, 5, what="two functions of one name"),
    Case("type-builtin-name", "type", "def sin(x):\n    return x\n", "FILE x=1",
         "'sin' is a builtin function; give yours another name", 1, 5, what="a function named like a builtin"),
    Case("type-no-function", "type", "# nothing here\n", "FILE",
         "the program defines no function; start one with `def name(x):`", 1, 1, what="a file with no function"),
    Case("type-loop-variable-update", "type", "def f(x):\n    for i in 0..3:\n        i = 2\n    return x\n",
         "FILE x=1", "'i' is the loop variable; it cannot be updated inside its loop", 3, 9,
         what="an update of a `for` variable"),
    Case("type-unused-result", "type", "def f(x):\n    sin(x)\n    return x\n", "FILE x=1",
         "the result of sin(...) is not used; bind it with `let r = sin(...)`", 2, 5, what="a call as a statement"),
    Case("type-tuple-as-value", "type", "def g(x) -> (float, float):\n    return x, x\n"
         "def f(x):\n    let a = g(x)\n    return a\n", "FILE x=1 --fn f",
         "this call returns 2 values (float, float); destructure it: `let a, b = ...`", 4, 13,
         what="a tuple bound to one name"),
    Case("type-destructure-count", "type", "def g(x) -> (float, float):\n    return x, x\n"
         "def f(x):\n    let a, b, c = g(x)\n    return a\n", "FILE x=1 --fn f",
         "'g' returns 2 values (float, float), but 3 names are given", 4, 5,
         what="a destructuring `let` with the wrong number of names"),
    Case("type-destructure-non-tuple", "type", "def f(x):\n    let a, b = sin(x)\n    return a\n", "FILE x=1",
         "needs a call of a function that returns 2 values", 2, 16, what="destructuring what is not a tuple"),
    Case("type-nested-too-deeply", "type", "def f(x):\n    let y = " + "sin(" * 201 + "x" + ")" * 201 + "\n"
         "    return y\n", "FILE x=1", "expression nested too deeply (more than 200 levels); split it with let", 2,
         None, what="an expression nested more than 200 deep"),
    Case("type-blocks-too-deep", "type", "def f(x):\n" + "".join("    " * (i + 1) + "if x > 0.0:\n" for i in range(201))
         + "    " * 202 + "x = 1.0\n    return x\n", "FILE x=1",
         "blocks nested too deeply (more than 200 levels); move the inner blocks into a function", 202, None,
         what="blocks nested more than 200 deep"),
    Case("type-calls-too-deep", "type", "def f0(x):\n    return x\n" + "".join(
         f"def f{i}(x):\n    let y = f{i - 1}(x)\n    return y\n" for i in range(1, 102)), "FILE x=1",
         "calls nested too deeply: this call makes a chain of 101 functions, each calling the next (f100 -> f99 -> ...), "
         "more than 100; call some of them one after another", 301, 13, what="a chain of more than 100 functions each calling the next"),
    Case("type-grad-unknown-function", "type", "def f(x):\n    let v, d = grad gg(x) wrt x\n    return d\n",
         "FILE x=1", "grad needs a function of the program; unknown 'gg'", 2, 21,
         what="`grad` of a function that does not exist"),
    Case("type-grad-wrt", "type", "def g(a):\n    return a\ndef f(x):\n    let v, d = grad g(x) wrt b\n    return d\n",
         "FILE x=1", "'b' is not a parameter of g(a)", 4, 30, what="`grad ... wrt` naming something else"),
    Case("type-grad-count", "type", "def g(a):\n    return a\ndef f(x):\n    let d = grad g(x) wrt a\n    return d\n",
         "FILE x=1", "gives 2 values (the value, then one derivative per parameter), but 1 name is given", 4, 5,
         what="`grad` bound to the wrong number of names"),
    Case("type-pop-needs-type", "type", "def f(x):\n    push(x)\n    let y = pop()\n    return y\n", "FILE x=1",
         "`pop()` needs the type of what it restores: `let x: float = pop()`", 3, 5, what="`pop()` without a type"),
    Case("type-vec-literal-too-long", "type", "def f(x):\n    let v = [" + "1," * 100_000 + "1]\n    return x\n",
         "FILE x=1", "more than the limit of 100,000; load large data with x=@file.npy", 2, 13,
         what="a vec literal of more than 100,000 elements"),
    Case("type-twice-in-let", "type", "def g(x) -> (float, float):\n    return x, x\ndef f(x):\n    let a, a = g(x)\n    return a\n",
         "FILE x=1 --fn f", "'a' appears twice in this let", 4, 12, what="one name twice in a destructuring `let`"),
    Case("type-grad-twice", "type", "def g(a):\n    return a\ndef f(x):\n    let v, d, e = grad g(x) wrt a, a\n    return d\n",
         "FILE x=1", "'a' appears twice after wrt", 4, 36, what="a parameter named twice after `wrt`"),
    Case("type-grad-annotation", "type", "def g(a):\n    return a\ndef f(x):\n    let v: float = grad g(x) wrt a\n    return v\n",
         "FILE x=1", "grad", 4, None, what="a type on a `grad` let"),
    Case("type-grad-non-float", "type", "def g(a) -> bool:\n    return a > 0.0\ndef f(x):\n    let v, d = grad g(x) wrt a\n    return d\n",
         "FILE x=1", "grad takes the derivative of a float result, but g returns bool", 4, 21,
         what="`grad` of a function whose result is not a float"),
    Case("type-grad-int-parameter", "type", "def g(a, n: int) -> float:\n    return a\ndef f(x):\n    let v, d = grad g(x, 2) wrt n\n    return d\n",
         "FILE x=1", "'n' is int; derivatives are taken with respect to float, vec and mat parameters", 4, 33,
         what="`grad ... wrt` an int parameter"),
    Case("type-push-arity", "type", "def f(x):\n    push(x, 1, 2)\n    return x\n", "FILE x=1",
         "push() takes one value, and optionally a tape number: push(x), push(x, 1)", 2, 5, what="`push` with the wrong arguments"),
    Case("type-tape-number", "type", "def f(x):\n    push(x, x)\n    return x\n", "FILE x=1",
         "a tape is named by an int literal: push(x, 1), pop(1)", 2, 5, what="a tape named by something else than an int literal"),
    Case("type-pop-in-expression", "type", "def f(x):\n    push(x)\n    let y: float = pop() + 1.0\n    return y\n", "FILE x=1",
         "pop() works on the tape: `push(x)` as a statement, `let x: T = pop()` or `x = pop()`", 3, 20,
         what="`pop()` or `push()` inside an expression"),
    Case("type-push-tuple", "type", "def g(x) -> (float, float):\n    return x, x\ndef f(x):\n    push(g(x))\n    return x\n",
         "FILE x=1 --fn f", "destructure it", 4, 10, what="`push` of a tuple"),
    Case("type-and-operand", "type", "def f(x):\n    let b = x and true\n    return x\n", "FILE x=1",
         "the left side of 'and' must be a bool, got float: 'x' is float (a parameter of f, line 1)", 2, 13,
         what="`and`/`or`/`not` on something that is not a bool"),
    Case("type-while-condition", "type", "def f(x, n: int):\n    while n:\n        n = n - 1\n    return x\n", "FILE x=1 n=2",
         "a while condition must be a bool, got int: 'n' is int (a parameter of f, line 1)", 2, 11,
         what="a `while` condition that is not a bool"),
    Case("type-comparison", "type", "def f(x, v: vec):\n    let b = v < x\n    return x\n", "FILE x=1 v=[1]",
         "'<' compares two numbers, got vec and float: 'v' is vec (a parameter of f, line 1), 'x' is float", 2, 13,
         what="a comparison of things that are not numbers"),
    # ------------------------------------------------------------ runtime
    Case("runtime-max-tape", "runtime", "def f(x):\n    let s = x\n    for i in 0..10:\n        s = sin(s) * x\n"
         "    return s\n", "FILE x=1 --grad x --max-tape 5",
         "the tapes would hold more than 5 values", 4, 9, what="reverse mode saving more than --max-tape values"),
    Case("runtime-division-by-zero", "runtime", "def f(x):\n    let y = 1.0 / x\n    return y\n", "FILE x=0",
         "division by zero: 1.0 / 0.0; keep the divisor away from 0 (guard it with an `if`) or choose other arguments",
         2, 5, what="a division by zero"),
    Case("runtime-log", "runtime", "def f(x):\n    let y = log(x)\n    return y\n", "FILE x=-1",
         "log of -1.0: log needs a number > 0; guard the call with an `if` or choose other arguments", 2, 5,
         what="log of a number <= 0"),
    Case("runtime-sqrt", "runtime", "def f(x):\n    let y = sqrt(x)\n    return y\n", "FILE x=-1",
         "sqrt of -1.0: sqrt needs a number >= 0; guard the call with an `if` or choose other arguments", 2, 5,
         what="sqrt of a negative number"),
    Case("runtime-sqrt-derivative", "runtime", "def f(x):\n    let y = sqrt(x)\n    return y\n",
         "FILE x=0 --grad x", "the derivative of sqrt is undefined at 0.0 (sqrt'(x) = 1 / (2 sqrt(x)) needs x > 0); "
         "differentiate at a point where sqrt's argument is > 0", 2, 5,
         what="an undefined derivative (points at the original source)"),
    Case("runtime-negative-base", "runtime", "def f(x):\n    let y = x ^ 0.5\n    return y\n", "FILE x=-1",
         "a negative base (-1.0) to a power that is not a whole number (0.5) has no real value; keep the base >= 0 "
         "(guard it with an `if`) or use a whole-number power", 2, 5,
         what="a negative base to a fractional power"),
    Case("runtime-index", "runtime", "def f(v: vec):\n    let y = v[3]\n    return y\n", "FILE v=[1,2]",
         "index 3 is out of range for a vec of length 2; use an index from 0 to 1", 2, 5, what="an index out of range"),
    Case("runtime-vec-lengths", "runtime", "def f(u: vec, v: vec):\n    let w = u + v\n    return sum(w)\n",
         "FILE u=[1] v=[1,2]", "vecs of different lengths (1 and 2) in an elementwise addition; use vecs of the same "
         "length", 2, 5, what="vecs of different lengths"),
    Case("runtime-matmul-shapes", "runtime", "def f(A: mat, x: vec) -> float:\n    return sum(A @ x)\n",
         "FILE A=[[1,2,3],[4,5,6]] x=[1,2]", "'@' of a 2x3 mat and a vec of length 2: the inner lengths differ (3 and "
         "2); give operands whose inner lengths agree", 2, 16, what="`@` of shapes that do not fit (found as it runs)"),
    Case("runtime-mat-shapes", "runtime", "def f(A: mat, B: mat) -> float:\n    return sum(A + B)\n",
         "FILE A=[[1,0]] B=[[1],[2]]", "mats of different shapes (1x2 and 2x1) in an elementwise addition; use mats "
         "of the same shape", 2, 16, what="mats of different shapes"),
    Case("runtime-mat-row-index", "runtime", "def f(A: mat) -> float:\n    return sum(A[3])\n", "FILE A=[[1,2]]",
         "row index 3 is out of range for a 1x2 mat; use a row from 0 to 0", 2, 16,
         what="a row or column index out of range"),
    Case("runtime-mat-n-let", "runtime", "def f(A: mat) -> float:\n    let B: mat(2, 2) = A\n    return sum(B)\n",
         "FILE A=[[1,0]]", "'B' is a mat(2, 2) (2x2), but this mat is 1x2; give it a 2x2 mat, or declare it `mat` to "
         "take any shape", 2, 5, what="a mat of the wrong shape for a `mat(R, C)` variable"),
    Case("runtime-step-limit", "runtime", "def f(x):\n    while true:\n        x = x + 1.0\n    return x\n",
         "FILE x=1 --max-steps 100", "step limit of 100", 3, 9, what="more statements than --max-steps"),
    Case("runtime-int-overflow", "runtime", "def f(n: int) -> int:\n    let m = n * n\n    return m\n",
         "FILE n=9000000000000000000", "int overflow", 2, 5, what="an int past 64 bits"),
    Case("runtime-huge-vec", "runtime", "def f(x):\n    let v = zeros(1000000000000)\n    return sum(v)\n", "FILE x=1",
         "zeros(1000000000000): a vec of 1,000,000,000,000 elements is larger than the limit of 100,000,000; use "
         "fewer elements", 2, 5, what="zeros(n)/ones(n) past 10^8 elements"),
    Case("runtime-mean-empty", "runtime", "def f(v: vec):\n    let m = mean(v)\n    return m\n", "FILE v=[]",
         "mean of an empty vec is undefined; guard it with `if len(v) > 0` or give a vec that has elements", 2, 5,
         what="mean of an empty vec"),
    Case("runtime-vec-n-length", "runtime", "def g(v: vec(2)):\n    return sum(v)\n"
         "def f(v: vec):\n    return g(v)\n", "FILE v=[1,2,3] --fn f",
         "argument 'v' of g is a vec(2), but this vec has length 3; pass a vec of length 2, or declare the parameter "
         "`vec` to take any length", 4,
         None, what="a vec of the wrong length for a `vec(N)` parameter (inside the program)"),
    Case("runtime-nan", "runtime", "def f(x):\n    let y = x * 0.0\n    return y\n", "FILE x=inf",
         "inf * 0.0 is not a number (NaN); the inf is an argument or a value that overflowed earlier: rescale the "
         "inputs so the values stay finite", 2, 5, what="an operation whose result is NaN"),
    Case("runtime-zero-negative-power", "runtime", "def f(x):\n    let y = x ^ -1\n    return y\n", "FILE x=0",
         "0 to a negative power is a division by zero: 0.0 ^ -1; keep the base away from 0 (guard it with an `if`) "
         "or choose other arguments", 2, 5, what="0 to a negative power"),
    Case("runtime-dot-lengths", "runtime", "def f(u: vec, v: vec):\n    let d = dot(u, v)\n    return d\n",
         "FILE u=[1] v=[1,2]", "dot of vecs of different lengths (1 and 2); use vecs of the same length", 2, 5,
         what="`dot` of vecs of different lengths"),
    Case("runtime-negative-length", "runtime", "def f(n: int):\n    let v = zeros(n)\n    return sum(v)\n",
         "FILE n=-1", "zeros(-1): a vec cannot have a negative length; give a length >= 0", 2, 5,
         what="zeros(n)/ones(n) with n < 0"),
    Case("runtime-log-vec", "runtime", "def f(v: vec):\n    let w = log(v)\n    return sum(w)\n", "FILE v=[1,-1]",
         "log of a vec element (-1.0 at index 1): log needs numbers > 0; choose arguments that keep the elements > 0",
         2, 5, what="log or sqrt of a vec with an element out of the domain"),
    Case("runtime-division-by-zero-vec", "runtime", "def f(u: vec, v: vec):\n    let w = u / v\n    return sum(w)\n",
         "FILE u=[1,2] v=[1,0]", "division by zero: 2.0 / 0.0 at index 1; keep its elements away from 0 or choose "
         "other arguments", 2, 5, what="a vec divided by a vec with a 0 in it"),
    Case("runtime-infinite-power", "runtime", "def f(x, y):\n    let z = x ^ y\n    return z\n", "FILE x=-1 y=inf",
         "a negative base (-1.0) to an infinite power (inf) is undefined; keep the power finite (it is an argument or "
         "a value that overflowed earlier) or the base >= 0", 2, 5, what="a negative base to an infinite power"),
    Case("runtime-sin-of-inf", "runtime", "def f(x):\n    let y = sin(x)\n    return y\n", "FILE x=inf",
         "sin of inf is undefined; the inf is an argument or a value that overflowed earlier: rescale the inputs so "
         "the values stay finite", 2, 5, what="sin, cos or tan of inf"),
    Case("runtime-nan-vec", "runtime", "def f(u: vec, v: vec):\n    let w = u - v\n    return sum(w)\n",
         "FILE u=[1,inf] v=[1,inf]", "inf - inf at index 1 is not a number (NaN); the inf is an argument or a value "
         "that overflowed earlier: rescale the inputs so the values stay finite", 2, 5,
         what="an elementwise operation with a NaN element (names the first)"),
    Case("runtime-nan-addat", "runtime", "def f(v: vec, x):\n    let w = addat(v, 0, x)\n    return sum(w)\n",
         "FILE v=[inf,1] x=-inf", "inf + -inf at index 0 is not a number (NaN); the inf is an argument or a value "
         "that overflowed earlier: rescale the inputs so the values stay finite", 2, 5,
         what="`addat` (reverse mode's scatter-add) whose sum is NaN"),
    Case("runtime-nan-sum", "runtime", "def f(v: vec):\n    let s = sum(v)\n    return s\n", "FILE v=[inf,-inf]",
         "sum is not a number (NaN): its elements add up to inf - inf (an inf is an argument or a value that "
         "overflowed earlier); rescale the inputs so the values stay finite", 2, 5,
         what="`sum`, `mean` or `dot` whose result is NaN"),
    Case("runtime-vec-n-let", "runtime", "def f(v: vec):\n    let w: vec(2) = v\n    return sum(w)\n",
         "FILE v=[1,2,3]", "'w' is a vec(2), but this vec has length 3; give it a vec of length 2, or declare it `vec` "
         "to take any length", 2, 5, what="a vec of the wrong length for a `vec(N)` variable"),
    Case("runtime-vec-n-result", "runtime", "def f(v: vec) -> vec(2):\n    let w = v * 2.0\n    return w\n",
         "FILE v=[1,2,3]", "the result of 'f' is a vec(2), but this vec has length 3; return a vec of length 2, or "
         "declare the result `vec` to take any length", 3, 5, what="a vec of the wrong length for a `vec(N)` result"),
    Case("runtime-power-derivative", "runtime", "def f(x):\n    let y = x ^ 0.5\n    return y\n", "FILE x=0 --grad x",
         "the derivative of x ^ 0.5 with respect to x (0.5 * x ^ (0.5 - 1)) is undefined here: 0 to a negative power "
         "is a division by zero: 0.0 ^ -0.5; the operation has a value here but not this derivative; differentiate at "
         "other arguments", 2, 5,
         what="the derivative of `x ^ p` (0 < p < 1) at x = 0: it is p x^(p-1)"),
    Case("runtime-power-exponent-derivative", "runtime", "def f(x, b):\n    let y = x ^ b\n    return y\n",
         "FILE x=-2 b=2 --grad b", "the derivative of x ^ b with respect to b needs x > 0 (it is x ^ b * log(x)); "
         "here x = -2.0; differentiate where x > 0, or keep b out of the derivative (an int power `x ^ n` is "
         "differentiable at every x)", 2, 5,
         what="the derivative of `a ^ b` with respect to b where a <= 0: it is a^b log(a)"),
    Case("runtime-pow-exponent-derivative", "runtime", "def f(x, b):\n    let y = 1.0 + pow(x, b)\n    return y\n",
         "FILE x=0 b=2 --grad x,b --mode forward", "the derivative of pow(x, b) with respect to b needs x > 0 (it is "
         "pow(x, b) * log(x)); here x = 0.0; differentiate where x > 0, or keep b out of the derivative", 2, 19,
         what="the same, written `pow(a, b)`: the message writes it as the program does"),
    Case("runtime-power-exponent-derivative-vec", "runtime",
         "def f(u: vec, b):\n    let y = sum(u ^ b)\n    return y\n", "FILE u=[1,-2,3] b=2 --grad b",
         "the derivative of u ^ b with respect to b needs u > 0 (it is u ^ b * log(u)); here u = -2.0, index 1 of a "
         "vec; differentiate where u > 0", 2, 17, what="the same, elementwise on a vec: the element is named"),
    Case("runtime-derivative-nan", "runtime", "def f(x):\n    let y = min(exp(x), 1.0)\n    return y\n",
         "FILE x=1000 --grad x", "the derivative of exp(x) with respect to x: 0.0 * inf is not a number (NaN); the inf "
         "is an argument or a value that overflowed earlier: rescale the inputs so the values stay finite", 2, 17,
         what="a NaN inside a derivative rule (exp'(1000) = inf, times the 0 that min passes on)"),
    Case("runtime-derivative-sum-nan", "runtime",
         "def f(x, s, t):\n    let y = 10.0 * (x * s) + 10.0 * (x * t)\n    return y\n",
         "FILE x=0 s=1e308 t=-1e308 --grad x", "this line has a value here but no derivative: -inf + inf is not a "
         "number (NaN); the inf is an argument or a value that overflowed earlier", 2, 21,
         what="a NaN where reverse mode adds up a variable's adjoint, outside any one rule"),
    Case("runtime-dpowb", "runtime", "def f(a, y):\n    let d = dpowb(a, y)\n    return d\n", "FILE a=-1 y=1",
         "dpowb(a, y) = y * log(a), the derivative of a ^ b with respect to b (y = a ^ b), needs a > 0; here a = -1.0; "
         "differentiate where a > 0, or keep b out of the derivative", 2, 5,
         what="`dpowb`, the builtin that derivative programs use for it, outside its domain"),
    Case("runtime-revolve-advance", "runtime", "def f(n: int) -> int:\n    let k = revolve_advance(n, 1)\n    return k\n",
         "FILE n=1", "revolve_advance needs steps >= 2 and snapshots >= 1, got 1 and 1; guard the call with an `if`",
         2, 5, what="`revolve_advance` outside its domain"),
    Case("runtime-empty-tape", "runtime", "def f(x):\n    let y: float = pop()\n    return y\n", "FILE x=1",
         "pop() on an empty tape: every pop needs a push before it", 2, 5, what="`pop()` with nothing pushed"),
    Case("runtime-optimize-diverges", "runtime", "def f(x):\n    return exp(x * x)\n", "FILE x=3 --wrt x --lr 10",
         "", 1, None, command="optimize", what="`optimize` reaching an inf or NaN loss"),
    # ------------------------------------------------------------ usage
    Case("usage-no-command", "usage", F, "", "give a command: run, ir, diff, check, compare, graph, optimize, repl", command="",
         what="no command"),
    Case("usage-unknown-command", "usage", F, "", "unknown command 'rnu'; did you mean 'run'?", command="rnu",
         what="a command that does not exist"),
    Case("usage-nan-argument", "usage", F, "FILE x=nan",
         "argument 'x': nan is not a number; adlang computes with numbers only (inf and -inf included): give a number",
         what="a NaN argument (a number, or an element of a vec)"),
    Case("usage-no-file", "usage", F, "missing.ad x=1", "cannot read 'missing.ad': no such file",
         what="a program file that does not exist"),
    Case("usage-not-utf8", "usage", "def f(x):\n    return x  # café\n", "FILE x=1",
         "it is not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8", encoding="latin-1",
         what="a program file that is not UTF-8"),
    Case("usage-unknown-option", "usage", F, "FILE x=1 --grd x", "unrecognized arguments: --grd x",
         what="an option that does not exist"),
    Case("usage-unknown-fn", "usage", "def foo(x):\n    return x\ndef g(x):\n    return x\n", "FILE x=1 --fn fo",
         "unknown function 'fo'; did you mean 'foo'? (functions in", what="`--fn` naming no function"),
    Case("usage-missing-argument", "usage", "def f(x, rate):\n    return x * rate\n", "FILE x=1",
         "missing argument 'rate' for f(x, rate); give it as rate=VALUE", what="an argument not given"),
    Case("usage-unknown-argument", "usage", "def f(x, yy):\n    return x\n", "FILE x=1 y=2",
         "unknown argument 'y' for f(x, yy); did you mean 'yy'?", what="an argument the function does not take"),
    Case("usage-argument-twice", "usage", F, "FILE x=1 x=2", "argument 'x' is given twice",
         what="an argument given twice"),
    Case("usage-not-name-value", "usage", F, "FILE 3", "'3' is not an argument of the form NAME=VALUE",
         what="an argument word that is not NAME=VALUE"),
    Case("usage-bad-value", "usage", F, "FILE x=abc", "argument 'x': 'abc' is not",
         what="a value that is not a number, bool, vec or @FILE"),
    Case("usage-float-for-int", "usage", "def f(n: int):\n    return 1.0\n", "FILE n=1.5", "argument 'n'",
         what="a float for an int parameter"),
    Case("usage-int-too-large", "usage", "def f(n: int):\n    return 1.0\n", "FILE n=9223372036854775808",
         "argument 'n' of f(n) is an int, but 9223372036854775808 does not fit in 64 bits", what="an int argument past 64 bits"),
    Case("usage-vec-length", "usage", "def f(v: vec(2)):\n    return sum(v)\n", "FILE v=[1,2,3]",
         "argument 'v' is a vec(2), but [1,2,3] has 3 elements", what="a vec of the wrong length for vec(N)"),
    Case("usage-missing-data-file", "usage", "def f(v: vec):\n    return sum(v)\n", "FILE v=@nowhere.csv",
         "argument 'v': cannot read 'nowhere.csv': no such file", what="`@PATH` naming a file that does not exist"),
    Case("usage-data-file-kind", "usage", "def f(v: vec):\n    return sum(v)\n", "FILE v=@FILE",
         "only .npy and .csv files hold vecs", what="`@PATH` naming a file that is not .npy or .csv"),
    Case("usage-mat-value", "usage", "def f(A: mat) -> float:\n    return sum(A)\n", "FILE A=abc",
         "argument 'A': 'abc' is not a mat like [[1.0, 2.0], [3.0, 4.0]] or @FILE",
         what="a value that is not a mat for a mat parameter"),
    Case("usage-vec-for-mat", "usage", "def f(A: mat) -> float:\n    return sum(A)\n", "FILE A=[1,2]",
         "argument 'A' of f(A) is a mat, but [1,2] is a vec; write a mat as [[1.0, 2.0], [3.0, 4.0]] or @FILE",
         what="a vec for a mat parameter"),
    Case("usage-mat-shape", "usage", "def f(A: mat(2, 2)) -> float:\n    return sum(A)\n", "FILE A=[[1,0]]",
         "argument 'A' is a mat(2, 2), but [[1,0]] is a 1x2 mat", what="a mat of the wrong shape for mat(R, C)"),
    Case("usage-mat-ragged", "usage", "def f(A: mat) -> float:\n    return sum(A)\n", "FILE A=[[1,2],[3]]",
         "argument 'A': the rows of the mat have different lengths (2, 1); give every row as many numbers",
         what="a mat literal whose rows differ in length"),
    Case("usage-mat-data-file", "usage", "def f(A: mat) -> float:\n    return sum(A)\n", "FILE A=@DATA",
         "argument 'A': 'data.csv' line 3: 'oops' is not a number", what="a CSV for a mat with a cell that is no number"),
    Case("usage-grad-unknown", "usage", "def f(x, yy):\n    return x\n", "FILE x=1 yy=2 --grad yyy",
         "--grad names 'yyy', which is not a parameter of f(x, yy); did you mean 'yy'?",
         what="`--grad` naming no parameter"),
    Case("usage-grad-int", "usage", "def f(x, n: int):\n    return x\n", "FILE x=1 n=2 --grad n",
         "--grad names 'n', a parameter of type int; derivatives are taken with respect to float, vec and mat",
         what="`--grad` naming an int or bool parameter"),
    Case("usage-grad-non-float-result", "usage", "def f(x) -> bool:\n    return x > 0.0\n", "FILE x=1 --grad x",
         "--grad needs a function whose result is a float, but f returns bool",
         what="`--grad` on a function whose result is not a float"),
    Case("usage-grad-twice", "usage", F, "FILE x=1 --grad x,x", "--grad names 'x' twice",
         what="a parameter named twice"),
    Case("usage-mode-without-grad", "usage", F, "FILE x=1 --mode forward",
         "--mode needs --grad (the parameters to differentiate by)", what="`--mode` or `--order` without `--grad`"),
    Case("usage-unknown-mode", "usage", F, "FILE x=1 --grad x --mode forwrd",
         "unknown --mode 'forwrd'; did you mean 'forward'? (modes: forward, reverse)", what="a mode that does not exist"),
    Case("usage-second-order-mode", "usage", F, "FILE x=1 --grad x --mode forward-over-reverse",
         "--mode forward-over-reverse is for second derivatives; add --order 2",
         what="an `A-over-B` mode without `--order 2`"),
    Case("usage-order", "usage", F, "FILE x=1 --grad x --order 3", "--order must be 1 or 2, not '3'",
         what="an order other than 1 or 2"),
    Case("usage-order-2-vec", "usage", "def f(v: vec):\n    return sum(v)\n", "FILE --wrt v --order 2",
         "a derivative program of order 2 takes float parameters only (it returns the Hessian as one float per pair "
         "of parameters); `adlang run ... --grad V --order 2` gives a vec's Hessian, one Hessian-vector product per "
         "element, and `diff --hvp` prints the Hessian-vector product program",
         command="diff",
         what="`diff --order 2` with respect to a vec"),
    Case("usage-order-2-mat", "usage", "def f(A: mat, x: vec) -> float:\n    return sum((A @ x) ^ 2)\n",
         "FILE A=[[1,2]] x=[1,2] --grad x,A --order 2",
         "second derivatives with respect to a mat parameter ('A') are not supported; take its gradient without "
         "--order 2, or the Hessian with respect to float and vec parameters",
         what="`--order 2` with respect to a mat (`run`, `diff`, the API)"),
    Case("usage-order-2-long-vec", "usage", "def f(v: vec):\n    return sum(v)\n",
         "FILE v=[" + ",".join(["1"] * 5001) + "] --grad v --order 2",
         "--order 2 over 5,001 parameter elements would hold a Hessian of 25,010,001 numbers, more than the limit of "
         "25,000,000; use shorter vecs or fewer --grad parameters (`--hvp` gives a Hessian-vector product without the "
         "matrix)",
         what="`run --order 2` whose Hessian would have more than 25 million entries"),
    Case("usage-hvp-length", "usage", "def f(v: vec):\n    return sum(v * v)\n", "FILE v=[1,2,3] --hvp v=[1,0]",
         "--hvp v: the direction has 2 elements but the argument 'v' has 3; give it as many",
         what="`--hvp` with a direction of another length than the vec"),
    Case("usage-hvp-kind", "usage", F, "FILE x=1 --hvp x=[1,0]",
         "--hvp x: 'x' is a float parameter, so its part of the direction is a number, not [1., 0.]",
         what="`--hvp` giving a vec for a float parameter (or a number for a vec)"),
    Case("usage-hvp-not-in-grad", "usage", "def f(x, y):\n    return x * y\n", "FILE x=1 y=2 --grad x --hvp y=1",
         "--hvp gives a direction for 'y', which is not among the parameters the Hessian is taken by (--grad: x); "
         "add it there or leave it out", what="`--hvp` for a parameter that `--grad` leaves out"),
    Case("usage-hvp-twice", "usage", F, "FILE x=1 --hvp x=1 --hvp x=2", "--hvp gives the direction for 'x' twice",
         what="`--hvp` for one parameter twice"),
    Case("usage-hvp-jacobian", "usage", F, "FILE x=1 --hvp x=1 --jacobian x",
         "--hvp and --jacobian are separate runs: give one of them", what="`--hvp` with `--jacobian`"),
    Case("usage-check-jacobian-wrt", "usage", F, "FILE x=1 --jacobian x --wrt x",
         "check --jacobian takes the parameters itself: leave out --wrt and --order", command="check",
         what="`check --jacobian` with `--wrt` or `--order`"),
    Case("usage-check-order-sweep", "usage", F, "FILE x=1 --wrt x --order 2 --sweep",
         "--sweep is for first derivatives: leave out --jacobian and --order", command="check",
         what="`check --sweep` with `--order 2` or `--jacobian`"),
    Case("usage-diff-hvp-order", "usage", F, "FILE --wrt x --hvp --order 2",
         "diff --hvp prints the Hessian-vector product program, second order by itself; leave out --order",
         command="diff", what="`diff --hvp` with `--order`"),
    Case("usage-max-steps", "usage", F, "FILE x=1 --max-steps many",
         "--max-steps needs a whole number of statements, not 'many'", what="a `--max-steps` that is not a number"),
    Case("usage-engine", "usage", F, "FILE x=1 --engine fast", "unknown --engine 'fast' (engines: interp, compiled, native, auto)",
         what="an engine that does not exist"),
    Case("usage-checkpoint", "usage", F, "FILE x=1 --grad x --checkpoint often",
         "unknown --checkpoint 'often'; choose none, sqrt, every:K (K a whole number >= 1) or revolve:S",
         what="a checkpoint strategy that does not exist"),
    Case("usage-max-tape", "usage", F, "FILE x=1 --grad x --max-tape lots", "--max-tape needs a whole number of values",
         what="a tape limit that is not a whole number"),
    Case("usage-missing-arguments", "usage", "def f(x, y, z):\n    return x\n", "FILE x=1",
         "missing arguments 'y', 'z' for f(x, y, z); give them as y=VALUE z=VALUE", what="several arguments not given"),
    Case("usage-bad-vec-literal", "usage", "def f(v: vec):\n    return sum(v)\n", "FILE v=[1,2",
         "argument 'v': '[1,2' is not a vec literal like [1.0, 2.5]", what="a vec literal that does not close"),
    Case("usage-bad-vec-element", "usage", "def f(v: vec):\n    return sum(v)\n", "FILE v=[1,a]",
         "argument 'v': element 2 of the vec 'a' is not a number", what="a vec element that is not a number"),
    Case("usage-at-nothing", "usage", "def f(v: vec):\n    return sum(v)\n", "FILE v=@",
         "argument 'v': '@' must be followed by a file name, as @data.csv", what="`@` with no file name"),
    Case("usage-csv-columns", "usage", "def f(v: vec):\n    return sum(v)\n", "FILE v=@DATA",
         "'data.csv' has 2 columns; name one with @data.csv:COLUMN", what="a CSV of several columns without :COLUMN"),
    Case("usage-csv-column", "usage", "def f(v: vec):\n    return sum(v)\n", "FILE v=@DATA:z",
         "'data.csv' has no column 'z' (its columns: x, y)", what="a CSV column that does not exist"),
    Case("usage-csv-cell", "usage", "def f(v: vec):\n    return sum(v)\n", "FILE v=@DATA:y",
         "'data.csv' line 3: 'oops' is not a number", what="a CSV cell that is not a number (names the line)"),
    Case("usage-wrt-unknown", "usage", "def f(x, yy):\n    return x\n", "FILE --wrt y", "--wrt names 'y', which is not a parameter of f(x, yy); did you mean 'yy'?",
         command="diff", what="`--wrt` naming no parameter"),
    Case("usage-checkpoint-revolve", "usage", F, "FILE x=1 --grad x --checkpoint revolve:0",
         "unknown --checkpoint 'revolve:0'", what="binomial checkpointing with no snapshot"),
    Case("usage-optimize-steps", "usage", F, "FILE x=1 --wrt x --steps 0", "--steps needs a positive whole number of steps, not '0'",
         command="optimize", what="a step count that is not a positive whole number"),
    Case("usage-optimize-tol", "usage", F, "FILE x=1 --wrt x --tol -1", "--tol needs a number >= 0",
         command="optimize", what="a tolerance below 0"),
    Case("usage-optimize-mode", "usage", F, "FILE x=1 --wrt x --mode forward-over-reverse", "unknown --mode 'forward-over-reverse'",
         command="optimize", what="a second-order mode for `optimize`"),
    Case("usage-optimize-newton-lr", "usage", F, "FILE x=1 --wrt x --method newton --lr 0.1",
         "--lr is not used by --method newton", command="optimize", what="a learning rate for Newton's method"),
    Case("usage-optimize-result", "usage", "def f(x) -> bool:\n    return x > 0.0\n", "FILE x=1 --wrt x",
         "needs a function whose result is a float, but f returns bool", command="optimize",
         what="`optimize` of a function whose result is not a float"),
    Case("usage-diff-needs-wrt", "usage", F, "FILE", "the following arguments are required: --wrt", command="diff",
         what="`diff` or `check` without `--wrt`"),
    Case("usage-optimize-method", "usage", F, "FILE x=1 --wrt x --method newtn",
         "unknown --method 'newtn'; did you mean 'newton'?", command="optimize", what="an optimizer that does not exist"),
    Case("usage-plot-without-sweep", "usage", F, "FILE x=1 --wrt x --plot out.png",
         "--plot draws the sweep: use it with --sweep", command="check", what="`check --plot` without `--sweep`"),
    Case("usage-plot-suffix", "usage", F, "FILE x=1 --wrt x --sweep --plot out.xyz",
         "--plot writes an image: 'out.xyz' does not end in a suffix matplotlib writes (.png, .svg, .pdf, ...)",
         command="check", what="`--plot` naming a file that is not an image matplotlib writes"),
    Case("usage-plot-unwritable", "usage", F, "FILE x=1 --wrt x --sweep --plot nowhere/out.png",
         "cannot write the plot to nowhere/out.png", command="check",
         what="`--plot` naming a file in a folder that does not exist"),
    Case("usage-compare-needs-wrt", "usage", F, "FILE x=1", "the following arguments are required: --wrt",
         command="compare", what="`compare` without `--wrt`"),
    Case("usage-compare-wrt-int", "usage", "def f(x, n: int):\n    return x\n", "FILE x=1 n=2 --wrt n",
         "--wrt names 'n', a parameter of type int", command="compare", what="`compare` by an int parameter"),
    Case("usage-graph-mode-without-wrt", "usage", F, "FILE --mode forward",
         "--mode needs --wrt: the parameters whose tangents or adjoints to draw", command="graph",
         what="`graph --mode` without `--wrt`"),
    Case("usage-graph-mode", "usage", F, "FILE --wrt x --mode forward-over-reverse",
         "a graph draws --mode forward or reverse, not 'forward-over-reverse'", command="graph",
         what="`graph` with a second-order mode"),
    Case("usage-graph-format", "usage", F, "FILE --format jpg", "--format is dot, svg or png, not 'jpg'",
         command="graph", what="`graph --format` naming a format it does not write"),
    Case("usage-graph-forward-vec", "usage", "def f(v: vec) -> float:\n    return sum(v)\n",
         "FILE --wrt v --mode forward", "a forward-mode graph takes float parameters in --wrt, and 'v' is a vec",
         command="graph", what="a forward-mode graph by a vec"),
    Case("usage-graph-unwritable", "usage", F, "FILE -o nowhere/g.dot",
         "cannot write 'nowhere/g.dot': No such file or directory", command="graph",
         what="`graph -o` naming a file in a folder that does not exist"),
    Case("runtime-graph-run", "runtime", "def f(x):\n    return log(x)\n", "FILE x=-1", "log of -1.0", 2, 12,
         command="graph", what="`graph` with arguments where the function fails"),
    Case("runtime-sweep-at-x", "runtime", "def f(x):\n    return sqrt(x)\n", "FILE x=-1 --wrt x --sweep",
         "sqrt of -1.0", 2, 12, command="check", what="`check --sweep` where f itself fails at the arguments"),
    Case("usage-optimize-lr", "usage", F, "FILE x=1 --wrt x --lr -1", "--lr needs a positive number",
         command="optimize", what="a learning rate that is not positive"),
]


# ---------------------------------------------------------------- running one case


DATA_CSV = "x,y\n1,2\n3,oops\n"  # `@DATA` in a case's arguments: this file, beside the program


def _argv(case: Case, path: Path) -> list[str]:
    """The command line, FILE the program's path and DATA the CSV's (which is written here)."""
    data = path.with_name("data.csv")
    data.write_text(DATA_CSV, encoding="utf-8")
    words = [w.replace("FILE", str(path)) if w.startswith(("FILE", "v=@FILE")) else w for w in case.argv.split()]
    words = [w.replace("@DATA", "@data.csv") for w in words]  # the commands run in the program's folder
    return ([case.command] if case.command else []) + words


@contextlib.contextmanager
def _in(folder: Path):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _run(case: Case, tmp_path: Path, capsys, json_mode: bool) -> tuple[int, str, str]:
    path = tmp_path / "prog.ad"
    path.write_text(case.program, encoding=case.encoding)
    argv = _argv(case, path) + (["--json"] if json_mode else [])
    with _in(tmp_path):
        code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_error_message(case: Case, tmp_path, capsys):
    code, out, err = _run(case, tmp_path, capsys, json_mode=False)
    assert "Traceback" not in out + err
    assert code == EXIT[case.kind], f"exit {code}: {err}"
    lines = err.rstrip("\n").split("\n")
    if case.kind == "usage":
        assert lines[0].startswith("adlang: usage error: "), err
        message = lines[0][len("adlang: usage error: "):]
        assert len(lines) == 1, err
    else:
        head = ERROR_LINE.match(lines[0])
        assert head, f"not FILE:LINE:COL: KIND error: MESSAGE: {lines[0]!r}"
        assert head["file"] == str(tmp_path / "prog.ad") and head["kind"] == case.kind, lines[0]
        line, col, message = int(head["line"]), int(head["col"]), head["msg"]
        assert line == case.line, f"line {line}, wanted {case.line}: {message}"
        if case.col is not None:
            assert col == case.col, f"column {col}, wanted {case.col}: {message}"
        # the source line as it is in the file (a long one cut to a window around the column, see
        # report.excerpt), then a caret under the column
        assert len(lines) == 3, err
        source = case.program.split("\n")[line - 1]
        caret = lines[2]
        if len(source) <= SHOWN_CHARS:
            assert lines[1] == source
            assert caret.lstrip(" ").startswith("^") and len(caret) - len(caret.lstrip(" ")) == col - 1, err
        else:
            assert len(lines[1]) <= SHOWN_CHARS + 8 and lines[1].strip(". ") in source
            assert caret.lstrip(" ").startswith("^")
    assert case.fragment in message, f"{case.fragment!r} not in {message!r}"

    code, out, err = _run(case, tmp_path, capsys, json_mode=True)
    assert code == EXIT[case.kind] and err == "", err
    obj = json.loads(out)
    assert list(obj) == ["error"]
    error = obj["error"]
    assert error["kind"] == case.kind and error["message"] == message
    if case.kind == "usage":
        assert error["line"] is None and error["column"] is None
    else:
        assert (error["line"], error["column"]) == (line, col)


def test_every_case_has_its_own_id_and_says_what_the_user_did():
    ids = [c.id for c in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert all(c.what and c.id.startswith(c.kind + "-") for c in CATALOGUE)


# ---------------------------------------------------------------- the same errors in the REPL


# The runtime errors of commands that take an engine, run natively: the native engine stops at the fault and runs
# again in the interpreter, which words it (interp/native.py), so the output is the interpreter's to the byte.
NATIVE_CASES = [c for c in CATALOGUE if c.kind == "runtime" and c.command in ("run", "optimize")
                and "--engine" not in c.argv]


@pytest.mark.parametrize("case", NATIVE_CASES, ids=[c.id for c in NATIVE_CASES])
def test_runtime_error_in_the_native_engine(case: Case, tmp_path, capsys):
    pytest.importorskip("numba")
    for json_mode in (False, True):
        expected = _run(case, tmp_path, capsys, json_mode)
        native = Case(**{**case.__dict__, "argv": case.argv + " --engine native"})
        assert _run(native, tmp_path, capsys, json_mode) == expected


# In the REPL a second `def f` replaces the first, and an entry that is not a `def` is an expression.
REPL_CASES = [c for c in CATALOGUE if c.kind in ("parse", "type") and c.command == "run" and len(c.program) < 2000
              and c.program.startswith("def") and c.id != "type-defined-twice"]


@pytest.mark.parametrize("case", REPL_CASES, ids=[c.id for c in REPL_CASES])
def test_error_message_in_the_repl(case: Case, capsys):
    """A definition typed into the REPL gives the CLI's message at the same line and column of what was typed."""
    repl = Repl(interactive=False)
    repl.execute(case.program)
    out, err = capsys.readouterr()
    shown = out + err
    head = next((ERROR_LINE.match(line) for line in shown.split("\n") if ERROR_LINE.match(line)), None)
    assert head is not None, shown
    assert head["file"] == "<input>" and head["kind"] == case.kind
    assert int(head["line"]) == case.line and case.fragment in head["msg"], shown
    if case.col is not None:
        assert int(head["col"]) == case.col, shown


def test_repl_entry_errors_point_into_the_line_typed(capsys):
    repl = Repl(interactive=False)
    repl.execute("let a = 2.0")
    repl.execute("let b = a + sinn(a)")
    out, err = capsys.readouterr()
    shown = (out + err).split("\n")
    i = next(i for i, line in enumerate(shown) if "type error" in line)
    assert shown[i].startswith("<input>:1:13: type error: unknown function 'sinn'; did you mean 'sin'?")
    assert shown[i + 1] == "let b = a + sinn(a)"
    assert shown[i + 2] == " " * 12 + "^" * 7
    repl.execute("let c = a + true")
    out, err = capsys.readouterr()
    assert "'a' is float (a session variable)" in out + err


# ---------------------------------------------------------------- docs/errors.md


def render_docs() -> str:
    """The table of docs/errors.md, from CATALOGUE and the messages the program gives today."""
    rows = []
    for case in CATALOGUE:
        message = _message_of(case)
        where = "no place" if case.kind == "usage" else ("the line" if case.col is None else "LINE:COL")
        rows.append(f"| {case.kind} | {_cell(case.what)} | {_cell(message)} | {EXIT[case.kind]} | {where} | "
                    f"`test_error_message[{case.id}]` |")
    header = [
        "# Errors",
        "",
        "<!-- Made by tests/test_error_catalogue.py: `pytest tests/test_error_catalogue.py --update-golden`"
        " rewrites it. -->",
        "",
        "Every error a user can cause, one row each: what the user did, the message adlang gives for the",
        "example in the test (names and numbers vary), the exit code, and the test that checks it through",
        "the command line, as text and as JSON. Errors read `FILE:LINE:COL: KIND error: MESSAGE`, then the",
        "source line and a caret under the column (`adlang: usage error: MESSAGE` for usage errors, which",
        "have no place); with `--json`, `{\"error\": {\"kind\", \"message\", \"line\", \"column\"}}` on",
        "stdout. In the REPL a definition or entry that has an error shows the same text, placed in what was",
        "typed (`<input>:LINE:COL`); `test_error_message_in_the_repl` checks the parse and type errors there.",
        "Exit code 3 is reserved for a bug in adlang itself (`ADLANG_DEBUG=1` shows where).",
        "",
        "| kind | what the user did | message | exit | place | test |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(header + rows) + "\n"


def _cell(message: str) -> str:
    return message.replace("|", "\\|")


def _message_of(case: Case) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prog.ad"
        path.write_text(case.program, encoding=case.encoding)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()), _in(Path(tmp)):
            cli.main(_argv(case, path) + ["--json"])
        return json.loads(out.getvalue())["error"]["message"].replace(tmp + "/", "")


def test_docs_table_is_up_to_date(request):
    text = render_docs()
    if request.config.getoption("--update-golden"):
        DOCS.parent.mkdir(exist_ok=True)
        DOCS.write_text(text, encoding="utf-8")
        return
    assert DOCS.exists(), "docs/errors.md is missing: pytest tests/test_error_catalogue.py --update-golden"
    assert DOCS.read_text(encoding="utf-8") == text, (
        "docs/errors.md is out of date: pytest tests/test_error_catalogue.py --update-golden, then read the diff")


def test_readme_links_the_table():
    assert "docs/errors.md" in (ROOT / "README.md").read_text(encoding="utf-8")



def test_repl_usage_errors_list_the_choices(capsys):
    repl = Repl(interactive=False)
    repl.execute("def f(x):\n    return x * x\n")
    for entry in (":dif f wrt x", ":diff f wrt x forwrd", ":run g x=1", ":run f x=1 --grad y", ":diff f wrt x --mode rev"):
        repl.execute(entry)
    out, err = capsys.readouterr()
    lines = [line for line in (out + err).split("\n") if line.startswith("adlang: usage error: ")]
    assert lines == [
        "adlang: usage error: unknown command ':dif'; did you mean ':diff'? (:help lists them)",
        "adlang: usage error: :diff does not take 'forwrd'; did you mean 'forward'? (it takes wrt P1,P2, a mode, "
        "order 2, checkpoint S and raw; see :help)",
        "adlang: usage error: unknown function 'g' (functions in <session>: f)",
        "adlang: usage error: --grad names 'y', which is not a parameter of f(x)",
        "adlang: usage error: unknown --mode 'rev'; did you mean 'reverse'? (modes: forward, reverse)",
    ]
