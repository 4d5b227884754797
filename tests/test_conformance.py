"""Conformance (issue 13): every engine in `ENGINES` gives what the interpreter, the reference, gives.

The engines are read from the table, so a new row is tested here without touching this file. A new engine
passes when, for every example under programs/ (plain; its forward and reverse derivative programs; the
four second-order mode pairs; reverse mode checkpointed with sqrt, every:2 and revolve:2 where it loops),
for random programs, and for the programs below, it returns

- the same value: bit for bit for the engines in `BIT_FOR_BIT`, else to 1e-12 relative, of the same type;
- the same `steps`, `tape_peak` and `loop_trips`;
- or the same runtime error: the same message at the same line and column (division by zero, domain
  errors, index out of range, the step limit at many limits, the tape limit, vec lengths, int overflow,
  errors inside a callee and inside derivative programs);
- and with `trace=True` the interpreter's trace (an engine that cannot trace hands the run to it).
"""

from __future__ import annotations

import functools
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
from adlang.interp.engines import DEFAULT_ENGINE, ENGINES
from adlang.interp.runtime import DEFAULT_MAX_STEPS, DEFAULT_MAX_TAPE, RunResult
from adlang.ir import nodes as ir
from adlang.ir.derive import derive, derive_hvp, finish
from adlang.ir.primitives import lookup
from adlang.lang.errors import DomainError, RuntimeFault, UsageError
from adlang.pipeline import compile_source

REFERENCE = ENGINES[DEFAULT_ENGINE]
# An engine whose package is not installed (native without numba) is skipped, not failed.
OTHERS = [pytest.param(name, marks=pytest.mark.skipif(ENGINES[name].missing() is not None,
                                                      reason=str(ENGINES[name].missing())))
          for name in ENGINES if name != DEFAULT_ENGINE]
# Engines that promise the interpreter's values bit for bit (README, Engines); any other gets 1e-12 relative.
BIT_FOR_BIT = {"compiled"}
RELATIVE = 1e-12

# What the suite can afford per engine. numba compiles every program the native engine runs: 0.1 s for a small one,
# a few seconds for the second-order and checkpointed programs of the bigger examples, 4 to 50 s for the forward
# and reverse programs of linefit_gd and linefit_newton (CPU time on the 2-core machine, issue 14; linefit_gd's
# forward 3.5 s, reverse 4.5 s, linefit_newton's forward 21 s). Its row runs every variant of the examples in
# `every_variant`, the variants named in `variants` of the others (every example's forward and reverse runs but
# linefit_gd's and linefit_newton's, which run natively but cost too much to compile here), any other example
# plain; errors inside derivative programs without checkpoints; at most `random` random programs per test. Of
# the examples that hold a mat, lstsq runs its first-order and reverse-over-reverse programs and logreg_mat and
# tanh_net their plain and reverse ones (about 10 s of compiling). The rest of its checks run in full. An engine
# not named here runs everything.
FIRST_ORDER_RUNS = {"plain", "forward", "reverse"}
CHECKPOINTED = FIRST_ORDER_RUNS | {"reverse/sqrt", "reverse/every:2", "reverse/revolve:2"}
BUDGET = {
    "native": dict(
        every_variant={"loop", "cube", "fanout", "foo", "foo_mul", "square_plus5", "piecewise", "polar"},
        variants={"nested_loops": CHECKPOINTED, "while_newton_sqrt": CHECKPOINTED, "linefit": FIRST_ORDER_RUNS,
                  "dual": FIRST_ORDER_RUNS, "logistic": FIRST_ORDER_RUNS, "vec_stats": FIRST_ORDER_RUNS,
                  "oscillator": FIRST_ORDER_RUNS, "lstsq": FIRST_ORDER_RUNS | {"reverse-over-reverse"},
                  "logreg_mat": {"plain", "reverse"}, "tanh_net": {"plain", "reverse"}},
        random=3,
    ),
}
_RANDOM_RUNS: dict[tuple[str, str], int] = {}


