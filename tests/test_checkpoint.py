"""Checkpointed reverse mode (`--checkpoint every:K`, `sqrt`, `revolve:S`): the same gradients, less tape.

Every strategy must give the numbers of plain reverse mode (to 1e-12 relative),
on every example with a loop and on random programs; the printed program must
be valid adlang that shows the recomputation (the segment's VJP runs it again).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from helpers import PROGRAM_PATHS, check_golden, compile_text, load_example
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import generated, points

from adlang.derivatives import compute, loop_stats
from adlang.interp.interpreter import run_function
from adlang.ir import nodes as ir
from adlang.ir.checkpoint_schedules import binomial_cost, brute_force_cost
from adlang.ir.derive import derivative_program, diff_source
from adlang.ir.printer import print_program
from adlang.lang.errors import ParseError, UsageError
from adlang.pipeline import compile_source

STRATEGIES = ["every:1", "every:2", "every:3", "every:7", "sqrt", "revolve:1", "revolve:2", "revolve:3", "revolve:5"]
LOOP_PROGRAMS = [p for p in PROGRAM_PATHS if "for " in p.read_text()]


def close(a, b, rel=1e-12) -> bool:
    a, b = np.atleast_1d(np.asarray(a, dtype=float)), np.atleast_1d(np.asarray(b, dtype=float))
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rel * np.maximum(1.0, np.maximum(abs(a), abs(b)))))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("path", LOOP_PROGRAMS, ids=lambda p: p.stem)
def test_every_strategy_gives_the_gradient_of_plain_reverse_mode(path, strategy):
    example = load_example(path)
    if not example.wrt:
        pytest.skip("no parameters to differentiate")
    plain = compute(example.program, example.fn, example.args, wrt=example.wrt, mode="reverse")
    checked = compute(example.program, example.fn, example.args, wrt=example.wrt, mode="reverse",
                      checkpoint=strategy)
    assert close(checked.value, plain.value)
    for w in example.wrt:
        assert close(checked.grad[w], plain.grad[w]), (w, checked.grad[w], plain.grad[w])
    for loop in checked.loops:
        if loop.predicted is not None:
            assert loop.recomputed == loop.predicted, loop


def test_the_lecture_loop_is_split_into_segments_that_are_recomputed():
    program = compile_source(open(PROGRAM_PATHS[0].parent.parent / "lecture" / "loop.ad").read(), "loop.ad")
    derived, entry = derivative_program(program, "foo", ["x", "y"], "reverse", checkpoint="every:2")
    names = [f.name for f in derived.functions]
    assert names == ["foo_segment", "foo_segment_vjp", "foo_reverse"]
    vjp = derived.function("foo_segment_vjp")
    loops = [s for s in vjp.body if isinstance(s, ir.For)]
    assert len(loops) == 2, "the segment's VJP runs the segment forward again, then backward"
    x, y = 1.5, 1.1
    out = run_function(derived, entry, {"x": x, "y": y}).value
    assert out[0] == pytest.approx(x * y**9, rel=1e-14)
    assert out[1] == pytest.approx(y**9, rel=1e-12) and out[2] == pytest.approx(9 * x * y**8, rel=1e-12)


@pytest.mark.parametrize("strategy", ["every:2", "sqrt", "revolve:2"])
def test_lecture_loop_checkpoint_golden(strategy, request):
    path = PROGRAM_PATHS[0].parent.parent / "lecture" / "loop.ad"
    text = diff_source(compile_source(path.read_text(), str(path)), "foo", ["x", "y"], "reverse",
                       checkpoint=strategy)
    check_golden(f"lecture__loop.checkpoint-{strategy.replace(':', '')}.ad", text, request)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 9, 10, 17])
@pytest.mark.parametrize("strategy", ["every:1", "every:4", "sqrt", "revolve:1", "revolve:2", "revolve:4"])
def test_trip_counts_including_empty_loops(n, strategy):
    program = compile_text("""
        def f(x, v: vec, n: int) -> float:
            let s = x
            let t = 0.0
            for i in 0..n:
                let w = v * s
                t = t + sum(w) * x
                s = sin(s) + x
            return s * t
    """)
    args = {"x": 0.7, "v": np.array([1.0, -2.0, 0.5]), "n": n}
    plain = compute(program, "f", args, wrt=["x", "v"], mode="reverse")
    checked = compute(program, "f", args, wrt=["x", "v"], mode="reverse", checkpoint=strategy)
    forward = compute(program, "f", args, wrt=["x", "v"], mode="forward")
    for w in ("x", "v"):
        assert close(checked.grad[w], plain.grad[w]) and close(checked.grad[w], forward.grad[w], 1e-9)


def test_second_order_over_a_checkpointed_loop():
    program = compile_source(open(PROGRAM_PATHS[0].parent.parent / "lecture" / "loop.ad").read(), "loop.ad")
    x, y = 1.5, 1.1
    for strategy in ("every:4", "revolve:2"):
        for mode in ("forward-over-reverse", "reverse-over-reverse"):
            run = compute(program, "foo", {"x": x, "y": y}, wrt=["x", "y"], mode=mode, order=2, checkpoint=strategy)
            assert run.hessian["y"]["y"] == pytest.approx(72 * x * y**7, rel=1e-10)
            assert run.hessian["x"]["y"] == pytest.approx(9 * y**8, rel=1e-10)


@pytest.mark.parametrize("bad", ["every:0", "every:x", "often", "revolve:0", "revolve:", "revolve:s"])
def test_bad_strategies_are_usage_errors(bad):
    program = compile_text("""
        def f(x) -> float:
            let s = x
            for i in 0..3:
                s = s * x
            return s
    """)
    with pytest.raises(UsageError):
        derivative_program(program, "f", ["x"], "reverse", checkpoint=bad)


def test_cli_checkpoint_flag():
    path = str(PROGRAM_PATHS[0].parent.parent / "lecture" / "loop.ad")
    out = subprocess.run([sys.executable, "-m", "adlang", "run", path, "x=1.5", "y=1.1", "--grad", "x,y",
                          "--checkpoint", "sqrt", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '"grad": {"x": 2.357947691000002' in out.stdout
    bad = subprocess.run([sys.executable, "-m", "adlang", "run", path, "x=1.5", "y=1.1", "--grad", "x,y",
                          "--checkpoint", "often"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage error" in bad.stderr and "Traceback" not in bad.stderr


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated(smooth=True), st.sampled_from(STRATEGIES), st.data())
def test_random_programs_same_gradient_with_every_strategy(gen, strategy, data):
    program = compile_source(gen.source, "<generated>")
    args = data.draw(points(gen.arg_names))
    wrt = [n for n in gen.arg_names if n != "n"]
    plain = compute(program, "main", args, wrt=wrt, mode="reverse")
    checked = compute(program, "main", args, wrt=wrt, mode="reverse", checkpoint=strategy)
    for w in wrt:
        assert close(checked.grad[w], plain.grad[w], 1e-11), (w, checked.grad[w], plain.grad[w])
    text = diff_source(program, "main", wrt, "reverse", checkpoint=strategy)
    reparsed = compile_source(text, "<printed>")
    entry = [line.split("(")[0][4:] for line in text.splitlines() if line.startswith("def ")][-1]
    printed = run_function(reparsed, entry, args).value
    for i, w in enumerate(wrt):
        assert close(printed[1 + i], checked.grad[w], 1e-12)


@pytest.mark.parametrize("n", [100, 2500])
def test_sqrt_checkpointing_keeps_the_tape_within_two_square_roots(n):
    """none holds n values at peak; sqrt holds one saved state per segment start plus the K taped
    iterations of the segment being reversed (its bounds are recomputed, not saved): within 2 sqrt(n)."""
    program = compile_text("""
        def f(x, y, n: int) -> float:
            let accum = x
            for i in 0..n:
                accum = accum * y
            return accum
    """)
    args = {"x": 1.5, "y": 1.0001, "n": n}
    plain = compute(program, "f", args, wrt=["x", "y"], mode="reverse")
    checked = compute(program, "f", args, wrt=["x", "y"], mode="reverse", checkpoint="sqrt")
    assert plain.tape_peak == n
    k = int(np.ceil(np.sqrt(n)))
    segments = -(-n // k)
    # all segment states are saved; reversing the last one pops its state and tapes its k iterations
    assert checked.tape_peak == segments - 1 + k
    assert checked.tape_peak <= 2 * np.sqrt(n)
    assert close(checked.grad["y"], plain.grad["y"], 1e-11)


LOOP = """
    def f(x, y, n: int) -> float:
        let accum = x
        for i in 0..n:
            accum = accum * y
        return accum
