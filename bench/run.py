"""Benchmarks for adlang: interpreter speed, the cost of a gradient and of second derivatives.

    python bench/run.py [--quick] [--sections 1,2,3,4,5,6,7,8,startup] [--vec-long] [--out bench/results/latest.json]

Sections (see bench/README.md for how to read them):

1. interpreter speed: statements executed per second on a counted loop, trace off and on;
2. cost of a gradient: time(gradient) / time(function) for reverse and forward mode, on the
   loop program at a large trip count and on functions of one vec of n floats;
3. cost of second derivatives: the full Hessian of a function of n float parameters in each of
   the four mode pairs, and one Hessian-vector product written with `grad`, against the function;
4. the loop's gradient in both engines and each checkpoint strategy (time, tape_peak, peak
   memory) beside plain Python (the loop, and a hand-written reverse sweep) and HIPS autograd,
   with issue 6's targets and a pass/fail verdict for each;
5. the Python API called in a loop;
6. the native engine (issue 14): the loop's and the Euler oscillator's gradients beside the compiled
   engine, hand-written reverse sweeps in numba and plain Python, and jax; revolve against its schedule;
   the targets;
7. vectorised code beside numpy: the line fit's gradient against numpy's hand-written one and its own
   function (time and peak memory, n = 10^3 to 10^6, 10^7 with --vec-long), logistic regression on a
   20000 x 10 mat, with issue 15's targets;
8. Hessians over a long vec (issue 16): one Hessian-vector product against 15x the function and the Hessian
   against 20 n times the function, in each engine, beside jax.jit(jax.hessian);
startup. `adlang run programs/lecture/foo.ad x=2 y=3 --grad x,y` against `python -c "import numpy"` (issue 17:
   at most 2x), whole processes;

and everything also goes to one JSON file, with the machine it ran on.

Only running the program is timed (`run_function`, and `run_compiled` in section 4, whose generated
code is cached per program after the first run); building the derivative program is not.
Each number is the best of a few repeats (time.perf_counter, garbage collector off while
timing, as timeit does); runs shorter than --min-time are batched and divided.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

# One core for numpy as for adlang's engines: OpenBLAS would split a dot product of 10^5 floats over both
# cores, and on a machine with other work that waiting costs milliseconds (section 7's numpy peers were 5x
# slower at n = 10^5). Set before numpy loads; the environment may say otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adlang.interp import engines as engine_table
from adlang.interp.interpreter import run_function
from adlang.ir import nodes as ir
from adlang.ir.derive import derivative_program
from adlang.lang.errors import UsageError
from adlang.pipeline import compile_source

MAX_STEPS = 10**11

SOURCE = """\
# The lecture's loop (programs/lecture/loop.ad) with the trip count as a parameter.
def foo(x, y, n: int):
    let accum = x
    for i in 0..n:
        accum = accum * y
    return accum

# A function of n floats, given as one vec, written as a scalar loop ...
def f(v: vec) -> float:
    let s = 0.0
    for i in 0..len(v):
        s = s + sin(v[i]) * v[i]
    return s

# ... and vectorised.
def g(v: vec) -> float:
    return sum(sin(v) * v)
"""

LOOP_X = 1.5
LOOP_Y = 1.0000001  # close to 1 so y^n neither overflows nor underflows at n = 10^6

# Tables are wide; when piped (not a terminal) rich would wrap them at 80 columns.
console = Console(width=None if sys.stdout.isatty() else 150)


# ---------------------------------------------------------------- timing


def measure(run: Callable[[], object], repeats: int, min_time: float, long_run: float) -> dict:
    """Best time of one call; see `measure_group`."""
    return measure_group({"run": run}, repeats, min_time, long_run)["run"]


def measure_group(runs: dict[str, Callable[[], object]], repeats: int, min_time: float,
                  long_run: float) -> dict[str, dict]:
    """Best time of one call of each run over `repeats` samples; short calls are batched to at least `min_time`.

    The runs are sampled in turn, round after round, so that a load that comes and goes on a
    shared machine hits all of them alike and their ratios stay meaningful. The first call of
    each is a warm-up; if it already took `long_run` seconds or more it counts as a sample
    (so a 10 s run is not repeated more than needed) and no batching happens.
    """
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        number: dict[str, int] = {}
        samples: dict[str, list[float]] = {}
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            first = time.perf_counter() - t0
            long = first >= long_run
            number[name] = 1 if long else max(1, math.ceil(min_time / max(first, 1e-7)))
            samples[name] = [first] if long else []
        for _ in range(repeats):
            for name, run in runs.items():
                if len(samples[name]) >= repeats:
                    continue
                t0 = time.perf_counter()
                for _ in range(number[name]):
                    run()
                samples[name].append((time.perf_counter() - t0) / number[name])
    finally:
        if gc_was_on:
            gc.enable()
    return {name: {"best_s": min(samples[name]), "median_s": statistics.median(samples[name]),
                   "samples_s": samples[name], "number": number[name]} for name in runs}


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_rate(per_second: float) -> str:
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f} M/s"
    return f"{per_second / 1e3:.1f} k/s"


def close(a, b, tol: float = 1e-7) -> bool:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return bool(np.all(np.abs(a - b) <= tol * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))))


# ---------------------------------------------------------------- machine


def machine_info() -> dict:
    info = {
        "date": dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or _cpu_model(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy_version": np.__version__,
        "load_average_at_start": _load(),
    }
    info.update(_git())
    return info


def _load() -> list[float] | None:
    """1, 5 and 15 minute load averages: above the CPU count, other work competed for the CPUs."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _git() -> dict:
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": rev, "git_dirty": bool(dirty)}


# ---------------------------------------------------------------- section 1: interpreter speed


def bench_interpreter(program: ir.Program, cfg: argparse.Namespace) -> list[dict]:
    rows = []
    for n in cfg.interp_ns:
        for trace in (False, True):
            if trace and n != min(cfg.interp_ns):
                continue
            args = {"x": LOOP_X, "y": LOOP_Y, "n": n}
            result = run_function(program, "foo", args, trace=trace, max_steps=MAX_STEPS)
            steps, value = result.steps, result.value
            del result  # don't keep the trace alive while timing
            timing = measure(lambda a=args, t=trace: run_function(program, "foo", a, trace=t, max_steps=MAX_STEPS),
                             cfg.repeats, cfg.min_time, cfg.long_run)
            ok = close(value, LOOP_X * LOOP_Y**n, 1e-9)
            rows.append({"n": n, "trace": trace, "steps": steps, "time_s": timing["best_s"],
                         "steps_per_s": steps / timing["best_s"], "value_ok": ok, "timing": timing})
    table = Table(title="1. Interpreter speed: foo(x, y, n) = x * y^n as a counted loop")
    for col in ("n", "trace", "statements", "best time", "statements/s", "ns/statement", "value"):
        table.add_column(col, justify="left" if col in ("trace", "value") else "right")
    for r in rows:
        table.add_row(f"{r['n']:,}", "on" if r["trace"] else "off", f"{r['steps']:,}", fmt_time(r["time_s"]),
                      fmt_rate(r["steps_per_s"]), f"{1e9 / r['steps_per_s']:.0f}",
                      "ok" if r["value_ok"] else "WRONG")
    console.print(table)
    return rows


# ---------------------------------------------------------------- section 2: cost of a gradient


def gradient_case(program: ir.Program, fn: str, args: dict, wrt: list[str], expected: dict, cfg: argparse.Namespace,
                  forward_estimate: float | None) -> dict:
    """Time fn and its reverse/forward gradient programs on the same arguments; ratios against fn."""
    base = run_function(program, fn, args, max_steps=MAX_STEPS)
    row = {"function": fn, "args": _describe(args), "wrt": wrt, "steps": base.steps}
    runs = {"function": lambda: run_function(program, fn, args, max_steps=MAX_STEPS)}
    results = {}
    for mode in ("reverse", "forward"):
        if mode == "forward" and forward_estimate is not None and forward_estimate > cfg.forward_budget:
            known = math.isfinite(forward_estimate)
            why = f"estimated {forward_estimate:.0f} s" if known else "no smaller run to estimate from"
            row[mode] = {"skipped": True, "estimated_s": forward_estimate if known else None,
                         "reason": f"{why} > budget {cfg.forward_budget:.0f} s"}
            continue
        derived, entry = derivative_program(program, fn, wrt, mode=mode)  # built once, not timed
        results[mode] = run_function(derived, entry, args, max_steps=MAX_STEPS)
        runs[mode] = lambda d=derived, e=entry: run_function(d, e, args, max_steps=MAX_STEPS)
    timings = measure_group(runs, cfg.repeats, cfg.min_time, cfg.long_run)
    base_s = timings["function"]["best_s"]
    row.update(time_s=base_s, timing=timings["function"])
    for mode, result in results.items():
        value, *grads = result.value
        ok = close(value, base.value, 1e-12) and all(close(g, expected[w]) for g, w in zip(grads, wrt))
        timing = timings[mode]
        row[mode] = {"skipped": False, "steps": result.steps, "time_s": timing["best_s"],
                     "ratio": timing["best_s"] / base_s, "steps_ratio": result.steps / base.steps,
                     "gradient_ok": ok, "timing": timing}
    return row


def _describe(args: dict) -> dict:
    return {k: (f"vec({len(v)})" if isinstance(v, np.ndarray) else v) for k, v in args.items()}


def bench_loop_gradient(program: ir.Program, cfg: argparse.Namespace) -> dict:
    n = cfg.grad_loop_n
    args = {"x": LOOP_X, "y": LOOP_Y, "n": n}
    expected = {"x": LOOP_Y**n, "y": n * LOOP_X * LOOP_Y ** (n - 1)}
    row = gradient_case(program, "foo", args, ["x", "y"], expected, cfg, None)
    row["n"] = n
    table = Table(title=f"2a. Cost of a gradient: foo(x, y, n = {n:,}), d/dx and d/dy")
    _ratio_columns(table, "n")
    _ratio_rows(table, f"{n:,}", row)
    console.print(table)
    return row


def bench_vec_gradient(program: ir.Program, cfg: argparse.Namespace) -> dict:
    out = {}
    titles = {"f": escape("2b. Cost of a gradient: f(v) = Σ sin(v[i]) * v[i] as a scalar loop, d/dv, v of length n"),
              "g": escape("2c. Cost of a gradient: g(v) = sum(sin(v) * v) vectorised, d/dv, v of length n")}
    for fn in ("f", "g"):
        rows = []
        previous: tuple[int, float] | None = None  # (n, forward seconds) to extrapolate the next forward run
        for n in cfg.vec_ns:
            rng = np.random.default_rng(n)
            v = rng.uniform(-2.0, 2.0, n)
            expected = {"v": np.sin(v) + v * np.cos(v)}
            estimate = None  # forward mode always runs up to the cap; beyond it, only if it fits the budget
            if n > cfg.forward_cap:
                # forward mode runs the function once per unit direction, O(n) each: O(n^2) in all
                estimate = math.inf if previous is None else previous[1] * (n / previous[0]) ** 2
            row = gradient_case(program, fn, {"v": v}, ["v"], expected, cfg, estimate)
            row["n"] = n
            fwd = row["forward"]
            previous = None if fwd["skipped"] else (n, fwd["time_s"])
            rows.append(row)
        table = Table(title=titles[fn])
        _ratio_columns(table, "n")
        for r in rows:
            _ratio_rows(table, f"{r['n']:,}", r)
        console.print(table)
        out[fn] = rows
    return out