def affordable(engine: str, path, variant: str) -> bool:
    """Whether this example run is within the engine's budget."""
    budget = BUDGET.get(engine)
    if budget is None:
        return True
    return path.stem in budget["every_variant"] or variant in budget["variants"].get(path.stem, {"plain"})


def random_budget_spent(engine: str, test: str) -> bool:
    """Counts the random programs an engine ran in a test; True once its budget is spent."""
    budget = BUDGET.get(engine)
    if budget is None:
        return False
    runs = _RANDOM_RUNS[engine, test] = _RANDOM_RUNS.get((engine, test), 0) + 1
    return runs > budget["random"]


FIRST_ORDER = ["forward", "reverse"]
SECOND_ORDER = ["forward-over-forward", "forward-over-reverse", "reverse-over-forward", "reverse-over-reverse"]
CHECKPOINTS = ["sqrt", "every:2", "revolve:2"]

engines = pytest.mark.parametrize("engine", OTHERS)


# ---------------------------------------------------------------- comparing runs


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


def close(a, b) -> bool:
    """Equal to 1e-12 relative: the same types and lengths, ints and bools exactly, infs by sign."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return type(a) is type(b) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and all(close(float(x), float(y)) for x, y in zip(a.ravel(), b.ravel())))
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or math.isclose(a, b, rel_tol=RELATIVE, abs_tol=0.0)
    return a == b


def agree(engine: str, got, expected) -> bool:
    return same(got, expected) if engine in BIT_FOR_BIT else close(got, expected)


def copied(args: dict) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()}


def outcome(engine: str, program: ir.Program, fn: str, args: dict, *, trace: bool = False,
            max_steps: int = DEFAULT_MAX_STEPS, max_tape: int = DEFAULT_MAX_TAPE) -> RunResult | RuntimeFault:
    """What a run gives: its result, or the runtime error it stops with (any other exception is a bug)."""
    try:
        return ENGINES[engine].run(finish(program), fn, copied(args), trace=trace, max_steps=max_steps,
                                   max_tape=max_tape)
    except RuntimeFault as fault:
        return fault


def assert_conforms(engine: str, program: ir.Program, fn: str, args: dict, **limits) -> RunResult | RuntimeFault:
    """The engine gives what the interpreter gives: the same result, or the same error at the same place."""
    expected = outcome(DEFAULT_ENGINE, program, fn, args, **limits)
    got = outcome(engine, program, fn, args, **limits)
    if isinstance(expected, RuntimeFault):
        assert isinstance(got, RuntimeFault), f"{engine} returned {got.value!r}; the interpreter: {expected.message}"
        assert_same_error(got, expected)
        return expected
    assert not isinstance(got, RuntimeFault), f"{engine}: {got.message}; the interpreter returned {expected.value!r}"
    assert agree(engine, got.value, expected.value), (engine, got.value, expected.value)
    assert got.steps == expected.steps
    assert got.tape_peak == expected.tape_peak
    assert got.loop_trips == expected.loop_trips
    assert got.trace is None
    return expected


def assert_same_error(got: RuntimeFault, expected: RuntimeFault) -> None:
    assert type(got) is type(expected)
    assert got.message == expected.message
    assert got.span == expected.span
    if expected.span is not None:
        assert (got.span.line, got.span.col) == (expected.span.line, expected.span.col)


def both_fail(engine: str, program: ir.Program, fn: str, args: dict, **limits) -> RuntimeFault:
    """The interpreter's error, which the engine gave too."""
    fault = assert_conforms(engine, program, fn, args, **limits)
    assert isinstance(fault, RuntimeFault), f"no error: {fault.value!r}"
    return fault


# ---------------------------------------------------------------- every example, and its derivative programs


@functools.cache
def example(path):
    return load_example(path)


def loops(program: ir.Program) -> bool:
    return any(isinstance(s, (ir.For, ir.While)) for f in program.functions for s in ir.walk(f.body))


def variants(path) -> list[str]:
    """The runs of one example: plain, both modes, the second-order pairs, checkpointed where it loops."""
    ex = example(path)
    if not ex.wrt:
        return ["plain"]
    out = ["plain", *FIRST_ORDER, *SECOND_ORDER]
    if loops(ex.program):
        out += [f"reverse/{c}" for c in CHECKPOINTS] + ["forward-over-reverse/revolve:2"]
    return out


