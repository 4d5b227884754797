"""Vectorised code in the engines: arrays dropped after their last read (ir/liveness.py), adjoints added up
in place where nothing else holds the array, NaN found in one pass, and the adjoint of sum and mean left a
number where numpy broadcasts it (ir/simplify.py).

Each saving must leave every value as it was: the traced interpreter, which keeps every value and never
changes an array in place, is the reference the fast runs are compared with, bit for bit.
"""

from __future__ import annotations

import gc
import math
import tracemalloc
import warnings

import numpy as np
import pytest
from helpers import compile_text, src
from hypothesis import given, settings
from hypothesis import strategies as st

from adlang.interp.engines import ENGINES
from adlang.interp.interpreter import run_function
from adlang.interp.runtime import ArrayPool
from adlang.ir import nodes as ir
from adlang.ir.derive import derivative_program
from adlang.ir.liveness import releases
from adlang.ir.prims_scalar import POOLED, has_nan
from adlang.ir.printer import print_program
from adlang.ir.simplify import simplify_function
from adlang.lang.errors import RuntimeFault
from adlang.pipeline import compile_source

PLAIN_ENGINES = ["interp", "compiled"]  # the engines that run numpy arrays in CPython


def released(text: str, fn: str = "f") -> list[tuple[str, list[str]]]:
    """In source order, each statement of fn that is the last reader of some arrays (named by what it binds, or
    `for`, `while`, `if`) with those arrays."""
    program = compile_text(text)
    function = program.function(fn)
    found = releases(function)
    return [(_line(stmt), list(found.of(stmt))) for stmt in ir.walk(function.body) if found.of(stmt)]


def _line(stmt: ir.Stmt) -> str:
    if isinstance(stmt, (ir.For, ir.While, ir.If)):
        return type(stmt).__name__.lower()
    target = stmt.targets[0] if isinstance(stmt, ir.Let) else stmt.target
    return target.name


# ---------------------------------------------------------------- liveness


def test_straight_line_arrays_die_at_their_last_read():
    found = released("""
        def f(v: vec) -> float:
            let a = v * 2.0
            let b = a + 1.0
            let c = b * a
            let s = sum(c)
            return s
    """)
    assert found == [("a", ["v"]), ("c", ["a", "b"]), ("s", ["c"])]


def test_a_loop_keeps_what_its_next_trip_reads():
    """w is read by every trip: it lives through the body and dies after the loop. acc's old value dies once t
    has it (the update binds acc anew), t with the update; the loop names t too, dropped already."""
    found = released("""
        def f(v: vec, n: int) -> float:
            let acc = v * 0.0
            let w = v * 2.0
            for i in 0..n:
                let t = acc + w
                acc = t * 0.5
            let s = sum(acc)
            return s
    """)
    assert found == [("w", ["v"]), ("for", ["t", "w"]), ("t", ["acc"]), ("acc", ["t"]), ("s", ["acc"])]


def test_a_while_loop_keeps_what_its_next_trip_reads():
    found = released("""
        def f(v: vec) -> float:
            let w = v * 2.0
            let k = 0
            while k < 3:
                let t = w + 1.0
                w = t * 0.5
                k = k + 1
            return sum(w)
    """)
    # w's value is not read again once t has it (the next statement binds w anew), and t dies with the update
    assert found[:4] == [("w", ["v"]), ("while", ["t"]), ("t", ["w"]), ("w", ["t"])]


def test_an_array_read_in_one_branch_dies_there_and_after_the_if():
    found = released("""
        def f(v: vec, c: bool) -> float:
            let a = v * 2.0
            let r = 0.0
            if c:
                r = sum(a)
            else:
                r = 1.0
            return r
    """)
    assert found == [("a", ["v"]), ("if", ["a"]), ("r", ["a"])]


def test_a_dead_array_is_dropped_where_it_is_made():
    found = released("""
        def f(v: vec) -> float:
            let unused = v * 2.0
            return sum(v)
    """)
    assert ("unused", ["unused"]) in found


def chain(length: int) -> str:
    lines = ["def f(v: vec) -> float:", "    let a0 = v * 1.5"]
    lines += [f"    let a{k} = a{k - 1} + {float(k)}" for k in range(1, length)]
    lines += [f"    return sum(a{length - 1})"]
    return "\n".join(lines) + "\n"