def _ratio_columns(table: Table, first: str) -> None:
    for col in (first, "fn time", "fn stmts", "reverse time", "reverse ×", "rev stmts ×",
                "forward time", "forward ×", "fwd stmts ×", "gradient"):
        table.add_column(col, justify="left" if col == "gradient" else "right")


def _ratio_rows(table: Table, label: str, row: dict) -> None:
    rev, fwd = row["reverse"], row["forward"]
    ratio_style = "green" if rev["ratio"] <= 4 else "yellow"
    if fwd["skipped"]:
        est = fwd["estimated_s"]
        fwd_cells = ["skipped" + (f" (~{est:.0f} s)" if est is not None else ""), "—", "—"]
        ok = rev["gradient_ok"]
    else:
        fwd_cells = [fmt_time(fwd["time_s"]), f"{fwd['ratio']:.1f}", f"{fwd['steps_ratio']:.1f}"]
        ok = rev["gradient_ok"] and fwd["gradient_ok"]
    table.add_row(label, fmt_time(row["time_s"]), f"{row['steps']:,}", fmt_time(rev["time_s"]),
                  f"[{ratio_style}]{rev['ratio']:.2f}[/]", f"{rev['steps_ratio']:.2f}", *fwd_cells,
                  "ok" if ok else "[red]WRONG[/]")


# ---------------------------------------------------------------- section 3: cost of second derivatives

# The four ways to build a Hessian, each with how its cost grows with n. The outer mode is applied to each
# of the n gradient components in turn (one row each); reverse mode costs a constant times what it
# differentiates, forward mode n times (vector forward mode carries one tangent per parameter). So
# reverse over reverse is n rows × O(n), forward over reverse and reverse over forward n^3, forward over forward n^4.
HESSIAN_MODES = {"forward-over-reverse": 3, "reverse-over-reverse": 2, "forward-over-forward": 4,
                 "reverse-over-forward": 3}


def second_order_source(n: int, hvp: bool = True) -> str:
    """f(x0, ..., x{n-1}) = Σ x_i^2 + Σ sin(x_i) * x_{i+1} as straight-line code, and hvp_dir(x, u) = ∇f(x) · u.

    A derivative program of order 2 takes float parameters, so each x_i is a parameter of its own.
    """
    xs = [f"x{i}" for i in range(n)]
    us = [f"u{i}" for i in range(n)]
    gs = [f"g{i}" for i in range(n)]
    lines = [f"def f({', '.join(xs)}) -> float:", "    let s = x0 ^ 2"]
    lines += [f"    s = s + sin(x{i - 1}) * x{i} + x{i} ^ 2" for i in range(1, n)]
    lines += ["    return s"]
    if not hvp:
        return "\n".join(lines) + "\n"
    lines += ["",
              "# The derivative of f along u, written with `grad`: its gradient with respect to x is H u.",
              f"def hvp_dir({', '.join(xs + us)}) -> float:",
              f"    let v, {', '.join(gs)} = grad f({', '.join(xs)}) wrt {', '.join(xs)}",
              f"    return {' + '.join(f'{g} * {u}' for g, u in zip(gs, us))}"]
    return "\n".join(lines) + "\n"


