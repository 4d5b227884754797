"""The compiled engine (`--engine compiled`) against the interpreter: same values bit for bit, steps, errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from helpers import PROGRAM_PATHS, ROOT, compile_text, load_example, src
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import generated, points

from adlang.derivatives import compute
from adlang.interp.compiled import compile_program, run_compiled
from adlang.interp.engines import ENGINES
from adlang.interp.interpreter import run_function
from adlang.ir.derive import derivative_program, finish
from adlang.ir.primitives import lookup
from adlang.lang.errors import DomainError, RuntimeFault, UsageError
from adlang.pipeline import compile_source


def same(a, b) -> bool:
    """Equal bit for bit: floats by value and sign of zero, vecs elementwise, tuples item by item."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
            and np.array_equal(np.signbit(a), np.signbit(b))
        )
    return type(a) is type(b) and a == b and np.signbit(a) == np.signbit(b)


def copied(args: dict) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()}


def assert_same_run(program, fn: str, args: dict, max_steps: int = 100_000_000) -> None:
    program = finish(program)
    expected = run_function(program, fn, copied(args), max_steps=max_steps)
    got = run_compiled(program, fn, copied(args), max_steps=max_steps)
    assert same(got.value, expected.value), (got.value, expected.value)
    assert got.steps == expected.steps
    assert got.tape_peak == expected.tape_peak
    assert got.trace is None


def both_errors(program, fn: str, args: dict, max_steps: int = 100_000_000) -> tuple[RuntimeFault, RuntimeFault]:
    program = finish(program)
    with pytest.raises(RuntimeFault) as interp:
        run_function(program, fn, copied(args), max_steps=max_steps)
    with pytest.raises(RuntimeFault) as compiled:
        run_compiled(program, fn, copied(args), max_steps=max_steps)
    a, b = interp.value, compiled.value
    assert b.message == a.message
    assert b.span == a.span and (b.span is None or (b.span.line, b.span.col) == (a.span.line, a.span.col))
    return a, b


# ---------------------------------------------------------------- every example and its derivative programs

MODES = ["forward", "reverse"]


@pytest.mark.parametrize("path", PROGRAM_PATHS, ids=lambda p: p.stem)
def test_examples_match_the_interpreter(path):
    ex = load_example(path)
    assert_same_run(ex.finished, ex.fn, ex.args)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", PROGRAM_PATHS, ids=lambda p: p.stem)
def test_derivative_programs_of_examples_match_the_interpreter(path, mode):
    ex = load_example(path)
    if not ex.wrt:
        pytest.skip("no parameters to differentiate")
    derived, entry = derivative_program(ex.program, ex.fn, ex.wrt, mode)
    assert_same_run(derived, entry, ex.args)


@pytest.mark.parametrize("path", PROGRAM_PATHS, ids=lambda p: p.stem)
def test_second_order_of_examples_matches_the_interpreter(path):
    ex = load_example(path)
    fn = ex.program.function(ex.fn)
    wrt = [w for w in ex.wrt if fn is not None and any(p.name == w and p.type.kind == "float" for p in fn.params)]
    if not wrt or len(wrt) != len(ex.wrt):
        pytest.skip("order 2 takes float parameters only")
    derived, entry = derivative_program(ex.program, ex.fn, wrt, "reverse-over-reverse", order=2)
    assert_same_run(derived, entry, ex.args)


def test_compute_threads_the_engine():
    ex = load_example(ROOT / "programs" / "lecture" / "foo.ad")
    a = compute(ex.program, ex.fn, ex.args, wrt=ex.wrt)
    b = compute(ex.program, ex.fn, ex.args, wrt=ex.wrt, engine="compiled")
    assert same(b.value, a.value) and b.steps == a.steps and b.tape_peak == a.tape_peak
    assert all(same(b.grad[w], a.grad[w]) for w in ex.wrt)


# ---------------------------------------------------------------- random programs

RANDOM = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])


@RANDOM
@given(generated(), st.data())
def test_random_programs_match_the_interpreter(gen, data):
    program = compile_source(gen.source, "<generated>")
    args = data.draw(points(gen.arg_names), label="args")
    assert_same_run(program, gen.fn, args, max_steps=1_000_000)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(generated(smooth=True), st.data(), st.sampled_from(MODES))