@functools.cache
def example_run(path, variant: str) -> tuple[ir.Program, str, dict]:
    """The program, function and arguments of one variant; a Hessian with respect to vecs is its Hessian-vector
    product program, along a fixed direction, as `run --order 2` runs it once per element. Built once: an engine
    that compiles (native) compiles each once."""
    ex = example(path)
    if variant == "plain":
        return ex.finished, ex.fn, ex.args
    mode, _, checkpoint = variant.partition("/")
    order = 2 if mode in SECOND_ORDER else 1
    program, fn, args, wrt = ex.program, ex.fn, ex.args, ex.wrt
    if order == 2:  # no Hessian with respect to a mat (a usage error): with respect to the other parameters
        wrt = [w for w in wrt if np.ndim(ex.args[w]) < 2]
    if order == 2 and any(isinstance(ex.args[w], np.ndarray) for w in wrt):
        built = derive_hvp(program, fn, wrt, mode, checkpoint=checkpoint or "none")
        direction = {seed: np.linspace(1.0, -0.5, len(args[w])) if isinstance(args[w], np.ndarray) else 0.25
                     for w, seed in zip(wrt, built.seeds)}
        return built.program, built.entry, {**args, **direction}
    derived = derive(program, fn, wrt, mode, order, True, checkpoint or "none")
    return derived.program, derived.entry, args


EXAMPLE_RUNS = [(path, variant) for path in PROGRAM_PATHS for variant in variants(path)]


@engines
@pytest.mark.parametrize("path, variant", EXAMPLE_RUNS, ids=[f"{p.stem}-{v}" for p, v in EXAMPLE_RUNS])
def test_examples(engine, path, variant):
    if not affordable(engine, path, variant):
        pytest.skip(f"beyond {engine}'s budget (BUDGET)")
    assert_conforms(engine, *example_run(path, variant))