def second_order_expected(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """f's value, gradient and Hessian by hand: H is tridiagonal."""
    value = float(np.sum(x**2) + np.sum(np.sin(x[:-1]) * x[1:]))
    grad = 2.0 * x
    grad[:-1] += np.cos(x[:-1]) * x[1:]
    grad[1:] += np.sin(x[:-1])
    hessian = np.diag(2.0 - np.append(np.sin(x[:-1]) * x[1:], 0.0))
    k = np.arange(len(x) - 1)
    hessian[k, k + 1] = hessian[k + 1, k] = np.cos(x[:-1])
    return value, grad, hessian


@contextmanager
def gc_paused():
    """Building a Hessian program (about 10^5 statements at n = 100) and running it once to check it are not
    timed; with the garbage collector on, its passes over the growing heap take longer than the work itself."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def bench_second_order(cfg: argparse.Namespace) -> dict:
    rows = []
    previous: dict[str, tuple[int, float]] = {}  # mode -> (n, seconds, measured or estimated) to extrapolate from
    for n in cfg.hessian_ns:
        row = second_order_case(n, cfg, previous)
        for mode, h in row["hessian"].items():
            previous[mode] = (n, h["estimated_s"] if h["skipped"] else h["time_s"])
        rows.append(row)
        gc.collect()  # the big derivative programs are cyclic garbage now; don't let them weigh on the next n
    table = Table(title=escape("3. Cost of second derivatives: f(x0, ..., x{n-1}) = Σ x_i^2 + Σ sin(x_i) * x_{i+1}, "
                               "straight-line, w.r.t. all n parameters"))
    for col in ("n", "program", "time", "statements", "time × f", "stmts × f", "result"):
        table.add_column(col, justify="left" if col in ("program", "result") else "right")
    for r in rows:
        _second_order_row(table, r["n"], "f", r | {"ratio": 1.0, "steps_ratio": 1.0}, None, r["value_ok"])
        _second_order_row(table, r["n"], "gradient, reverse", r["gradient"], None, r["gradient"]["gradient_ok"])
        for mode, h in r["hessian"].items():
            _second_order_row(table, r["n"], f"Hessian, {mode}", h, None, h.get("hessian_ok"))
        hvp = r["hvp"]
        _second_order_row(table, r["n"], "H·u = ∇(∇f·u), reverse", hvp, "green" if hvp["ratio"] <= 10 else "yellow",
                          hvp["hvp_ok"])
        table.add_section()
    console.print(table)
    return {"source_example": second_order_source(3), "rows": rows}


def _second_order_row(table: Table, n: int, label: str, r: dict, style: str | None, ok: bool | None) -> None:
    if r.get("skipped"):
        est = r["estimated_s"]
        table.add_row(f"{n:,}", label, "skipped" + (f" (~{est:,.0f} s)" if est is not None else ""), "—", "—", "—", "")
        return
    ratio = f"{r['ratio']:,.2f}" if r["ratio"] < 100 else f"{r['ratio']:,.0f}"
    table.add_row(f"{n:,}", label, fmt_time(r["time_s"]), f"{r['steps']:,}", f"[{style}]{ratio}[/]" if style else ratio,
                  f"{r['steps_ratio']:,.1f}", "ok" if ok else "[red]WRONG[/]")


def second_order_case(n: int, cfg: argparse.Namespace, previous: dict[str, tuple[int, float]]) -> dict:
    """Time f, its reverse gradient, its Hessian in each mode pair and H·u via `grad`; ratios against f."""
    # f on its own, in a program without hvp_dir's `grad` form: engines run finished programs, and f's own
    # program needs no finishing
    program = compile_source(second_order_source(n, hvp=False), "bench/run.py")
    with_hvp = compile_source(second_order_source(n), "bench/run.py")
    xs = [f"x{i}" for i in range(n)]
    rng = np.random.default_rng(n)
    x = rng.uniform(-2.0, 2.0, n)
    u = rng.uniform(-1.0, 1.0, n)
    args = dict(zip(xs, x.tolist()))
    hvp_args = args | {f"u{i}": float(u[i]) for i in range(n)}
    value, grad, hessian = second_order_expected(x)

    base = run_function(program, "f", args, max_steps=MAX_STEPS)
    row: dict = {"n": n, "function": "f", "wrt": f"x0..x{n - 1}", "steps": base.steps,
                 "value_ok": close(base.value, value, 1e-12), "hessian": {}}
    runs = {"function": lambda: run_function(program, "f", args, max_steps=MAX_STEPS)}
    built: dict[str, tuple[ir.Program, str, dict]] = {}  # name -> (derivative program, entry, arguments)
    with gc_paused():
        built["gradient"] = (*derivative_program(program, "f", xs, "reverse"), args)
        for mode, power in HESSIAN_MODES.items():
            if mode in previous:
                n_prev, seconds = previous[mode]
                estimate = seconds * (n / n_prev) ** power
                if estimate > cfg.hessian_budget:
                    row["hessian"][mode] = {"skipped": True, "estimated_s": estimate,
                                            "reason": f"estimated {estimate:.0f} s > budget {cfg.hessian_budget:.0f} s "
                                                      f"(cost grows as n^{power})"}
                    continue
            built[mode] = (*derivative_program(program, "f", xs, mode, order=2), args)
        built["hvp"] = (*derivative_program(with_hvp, "hvp_dir", xs, "reverse"), hvp_args)
        results = {name: run_function(d, e, a, max_steps=MAX_STEPS) for name, (d, e, a) in built.items()}
    for name, (d, e, a) in built.items():
        runs[name] = lambda d=d, e=e, a=a: run_function(d, e, a, max_steps=MAX_STEPS)
    timings = measure_group(runs, cfg.repeats, cfg.min_time, cfg.long_run)
    base_s = timings["function"]["best_s"]
    row.update(time_s=base_s, timing=timings["function"])

    def cost(name: str) -> dict:
        timing = timings[name]
        return {"skipped": False, "steps": results[name].steps, "time_s": timing["best_s"],
                "ratio": timing["best_s"] / base_s, "steps_ratio": results[name].steps / base.steps, "timing": timing}

    out = results["gradient"].value
    row["gradient"] = cost("gradient") | {"gradient_ok": close(out[0], value, 1e-12) and close(out[1:], grad)}
    measured_hessians = {}
    for mode in HESSIAN_MODES:
        if mode not in results:
            continue
        out = results[mode].value
        h = np.array(out[1 + n:], dtype=float).reshape(n, n)
        measured_hessians[mode] = h
        ok = close(out[0], value, 1e-12) and close(out[1:1 + n], grad) and close(h, hessian)
        row["hessian"][mode] = cost(mode) | {"hessian_ok": ok,
                                             "max_abs_error": float(np.max(np.abs(h - hessian)))}
    row["hessian"] = {mode: row["hessian"][mode] for mode in HESSIAN_MODES}  # skipped ones in their place
    out = results["hvp"].value
    hu = np.array(out[1:], dtype=float)
    # H u from a Hessian of (a), measured here (reverse over reverse runs at every n), and from the formula
    against = next(iter(sorted(measured_hessians, key=lambda m: m != "reverse-over-reverse")), None)
    ok = close(out[0], grad @ u, 1e-12) and close(hu, hessian @ u)
    if against is not None:
        ok = ok and close(hu, measured_hessians[against] @ u)
    row["hvp"] = cost("hvp") | {"function": "hvp_dir", "hvp_ok": ok, "checked_against": (
        f"{against} Hessian × u and " if against else "") + "the analytic H × u",
        "max_abs_error": float(np.max(np.abs(hu - hessian @ u)))}
    return row


# ---------------------------------------------------------------- section 4: the loop against plain Python and autograd

# Checkpoint strategies of section 4, in table order (--strategies overrides). A strategy that
# derivative_program refuses with a UsageError (not available yet, mistyped) is skipped and listed as such,
# so a new strategy is one more string here.
STRATEGIES = ("none", "every:100", "sqrt", "revolve:10")
# Section 4 compares the engines that run in CPython; the native engine has section 6.
ENGINES = {name: engine_table.ENGINES[name].runner() for name in ("interp", "compiled")}


def python_primal(x: float, y: float, n: int) -> float:
    """foo in plain Python over floats."""
    accum = x
    for _ in range(n):
        accum = accum * y
    return accum


def python_gradient(x: float, y: float, n: int) -> tuple[float, float, float]:
    """foo's value and (d/dx, d/dy) by a hand-written reverse sweep: a list of floats, walked backwards.

    The same operations in the same order as adlang's reverse program (`--checkpoint none`), so the
    results are equal bit for bit.
    """
    tape = []
    accum = x
    for _ in range(n):
        tape.append(accum)
        accum = accum * y
    value = accum
    daccum = 1.0
    dy = 0.0
    for accum in reversed(tape):
        dy = dy + accum * daccum
        daccum = y * daccum
    return value, daccum, dy


def autograd_gradient() -> Callable[[float, float, int], tuple[float, tuple[float, float]]] | None:
    """foo's value and gradient with HIPS autograd (`pip install -e ".[bench]"`), or None when it is not installed."""
    try:
        from autograd import value_and_grad
    except ImportError:
        return None
    return value_and_grad(python_primal, argnum=(0, 1))


def autograd_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("autograd")
    except Exception:  # noqa: BLE001 - not installed, or installed without metadata
        return None


def peak_memory(run: Callable[[], object]) -> tuple[int, object]:
    """Bytes allocated at most during `run()` above what was held before it (tracemalloc), and its result.

    tracemalloc slows Python down several times, so this is a run of its own, never a timed one.
    """
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base, result


def bench_loop_vs_python(program: ir.Program, cfg: argparse.Namespace) -> dict:
    """foo's function and gradient in each engine and checkpoint strategy, beside plain Python and autograd."""
    built: dict[str, tuple[ir.Program, str]] = {}
    skipped: dict[str, str] = {}
    for strategy in cfg.strategies:
        try:
            built[strategy] = derivative_program(program, "foo", ["x", "y"], "reverse", checkpoint=strategy)
        except UsageError as err:
            skipped[strategy] = err.message
    ag = autograd_gradient()
    rows: list[dict] = []
    refs: list[dict] = []
    previous_autograd: tuple[int, float] | None = None
    for n in cfg.loop_ns:
        row_n, ref, autograd_s = loop_case(program, built, ag, n, cfg, previous_autograd)
        rows += row_n
        refs.append(ref)
        if autograd_s is not None:
            previous_autograd = (n, autograd_s)
        gc.collect()
    targets = loop_targets(rows, refs, cfg)
    print_loop_tables(rows, refs, targets, skipped, ag is not None)
    return {"ns": cfg.loop_ns, "strategies": list(cfg.strategies), "skipped_strategies": skipped,
            "autograd_version": autograd_version() if ag is not None else None,
            "autograd_budget_s": cfg.autograd_budget,
            "rows": rows, "references": refs, "targets": targets}


def loop_case(program: ir.Program, built: dict[str, tuple[ir.Program, str]], ag, n: int, cfg: argparse.Namespace,
              previous_autograd: tuple[int, float] | None) -> tuple[list[dict], dict, float | None]:
    """Every run at one trip count: times (interleaved), then memory (separate runs), then checks."""
    args = {"x": LOOP_X, "y": LOOP_Y, "n": n}
    value = LOOP_X * LOOP_Y**n
    expected = (value, LOOP_Y**n, n * LOOP_X * LOOP_Y ** (n - 1))
    # Two groups, each sampled in turn: the interpreter's runs (seconds each at 10^6, so fewer samples there),
    # and the compiled engine's with the plain Python ones it is compared with (milliseconds: all the samples).
    groups: dict[str, dict[str, Callable[[], object]]] = {"interp": {}, "compiled": {}}
    results: dict[tuple[str, str], object] = {}
    for engine, run in ENGINES.items():
        runs = groups[engine]
        results[(engine, "function")] = run(program, "foo", args, max_steps=MAX_STEPS)
        runs[f"{engine} function"] = lambda run=run: run(program, "foo", args, max_steps=MAX_STEPS)
        for strategy, (derived, entry) in built.items():
            results[(engine, strategy)] = run(derived, entry, args, max_steps=MAX_STEPS)
            runs[f"{engine} {strategy}"] = lambda run=run, d=derived, e=entry: run(d, e, args, max_steps=MAX_STEPS)
    groups["compiled"]["python primal"] = lambda: python_primal(LOOP_X, LOOP_Y, n)
    groups["compiled"]["python gradient"] = lambda: python_gradient(LOOP_X, LOOP_Y, n)
    timings = measure_group(groups["interp"], min(cfg.repeats, 5) if n >= 10**6 else cfg.repeats, cfg.min_time,
                            cfg.long_run)
    timings |= measure_group(groups["compiled"], cfg.repeats, cfg.min_time, cfg.long_run)

    # memory: one run each under tracemalloc, after the timed ones (the compiled module is cached by then)
    memory: dict[str, int] = {}
    for engine, run in ENGINES.items():
        for strategy, (derived, entry) in built.items():
            memory[f"{engine} {strategy}"], _ = peak_memory(lambda run=run, d=derived, e=entry:
                                                            run(d, e, args, max_steps=MAX_STEPS))
    memory["python gradient"], _ = peak_memory(lambda: python_gradient(LOOP_X, LOOP_Y, n))

    rows = []
    for engine in ENGINES:
        fn = results[(engine, "function")]
        fn_s = timings[f"{engine} function"]["best_s"]
        for strategy in built:
            result = results[(engine, strategy)]
            timing = timings[f"{engine} {strategy}"]
            grad_s = timing["best_s"]
            mem = memory[f"{engine} {strategy}"]
            rows.append({
                "n": n, "engine": engine, "strategy": strategy,
                "function_s": fn_s, "function_steps": fn.steps, "function_steps_per_s": fn.steps / fn_s,
                "function_ok": close(fn.value, value, 1e-9),
                "gradient_s": grad_s, "ratio": grad_s / fn_s, "steps": result.steps,
                "steps_per_s": result.steps / grad_s, "tape_peak": result.tape_peak,
                "peak_memory_bytes": mem,
                "bytes_per_taped_value": mem / result.tape_peak if result.tape_peak else None,
                "gradient_ok": close(result.value, expected, 1e-7),
                "timing": timing, "function_timing": timings[f"{engine} function"],
            })
    hand = python_gradient(LOOP_X, LOOP_Y, n)
    ref = {"n": n,
           "python_primal_s": timings["python primal"]["best_s"], "python_primal_timing": timings["python primal"],
           "python_gradient_s": timings["python gradient"]["best_s"],
           "python_gradient_timing": timings["python gradient"],
           "python_gradient_ok": close(hand, expected, 1e-7),
           "python_gradient_peak_memory_bytes": memory["python gradient"],
           "python_gradient_bytes_per_taped_value": memory["python gradient"] / n,
           "autograd": autograd_case(ag, n, cfg, previous_autograd, expected)}
    measured = ref["autograd"].get("time_s")
    return rows, ref, measured


def autograd_case(ag, n: int, cfg: argparse.Namespace, previous: tuple[int, float] | None, expected) -> dict:
    """autograd's value_and_grad of foo at n, unless its time extrapolated linearly from a smaller n is over budget."""
    if ag is None:
        return {"installed": False, "skipped": True, "reason": "not installed (pip install -e \".[bench]\")"}
    estimate = None if previous is None else previous[1] * n / previous[0]
    if estimate is not None and estimate > cfg.autograd_budget:
        return {"installed": True, "skipped": True, "estimated_s": estimate,
                "reason": f"estimated {estimate:.0f} s (linear in n from n = {previous[0]:,}) "
                          f"> budget {cfg.autograd_budget:.0f} s"}
    with gc_paused():  # as measure() times
        t0 = time.perf_counter()
        value, grads = ag(LOOP_X, LOOP_Y, n)
        first = time.perf_counter() - t0
    if first >= cfg.long_run:  # a run of seconds is the only sample: autograd at 10^6 takes tens of them
        timing = {"best_s": first, "median_s": first, "samples_s": [first], "number": 1}
    else:
        timing = measure(lambda: ag(LOOP_X, LOOP_Y, n), min(cfg.repeats, 3), cfg.min_time, cfg.long_run)
    return {"installed": True, "skipped": False, "time_s": timing["best_s"], "timing": timing,
            "gradient_ok": close((value, *grads), expected, 1e-7)}


def _row(rows: list[dict], n: int, engine: str, strategy: str) -> dict | None:
    return next((r for r in rows if r["n"] == n and r["engine"] == engine and r["strategy"] == strategy), None)


def loop_targets(rows: list[dict], refs: list[dict], cfg: argparse.Namespace) -> list[dict]:
    """The issue's targets, each measured in this run, at the largest n (10^6 unless --quick)."""
    n = max(cfg.loop_ns)
    at = f"n = {n:,}"
    out: list[dict] = []

    def target(name: str, goal: str, measured: float | None, ok: bool | None, shown: str, where: str = at,
               note: str = "") -> None:
        out.append({"target": name, "goal": goal, "where": where, "measured": measured, "shown": shown,
                    "pass": ok, "note": note})

    interp_rows = [r for r in rows if r["n"] == n and r["engine"] == "interp"]
    if interp_rows:
        rates = [(interp_rows[0]["function_steps_per_s"], "function")]
        rates += [(r["steps_per_s"], f"gradient, {r['strategy']}") for r in interp_rows]
        rate, which = min(rates)
        target("interpreter statements/s (scalar code, trace off)", "≥ 2,000,000", rate, rate >= 2e6,
               f"{rate / 1e6:.2f} M/s", note=f"slowest of the interpreter's runs: {which}")
    ref = next(r for r in refs if r["n"] == n)
    compiled = _row(rows, n, "compiled", "none")
    if compiled:
        ratio = compiled["gradient_s"] / ref["python_gradient_s"]
        target("compiled gradient vs hand-written Python reverse sweep", "≤ 3×", ratio, ratio <= 3,
               f"{ratio:.2f}×")
        measured = [r for r in refs if not r["autograd"].get("skipped")]
        if measured:
            last = max(measured, key=lambda r: r["n"])
            row = _row(rows, last["n"], "compiled", "none")
            speedup = last["autograd"]["time_s"] / row["gradient_s"]
            note = ""
            est = ref["autograd"].get("estimated_s")
            if last["n"] != n and est is not None:
                note = f"autograd skipped at {at}; extrapolated: {est / compiled['gradient_s']:,.0f}×"
            target("compiled gradient faster than autograd", "> 100×", speedup, speedup > 100, f"{speedup:,.0f}×",
                   where=f"n = {last['n']:,}", note=note)
        else:
            target("compiled gradient faster than autograd", "> 100×", None, None, "—",
                   note=ref["autograd"]["reason"])
    sweep = ref["python_gradient_s"] / ref["python_primal_s"]
    for engine in ENGINES:
        row = _row(rows, n, engine, "none")
        if row:
            note = (f"statements: {row['steps'] / row['function_steps']:.2f}×" if engine == "interp" else
                    f"hand-written Python sweep: {sweep:.2f}× the Python loop")
            target(f"reverse gradient vs function ({engine})", "≤ 4×", row["ratio"], row["ratio"] <= 4,
                   f"{row['ratio']:.2f}×", note=note)
    for engine in ENGINES:
        sqrt, none = _row(rows, n, engine, "sqrt"), _row(rows, n, engine, "none")
        if sqrt is None:
            continue
        if engine == "interp" or not interp_rows:
            limit = 2 * math.sqrt(n)
            target("sqrt: tape_peak", f"≤ 2√n = {limit:,.0f}", sqrt["tape_peak"], sqrt["tape_peak"] <= limit,
                   f"{sqrt['tape_peak']:,}")
        if none is not None:
            ratio = sqrt["gradient_s"] / none["gradient_s"]
            target(f"sqrt: time vs none ({engine})", "< 3×", ratio, ratio < 3, f"{ratio:.2f}×")
    for engine in ENGINES:
        row = _row(rows, n, engine, "none")
        if row and row["bytes_per_taped_value"] is not None:
            b = row["bytes_per_taped_value"]
            target(f"memory per taped scalar, none ({engine})", "≤ 50 B", b, b <= 50, f"{b:.1f} B",
                   note="tracemalloc peak of the gradient run / tape_peak")
    return out


def fmt_count(count: float) -> str:
    return f"{count / 1e6:.2f} M" if count >= 1e6 else f"{count:,.0f}"


def fmt_mrate(per_second: float) -> str:
    return f"{per_second / 1e6:.1f} M/s"


def fmt_bytes(b: float) -> str:
    if b >= 1e6:
        return f"{b / 1e6:.1f} MB"
    return f"{b / 1e3:.1f} kB"


def print_loop_tables(rows: list[dict], refs: list[dict], targets: list[dict], skipped: dict[str, str],
                      have_autograd: bool) -> None:
    table = Table(title="4a. foo(x, y, n) and its reverse gradient (d/dx, d/dy) by engine and checkpoint strategy",
                  caption="memory: tracemalloc peak of one gradient run (a run of its own, not timed) above what was "
                          "held before it; B/taped: memory / tape_peak")
    for col in ("n", "engine", "strategy", "fn time", "fn stmts/s", "gradient", "grad × fn", "grad stmts",
                "grad stmts/s", "tape_peak", "memory", "B/taped", "result"):
        table.add_column(col, justify="left" if col in ("engine", "strategy", "result") else "right")
    last = None
    for r in rows:
        if last is not None and (r["n"], r["engine"]) != last:
            table.add_section()
        last = (r["n"], r["engine"])
        per = r["bytes_per_taped_value"]
        table.add_row(f"{r['n']:,}", r["engine"], r["strategy"], fmt_time(r["function_s"]),
                      fmt_mrate(r["function_steps_per_s"]), fmt_time(r["gradient_s"]), f"{r['ratio']:.2f}",
                      fmt_count(r["steps"]), fmt_mrate(r["steps_per_s"]), f"{r['tape_peak']:,}",
                      fmt_bytes(r["peak_memory_bytes"]), "—" if per is None else f"{per:.1f}",
                      "ok" if r["gradient_ok"] and r["function_ok"] else "[red]WRONG[/]")
    console.print(table)
    for strategy, why in skipped.items():
        console.print(f"strategy {strategy!r} skipped: {escape(why)}")

    table = Table(title="4b. The same loop in plain Python and HIPS autograd (value and gradient)")
    for col in ("n", "Python primal", "Python reverse sweep", "B/taped", "autograd", "compiled fn",
                "compiled gradient", "compiled / Python", "autograd / compiled", "result"):
        table.add_column(col, justify="left" if col == "result" else "right")
    for ref in refs:
        n = ref["n"]
        fn = _row(rows, n, "compiled", "none")
        ag = ref["autograd"]
        if not ag["installed"]:
            ag_cell, vs = "not installed", "—"
        elif ag["skipped"]:
            est = ag["estimated_s"]
            ag_cell = f"skipped (~{est:.0f} s)"
            vs = f"~{est / fn['gradient_s']:,.0f} (est.)" if fn else "—"
        else:
            ag_cell = fmt_time(ag["time_s"])
            vs = f"{ag['time_s'] / fn['gradient_s']:,.0f}" if fn else "—"
        ok = ref["python_gradient_ok"] and ag.get("gradient_ok", True)
        table.add_row(f"{n:,}", fmt_time(ref["python_primal_s"]), fmt_time(ref["python_gradient_s"]),
                      f"{ref['python_gradient_bytes_per_taped_value']:.1f}", ag_cell,
                      fmt_time(fn["function_s"]) if fn else "—", fmt_time(fn["gradient_s"]) if fn else "—",
                      f"{fn['gradient_s'] / ref['python_gradient_s']:.2f}" if fn else "—", vs,
                      "ok" if ok else "[red]WRONG[/]")
    console.print(table)
    if not have_autograd:
        console.print(escape('autograd: not installed (pip install -e ".[bench]" to compare with it)'))

    table = Table(title="4c. Targets (issue 6), from this run")
    for col in ("target", "goal", "where", "measured", "", "note"):
        table.add_column(col, justify="right" if col == "measured" else "left")
    for t in targets:
        verdict = "—" if t["pass"] is None else ("[green]pass[/]" if t["pass"] else "[red]FAIL[/]")
        table.add_row(t["target"], escape(t["goal"]), t["where"], t["shown"], verdict, escape(t["note"]))
    console.print(table)


# ---------------------------------------------------------------- main


# ---------------------------------------------------------------- section 5: the Python API in a loop


def bench_api(cfg: argparse.Namespace) -> list[dict]:
    """What `prog.grad` costs in a Python loop beyond the engine's run of the same derivative program: the first
    call builds (and compiles) it, later calls only check their arguments and run it."""
    import adlang

    table = Table(title="5. the Python API: prog.grad(args=..., wrt=['x', 'y'], engine=E) called again and again")
    for col in ("n", "engine", "first call", "later calls", "engine alone", "later / engine", "ok"):
        table.add_column(col, justify="right")
    derived, entry = derivative_program(compile_source(SOURCE, "bench/run.py"), "foo", ["x", "y"], "reverse")
    rows = []
    for n in cfg.api_ns:
        args = {"x": LOOP_X, "y": LOOP_Y, "n": n}
        for engine in [name for name, row in engine_table.ENGINES.items() if row.missing() is None]:
            prog = adlang.compile(SOURCE, "bench/run.py")  # a fresh program: the first call builds
            t0 = time.perf_counter()
            first = prog.grad(args=args, wrt=["x", "y"], fn="foo", engine=engine)
            first_s = time.perf_counter() - t0
            run = engine_table.ENGINES[engine].runner()
            timings = measure_group({
                "api": lambda p=prog, a=args, e=engine: p.grad(args=a, wrt=["x", "y"], fn="foo", engine=e),
                "engine": lambda r=run, d=derived, a=args: r(d, entry, a, max_steps=MAX_STEPS),
            }, cfg.repeats, cfg.min_time, cfg.long_run)
            api_s, engine_s = timings["api"]["best_s"], timings["engine"]["best_s"]
            ok = first.grad == {"x": run(derived, entry, args).value[1], "y": run(derived, entry, args).value[2]}
            rows.append({"n": n, "engine": engine, "first_call_s": first_s, "later_call_s": api_s,
                         "engine_s": engine_s, "ratio": api_s / engine_s, "ok": ok,
                         "timings": timings})
            table.add_row(f"{n:,}", engine, fmt_time(first_s), fmt_time(api_s), fmt_time(engine_s),
                          f"{api_s / engine_s:,.2f}", "ok" if ok else "[red]WRONG[/]")
    console.print(table)
    return rows


def config(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="adlang benchmarks: interpreter speed, the cost of a gradient "
                                                 "and of second derivatives")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a run under a minute")
    parser.add_argument("--out", default="bench/results/latest.json", help="where to write the JSON results")
    parser.add_argument("--repeats", type=int, default=None, help="samples per measurement (best is kept)")
    parser.add_argument("--forward-budget", type=float, default=20.0,
                        help="skip a forward-mode run above --forward-cap estimated to take longer (s)")
    parser.add_argument("--hessian-budget", type=float, default=20.0,
                        help="skip a Hessian run at a larger n estimated to take longer (s)")
    parser.add_argument("--sections", default="1,2,3,4,5,6,7,8,startup",
                        help="which sections to run, e.g. 4 or 1,2 or startup")
    parser.add_argument("--instructions", action="store_true",
                        help="startup: also count each case's instructions under valgrind's callgrind (deterministic "
                             "on a loaded machine; about 10 s a process)")
    parser.add_argument("--vec-long", action="store_true",
                        help="section 7: the line fit at n = 10^7 too (about 80 MB a vec; a minute more)")
    parser.add_argument("--autograd-budget", type=float, default=20.0,
                        help="section 4: skip an autograd run estimated (linearly from a smaller n) to take longer (s)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="section 4: comma-separated checkpoint strategies (e.g. none,every:100,sqrt,revolve:10); "
                             "one that is not available is skipped")
    cfg = parser.parse_args(argv)
    if cfg.quick:
        cfg.interp_ns = [10**4, 10**5]
        cfg.grad_loop_n = 10**5
        cfg.vec_ns = [10, 100, 1000]
        cfg.hessian_ns = [10]
        cfg.loop_ns = [10**3, 10**4]
        cfg.api_ns = [10, 1000]
        cfg.native_ns = [10**4, 10**5]
        cfg.hessian_vec_ns = [10, 100]
        cfg.hessian_vec_engines = ["interp", "compiled"]
        cfg.oscillator_n = 10**5
        cfg.vec_fit_ns = [10**3, 10**4, 10**5]
        cfg.repeats = cfg.repeats or 5
    else:
        cfg.interp_ns = [10**5, 10**6]
        cfg.grad_loop_n = 10**6
        cfg.vec_ns = [10, 100, 1000, 10000]
        cfg.hessian_ns = [10, 100]
        cfg.loop_ns = [10**3, 10**5, 10**6]
        cfg.api_ns = [10, 1000, 10**5]
        cfg.native_ns = [10**5, 10**6]
        cfg.hessian_vec_ns = [10, 100, 1000]
        cfg.hessian_vec_engines = ["interp", "compiled", "native"]
        cfg.oscillator_n = 10**6
        cfg.vec_fit_ns = [10**3, 10**4, 10**5, 10**6]
        cfg.repeats = cfg.repeats or 7
    if cfg.vec_long:
        cfg.vec_fit_ns = [*cfg.vec_fit_ns, 10**7]
    cfg.strategies = [s.strip() for s in cfg.strategies.split(",") if s.strip()]
    cfg.sections = {s.strip() for s in cfg.sections.split(",")}
    cfg.forward_cap = 1000  # forward mode always runs up to here; beyond, only if the estimate fits the budget
    cfg.min_time = 0.05 if cfg.quick else 0.1
    cfg.long_run = 1.0
    return cfg


# ---------------------------------------------------------------- section 6: the native engine

OSCILLATOR = Path(__file__).resolve().parent.parent / "programs" / "examples" / "oscillator.ad"
# The oscillator's arguments for section 6: t = n h = 10 at n = 10^6 (the example's .args run 100 steps).
OSCILLATOR_ARGS = {"k": 4.0, "c": 0.5, "x0": 1.0, "v0": 0.0}
REVOLVE = "revolve:10"


def numba_sweep():
    """The loop's value and gradient by a hand-written reverse sweep compiled by numba (a preallocated float
    array for the tape), or None without numba."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit
    def sweep(x, y, n):
        tape = np.empty(n)
        accum = x
        for i in range(n):
            tape[i] = accum
            accum = accum * y
        daccum = 1.0
        dy = 0.0
        for i in range(n - 1, -1, -1):
            dy = dy + tape[i] * daccum
            daccum = y * daccum
        return accum, daccum, dy

    return sweep


def numba_revolve():
    """The loop's value and gradient by binomial checkpointing written by hand in numba: the schedule adlang's
    revolve:S runs (the same split, `checkpoint_schedules.revolve_split`, as a walk over repetition numbers),
    the state's snapshots on a small stack, and each iteration reversed from the state it starts from."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit
    def split(n, s):
        if s == 1:
            return n - 1
        rho, lo, top, lower = 1, 1, s + 1, (s + 1) * s // 2
        while lo <= n - 1:
            m = max(lo, n - lower)
            if m <= min(top - 1, n - 1):
                return m
            rho += 1
            lo, top, lower = top, top * (s + rho) // rho, lower * (s + rho) // (rho + 1)
        return n - 1

    @numba.njit
    def revolve(x, y, n, s):
        accum = x
        for _ in range(n):
            accum = accum * y
        stack_i = np.empty(s + 1, np.int64)
        stack_v = np.empty(s + 1)
        fine, capo, top, held, depth = n, 0, -1, 0, 0
        state = snap = x
        daccum, dy = 1.0, 0.0
        while fine > 0:
            left = fine - capo
            if left == 0:  # restore the newest snapshot
                capo, state = top, snap
            elif left == 1:  # reverse iteration capo from the state held; free its snapshot
                if top == capo:
                    held -= 1
                    if held > 0:
                        depth -= 1
                        top, snap = stack_i[depth], stack_v[depth]
                    else:
                        top = -1
                dy = dy + state * daccum
                daccum = y * daccum
                fine -= 1
            elif top != capo:  # take a snapshot
                if held > 0:
                    stack_i[depth], stack_v[depth] = top, snap
                    depth += 1
                top, snap, held = capo, state, held + 1
            else:  # advance
                ahead = split(left, s + 1 - held)
                for _ in range(ahead):
                    state = state * y
                capo += ahead
        return accum, daccum, dy

    return revolve


def python_oscillator_gradient(k: float, c: float, x0: float, v0: float, h: float, n: int):
    """The oscillator's end position and (d/dk, d/dc) by a hand-written reverse sweep in plain Python (two
    lists of floats for the tape)."""
    xs, vs = [], []
    x, v = x0, v0
    for _ in range(n):
        xs.append(x)
        vs.append(v)
        a = -k * x - c * v
        x = x + h * v
        v = v + h * a
    value = x
    dx, dv, dk, dc = 1.0, 0.0, 0.0, 0.0
    for i in range(n - 1, -1, -1):
        da = h * dv
        dk -= xs[i] * da
        dc -= vs[i] * da
        dx, dv = dx - k * da, dv + h * dx - c * da
    return value, dk, dc


def numba_oscillator_sweep():
    """`python_oscillator_gradient` compiled by numba, with preallocated float arrays for the tape."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit
    def sweep(k, c, x0, v0, h, n):
        xs = np.empty(n)
        vs = np.empty(n)
        x, v = x0, v0
        for i in range(n):
            xs[i] = x
            vs[i] = v
            a = -k * x - c * v
            x = x + h * v
            v = v + h * a
        dx, dv, dk, dc = 1.0, 0.0, 0.0, 0.0
        for i in range(n - 1, -1, -1):
            da = h * dv
            dk -= xs[i] * da
            dc -= vs[i] * da
            dx, dv = dx - k * da, dv + h * dx - c * da
        return x, dk, dc

    return sweep


def jax_module():
    """jax with float64 on (the engines compute in float64), or None when it is not installed."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


def jax_gradients(jax) -> dict[str, Callable]:
    """`jax.jit(jax.value_and_grad)` of the loop and of the oscillator, over `lax.fori_loop` (n static: jax
    reverses a loop whose trip count it knows)."""
    lax = jax.lax

    def foo(x, y, n):
        return lax.fori_loop(0, n, lambda i, accum: accum * y, x)

    def oscillator(k, c, x0, v0, h, n):
        def step(i, state):
            x, v = state
            a = -k * x - c * v
            return x + h * v, v + h * a

        return lax.fori_loop(0, n, step, (x0, v0))[0]

    loop = jax.jit(jax.value_and_grad(foo, argnums=(0, 1)), static_argnums=2)
    osc = jax.jit(jax.value_and_grad(oscillator, argnums=(0, 1)), static_argnums=5)

    def run(f):
        def call(*args):
            value, grads = f(*args)
            return float(value), *(float(g) for g in grads)

        return call

    return {"loop": run(loop), "oscillator": run(osc)}


def _version(package: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:  # noqa: BLE001 - not installed, or installed without metadata
        return None


def bench_native(program: ir.Program, cfg: argparse.Namespace) -> dict:
    """Issue 14: the loop's and the oscillator's gradients in the native engine beside the compiled engine, a
    hand-written numba sweep, jax and plain Python; revolve natively against its schedule; the targets."""
    if engine_table.ENGINES["native"].missing():
        console.print("section 6: numba is not installed (pip install numba)")
        return {"installed": False}
    jax = jax_module()
    peers = jax_gradients(jax) if jax is not None else None
    if peers is None:
        console.print(escape('section 6: jax not installed (pip install -e ".[bench]" to compare with it)'))
    loop = bench_native_loop(program, cfg, peers)
    oscillator = bench_native_oscillator(cfg, peers)
    revolve = bench_native_revolve(program, cfg)
    startup = bench_native_startup(cfg)
    targets = native_targets(loop, oscillator, revolve, peers is not None, startup)
    return {"installed": True, "jax_version": _version("jax"), "numba_version": _version("numba"), **loop,
            "oscillator": oscillator, "revolve": revolve, "startup": startup, "targets": targets}


def bench_native_loop(program: ir.Program, cfg: argparse.Namespace, peers: dict | None) -> dict:
    """The loop's gradient in each engine beside a hand-written numba sweep and jax, at each n; the native
    engine's first run (its compilation) timed apart."""
    derived, entry = derivative_program(program, "foo", ["x", "y"], "reverse")
    sweep = numba_sweep()
    runners = {name: engine_table.ENGINES[name].runner() for name in ("interp", "compiled", "native")}
    started = time.perf_counter()
    with no_disk_cache():  # a compilation, not a load from an earlier run's disk cache
        runners["native"](derived, entry, {"x": LOOP_X, "y": LOOP_Y, "n": 2}, max_steps=MAX_STEPS)
    first = time.perf_counter() - started
    sweep(LOOP_X, LOOP_Y, 2)
    rows = []
    table = Table(title="6a. the loop's gradient natively (reverse mode, d/dx and d/dy; best of repeats)")
    for column in ("n", "interp", "compiled", "native", "native function", "numba by hand", "jax",
                   "native / by hand", "native / its function", "jax / native", "result"):
        table.add_column(column, justify="left" if column == "result" else "right")
    for n in cfg.native_ns:
        args = {"x": LOOP_X, "y": LOOP_Y, "n": n}
        runs = {name: (lambda run=run, args=args: run(derived, entry, args, max_steps=MAX_STEPS))
                for name, run in runners.items()}
        runs["native function"] = lambda args=args: runners["native"](program, "foo", args, max_steps=MAX_STEPS)
        runs["numba by hand"] = lambda n=n: sweep(LOOP_X, LOOP_Y, n)
        if peers is not None:
            peers["loop"](LOOP_X, LOOP_Y, n)  # jax compiles for each n: not timed
            runs["jax"] = lambda n=n: peers["loop"](LOOP_X, LOOP_Y, n)
        if n > 10**5:
            del runs["interp"]  # seconds a run: section 4 has it
        got = runners["native"](derived, entry, args, max_steps=MAX_STEPS).value
        ok = close(got, sweep(LOOP_X, LOOP_Y, n), 1e-12)
        ok = ok and (peers is None or close(got, peers["loop"](LOOP_X, LOOP_Y, n)))
        timings = measure_group(runs, cfg.repeats, cfg.min_time, cfg.long_run)
        row = {"n": n, **{name: t["best_s"] for name, t in timings.items()}, "ok": ok}
        row["native_over_hand"] = row["native"] / row["numba by hand"]
        row["native_over_function"] = row["native"] / row["native function"]
        row["jax_over_native"] = row["jax"] / row["native"] if "jax" in row else None
        rows.append(row)
        table.add_row(f"{n:,}", *(fmt_time(row[k]) if k in row else "-" for k in
                                  ("interp", "compiled", "native", "native function", "numba by hand")),
                      fmt_time(row["jax"]) if "jax" in row else "not installed",
                      f"{row['native_over_hand']:.2f}x", f"{row['native_over_function']:.2f}x",
                      f"{row['jax_over_native']:.1f}x" if "jax" in row else "—", "ok" if ok else "[red]WRONG[/]")
    console.print(table)
    console.print(f"native's first run of the gradient (numba compiling it): {first:.2f} s")
    return {"first_run_s": first, "rows": rows}


def bench_native_oscillator(cfg: argparse.Namespace, peers: dict | None) -> dict:
    """programs/examples/oscillator.ad's gradient with respect to k and c at n steps of h = 10 / n, in each
    engine that is fast enough, a hand-written sweep in numba and in plain Python, and jax."""
    program = compile_source(OSCILLATOR.read_text(), str(OSCILLATOR))
    derived, entry = derivative_program(program, "main", ["k", "c"], "reverse")
    n = cfg.oscillator_n
    h = 10.0 / n
    args = {**OSCILLATOR_ARGS, "h": h, "n": n}
    positional = (*OSCILLATOR_ARGS.values(), h, n)
    sweep = numba_oscillator_sweep()
    sweep(*positional[:-1], 2)
    runners = {name: engine_table.ENGINES[name].runner() for name in ("native", "compiled")}
    runners["native"](derived, entry, {**args, "n": 2}, max_steps=MAX_STEPS)  # compiles: not timed
    runs = {name: (lambda run=run: run(derived, entry, args, max_steps=MAX_STEPS)) for name, run in runners.items()}
    runs["native function"] = lambda: runners["native"](program, "main", args, max_steps=MAX_STEPS)
    runs["numba by hand"] = lambda: sweep(*positional)
    if peers is not None:
        peers["oscillator"](*positional)
        runs["jax"] = lambda: peers["oscillator"](*positional)
    runs["Python by hand"] = lambda: python_oscillator_gradient(*positional)
    expected = sweep(*positional)
    got = {name: runners[name](derived, entry, args, max_steps=MAX_STEPS).value for name in runners}
    ok = all(close(value, expected, 1e-9) for value in got.values())
    ok = ok and close(python_oscillator_gradient(*positional), expected, 1e-9)
    ok = ok and (peers is None or close(peers["oscillator"](*positional), expected, 1e-9))
    timings = measure_group(runs, cfg.repeats, cfg.min_time, cfg.long_run)
    times = {name: t["best_s"] for name, t in timings.items()}
    hand = times["numba by hand"]
    table = Table(title=f"6b. the Euler oscillator's gradient (d/dk, d/dc), n = {n:,} steps "
                        f"(programs/examples/oscillator.ad)")
    for column in ("way", "time", "× numba by hand"):
        table.add_column(column, justify="left" if column == "way" else "right")
    labels = {"native": "adlang --engine native", "native function": "adlang --engine native, the function alone",
              "compiled": "adlang --engine compiled", "numba by hand": "hand-written reverse sweep, numba",
              "jax": "jax.jit(jax.value_and_grad), lax.fori_loop",
              "Python by hand": "hand-written reverse sweep, Python"}
    for name, label in labels.items():
        if name in times:
            table.add_row(label, fmt_time(times[name]), f"{times[name] / hand:.2f}")
        elif name == "jax":
            table.add_row(label, "not installed", "—")
    console.print(table)
    if not ok:
        console.print("[red]6b: the ways disagree on the value or the gradient[/]")
    return {"n": n, "h": h, "args": args, **times, "ok": ok, "native_over_hand": times["native"] / hand}


def bench_native_revolve(program: ir.Program, cfg: argparse.Namespace) -> dict:
    """The loop's gradient at n with `revolve:10` natively, against what its schedule predicts: every iteration
    revolve runs forwards (advances + n, the JSON's `recomputed`) at the native function's time per iteration,
    plus the reversal, taken as the plain (`none`) gradient's time (a taped sweep forwards and one back, as
    revolve's n one-iteration reversals do)."""
    from adlang.derivatives import recomputed_iterations

    n = cfg.native_ns[-1]
    args = {"x": LOOP_X, "y": LOOP_Y, "n": n}
    run = engine_table.ENGINES["native"].runner()
    plain, plain_entry = derivative_program(program, "foo", ["x", "y"], "reverse")
    checkpointed, entry = derivative_program(program, "foo", ["x", "y"], "reverse", checkpoint=REVOLVE)
    result = run(checkpointed, entry, args, max_steps=MAX_STEPS)  # compiles: not timed
    recomputed = recomputed_iterations(result.loop_trips)
    ok = close(result.value, run(plain, plain_entry, args, max_steps=MAX_STEPS).value, 1e-12)
    timings = measure_group({
        "function": lambda: run(program, "foo", args, max_steps=MAX_STEPS),
        "none": lambda: run(plain, plain_entry, args, max_steps=MAX_STEPS),
        REVOLVE: lambda: run(checkpointed, entry, args, max_steps=MAX_STEPS),
    }, cfg.repeats, cfg.min_time, cfg.long_run)
    times = {name: t["best_s"] for name, t in timings.items()}
    by_hand = numba_revolve()
    snapshots = int(REVOLVE.partition(":")[2])
    by_hand(LOOP_X, LOOP_Y, 2, snapshots)
    ok = ok and close(result.value, by_hand(LOOP_X, LOOP_Y, n, snapshots), 1e-12)
    times["numba by hand"] = measure(lambda: by_hand(LOOP_X, LOOP_Y, n, snapshots), cfg.repeats, cfg.min_time,
                                     cfg.long_run)["best_s"]
    per_iteration = times["function"] / n
    predicted = recomputed * per_iteration + times["none"]
    bound = 1.5 * recomputed * per_iteration + times["none"]
    table = Table(title=f"6c. {REVOLVE} natively at n = {n:,}: the time its schedule predicts")
    for column in ("function", "gradient, none", f"gradient, {REVOLVE}", "numba by hand, same schedule",
                   "recomputed", "predicted", "measured / predicted", "bound (1.5x the iterations)", "result"):
        table.add_column(column, justify="left" if column == "result" else "right")
    table.add_row(fmt_time(times["function"]), fmt_time(times["none"]), fmt_time(times[REVOLVE]),
                  fmt_time(times["numba by hand"]), f"{recomputed:,}", fmt_time(predicted),
                  f"{times[REVOLVE] / predicted:.2f}", fmt_time(bound), "ok" if ok else "[red]WRONG[/]")
    console.print(table)
    console.print(escape(f"predicted = recomputed (advances + n) x the function's time per iteration "
                         f"({per_iteration * 1e9:.2f} ns) + the plain gradient; {REVOLVE} / none: "
                         f"{times[REVOLVE] / times['none']:.1f}x"))
    return {"n": n, "strategy": REVOLVE, **times, "recomputed": recomputed, "tape_peak": result.tape_peak,
            "predicted_s": predicted, "bound_s": bound, "ratio_to_predicted": times[REVOLVE] / predicted,
            "ok": ok}


def native_targets(loop: dict, oscillator: dict, revolve: dict, have_jax: bool, startup: dict) -> list[dict]:
    """Issue 14's speed targets, from this run."""
    targets = []

    def target(name: str, goal: str, measured: str, passed: bool | None) -> None:
        targets.append({"target": name, "goal": goal, "measured": measured, "pass": passed})

    row = max(loop["rows"], key=lambda r: r["n"])
    where = f"n = {row['n']:,}"
    target(f"loop gradient / numba by hand ({where})", "≤ 2x", f"{row['native_over_hand']:.2f}x",
           row["native_over_hand"] <= 2)
    target(f"loop gradient / native function ({where})", "≤ 3x", f"{row['native_over_function']:.2f}x",
           row["native_over_function"] <= 3)
    if have_jax:
        target(f"jax / native loop gradient ({where})", "> 1x", f"{row['jax_over_native']:.1f}x",
               row["jax_over_native"] > 1)
    else:
        target(f"jax / native loop gradient ({where})", "> 1x", "jax not installed", None)
    target(f"oscillator gradient / numba by hand (n = {oscillator['n']:,})", "≤ 2x",
           f"{oscillator['native_over_hand']:.2f}x", oscillator["native_over_hand"] <= 2)
    target(f"{revolve['strategy']} (n = {revolve['n']:,}) / 1.5 (advances + n) iterations + the reversal",
           "≤ 1", f"{revolve[revolve['strategy']] / revolve['bound_s']:.2f}",
           revolve[revolve["strategy"]] <= revolve["bound_s"])
    target("first compilation of the loop's gradient", "< 2 s", f"{loop['first_run_s']:.2f} s",
           loop["first_run_s"] < 2)
    over = startup["cached_over_interp_s"]
    target("a second process (disk cache) over the interpreter's start-up", "≤ 0.3 s", f"{over:+.2f} s",
           over <= 0.3)
    table = Table(title="6d. issue 14's speed targets, from this run")
    for column in ("target", "goal", "measured", ""):
        table.add_column(column, justify="right" if column == "measured" else "left")
    for t in targets:
        verdict = "—" if t["pass"] is None else ("[green]pass[/]" if t["pass"] else "[red]FAIL[/]")
        table.add_row(escape(t["target"]), escape(t["goal"]), t["measured"], verdict)
    console.print(table)
    return targets


# ---------------------------------------------------------------- section 8: Hessians over a long vec

# Issue 16's function: one vec parameter, a loop. Its Hessian is tridiagonal (`second_order_expected`).
HESSIAN_VEC_SOURCE = """\
def f(v: vec) -> float:
    let s = sum(v * v)
    for i in 0..len(v) - 1:
        s += sin(v[i]) * v[i + 1]
    return s
"""
HESSIAN_VEC_PAIRS = ("forward-over-reverse", "reverse-over-reverse")
HVP_TARGET = 15  # one H u within 15x f
HESSIAN_TARGET = 20  # the Hessian within 20 n f


def jax_hessian_peers():
    """f, its Hessian and one Hessian-vector product, each jax.jit-compiled (f vectorised, as a JAX user
    writes it), or None without jax."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def f(v):
        return jnp.sum(v * v) + jnp.sum(jnp.sin(v[:-1]) * v[1:])

    hvp = jax.jit(lambda v, u: jax.jvp(jax.grad(f), (v,), (u,))[1])
    return {"f": jax.jit(f), "hessian": jax.jit(jax.hessian(f)), "hvp": hvp, "version": jax.__version__}


def bench_hessian_vec(cfg: argparse.Namespace) -> dict:
    """The Hessian of f(v) = sum(v * v) + sum_i sin(v[i]) * v[i + 1] by Hessian-vector products (`run --order 2`),
    and one H u (`run --hvp`), against f in the same engine and beside jax.jit(jax.hessian)."""
    from adlang.derivatives import compute
    from adlang.ir.derive import derive_hvp

    program = compile_source(HESSIAN_VEC_SOURCE, "bench/run.py")
    built = {pair: derive_hvp(program, "f", ["v"], pair) for pair in HESSIAN_VEC_PAIRS}
    jax_fns = jax_hessian_peers()
    engines = [name for name in cfg.hessian_vec_engines if engine_table.ENGINES[name].missing() is None]
    rows, peers = [], []
    table = Table(title=escape("8. Hessians over a long vec: f(v) = sum(v * v) + Σ_i sin(v[i]) * v[i + 1] (a loop), "
                               "by Hessian-vector products"))
    for column in ("n", "engine", "mode pair", "f", "H·u", f"H·u / f (≤ {HVP_TARGET})", "Hessian",
                   f"Hessian / (n f) (≤ {HESSIAN_TARGET})", "Hessian / jax's", "result"):
        table.add_column(column, justify="left" if column in ("engine", "mode pair", "result") else "right")
    for n in cfg.hessian_vec_ns:
        rng = np.random.default_rng(n)
        v, u = rng.uniform(-2.0, 2.0, n), rng.uniform(-1.0, 1.0, n)
        _, _, hessian = second_order_expected(v)
        peer = jax_case(jax_fns, v, u, hessian, cfg)
        peers.append({"n": n, **peer})
        for engine in engines:
            run = engine_table.ENGINES[engine].runner()
            for pair, hvp in built.items():
                row = hessian_vec_case(program, hvp, run, engine, pair, v, u, hessian, cfg, compute)
                row["over_jax"] = (row["hessian_s"] / peer["hessian_s"]
                                   if peer.get("hessian_s") and row.get("hessian_s") else None)
                rows.append({"n": n, **row})
                _hessian_vec_row(table, n, engine, pair, row)
        if peer["installed"]:
            _hessian_vec_row(table, n, f"jax {peer['version']}", "jit(hessian), jit(jvp(grad))", peer)
        else:
            table.add_row(f"{n:,}", "jax", "", "", "", "", "not installed", "", "", "")
        table.add_section()
    console.print(table)
    return {"source": HESSIAN_VEC_SOURCE, "hvp_target": HVP_TARGET, "hessian_target": HESSIAN_TARGET,
            "rows": rows, "jax": peers}


def hessian_vec_case(program, hvp, run, engine: str, pair: str, v, u, hessian, cfg, compute) -> dict:
    """f, one H u (the HVP program's cheapest entry, as the Hessian runs it) and the whole Hessian
    (`compute(order=2)`: the gradient once, then H e_k for every k) in one engine and mode pair."""
    n = len(v)
    cache: dict = {}
    seed = {"v": v, hvp.seeds[0]: u}
    hu = np.asarray(hvp.hu(run(hvp.program, hvp.directional, seed, max_steps=MAX_STEPS).value)[0], dtype=float)
    timings = measure_group({
        "f": lambda: run(program, "f", {"v": v}, max_steps=MAX_STEPS),
        "hvp": lambda: run(hvp.program, hvp.directional, seed, max_steps=MAX_STEPS),
    }, cfg.repeats, cfg.min_time, cfg.long_run)
    f_s, hvp_s = timings["f"]["best_s"], timings["hvp"]["best_s"]
    row = {"engine": engine, "pair": pair, "f_s": f_s, "hvp_s": hvp_s, "hvp_ratio": hvp_s / f_s,
           "hvp_ok": close(hu, hessian @ u, 1e-9), "timings": timings}
    estimate = (n + 1) * hvp_s
    if estimate > cfg.hessian_budget:
        return row | {"hessian_skipped": True, "hessian_estimated_s": estimate,
                      "hessian_ratio_estimated": estimate / (n * f_s),
                      "reason": f"estimated (n + 1) H·u = {estimate:.0f} s > budget {cfg.hessian_budget:.0f} s"}

    def full():
        return compute(program, "f", {"v": v}, wrt=["v"], mode=pair, order=2, engine=engine, cache=cache)

    h = full().hessian["v"]["v"]
    timing = measure(full, min(cfg.repeats, 3), cfg.min_time, cfg.long_run)
    return row | {"hessian_skipped": False, "hessian_s": timing["best_s"],
                  "hessian_ratio": timing["best_s"] / (n * f_s), "hessian_ok": close(h, hessian, 1e-9),
                  "hessian_timing": timing}


def jax_case(jax_fns, v, u, hessian, cfg) -> dict:
    """jax's f, H u and Hessian, compiled first (the compilation not timed)."""
    if jax_fns is None:
        return {"installed": False, "reason": "jax is not installed (pip install jax)"}
    f, hvp, hess = jax_fns["f"], jax_fns["hvp"], jax_fns["hessian"]
    h = np.asarray(hess(v).block_until_ready())
    hu = np.asarray(hvp(v, u).block_until_ready())
    f(v).block_until_ready()
    timings = measure_group({"f": lambda: f(v).block_until_ready(), "hvp": lambda: hvp(v, u).block_until_ready(),
                             "hessian": lambda: hess(v).block_until_ready()}, cfg.repeats, cfg.min_time, cfg.long_run)
    f_s, hvp_s, hessian_s = (timings[k]["best_s"] for k in ("f", "hvp", "hessian"))
    return {"installed": True, "version": jax_fns["version"], "f_s": f_s, "hvp_s": hvp_s, "hvp_ratio": hvp_s / f_s,
            "hvp_ok": close(hu, hessian @ u, 1e-9), "hessian_skipped": False, "hessian_s": hessian_s,
            "hessian_ratio": hessian_s / (len(v) * f_s), "hessian_ok": close(h, hessian, 1e-9), "over_jax": 1.0,
            "timings": timings}


def _hessian_vec_row(table: Table, n: int, engine: str, pair: str, r: dict) -> None:
    def verdict(ratio: float, target: float, estimated: bool = False) -> str:
        text = ("~" if estimated else "") + (f"{ratio:,.1f}" if ratio < 100 else f"{ratio:,.0f}")
        return f"[{'green' if ratio <= target else 'yellow'}]{text}[/]"

    if r["hessian_skipped"]:
        hessian = f"skipped (~{r['hessian_estimated_s']:,.0f} s)"
        ratio = verdict(r["hessian_ratio_estimated"], HESSIAN_TARGET, estimated=True)
    else:
        hessian, ratio = fmt_time(r["hessian_s"]), verdict(r["hessian_ratio"], HESSIAN_TARGET)
    ok = r["hvp_ok"] and r.get("hessian_ok", True)
    over = f"{r['over_jax']:,.1f}" if r.get("over_jax") is not None else "—"
    table.add_row(f"{n:,}", engine, pair, fmt_time(r["f_s"]), fmt_time(r["hvp_s"]), verdict(r["hvp_ratio"], HVP_TARGET),
                  hessian, ratio, over, "ok" if ok else "[red]WRONG[/]")


# ---------------------------------------------------------------- section 7: vectorised code beside numpy

VEC_SOURCE = """\
# The lecture's line fit, vectorised: the mean squared error of the line m x + b.
def linefit(m, b, xs: vec, ys: vec) -> float:
    return mean((m * xs + b - ys) ^ 2)

# Logistic regression on a feature matrix (programs/examples/logreg_mat.ad).
def logreg(X: mat, y: vec, w: vec, b) -> float:
    let z = X @ w + b
    let p = 1.0 / (1.0 + exp(-z))
    let loss = -mean(y * log(p) + (1.0 - y) * log(1.0 - p))
    return loss + 0.01 * dot(w, w)
"""
VEC_ENGINES = ("interp", "compiled")  # the engines that run numpy arrays (native: section 6, and 7b below)
# Issue 15's targets: (what, the ratio's key in a row, goal).
VEC_TARGETS = (("line fit gradient / numpy's hand-written gradient", "over_numpy", 2.0),
               ("line fit gradient / its function", "over_function", 3.0),
               ("line fit gradient's peak memory / its function's", "memory_ratio", 3.0),
               ("logistic regression gradient / numpy's hand-written gradient", "over_numpy", 3.0))
LOGREG_SHAPE = (20_000, 10)


def numpy_linefit(m: float, b: float, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float]:
    """The line fit's value and gradient with respect to m and b, written by hand in numpy."""
    r = m * xs + b - ys
    n = len(xs)
    return float(np.mean(r * r)), 2.0 * float(np.dot(r, xs)) / n, 2.0 * float(np.sum(r)) / n


def numpy_logreg(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[float, np.ndarray, float]:
    """Logistic regression's value and gradient with respect to w and b, written by hand in numpy."""
    p = 1.0 / (1.0 + np.exp(-(X @ w + b)))
    loss = -float(np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))) + 0.01 * float(w @ w)
    g = (p - y) / len(y)
    return loss, X.T @ g + 0.02 * w, float(g.sum())


def linefit_data(n: int) -> dict:
    """n samples of the lecture's line y = 2x + 1 with noise, and a line away from it (m = 1.5, b = 0.5)."""
    rng = np.random.default_rng(n)
    xs = rng.uniform(0.0, 5.0, n)
    return {"m": 1.5, "b": 0.5, "xs": xs, "ys": 2.0 * xs + 1.0 + rng.normal(0.0, 0.2, n)}


def logreg_data(rows: int, cols: int) -> dict:
    rng = np.random.default_rng(rows * cols)
    X = rng.normal(size=(rows, cols))
    truth = rng.normal(size=cols)
    y = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-(X @ truth + 0.3)))).astype(float)
    return {"X": X, "y": y, "w": 0.1 * rng.normal(size=cols), "b": 0.2}


