"""Overflow to inf is not an error, but the user is told where it first happened.

Checking every operation would slow every run, so the check is after the fact:
when a result holds an inf, the same computation runs again with the trace on,
and the first traced binding holding an inf names the line. An inf that
appears and vanishes again (1 / inf) leaves no trace in the results and is not
reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def has_infinity(value: Any) -> bool:
    """Whether a value, a tuple or dict of them, or a vec holds +inf or -inf."""
    if isinstance(value, dict):
        return any(has_infinity(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return any(has_infinity(v) for v in value)
    if isinstance(value, np.ndarray):
        return bool(np.isinf(value).any())
    return isinstance(value, float) and value in (float("inf"), float("-inf"))


def first_infinity(trace: list[Any]) -> Any | None:
    """The first trace entry whose value holds an inf."""
    return next((entry for entry in trace if has_infinity(entry.value)), None)


def warning_text(entry: Any, inf_arguments: list[str]) -> str:
    """Where an inf first appeared: an overflow, or (when arguments are inf) maybe just one of them passed on."""
    if inf_arguments:
        given = ", ".join(f"'{name}'" for name in inf_arguments)
        return (f"'{entry.name}' is the first value here to hold an inf, and the results that depend on it are inf; "
                f"the argument {given} is inf already")
    return (f"'{entry.name}' overflowed to inf here first, and the results that depend on it are inf; "
            "rescale the inputs, or compute with logarithms (log/exp) where the numbers grow this large")
