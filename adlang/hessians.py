"""Hessians with respect to vecs, one Hessian-vector product per direction.

`ir/derive.py` builds the program giving H u (`derive_hvp`, the pass in
`ir/hvp.py`), whose size is that of the gradient's program, not of n^2 copies
of it. The Hessian is n runs of it, along the unit directions; each run costs a
small constant times the function, whatever n is. This module lays the
directions out and assembles the columns.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adlang.arguments import parse_value, split_word
from adlang.interp.runtime import RunResult
from adlang.ir.derive import Hvp
from adlang.lang.errors import UsageError

# The Hessian is held as a dense matrix: n^2 floats.
MAX_HESSIAN_ENTRIES = 25_000_000


def layout(wrt: list[str], args: dict) -> list[tuple[int, int | None]]:
    """Where each wrt parameter sits in the flat direction: (first index, length, or None for a float)."""
    out, start = [], 0
    for w in wrt:
        size = len(args[w]) if isinstance(args[w], np.ndarray) else None
        out.append((start, size))
        start += 1 if size is None else size
    if start * start > MAX_HESSIAN_ENTRIES:
        raise UsageError(f"--order 2 over {start:,} parameter elements would hold a Hessian of {start * start:,} "
                         f"numbers, more than the limit of {MAX_HESSIAN_ENTRIES:,}; use shorter vecs or fewer --grad "
                         "parameters (`--hvp` gives a Hessian-vector product without the matrix)")
    return out


def direction_parts(fn, wrt: list[str], args: dict, direction: Mapping[str, object], option: str) -> dict:
    """u's part for each wrt parameter, in wrt's order: a float for a float parameter, a vec as long as the
    argument for a vec; a parameter left out gets zeros. `option` names the direction in messages."""
    params = {p.name: p for p in fn.params}
    for name in direction:
        if name not in wrt:
            where = "--grad" if option == "--hvp" else "wrt"
            known = ", ".join(wrt)
            if name in params:
                raise UsageError(f"{option} gives a direction for '{name}', which is not among the parameters the "
                                 f"Hessian is taken by ({where}: {known}); add it there or leave it out")
            raise UsageError(f"{option} names '{name}', which is not a parameter of {fn.name} (the Hessian is "
                             f"taken by {known})")
    parts = {}
    for w in wrt:
        given = direction.get(w)
        if params[w].type.kind == "float":
            parts[w] = _float_part(given, w, option)
        else:
            parts[w] = _vec_part(given, w, len(args[w]), option)
    return parts


def direction_words(words: list[str]) -> dict[str, object]:
    """`--hvp P=U` words as parameter -> value, each U written as an argument's value is."""
    parts: dict[str, object] = {}
    for word in words:
        name, text = split_word(word)
        if name in parts:
            raise UsageError(f"--hvp gives the direction for '{name}' twice")
        try:
            parts[name] = parse_value(text, name)
        except UsageError as err:
            raise UsageError(err.message.replace(f"argument '{name}'", f"--hvp {name}", 1)) from None
    return parts


def _float_part(given: object, name: str, option: str) -> float:
    if given is None:
        return 0.0
    if isinstance(given, (bool, np.bool_)) or not isinstance(given, (int, float, np.integer, np.floating)):
        raise UsageError(f"{option} {name}: '{name}' is a float parameter, so its part of the direction is a "
                         f"number, not {_shown(given)}")
    return _finite(float(given), name, option)


def _vec_part(given: object, name: str, length: int, option: str) -> np.ndarray:
    if given is None:
        return np.zeros(length)
    try:
        part = np.asarray(given, dtype=float)
    except (TypeError, ValueError):
        part = None
    if part is None or part.ndim != 1 or isinstance(given, (str, bool)):
        raise UsageError(f"{option} {name}: '{name}' is a vec, so its part of the direction is a vec of {length} "
                         f"numbers, not {_shown(given)}")
    if len(part) != length:
        raise UsageError(f"{option} {name}: the direction has {len(part)} element{'s' if len(part) != 1 else ''} "
                         f"but the argument '{name}' has {length}; give it as many")
    for x in part:
        _finite(float(x), name, option)
    return part


def _finite(x: float, name: str, option: str) -> float:
    if not np.isfinite(x):
        raise UsageError(f"{option} {name}: the direction holds {x}; give finite numbers")
    return x


def _shown(value: object) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, separator=", ", threshold=6)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def unit_seeds(built: Hvp, places: list[tuple[int, int | None]], k: int) -> dict:
    """The seed arguments of direction k: 1 at flat element k, 0 elsewhere."""
    seeds = {}
    for name, (start, size) in zip(built.seeds, places):
        if size is not None:
            seed = np.zeros(size)
            if start <= k < start + size:
                seed[k - start] = 1.0
            seeds[name] = seed
        else:
            seeds[name] = 1.0 if k == start else 0.0
    return seeds


def assemble(wrt: list[str], places, columns: list[tuple]) -> dict[str, dict[str, object]]:
    """The Hessian's blocks from its columns (each the H u blocks in wrt's order): a number, a vec or a matrix
    per pair of parameters (rows: the first parameter's elements)."""
    n = len(columns)
    matrix = np.zeros((n, n))
    for k, blocks in enumerate(columns):
        for (start, size), block in zip(places, blocks):
            matrix[start:start + width(size), k] = np.atleast_1d(block)

    def block(p: int, q: int):
        (ps, pn), (qs, qn) = places[p], places[q]
        entries = matrix[ps:ps + width(pn), qs:qs + width(qn)]
        if pn is None and qn is None:
            return float(entries[0, 0])
        if pn is None:
            return entries[0].copy()
        if qn is None:
            return entries[:, 0].copy()
        return entries.copy()

    return {w: {v: block(i, j) for j, v in enumerate(wrt)} for i, w in enumerate(wrt)}


def width(size: int | None) -> int:
    """How many directions a parameter takes: a float one, a vec its length."""
    return 1 if size is None else size


def combined(first: RunResult, runs: list[RunResult]) -> tuple[int, int, list | None]:
    """Steps, tape peak and trace over the gradient's run and every direction's."""
    steps = first.steps + sum(r.steps for r in runs)
    peak = max([first.tape_peak, *(r.tape_peak for r in runs)])
    trace = None
    if first.trace is not None:
        trace = list(first.trace)
        for r in runs:
            trace += r.trace or []
    return steps, peak, trace
