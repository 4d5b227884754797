"""Every example's Hessian in every mode pair, past the old limit of 50 elements where the example takes vecs.

Each example under programs/ with float or vec parameters to differentiate by (a mat's Hessian is refused,
so mats are left out of `wrt`) is run with its vecs lengthened so that the Hessian has more than 50 rows:
every vec (and every mat dimension) of the example gets the same length L, enough for the vecs differentiated
by to hold more than 50 elements together, with values drawn from the range of the example's own. The four mode
pairs must agree with each other to 1e-9, the Hessian must be symmetric, and `check --order 2` (two pairs
against central differences of the gradient) must pass.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import PROGRAM_PATHS, load_example

from adlang.checks import check_hessian
from adlang.derivatives import compute
from adlang.ir import nodes as ir

PAIRS = ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"]
PAST = 50  # the old element-by-element limit


def sized(path) -> tuple[ir.Program, str, dict, list[str]]:
    """The example with its vecs and mats lengthened, and the parameters its Hessian is taken by."""
    ex = load_example(path)
    fn = ex.program.function(ex.fn)
    wrt = [w for w in ex.wrt if np.ndim(ex.args[w]) < 2]
    vecs_by = [w for w in wrt if isinstance(ex.args[w], np.ndarray)]
    floats_by = len(wrt) - len(vecs_by)
    length = math.ceil((PAST + 1 - floats_by) / len(vecs_by)) if vecs_by else PAST + 1
    rng = np.random.default_rng(sum(map(ord, path.stem)))
    args = dict(ex.args)
    for p in fn.params:
        value = ex.args[p.name]
        if p.type.kind == "vec" and p.type.length is None:
            args[p.name] = rng.uniform(np.min(value), np.max(value), length)
        elif p.type.kind == "mat" and p.type.shape is None:
            args[p.name] = rng.uniform(np.min(value), np.max(value), (length, length))
    return ex.program, ex.fn, args, wrt


EXAMPLES = [path for path in PROGRAM_PATHS if load_example(path).wrt
            and any(np.ndim(load_example(path).args[w]) < 2 for w in load_example(path).wrt)]


def matrix(hessian: dict, wrt: list[str], args: dict) -> np.ndarray:
    sizes = [np.size(args[w]) if isinstance(args[w], np.ndarray) else 1 for w in wrt]
    return np.block([[np.asarray(hessian[p][q], dtype=float).reshape(sp, sq) for q, sq in zip(wrt, sizes)]
                     for p, sp in zip(wrt, sizes)])


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b))))) if a.size else 0.0


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_example_hessian_in_every_mode_pair(path):
    program, fn, args, wrt = sized(path)
    by_pair = {m: matrix(compute(program, fn, args, wrt=wrt, mode=m, order=2, engine="compiled").hessian, wrt, args)
               for m in PAIRS}
    size = by_pair[PAIRS[0]].shape[0]
    if any(isinstance(args[w], np.ndarray) for w in wrt):
        assert size > PAST
    reference = by_pair["reverse-over-reverse"]
    assert np.all(np.isfinite(reference))
    assert relative(reference, reference.T) <= 1e-9, "not symmetric"
    for pair, h in by_pair.items():
        assert relative(h, reference) <= 1e-9, f"{pair} vs reverse-over-reverse: {relative(h, reference):.1e}"
    outcome = check_hessian(program, fn, args, wrt, engine="compiled")
    bad = [(r.name, r.forward, r.finite, r.note) for r in outcome.rows if r.errors()[1] > outcome.fd_tol][:5]
    assert outcome.ok, f"against central differences of the gradient: {bad}"
    assert np.allclose([r.reverse for r in outcome.rows], reference.T.ravel(), rtol=1e-12, atol=1e-14)