@engines
@pytest.mark.parametrize("path", PROGRAM_PATHS, ids=lambda p: p.stem)
@pytest.mark.parametrize("variant", ["plain", "reverse"])
def test_step_limit_in_examples(engine, path, variant):
    """Limits spread over the run: the same statement crosses each, or both finish."""
    if variant not in variants(path):
        pytest.skip("no parameters to differentiate")
    if not affordable(engine, path, variant):
        pytest.skip(f"beyond {engine}'s budget (BUDGET)")
    program, fn, args = example_run(path, variant)
    full = REFERENCE.run(program, fn, copied(args)).steps
    for limit in sorted({1, 2, full // 7 or 1, full // 2 or 1, full - 1 or 1, full}):
        assert_conforms(engine, program, fn, args, max_steps=limit)


@engines
@pytest.mark.parametrize("path", [p for p in PROGRAM_PATHS if "reverse/sqrt" in variants(p)], ids=lambda p: p.stem)
@pytest.mark.parametrize("variant", ["reverse", "reverse/revolve:2"])
def test_tape_limit_in_examples(engine, path, variant):
    """Just below the peak, and far below it, the same push fails; at the peak the run ends."""
    if not affordable(engine, path, variant):
        pytest.skip(f"beyond {engine}'s budget (BUDGET)")
    program, fn, args = example_run(path, variant)
    peak = REFERENCE.run(program, fn, copied(args)).tape_peak
    for limit in sorted({0, 1, peak // 2, peak - 1} - {-1}):
        if limit < peak:
            assert "tapes would hold more" in both_fail(engine, program, fn, args, max_tape=limit).message
    assert_conforms(engine, program, fn, args, max_tape=peak)


@engines
@pytest.mark.parametrize("path", PROGRAM_PATHS, ids=lambda p: p.stem)
def test_traced_runs_give_the_interpreters_trace(engine, path):
    for variant in ["plain", "reverse"][: len(variants(path))]:
        program, fn, args = example_run(path, variant)
        expected = REFERENCE.run(program, fn, copied(args), trace=True)
        got = ENGINES[engine].run(program, fn, copied(args), trace=True)
        assert agree(engine, got.value, expected.value)
        assert (got.steps, got.tape_peak, got.loop_trips) == (expected.steps, expected.tape_peak, expected.loop_trips)
        assert got.trace is not None and len(got.trace) == len(expected.trace)
        for a, b in zip(got.trace, expected.trace):
            assert (a.name, a.line, a.span, a.note) == (b.name, b.line, b.span, b.note)
            assert agree(engine, a.value, b.value), (a.name, a.value, b.value)


@engines
def test_compute_threads_the_engine(engine):
    """`compute` (run --grad) through the engine: the same value, gradient, Hessian and statistics."""
    ex = example(ROOT / "programs" / "lecture" / "loop.ad")
    for options in [dict(), dict(mode="forward"), dict(checkpoint="revolve:2"), dict(order=2)]:
        a = compute(ex.program, ex.fn, ex.args, wrt=ex.wrt, **options)
        b = compute(ex.program, ex.fn, ex.args, wrt=ex.wrt, engine=engine, **options)
        assert agree(engine, b.value, a.value) and all(agree(engine, b.grad[w], a.grad[w]) for w in ex.wrt)
        assert (b.hessian is None) == (a.hessian is None)
        if a.hessian is not None:
            assert all(agree(engine, b.hessian[p][q], a.hessian[p][q]) for p in ex.wrt for q in ex.wrt)
        assert (b.steps, b.tape_peak, b.recomputed, b.loops) == (a.steps, a.tape_peak, a.recomputed, a.loops)


# ---------------------------------------------------------------- random programs

RANDOM = settings(max_examples=50, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@engines
@RANDOM
@given(gen=generated(extra=True), data=st.data(), limit=st.integers(1, 200))
def test_random_programs(engine, gen, data, limit):
    """Whole runs, and a step limit anywhere: whatever statement crosses it, both name it."""
    if random_budget_spent(engine, "programs"):
        return
    program = compile_source(gen.source, "<generated>")
    args = data.draw(points(gen.arg_names), label="args")
    assert_conforms(engine, program, gen.fn, args, max_steps=1_000_000)
    assert_conforms(engine, program, gen.fn, args, max_steps=limit)


@engines
@settings(RANDOM, max_examples=30)
@given(gen=generated(smooth=True), data=st.data(), mode=st.sampled_from(FIRST_ORDER + SECOND_ORDER),
       checkpoint=st.sampled_from(["none", *CHECKPOINTS]))
def test_derivatives_of_random_programs(engine, gen, data, mode, checkpoint):
    if random_budget_spent(engine, "derivatives"):
        return
    program = compile_source(gen.source, "<generated>")
    args = data.draw(points(gen.arg_names), label="args")
    fn = program.function(gen.fn)
    order = 2 if mode in SECOND_ORDER else 1
    kinds = ("float",) if order == 2 else ("float", "vec")
    wrt = [p.name for p in fn.params if p.type.kind in kinds]
    derived = derive(program, gen.fn, wrt, mode, order, True, checkpoint)
    assert_conforms(engine, derived.program, derived.entry, args, max_steps=1_000_000)


@engines
@settings(RANDOM, max_examples=30)
@given(gen=generated(mats=True), data=st.data(), checkpoint=st.sampled_from(["none", *CHECKPOINTS]))
def test_random_mat_programs_and_their_gradients(engine, gen, data, checkpoint):
    """Programs with mats (`mats=True`), run and differentiated in reverse mode with respect to everything."""
    if random_budget_spent(engine, "mats"):
        return
    program = compile_source(gen.source, "<generated>")
    args = data.draw(points(gen.arg_names), label="args")
    assert_conforms(engine, program, gen.fn, args, max_steps=1_000_000)
    fn = program.function(gen.fn)
    wrt = [p.name for p in fn.params if p.type.kind in ("float", "vec", "mat")]
    derived = derive(program, gen.fn, wrt, "reverse", 1, True, checkpoint)
    assert_conforms(engine, derived.program, derived.entry, args, max_steps=1_000_000)


# ---------------------------------------------------------------- runtime errors

LOOP = src("""
    def f(x, n: int) -> float:
        let r = 0.0
        for i in 0..n:
            let d = 2.0 - i
            r = r + x / d
        return r
""")


@engines
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
def test_runtime_errors(engine, text, args, line, fragment):
    fault = both_fail(engine, compile_text(text), "f", args)
    assert fragment in fault.message
    assert fault.span.line == line
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
    ("fitto(u, w)", dict(u=vec(1, 2), w=vec(1)), "vecs of different lengths (2 and 1) in fitto; use vecs of the same "
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


@pytest.mark.parametrize("engine", [DEFAULT_ENGINE, *OTHERS])
@pytest.mark.parametrize("expr, args, message", NAN_ALREADY[:2], ids=[e for e, _, _ in NAN_ALREADY[:2]])
def test_every_engine_refuses_a_nan_argument(engine, expr, args, message):
    params = ", ".join(f"{k}: vec" if isinstance(v, np.ndarray) else k for k, v in args.items())
    program = compile_text(f"def f({params}):\n    let r = {expr}\n    return r\n")
    with pytest.raises(UsageError, match="is NaN|nan is not a number"):
        ENGINES[engine].run(program, "f", copied(args))




@engines
@pytest.mark.parametrize("expr, args, message", WHAT_TO_DO, ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(WHAT_TO_DO)])
def test_runtime_errors_say_what_to_do(engine, expr, args, message):
    params = ", ".join(
        f"{k}: vec" if isinstance(v, np.ndarray) else f"{k}: int" if isinstance(v, int) else k for k, v in args.items()
    )
    program = compile_text(f"def f({params}):\n    let ok = 1.0\n    let r = {expr}\n    return r + ok\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarning on stderr would come before the message
        fault = both_fail(engine, program, "f", args)
    assert fault.message == message
    assert fault.span.line == 3


# `w = addat(w, ...)` on an array nothing else holds may run in place (native: `_addat_in`, `_maddat_in`,
# `_maddrow_in`): inf + -inf there is the same error. Per kind: how w is made, the two updates of a trip, the
# update that meets the NaN, the message's start.
IN_PLACE = {
    "vec": ("zeros(n)", "addat(w, i, 1.0e308)", "addat(w, i, 1.0e308)", "addat(w, 0, x)",
            "inf + -inf at index 0 is not a number (NaN)"),
    "mat": ("zeros(n, 2)", "addat(w, i, 1, 1.0e308)", "addat(w, i, [1.0e308, 1.0e308])", "addat(w, 0, 1, x)",
            "inf + -inf"),
}


@engines
@pytest.mark.parametrize("kind", IN_PLACE)
@pytest.mark.parametrize("x", [-math.inf, 1.0])
def test_addat_in_place_checks_for_nan(engine, kind, x):
    made, first, second, last, message = IN_PLACE[kind]
    program = compile_text(f"""
        def f(x, n: int) -> float:
            let w = {made}
            for i in 0..n:
                w = {first}
                w = {second}
            w = {last}
            return sum(w)
    """)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = assert_conforms(engine, program, "f", dict(x=x, n=3))
    if x == 1.0:
        assert result.value == math.inf
    else:
        assert result.message.startswith(message) and result.span.line == 6


STEPS = src("""
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


@engines
def test_step_limit_at_every_limit(engine):
    """Every statement, in a callee, an `if`, a `for` and a `while`, crosses its own limit in both."""
    program = compile_text(STEPS)
    args = dict(x=1.5, n=4)
    full = REFERENCE.run(program, "f", args).steps
    for limit in range(1, full + 2):
        result = assert_conforms(engine, program, "f", args, max_steps=limit)
        assert isinstance(result, RuntimeFault) == (limit < full)
        if limit < full:
            assert "step limit" in result.message


@engines
def test_an_error_in_a_callee_is_placed_in_the_callee(engine):
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
    fault = both_fail(engine, program, "f", dict(x=1.0, n=4))
    assert fault.span.line == 2 and "division by zero" in fault.message


@engines
@pytest.mark.parametrize("limit", [0, 1, 5, 8])
def test_tape_limit_in_a_derivative_program(engine, limit):
    """Reverse mode pushes `r` once a trip: past the limit, the same push fails, naming the way out."""
    program = compile_text("""
        def f(x, n: int) -> float:
            let r = x
            for i in 0..n:
                r = r * x + 1.0
            return r
    """)
    derived = derive(program, "f", ["x"], "reverse")
    fault = both_fail(engine, derived.program, derived.entry, dict(x=0.5, n=12), max_tape=limit)
    assert "--checkpoint sqrt" in fault.message and fault.span.line == 4


POWER = "def f(a, b):\n    let c = a ^ b\n    return c\n"
CALLED = src("""
    def g(x) -> float:
        let y = sqrt(x)
        return y

    def f(x, n: int) -> float:
        let r = 0.0
        for i in 0..n:
            r = r + g(x - float(i))
        return r
""")


def computed(program: ir.Program, args: dict, wrt: list[str], **options):
    """What `compute` (run --grad) reports: the derivative run, or its error (it may run fn again to word it)."""
    try:
        return compute(program, "f", args, wrt=wrt, **options)
    except RuntimeFault as fault:
        return fault


@engines
@pytest.mark.parametrize("mode", FIRST_ORDER + SECOND_ORDER)
@pytest.mark.parametrize("text, args, wrt", [
    (POWER, dict(a=-2.0, b=2.0), ["a", "b"]),  # the derivative's log(a), not the power, fails
    ("def f(x):\n    let y = x ^ 0.5\n    return y\n", dict(x=0.0), ["x"]),  # 0 ^ -0.5 in the rule
    ("def f(x):\n    let y = min(exp(x), 1.0)\n    return y\n", dict(x=1000.0), ["x"]),  # 0 * inf in the rule
    # an adjoint summed from two rules, inf + -inf: `compute` runs f again to say that f has a value there
    ("def f(x, s, t):\n    let y = 10.0 * (x * s) + 10.0 * (x * t)\n    return y\n",
     dict(x=0.0, s=1e308, t=-1e308), ["x"]),
    (CALLED, dict(x=1.0, n=3), ["x"]),  # sqrt of a negative in the callee, as the function fails
    (CALLED, dict(x=2.0, n=3), ["x"]),  # sqrt(0) runs, its derivative does not
    (LOOP, dict(x=1.0, n=5), ["x"]),  # the forward sweep fails as the function does
], ids=["dpowb", "power-rule", "rule-nan", "adjoint-sum", "callee", "callee-rule", "forward-sweep"])
def test_errors_inside_derivative_programs(engine, mode, text, args, wrt):
    """The engine's error where a derivative program fails, checkpointed too, and what `compute` reports."""
    program = compile_text(text)
    order = 2 if mode in SECOND_ORDER else 1
    checkpoints = ["none", "revolve:2"] if loops(program) and mode.endswith("reverse") else ["none"]
    if engine in BUDGET:
        checkpoints = ["none"]
    for checkpoint in checkpoints:
        derived = derive(program, "f", wrt, mode, order, True, checkpoint)
        assert_conforms(engine, derived.program, derived.entry, args)
        expected = computed(program, args, wrt, mode=mode, order=order, checkpoint=checkpoint)
        got = computed(program, args, wrt, mode=mode, order=order, checkpoint=checkpoint, engine=engine)
        assert isinstance(expected, RuntimeFault) == isinstance(got, RuntimeFault)
        if isinstance(expected, RuntimeFault):
            assert_same_error(got, expected)
        else:
            assert agree(engine, got.value, expected.value) and got.steps == expected.steps
            assert all(agree(engine, got.grad[w], expected.grad[w]) for w in wrt)


# ---------------------------------------------------------------- tapes, and arguments left alone


@engines
def test_tapes_are_numbered_and_fresh_each_run(engine):
    program = compile_text("""
        def f(x) -> float:
            push(x)
            push(2.0 * x, 1)
            let a: float = pop(1)
            let b: float = pop()
            return a - b
    """)
    assert_conforms(engine, program, "f", dict(x=3.0))
    assert_conforms(engine, program, "f", dict(x=3.0))


@engines
def test_an_argument_is_never_changed(engine):
    """Updates of a vec in place (`addat`) never reach a vec another name, the tape or the caller holds."""
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
    assert_conforms(engine, program, "f", dict(v=v))
    ENGINES[engine].run(program, "f", dict(v=v))
    assert np.array_equal(v, [1.0, 2.0, 3.0])


# A body that only pops may walk the tape in one go; where the pops run out, or the trips would cross the
# step limit, the engine must stop where the interpreter does.
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


@engines
@pytest.mark.parametrize("n, m", [(0, 0), (1, 0), (3, 1), (4, 2), (6, 3), (2, 2), (2, 3), (5, 0)])
def test_loops_that_push_and_pop(engine, n, m):
    program = compile_text(TAPE_LOOPS)
    args = dict(x=1.25, v=np.array([1.0, 2.0, 3.0]), n=n, m=m)
    result = assert_conforms(engine, program, "f", args)
    if 2 * m > n:  # the pops run out: the same error at the same pop
        assert "empty tape" in result.message
        return
    for limit in range(1, result.steps):
        both_fail(engine, program, "f", args, max_steps=limit)


POPPED = src("""
    def f(x, n: int) -> float:
        for i in 0..n:
            push(x + float(i))
        let s = 0.0
        for i in 0..n:
            let y: float = pop()
            s = s + y * float(i)
        return s
""")


@engines
def test_a_loop_that_pops_and_reads_its_variable(engine):
    program = compile_text(POPPED)
    for n in (0, 1, 5):
        assert_conforms(engine, program, "f", dict(x=0.5, n=n))


# Names that are keywords or builtins of a host language (Python, C) are ordinary adlang names.
HOST_NAMES = src("""
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
        let int = 0.0625
        let double = 0.03125
        let static = 0.015625
        for __import__ in 0..n:
            range = range + float(__import__)
        let a, b = print(lambda_)
        return import + self + True + None + eval + a + b + range + _steps + st + _max + int + double + static
""")


@engines
def test_names_of_a_host_language(engine):
    assert_conforms(engine, compile_text(HOST_NAMES), "f", {"lambda_": 1.5, "eval": 0.5, "n": 3})


# ---------------------------------------------------------------- the command line


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adlang", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@functools.cache
def reference_cli(*args: str) -> subprocess.CompletedProcess:
    return cli(*args)


FOO = str(ROOT / "programs" / "lecture" / "foo.ad")


@engines
@pytest.mark.parametrize("extra", [(), ("--grad", "x,y"), ("--grad", "x,y", "--mode", "forward"),
                                   ("--grad", "x,y", "--order", "2"), ("--trace",)])
def test_cli_json_is_the_same(engine, extra):
    """The same JSON; with --trace an engine that cannot trace leaves the run to the interpreter."""
    a = reference_cli("run", FOO, "x=2", "y=3", "--json", *extra)
    b = cli("run", FOO, "x=2", "y=3", "--json", "--engine", engine, *extra)
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert json.loads(a.stdout) == json.loads(b.stdout)
    assert ("trace" in json.loads(b.stdout)) == ("--trace" in extra)


@engines
def test_cli_errors_are_the_same(engine, tmp_path):
    path = tmp_path / "div.ad"
    path.write_text(LOOP)
    a = cli("run", str(path), "x=1", "n=5", "--json")
    b = cli("run", str(path), "x=1", "n=5", "--json", "--engine", engine)
    assert a.returncode == b.returncode == 1
    assert a.stdout == b.stdout


def test_cli_refuses_an_unknown_engine():
    r = cli("run", FOO, "x=2", "y=3", "--engine", "jit")
    assert r.returncode == 2


@engines
@pytest.mark.parametrize("n", [0, 2])
def test_loop_trips_leave_out_loops_that_ran_no_trip(engine, n):
    """A loop reached with no trips and one never reached look alike: neither is in `loop_trips`."""
    result = assert_conforms(engine, compile_text(LOOP), "f", dict(x=1.0, n=n))
    assert result.loop_trips == ({} if n == 0 else {(3, 5, ""): 2})