def peak_bytes(run) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
@pytest.mark.parametrize("n", [10_000, 100_000])  # under and over POOLED
def test_a_chain_of_vec_operations_holds_two_arrays_not_all(engine, n):
    """Eight operations on a vec of 10^4 or 10^5 floats hold at most the one read and the one made."""
    program = compile_source(chain(8), "<chain>")
    v = np.linspace(0.0, 1.0, n)
    run = ENGINES[engine].runner()
    run(program, "f", {"v": v})
    assert peak_bytes(lambda: run(program, "f", {"v": v})) < 3 * v.nbytes


def test_a_traced_run_keeps_every_value():
    program = compile_source(chain(3), "<chain>")
    result = run_function(program, "f", {"v": np.ones(4)}, trace=True)
    assert [e.name for e in result.trace][:3] == ["a0", "a1", "a2"]


# ---------------------------------------------------------------- adjoints added up in place

SHARED = """
    def f(v: vec, A: mat) -> float:
        let d = v * 1.0
        let alias = d
        d = addto(d, v)
        let e = v * 2.0
        push(e)
        e = addto(e, v)
        let kept: vec = pop()
        let W = A * 1.0
        let before = W
        W = addat(W, 0, 1, 5.0)
        W = addat(W, 1, v)
        let U = A * 1.0
        U = addat(U, 0, v)
        U = addat(U, 1, 0, 2.0)
        U = addto(U, A)
        let vecs = sum(d) + 10.0 * sum(alias) + 100.0 * sum(e) + 1000.0 * sum(kept)
        return vecs + sum(W) * 3.0 + sum(before) * 7.0 + sum(U) * 11.0
"""


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
def test_in_place_updates_never_reach_an_array_another_holds(engine):
    program = compile_text(SHARED)
    v = np.array([1.0, 2.0])
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    args = {"v": v, "A": A}
    reference = run_function(program, "f", args, trace=True).value  # a traced run copies every update
    assert ENGINES[engine].run(program, "f", args).value == reference
    assert ENGINES[engine].run(program, "f", args).value == reference  # and again, with the machine reused
    d, alias = v + v, v
    e, kept = v * 2 + v, v * 2
    W = A.copy()
    W[0, 1] += 5.0
    W[1] += v
    U = A.copy()
    U[0] += v
    U[1, 0] += 2.0
    U += A
    expected = (d.sum() + 10 * alias.sum() + 100 * e.sum() + 1000 * kept.sum() + W.sum() * 3 + A.sum() * 7
                + U.sum() * 11)
    assert reference == expected
    assert np.array_equal(v, [1.0, 2.0]) and np.array_equal(A, [[1.0, 2.0], [3.0, 4.0]])


# An update in place that meets inf + -inf has written over the inf; the error must still name it.
INF_PLUS_MINUS_INF = [
    ("d = addto(d, c)", "inf + -inf at index 1 is not a number (NaN)"),
    ("W = addat(W, 1, c)", "inf + -inf at [1, 1] is not a number (NaN)"),
    ("W = addat(W, 1, 1, minus_inf)", "inf + -inf at [1, 1] is not a number (NaN)"),
    ("W = addto(W, M)", "inf + -inf at [1, 1] is not a number (NaN)"),
]


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
@pytest.mark.parametrize("update, message", INF_PLUS_MINUS_INF, ids=[u for u, _ in INF_PLUS_MINUS_INF])
def test_inf_minus_inf_in_place_is_the_registrys_error(engine, update, message):
    lines = ["def f(v: vec, A: mat) -> float:",
             "    let c = v * -1.0e308", "    c = c * 10.0",  # [-0.0, -inf]
             "    let minus_inf = -1.0e308 * 10.0",
             "    let M = A * -1.0e308", "    M = M * 10.0",  # -inf at [1, 1]
             "    let d = v * 1.0e308", "    d = d * 10.0",  # [0.0, inf]
             "    let W = A * 1.0e308", "    W = W * 10.0",  # inf at [1, 1]
             f"    {update}",
             "    return 1.0"]
    program = compile_source("\n".join(lines) + "\n", "<inf>")
    args = {"v": np.array([0.0, 1.0]), "A": np.array([[0.0, 0.0], [0.0, 1.0]])}
    with pytest.raises(RuntimeFault) as traced:
        run_function(program, "f", args, trace=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeFault) as fast:
            ENGINES[engine].run(program, "f", args)
    assert fast.value.message == traced.value.message
    assert fast.value.message.startswith(message)
    assert (fast.value.span.line, fast.value.span.col) == (traced.value.span.line, traced.value.span.col) == (11, 5)


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
def test_a_scalar_loop_over_a_mat_adds_its_adjoint_in_place(engine):
    """The gradient of Σ A[i, j]^2 by a scalar loop: each trip adds one element of the mat's adjoint."""
    program = compile_text("""
        def f(A: mat) -> float:
            let s = 0.0
            for i in 0..rows(A):
                for j in 0..cols(A):
                    s = s + A[i, j] ^ 2
            return s
    """)
    derived, entry = derivative_program(program, "f", ["A"])
    A = np.arange(12.0).reshape(3, 4) - 5.0
    value, grad = ENGINES[engine].run(derived, entry, {"A": A}).value
    assert value == float((A**2).sum()) and np.array_equal(grad, 2 * A)
    assert "addat(" in print_program(derived)


