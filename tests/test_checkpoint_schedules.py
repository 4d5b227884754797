"""Checkpointing schedules: cost formulas, the schedules, and the abstract machine that checks them.

- `binomial_cost` (Griewank and Walther's closed form) against the dynamic
  program `brute_force_cost`, against an exhaustive shortest-path search over
  every schedule of the abstract machine for tiny loops, and against the two
  published data points;
- `revolve_schedule` valid, within its snapshot budget, and optimal;
- `every_schedule` / `sqrt_schedule` / `none_schedule` valid, with the
  documented recomputation, snapshot and tape counts;
- `simulate` rejecting invalid schedules.
"""

from __future__ import annotations

import heapq
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adlang.ir.checkpoint_schedules import (
    Advance,
    Forget,
    Restore,
    ReverseStep,
    Snapshot,
    Stats,
    binomial_cost,
    brute_force_cost,
    every_schedule,
    none_schedule,
    repetition_number,
    revolve_schedule,
    schedule_for,
    simulate,
    sqrt_interval,
    sqrt_schedule,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------ costs


def test_published_data_points():
    assert binomial_cost(10, 2) == 20
    assert binomial_cost(6733, 82) == 16629


def test_repetition_number():
    assert repetition_number(10, 2) == 3  # C(5, 2) = 10
    assert repetition_number(11, 2) == 4
    assert repetition_number(6733, 82) == 3
    assert repetition_number(1, 0) == 0
    assert repetition_number(7, 1) == 6


@pytest.mark.parametrize("s", range(1, 5))
def test_formula_equals_dynamic_program_and_schedule(s):
    for n in range(0, 61):
        cost = binomial_cost(n, s)
        assert brute_force_cost(n, s) == cost, (n, s)
        stats = simulate(revolve_schedule(n, s), n, snapshots=s)
        assert stats.forward_steps == cost, (n, s)
        assert stats.recomputed_steps == cost, (n, s)
        assert stats.peak_snapshots <= s
        assert stats.peak_stored_steps == min(n, 1)


def test_conventions_at_the_edges():
    for n in range(0, 30):
        assert binomial_cost(n, 1) == n * (n - 1) // 2  # only x_0 stored
        for s in range(max(n - 1, 1), n + 3):
            assert binomial_cost(n, s) == max(n - 1, 0)  # one sweep storing x_0 .. x_{n-2}
    assert binomial_cost(1, 0) == 0 == brute_force_cost(1, 0)
    assert binomial_cost(0, 0) == 0 == brute_force_cost(0, 0)
    assert revolve_schedule(1, 0) == [ReverseStep(0)]
    for f in (binomial_cost, brute_force_cost, revolve_schedule):
        with pytest.raises(ValueError):
            f(2, 0)
        with pytest.raises(ValueError):
            f(-1, 2)


def _exhaustive_cost(n: int, s: int) -> int:
    """Fewest Advance steps over *every* untaped schedule of the machine (Dijkstra over its states).

    Independent of the split-point recursion: any interleaving of one-step
    advances, snapshots, restores, forgets and fused reversal steps.
    """
    start = (0, frozenset(), n - 1)  # (current state or None, snapshots held, next step to reverse)
    dist = {start: 0}
    heap = [(0, 0, start)]
    tie = 1
    while heap:
        d, _, state = heapq.heappop(heap)
        if d > dist[state]:
            continue
        cur, held, nxt = state
        if nxt == -1:
            return d
        moves = []
        if cur is not None and cur <= nxt:
            moves.append((1, (cur + 1, held, nxt)))  # advance one step
            if cur not in held and len(held) < s:
                moves.append((0, (cur, held | {cur}, nxt)))
        if cur == nxt:
            moves.append((0, (None, held, nxt - 1)))  # fused reversal step
        for at in held:
            moves.append((0, (at, held, nxt)))  # restore
            moves.append((0, (cur, held - {at}, nxt)))  # forget
        for cost, new in moves:
            if d + cost < dist.get(new, math.inf):
                dist[new] = d + cost
                heapq.heappush(heap, (d + cost, tie, new))
                tie += 1
    raise AssertionError("unreachable")


@pytest.mark.parametrize("s", range(1, 4))
def test_formula_is_optimal_over_all_schedules(s):
    for n in range(1, 9):
        assert _exhaustive_cost(n, s) == binomial_cost(n, s), (n, s)


@PROPERTY
@given(n=st.integers(0, 150), s=st.integers(1, 10))
def test_dynamic_program_property(n, s):
    assert brute_force_cost(n, s) == binomial_cost(n, s)


@PROPERTY
@given(n=st.integers(0, 500), s=st.integers(1, 10))
def test_revolve_valid_and_optimal(n, s):
    stats = simulate(revolve_schedule(n, s), n, snapshots=s)
    assert stats.forward_steps == binomial_cost(n, s)
    assert stats.recomputed_steps == binomial_cost(n, s)
    assert stats.peak_snapshots <= s
    assert stats.peak_stored_steps <= 1


def test_revolve_more_snapshots_never_cost_more():
    for n in range(1, 80):
        costs = [binomial_cost(n, s) for s in range(1, 12)]
        assert costs == sorted(costs, reverse=True)


# ----------------------------------------------------------- every / sqrt / none


def _every_expected(n: int, k: int) -> Stats:
    c = -(-n // k)  # segments
    recomputed = k * (c - 1) if n else 0
    return Stats(
        recomputed_steps=recomputed,
        forward_steps=n + recomputed,
        peak_snapshots=max(c - 1, 0),
        peak_stored_steps=min(k, n),
    )


def test_every_schedule_stats():
    for n in range(0, 61):
        for k in range(1, n + 3):
            assert simulate(every_schedule(n, k), n) == _every_expected(n, k), (n, k)


@PROPERTY
@given(n=st.integers(0, 500), k=st.integers(1, 600))
def test_every_schedule_property(n, k):
    stats = simulate(every_schedule(n, k), n, snapshots=max(-(-n // k) - 1, 0))
    assert stats == _every_expected(n, k)
    assert stats.peak_stored_steps <= k


def test_every_with_large_interval_is_none():
    for n in range(0, 20):
        assert every_schedule(n, max(n, 1)) == none_schedule(n)
        assert every_schedule(n, n + 5) == none_schedule(n)


def test_every_one_matches_revolve_with_enough_snapshots():
    for n in range(1, 30):
        assert simulate(every_schedule(n, 1), n).recomputed_steps == n - 1 == binomial_cost(n, n)


def test_sqrt_interval_is_exact_ceiling():
    assert [sqrt_interval(n) for n in range(0, 11)] == [1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 4]
    for n in range(1, 5000):
        k = sqrt_interval(n)
        assert (k - 1) ** 2 < n <= k**2
    big = 10**30 + 1
    assert sqrt_interval(big) == 10**15 + 1


def test_sqrt_schedule():
    for n in range(0, 200):
        k = sqrt_interval(n)
        stats = simulate(sqrt_schedule(n), n)
        assert sqrt_schedule(n) == every_schedule(n, k)
        assert stats == _every_expected(n, k)
        assert stats.peak_stored_steps <= k
        assert stats.recomputed_steps < n or n == 0


def test_none_schedule():
    for n in range(0, 40):
        assert simulate(none_schedule(n), n) == Stats(
            recomputed_steps=0, forward_steps=n, peak_snapshots=0, peak_stored_steps=n
        )


def test_schedule_for():
    assert schedule_for("none", 7) == none_schedule(7)
    assert schedule_for("sqrt", 7) == sqrt_schedule(7)
    assert schedule_for("every:3", 7) == every_schedule(7, 3)
    assert schedule_for("revolve:2", 7) == revolve_schedule(7, 2)
    for bad in ("", "every", "every:x", "revolve:", "sqrt:2", "none:1", "bogus"):
        with pytest.raises(ValueError):
            schedule_for(bad, 7)


# --------------------------------------------------------------------- simulate


@pytest.mark.parametrize(
    "actions, n, why",
    [
        ([], 1, "ends before"),
        ([ReverseStep(1), ReverseStep(0)], 2, "current state"),  # step 1 needs x_1
        ([Advance(0, 1), ReverseStep(0)], 2, "next step to reverse is 1"),
        ([Advance(0, 3)], 2, "at most 2"),  # past the loop
        ([Snapshot(0), Advance(0, 1), ReverseStep(1), Restore(0), Advance(0, 2)], 2, "at most 1"),  # past x_1
        ([Advance(0, 2), ReverseStep(1)], 2, "current state is 2"),  # step 1 needs x_1
        ([Advance(0, 1), ReverseStep(1), ReverseStep(0)], 2, "current state is None"),  # x_0 lost
        ([Restore(0)], 1, "no such snapshot"),
        ([Forget(0)], 1, "no such snapshot"),
        ([Snapshot(1)], 2, "current state"),
        ([Snapshot(0), Snapshot(0)], 2, "already held"),
        ([Advance(1, 2)], 3, "current state"),
        ([Advance(0, 0)], 1, "forwards"),
        ([Advance(0, 2, record=True), ReverseStep(1)], 2, "ends before"),
        ([Advance(0, 2, record=True), ReverseStep(1), ReverseStep(0), ReverseStep(-1)], 2, "already reversed"),
        (["advance"], 1, "not an action"),
    ],
)
def test_simulate_rejects(actions, n, why):
    with pytest.raises(ValueError, match=why):
        simulate(actions, n)


def test_simulate_rejects_leftover_tape():
    # step 0 taped twice, reversed once
    actions = [Snapshot(0), Advance(0, 1, record=True), Restore(0), Advance(0, 1, record=True), ReverseStep(0)]
    with pytest.raises(ValueError, match="left on the tape"):
        simulate(actions, 1)


def test_simulate_enforces_snapshot_budget():
    schedule = revolve_schedule(20, 3)
    assert simulate(schedule, 20, snapshots=3).peak_snapshots == 3
    with pytest.raises(ValueError, match="more than 2 snapshots"):
        simulate(schedule, 20, snapshots=2)


def test_simulate_rejects_mutated_revolve_schedules():
    """Dropping any Restore, Advance or ReverseStep from a revolve schedule breaks it."""
    n, s = 12, 3
    schedule = revolve_schedule(n, s)
    for pos, act in enumerate(schedule):
        if isinstance(act, Restore | Advance | ReverseStep):
            with pytest.raises(ValueError):
                simulate(schedule[:pos] + schedule[pos + 1 :], n, snapshots=s)
