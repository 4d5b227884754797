"""bench/run.py section 4 on tiny sizes: its hand-written reverse sweep and its bookkeeping (no timing is checked)."""

from __future__ import annotations

import argparse
import importlib.util
import sys

import numpy as np
import pytest
from helpers import ROOT

from adlang.interp.compiled import run_compiled
from adlang.interp.engines import ENGINES
from adlang.interp.interpreter import run_function
from adlang.ir.derive import derivative_program
from adlang.pipeline import compile_source


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["bench_run"]


@pytest.mark.parametrize("n", [0, 1, 7, 250])
def test_hand_written_reverse_sweep_is_adlangs_gradient_bit_for_bit(bench, n):
    program = compile_source(bench.SOURCE, "bench/run.py")
    derived, entry = derivative_program(program, "foo", ["x", "y"], "reverse")
    args = {"x": bench.LOOP_X, "y": 1.01, "n": n}
    hand = bench.python_gradient(bench.LOOP_X, 1.01, n)
    assert run_function(derived, entry, args).value == hand
    assert run_compiled(derived, entry, args).value == hand
    assert bench.python_primal(bench.LOOP_X, 1.01, n) == hand[0]


def tiny_config(**extra) -> argparse.Namespace:
    cfg = dict(loop_ns=[10, 40], strategies=["none", "every:3", "sqrt", "every:0"], repeats=1, min_time=1e-4,
               long_run=1.0, autograd_budget=1e-9)
    cfg.update(extra)
    return argparse.Namespace(**cfg)


def test_section_4_rows_targets_and_skips(bench, monkeypatch):
    monkeypatch.setattr(bench, "autograd_gradient", lambda: None)
    program = compile_source(bench.SOURCE, "bench/run.py")
    out = bench.bench_loop_vs_python(program, tiny_config())
    assert list(out["skipped_strategies"]) == ["every:0"]  # a UsageError: skipped, the others run
    assert {(r["n"], r["engine"], r["strategy"]) for r in out["rows"]} == {
        (n, e, s) for n in (10, 40) for e in ("interp", "compiled") for s in ("none", "every:3", "sqrt")}
    for r in out["rows"]:
        assert r["gradient_ok"] and r["function_ok"]
        assert r["peak_memory_bytes"] > 0
        twin = bench._row(out["rows"], r["n"], "interp", r["strategy"])
        assert (r["steps"], r["tape_peak"]) == (twin["steps"], twin["tape_peak"])
    assert bench._row(out["rows"], 40, "interp", "none")["tape_peak"] == 40
    assert all(ref["autograd"] == {"installed": False, "skipped": True, "reason": ref["autograd"]["reason"]}
               and "not installed" in ref["autograd"]["reason"] for ref in out["references"])
    names = [t["target"] for t in out["targets"]]
    assert "sqrt: tape_peak" in names and "compiled gradient vs hand-written Python reverse sweep" in names
    assert all(t["pass"] in (True, False, None) and t["where"] for t in out["targets"])


def test_autograd_over_budget_is_extrapolated_not_run(bench):
    calls = []

    def fake(x, y, n):
        calls.append(n)
        value, dx, dy = bench.python_gradient(x, y, n)
        return value, (dx, dy)

    cfg = tiny_config()
    first = bench.autograd_case(fake, 10, cfg, None, bench.python_gradient(bench.LOOP_X, bench.LOOP_Y, 10))
    assert not first["skipped"] and first["gradient_ok"] and calls
    calls.clear()
    second = bench.autograd_case(fake, 1000, cfg, (10, 0.5), None)  # 0.5 s at n = 10: ~50 s at n = 1000
    assert second["skipped"] and second["estimated_s"] == pytest.approx(50.0) and calls == []


def test_autograd_when_installed_agrees(bench):
    pytest.importorskip("autograd")
    value, (dx, dy) = bench.autograd_gradient()(bench.LOOP_X, 1.01, 25)
    assert (value, dx, dy) == pytest.approx(bench.python_gradient(bench.LOOP_X, 1.01, 25), rel=1e-12)


def test_section_5_times_the_api_against_the_engine_alone(bench):
    rows = bench.bench_api(tiny_config(api_ns=[3, 30]))
    available = [name for name, engine in ENGINES.items() if engine.missing() is None]
    assert {(r["n"], r["engine"]) for r in rows} == {(n, e) for n in (3, 30) for e in available}
    assert all(r["ok"] and r["first_call_s"] > 0 and r["ratio"] > 0 for r in rows)