# ---------------------------------------------------------------- NaN in one pass


@given(st.lists(st.sampled_from([0.0, -1.0, 2.5, math.inf, -math.inf, 1e308, math.nan]), min_size=0, max_size=12),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_has_nan_is_isnan_any(values, as_mat):
    array = np.array(values, dtype=float)
    if as_mat and array.size % 2 == 0:
        array = array.reshape(2, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert has_nan(array) == bool(np.isnan(array).any())


# ---------------------------------------------------------------- a number broadcast, not an array of copies

LINEFIT = src("""
    def loss(m, b, xs: vec, ys: vec) -> float:
        return mean((m * xs + b - ys) ^ 2)
""")


def test_the_adjoint_of_mean_is_a_number_not_an_array_of_ones():
    program = compile_source(LINEFIT, "<linefit>")
    text = print_program(derivative_program(program, "loss", ["m", "b"])[0])
    assert "ones(" not in text
    raw = print_program(derivative_program(program, "loss", ["m", "b"], simplify=False)[0])
    assert "ones(" in raw


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
def test_broadcasting_the_number_gives_the_same_bits(engine):
    """d/db: the adjoint of the mean, times 2 through `^ 2`, is a number that numpy broadcasts (2 is exact)."""
    program = compile_source(LINEFIT, "<linefit>")
    rng = np.random.default_rng(7)
    args = {"m": 1.7, "b": -0.3, "xs": rng.normal(size=257), "ys": rng.normal(size=257)}
    simplified = derivative_program(program, "loss", ["b"])
    raw = derivative_program(program, "loss", ["b"], simplify=False)
    assert "ones(" not in print_program(simplified[0])
    assert ENGINES[engine].run(*simplified, args).value == ENGINES[engine].run(*raw, args).value


def test_the_line_fits_gradient_touches_each_vec_once_per_use():
    """Reverse mode's d/dm of mean((m * xs + b - ys)^2) is `sum(xs * g)` with g = (adjoint of the mean) * 2 * r:
    simplified, the numbers are multiplied first (`_k = d * 2`, then `_k * r`) and the sum of the product is a
    dot, so the gradient makes 8 passes over vecs (the function's 5, then 3), not 10 (issue 15)."""
    program = compile_source(LINEFIT, "<linefit>")
    fit, entry = derivative_program(program, "loss", ["m", "b"])
    fn = fit.function(entry)
    vec_ops = [s.expr.op for s in fn.body if isinstance(s, ir.Let) and isinstance(s.expr, ir.Prim)
               and any(isinstance(a, ir.Var) and a.type.is_array for a in s.expr.args) and s.expr.op != "len"]
    assert vec_ops == ["mul", "add", "sub", "pow", "mean", "mul", "sum", "dot"]


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
def test_the_dot_in_place_of_a_summed_product_changes_only_rounding(engine):
    program = compile_source(LINEFIT, "<linefit>")
    rng = np.random.default_rng(7)
    args = {"m": 1.7, "b": -0.3, "xs": rng.normal(size=257), "ys": rng.normal(size=257)}
    simplified = derivative_program(program, "loss", ["m", "b"])
    raw = derivative_program(program, "loss", ["m", "b"], simplify=False)
    assert "dot(xs, " in print_program(simplified[0]) and "dot(" not in print_program(raw[0])
    assert np.allclose(ENGINES[engine].run(*simplified, args).value, ENGINES[engine].run(*raw, args).value,
                       rtol=1e-13, atol=0)


def test_a_summed_product_of_vecs_not_known_as_long_stays_a_sum():
    """v and w may differ in length: `v * w` must fail there as written, not inside a dot."""
    def ops(text: str) -> list[str]:
        fn = simplify_function(compile_text(text).function("f"))
        return [s.expr.op for s in fn.body if isinstance(s, ir.Let) and isinstance(s.expr, ir.Prim)]

    assert ops("""
        def f(v: vec, w: vec) -> float:
            return sum(v * w)
    """) == ["mul", "sum"]
    assert ops("""
        def f(v: vec) -> float:
            let w = v * 2.0
            return sum(v * w)
    """) == ["mul", "dot"]


def test_lengths_not_known_equal_keep_the_array():
    """w may be longer than v: `f * w` must fail there as written, so f stays an array."""
    program = compile_text("""
        def f(v: vec, w: vec) -> vec:
            let n = len(v)
            let o = ones(n)
            let g = o * 2.0
            let r = g * w
            return r
    """)
    fn = simplify_function(program.function("f"))
    assert any(isinstance(s, ir.Let) and isinstance(s.expr, ir.Prim) and s.expr.op == "ones" for s in fn.body)
    with pytest.raises(RuntimeFault, match="different lengths"):
        run_function(ir.Program((fn,)), "f", {"v": np.ones(2), "w": np.ones(3)})


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
def test_a_number_updated_after_the_filled_array_was_made_is_not_broadcast(engine):
    """g = ones(n) * s holds s's value when g was made: once s is updated, `g * v` is not `s * v` (nor is
    `g * 3.0` a number made from s)."""
    program = compile_text("""
        def f(v: vec, c) -> vec:
            let n = len(v)
            let o = ones(n)
            let s = c
            let g = o * s
            s = s + 1.0
            let r = g * v
            let t = g * 3.0
            s = s + 1.0
            let w = t * v
            return r + w
    """)
    simplified = ir.Program((simplify_function(program.function("f")),))
    args = {"v": np.array([1.0, 2.0]), "c": 2.0}
    assert np.array_equal(ENGINES[engine].run(simplified, "f", args).value, [8.0, 16.0])


def test_a_vec_updated_to_another_length_joins_no_lengths():
    """y was made from d when d was empty, z when it held v: `g * z` (g as long as y) must still fail."""
    program = compile_text("""
        def f(v: vec, s) -> vec:
            let d: vec = zeros(0)
            let y = d * 1.0
            d = addto(d, v)
            let z = d * 2.0
            let o = ones(len(y))
            let g = o * s
            let r = g * z
            return r
    """)
    fn = simplify_function(program.function("f"))
    with pytest.raises(RuntimeFault, match="different lengths"):
        run_function(ir.Program((fn,)), "f", {"v": np.ones(3), "s": 2.0})


def test_lengths_known_equal_through_an_operation_of_both():
    """sum(v * w): v and w were multiplied, so they have one length, and the adjoint of each is the other times a
    number."""
    program = compile_text("""
        def f(v: vec, w: vec) -> float:
            return sum(v * w)
    """)
    text = print_program(derivative_program(program, "f", ["v", "w"])[0])
    assert "ones(" not in text


# In a run, arithmetic on arrays looks for a NaN only where numpy met an invalid operation (`made_nan`): every
# way of making one must still be found, at every size numpy's loops treat differently, in every engine.
NAN_MAKERS = [("a + b", "inf + -inf"), ("a - a", "inf - inf"), ("z * 0.0", "inf * 0.0"), ("a / a", "inf / inf"),
              ("addto(a, b)", "inf + -inf"), ("sum(a * 0.0 + a)", "inf * 0.0"), ("a @ (a * 0.0)", None)]


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
@pytest.mark.parametrize("n", [1, 3, 17, 1000, 100_001])
@pytest.mark.parametrize("expr, shown", NAN_MAKERS, ids=[e for e, _ in NAN_MAKERS])
def test_every_nan_arithmetic_makes_in_a_run_is_an_error(engine, n, expr, shown):
    program = compile_text(f"""
        def f(a: vec, b: vec, z: vec) -> float:
            let ok = z + 1.0
            let r = {expr}
            return sum(ok) + 1.0
    """)
    k = n // 2
    a, b, z = np.ones(n), np.ones(n), np.zeros(n)
    a[k], b[k], z[k] = math.inf, -math.inf, math.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeFault) as fault:
            ENGINES[engine].run(program, "f", {"a": a, "b": b, "z": z})
    assert fault.value.span.line == 3
    assert "is not a number (NaN)" in fault.value.message
    if shown is not None and n > 1:
        assert fault.value.message.startswith(f"{shown} at index {k} ")
    fine = ENGINES[engine].run(program, "f", {"a": np.ones(n), "b": np.ones(n), "z": np.zeros(n)}).value
    assert fine == n + 1.0


# ---------------------------------------------------------------- dead arrays written into again

BIG = POOLED + 1000  # floats: over POOLED, so dead arrays of this size go to the run's pool


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
def test_results_are_written_into_dead_arrays(engine, monkeypatch):
    """A chain of operations on a large vec makes two arrays; every later result reuses a dead one."""
    taken = []  # whether each take found a dead array (not the array: a reference would keep it from the pool)
    take = ArrayPool.take

    def counted(self, shape):
        found = take(self, shape)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(ArrayPool, "take", counted)
    program = compile_source(chain(8), "<chain>")
    v = np.linspace(0.0, 1.0, BIG)
    value = ENGINES[engine].run(program, "f", {"v": v}).value
    assert value == pytest.approx(float(np.sum(v * 1.5 + sum(range(1, 8)))), rel=1e-12)
    assert taken == [False, False] + [True] * 6


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
def test_an_array_another_holds_is_never_written_into(engine):
    """Dead in the env but still on the tape, or under another name, or returned: such arrays stay as they were."""
    program = compile_text("""
        def f(v: vec, A: mat) -> (float, vec):
            let a = v * 2.0
            push(a)
            let b = a + 1.0
            let alias = b
            let c = b * 3.0
            let d = c - 1.0
            let e = d / 2.0
            let M = A * 2.0
            let kept = M
            let N = exp(M * 0.001)
            let P = tanh(N) - 1.0
            let t: vec = pop()
            return sum(t) + sum(alias) * 10.0 + sum(kept) * 100.0 + sum(P), e
    """)
    v = np.linspace(-1.0, 1.0, BIG)
    A = np.linspace(0.0, 1.0, 2 * BIG).reshape(2, BIG)
    total, e = ENGINES[engine].run(program, "f", {"v": v, "A": A}).value
    a = v * 2.0
    b = a + 1.0
    M = A * 2.0
    P = np.tanh(np.exp(M * 0.001)) - 1.0
    assert total == pytest.approx(float(a.sum() + b.sum() * 10 + M.sum() * 100 + P.sum()), rel=1e-12)
    np.testing.assert_array_equal(e, ((b * 3.0) - 1.0) / 2.0)
    assert np.array_equal(v, np.linspace(-1.0, 1.0, BIG))
    assert np.array_equal(A, np.linspace(0.0, 1.0, 2 * BIG).reshape(2, BIG))


@pytest.mark.parametrize("engine", PLAIN_ENGINES)
def test_constant_operands_give_the_traced_runs_bits(engine):
    """A constant of `+ - *` on a short array, which the interpreter hands numpy as numpy's float made once
    (ints up to 2^53; 2^53 + 1 stays a Python int), on either side, gives the bits of the traced run, which
    evaluates through the registry with the constants as written."""
    program = compile_text("""
        def f(v: vec) -> vec:
            let a = 2 * v + v * 0.1
            let b = 3 - a - 1e-300
            let c = b * 9007199254740993 + (-7) * b
            return c - 0.3 * (c + 5)
    """)
    v = np.random.default_rng(3).normal(size=300)
    fast = ENGINES[engine].run(program, "f", {"v": v}).value
    traced = run_function(program, "f", {"v": v}, trace=True).value
    assert fast.dtype == traced.dtype and fast.tobytes() == traced.tobytes()


@pytest.mark.parametrize("v", [[1.5, -2.25, 1e-300] * 40, [math.inf, -math.inf], [], [1e308, 1e308, -math.inf]])
def test_sum_and_mean_of_a_vec_give_the_traced_runs_bits_and_errors(v):
    """The interpreter reduces a vec with numpy's add.reduce itself (the registry's function only for its
    errors): the same float, or the same error, as the traced run, which evaluates through the registry."""
    program = compile_text("""
        def f(v: vec) -> float:
            let w = v * 2.0
            return sum(w) + mean(w)
    """)

    def outcome(trace: bool):
        try:
            return run_function(program, "f", {"v": np.array(v, dtype=float)}, trace=trace).value
        except RuntimeFault as err:
            return str(err)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the prologue's NaN check of 1e308 overflows its dot product
        fast, traced = outcome(False), outcome(True)
    assert fast == traced and (isinstance(fast, str) or math.copysign(1.0, fast) == math.copysign(1.0, traced))