"""


@pytest.mark.parametrize("engine", ["interp", "compiled"])
@pytest.mark.parametrize("strategy", ["none", "every:1", "every:3", "sqrt", "revolve:1", "revolve:2", "revolve:3"])
def test_recomputed_iterations_are_what_the_schedule_predicts(strategy, engine):
    """Measured: iterations the engine ran forwards beyond those it reversed. Predicted: the abstract
    machine of ir/checkpoint_schedules.py running the schedule the pass emits."""
    program = compile_text(LOOP)
    for n in (0, 1, 2, 3, 9, 10, 17, 60):
        run = compute(program, "f", {"x": 1.5, "y": 1.01, "n": n}, wrt=["x", "y"], mode="reverse",
                      checkpoint=strategy, engine=engine)
        assert run.grad["y"] == pytest.approx(n * 1.5 * 1.01 ** (n - 1) if n else 0.0, rel=1e-12)
        if strategy == "none":
            assert run.loops == [] and run.recomputed == 0
            continue
        [loop] = run.loops
        assert (loop.trips, loop.strategy) == (n, strategy)
        assert loop.recomputed == loop.predicted == run.recomputed, (n, loop)
        if strategy.startswith("revolve") and n:
            assert loop.predicted == binomial_cost(n, int(strategy[8:])) + n
        elif n:
            assert loop.predicted == n  # every segment once more, taped


def test_revolve_recomputes_the_brute_force_minimum():
    """For every l <= 60 and s <= 4, the advances revolve:s runs (the iterations run again, less the one
    taped re-run per reversed iteration) are Griewank and Walther's r*l - C(s+r, s+1) and the minimum
    that a dynamic program over split points finds."""
    program = compile_text(LOOP)
    for s in range(1, 5):
        derived, entry = derivative_program(program, "f", ["x", "y"], "reverse", checkpoint=f"revolve:{s}")
        loops = _checkpointed_loops(program, f"revolve:{s}")
        for n in range(1, 61):
            result = run_function(derived, entry, {"x": 1.5, "y": 1.01, "n": n})
            [loop] = loop_stats(loops, result.loop_trips)
            advances = loop.recomputed - n
            assert advances == binomial_cost(n, s) == brute_force_cost(n, s), (n, s, advances)


def test_the_issue_figures_of_the_binomial_cost():
    assert binomial_cost(10, 2) == 20 and binomial_cost(6733, 82) == 16629


@pytest.mark.parametrize("snapshots", [1, 2, 3, 6])
def test_revolve_holds_at_most_its_snapshots(snapshots):
    """The newest snapshot lives in variables, older ones on the tape (its iteration and the state);
    reversing one iteration tapes that iteration's value: 2 (s - 1) + 1 values at most, whatever n."""
    program = compile_text(LOOP)
    n = 300
    args = {"x": 1.5, "y": 1.001, "n": n}
    plain = compute(program, "f", args, wrt=["x", "y"], mode="reverse")
    checked = compute(program, "f", args, wrt=["x", "y"], mode="reverse", checkpoint=f"revolve:{snapshots}")
    assert plain.tape_peak == n
    assert checked.tape_peak <= 2 * (snapshots - 1) + 1
    assert close(checked.grad["y"], plain.grad["y"], 1e-12)