def test_section_8_hessians_by_hvps_are_right_and_over_budget_skipped(bench, monkeypatch):
    monkeypatch.setattr(bench, "jax_hessian_peers", lambda: None)
    cfg = tiny_config(hessian_vec_ns=[3, 12], hessian_vec_engines=["interp", "compiled"], hessian_budget=20.0)
    out = bench.bench_hessian_vec(cfg)
    assert {(r["n"], r["engine"], r["pair"]) for r in out["rows"]} == {
        (n, e, p) for n in (3, 12) for e in ("interp", "compiled") for p in bench.HESSIAN_VEC_PAIRS}
    for r in out["rows"]:
        assert r["hvp_ok"] and r["hessian_ok"] and not r["hessian_skipped"] and r["over_jax"] is None
        assert r["hvp_ratio"] == pytest.approx(r["hvp_s"] / r["f_s"])
    assert all(not peer["installed"] and "not installed" in peer["reason"] for peer in out["jax"])
    skipped = bench.bench_hessian_vec(tiny_config(hessian_vec_ns=[5], hessian_vec_engines=["interp"],
                                                  hessian_budget=1e-9))
    assert all(r["hessian_skipped"] and r["hessian_estimated_s"] > 0 and r["hvp_ok"] for r in skipped["rows"])


def test_section_8_jax_peer_when_installed_agrees(bench):
    pytest.importorskip("jax")
    v = np.linspace(-1, 1, 6)
    peer = bench.jax_case(bench.jax_hessian_peers(), v, np.ones(6), bench.second_order_expected(v)[2], tiny_config())
    assert peer["installed"] and peer["hvp_ok"] and peer["hessian_ok"]


def test_section_7_checks_its_gradients_against_numpy_and_judges_every_row(bench, monkeypatch):
    monkeypatch.setattr(bench, "LOGREG_SHAPE", (50, 3))
    out = bench.bench_vectorised(tiny_config(vec_fit_ns=[5, 40]))
    assert {(r["n"], r["engine"]) for r in out["linefit"]} == {(n, e) for n in (5, 40) for e in bench.VEC_ENGINES}
    assert all(r["gradient_ok"] and r["function_bytes"] > 0 and r["gradient_bytes"] > 0 for r in out["linefit"])
    native = [] if ENGINES["native"].missing() else ["native"]  # logistic regression natively too
    assert [r["engine"] for r in out["logreg"]] == [*bench.VEC_ENGINES, *native]
    assert all(r["gradient_ok"] and r["shape"] == [50, 3] for r in out["logreg"])
    worst_fit = max(r["over_numpy"] for r in out["linefit"])
    assert out["targets"][0]["worst"] == worst_fit and out["targets"][0]["pass"] == (worst_fit <= 2.0)
    assert out["targets"][3]["worst"] == max(r["over_numpy"] for r in out["logreg"])


def test_section_7s_numpy_gradients_are_the_derivatives(bench):
    """The hand-written peers against finite differences, so a ratio is against a right gradient."""
    args = bench.linefit_data(30)
    value, dm, db = bench.numpy_linefit(args["m"], args["b"], args["xs"], args["ys"])
    h = 1e-6
    fd_m = (bench.numpy_linefit(args["m"] + h, args["b"], args["xs"], args["ys"])[0]
            - bench.numpy_linefit(args["m"] - h, args["b"], args["xs"], args["ys"])[0]) / (2 * h)
    assert dm == pytest.approx(fd_m, rel=1e-6) and value > 0
    data = bench.logreg_data(40, 3)
    loss, dw, dbias = bench.numpy_logreg(data["X"], data["y"], data["w"], data["b"])
    for k in range(3):
        step = np.eye(3)[k] * h
        fd = (bench.numpy_logreg(data["X"], data["y"], data["w"] + step, data["b"])[0]
              - bench.numpy_logreg(data["X"], data["y"], data["w"] - step, data["b"])[0]) / (2 * h)
        assert dw[k] == pytest.approx(fd, rel=1e-6)
    fd_b = (bench.numpy_logreg(data["X"], data["y"], data["w"], data["b"] + h)[0]
            - bench.numpy_logreg(data["X"], data["y"], data["w"], data["b"] - h)[0]) / (2 * h)
    assert dbias == pytest.approx(fd_b, rel=1e-6)