def test_derivatives_of_random_programs_match_the_interpreter(gen, data, mode):
    program = compile_source(gen.source, "<generated>")
    args = data.draw(points(gen.arg_names), label="args")
    fn = program.function(gen.fn)
    wrt = [p.name for p in fn.params if p.type.kind in ("float", "vec")]
    derived, entry = derivative_program(program, gen.fn, wrt, mode)
    assert_same_run(derived, entry, args, max_steps=1_000_000)


@RANDOM
@given(generated(), st.data(), st.integers(1, 200))
def test_step_limit_anywhere_in_random_programs(gen, data, limit):
    """Whatever statement crosses the limit, both engines name it (or both finish with the same count)."""
    program = compile_source(gen.source, "<generated>")
    args = data.draw(points(gen.arg_names), label="args")
    full = run_function(finish(program), gen.fn, copied(args)).steps
    if limit >= full:
        assert_same_run(program, gen.fn, args, max_steps=limit)
    else:
        both_errors(program, gen.fn, args, max_steps=limit)


# ---------------------------------------------------------------- runtime errors

LOOP = src("""
    def f(x, n: int) -> float:
        let r = 0.0
        for i in 0..n:
            let d = 2.0 - i
            r = r + x / d
        return r
""")


@pytest.mark.parametrize(
    "text, args, line, fragment",
    [
        (LOOP, dict(x=1.0, n=5), 5, "division by zero"),
        ("def f(x) -> float:\n    let y = x - 3.0\n    return sqrt(y)\n", dict(x=1.0), 3, "sqrt"),
        ("def f(x) -> float:\n    let y = log(x)\n    return y\n", dict(x=-1.0), 2, "log"),
        ("def f(v: vec, i: int) -> float:\n    let a = 1.0\n    return v[i] * a\n", dict(v=np.ones(3), i=3), 3,
         "out of range"),
        ("def f(x) -> float:\n    let y: float = pop()\n    return x + y\n", dict(x=1.0), 2, "empty tape"),
        ("def f(x) -> float:\n    let y = x * 1e308\n    let z = y * 10.0\n    let w = z - z\n    return w\n",
         dict(x=1.0), 4, "NaN"),
        ("def f(x) -> float:\n    let y = x * 1e308\n    let z = y * 10.0\n    return z * 0.0\n", dict(x=1.0), 4,
         "NaN"),
        # -(-2^63) and abs(-2^63) are past 64 bits, like any other int result
        ("def f(n: int) -> int:\n    let m = n - 1\n    let k = -m\n    return k\n", dict(n=-(2**63) + 1), 3,
         "int overflow"),
        ("def f(n: int) -> int:\n    let m = n - 1\n    let k = abs(m)\n    return k\n", dict(n=-(2**63) + 1), 3,
         "int overflow"),
        # The target is an operand: the message names the operand as it was, not the NaN that replaced it.
        ("def f(x, y) -> float:\n    let s = x\n    s = s + y\n    return s\n", dict(x=math.inf, y=-math.inf), 3,
         "inf + -inf"),
        ("def f(x, y) -> float:\n    let s = x\n    s = y * s\n    return s\n", dict(x=math.inf, y=0.0), 3,
         "0.0 * inf"),
        ("def f(v: vec(3)) -> float:\n    return sum(v)\n", dict(v=np.ones(2)), 1,
         "argument 'v' is a vec(3), but this vec has length 2; pass a vec of length 3, or declare the parameter `vec` "
         "to take any length"),
        ("def g(v: vec(3)) -> float:\n    return sum(v)\n\ndef f(v: vec) -> float:\n    let a = 1.0\n"
         "    let s = g(v)\n    return s\n", dict(v=np.ones(2)), 6,
         "argument 'v' of g is a vec(3), but this vec has length 2; pass a vec of length 3, or declare the parameter "
         "`vec` to take any length"),
        ("def f(v: vec) -> vec(2):\n    let w = v\n    return w\n", dict(v=np.ones(3)), 3,
         "the result of 'f' is a vec(2), but this vec has length 3; return a vec of length 2, or declare the result "
         "`vec` to take any length"),
        ("def f(v: vec) -> float:\n    let w: vec(2) = v\n    return sum(w)\n", dict(v=np.ones(3)), 2,
         "'w' is a vec(2), but this vec has length 3; give it a vec of length 2, or declare it `vec` to take any "
         "length"),
        ("def f(v: vec) -> float:\n    let w: vec(2) = [1.0, 2.0]\n    w = v\n    return sum(w)\n", dict(v=np.ones(1)),
         3, "'w' is a vec(2), but this vec has length 1; give it a vec of length 2, or declare it `vec` to take any "
         "length"),
        ("def f(n: int, m: int) -> int:\n    let k = revolve_advance(n, m)\n    return k\n", dict(n=1, m=1), 2,
         "revolve_advance needs steps >= 2 and snapshots >= 1, got 1 and 1; guard the call with an `if`"),
    ],
)
def test_runtime_errors_are_the_same(text, args, line, fragment):
    program = compile_text(text)
    a, b = both_errors(program, "f", args)
    assert fragment in b.message
    assert b.span.line == line


