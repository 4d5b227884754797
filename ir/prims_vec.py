"""The vec builtins (sum, mean, dot, len, zeros, ones), indexing, vec literals and `addat`.

`addat(w, i, x)` (w with x added to element i) is the scatter-add that the
adjoint of indexing accumulates with; it is a builtin like the others so that
derivative programs stay valid adlang.
"""

from __future__ import annotations

import numpy as np

from adlang.ir.nodes import Const
from adlang.ir.primitive import IndexContribution, Primitive, TypeRuleError, no_jvp, no_vjp, register
from adlang.ir.prims_scalar import NAN_ARGUMENTS, SAME_LENGTH, first, nan_error, type_names, vec_join
from adlang.ir.types import FLOAT, INT, vec
from adlang.lang.errors import DomainError

MAX_VEC_LENGTH = 100_000_000

# ---------------------------------------------------------------- type rules


def _vec_to(result):
    def rule(args):
        if args[0].type.kind != "vec":
            raise TypeRuleError(f"expected a vec, got {args[0].type}")
        return result

    return rule


def _dot_rule(args):
    a, b = args[0].type, args[1].type
    if a.kind != "vec" or b.kind != "vec":
        raise TypeRuleError(f"dot() takes two vecs, got {type_names(args)}")
    vec_join("dot()", a, b)
    return FLOAT


def _filled_rule(args):
    n = args[0]
    if n.type.kind != "int":
        raise TypeRuleError(f"expected an int length, got {n.type}")
    if isinstance(n, Const) and 0 <= n.value <= MAX_VEC_LENGTH:
        return vec(n.value)
    return vec()


def _veclit_rule(args):
    for a in args:
        if not a.type.is_scalar_number:
            raise TypeRuleError(f"a vec literal holds numbers, got {a.type}")
    return vec(len(args))


def _index_rule(args):
    v, i = args[0].type, args[1].type
    if v.kind != "vec":
        raise TypeRuleError(f"only a vec can be indexed, got {v}")
    if i.kind != "int":
        raise TypeRuleError(f"a vec index must be an int, got {i}")
    return FLOAT


def _vec_args_rule(what: str, args):
    if any(a.type.kind != "vec" for a in args):
        raise TypeRuleError(f"{what} takes vecs, got {type_names(args)}")
    return vec()


def _addat_rule(args):
    w, i, x = (a.type for a in args)
    if w.kind != "vec" or i.kind != "int" or not x.is_scalar_number:
        raise TypeRuleError(f"addat(w, i, x) takes a vec, an int and a number, got {type_names(args)}")
    return w


# ---------------------------------------------------------------- evaluation


def _check_index(v, i) -> None:
    n = v.shape[0]
    if i < 0 or i >= n:
        if n == 0:
            fix = "the vec is empty: check len() before indexing it"
        else:
            fix = "use index 0" if n == 1 else f"use an index from 0 to {n - 1}"
            if i < 0:
                fix += " (a negative index does not count from the end)"
        raise DomainError(f"index {i} is out of range for a vec of length {n}; {fix}")


def _index(v, i):
    _check_index(v, i)
    return float(v[i])


def _addto(d, c):
    """d + c, where an empty vec stands for a zero of any length (an adjoint not sized yet)."""
    if d.shape[0] == 0:
        return np.array(c, dtype=float)
    if c.shape[0] == 0:
        return d
    if d.shape != c.shape:
        raise DomainError(f"vecs of different lengths ({d.shape[0]} and {c.shape[0]}) in addto; {SAME_LENGTH} "
                          "(or an empty vec for a zero)")
    with np.errstate(invalid="ignore"):
        total = d + c
    if np.isnan(total).any():
        k = first(np.isnan(total))
        raise nan_error(d[k], "+", c[k], k)
    return total


def _addat(w, i, x):
    _check_index(w, i)
    out = w.copy()
    with np.errstate(invalid="ignore"):
        out[i] += x
    if out[i] != out[i]:
        raise nan_error(w[i], "+", x, i)
    return out


def _filled(name: str, value: float):
    def make(n):
        if n < 0:
            raise DomainError(f"{name}({n}): a vec cannot have a negative length; give a length >= 0")
        if n > MAX_VEC_LENGTH:
            raise DomainError(f"{name}({n}): a vec of {n:,} elements is larger than the limit of {MAX_VEC_LENGTH:,}; "
                              "use fewer elements")
        return np.full(n, value)

    return make


def _total(r: float, what: str, cancels: str, *vecs) -> float:
    """A sum, mean or dot product `r`, unless it is NaN: then the error says whether a NaN came in or infs cancelled."""
    if r == r:
        return r
    for v in vecs:
        if np.isnan(v).any():
            raise DomainError(f"{what} is not a number (NaN): the element at index {first(np.isnan(v))} is NaN "
                              f"already; {NAN_ARGUMENTS}")
    raise DomainError(f"{what} is not a number (NaN): {cancels} (an inf is an argument or a value that overflowed "
                      "earlier); rescale the inputs so the values stay finite")