def bench_vectorised(cfg: argparse.Namespace) -> dict:
    """The line fit's reverse gradient at each n and logistic regression's, in each engine, beside numpy's
    hand-written gradients and their own functions; peak memory of the line fit's gradient and function."""
    program = compile_source(VEC_SOURCE, "bench/run.py")
    fit, fit_entry = derivative_program(program, "linefit", ["m", "b"], "reverse")
    runners = {name: engine_table.ENGINES[name].runner() for name in VEC_ENGINES}
    rows = []
    table = Table(title="7a. line fit mean((m * xs + b - ys)^2), reverse gradient d/dm, d/db, beside numpy")
    for column in ("n", "engine", "function", "gradient", "numpy gradient", "× numpy (≤ 2)", "× function (≤ 3)",
                   "memory fn / grad", "× (≤ 3)", "ok"):
        table.add_column(column, justify="left" if column == "ok" else "right")
    for n in cfg.vec_fit_ns:
        args = linefit_data(n)
        runs = {"numpy": lambda a=args: numpy_linefit(a["m"], a["b"], a["xs"], a["ys"])}
        for name, run in runners.items():
            runs[f"{name} function"] = lambda run=run, a=args: run(program, "linefit", a, max_steps=MAX_STEPS)
            runs[f"{name} gradient"] = lambda run=run, a=args: run(fit, fit_entry, a, max_steps=MAX_STEPS)
        timings = measure_group(runs, cfg.repeats, cfg.min_time, cfg.long_run)
        expected = numpy_linefit(args["m"], args["b"], args["xs"], args["ys"])
        numpy_s = timings["numpy"]["best_s"]
        for name, run in runners.items():
            fn_s, grad_s = timings[f"{name} function"]["best_s"], timings[f"{name} gradient"]["best_s"]
            fn_bytes, _ = peak_memory(lambda run=run, a=args: run(program, "linefit", a, max_steps=MAX_STEPS))
            grad_bytes, result = peak_memory(lambda run=run, a=args: run(fit, fit_entry, a, max_steps=MAX_STEPS))
            row = {"n": n, "engine": name, "function_s": fn_s, "gradient_s": grad_s, "numpy_s": numpy_s,
                   "over_numpy": grad_s / numpy_s, "over_function": grad_s / fn_s,
                   "function_bytes": fn_bytes, "gradient_bytes": grad_bytes,
                   "memory_ratio": grad_bytes / max(fn_bytes, 1), "gradient_ok": close(result.value, expected, 1e-9)}
            rows.append(row)
            table.add_row(f"{n:,}", name, fmt_time(fn_s), fmt_time(grad_s), fmt_time(numpy_s),
                          _against(row["over_numpy"], 2.0), _against(row["over_function"], 3.0),
                          f"{fmt_bytes(fn_bytes)} / {fmt_bytes(grad_bytes)}", _against(row["memory_ratio"], 3.0),
                          "ok" if row["gradient_ok"] else "[red]WRONG[/]")
        table.add_section()
    console.print(table)
    logreg = bench_logreg(program, runners, cfg)
    targets = vec_targets(rows, logreg)
    verdicts = Table(title="7c. issue 15's targets (every row of 7a and 7b)")
    for column in ("target", "goal", "worst measured", ""):
        verdicts.add_column(column, justify="left" if column == "target" else "right")
    for t in targets:
        verdicts.add_row(t["target"], f"≤ {t['goal']:g}x", f"{t['worst']:.2f}x ({t['where']})",
                         "pass" if t["pass"] else "[bold red]fail[/]")
    console.print(verdicts)
    return {"linefit": rows, "logreg": logreg, "targets": targets}