INF, NAN = math.inf, math.nan
INF_CAUSE = "the inf is an argument or a value that overflowed earlier: rescale the inputs so the values stay finite"
NAN_CAUSE = "an operand is NaN already: look for a NaN among the arguments"
DIVISOR = "keep the divisor away from 0 (guard it with an `if`) or choose other arguments"
GUARD_CALL = "guard the call with an `if` or choose other arguments"


def vec(*xs) -> np.ndarray:
    return np.array(xs, dtype=float)


# Issue 7: a runtime error says what is wrong, with the values, and what to do; both engines say it alike.
WHAT_TO_DO = [

    # ---- arithmetic
    ("x / y", dict(x=1.0, y=0.0), f"division by zero: 1.0 / 0.0; {DIVISOR}"),
    ("n / m", dict(n=1, m=0), f"division by zero: 1 / 0; {DIVISOR}"),
    ("u / x", dict(u=vec(1, 2), x=-0.0), f"division by zero: a vec / -0.0; {DIVISOR}"),
    ("u / w", dict(u=vec(1, 2), w=vec(1, 0)),
     "division by zero: 2.0 / 0.0 at index 1; keep its elements away from 0 or choose other arguments"),
    ("x / u", dict(x=3.0, u=vec(0, 1)),
     "division by zero: 3.0 / 0.0 at index 0; keep its elements away from 0 or choose other arguments"),
    ("x * y", dict(x=INF, y=0.0), f"inf * 0.0 is not a number (NaN); {INF_CAUSE}"),
    ("x / y", dict(x=-INF, y=INF), f"-inf / inf is not a number (NaN); {INF_CAUSE}"),
    ("x * n", dict(x=INF, n=0), f"inf * 0 is not a number (NaN); {INF_CAUSE}"),
    ("u - w", dict(u=vec(1, INF), w=vec(1, INF)), f"inf - inf at index 1 is not a number (NaN); {INF_CAUSE}"),
    ("u / w", dict(u=vec(INF, 1), w=vec(INF, 1)), f"inf / inf at index 0 is not a number (NaN); {INF_CAUSE}"),
    ("x * u", dict(x=0.0, u=vec(1, -INF)), f"0.0 * -inf at index 1 is not a number (NaN); {INF_CAUSE}"),
    ("u + w", dict(u=vec(1, 2), w=vec(1, 2, 3)),
     "vecs of different lengths (2 and 3) in an elementwise addition; use vecs of the same length"),
    ("min(u, w)", dict(u=vec(1, 2, 3), w=vec(1)),
     "vecs of different lengths (1 and 3) in an elementwise min; use vecs of the same length"),
    # ---- powers
    ("x ^ y", dict(x=-1.0, y=0.5), "a negative base (-1.0) to a power that is not a whole number (0.5) has no real "
     "value; keep the base >= 0 (guard it with an `if`) or use a whole-number power"),
    ("x ^ y", dict(x=-2.0, y=-INF), "a negative base (-2.0) to an infinite power (-inf) is undefined; keep the power "
     "finite (it is an argument or a value that overflowed earlier) or the base >= 0"),
    ("x ^ n", dict(x=0.0, n=-2), "0 to a negative power is a division by zero: 0.0 ^ -2; keep the base away from 0 "
     "(guard it with an `if`) or choose other arguments"),
    ("u ^ y", dict(u=vec(4, -8), y=0.5), "a negative base (-8.0) to a power that is not a whole number (0.5) at index "
     "1 has no real value; keep the base >= 0 (guard it with an `if`) or use a whole-number power"),
    ("u ^ w", dict(u=vec(1, 0), w=vec(2, -1)), "0 to a negative power is a division by zero: 0.0 ^ -1.0 at index 1; "
     "keep the base away from 0 (guard it with an `if`) or choose other arguments"),
    ("u ^ w", dict(u=vec(1, 2), w=vec(1)), "vecs of different lengths (1 and 2) in an elementwise power; use vecs of "
     "the same length"),
    # ---- math functions
    ("log(x)", dict(x=0.0), f"log of 0.0: log needs a number > 0; {GUARD_CALL}"),
    ("sqrt(n)", dict(n=-4), f"sqrt of -4: sqrt needs a number >= 0; {GUARD_CALL}"),
    ("log(u)", dict(u=vec(1, -1)),
     "log of a vec element (-1.0 at index 1): log needs numbers > 0; choose arguments that keep the elements > 0"),
    ("sqrt(u)", dict(u=vec(-0.5)),
     "sqrt of a vec element (-0.5 at index 0): sqrt needs numbers >= 0; choose arguments that keep the elements >= 0"),
    ("sin(x)", dict(x=-INF), f"sin of -inf is undefined; {INF_CAUSE}"),
    ("cos(u)", dict(u=vec(1, INF)), f"cos(inf) at index 1 is not a number (NaN); {INF_CAUSE}"),
    ("dsqrt(x)", dict(x=0.0), "the derivative of sqrt is undefined at 0.0 (sqrt'(x) = 1 / (2 sqrt(x)) needs x > 0); "
     "differentiate at a point where sqrt's argument is > 0"),
    ("dsqrt(u)", dict(u=vec(4, 0)), "the derivative of sqrt is undefined at 0.0, index 1 of a vec (sqrt'(x) = "
     "1 / (2 sqrt(x)) needs x > 0); differentiate at a point where every element sqrt takes is > 0"),
    ("dpowb(x, y)", dict(x=-2.0, y=4.0), "dpowb(a, y) = y * log(a), the derivative of a ^ b with respect to b "
     "(y = a ^ b), needs a > 0; here a = -2.0; differentiate where a > 0, or keep b out of the derivative (an int "
     "power `x ^ n` is differentiable at every x)"),
    ("dpowb(u, x)", dict(u=vec(4, 0), x=1.0), "dpowb(a, y) = y * log(a), the derivative of a ^ b with respect to b "
     "(y = a ^ b), needs a > 0; here a = 0.0, index 1 of a vec; differentiate where a > 0, or keep b out of the "
     "derivative (an int power `x ^ n` is differentiable at every x)"),
    # ---- vec builtins
    ("u[n]", dict(u=vec(1, 2), n=2), "index 2 is out of range for a vec of length 2; use an index from 0 to 1"),
    ("u[n]", dict(u=vec(1), n=1), "index 1 is out of range for a vec of length 1; use index 0"),
    ("u[n]", dict(u=vec(1, 2, 3), n=-1), "index -1 is out of range for a vec of length 3; use an index from 0 to 2 "
     "(a negative index does not count from the end)"),
    ("u[n]", dict(u=vec(), n=0), "index 0 is out of range for a vec of length 0; the vec is empty: check len() before "
     "indexing it"),
    ("addat(u, n, 1.0)", dict(u=vec(1, 2), n=5), "index 5 is out of range for a vec of length 2; use an index from 0 "
     "to 1"),
    ("dot(u, w)", dict(u=vec(1, 2), w=vec(1)),
     "dot of vecs of different lengths (2 and 1); use vecs of the same length"),
    ("addto(u, w)", dict(u=vec(1, 2), w=vec(1)), "vecs of different lengths (2 and 1) in addto; use vecs of the same "
     "length (or an empty vec for a zero)"),
    ("ones(n)", dict(n=-3), "ones(-3): a vec cannot have a negative length; give a length >= 0"),
    ("zeros(n)", dict(n=100_000_001), "zeros(100000001): a vec of 100,000,001 elements is larger than the limit of "
     "100,000,000; use fewer elements"),
    ("mean(u)", dict(u=vec()), "mean of an empty vec is undefined; guard it with `if len(v) > 0` or give a vec that "
     "has elements"),
    ("sum(u)", dict(u=vec(INF, 1, -INF)), "sum is not a number (NaN): its elements add up to inf - inf (an inf is an "
     "argument or a value that overflowed earlier); rescale the inputs so the values stay finite"),
    ("dot(u, w)", dict(u=vec(1, INF), w=vec(1, 0)), "dot is not a number (NaN): a product is inf * 0, or the "
     "products add up to inf - inf (an inf is an argument or a value that overflowed earlier); rescale the inputs so "
     "the values stay finite"),
]