def test_revolve_with_vec_and_int_state_and_several_carried_values():
    program = compile_text("""
        def f(x, v: vec, n: int) -> float:
            let s = x
            let w = v
            let k = 0
            for i in 0..n:
                w = w * s + sin(w)
                k = k + 2
                s = s * 0.9 + sum(w) * 0.01 + float(k) * 0.001
            return s + sum(w)
    """)
    args = {"x": 0.7, "v": np.array([0.3, -0.2, 0.5]), "n": 13}
    plain = compute(program, "f", args, wrt=["x", "v"], mode="reverse")
    forward = compute(program, "f", args, wrt=["x", "v"], mode="forward")
    for s in (1, 2, 4):
        checked = compute(program, "f", args, wrt=["x", "v"], mode="reverse", checkpoint=f"revolve:{s}")
        for w in ("x", "v"):
            assert close(checked.grad[w], plain.grad[w]) and close(checked.grad[w], forward.grad[w], 1e-9)
        [loop] = checked.loops
        assert loop.recomputed == loop.predicted == binomial_cost(13, s) + 13


def _checkpointed_loops(program, strategy):
    from adlang.ir.builder import Namer
    from adlang.ir.checkpoint import checkpoint_loops

    return checkpoint_loops(program, "f", strategy, Namer(set(program.names))).loops