def bench_logreg(program: ir.Program, runners: dict, cfg: argparse.Namespace) -> list[dict]:
    derived, entry = derivative_program(program, "logreg", ["w", "b"], "reverse")
    args = logreg_data(*LOGREG_SHAPE)
    runs = {"numpy": lambda: numpy_logreg(args["X"], args["y"], args["w"], args["b"])}
    if not engine_table.ENGINES["native"].missing():  # compiled before it is timed (a few seconds)
        runners = {**runners, "native": engine_table.ENGINES["native"].runner()}
        for fn, fn_args in ((derived, entry), (program, "logreg")):
            runners["native"](fn, fn_args, args, max_steps=MAX_STEPS)
    for name, run in runners.items():
        runs[f"{name} function"] = lambda run=run: run(program, "logreg", args, max_steps=MAX_STEPS)
        runs[f"{name} gradient"] = lambda run=run: run(derived, entry, args, max_steps=MAX_STEPS)
    timings = measure_group(runs, cfg.repeats, cfg.min_time, cfg.long_run)
    expected = numpy_logreg(args["X"], args["y"], args["w"], args["b"])
    numpy_s = timings["numpy"]["best_s"]
    rows = []
    rows_text = f"{LOGREG_SHAPE[0]:,} x {LOGREG_SHAPE[1]}"
    table = Table(title=f"7b. logistic regression on a {rows_text} mat, reverse gradient d/dw, d/db, beside numpy")
    for column in ("engine", "function", "gradient", "numpy gradient", "× numpy (≤ 3)", "× function", "ok"):
        table.add_column(column, justify="left" if column == "ok" else "right")
    for name, run in runners.items():
        fn_s, grad_s = timings[f"{name} function"]["best_s"], timings[f"{name} gradient"]["best_s"]
        value = run(derived, entry, args, max_steps=MAX_STEPS).value
        ok = all(close(got, want, 1e-9) for got, want in zip(value, expected))
        row = {"shape": list(LOGREG_SHAPE), "engine": name, "function_s": fn_s, "gradient_s": grad_s,
               "numpy_s": numpy_s, "over_numpy": grad_s / numpy_s, "over_function": grad_s / fn_s, "gradient_ok": ok}
        rows.append(row)
        table.add_row(name, fmt_time(fn_s), fmt_time(grad_s), fmt_time(numpy_s), _against(row["over_numpy"], 3.0),
                      f"{row['over_function']:.2f}x", "ok" if ok else "[red]WRONG[/]")
    console.print(table)
    return rows