# A NaN argument is refused by every engine's prologue (a usage error), so a NaN reaches a primitive only when
# it is called on its own: its message still says where to look.
NAN_ALREADY = [
    ("x + y", dict(x=NAN, y=1.0), f"nan + 1.0 is not a number (NaN); {NAN_CAUSE}"),
    ("max(u, w)", dict(u=vec(1, NAN), w=vec(1, 3)), f"max(nan, 3.0) at index 1 is not a number (NaN); {NAN_CAUSE}"),
    ("exp(u)", dict(u=vec(NAN)), f"exp(nan) at index 0 is not a number (NaN); {NAN_CAUSE}"),
    ("mean(u)", dict(u=vec(1, NAN)), "mean is not a number (NaN): the element at index 1 is NaN already; look for a "
     "NaN among the arguments"),
    ("dot(u, w)", dict(u=vec(1, 2), w=vec(NAN, 0)), "dot is not a number (NaN): the element at index 0 is NaN "
     "already; look for a NaN among the arguments"),
]


@pytest.mark.parametrize("expr, args, message", NAN_ALREADY, ids=[e for e, _, _ in NAN_ALREADY])
def test_a_primitive_given_a_nan_says_where_to_look(expr, args, message):
    params = ", ".join(f"{k}: vec" if isinstance(v, np.ndarray) else k for k, v in args.items())
    program = compile_text(f"def f({params}):\n    let r = {expr}\n    return r\n")
    prim = program.functions[0].body[0].expr
    evaluate = lookup(prim.op).evaluator(tuple(a.type for a in prim.args))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DomainError) as info:
            evaluate(*(args[a.name] for a in prim.args))
    assert str(info.value) == message


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("expr, args, message", NAN_ALREADY[:2], ids=[e for e, _, _ in NAN_ALREADY[:2]])
def test_every_engine_refuses_a_nan_argument(engine, expr, args, message):
    params = ", ".join(f"{k}: vec" if isinstance(v, np.ndarray) else k for k, v in args.items())
    program = compile_text(f"def f({params}):\n    let r = {expr}\n    return r\n")
    with pytest.raises(UsageError, match="is NaN|nan is not a number"):
        ENGINES[engine].run(program, "f", copied(args))