ANNOTATED = """
    def f(x, y, n: int) -> float:
        let accum = x
        for i in 0..n:  # checkpoint: revolve:2
            accum = accum * y
        let k = 0
        while k < n:  # checkpoint: every:3
            accum = accum + sin(accum) * y
            k = k + 1
        for j in 0..n:
            accum = accum * 0.5 + x
        return accum
"""


def test_a_loop_comment_overrides_the_flag_and_survives_printing():
    program = compile_text(ANNOTATED)
    args = {"x": 0.8, "y": 1.1, "n": 7}
    plain = compute(program, "f", args, wrt=["x", "y"], mode="forward")
    for flag in ("none", "sqrt", "revolve:3"):
        run = compute(program, "f", args, wrt=["x", "y"], mode="reverse", checkpoint=flag)
        assert close(run.grad["x"], plain.grad["x"], 1e-10) and close(run.grad["y"], plain.grad["y"], 1e-10)
        strategies = [loop.strategy for loop in run.loops]
        assert strategies == ["revolve:2", "every:3"] + ([flag] if flag != "none" else [])
        for loop in run.loops:
            assert loop.trips == 7 and loop.recomputed == loop.predicted, loop
    [while_loop] = [loop for loop in run.loops if loop.strategy == "every:3"]
    assert while_loop.counted and while_loop.predicted == 7 + 7  # counted once, then every segment again
    printed = print_program(program)
    assert "for i in 0..n:  # checkpoint: revolve:2" in printed and "while _1:  # checkpoint: every:3" in printed
    assert compile_source(printed, "<printed>") == program


def test_a_loop_comment_with_an_unknown_strategy_is_a_parse_error():
    with pytest.raises(ParseError, match="unknown checkpoint strategy 'often'") as caught:
        compile_text("""
            def f(x) -> float:
                for i in 0..3:  # checkpoint: often
                    x = x * 2.0
                return x
        """)
    assert caught.value.span.col == 17 + 4  # the '#' (compile_text strips the common indentation)


def test_comments_elsewhere_that_mention_checkpoint_are_comments():
    program = compile_text("""
        # checkpoint: this is prose, not an annotation
        def f(x) -> float:
            let y = x  # checkpoint: sqrt
            return y
    """)
    assert run_function(program, "f", {"x": 2.0}).value == 2.0


@pytest.mark.parametrize("strategy", ["every:2", "sqrt", "revolve:2"])
def test_nested_loops_and_loops_in_callees(strategy):
    """The flag reaches the outermost loops of every function called; an inner loop checkpoints by its comment."""
    program = compile_text("""
        def inner(x, v: vec) -> float:
            let s = 0.0
            for i in 0..len(v):
                s = s + sin(v[i] * x)
            return s

        def f(x, y, v: vec) -> float:
            let a = x
            for i in 0..4:
                let b = a
                for j in 0..5:  # checkpoint: revolve:3
                    b = b * y + inner(b, v)
                a = a + b * 0.1
            return a
    """)
    args = {"x": 0.3, "y": 0.9, "v": np.array([0.2, -0.4, 1.1])}
    forward = compute(program, "f", args, wrt=["x", "y", "v"], mode="forward")
    plain = compute(program, "f", args, wrt=["x", "y", "v"], mode="reverse")
    run = compute(program, "f", args, wrt=["x", "y", "v"], mode="reverse", checkpoint=strategy)
    for w in ("x", "y", "v"):
        assert close(run.grad[w], plain.grad[w], 1e-11) and close(run.grad[w], forward.grad[w], 1e-9)
    lines = sorted((loop.line, loop.strategy, loop.predicted is None) for loop in run.loops)
    assert lines == [(3, strategy, True), (9, strategy, False), (11, "revolve:3", True)]  # (line, how, no prediction)
    text = diff_source(program, "f", ["x", "y", "v"], "reverse", checkpoint=strategy)
    reparsed = compile_source(text, "<printed>")
    entry = [line.split("(")[0][4:] for line in text.splitlines() if line.startswith("def ")][-1]
    again = run_function(reparsed, entry, args).value
    assert close(again[1], run.grad["x"], 1e-12)


