"""Errors a user can cause, each with its kind, its place in the source and its exit code.

The spec's four kinds: `usage` (the command line), `parse` (the grammar),
`type` (every static check), `runtime` (while it runs). Every error carries
the span it points at; the CLI turns it into `FILE:LINE:COL: KIND error: ...`
with the source line and a caret, or into the JSON error object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Written:
    """A primitive operation as the source writes it: `pow(a, b)` or `a ^ b`, and its operands' text."""

    op: str  # the primitive's name in the registry ("pow")
    text: str  # the operation ("pow(a, b)")
    operands: tuple[str, ...]  # each operand ("a", "b")


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


class AdlangError(Exception):
    """Base of every error shown to a user; never shown as a traceback."""

    kind = "error"
    exit_code = 2

    def __init__(self, message: str, span: Span | None = None):
        super().__init__(message)
        self.message = message
        self.span = span

    def with_span(self, span: Span | None) -> AdlangError:
        """The same error placed at `span`, unless it already has a place."""
        if self.span is None and span is not None:
            self.span = span
        return self


class UsageError(AdlangError):
    kind = "usage"
    exit_code = 2


class ParseError(AdlangError):
    kind = "parse"
    exit_code = 2


class TypeCheckError(AdlangError):
    kind = "type"
    exit_code = 2


class RuntimeFault(AdlangError):
    kind = "runtime"
    exit_code = 1
    undefined_operation = False  # an operation's value is undefined there (not a limit, not a missing push)


def operation_fault(description: str, err: Exception, span: Span | None) -> RuntimeFault:
    """A primitive's error at the statement that ran it: the registry's message, or the operation named.

    At a statement a derivative rule emitted, the message names that derivative (`in_rule`). Both
    engines come here, so their messages are the same.
    """
    message = str(err) if isinstance(err, DomainError) else f"{description}: {err}"
    if span is not None and span.rule is not None:
        message = in_rule(span.rule, err, message)
    fault = RuntimeFault(message, span)
    fault.undefined_operation = True
    return fault


# What to do where a function has a value but the derivative asked for does not exist there.
DERIVATIVE_ADVICE = "the operation has a value here but not this derivative; differentiate at other arguments"


def in_rule(rule: Rule, err: Exception, message: str) -> str:
    """The message of an error inside the derivative `rule`: the failing primitive's own wording for it
    (`DomainError.in_rule`, as `dpowb` has), else what went wrong, framed by the derivative.

    A registry message reads `what went wrong; what to do`. What to do is advice about the function
    (guard the call with an `if`), so it is replaced, except for a NaN, whose advice says where the
    NaN or inf came from, which holds for a derivative as well.
    """
    if isinstance(err, DomainError) and err.in_rule is not None:
        return err.in_rule(rule)
    if "is not a number (NaN)" in message:
        return f"{rule.describe()}: {message}"
    what = message.split("; ", 1)[0]
    return f"{rule.describe()} is undefined here: {what}; {DERIVATIVE_ADVICE}"


class DomainError(ArithmeticError):
    """Raised by a primitive's evaluation where its value or derivative is undefined.

    It has no place of its own: the interpreter turns it into a RuntimeFault at
    the statement that ran it. `in_rule`, where given, words the error for a
    statement that a derivative rule emitted, in the terms of the operation it
    differentiates (see `operation_fault`).
    """

    def __init__(self, message: str, in_rule: Callable[[Rule], str] | None = None):
        super().__init__(message)
        self.in_rule = in_rule
