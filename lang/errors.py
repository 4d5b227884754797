"""Errors a user can cause, each with its kind, its place in the source and its exit code.

The spec's four kinds: `usage` (the command line), `parse` (the grammar),
`type` (every static check), `runtime` (while it runs). Every error carries
the span it points at; the CLI turns it into `FILE:LINE:COL: KIND error: ...`
with the source line and a caret, or into the JSON error object.
"""

from __future__ import annotations

from collections.abc import Callable

from adlang.lang.span import Rule, Span


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
