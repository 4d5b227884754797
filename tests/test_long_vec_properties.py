"""Second-order properties on long vecs, on random programs (tests/strategies.py).

A random `main(x0, ..., [n,] v)` takes a vec of length 3. Slid along a long vec w (length 52, past the old
limit of 50 elements) two elements at a time, `long_(w, x0, ...) = sum_k main(x0, ..., [w[2k], w[2k+1],
w[2k+2]])` is a function of a long vec whose Hessian is known without it: the sum, window by window, of
main's Hessian with respect to v and the floats, shifted to the window's place (main's Hessian, at length 3,
is held to finite differences by test_derivative_properties.py). So, whatever the program:

- the Hessian with respect to w and the floats, in the mode pairs whose inner mode is reverse (one H u per
  element, each the cost of a few runs of long_), is that sum, symmetric, and exactly 0 between elements of w
  that no window holds together;
- one Hessian-vector product H u along a random u, in every mode pair (a forward inner mode costs a pass per
  element of w for one H u, so the Hessian is built only by the reverse ones), is that sum times u.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from strategies import generated, points

from adlang.derivatives import compute, compute_hvp
from adlang.pipeline import compile_source

LENGTH = 52
WINDOW = 3
STRIDE = 2  # consecutive windows share an element: their Hessians add up there
ENGINE = "compiled"


def close(a, b, rel: float = 1e-9, floor: float = 1e-9) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rel * np.maximum(np.abs(a), np.abs(b)) + floor))


def slid(source: str, params) -> str:
    """The random program and `long_`, which slides main's vec `v` along a long vec `wlong`."""
    typed = ", ".join(f"{p.name}: {p.type}" for p in params if p.name != "v")
    passed = ", ".join("vlong" if p.name == "v" else p.name for p in params)
    window = ", ".join(f"wlong[klong + {k}]" for k in range(WINDOW))
    return (source + f"\ndef long_(wlong: vec, {typed}) -> float:\n    let total = 0.0\n    let klong = 0\n"
            f"    while klong + {WINDOW} <= len(wlong):\n        let vlong = [{window}]\n"
            f"        total += main({passed})\n        klong += {STRIDE}\n    return total\n")


@st.composite
def long_cases(draw):
    gen = draw(generated(smooth=draw(st.booleans())))
    assume("v" in gen.arg_names)
    args = draw(points(gen.arg_names))
    coordinate = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
    w = np.array(draw(st.lists(coordinate, min_size=LENGTH, max_size=LENGTH)))
    floats = [name for name in gen.arg_names if name not in ("n", "v")]
    chosen = draw(st.lists(st.sampled_from(floats), unique=True, max_size=len(floats)))
    wrt = [name for name in floats if name in chosen]
    u = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=LENGTH + len(wrt), max_size=LENGTH + len(wrt))))
    note(gen.source)
    note(f"args: {args}, w: {w.tolist()}, wrt: w and {wrt}, u: {u.tolist()}")
    return gen, args, w, wrt, u


def by_windows(program, args: dict, w: np.ndarray, wrt: list[str]) -> np.ndarray:
    """long_'s Hessian over (w's elements, the floats), from main's Hessians at each window."""
    size = len(w) + len(wrt)
    total = np.zeros((size, size))
    places = [*range(WINDOW), *range(len(w), size)]  # main's rows (v's elements, the floats) in long_'s
    built: dict = {}
    for k in windows(len(w)):
        at = {**args, "v": w[k:k + WINDOW]}
        h = compute(program, "main", at, wrt=["v", *wrt], mode="reverse-over-reverse", order=2, engine=ENGINE,
                    cache=built).hessian
        names = ["v", *wrt]
        blocks = np.block([[np.asarray(h[p][q], dtype=float).reshape(WINDOW if p == "v" else 1,
                                                                     WINDOW if q == "v" else 1)
                            for q in names] for p in names])
        rows = [k + i if i < WINDOW else i for i in places]
        total[np.ix_(rows, rows)] += blocks
    return total


def windows(length: int) -> range:
    """Where long_'s windows start."""
    return range(0, length - WINDOW + 1, STRIDE)


def as_matrix(h: dict, wrt: list[str], length: int) -> np.ndarray:
    names = ["wlong", *wrt]
    return np.block([[np.asarray(h[p][q], dtype=float).reshape(length if p == "wlong" else 1,
                                                                length if q == "wlong" else 1)
                      for q in names] for p in names])


def prepared(case):
    """The random program, long_ and their arguments, main's summed Hessian, and long_'s direction u."""
    gen, args, w, wrt, u = case
    small = compile_source(gen.source, "<generated>")
    program = compile_source(slid(gen.source, small.function("main").params), "<slid>")
    long_args = {"wlong": w, **{k: v for k, v in args.items() if k != "v"}}
    direction = {"wlong": u[:LENGTH], **{name: float(x) for name, x in zip(wrt, u[LENGTH:])}}
    return program, long_args, ["wlong", *wrt], by_windows(small, args, w, wrt), direction, u


def assert_hvp(program, long_args, names, expected, direction, u, pair, built: dict | None = None):
    run = compute_hvp(program, "long_", long_args, direction, wrt=names, mode=pair, engine=ENGINE, cache=built)
    hu = np.concatenate([np.atleast_1d(np.asarray(run.hvp[name], dtype=float)) for name in names])
    assert close(hu, expected @ u), f"{pair}: H u differs by up to {np.max(np.abs(hu - expected @ u)):.3e}"


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(long_cases())
def test_long_vec_hessians_by_a_reverse_inner_mode_are_main_s_windows_summed(case):
    program, long_args, names, expected, direction, u = prepared(case)
    built: dict = {}  # the Hessian and H u share their program
    for pair in ("forward-over-reverse", "reverse-over-reverse"):
        h = as_matrix(compute(program, "long_", long_args, wrt=names, mode=pair, order=2, engine=ENGINE,
                              cache=built).hessian, names[1:], LENGTH)
        assert close(h, h.T), f"{pair}: not symmetric"
        assert close(h, expected), f"{pair}: largest difference {np.max(np.abs(h - expected)):.3e}"
        together = np.zeros((LENGTH, LENGTH), dtype=bool)
        for k in windows(LENGTH):
            together[k:k + WINDOW, k:k + WINDOW] = True
        assert np.all(h[:LENGTH, :LENGTH][~together] == 0.0), f"{pair}: entries between elements no window holds"
        assert_hvp(program, long_args, names, expected, direction, u, pair, built)


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(long_cases())
def test_long_vec_hvps_by_a_forward_inner_mode_are_main_s_windows_summed(case):
    """A forward inner mode costs a pass per element of w for one H u: fewer examples."""
    program, long_args, names, expected, direction, u = prepared(case)
    for pair in ("forward-over-forward", "reverse-over-forward"):
        assert_hvp(program, long_args, names, expected, direction, u, pair)
