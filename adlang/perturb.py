"""f as a function of one parameter element, the others held: what finite differences need.

`sweep.py` and `compare.py` both move one float, or one element of a vec or a
mat, and run the function again; the names of those elements (`x`, `v[0]`,
`A[0, 1]`, ...) are the ones `check` prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from adlang.interp import engines
from adlang.ir import nodes as ir
from adlang.ir.derive import finish


@dataclass(frozen=True)
class Element:
    """One float being differentiated: a float parameter, or one element of a vec or mat parameter."""

    label: str  # `x`, `v[2]` or `A[0, 1]`
    param: str
    index: int | tuple[int, int] | None

    def of(self, grad: dict) -> float:
        """This element's entry in a gradient keyed by parameter."""
        value = grad[self.param]
        return float(value if self.index is None else value[self.index])

    def at(self, args: dict) -> float:
        value = args[self.param]
        return float(value if self.index is None else value[self.index])


def elements(wrt: list[str], args: dict) -> list[Element]:
    """The floats behind `wrt`, in its order: a vec gives one element per entry, a mat one per entry in row-major
    order."""
    out = []
    for name in wrt:
        value = args[name]
        if isinstance(value, np.ndarray) and value.ndim == 2:
            out += [Element(f"{name}[{i}, {j}]", name, (i, j)) for i, j in np.ndindex(value.shape)]
        elif isinstance(value, np.ndarray):
            out += [Element(f"{name}[{k}]", name, k) for k in range(value.shape[0])]
        else:
            out.append(Element(name, name, None))
    return out


def along(program: ir.Program, fn_name: str, args: dict, element: Element,
          engine: str = "interp") -> Callable[[float], float]:
    """t -> f(args with `element` set to t), run in `engine`. A runtime error at t propagates (RuntimeFault)."""
    finished = finish(program)

    def f(t: float) -> float:
        moved = dict(args)
        if element.index is None:
            moved[element.param] = t
        else:
            arr = np.array(args[element.param], dtype=float)
            arr[element.index] = t
            moved[element.param] = arr
        return float(engines.run(finished, fn_name, moved, engine=engine).value)

    return f
