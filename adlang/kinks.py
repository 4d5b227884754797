"""Central finite differences for `adlang check` that notice when they straddle a kink or a jump.

abs(x) at x = 1e-9 has the derivative 1, but a central difference with the
step `check` uses (6e-6) reaches across 0 and gives 1e-9 / 6e-6 = 0.0002.
Where the central difference does not match the derivative, the one-sided
differences on both sides are compared: if they differ, something in the
program changes between x - h and x + h (abs, min, max, a branch). Smaller
steps are then tried; once the two sides agree, that step's central
difference is the one reported, with a note saying why. If they never agree,
x is at the kink itself (or within the smallest step of it), and the note says
so and which convention the derivative followed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from adlang.lang.record import mutable_record

# Steps tried after the first: h / 10, h / 100, ... (with h = 6e-6 |x|, down to 6e-12 |x|).
SHRINK = (10.0, 100.0, 1e3, 1e4, 1e5, 1e6)
SIDES_AGREE = 1e-3  # one-sided differences this close (relative) see no kink between them


@mutable_record
class Difference:
    value: float
    note: str = ""


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(a), abs(b))


def central_difference(f: Callable[[float], float], x: float, h: float, derivative: float, tol: float
                       ) -> Difference:
    """(f(x + h) - f(x - h)) / 2h, or a smaller step's where that one straddles a kink; with a note saying so.

    `derivative` is what forward and reverse mode gave and `tol` the agreement `check` asks for: a
    difference that agrees is returned as it is, without looking further.
    """
    central = _finite((f(x + h) - f(x - h)) / (2 * h))
    if not math.isfinite(central) or _relative(central, derivative) <= tol:
        return Difference(central)
    right, left = _sides(f, x, h)
    if not (math.isfinite(right) and math.isfinite(left)) or _relative(right, left) <= SIDES_AGREE:
        return Difference(central)  # no kink in sight: the difference is real (or rounding)
    straddle = (f"with step {h:.1e} the finite differences straddle a kink or a jump between x - h and x + h "
                f"(one-sided: {right:.6g} to the right, {left:.6g} to the left)")
    for shrink in SHRINK:
        step = h / shrink
        right_k, left_k = _sides(f, x, step)
        if math.isfinite(right_k) and math.isfinite(left_k) and _relative(right_k, left_k) <= SIDES_AGREE:
            value = _finite((f(x + step) - f(x - step)) / (2 * step))
            return Difference(value, f"{straddle}; with step {step:.1e} they do not, and that difference is shown")
    return Difference(central, (
        f"{straddle}; they still differ with step {h / SHRINK[-1]:.1e}, so x = {x!r} is at it (or that close): "
        "forward and reverse mode give the derivative of the branch the program took (abs'(0) = 0, a tie of min "
        "or max goes to the first argument, a comparison to the side it chose)"))


def _sides(f: Callable[[float], float], x: float, h: float) -> tuple[float, float]:
    f0 = f(x)
    return _finite((f(x + h) - f0) / h), _finite((f0 - f(x - h)) / h)


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan
