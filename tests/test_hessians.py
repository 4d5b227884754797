"""Hessians over vecs of any length by Hessian-vector products: every mode pair, both engines, against calculus."""

from __future__ import annotations

import numpy as np
import pytest

import adlang

CHAIN = """\
def f(v: vec, x) -> float:
    let s = 0.0
    for i in 0..len(v) - 1:
        s += sin(v[i]) * v[i + 1]
    return x * sum(v * v) + s
"""
PAIRS = ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"]


def calculus(v: np.ndarray, x: float) -> tuple[np.ndarray, np.ndarray, float]:
    """d2f/dv2, d2f/dv dx and d2f/dx2 of CHAIN, by hand."""
    n = len(v)
    h = np.diag(np.full(n, 2 * x))
    for i in range(n - 1):
        h[i, i] -= np.sin(v[i]) * v[i + 1]
        h[i, i + 1] += np.cos(v[i])
        h[i + 1, i] += np.cos(v[i])
    return h, 2 * v, 0.0


@pytest.mark.parametrize("mode", PAIRS)
@pytest.mark.parametrize("engine", ["interp", "compiled"])
@pytest.mark.parametrize("n", [0, 1, 60])
def test_long_vec_hessians_in_every_mode_pair(mode, engine, n):
    v = np.random.default_rng(n).uniform(-1.5, 1.5, n)
    result = adlang.compile(CHAIN).grad(args={"v": v, "x": 0.7}, wrt=["v", "x"], order=2, mode=mode, engine=engine)
    hvv, hvx, hxx = calculus(v, 0.7)
    assert result.hessian["v"]["v"].shape == (n, n)
    assert np.allclose(result.hessian["v"]["v"], hvv, rtol=1e-12, atol=1e-13)
    assert np.allclose(result.hessian["v"]["x"], hvx, rtol=1e-12, atol=1e-13)
    assert np.allclose(result.hessian["x"]["v"], hvx, rtol=1e-12, atol=1e-13)
    assert result.hessian["x"]["x"] == hxx
    assert np.allclose(result.grad["v"], 2 * 0.7 * v + np.r_[np.cos(v[:-1]) * v[1:], 0] + np.r_[0, np.sin(v[:-1])]
                       if n else np.zeros(0))


def test_the_program_size_does_not_grow_with_the_vec():
    """One Hessian-vector product program serves every length: the steps of a run per direction stay the same."""
    prog = adlang.compile(CHAIN)
    per_direction = []
    for n in (10, 100):
        run = prog.grad(args={"v": np.ones(n), "x": 1.0}, wrt=["v"], order=2, engine="compiled")
        gradient = prog.grad(args={"v": np.ones(n), "x": 1.0}, wrt=["v"], engine="compiled")
        per_direction.append((run.stats["steps"] - gradient.stats["steps"]) / n / n)
    assert per_direction[1] == pytest.approx(per_direction[0], rel=0.2)  # O(n) per direction, n directions
