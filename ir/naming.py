"""Every name adlang's passes make, and the one way they are handed out.

Names are data: a user may call a parameter `dfdx`, `f_reverse` or `_1`, and
no derivative may change because of it. So no pass spells a name of its own:
each name is built here from a template (the lecture's `dadx` and `dbda`,
`F_reverse`, `i_rev`, ...), and a `Namer` that knows every name already in
the scope hands it out, with a suffix (`dbda_1`) where it would clash.

Two scopes, as in the language: function names are one namespace for the
whole program (`function_namer`, seeded with every function of the program
being built on, which already holds whatever an earlier pass generated:
a derivative of a derivative, expanded `grad` forms, the gradient program a
Hessian-vector product differentiates); variable names are one namespace per function (`Namer(names_in(fn))`,
seeded with every name the function's body and parameters use).

A user's name of the form `_1` is a name like any other: namers treat every
name they were seeded with as taken, so a temporary never takes a user's
`_1`. Traces leave `_N` names out and the simplifier may fold a `let _N` into
its one use, as it does with its own temporaries; neither changes a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# ---------------------------------------------------------------- templates

TEMP_NAME = re.compile(r"_[0-9]+")


def is_temp(name: str) -> bool:
    """Compiler temporaries (`_1`, `_2`, ...) hold parts of an expression; traces leave them out."""
    return TEMP_NAME.fullmatch(name) is not None


def temp(k: int) -> str:
    return f"_{k}"


def derivative(of: str, by: str) -> str:
    """The lecture's names: the tangent `dadx` of a along x, the adjoint `dbda` of a for the output b."""
    return f"d{of}d{by}"


def second_derivative(fn: str, p: str, q: str) -> str:
    """`d2fdxdy`: an entry of f's Hessian."""
    return f"d2{fn}d{p}d{q}"


def role(fn: str, what: str) -> str:
    """A function made from fn, or a variable holding something of fn's: `f_reverse`, `f_jvp`, `f_value`."""
    return f"{fn}_{what}"


def picked_derivative(fn: str, p: str) -> str:
    """`f_dx`: f's first-order derivative program returning only d/dx (what second order differentiates)."""
    return f"{fn}_d{p}"


def element(v: str, k: int) -> str:
    """`f_0`: item k of a tuple result, bound on its own."""
    return f"{v}_{k}"


def suffixed(base: str, k: int) -> str:
    """What a clashing name becomes: `dbda_1`."""
    return f"{base}_{k}"


# Function roles: derivative programs and the helpers the passes add.
REVERSE = "reverse"  # F's reverse-mode derivative program (entry)
FORWARD = "forward"  # F's forward-mode derivative program (entry)
JVP = "jvp"  # a callee's forward mode: arguments and tangents in, value and tangents out
VJP = "vjp"  # a callee's reverse mode: arguments and cotangents in, adjoints out
TAPED_VJP = "taped_vjp"  # revolve: one iteration's VJP that tapes what it overwrites
HESSIAN = "hessian"  # second-order entry
COMPONENT = "component"  # one element of F's result, picked by index: a Jacobian's row
HVP = "hvp"  # F's Hessian-vector product program (entry); `dFdp_hvp`: p's part of H u
DIRECTIONAL = "directional"  # H times the seeds: the gradient of sum_p <seed_p, dF/dp>, by G's VJP
SEED = "seed"  # a parameter's part of a Hessian-vector product's direction
TRIPS = "trips"  # counts a while loop's trips before it is checkpointed
SEGMENT = "segment"  # every:K and sqrt: a run of K iterations as a function
LOOP = "loop"  # revolve: the loop as a function
PRIMAL = "primal"  # `main` renamed, so a derivative program never defines `main`
# Variable roles.
VALUE = "value"  # the entry's binding of F's value
REVERSED = "rev"  # `i_rev`: a for loop's variable running backwards
FINAL = "final"  # a returned value kept before the backward sweep restores it
AT_START = "at_start"  # a loop's bound as it was when the loop started
SNAPSHOT = "snap"  # revolve: a state variable's snapshot
STEP = "step"  # revolve: one reversed iteration's adjoint
DIRECTION = "j"  # forward mode over a vec: the slope along unit vec j
UNROLLED = "unrolled"  # F's run as straight-line code, each binding a variable of its own (a graph's values)
REPL_VALUE = "repl_value"  # the REPL's function that evaluates an expression typed over the session's variables

# The names of what a generated function's variables mean, where no template applies.
FIXED = (
    "trips", "trip", "trip_rev", "j", "lo", "hi", "seg", "seg_start", "seg_stop", "seg_size", "seg_lo", "seg_hi",
    "seg_count", "seg_covered", "seg_total", "seg_n", "seg_k", "fine", "capo", "top", "held", "more", "left",
    "restore", "last", "fresh", "freed", "older", "free", "ahead", "i", "i_next", "a", "b", "main", REPL_VALUE, "row",
)

# Every template a pass applies, as text with `{a}`, `{b}`, `{c}` for names and `{k}` for a number: what
# the renaming property test (tests/test_renaming.py) draws user names from.
TEMPLATES = (
    "d{a}d{b}", "d2{a}d{b}d{c}", "{a}_d{b}", "{a}_{k}", "_{k}",
    *(f"{{a}}_{what}" for what in (REVERSE, FORWARD, JVP, VJP, TAPED_VJP, HESSIAN, COMPONENT, HVP,
                                    DIRECTIONAL, SEED, TRIPS, SEGMENT, LOOP, PRIMAL, VALUE, REVERSED, FINAL,
                                    AT_START, SNAPSHOT, UNROLLED)),
    f"d{{a}}d{{b}}_{STEP}", f"d{{a}}d{{b}}_{DIRECTION}",
)


# ---------------------------------------------------------------- handing names out


class Namer:
    """Hands out names unused in one scope; `base` first, then `base_1`, `base_2`, ... (deterministic).

    Every name it was seeded with is taken, whatever it looks like; `temp()` gives `_1`, `_2`, ...
    skipping taken ones, and `name(base)` never gives a temporary's form, so the two never meet.
    """

    def __init__(self, taken: Iterable[str]):
        self.taken = set(taken)
        self.counter = 0
        self.temps: set[str] = set()  # the temporaries this namer made (a user's `_1` is not one)

    def take(self, names: Iterable[str]) -> None:
        """Mark names as used in the scope (names a pass copies in from elsewhere)."""
        self.taken.update(names)

    def name(self, base: str) -> str:
        if base not in self.taken and not is_temp(base):
            self.taken.add(base)
            return base
        k = 1
        while suffixed(base, k) in self.taken:
            k += 1
        self.taken.add(suffixed(base, k))
        return suffixed(base, k)

    def temp(self) -> str:
        while True:
            self.counter += 1
            name = temp(self.counter)
            if name not in self.taken:
                self.taken.add(name)
                self.temps.add(name)
                return name

    def made_temp(self, name: str) -> bool:
        """Whether `name` is a temporary this namer handed out: one use, safe to bind in place."""
        return name in self.temps


def function_namer(function_names: Iterable[str]) -> Namer:
    """The program-wide namer of functions: every function of the program built on is taken, and `main`
    (a derivative program never defines one)."""
    return Namer([*function_names, "main"])
