"""`check --jacobian` and `check --order 2`: `check`'s table for a Jacobian's and a Hessian's entries.

A Jacobian is computed in forward and in reverse mode (`jacobians.py`) and
each entry compared with the central difference of that element of the
result; a Hessian in two mode pairs, forward over reverse and reverse over
reverse (the outer mode differs, the inner is the cheap one), each entry
compared with the central difference of the reverse-mode gradient. Both use
`kinks.central_difference`, so a step that straddles a kink is noticed and
said, and one run of f (or of its gradient) serves every entry that needs it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from adlang.derivatives import CheckOutcome, CheckRow, compute, convention_notes
from adlang.interp import engines
from adlang.ir.derive import finish
from adlang.jacobians import jacobian, result_items
from adlang.kinks import central_difference

# `check --order 2`: the two mode pairs compared; their outer modes name the table's columns.
SECOND_ORDER_PAIRS = ("forward-over-reverse", "reverse-over-reverse")


def check_jacobian(program, fn_name: str, args: dict, wrt: list[str], engine: str = "interp") -> CheckOutcome:
    """Every entry of d(result)/d(p), p in `wrt`: forward mode, reverse mode, central differences; every run in
    `engine`."""
    fn = program.function(fn_name)
    items = result_items(fn)
    by_mode = {m: jacobian(program, fn_name, args, wrt, mode=m, engine=engine, cache={}).jacobian
               for m in ("forward", "reverse")}
    value = engines.run(finish(program), fn_name, args, engine=engine).value
    outputs = _output_labels(fn_name, items, value if fn.ret.kind == "tuple" else (value,))

    def flat_result(at: dict) -> np.ndarray:
        result = engines.run(finish(program), fn_name, at, engine=engine).value
        return np.concatenate([np.atleast_1d(np.asarray(v, dtype=float)) for v in
                               (result if fn.ret.kind == "tuple" else (result,))])

    rows = []
    for w in wrt:
        forward, reverse = (_stacked(by_mode[m][w]) for m in ("forward", "reverse"))
        for column, (label, index) in enumerate(_elements(w, args[w])):
            moved = _Moved(args, w, index, flat_result)
            for row, out in enumerate(outputs):
                fd = moved.difference(lambda result, row=row: float(result[row]), float(reverse[row, column]))
                rows.append(CheckRow(f"{out} / {label}", float(forward[row, column]), float(reverse[row, column]),
                                     fd.value, fd.note))
    return CheckOutcome(fn_name, rows, what="the Jacobian", keys={"jacobian": list(wrt)})


def check_hessian(program, fn_name: str, args: dict, wrt: list[str], engine: str = "interp") -> CheckOutcome:
    """Every entry of the Hessian with respect to `wrt`: two mode pairs, and central differences of the
    reverse-mode gradient; every run in `engine`, each derivative program built once."""
    built: dict = {}
    by_pair = [_hessian_matrix(compute(program, fn_name, args, wrt=wrt, mode=m, order=2, engine=engine,
                                       cache=built).hessian, wrt, args) for m in SECOND_ORDER_PAIRS]
    elements = [(w, label, index) for w in wrt for label, index in _elements(w, args[w])]

    def flat_gradient(at: dict) -> np.ndarray:
        grad = compute(program, fn_name, at, wrt=wrt, mode="reverse", engine=engine, cache=built).grad
        return np.concatenate([np.atleast_1d(np.asarray(grad[w], dtype=float)).ravel() for w in wrt])

    rows = []
    for column, (w, label, index) in enumerate(elements):
        moved = _Moved(args, w, index, flat_gradient)
        for row, (_, other, _) in enumerate(elements):
            fd = moved.difference(lambda grad, row=row: float(grad[row]), float(by_pair[1][row, column]))
            rows.append(CheckRow(f"{other}, {label}", float(by_pair[0][row, column]),
                                 float(by_pair[1][row, column]), fd.value, fd.note))
    outer = [pair.partition("-over-")[0] for pair in SECOND_ORDER_PAIRS]
    outcome = CheckOutcome(fn_name, rows, what="second derivatives",
                           columns=(f"d2{fn_name}/d d", *SECOND_ORDER_PAIRS, "pairs apart"),
                           keys={"order": 2, "modes": dict(zip(outer, SECOND_ORDER_PAIRS))})
    unexplained = [r for r in rows if not r.note and r.errors()[1] > outcome.fd_tol]
    conventions = convention_notes(program, fn_name, args, wrt) if unexplained else []
    for row in unexplained if conventions else []:
        row.note = ("the gradient passes through a point where a derivative is a convention, which the mode "
                    "pairs followed and finite differences of the gradient cannot: " + "; ".join(conventions))
    return outcome


class _Moved:
    """One parameter element moved by central differences, each run of `evaluate` (f, or its gradient) kept
    for every entry that reads it."""

    def __init__(self, args: dict, name: str, index, evaluate: Callable[[dict], np.ndarray]):
        self.args, self.name, self.index, self.evaluate = args, name, index, evaluate
        base = args[name]
        self.x = float(base[index]) if index is not None else float(base)
        self.runs: dict[float, np.ndarray] = {}

    def at(self, v: float) -> np.ndarray:
        if v not in self.runs:
            moved = dict(self.args)
            if self.index is None:
                moved[self.name] = v
            else:
                array = np.array(self.args[self.name], dtype=float)
                array[self.index] = v
                moved[self.name] = array
            self.runs[v] = self.evaluate(moved)
        return self.runs[v]

    def difference(self, pick: Callable[[np.ndarray], float], derivative: float):
        """The central difference of `pick` of the evaluation, h scaled to x as `check` scales it."""
        h = 6e-6 * max(1.0, abs(self.x))
        return central_difference(lambda v: pick(self.at(v)), self.x, h, derivative, CheckOutcome.fd_tol)


def _elements(name: str, value) -> list[tuple[str, object]]:
    """A parameter's elements as (label, index): `x` (None), `v[3]`, `A[0, 1]` (row-major)."""
    if not isinstance(value, np.ndarray):
        return [(name, None)]
    if value.ndim == 1:
        return [(f"{name}[{k}]", k) for k in range(value.shape[0])]
    return [(f"{name}[{i}, {j}]", (i, j)) for i, j in np.ndindex(value.shape)]


def _output_labels(fn_name: str, items, values) -> list[str]:
    """The result's elements: `f`, `f[2]`, or an item of a tuple `f.1[2]`."""
    labels = []
    for j, (item, value) in enumerate(zip(items, values)):
        base = fn_name if len(items) == 1 else f"{fn_name}.{j}"
        labels += [f"{base}[{i}]" for i in range(len(value))] if item.kind == "vec" else [base]
    return labels


def _stacked(blocks) -> np.ndarray:
    """A Jacobian as one matrix: a tuple result's items' rows one after another."""
    return np.vstack(blocks) if isinstance(blocks, list) else np.asarray(blocks, dtype=float)


def _hessian_matrix(hessian: dict, wrt: list[str], args: dict) -> np.ndarray:
    """The Hessian's blocks as one matrix over the parameters' elements, in wrt's order."""
    sizes = [np.size(args[w]) if isinstance(args[w], np.ndarray) else 1 for w in wrt]
    return np.block([[np.asarray(hessian[p][q], dtype=float).reshape(sp, sq) for q, sq in zip(wrt, sizes)]
                     for p, sp in zip(wrt, sizes)]) if wrt else np.zeros((0, 0))