def vec_targets(linefit: list[dict], logreg: list[dict]) -> list[dict]:
    """Each of issue 15's targets against the worst row it covers."""
    out = []
    for k, (what, key, goal) in enumerate(VEC_TARGETS):
        rows = logreg if k == len(VEC_TARGETS) - 1 else linefit
        worst = max(rows, key=lambda r: r[key])
        where = worst["engine"] if "n" not in worst else f"{worst['engine']}, n = {worst['n']:,}"
        out.append({"target": what, "goal": goal, "worst": worst[key], "where": where, "pass": worst[key] <= goal})
    return out


def _against(ratio: float, goal: float) -> str:
    return f"[{'green' if ratio <= goal else 'red'}]{ratio:.2f}x[/]"


# ---------------------------------------------------------------- start-up: `adlang run` against importing numpy

STARTUP_ARGS = ("run", "programs/lecture/foo.ad", "x=2", "y=3", "--grad", "x,y")
STARTUP_TARGET = 2.0  # issue 17: at most 2x the wall time of `python -c "import numpy"`


def startup_commands() -> dict[str, list[str]]:
    """`python -c "import numpy"` and `adlang run programs/lecture/foo.ad x=2 y=3 --grad x,y` by the console script
    installed beside this Python (`python -m adlang` without one)."""
    script = Path(sys.executable).with_name("adlang")
    adlang = [str(script)] if script.exists() else [sys.executable, "-m", "adlang"]
    return {"import numpy": [sys.executable, "-c", "import numpy"], "adlang run": [*adlang, *STARTUP_ARGS]}