@pytest.mark.parametrize("expr, args, message", WHAT_TO_DO, ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(WHAT_TO_DO)])
def test_runtime_errors_say_what_to_do_in_both_engines(expr, args, message):
    params = ", ".join(
        f"{k}: vec" if isinstance(v, np.ndarray) else f"{k}: int" if isinstance(v, int) else k for k, v in args.items()
    )
    program = compile_text(f"def f({params}):\n    let ok = 1.0\n    let r = {expr}\n    return r + ok\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarning on stderr would come before the message
        a, b = both_errors(program, "f", args)
    assert a.message == message
    assert a.span.line == 3


@pytest.mark.parametrize("x", [-math.inf, 1.0])
def test_addat_in_place_checks_for_nan_in_both_engines(x):
    """`w = addat(w, i, x)` on an array nothing else holds runs in place: inf + -inf there is the same error."""
    program = compile_text("""
        def f(x, n: int) -> float:
            let w = zeros(n)
            for i in 0..n:
                w = addat(w, i, 1.0e308)
                w = addat(w, i, 1.0e308)
            w = addat(w, 0, x)
            return sum(w)
    """)
    args = dict(x=x, n=3)
    if x == 1.0:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert run_function(program, "f", args).value == run_compiled(program, "f", args).value == math.inf
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = both_errors(program, "f", args)
    assert a.message.startswith("inf + -inf at index 0 is not a number (NaN)") and a.span.line == 6


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 50, 51])
def test_step_limit_points_at_the_same_statement(limit):
    program = compile_text("""
        def g(x) -> float:
            let y = x * 2.0
            return y

        def f(x, n: int) -> float:
            let r = 0.0
            let k = 0
            for i in 0..n:
                r = r + g(x)
                if i > 1:
                    r = r - 1.0
            while k < n:
                k = k + 1
            return r
    """)
    args = dict(x=1.5, n=4)
    if limit >= run_function(program, "f", args).steps:
        assert_same_run(program, "f", args, max_steps=limit)
    else:
        a, b = both_errors(program, "f", args, max_steps=limit)
        assert "step limit" in b.message


