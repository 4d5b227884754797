"""Where a node came from in the source, and what it computes there: spans carried by AST and IR nodes.

A span is a place (line and column of the first and last character) and, for
statements the passes make, what they do for the source at that place: the
role of a generated loop, the operation as written, the derivative rule that
emitted a statement. Runtime errors read these to speak in the program's terms.
"""

from __future__ import annotations

from dataclasses import field, replace

from adlang.lang.record import record


@record
class Written:
    """A primitive operation as the source writes it: `pow(a, b)` or `a ^ b`, and its operands' text."""

    op: str  # the primitive's name in the registry ("pow")
    text: str  # the operation ("pow(a, b)")
    operands: tuple[str, ...]  # each operand ("a", "b")


@record
class Rule:
    """The derivative rule that emitted a statement, in the source's terms: the operation it
    differentiates and, where the rule knows it, the operand it differentiates with respect to."""

    written: Written
    wrt: int | None = None
    formula: str = ""  # the derivative, in the same terms ("b * a ^ (b - 1)"), where the rule gives it

    @property
    def operand(self) -> str:
        return self.written.operands[self.wrt] if self.wrt is not None else ""

    def describe(self) -> str:
        """`the derivative of a ^ b with respect to b`."""
        what = f"the derivative of {self.written.text}"
        if self.wrt is not None:
            what += f" with respect to {self.operand}"
        return f"{what} ({self.formula})" if self.formula else what


@record
class Span:
    """Where a node came from: 1-based line and column of its first and last character."""

    line: int
    col: int
    end_line: int = 0
    end_col: int = 0
    # What a generated loop does for the source loop at this place: "" runs its iterations,
    # "backward" runs them backwards (reverse mode), "schedule" counts or walks checkpoint segments.
    # Engines count iterations by (line, col, role), so `stats.recomputed` can tell them apart.
    role: str = ""
    # A primitive's statement made by lowering: the operation as written, where it quotes on one line.
    written: Written | None = field(default=None, compare=False)
    # A statement a JVP or VJP rule emitted (`Emitter.deriving`): which derivative it computes. A runtime
    # error there names that derivative (`operation_fault`). Neither field takes part in equality.
    rule: Rule | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return f"{self.line}:{self.col}"

    def computing(self, origin: Span) -> Span:
        """This place, for a statement that now computes what the statement at `origin` computed (a temporary
        bound in place, or sunk into its use): the derivative rule it belongs to goes with it."""
        return self if self.rule is origin.rule else replace(self, rule=origin.rule)
