"""Checkpointing schedules for reversing a loop of ``n`` steps, and their cost.

Pure Python, no dependency on the rest of adlang. A loop runs steps
``0, 1, ..., n-1``; step ``i`` maps the loop state ``x_i`` to ``x_{i+1}``.
Reverse mode must apply the adjoints of the steps in the order
``n-1, n-2, ..., 0``, and the adjoint of step ``i`` needs the values step ``i``
computed from ``x_i``. A *schedule* is a list of actions on an abstract machine
that says how those values are obtained:

``Advance(from_, to, record=False)``
    run steps ``from_ .. to-1`` starting from the current state ``x_from_``;
    the current state becomes ``x_to``. With ``record=True`` every step run
    pushes its values on the *tape* (one tape entry per step).
``Snapshot(at)``
    store the current state ``x_at`` in a snapshot slot.
``Restore(at)``
    make the snapshot of ``x_at`` the current state (the snapshot is kept).
``Forget(at)``
    free the snapshot of ``x_at``.
``ReverseStep(i)``
    apply the adjoint of step ``i``. If the tape's top entry is step ``i`` it is
    popped and used (no step evaluation). Otherwise the current state must be
    ``x_i``: the step is evaluated once more, taped, and immediately reversed
    (a *fused* reversal step, Revolve's "youturn"); it holds one tape entry for
    a moment, and afterwards the current state is undefined.

Conventions (used consistently by the schedules, :func:`simulate`, and the cost
formulas):

* The machine starts with the current state ``x_0`` and no snapshots. The
  current state is *not* a snapshot; storing the initial state costs one
  snapshot like any other, so ``s`` snapshots include the one holding ``x_0``.
* ``forward_steps`` counts the step evaluations made by ``Advance`` actions
  (taped or not). Fused evaluations inside ``ReverseStep`` are not counted.
* ``recomputed_steps`` counts all step evaluations (``Advance`` and fused)
  beyond the ``n`` that plain reverse mode (strategy ``none``) makes: every step
  is evaluated at least once, so this is the number of repeated evaluations.

Strategies:

``none`` (:func:`none_schedule`)
    one taped forward sweep, then ``n`` tape-popping reversal steps:
    ``n`` stored steps, 0 snapshots, 0 recomputed.
``every:K`` (:func:`every_schedule`)
    with ``c = ceil(n/K)`` segments starting at ``0, K, ..., (c-1)K``: the
    forward sweep snapshots the start of every segment but the last, and tapes
    the last segment (so it is never recomputed). Each other segment, last to
    first, is recomputed taped from its snapshot and reversed. Recomputed:
    ``K*(c-1)``; forward steps ``n + K*(c-1)``; peak snapshots ``c-1``; peak
    stored steps ``min(K, n)``. ``every:K`` with ``K >= n`` is ``none``.
``sqrt`` (:func:`sqrt_schedule`)
    ``every:K`` with ``K = ceil(sqrt(n))``, computed exactly as
    ``isqrt(n-1) + 1`` (``K = 1`` for ``n <= 1``); e.g. ``n = 9 -> K = 3``,
    ``n = 10 -> K = 4``.
``revolve:S`` (:func:`revolve_schedule`)
    binomial checkpointing with at most ``S`` snapshots held at once (Griewank
    and Walther, "Algorithm 799: Revolve", ACM TOMS 26(1), 2000). Every
    reversal step is fused, no segment is taped: ``forward_steps ==
    recomputed_steps == binomial_cost(n, S)``, peak stored steps 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

__all__ = [
    "Action",
    "Advance",
    "Forget",
    "Restore",
    "ReverseStep",
    "Snapshot",
    "Stats",
    "binomial_cost",
    "brute_force_cost",
    "every_schedule",
    "none_schedule",
    "pass_schedule",
    "repetition_number",
    "revolve_split",
    "revolve_schedule",
    "schedule_for",
    "simulate",
    "sqrt_interval",
    "sqrt_schedule",
]


@dataclass(frozen=True)
class Advance:
    from_: int
    to: int
    record: bool = False


@dataclass(frozen=True)
class Snapshot:
    at: int


@dataclass(frozen=True)
class Restore:
    at: int


@dataclass(frozen=True)
class Forget:
    at: int


@dataclass(frozen=True)
class ReverseStep:
    i: int


Action = Advance | Snapshot | Restore | Forget | ReverseStep


@dataclass(frozen=True)
class Stats:
    recomputed_steps: int
    forward_steps: int
    peak_snapshots: int
    peak_stored_steps: int


# --------------------------------------------------------------------------- costs


def _check_ls(n: int, s: int) -> None:
    if n < 0 or s < 0:
        raise ValueError(f"need n >= 0 and s >= 0, got n={n}, s={s}")
    if n >= 2 and s == 0:
        raise ValueError(f"cannot reverse {n} steps with 0 snapshots")


def repetition_number(n: int, s: int) -> int:
    """The smallest ``r >= 0`` with ``C(s + r, s) >= n``.

    ``C(s + r, s)`` is the largest number of steps that ``s`` snapshots can
    reverse when no step is advanced more than ``r`` times.
    """
    _check_ls(n, s)
    if n <= 1:
        return 0
    if s == 1:
        return n - 1
    r = 0
    while math.comb(s + r, s) < n:
        r += 1
    return r


def binomial_cost(n: int, s: int) -> int:
    """Minimal number of forward step evaluations to reverse ``n`` steps with ``s`` snapshots.

    With ``r = repetition_number(n, s)`` (the smallest ``r`` with
    ``C(s + r, s) >= n``) the minimum is ``r*n - C(s + r, s + 1)`` (Griewank and
    Walther 2000); ``binomial_cost(10, 2) == 20``,
    ``binomial_cost(6733, 82) == 16629``.

    Convention. The count is the number of steps taken by ``Advance`` actions:
    the steps of the initial forward sweep that move the state from one
    checkpoint to the next, and every later re-advance from a restored
    snapshot. It does not count the ``n`` reversal steps, in which step ``i`` is
    evaluated from ``x_i`` together with its adjoint (so the state ``x_n`` and
    step ``n-1``'s values come from the first reversal step, not from the
    forward sweep). The ``s`` snapshots include the one that holds the initial
    state ``x_0``; the current state is held for free. Hence
    ``binomial_cost(1, s) == 0`` (just reverse step 0, even with ``s = 0``),
    ``binomial_cost(n, 1) == n*(n-1)/2`` (only ``x_0`` is stored, so step ``i``
    is reached by advancing ``i`` steps from it), and
    ``binomial_cost(n, s) == n - 1`` for ``s >= n - 1`` (store
    ``x_0 .. x_{n-2}`` on one sweep; ``x_{n-1}`` is the current state when step
    ``n-1`` is reversed). :func:`brute_force_cost` uses the same convention and
    agrees with the formula, and :func:`revolve_schedule` attains it.

    Raises ValueError for negative arguments, or ``s == 0`` with ``n >= 2``.
    """
    r = repetition_number(n, s)
    if n <= 1:
        return 0
    return r * n - math.comb(s + r, s + 1)


def brute_force_cost(n: int, s: int) -> int:
    """The same minimum as :func:`binomial_cost`, by dynamic programming over split points.

    ``t(k, j)``, the cost of reversing ``k`` steps from a current state held in
    one of ``j`` snapshots (``j`` counts that snapshot), is::

        t(0, j) = t(1, j) = 0                  (reverse the step from the current state)
        t(k, 0) = infinity                     for k >= 2
        t(k, 1) = k*(k-1)/2                    (only the start is stored)
        t(k, j) = min over 1 <= m < k of  m + t(k - m, j - 1) + t(m, j)

    i.e. advance ``m`` steps, snapshot there, reverse the right part with the
    remaining ``j-1`` snapshots, free that snapshot, restore the start and
    reverse the left part. (A split with ``k - m == 1`` needs no snapshot, which
    is ``t(1, 0) == 0``.) The textbook form with base case
    ``t(k, 0) = k*(k-1)/2`` counts snapshots *besides* the initial state; it is
    this table with ``j`` shifted by one. O(n**2 * s) time.
    """
    _check_ls(n, s)
    if n <= 1:
        return 0
    inf = math.inf
    # prev[k] = t(k, j-1), cur[k] = t(k, j)
    prev = [0, 0] + [inf] * (n - 1)  # j = 0
    cur = prev
    for j in range(1, s + 1):
        cur = [0, 0] + [0] * (n - 1)
        for k in range(2, n + 1):
            if j == 1:
                cur[k] = k * (k - 1) // 2
                continue
            cur[k] = min(m + prev[k - m] + cur[m] for m in range(1, k))
        prev = cur
        if j >= n:  # more snapshots cannot help
            break
    return int(cur[n])


# ----------------------------------------------------------------------- schedules


def none_schedule(n: int) -> list[Action]:
    """Plain reverse mode: tape all ``n`` steps on the forward sweep, then pop them."""
    if n < 0:
        raise ValueError(f"need n >= 0, got {n}")
    if n == 0:
        return []
    return [Advance(0, n, record=True), *(ReverseStep(i) for i in range(n - 1, -1, -1))]


def every_schedule(n: int, k: int) -> list[Action]:
    """Strategy ``every:K``: a snapshot at the start of every ``K``-step segment.

    The forward sweep snapshots ``x_0, x_K, ..., x_{(c-2)K}`` (``c = ceil(n/K)``
    segments) and tapes the last segment, which is reversed at once. Then each
    earlier segment, last to first, is restored, recomputed taped (its snapshot
    is freed right after the restore) and reversed. Recomputed steps:
    ``K * (ceil(n/K) - 1)``; peak snapshots ``ceil(n/K) - 1``; peak stored steps
    ``min(K, n)``.
    """
    if n < 0 or k < 1:
        raise ValueError(f"need n >= 0 and K >= 1, got n={n}, K={k}")
    if n == 0:
        return []
    c = -(-n // k)
    last = (c - 1) * k
    out: list[Action] = []
    for j in range(c - 1):
        out.append(Snapshot(j * k))
        out.append(Advance(j * k, (j + 1) * k))
    out.append(Advance(last, n, record=True))
    out.extend(ReverseStep(i) for i in range(n - 1, last - 1, -1))
    for j in range(c - 2, -1, -1):
        a, b = j * k, (j + 1) * k
        out += [Restore(a), Forget(a), Advance(a, b, record=True)]
        out.extend(ReverseStep(i) for i in range(b - 1, a - 1, -1))
    return out


def sqrt_interval(n: int) -> int:
    """``ceil(sqrt(n))``, computed exactly (``isqrt(n-1) + 1``); 1 for ``n <= 1``."""
    if n < 0:
        raise ValueError(f"need n >= 0, got {n}")
    return 1 if n <= 1 else math.isqrt(n - 1) + 1


def sqrt_schedule(n: int) -> list[Action]:
    """Strategy ``sqrt``: ``every_schedule(n, ceil(sqrt(n)))``."""
    return every_schedule(n, sqrt_interval(n))


@cache
def _t(n: int, s: int) -> int:
    return binomial_cost(n, s)


def revolve_split(n: int, s: int) -> int:
    """How many of ``n >= 2`` steps to advance before the next snapshot, with ``s >= 1`` snapshots.

    ``s`` counts the snapshot holding the current state. With one snapshot
    nothing else can be stored, so advance to the last step (``n - 1``);
    otherwise an optimal split point (:func:`_split`). A driver that advances
    by this, snapshots where two or more steps remain, reverses a single step
    at once and restores its newest snapshot when it runs out reproduces
    :func:`revolve_schedule` action for action.
    """
    if n < 2 or s < 1:
        raise ValueError(f"need n >= 2 and s >= 1, got n={n}, s={s}")
    return n - 1 if s == 1 else _split(n, s)


def _split(n: int, s: int) -> int:
    """An optimal split ``m`` (1 <= m < n) for reversing ``n >= 2`` steps with ``s >= 2`` snapshots.

    ``f(m) = m + t(n - m, s - 1) + t(m, s)`` is convex in ``m`` (``t(., s)`` has
    nondecreasing increments ``t(k+1, s) - t(k, s) = repetition_number(k+1, s)``),
    so the first ``m`` whose increment ``f(m+1) - f(m)`` is >= 0 is a minimum;
    found by bisection.
    """

    def f(m: int) -> int:
        return m + _t(n - m, s - 1) + _t(m, s)

    lo, hi = 1, n - 1  # answer in [lo, hi]; f(hi+1) is undefined, so hi is a candidate
    while lo < hi:
        mid = (lo + hi) // 2
        if f(mid + 1) - f(mid) >= 0:
            hi = mid
        else:
            lo = mid + 1
    return lo


def revolve_schedule(n: int, s: int) -> list[Action]:
    """Binomial checkpointing: reverse ``n`` steps holding at most ``s`` snapshots at once.

    The snapshots include the one holding ``x_0`` (none is taken for ``n <= 1``).
    Every reversal step is fused (evaluated from the current state together
    with its adjoint), and the ``Advance`` steps total exactly
    ``binomial_cost(n, s)``, the optimum. Raises ValueError for ``s == 0`` with
    ``n >= 2``.
    """
    _check_ls(n, s)
    out: list[Action] = []
    if n == 0:
        return out
    if n == 1:
        return [ReverseStep(0)]
    out.append(Snapshot(0))
    # Explicit stack instead of recursion: items are ("rev", a, b, s) or an action.
    # ("rev", a, b, s): current state is x_a; if b - a >= 2, x_a is snapshotted and
    # counts among the s snapshots available to reverse steps a .. b-1.
    work: list[object] = [Forget(0), ("rev", 0, n, s)]
    while work:
        item = work.pop()
        if not isinstance(item, tuple):
            out.append(item)  # type: ignore[arg-type]
            continue
        _, a, b, j = item
        size = b - a
        if size == 1:
            out.append(ReverseStep(a))
            continue
        if j == 1:
            for i in range(b - 1, a - 1, -1):
                if i != b - 1:
                    out.append(Restore(a))
                if i > a:
                    out.append(Advance(a, i))
                out.append(ReverseStep(i))
            continue
        m = _split(size, j)
        c = a + m
        out.append(Advance(a, c))
        later: list[object] = []
        if b - c >= 2:
            out.append(Snapshot(c))
            later.append(Forget(c))
        later += [Restore(a), ("rev", a, c, j)]
        # run ("rev", c, b, j-1) first, then `later` in order
        work.extend(reversed(later))
        work.append(("rev", c, b, j - 1))
    return out


def schedule_for(strategy: str, n: int) -> list[Action]:
    """The schedule for a strategy string: ``none``, ``every:K``, ``sqrt`` or ``revolve:S``."""
    name, _, arg = strategy.partition(":")
    if name == "none" and not arg:
        return none_schedule(n)
    if name == "sqrt" and not arg:
        return sqrt_schedule(n)
    if name in ("every", "revolve") and arg.isdigit():
        count = int(arg)
        return every_schedule(n, count) if name == "every" else revolve_schedule(n, count)
    raise ValueError(f"unknown checkpointing strategy {strategy!r}")


def pass_schedule(strategy: str, n: int) -> list[Action]:
    """The schedule adlang's checkpoint pass (ir/checkpoint.py) runs for a loop of ``n`` iterations.

    The pass first runs the whole loop untaped, since the code after it needs
    its result, and then reverses it: ``every:K`` and ``sqrt`` snapshot the
    start of every segment on that sweep and recompute each segment, taped,
    before reversing it (recomputed: ``n``); ``revolve:S`` saves the loop's
    first state, and its VJP restores it and runs :func:`revolve_schedule`
    (recomputed: ``binomial_cost(n, S)`` advances plus ``n`` fused steps).
    ``none`` is :func:`none_schedule`.
    """
    name, _, arg = strategy.partition(":")
    if name == "none" or n == 0:
        return none_schedule(n)
    if name == "revolve":
        return [Snapshot(0), Advance(0, n), Restore(0), Forget(0), *revolve_schedule(n, int(arg))]
    k = sqrt_interval(n) if name == "sqrt" else int(arg)
    starts = list(range(0, n, k))
    out: list[Action] = []
    for a in starts:
        out += [Snapshot(a), Advance(a, min(a + k, n))]
    for a in reversed(starts):
        b = min(a + k, n)
        out += [Restore(a), Forget(a), Advance(a, b, record=True)]
        out.extend(ReverseStep(i) for i in range(b - 1, a - 1, -1))
    return out


# ---------------------------------------------------------------------- simulation


def simulate(actions: list[Action], n: int, snapshots: int | None = None) -> Stats:
    """Run a schedule on the abstract machine, check it, and count its cost.

    Valid means: ``Advance(from_, to)`` starts from the current state
    (``from_ < to``) and never goes past ``x_{i+1}`` where ``i`` is the next
    step to reverse; ``Snapshot`` stores the current state in a free slot (at
    most ``snapshots`` held at once, if given); ``Restore``/``Forget`` name a
    held snapshot; the ``ReverseStep``s come in the order ``n-1, ..., 0``, each
    either popping its own tape entry or starting from the current state
    ``x_i``; at the end every step has been reversed and the tape is empty.
    Raises ValueError otherwise.
    """
    if n < 0:
        raise ValueError(f"need n >= 0, got {n}")
    current: int | None = 0
    held: set[int] = set()
    tape: list[int] = []
    nxt = n - 1  # next step to reverse
    forward = fused = 0
    peak_snap = peak_tape = 0
    for pos, act in enumerate(actions):

        def bad(msg: str, act: object = act, pos: int = pos) -> ValueError:
            return ValueError(f"action {pos} {act!r}: {msg}")

        if isinstance(act, Advance):
            if current is None or act.from_ != current:
                raise bad(f"current state is {current}")
            if not act.from_ < act.to <= nxt + 1:
                raise bad(f"must advance forwards to at most {nxt + 1}")
            forward += act.to - act.from_
            if act.record:
                tape.extend(range(act.from_, act.to))
                peak_tape = max(peak_tape, len(tape))
            current = act.to
        elif isinstance(act, Snapshot):
            if current is None or act.at != current:
                raise bad(f"current state is {current}")
            if act.at in held:
                raise bad("already held")
            held.add(act.at)
            if snapshots is not None and len(held) > snapshots:
                raise bad(f"more than {snapshots} snapshots held")
            peak_snap = max(peak_snap, len(held))
        elif isinstance(act, Restore):
            if act.at not in held:
                raise bad("no such snapshot")
            current = act.at
        elif isinstance(act, Forget):
            if act.at not in held:
                raise bad("no such snapshot")
            held.remove(act.at)
        elif isinstance(act, ReverseStep):
            if nxt < 0:
                raise bad("every step is already reversed")
            if act.i != nxt:
                raise bad(f"next step to reverse is {nxt}")
            if tape and tape[-1] == act.i:
                tape.pop()
            elif current == act.i:
                fused += 1
                peak_tape = max(peak_tape, len(tape) + 1)
                current = None
            else:
                raise bad(f"step not on the tape top and current state is {current}")
            nxt -= 1
        else:
            raise ValueError(f"action {pos}: not an action: {act!r}")
    if nxt != -1:
        raise ValueError(f"schedule ends before step {nxt} is reversed")
    if tape:
        raise ValueError(f"schedule ends with steps {tape} left on the tape")
    return Stats(
        recomputed_steps=forward + fused - n,
        forward_steps=forward,
        peak_snapshots=peak_snap,
        peak_stored_steps=peak_tape,
    )