def test_tapes_are_numbered_and_fresh_each_run():
    program = compile_text("""
        def f(x) -> float:
            push(x)
            push(2.0 * x, 1)
            let a: float = pop(1)
            let b: float = pop()
            return a - b
    """)
    assert_same_run(program, "f", dict(x=3.0))
    assert_same_run(program, "f", dict(x=3.0))


def test_addat_in_place_never_changes_a_shared_vec():
    program = compile_text("""
        def f(v: vec) -> float:
            let w = v
            let u = w
            for i in 0..len(v):
                w = addat(w, i, 1.0)
            push(w)
            let z = w
            w = addat(w, 0, 5.0)
            let t: vec = pop()
            return sum(u) + sum(w) * 10.0 + sum(z) * 100.0 + sum(t) * 1000.0
    """)
    v = np.array([1.0, 2.0, 3.0])
    assert_same_run(program, "f", dict(v=v))
    run_compiled(program, "f", dict(v=v))
    assert np.array_equal(v, [1.0, 2.0, 3.0])


# ---------------------------------------------------------------- names that are Python's


def test_python_keywords_and_builtins_as_names():
    program = compile_text("""
        def os(import_x, self) -> float:
            let exec = import_x * self
            return exec

        def print(x) -> (float, float):
            return x, -x

        def f(lambda_, eval, n: int) -> float:
            let import = 1.0
            let self = 2.0
            let True = 3.0
            let None = os(import, self)
            let _steps = 0.5
            let st = 0.25
            let _max = 0.125
            let range = 0.0
            for __import__ in 0..n:
                range = range + float(__import__)
            let a, b = print(lambda_)
            return import + self + True + None + eval + a + b + range + _steps + st + _max
    """)
    assert_same_run(program, "f", {"lambda_": 1.5, "eval": 0.5, "n": 3})
    source = compile_program(program).source
    assert "v_import" in source and "f_os" in source and "def os" not in source


def test_the_cache_is_per_program_object():
    text = "def f(x) -> float:\n    let y = 1.0 / x\n    return y\n"
    first = compile_text(text)
    second = compile_text("# one\n# two\n" + text)
    assert first == second  # spans take no part in equality
    assert compile_program(first) is compile_program(first)
    assert compile_program(first) is not compile_program(second)
    with pytest.raises(RuntimeFault) as err:
        run_compiled(second, "f", dict(x=0.0))
    assert err.value.span.line == 4


# ---------------------------------------------------------------- the command line


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adlang", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("extra", [[], ["--grad", "x,y"], ["--grad", "x,y", "--mode", "forward"],
                                   ["--grad", "x,y", "--order", "2"]])
