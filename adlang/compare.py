"""`adlang compare`: the lecture's three ways to a derivative side by side on one function and point.

Symbolic (one formula per parameter, `symbolic.py`), finite differences
(central, 2 evaluations of f per parameter element: "many input vars?" shows
as cost) and AD in forward and reverse mode (the derivative program's size
in operations and the run's steps). Finite differences take one step for
every parameter, h = 6e-6 max(1, |x|) over the largest |x| differentiated:
about eps^(1/3) scaled to x, where the central difference's truncation error
(h^2) and rounding error (eps / h) balance, as `check` does. Values are keyed
by parameter element (`x`, `v[0]`, `v[1]`, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text

from adlang.derivatives import compute
from adlang.ir import nodes as ir
from adlang.ir.derive import derive
from adlang.lang.errors import RuntimeFault
from adlang.perturb import Element, along, elements
from adlang.symbolic import Symbolic, symbolic

STEP = 6e-6  # eps^(1/3), scaled by max(1, |x|)


@dataclass
class FiniteDifferences:
    h: float
    value: dict[str, float | None]
    evaluations: int
    notes: dict[str, str]

    def to_json(self) -> dict:
        return {"h": self.h, "value": dict(self.value), "evaluations": self.evaluations}


@dataclass
class ModeRun:
    """One AD mode: the derivative, the operations in its derivative program, the steps of its run."""

    value: dict[str, float]
    operations: int
    steps: int

    def to_json(self) -> dict:
        return {"value": dict(self.value), "operations": self.operations, "steps": self.steps}


@dataclass
class CompareOutcome:
    function: str
    params: list[str]
    symbolic: Symbolic
    finite_differences: FiniteDifferences
    forward: ModeRun
    reverse: ModeRun

    def to_json(self) -> dict:
        return {"symbolic": self.symbolic.to_json(), "finite_differences": self.finite_differences.to_json(),
                "forward": self.forward.to_json(), "reverse": self.reverse.to_json()}

    def agreement(self, value: float | None, param: str) -> float | None:
        """The difference from reverse mode's derivative, relative (absolute where that is 0)."""
        if value is None:
            return None
        ad = self.reverse.value[param]
        return abs(value - ad) / abs(ad) if ad != 0 else abs(value - ad)

    def _repr_html_(self) -> str:
        from adlang.display import compare_html

        return compare_html(self)

    def __rich__(self) -> Group:
        table = Table(title=f"three ways to the derivative of {self.function}",
                      caption="vs AD: relative difference from reverse mode", caption_justify="left")
        for col in ("", "symbolic", "finite differences", "forward mode", "reverse mode"):
            table.add_column(col, justify="left" if not col else "right")
        sym, fd = self.symbolic, self.finite_differences
        for p in self.params:
            table.add_row(f"d/d{p}", _number(sym.value.get(p)) if sym.ok else "-", _number(fd.value[p]),
                          repr(self.forward.value[p]), repr(self.reverse.value[p]))
            table.add_row("  vs AD", _error(self.agreement(sym.value.get(p), p)) if sym.ok else "-",
                          _error(self.agreement(fd.value[p], p)), _error(self.agreement(self.forward.value[p], p)),
                          "")
        table.add_row("size", _count(sym.operations, "operation") if sym.ok else "-",
                      _count(fd.evaluations, "evaluation"), _count(self.forward.operations, "operation"),
                      _count(self.reverse.operations, "operation"))
        table.add_row("steps", "", "", str(self.forward.steps), str(self.reverse.steps))
        lines = [f"finite differences: central, h = {fd.h:.1e}"]
        lines += [f"finite differences, {p}: {note}" for p, note in fd.notes.items()]
        if sym.ok:
            lines += [f"symbolic: d{self.function}/d{p} = {formula}" for p, formula in sym.formula.items()]
        else:
            lines.append(f"symbolic: no formula: {sym.reason}")
        return Group(table, Text("\n".join(lines)))


def compare(program: ir.Program, fn_name: str, args: dict, wrt: list[str]) -> CompareOutcome:
    """The three ways on `fn_name` at `args`; AD's runs fail as `run --grad` fails."""
    items = elements(wrt, args)
    modes = {mode: _mode_run(program, fn_name, args, wrt, mode, items) for mode in ("forward", "reverse")}
    return CompareOutcome(fn_name, [e.label for e in items], symbolic(program, fn_name, args, wrt),
                          finite_differences(program, fn_name, args, items), modes["forward"], modes["reverse"])


def _mode_run(program, fn_name, args, wrt, mode, items: list[Element]) -> ModeRun:
    run = compute(program, fn_name, args, wrt=wrt, mode=mode)
    derived = derive(program, fn_name, wrt, mode, 1, True)
    return ModeRun({e.label: e.of(run.grad) for e in items}, operations(derived.program), run.steps)


def operations(program: ir.Program) -> int:
    """Statements of a program that apply a primitive or call a function: its operations, one per line printed."""
    return sum(1 for fn in program.functions for stmt in ir.walk(fn.body)
               if isinstance(stmt, (ir.Let, ir.Assign)) and isinstance(stmt.expr, (ir.Prim, ir.CallFn)))


def finite_differences(program: ir.Program, fn_name: str, args: dict, items: list[Element]) -> FiniteDifferences:
    """Central differences with one step for all elements; a domain error at x +- h leaves that value null."""
    h = STEP * max([1.0] + [abs(e.at(args)) for e in items])
    values, notes = {}, {}
    for e in items:
        f, x = along(program, fn_name, args, e), e.at(args)
        try:
            value = (f(x + h) - f(x - h)) / (2 * h)
        except RuntimeFault as fault:
            notes[e.label] = f"f fails at x +- h ({fault.message.split(';')[0]})"
            value = None
        if value is not None and not math.isfinite(value):
            notes[e.label] = "not finite"
            value = None
        values[e.label] = value
    return FiniteDifferences(h, values, 2 * len(items), notes)


def _number(value: float | None) -> str:
    return "-" if value is None else repr(value)


def _error(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 else "s")