def _process_time(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one process; on a loaded machine the CPU time's ratio
    says what the wall time's would be on an idle one."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _instructions(command: list[str], cwd: Path, env: dict[str, str]) -> int | None:
    """User-space instructions of one process, counted by callgrind (None without valgrind): load and the
    other processes on the machine do not change them."""
    import shutil
    import tempfile

    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command], cwd=cwd,
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        for line in Path(out).read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    return None


def bench_startup(cfg: argparse.Namespace) -> dict:
    """Wall time of a whole process, output to a pipe, best of repeats taken in turn (and its CPU time).

    Rows: a program run before (its checked IR kept in adlang's cache: the run the target is about), a program
    new to the cache (each run a copy with another comment: parsed and checked), the same at a terminal (where
    rich draws the tables; FORCE_COLOR=1 makes it draw into the pipe), and without bytecode of adlang's own (an
    editable install under PYTHONDONTWRITEBYTECODE=1; numpy's is still there). Bytecode otherwise as an
    install leaves it: pip compiles it; here a private PYTHONPYCACHEPREFIX, filled by a first run, so the
    source tree is not written."""
    import itertools
    import tempfile

    root = Path(__file__).resolve().parent.parent
    commands = startup_commands()
    table = Table(title="start-up: `adlang run programs/lecture/foo.ad x=2 y=3 --grad x,y` against "
                        "`python -c \"import numpy\"` (wall time, best of repeats)")
    columns = ["case", "import numpy", "adlang run", "ratio", "CPU time ratio", f"target <= {STARTUP_TARGET:g}x"]
    if cfg.instructions:
        columns.insert(5, "instructions ratio")
    for col in columns:
        table.add_column(col, justify="right")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        prefix = os.path.join(scratch, "pycache")
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "FORCE_COLOR",
                                                                   "TTY_COMPATIBLE", "PYTHONPYCACHEPREFIX",
                                                                   "ADLANG_NO_CACHE")}
        bytecode = {**base, "PYTHONPYCACHEPREFIX": prefix}
        source = (root / "programs/lecture/foo.ad").read_text()
        serial = itertools.count()

        def new_program() -> list[str]:
            path = os.path.join(scratch, f"foo{next(serial)}.ad")
            Path(path).write_text(source + f"# a new program: {path}\n")
            return [*commands["adlang run"][:-len(STARTUP_ARGS)], "run", path, *STARTUP_ARGS[2:]]

        cases = {
            "program run before": (bytecode, lambda: commands["adlang run"]),
            "a new program": (bytecode, new_program),
            "run before, rich drawing": ({**bytecode, "FORCE_COLOR": "1"}, lambda: commands["adlang run"]),
            "run before, no bytecode": ({**base, "PYTHONDONTWRITEBYTECODE": "1"}, lambda: commands["adlang run"]),
        }
        for label, (env, adlang) in cases.items():
            numpy_runs, adlang_runs = [], []
            for _ in range(max(cfg.repeats * 2, 10) + 1):  # in turn; the first of each a warm-up
                numpy_runs.append(_process_time(commands["import numpy"], root, env))
                adlang_runs.append(_process_time(adlang(), root, env))
            (numpy_s, numpy_cpu), (adlang_s, adlang_cpu) = (
                (min(w for w, _ in runs[1:]), min(c for _, c in runs[1:])) for runs in (numpy_runs, adlang_runs))
            ratio = adlang_s / numpy_s
            verdict = ratio <= STARTUP_TARGET if label in ("program run before", "a new program") else None
            row = {"case": label, "numpy_s": numpy_s, "adlang_s": adlang_s, "ratio": ratio,
                   "numpy_cpu_s": numpy_cpu, "adlang_cpu_s": adlang_cpu, "cpu_ratio": adlang_cpu / numpy_cpu,
                   "pass": verdict, "samples": {"import numpy": numpy_runs, "adlang run": adlang_runs}}
            cells = [label, fmt_time(numpy_s), fmt_time(adlang_s), f"{ratio:.2f}x", f"{adlang_cpu / numpy_cpu:.2f}x",
                     {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "-"}[verdict]]
            if cfg.instructions:
                counts = (_instructions(commands["import numpy"], root, env), _instructions(adlang(), root, env))
                row["instructions"] = {"import numpy": counts[0], "adlang run": counts[1]}
                cells.insert(5, f"{counts[1] / counts[0]:.2f}x" if None not in counts else "-")
            rows.append(row)
            table.add_row(*cells)
    console.print(table)
    return {"commands": commands, "target": STARTUP_TARGET, "rows": rows}


