"""Errors a user can cause, each with its kind, its place in the source and its exit code.

The spec's four kinds: `usage` (the command line), `parse` (the grammar),
`type` (every static check), `runtime` (while it runs). Every error carries
the span it points at; the CLI turns it into `FILE:LINE:COL: KIND error: ...`
with the source line and a caret, or into the JSON error object.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    def __repr__(self) -> str:
        return f"{self.line}:{self.col}"


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
    """A primitive's error at the statement that ran it: the registry's message, or the operation named."""
    fault = RuntimeFault(str(err) if isinstance(err, DomainError) else f"{description}: {err}", span)
    fault.undefined_operation = True
    return fault


class DomainError(ArithmeticError):
    """Raised by a primitive's evaluation where its value or derivative is undefined.

    It has no place of its own: the interpreter turns it into a RuntimeFault at
    the statement that ran it.
    """