ADD_UP = "its elements add up to inf - inf"


def _sum(v):
    with np.errstate(all="ignore"):  # a NaN is the error below, not numpy's warning
        return _total(float(np.sum(v)), "sum", ADD_UP, v)


def _mean(v):
    if v.shape[0] == 0:
        raise DomainError("mean of an empty vec is undefined; guard it with `if len(v) > 0` or give a vec that has "
                          "elements")
    with np.errstate(all="ignore"):
        return _total(float(np.mean(v)), "mean", ADD_UP, v)


def _dot(u, v):
    if u.shape != v.shape:
        raise DomainError(f"dot of vecs of different lengths ({u.shape[0]} and {v.shape[0]}); {SAME_LENGTH}")
    with np.errstate(all="ignore"):
        return _total(float(np.dot(u, v)), "dot", "a product is inf * 0, or the products add up to inf - inf", u, v)


def _veclit(*xs):
    return np.array(xs, dtype=float)


# ---------------------------------------------------------------- derivative rules


def _spread(e, v, x):
    """A vec as long as `v` with every element `x`."""
    return e.op("mul", e.op("ones", e.op("len", v)), x)


def _sum_jvp(e, args, t, r):
    return e.op("sum", t[0]) if t[0] is not None else None


def _sum_vjp(e, args, r, g, wants):
    return (_spread(e, args[0], g),)


def _mean_jvp(e, args, t, r):
    return e.op("mean", t[0]) if t[0] is not None else None


def _mean_vjp(e, args, r, g, wants):
    return (_spread(e, args[0], e.op("div", g, e.op("len", args[0]))),)


def _dot_jvp(e, args, t, r):
    u, v = args
    return e.add_all([e.op("dot", t[0], v) if t[0] is not None else None,
                      e.op("dot", u, t[1]) if t[1] is not None else None])


def _dot_vjp(e, args, r, g, wants):
    u, v = args
    return (e.op("mul", v, g) if wants[0] else None, e.op("mul", u, g) if wants[1] else None)


def _index_jvp(e, args, t, r):
    return e.op("index", t[0], args[1]) if t[0] is not None else None


def _index_vjp(e, args, r, g, wants):
    return (IndexContribution(args[1], g), None)


def _veclit_jvp(e, args, t, r):
    if all(x is None for x in t):
        return None
    return e.op("veclit", *[x if x is not None else e.const(0.0) for x in t])


def _veclit_vjp(e, args, r, g, wants):
    return tuple(e.op("index", g, Const(k, INT)) if wants[k] else None for k in range(len(args)))


def _addto_jvp(e, args, t, r):
    d, c = args
    if t[0] is None and t[1] is None:
        return None
    td = t[0] if t[0] is not None else e.op("zeros", e.op("len", d))
    tc = t[1] if t[1] is not None else e.op("zeros", e.op("len", c))
    return e.op("addto", td, tc)


def _addto_vjp(e, args, r, g, wants):
    return (g, g)


def _addat_jvp(e, args, t, r):
    w, i, _ = args
    dw, _, dx = t
    if dx is None:
        return dw
    base = dw if dw is not None else e.op("zeros", e.op("len", w))
    return e.op("addat", base, i, dx)


def _addat_vjp(e, args, r, g, wants):
    return (g, None, e.op("index", g, args[1]) if wants[2] else None)


# ---------------------------------------------------------------- the entries


def _vec_builtin(name, arity, rule, evaluate, jvp, vjp, total=True):
    register(Primitive(name, "call", name, arity, rule, None, evaluate, jvp, vjp, total))


_vec_builtin("sum", 1, _vec_to(FLOAT), _sum, _sum_jvp, _sum_vjp)
_vec_builtin("mean", 1, _vec_to(FLOAT), _mean, _mean_jvp, _mean_vjp, total=False)
_vec_builtin("dot", 2, _dot_rule, _dot, _dot_jvp, _dot_vjp, total=False)
_vec_builtin("len", 1, _vec_to(INT), lambda v: int(v.shape[0]), no_jvp, no_vjp)
register(Primitive("zeros", "call", "zeros", 1, _filled_rule, _filled("zeros", 0.0), None, no_jvp, no_vjp, False))
register(Primitive("ones", "call", "ones", 1, _filled_rule, _filled("ones", 1.0), None, no_jvp, no_vjp, False))
_vec_builtin("addto", 2, lambda args: _vec_args_rule("addto(d, c)", args), _addto, _addto_jvp, _addto_vjp,
             total=False)
_vec_builtin("addat", 3, _addat_rule, _addat, _addat_jvp, _addat_vjp, total=False)
register(Primitive("index", "index", "[]", 2, _index_rule, None, _index, _index_jvp, _index_vjp, False))
register(Primitive("veclit", "veclit", "[]", None, _veclit_rule, _veclit, _veclit, _veclit_jvp, _veclit_vjp))