@contextmanager
def no_disk_cache():
    """The native engine compiles in this block, whatever its disk cache holds (ADLANG_NATIVE_CACHE=0)."""
    before = os.environ.get("ADLANG_NATIVE_CACHE")
    os.environ["ADLANG_NATIVE_CACHE"] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["ADLANG_NATIVE_CACHE"]
        else:
            os.environ["ADLANG_NATIVE_CACHE"] = before


def bench_native_startup(cfg: argparse.Namespace) -> dict:
    """`adlang run programs/lecture/loop.ad x=1.5 y=1.1 --grad x,y` as a user starts it, in new processes: the
    interpreter, the native engine on an empty disk cache (compiling the gradient and the helpers it calls),
    and again (loading the machine code). Best of a few, the two engines alternating. Bytecode as an install
    leaves it (as in `bench_startup`: a private PYTHONPYCACHEPREFIX, filled by the first runs)."""
    import tempfile

    loop = Path(__file__).resolve().parent.parent / "programs" / "lecture" / "loop.ad"
    argv = [sys.executable, "-m", "adlang", "run", str(loop), "x=1.5", "y=1.1", "--grad", "x,y"]
    repeats = 3 if cfg.quick else 7
    with tempfile.TemporaryDirectory() as cache:
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env = {**base, "XDG_CACHE_HOME": cache, "ADLANG_NATIVE_CACHE": "1",
               "PYTHONPYCACHEPREFIX": os.path.join(cache, "pycache")}

        def started(engine: str, **changes: str) -> float:
            begun = time.perf_counter()
            subprocess.run([*argv, "--engine", engine], env={**env, **changes}, check=True, capture_output=True)
            return time.perf_counter() - begun

        started("interp")  # the parser's grammar cache, which lives there too
        started("native", ADLANG_NATIVE_CACHE="0")  # bytecode of numba's compiler; no machine code kept
        cold = started("native")
        times: dict[str, list[float]] = {"interp": [], "native": []}
        for _ in range(repeats):
            for engine, samples in times.items():
                samples.append(started(engine))
    interp, warm = min(times["interp"]), min(times["native"])
    console.print(f"start-up of `adlang run loop.ad --grad x,y`, best of {repeats}: interpreter {interp:.2f} s; "
                  f"native, first (compiling) {cold:.2f} s, then from the disk cache {warm:.2f} s "
                  f"(+{warm - interp:.2f} s)")
    return {"installed": True, "interp_s": interp, "native_first_s": cold, "native_cached_s": warm,
            "cached_over_interp_s": warm - interp}


def main(argv: list[str] | None = None) -> int:
    cfg = config(argv)
    started = time.perf_counter()
    machine = machine_info()
    console.print(f"[bold]adlang benchmarks[/] ({'quick' if cfg.quick else 'full'}) — {machine['date']}\n"
                  f"{machine['platform']}, {machine['cpu_model'] or machine['processor']}, "
                  f"{machine['cpu_count']} CPUs, Python {machine['python_version']}, numpy {machine['numpy_version']}"
                  + (f", git {machine['git_commit']}{' (dirty)' if machine.get('git_dirty') else ''}"
                     if "git_commit" in machine else "")
                  + (f", load average {machine['load_average_at_start'][0]:.2f}"
                     if machine["load_average_at_start"] else ""))
    program = compile_source(SOURCE, "bench/run.py")

    sections = cfg.sections
    interp = bench_interpreter(program, cfg) if "1" in sections else None
    loop = bench_loop_gradient(program, cfg) if "2" in sections else None
    vec = bench_vec_gradient(program, cfg) if "2" in sections else {"f": None, "g": None}
    second = bench_second_order(cfg) if "3" in sections else None
    versus = bench_loop_vs_python(program, cfg) if "4" in sections else None
    api = bench_api(cfg) if "5" in sections else None
    native = bench_native(program, cfg) if "6" in sections else None
    hessian_vec = bench_hessian_vec(cfg) if "8" in sections else None
    vectorised = bench_vectorised(cfg) if "7" in sections else None
    startup = bench_startup(cfg) if "startup" in sections else None

    elapsed = time.perf_counter() - started
    results = {
        "machine": machine,
        "config": {"quick": cfg.quick, "sections": sorted(cfg.sections), "repeats": cfg.repeats,
                   "min_time_s": cfg.min_time,
                   "forward_budget_s": cfg.forward_budget, "forward_cap_n": cfg.forward_cap,
                   "hessian_budget_s": cfg.hessian_budget, "hessian_ns": cfg.hessian_ns,
                   "loop_ns": cfg.loop_ns, "strategies": cfg.strategies, "autograd_budget_s": cfg.autograd_budget,
                   "loop_x": LOOP_X, "loop_y": LOOP_Y, "timer": "time.perf_counter, best of repeats, gc off"},
        "source": SOURCE,
        "interpreter": interp,
        "gradient_loop": loop,
        "gradient_vec": {"f_scalar_loop": vec["f"], "g_vectorised": vec["g"]},
        "second_order": second,
        "loop_vs_python": versus,
        "api": api,
        "native": native,
        "hessian_vec": hessian_vec,
        "vectorised": vectorised,
        "startup": startup,
        "elapsed_s": elapsed,
        "load_average_at_end": _load(),
    }
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    load = results["load_average_at_end"]
    console.print(f"wrote {out} in {elapsed:.0f} s" + (f"; load average at end {load[0]:.2f}" if load else ""))
    return 0


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
