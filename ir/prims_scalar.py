"""Arithmetic, comparisons, logic and the scalar math builtins, each with all of its rules.

Every entry is one `register(...)`: surface syntax, type rule, evaluation on
scalars (and numpy vecs, elementwise), JVP rule, VJP rule. The derivative
conventions of the spec live here: abs'(0) = 0, min and max pass a tie to
their first argument, sqrt'(0) is an error.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from adlang.ir.nodes import Const
from adlang.ir.primitive import Primitive, TypeRuleError, no_jvp, no_vjp, register
from adlang.ir.types import BOOL, FLOAT, INT, Type, vec
from adlang.lang.errors import DomainError

# ---------------------------------------------------------------- type rules


def type_names(args) -> str:
    return " and ".join(str(a.type) for a in args)


def vec_join(op: str, a: Type, b: Type) -> Type:
    if a.length is not None and b.length is not None and a.length != b.length:
        raise TypeRuleError(f"{op} of vecs of different lengths ({a} and {b})")
    return vec(a.length if a.length is not None else b.length)


def mat_join(op: str, a: Type, b: Type) -> Type:
    if a.shape is not None and b.shape is not None and a.shape != b.shape:
        raise TypeRuleError(f"{op} of mats of different shapes ({a} and {b})")
    return a if a.shape is not None else b


def broadcast_type(op: str, types: list[Type], int_result: Type | None) -> Type:
    """The type of an elementwise operation: a vec or a mat if any operand is one, else a number.

    A vec and a mat together are refused: there is no broadcasting of rows or columns.
    """
    vecs = [t for t in types if t.kind == "vec"]
    mats = [t for t in types if t.kind == "mat"]
    if any(not (t.is_array or t.is_scalar_number) for t in types):
        raise TypeRuleError(f"{op} needs numbers, vecs or mats, got {' and '.join(str(t) for t in types)}")
    if vecs and mats:
        raise TypeRuleError(f"{op} of a mat and a vec ({' and '.join(str(t) for t in types)}): elementwise "
                            "operations take mats of one shape, or a mat and a number (use A[i] for a row, "
                            "or A @ v for a product)")
    if mats:
        result = mats[0]
        for t in mats[1:]:
            result = mat_join(op, result, t)
        return result
    if vecs:
        result = vecs[0]
        for t in vecs[1:]:
            result = vec_join(op, result, t)
        return result
    if all(t.kind == "int" for t in types):
        return int_result or FLOAT
    return FLOAT


def numeric_binary(op: str, int_result: Type | None) -> Callable:
    return lambda args: broadcast_type(f"'{op}'", [a.type for a in args], int_result)


def numeric_unary(keep_int: bool) -> Callable:
    def rule(args):
        t = args[0].type
        if t.is_array:
            return t
        if t.kind == "int":
            return INT if keep_int else FLOAT
        if t.kind == "float":
            return FLOAT
        raise TypeRuleError(f"expected a float, an int or a vec, got {t}")

    return rule


def comparison(op: str) -> Callable:
    def rule(args):
        a, b = args[0].type, args[1].type
        if a.is_scalar_number and b.is_scalar_number:
            return BOOL
        if op in ("==", "!=") and a.kind == "bool" and b.kind == "bool":
            return BOOL
        raise TypeRuleError(f"'{op}' compares two numbers, got {type_names(args)}")

    return rule


def logical(op: str) -> Callable:
    def rule(args):
        if all(a.type.kind == "bool" for a in args):
            return BOOL
        raise TypeRuleError(f"'{op}' needs bools, got {type_names(args)}")

    return rule


# ---------------------------------------------------------------- runtime messages
# A runtime error says what went wrong, with the values where they help, and then what the user can do.
# Every engine raises these (the compiled one calls these functions too), so the messages are the same.

INF_CAUSE = "the inf is an argument or a value that overflowed earlier: rescale the inputs so the values stay finite"
NAN_ARGUMENTS = "look for a NaN among the arguments"
NAN_CAUSE = f"an operand is NaN already: {NAN_ARGUMENTS}"
SAME_LENGTH = "use vecs of the same length"


def show(x) -> str:
    """A number as a message shows it: an int as an int, a float as Python writes it (1.0, -0.0, inf, 1e+300)."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return str(int(x))
    return repr(float(x))


def why_not_finite(*values) -> str:
    """Why an operation on these values gave NaN, and what to do: a NaN came in, or an inf did."""
    return NAN_CAUSE if any(v != v for v in values) else INF_CAUSE


def has_nan(r: np.ndarray) -> bool:
    """Whether an array holds a NaN, in one pass that allocates nothing and warns of nothing (the least element
    is NaN exactly where one is); `np.isnan(r).any()` makes a mask and reads it again. Where this is true,
    `first(np.isnan(r))` finds the element for the message."""
    if not r.size:
        return False
    least = np.minimum.reduce(r, axis=None)
    return bool(least != least)