@pytest.mark.parametrize("strategy", ["every:1", "every:3", "sqrt", "revolve:1", "revolve:2"])
def test_while_loops_count_their_trips_then_checkpoint_them(strategy):
    program = compile_text("""
        def f(x, y) -> float:
            let s = x
            let k = 0
            while s < 50.0:
                s = s * y + 0.1
                k = k + 1
            return s
    """)
    for x in (0.5, 49.0, 60.0):  # many trips, one, none
        args = {"x": x, "y": 1.3}
        plain = compute(program, "f", args, wrt=["x", "y"], mode="reverse")
        run = compute(program, "f", args, wrt=["x", "y"], mode="reverse", checkpoint=strategy)
        assert close(run.grad["x"], plain.grad["x"]) and close(run.grad["y"], plain.grad["y"])
        [loop] = run.loops
        assert loop.counted and loop.recomputed == loop.predicted, loop


@pytest.mark.parametrize("strategy", ["every:2", "sqrt", "revolve:1", "revolve:3"])
@pytest.mark.parametrize("path", LOOP_PROGRAMS, ids=lambda p: p.stem)
def test_both_engines_agree_bit_for_bit_on_checkpointed_programs(path, strategy):
    from adlang.interp.compiled import run_compiled

    example = load_example(path)
    if not example.wrt:
        pytest.skip("no parameters to differentiate")
    derived, entry = derivative_program(example.program, example.fn, example.wrt, "reverse", checkpoint=strategy)
    interp = run_function(derived, entry, example.args)
    compiled = run_compiled(derived, entry, example.args)
    assert repr(compiled.value) == repr(interp.value)
    assert (compiled.steps, compiled.tape_peak, compiled.loop_trips) == (interp.steps, interp.tape_peak,
                                                                          interp.loop_trips)


@pytest.mark.parametrize("engine", ["interp", "compiled"])
@pytest.mark.parametrize("trips", [0, 1])
@pytest.mark.parametrize("strategy", ["sqrt", "revolve:2"])
def test_hessian_over_a_vec_through_a_checkpointed_loop_that_may_not_run(strategy, trips, engine):
    """Found by the renaming property: the Hessian over v of a checkpointed loop (in a called function, the
    element-by-element wrapper's callee) declared a vec adjoint as zeros(len(_13)) before the loop, where
    _13, a temporary taking a call's tuple apart inside the loop, is not visible; with 0 trips it was a
    KeyError, and a compile error in the compiled engine. It starts as the empty vec now."""
    source = f"""
        def main(x0: float, v: vec(3)) -> float:
            for i0 in 0..{trips}:
                let k3 = 0
                while k3 < 2:
                    x0 = sin(x0 * v[0])
                    k3 += 1
            return x0
    """
    program = compile_text(source)
    args = {"x0": 0.5, "v": np.array([1.0, 2.0, 3.0])}
    plain = compute(program, "main", args, wrt=["x0", "v"], order=2, engine=engine)
    checkpointed = compute(program, "main", args, wrt=["x0", "v"], order=2, engine=engine, checkpoint=strategy)
    for p in ("x0", "v"):
        for q in ("x0", "v"):
            assert np.array_equal(np.asarray(checkpointed.hessian[p][q]), np.asarray(plain.hessian[p][q])), (p, q)
    if trips == 0:
        assert plain.hessian["x0"]["x0"] == 0.0 and checkpointed.grad["x0"] == 1.0
