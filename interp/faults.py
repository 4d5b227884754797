"""A primitive's error where it ran: the one wording both engines give, in the program's terms."""

from __future__ import annotations

from adlang.lang.errors import DomainError, RuntimeFault
from adlang.lang.span import Rule, Span


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