class _InvalidSeen(threading.local):
    """Whether numpy met an invalid operation (inf - inf, 0 * inf, inf / inf) in this thread since it was last
    asked: the only way arithmetic on numbers makes a NaN. In a run numpy tells it (`run_quietly`)."""

    seen = False

    def __call__(self, kind: str, flag: int) -> None:
        self.seen = True


INVALID = _InvalidSeen()


def run_quietly():
    """numpy's state for a run of `.quiet` evaluations (the engines turn it on once a run): no warnings, and an
    invalid operation reported to `INVALID`."""
    if _EXTOBJ is None:  # a numpy without the context variable of numpy 2
        return np.errstate(all="ignore", invalid="call", call=INVALID)
    return _Quiet()


try:  # numpy >= 2 keeps its error state in this context variable; np.errstate builds a new one every time
    from numpy._core.umath import _extobj_contextvar as _EXTOBJ
    from numpy._core.umath import _make_extobj
except ImportError:  # pragma: no cover - numpy 1.x
    _EXTOBJ = _make_extobj = None

# (the state found on entering a run, the run's state made from it): reused while the state found is the same
# object, so a run costs a context variable's set and reset instead of a microsecond of np.errstate (issue 15:
# a run on vecs of 1000 floats is a few microseconds of numpy). A tuple, replaced whole: safe across threads.
_QUIET_STATE: tuple = (None, None)