def test_cli_json_is_the_same(extra):
    path = str(ROOT / "programs" / "lecture" / "foo.ad")
    a = cli("run", path, "x=2", "y=3", "--json", *extra)
    b = cli("run", path, "x=2", "y=3", "--json", "--engine", "compiled", *extra)
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert json.loads(a.stdout) == json.loads(b.stdout)


def test_cli_errors_are_the_same(tmp_path):
    path = tmp_path / "div.ad"
    path.write_text(LOOP)
    a = cli("run", str(path), "x=1", "n=5", "--json")
    b = cli("run", str(path), "x=1", "n=5", "--json", "--engine", "compiled")
    assert a.returncode == b.returncode == 1
    assert a.stdout == b.stdout


def test_cli_trace_falls_back_to_the_interpreter():
    path = str(ROOT / "programs" / "lecture" / "foo.ad")
    a = cli("run", path, "x=2", "y=3", "--json", "--trace")
    b = cli("run", path, "x=2", "y=3", "--json", "--trace", "--engine", "compiled")
    assert b.returncode == 0 and json.loads(a.stdout) == json.loads(b.stdout)
    assert json.loads(b.stdout)["trace"]


def test_cli_refuses_an_unknown_engine():
    r = cli("run", str(ROOT / "programs" / "lecture" / "foo.ad"), "x=2", "y=3", "--engine", "jit")
    assert r.returncode == 2


def test_an_error_in_a_callee_is_placed_in_the_callee():
    program = compile_text("""
        def g(x, d) -> float:
            let y = x / d
            return y

        def f(x, n: int) -> float:
            let r = 0.0
            for i in 0..n:
                r = r + g(x, 2.0 - float(i))
            return r
    """)
    a, b = both_errors(program, "f", dict(x=1.0, n=4))
    assert b.span.line == 2 and "division by zero" in b.message


# ---------------------------------------------------------------- loops run without per-trip bookkeeping

# A straight-line `for` body counts its steps once for the whole loop, and a body that starts with the
# loop's only pop walks the tape backwards; where the trips would cross the step limit, or the tape is
# shorter than the trips, the loop runs trip by trip and stops where the interpreter does.
TAPE_LOOPS = src("""
    def f(x, v: vec, n: int, m: int) -> float:
        for i in 0..n:
            push(x * float(i))
        push(v, 2)
        let w: vec = pop(2)
        push(w, 2)
        push(x, 2)
        let s = sum(w)
        for j in 0..m:
            let y: float = pop()
            s = s + y * float(j)
        for k in 0..m:
            let z: float = pop()
            s = s - z
        let t: float = pop(2)
        let u: vec = pop(2)
        for k in 0..n:
            s = s * 0.5 + float(k)
        return s + t + sum(u)
""")


@pytest.mark.parametrize("n, m", [(0, 0), (1, 0), (3, 1), (4, 2), (6, 3), (2, 2), (2, 3), (5, 0)])
def test_loops_that_push_and_pop_match_the_interpreter(n, m):
    program = compile_text(TAPE_LOOPS)
    args = dict(x=1.25, v=np.array([1.0, 2.0, 3.0]), n=n, m=m)
    if 2 * m > n:  # the pops run out: the same error at the same pop
        a, b = both_errors(program, "f", args)
        assert "empty tape" in b.message
    else:
        assert_same_run(program, "f", args)
        source = compile_program(program).source
        assert "_zip(" in source and "_islice(" in source  # both ways of walking a tape are taken
        full = run_function(program, "f", copied(args)).steps
        for limit in range(1, full):
            both_errors(program, "f", args, max_steps=limit)


def test_a_popped_loop_variable_keeps_its_last_value():
    program = compile_text("""
        def f(x, n: int) -> float:
            for i in 0..n:
                push(x + float(i))
            let s = 0.0
            for i in 0..n:
                let y: float = pop()
                s = s + y * float(i)
            return s
    """)
    for n in (0, 1, 5):
        assert_same_run(program, "f", dict(x=0.5, n=n))
    assert "_zip(" in compile_program(program).source  # the loop reads its variable: walked with zip
