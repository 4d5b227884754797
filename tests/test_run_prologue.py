"""The run prologue's quick path (arguments already of their parameters' types) against its general path, and the
ufuncs the engines call for `+ - *` on short arrays against the registry's evaluations (issue 15)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import compile_text

from adlang.interp import prologue as prologue_module
from adlang.interp.engines import ENGINES
from adlang.interp.prologue import prologue
from adlang.interp.runtime import ARRAY_UFUNCS, array_square
from adlang.ir.primitives import lookup
from adlang.ir.prims_scalar import run_quietly
from adlang.ir.types import FLOAT, INT, MAT, VEC
from adlang.lang.errors import AdlangError

PROGRAM = """
def f(x, k: int, on: bool, v: vec, w: vec(3), A: mat) -> float:
    return x
"""


def good() -> dict:
    return {"x": 1.5, "k": 3, "on": True, "v": np.linspace(0.0, 1.0, 1000), "w": np.ones(3),
            "A": np.arange(6.0).reshape(2, 3)}


def general(program, args):
    """The prologue with the quick path's cache out of the way: the general path every error comes from."""
    return prologue_module._prologue(program, "f", args)


def outcome(run, program, args):
    try:
        fn, values = run(program, args)
    except AdlangError as err:
        return type(err), err.message, err.span
    return fn.name, [(type(v), v.tolist() if isinstance(v, np.ndarray) else v) for v in values]


def nan_at(n: int, k: int) -> np.ndarray:
    v = np.ones(n)
    v[k] = math.nan
    return v


def strided_nan() -> np.ndarray:
    v = np.ones(2001)
    v[1000] = math.nan
    return v[::2]  # a view: a NaN at element 501


CHANGES = [
    {}, {"x": math.nan}, {"x": math.inf}, {"x": 2}, {"x": np.float64(2.5)}, {"k": 2**63}, {"k": 2.0}, {"k": True},
    {"on": 1}, {"v": nan_at(1000, 999)}, {"v": nan_at(1, 0)}, {"v": np.array([math.inf, -math.inf])},
    {"v": np.zeros(0)}, {"v": [1.0, 2.0]}, {"v": np.arange(4)}, {"v": np.ones(4, dtype=np.float32)},
    {"v": strided_nan()}, {"v": np.ones((2, 2))}, {"w": np.ones(4)}, {"w": nan_at(3, 1)}, {"A": np.ones(3)},
    {"A": np.array([[1.0, math.nan]])}, {"A": np.ones((2, 2))}, {"z": 1.0}, {"v": None},
]


@pytest.mark.parametrize("change", CHANGES, ids=[repr(c)[:40] for c in CHANGES])
def test_the_quick_path_gives_what_the_general_path_gives(change):
    program = compile_text(PROGRAM)
    args = {**good(), **change}
    if "z" in change:
        del args["x"]
    assert outcome(lambda p, a: prologue(p, "f", a), program, args) == outcome(general, program, args)


def test_vecs_of_arguments_are_passed_as_they_are():
    program = compile_text(PROGRAM)
    args = good()
    _, values = prologue(program, "f", args)
    assert values[3] is args["v"] and values[5] is args["A"]


@pytest.mark.parametrize("op", sorted(ARRAY_UFUNCS))
@pytest.mark.parametrize("types", [(VEC, VEC), (VEC, FLOAT), (FLOAT, VEC), (INT, VEC), (MAT, MAT), (MAT, FLOAT)])
def test_the_ufunc_of_an_operation_is_what_the_registry_computes(op, types):
    """Bit for bit, infs included; the registry's evaluation is the pooled elementwise one the engines replace."""
    rng = np.random.default_rng(7)

    def value(t, k):  # an inf at another place in each operand: no inf - inf, which is the registry's error
        if t == VEC:
            v = np.append(rng.normal(size=30), -0.0)
            v[k] = math.inf
            return v
        if t == MAT:
            return rng.normal(size=(4, 8)) * 1e300
        return 3 if t == INT else -2.5

    checked = lookup(op).evaluator(types)
    assert getattr(checked, "pooled", False)
    a, b = value(types[0], 0), value(types[1], 1)
    with run_quietly():
        want = checked.quiet(a, b)
        got = ARRAY_UFUNCS[op](a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("exponent", [2, 2.0])
@pytest.mark.parametrize("base", [VEC, MAT])
def test_a_square_is_what_the_registry_computes(base, exponent):
    program = compile_text(f"def f(a: {base}) -> {base}:\n    let r = a ^ {exponent}\n    return r\n")
    expr = program.function("f").body[0].expr
    assert array_square(expr)
    checked = lookup("pow").evaluator(tuple(a.type for a in expr.args))
    a = np.linspace(-1e200, 1e200, 12).reshape((12,) if base == VEC else (3, 4))
    with run_quietly():
        want = checked.quiet(a, exponent)
        got = np.square(a)  # overflows to inf, as the registry's
    assert np.array_equal(got, want) and want.dtype == np.float64 and np.isinf(got).any()


@pytest.mark.parametrize("engine", [name for name in ENGINES if ENGINES[name].missing() is None])
def test_a_vec_whose_squares_overflow_runs_without_a_warning(engine):
    """The one-pass NaN check of a vec argument (v.dot(v)) overflows for elements past 1e154: an inf is a value
    in adlang, so numpy must not print its overflow warning on stderr."""
    program = compile_text("def f(v: vec) -> float:\n    return sum(v)\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ENGINES[engine].run(program, "f", {"v": np.array([1e200, 2e200])}).value == 3e200