class _Quiet:
    """np.errstate(all="ignore", invalid="call", call=INVALID), made once for the state it is entered from."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = quiet_on()

    def __exit__(self, *exc_info) -> None:
        _EXTOBJ.reset(self.token)


def quiet_on() -> object:
    """`run_quietly` entered without a `with` (whose three calls cost half a microsecond, a thirtieth of the
    interpreter's run of the line fit on 1000 floats): the token to give `quiet_off` when the run ends."""
    global _QUIET_STATE
    if _EXTOBJ is None:  # pragma: no cover - numpy 1.x
        state = run_quietly()
        state.__enter__()
        return state
    outer = _EXTOBJ.get()
    state = _QUIET_STATE
    if state[0] is not outer:  # first run, or the caller changed numpy's state (np.seterr, np.setbufsize, ...)
        state = _QUIET_STATE = (outer, _make_extobj(all="ignore", invalid="call", call=INVALID))
    return _EXTOBJ.set(state[1])


def _errstate_off(state) -> None:  # pragma: no cover - numpy 1.x
    state.__exit__(None, None, None)


quiet_off = _errstate_off if _EXTOBJ is None else _EXTOBJ.reset  # numpy 2: the context variable's own reset


def made_nan(r: np.ndarray) -> bool:
    """In a run (`run_quietly`), where no value holds a NaN: whether r, made by arithmetic, holds one. Looked for
    only where numpy met an invalid operation since the last look, so most operations scan nothing."""
    if not INVALID.seen:
        return False
    INVALID.seen = False
    return has_nan(r)


def quiet(core: Callable, fast: Callable | None = None, pooled: bool = False) -> Callable:
    """core with numpy's floating-point warnings off while it runs: an inf is a value in adlang, and a NaN is the
    error core raises itself, never a warning on stderr. `.quiet` is `fast` (or core) alone, for an engine that
    turns the warnings off once for a whole run (`np.errstate` costs about a microsecond, more than an operation
    on a short vec) and never passes a NaN: `fast` may rely on both (`made_nan`). `pooled`: fast takes one more
    argument, the run's pool of dead arrays (interp/runtime.py, `ArrayPool`), and writes its result into one of
    the operands' shape where the pool has it."""

    def run(*args):
        with np.errstate(all="ignore"):
            return core(*args)

    run.quiet = fast or core
    run.pooled = pooled
    return run


# floats (128 KiB, glibc's default threshold for serving a block by mmap): smaller arrays come from the allocator's
# own free lists, as fast as from a pool, which costs its bookkeeping (measured at 10^4 floats, issue 15: the line
# fit's gradient 2.3x numpy's with a pool from 4096 floats, 1.9x from this size)
POOLED = 16384


def into(pool, *xs) -> np.ndarray | None:
    """A dead array of the result's shape from the run's pool, for an elementwise operation on xs (one shape
    among its arrays), or None."""
    if pool is None:
        return None
    for x in xs:
        if x.__class__ is np.ndarray:
            return pool.take(x.shape) if x.size >= POOLED else None
    return None


def first(mask) -> int | tuple[int, int]:
    """The index of the first true element: an int in a vec, (row, column) in a mat."""
    k = int(np.flatnonzero(mask)[0])
    return k if np.ndim(mask) < 2 else tuple(int(i) for i in np.unravel_index(k, np.shape(mask)))


def element(x, k):
    """Element k of a vec or mat operand; a number operand (or a 0-d array) is the same for every element."""
    return x[k] if isinstance(x, np.ndarray) and x.ndim else x


def at(k) -> str:
    if k is None:
        return ""
    return f" at index {k}" if isinstance(k, int) else f" at [{k[0]}, {k[1]}]"


def element_of(k) -> str:
    """`index 2 of a vec`, or `element [0, 1] of a mat`: where in an operand an element is."""
    return f"index {k} of a vec" if isinstance(k, int) else f"element [{k[0]}, {k[1]}] of a mat"


def shape_text(x) -> str:
    """A vec's length (`3`) or a mat's shape (`2x3`), as messages write them."""
    return "x".join(str(n) for n in np.shape(x))


# ---------------------------------------------------------------- evaluation helpers


def check_lengths(what: str, *values) -> None:
    """Vecs of one length, or mats of one shape (a mat with an unknown shape is checked here, as it runs)."""
    if len(values) == 2:  # most operations: a look at two shapes, nothing built
        a, b = values
        if a.__class__ is not np.ndarray or b.__class__ is not np.ndarray or a.shape == b.shape:
            return
    arrays = [v for v in values if isinstance(v, np.ndarray) and v.ndim]
    shapes = list(dict.fromkeys(v.shape for v in arrays))
    if len(shapes) > 1:
        a, b = shapes[:2]
        if len(a) == 1 and len(b) == 1:
            a, b = sorted(shapes)[:2]
            raise DomainError(f"vecs of different lengths ({a[0]} and {b[0]}) in an elementwise {what}; "
                              f"{SAME_LENGTH}")
        raise DomainError(f"mats of different shapes ({a[0]}x{a[1]} and {b[0]}x{b[1]}) in an elementwise {what}; "
                          "use mats of the same shape")


def elementwise(fn: Callable, what: str, op: str, arithmetic: bool = True) -> Callable:
    """`fn` on vecs (and numbers) of one length; a NaN in the result names its element and operands, as
    `a OP b` for an operator (`+`) or `OP(a, b)` for a function (`min`).

    In a run (`.quiet`) a NaN is looked for only where one can have been made: by `arithmetic` (an invalid
    operation, `made_nan`); `min` and `max` (not arithmetic) only pick among numbers. Arithmetic is a numpy
    ufunc, which writes into a dead array of the run's pool where there is one (`quiet`, `pooled`)."""

    def error(r, xs) -> DomainError:
        k = first(np.isnan(r))
        operands = [element(x, k) for x in xs]
        values = [show(x) for x in operands]
        shown = f"{op}({', '.join(values)})" if op.isidentifier() else f" {op} ".join(values)
        return DomainError(f"{shown}{at(k)} is not a number (NaN); {why_not_finite(*operands)}")

    def apply(*xs):
        check_lengths(what, *xs)
        r = fn(*xs)
        if r.__class__ is not np.ndarray or r.dtype != np.float64:
            r = np.asarray(r, dtype=float)
        if has_nan(r):
            raise error(r, xs)
        return r

    def fast(a, b, pool=None):  # every elementwise primitive takes two operands; this runs once an operation
        if a.__class__ is np.ndarray and b.__class__ is np.ndarray and a.shape != b.shape:
            check_lengths(what, a, b)
        out = None
        if pool is not None and arithmetic:  # `into`, inline: this runs once an operation
            x = a if a.__class__ is np.ndarray else b
            if x.__class__ is np.ndarray and x.size >= POOLED:
                out = pool.take(x.shape)
        r = fn(a, b) if out is None else fn(a, b, out=out)
        if r.__class__ is not np.ndarray or r.dtype != np.float64:
            r = np.asarray(r, dtype=float)
        if arithmetic and INVALID.seen and made_nan(r):
            raise error(r, (a, b))
        return r

    return quiet(apply, fast, pooled=arithmetic)


# Ints are 64-bit (README, "Limits"): `+ - *` on two ints past this range is a runtime error,
# not a number with a million digits. The compiled engine checks the same bounds inline.
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


def int_result(r: int) -> int:
    if INT_MIN <= r <= INT_MAX:
        return r
    raise DomainError(f"int overflow: {r} does not fit in 64 bits; use floats for numbers this large")


def nan_error(a, op: str, b, k: int | None = None) -> DomainError:
    """`inf * 0.0 is not a number (NaN); the inf is ...`: the operands as they were (element k of vecs), and where
    they came from."""
    return DomainError(f"{show(a)} {op} {show(b)}{at(k)} is not a number (NaN); {why_not_finite(a, b)}")


def _add(a, b):
    r = a + b
    if type(r) is float:
        if r != r:
            raise nan_error(a, "+", b)
        return r
    return int_result(r)


def _sub(a, b):
    r = a - b
    if type(r) is float:
        if r != r:
            raise nan_error(a, "-", b)
        return r
    return int_result(r)


def _mul(a, b):
    r = a * b
    if type(r) is float:
        if r != r:
            raise nan_error(a, "*", b)
        return r
    return int_result(r)


def _division_by_zero(a: str, b, k: int | None = None) -> DomainError:
    """`division by zero: 1.0 / 0.0; ...` with the dividend already shown (a vec divided by 0 shows `a vec`)."""
    guard = "keep its elements away from 0" if k is not None else "keep the divisor away from 0 (guard it with an `if`)"
    return DomainError(f"division by zero: {a} / {show(b)}{at(k)}; {guard} or choose other arguments")


def _div(a, b):
    if b == 0:
        raise _division_by_zero(show(a), b)
    r = a / b
    if r != r:
        raise nan_error(a, "/", b)
    return r


_divide = elementwise(np.divide, "division", "/")


def _check_divisor(a, b) -> None:
    check_lengths("division", a, b)
    if isinstance(b, np.ndarray):
        if np.count_nonzero(b) != b.size:  # one pass, no mask
            k = first(b == 0)
            raise _division_by_zero(show(element(a, k)), b[k], k)
    elif b == 0:
        raise _division_by_zero("a mat" if np.ndim(a) == 2 else "a vec", b)


def _div_vec(a, b):
    _check_divisor(a, b)
    return _divide(a, b)


def _div_vec_in_run(a, b, pool=None):
    _check_divisor(a, b)
    return _divide.quiet(a, b, pool)


def _pow_undefined(a, b, k: int | None = None) -> DomainError | None:
    """The error of a ^ b (element k of vecs), or None where it is defined."""
    if a < 0 and b in (math.inf, -math.inf):
        return DomainError(f"a negative base ({show(a)}) to an infinite power ({show(b)}){at(k)} is undefined; "
                           "keep the power finite (it is an argument or a value that overflowed earlier) "
                           "or the base >= 0")
    if a < 0 and not float(b).is_integer():  # a NaN power too
        return DomainError(f"a negative base ({show(a)}) to a power that is not a whole number ({show(b)}){at(k)} "
                           "has no real value; keep the base >= 0 (guard it with an `if`) or use a whole-number power")
    if a == 0 and b < 0:
        return DomainError(f"0 to a negative power is a division by zero: {show(a)} ^ {show(b)}{at(k)}; "
                           "keep the base away from 0 (guard it with an `if`) or choose other arguments")
    return None


def _pow(a, b):
    if a <= 0:
        err = _pow_undefined(a, b)
        if err is not None:
            raise err
    try:
        return float(a) ** b
    except OverflowError:
        return math.inf if a > 0 or int(b) % 2 == 0 else -math.inf


def _pow_vec(a, b, pool=None):
    if b.__class__ in (int, float) and b >= 0 and float(b).is_integer():
        # A whole power >= 0 of any base is defined: no mask to build. `x ^ 2` is x * x (what pow gives, rounded
        # once, in half the time of np.power).
        out = into(pool, a)
        return np.square(a, out=out) if b == 2 else np.power(a, float(b), out=out)
    check_lengths("power", a, b)
    base, exponent = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    bad = ((base < 0) & (np.isinf(exponent) | (exponent != np.round(exponent)))) | ((base == 0) & (exponent < 0))
    if np.any(bad):
        k = first(bad)
        raise _pow_undefined(float(element(base, k)), float(element(exponent, k)), k)
    return np.power(base, exponent)


def math_fn(fn: Callable, name: str, domain: Callable | None = None, needs: str = "") -> Callable:
    """A scalar math function whose domain errors and overflows follow adlang's rules; `needs` is its domain."""

    def apply(x):
        if domain is not None and not domain(x):
            raise DomainError(f"{name} of {show(x)}: {name} needs a number {needs}; "
                              "guard the call with an `if` or choose other arguments")
        try:
            return fn(x)
        except OverflowError:
            return math.inf
        except ValueError:  # sin, cos, tan of inf
            raise DomainError(f"{name} of {show(x)} is undefined; {why_not_finite(x)}") from None

    return apply


def vec_fn(fn: Callable, name: str, domain: Callable | None = None, needs: str = "", nan_free: bool = False,
           numbers_give_numbers: bool = False) -> Callable:
    """`fn` elementwise on a vec or a mat. `domain` is a lower bound (x > 0, x >= 0): an array is inside where its
    least element is, one pass, and a NaN is outside. `nan_free`: fn of numbers inside the domain is never NaN
    (log, sqrt), so that pass is the only one; the others scan their result (sin of an inf is NaN), except in a
    run (`.quiet`, no NaN given) where fn of any number is a number (`numbers_give_numbers`: exp, tanh)."""

    def apply(v, scan=True, pool=None):
        if domain is not None and v.size and not domain(np.minimum.reduce(v, axis=None)):
            inside = domain(v)
            if not np.all(inside):
                k = first(~inside)
                raise DomainError(f"{name} of a {'mat' if v.ndim == 2 else 'vec'} element ({show(v[k])}{at(k)}): "
                                  f"{name} needs numbers {needs}; "
                                  f"choose arguments that keep the elements {needs}")
        out = into(pool, v)
        r = fn(v) if out is None else fn(v, out=out)
        if scan and not nan_free and has_nan(r):
            k = first(np.isnan(r))
            raise DomainError(f"{name}({show(v[k])}){at(k)} is not a number (NaN); {why_not_finite(v[k])}")
        return r

    scan_in_run = not numbers_give_numbers
    return quiet(apply, lambda v, pool=None: apply(v, scan_in_run, pool), pooled=True)


def _dpow(a, n, c):
    """c * a^(n-1): the derivative of a^n is dpow(a, n, n). 0 where c = 0, even where a^(n-1) is undefined."""
    return 0.0 if c == 0 else c * _pow(a, n - 1)


def _dpow_vec(a, n, c):
    return np.zeros(np.shape(a)) if c == 0 else c * _pow_vec(a, n - 1)


def _dpow_rule(args):
    a, n, c = (x.type for x in args)
    if n.kind != "int" or c.kind != "int" or not (a.is_array or a.is_scalar_number):
        raise TypeRuleError(f"dpow(a, n, c) takes a number, a vec or a mat and two ints, got {type_names(args)}")
    return a if a.is_array else FLOAT


def _dpow_factor(e, args):
    """d/da [c a^(n-1)] = c (n-1) a^(n-2) = dpow(a, n - 1, c * (n - 1)): closed under differentiation."""
    a, n, c = args
    lower = e.op("sub", n, Const(1, INT))
    return e.op("dpow", a, lower, e.op("mul", c, lower))


def _dpow_jvp(e, args, t, r):
    return None if t[0] is None else e.op("mul", t[0], _dpow_factor(e, args))


def _dpow_vjp(e, args, r, g, wants):
    return (e.op("mul", g, _dpow_factor(e, args)), None, None)


def _sign(x):
    return (x > 0) - (x < 0) + 0.0


SQRT_DERIVATIVE = "sqrt'(x) = 1 / (2 sqrt(x)) needs x > 0"


def _derivative_error(message: str) -> DomainError:
    """The error of a builtin that is itself a derivative: its message says so already, in a rule as well."""
    return DomainError(message, lambda rule: message)


def _dsqrt(x):
    if x <= 0:
        raise _derivative_error(f"the derivative of sqrt is undefined at {show(x)} ({SQRT_DERIVATIVE}); "
                                "differentiate at a point where sqrt's argument is > 0")
    return 0.5 / math.sqrt(x)


def _dsqrt_vec(v):
    if np.any(v <= 0):
        k = first(v <= 0)
        raise _derivative_error(f"the derivative of sqrt is undefined at {show(v[k])}, {element_of(k)} "
                                f"({SQRT_DERIVATIVE}); differentiate at a point where every element sqrt takes is > 0")
    return 0.5 / np.sqrt(v)


def _powb_advice(base: str, exponent: str) -> str:
    return (f"differentiate where {base} > 0, or keep {exponent} out of the derivative "
            "(an int power `x ^ n` is differentiable at every x)")


def _powb_undefined(a, k: int | None = None) -> DomainError:
    """dpowb's error at a <= 0 (element k of a vec): on its own, and in the terms of the `a ^ b` it differentiates."""
    where = "" if k is None else f", {element_of(k)}"

    def in_rule(rule):
        written = rule.written
        base, exponent = written.operands if written.op == "pow" else ("a", "b")
        text = written.text if written.op == "pow" else "a ^ b"
        return (f"the derivative of {text} with respect to {exponent} needs {base} > 0 "
                f"(it is {text} * log({base})); here {base} = {show(a)}{where}; {_powb_advice(base, exponent)}")

    return DomainError(f"dpowb(a, y) = y * log(a), the derivative of a ^ b with respect to b (y = a ^ b), "
                       f"needs a > 0; here a = {show(a)}{where}; {_powb_advice('a', 'b')}", in_rule)


def _dpowb(a, y):
    """y * log(a): the derivative of a ^ b with respect to b, given y = a ^ b. An error where a <= 0."""
    if not a > 0:
        raise _powb_undefined(a)
    return _mul(y, math.log(a))


def _dpowb_vec(a, y, times=None):
    check_lengths("dpowb", a, y)
    base = np.asarray(a, dtype=float)
    if not np.all(base > 0):
        k = first(~(base > 0)) if base.ndim else None
        raise _powb_undefined(float(element(base, k)) if k is not None else float(base), k)
    return (times or _powb_times)(y, np.log(base))


_powb_times = elementwise(np.multiply, "multiplication", "*")


def _dpowb_jvp(e, args, t, r):
    """d/da [y log a] = y / a, d/dy [y log a] = log(a): both defined where dpowb is (a > 0)."""
    a, y = args
    return e.add_all([e.times(e.op("div", y, a), t[0]), e.times(e.op("log", a), t[1])])


def _dpowb_vjp(e, args, r, g, wants):
    a, y = args
    return (e.op("mul", g, e.op("div", y, a)) if wants[0] else None,
            e.op("mul", g, e.op("log", a)) if wants[1] else None)


def _ifle(a, b, x, y):
    return float(x if a <= b else y)


def _pick(choose: Callable) -> Callable:
    """min/max on scalars: the chosen operand, a float if either operand is (int only for two ints)."""

    def pick(a, b):
        r = choose(a, b)
        return float(r) if type(a) is float or type(b) is float else r

    return pick


def _ifle_vec(a, b, x, y):
    check_lengths("ifle", a, b, x, y)
    shape = np.broadcast(a, b, x, y).shape
    return np.where(np.asarray(a) <= b, x, y).astype(float) * np.ones(shape)


# ---------------------------------------------------------------- derivative rules


def _or_zero(e, tangent):
    return tangent if tangent is not None else e.const(0.0)


def _add_jvp(e, args, t, r):
    return e.add_all(t)


def _add_vjp(e, args, r, g, wants):
    return (g, g)


def _sub_jvp(e, args, t, r):
    if t[1] is None:
        return t[0]
    if t[0] is None:
        return e.op("neg", t[1])
    return e.op("sub", t[0], t[1])


def _sub_vjp(e, args, r, g, wants):
    return (g, e.op("neg", g) if wants[1] else None)


def _mul_jvp(e, args, t, r):
    a, b = args
    return e.add_all([e.op("mul", t[0], b) if t[0] is not None else None,
                      e.op("mul", a, t[1]) if t[1] is not None else None])


def _mul_vjp(e, args, r, g, wants):
    a, b = args
    return (e.op("mul", b, g) if wants[0] else None, e.op("mul", a, g) if wants[1] else None)


def _div_jvp(e, args, t, r):
    a, b = args
    if t[1] is None:
        return e.op("div", t[0], b)
    scaled = e.op("mul", r, t[1])
    numerator = e.op("neg", scaled) if t[0] is None else e.op("sub", t[0], scaled)
    return e.op("div", numerator, b)


def _div_vjp(e, args, r, g, wants):
    a, b = args
    ga = e.op("div", g, b)
    gb = e.op("neg", e.op("mul", ga, r)) if wants[1] else None
    return (ga if wants[0] else None, gb)


def _pow_factors(e, args, r, wants, scale=None):
    """d(a^b)/da = b * a^(b-1) and d(a^b)/db = a^b * log(a) = dpowb(a, a^b) (an error for a <= 0), and whether
    d/da came times `scale` already.

    Reverse mode gives the cotangent g as `scale` for an array a: g * b * a^(b-1) is then (g * b) * a^(b-1), so
    that a number g (the adjoint of a mean, once simplified) meets the number b before the array is touched,
    one pass over it instead of two. For a number a the rules read as the slides do, g * (b * a^(b-1))."""
    a, b = args
    da = db = None
    scaled = False
    with e.wrt(0, lambda a, b: f"{b} * {a} ^ ({b} - 1)"):
        if wants[0] and isinstance(b, Const) and b.value == 0:
            da = e.const(0.0)
        elif wants[0] and b.type.kind == "int" and not isinstance(b, Const):
            da = e.op("dpow", a, b, b)
        elif wants[0]:
            one = e.const(1.0) if b.type.kind != "int" else Const(1, INT)
            scaled = scale is not None
            coefficient = e.op("mul", scale, b) if scaled else b
            da = e.op("mul", coefficient, e.op("pow", a, e.op("sub", b, one)))
    if wants[1]:
        with e.wrt(1):
            db = e.op("dpowb", a, r)
    return da, db, scaled


def _pow_jvp(e, args, t, r):
    da, db, _ = _pow_factors(e, args, r, (t[0] is not None, t[1] is not None))
    return e.add_all([e.times(da, t[0]), e.times(db, t[1])])


def _pow_vjp(e, args, r, g, wants):
    da, db, scaled = _pow_factors(e, args, r, wants, g if args[0].type.is_array else None)
    if da is not None and not scaled:
        da = e.op("mul", g, da)
    return (da, e.op("mul", g, db) if db is not None else None)


def _neg_jvp(e, args, t, r):
    return e.op("neg", t[0]) if t[0] is not None else None


def _neg_vjp(e, args, r, g, wants):
    return (e.op("neg", g),)


def unary_rules(factor: Callable) -> tuple[Callable, Callable]:
    """JVP and VJP of f(a) from f'(a) built by `factor(e, a, result)`: tangent * f', cotangent * f'."""

    def jvp(e, args, t, r):
        return None if t[0] is None else e.op("mul", t[0], factor(e, args[0], r))

    def vjp(e, args, r, g, wants):
        return (e.op("mul", g, factor(e, args[0], r)),)

    return jvp, vjp


def _select_rules(first_when: Callable) -> tuple[Callable, Callable]:
    """min/max/ifle: the derivative follows the operand that was selected (a tie picks the first)."""

    def jvp(e, args, t, r):
        a, b, x_t, y_t = first_when(args, t)
        if x_t is None and y_t is None:
            return None
        return e.op("ifle", a, b, _or_zero(e, x_t), _or_zero(e, y_t))

    def vjp(e, args, r, g, wants):
        a, b, x_i, y_i = first_when(args, (0, 1, 2, 3))
        zero = e.const(0.0)
        out = [None] * len(args)
        if x_i is not None and wants[x_i]:
            out[x_i] = e.op("ifle", a, b, g, zero)
        if y_i is not None and wants[y_i]:
            out[y_i] = e.op("ifle", a, b, zero, g)
        return tuple(out)

    return jvp, vjp


def _min_parts(args, items):
    return args[0], args[1], items[0], items[1]


def _max_parts(args, items):
    return args[1], args[0], items[0], items[1]


def _ifle_parts(args, items):
    return args[0], args[1], items[2], items[3]


def _identity_jvp(e, args, t, r):
    return t[0]


def _identity_vjp(e, args, r, g, wants):
    return (g,)


# ---------------------------------------------------------------- convention notes
# Where a derivative above picks a side (abs'(0) = 0, a tie of min/max goes to the first argument, a comparison
# of equal sides follows the branch taken), a trace says so: each note-maker takes the operands as the program
# writes them and their values, and gives the note, or None away from the kink.


def _touch(a, b) -> bool:
    """Equal somewhere (elementwise for vecs)."""
    return bool(np.any(np.asarray(a) == np.asarray(b)))


def _at_zero(names, values) -> str | None:
    """`x = 0` where the operand touches 0 (in some elements of a vec), else None."""
    if not _touch(values[0], 0.0):
        return None
    is_vec = isinstance(values[0], np.ndarray) and values[0].ndim > 0
    return f"{names[0]} = 0" + (" (in some elements)" if is_vec else "")


def _abs_note(names, values) -> str | None:
    where = _at_zero(names, values)
    return None if where is None else f"abs at {where}: no derivative there; the convention takes abs'(0) = 0"


def _sign_note(names, values) -> str | None:
    where = _at_zero(names, values)
    return None if where is None else f"sign at {where} gives 0: the convention abs'(0) = 0"


def _tie_note(op: str) -> Callable:
    def note(names, values):
        if not _touch(values[0], values[1]):
            return None
        return f"{op}({names[0]}, {names[1]}) at a tie: the derivative goes to the first argument, {names[0]}"

    return note


def _ifle_note(names, values) -> str | None:
    if not _touch(values[0], values[1]):
        return None
    return (f"ifle at a tie ({names[0]} == {names[1]}) takes {names[2]}: "
            "a tie in max/min passes the derivative to the first argument")


def _comparison_note(symbol: str, when_equal: bool) -> Callable:
    """`a <= b with both sides equal: it is true here, ...`; `when_equal` is the comparison of equal sides."""
    taken = "true" if when_equal else "false"

    def note(names, values):
        if not _touch(values[0], values[1]):
            return None
        return (f"{names[0]} {symbol} {names[1]} with both sides equal: it is {taken} here, and the derivative is "
                "that of the branch the program takes")

    return note


# ---------------------------------------------------------------- the entries


def _infix(name, symbol, rule, scalar, vector, jvp, vjp, total=True, uses_result=False, aliases=(), **facts):
    register(Primitive(name, "infix", symbol, 2, rule, scalar, vector, jvp, vjp, total, uses_result, **facts), aliases)


def _builtin(name, arity, rule, scalar, vector, jvp, vjp, total=True, uses_result=False, doc="", **facts):
    register(Primitive(name, "call", name, arity, rule, scalar, vector, jvp, vjp, total, uses_result, doc, **facts))


def _unary_math(name, scalar, vector, factor, total=True, uses_result=False, keep_int=False, **facts):
    jvp, vjp = unary_rules(factor)
    _builtin(name, 1, numeric_unary(keep_int), scalar, vector, jvp, vjp, total, uses_result, elementwise=True,
             **facts)


# `_add`, `_sub` and `_mul` are Python's operator, then an error where a float result is NaN or an int one
# does not fit in 64 bits.
NAN_AND_INT_CHECKED = frozenset({"nan", "int"})

_infix("add", "+", numeric_binary("+", INT), _add, elementwise(np.add, "addition", "+"), _add_jvp, _add_vjp,
       right_unit=0, left_unit=0, python_operator="+", operator_checks=NAN_AND_INT_CHECKED, elementwise=True)
_infix("sub", "-", numeric_binary("-", INT), _sub, elementwise(np.subtract, "subtraction", "-"), _sub_jvp, _sub_vjp,
       right_unit=0, from_zero="neg", python_operator="-", operator_checks=NAN_AND_INT_CHECKED, elementwise=True)
_infix("mul", "*", numeric_binary("*", INT), _mul, elementwise(np.multiply, "multiplication", "*"), _mul_jvp, _mul_vjp,
       right_unit=1, left_unit=1, python_operator="*", operator_checks=NAN_AND_INT_CHECKED, elementwise=True)
_infix("div", "/", numeric_binary("/", None), _div, quiet(_div_vec, _div_vec_in_run, pooled=True), _div_jvp, _div_vjp,
       total=False, uses_result=True, right_unit=1, elementwise=True)
_infix("pow", "^", numeric_binary("^", None), _pow, quiet(_pow_vec, _pow_vec, pooled=True), _pow_jvp, _pow_vjp,
       total=False, uses_result=True, aliases=("pow",), right_unit=1, elementwise=True)
def _neg(a):
    r = -a
    return int_result(r) if type(r) is int else r


def _abs(a):
    r = abs(a)
    return int_result(r) if type(r) is int else r


register(Primitive("neg", "prefix", "-", 1, numeric_unary(True), _neg,
                   quiet(np.negative, lambda a, pool=None: np.negative(a, out=into(pool, a)), pooled=True),
                   _neg_jvp, _neg_vjp,
                   involution=True, python_operator="-", operator_checks=frozenset({"int"}), elementwise=True))

for _name, _symbol, _fn in [
    ("lt", "<", lambda a, b: a < b), ("le", "<=", lambda a, b: a <= b),
    ("gt", ">", lambda a, b: a > b), ("ge", ">=", lambda a, b: a >= b),
    ("eq", "==", lambda a, b: a == b), ("ne", "!=", lambda a, b: a != b),
]:
    _infix(_name, _symbol, comparison(_symbol), _fn, None, no_jvp, no_vjp,
           kink=_comparison_note(_symbol, _fn(0.0, 0.0)), python_operator=_symbol)
_infix("and", "and", logical("and"), lambda a, b: a and b, None, no_jvp, no_vjp)
_infix("or", "or", logical("or"), lambda a, b: a or b, None, no_jvp, no_vjp)
register(Primitive("not", "prefix", "not", 1, logical("not"), lambda a: not a, None, no_jvp, no_vjp))

_unary_math("sin", math_fn(math.sin, "sin"), vec_fn(np.sin, "sin"), lambda e, a, r: e.op("cos", a))
_unary_math("cos", math_fn(math.cos, "cos"), vec_fn(np.cos, "cos"), lambda e, a, r: e.op("neg", e.op("sin", a)))
_unary_math("tan", math_fn(math.tan, "tan"), vec_fn(np.tan, "tan"),
            lambda e, a, r: e.op("add", e.const(1.0), e.op("mul", r, r)), uses_result=True)
_unary_math("exp", math_fn(math.exp, "exp"), vec_fn(np.exp, "exp", numbers_give_numbers=True), lambda e, a, r: r,
            uses_result=True)
_unary_math("tanh", math_fn(math.tanh, "tanh"), vec_fn(np.tanh, "tanh", numbers_give_numbers=True),
            lambda e, a, r: e.op("sub", e.const(1.0), e.op("mul", r, r)), uses_result=True)
_unary_math(
    "log",
    math_fn(math.log, "log", lambda x: x > 0, "> 0"),
    vec_fn(np.log, "log", lambda v: v > 0, "> 0", nan_free=True),
    lambda e, a, r: e.op("div", e.const(1.0), a),
    total=False,
)
_unary_math(
    "sqrt",
    math_fn(math.sqrt, "sqrt", lambda x: x >= 0, ">= 0"),
    vec_fn(np.sqrt, "sqrt", lambda v: v >= 0, ">= 0", nan_free=True),
    lambda e, a, r: e.op("dsqrt", a),
    total=False,
)
_unary_math(
    "dsqrt", _dsqrt, _dsqrt_vec,
    lambda e, a, r: e.op("neg", e.op("div", r, e.op("mul", e.const(2.0), a))),
    total=False, uses_result=True,
)
_builtin("dpow", 3, _dpow_rule, _dpow, quiet(_dpow_vec), _dpow_jvp, _dpow_vjp, total=False, elementwise=True)
_builtin("dpowb", 2, lambda args: broadcast_type("dpowb()", [a.type for a in args], None),
         _dpowb, quiet(_dpowb_vec, lambda a, y: _dpowb_vec(a, y, _powb_times.quiet)), _dpowb_jvp, _dpowb_vjp,
         total=False, elementwise=True)
_unary_math("abs", _abs, np.abs, lambda e, a, r: e.op("sign", a), keep_int=True, kink=_abs_note)
_builtin("sign", 1, numeric_unary(False), _sign, np.sign, no_jvp, no_vjp, kink=_sign_note, elementwise=True)


def _float_rule(args):
    if args[0].type.is_scalar_number:
        return FLOAT
    raise TypeRuleError(f"float() converts an int, got {args[0].type}")


_builtin("float", 1, _float_rule, float, None, _identity_jvp, _identity_vjp)

_min_jvp, _min_vjp = _select_rules(_min_parts)
_max_jvp, _max_vjp = _select_rules(_max_parts)
_ifle_jvp, _ifle_vjp = _select_rules(_ifle_parts)
_builtin("min", 2, numeric_binary("min", INT), _pick(lambda a, b: b if b < a else a),
         elementwise(lambda a, b: np.where(np.asarray(b) < a, b, a), "min", "min", False), _min_jvp, _min_vjp,
         kink=_tie_note("min"), elementwise=True)
_builtin("max", 2, numeric_binary("max", INT), _pick(lambda a, b: b if b > a else a),
         elementwise(lambda a, b: np.where(np.asarray(b) > a, b, a), "max", "max", False), _max_jvp, _max_vjp,
         kink=_tie_note("max"), elementwise=True)
_builtin("ifle", 4, lambda args: broadcast_type("ifle()", [a.type for a in args], None),
         _ifle, _ifle_vec, _ifle_jvp, _ifle_vjp, kink=_ifle_note, elementwise=True)
