"""The vec builtins (sum, mean, dot, len, zeros, ones), indexing, vec literals, `addto`, `fitto` and `addat`.

`sum`, `mean`, `zeros`, `ones`, `addto` and `addat` take mats too (zeros(r, c)
is a mat): one builtin name is one primitive. `addat(w, i, x)` (w with x added
to element i, or to row i of a mat; `addat(W, i, j, x)` to an element of a
mat) is the scatter-add that the adjoint of indexing accumulates with; it is a
builtin like the others so that derivative programs stay valid adlang.
`fitto(g, d)` (g as a value of d's shape, an empty operand standing for a
zero) is the adjoint of addto's operands: an empty operand of addto gets an
empty adjoint.
"""

from __future__ import annotations

import numpy as np

from adlang.ir.nodes import Const
from adlang.ir.primitive import IndexContribution, Primitive, TypeRuleError, no_jvp, no_vjp, register
from adlang.ir.prims_scalar import (
    NAN_ARGUMENTS,
    SAME_LENGTH,
    at,
    first,
    has_nan,
    made_nan,
    nan_error,
    quiet,
    shape_text,
    type_names,
    vec_join,
)
from adlang.ir.types import FLOAT, INT, mat, vec
from adlang.lang.errors import DomainError

MAX_VEC_LENGTH = 100_000_000

# ---------------------------------------------------------------- type rules


def _vec_to(result):
    def rule(args):
        if args[0].type.kind == "mat":
            raise TypeRuleError(f"expected a vec, got {args[0].type} (a mat has rows(A) and cols(A))")
        if args[0].type.kind != "vec":
            raise TypeRuleError(f"expected a vec, got {args[0].type}")
        return result

    return rule


def _array_to_float(args):
    """sum and mean: of a vec, or of every element of a mat."""
    if not args[0].type.is_array:
        raise TypeRuleError(f"expected a vec or a mat, got {args[0].type}")
    return FLOAT


def _dot_rule(args):
    a, b = args[0].type, args[1].type
    if a.kind != "vec" or b.kind != "vec":
        raise TypeRuleError(f"dot() takes two vecs, got {type_names(args)}")
    vec_join("dot()", a, b)
    return FLOAT


def _filled_rule(args):
    """zeros(n) is a vec, zeros(r, c) a mat."""
    if len(args) not in (1, 2):
        raise TypeRuleError(f"takes a length n (a vec) or rows and columns r, c (a mat), got {len(args)} arguments")
    if any(n.type.kind != "int" for n in args):
        what = "an int length" if len(args) == 1 else "int sizes"
        raise TypeRuleError(f"expected {what}, got {type_names(args)}")
    known = [n.value if isinstance(n, Const) and 0 <= n.value <= MAX_VEC_LENGTH else None for n in args]
    return vec(known[0]) if len(args) == 1 else mat(*known)


def _veclit_rule(args):
    for a in args:
        if not a.type.is_scalar_number:
            raise TypeRuleError(f"a vec literal holds numbers, got {a.type}")
    return vec(len(args))


def _index_rule(args):
    v, i = args[0].type, args[1].type
    if v.kind != "vec":
        raise TypeRuleError(f"only a vec or a mat can be indexed, got {v}")
    if i.kind != "int":
        raise TypeRuleError(f"a vec index must be an int, got {i}")
    return FLOAT


def _addto_rule(args):
    kinds = {a.type.kind for a in args}
    if kinds not in ({"vec"}, {"mat"}):
        raise TypeRuleError(f"addto(d, c) takes two vecs or two mats, got {type_names(args)}")
    return args[0].type.unsized


def _fitto_rule(args):
    kinds = {a.type.kind for a in args}
    if kinds not in ({"vec"}, {"mat"}):
        raise TypeRuleError(f"fitto(g, d) takes two vecs or two mats, got {type_names(args)}")
    return args[1].type.unsized


def _addat_rule(args):
    types = [a.type for a in args]
    kinds = [t.kind for t in types]
    if kinds[:2] == ["vec", "int"] and len(args) == 3 and types[2].is_scalar_number:
        return types[0]
    if kinds == ["mat", "int", "vec"] or (kinds[:3] == ["mat", "int", "int"] and len(args) == 4
                                          and types[3].is_scalar_number):
        return types[0]
    raise TypeRuleError("addat takes a vec, an int and a number (w, i, x), a mat, an int and a vec (a row), or a "
                        f"mat, two ints and a number (an element), got {type_names(args)}")


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


def _addto(d, c, nan_in=has_nan):
    """d + c, where an empty vec or mat stands for a zero of any shape (an adjoint not sized yet). In a run
    `nan_in` is `made_nan` (see `quiet`)."""
    if d.size == 0 and d.shape != c.shape:
        return np.array(c, dtype=float)
    if c.size == 0 and d.shape != c.shape:
        return d
    if d.shape != c.shape:
        if d.ndim == 2:
            raise DomainError(f"mats of different shapes ({shape_text(d)} and {shape_text(c)}) in addto; use mats "
                              "of the same shape (or an empty mat for a zero)")
        raise DomainError(f"vecs of different lengths ({d.shape[0]} and {c.shape[0]}) in addto; {SAME_LENGTH} "
                          "(or an empty vec for a zero)")
    total = d + c
    if nan_in(total):
        k = first(np.isnan(total))
        raise nan_error(d[k], "+", c[k], k)
    return total


def _fitto(g, d):
    """g where it has d's shape, else zeros of d's shape when either is empty (a zero of any shape): what
    addto's operand d gets of the cotangent g of its result."""
    if g.shape == d.shape:
        return g
    if g.size == 0 or d.size == 0:
        return np.zeros(d.shape)
    if d.ndim == 2:
        raise DomainError(f"mats of different shapes ({shape_text(g)} and {shape_text(d)}) in fitto; use mats of "
                          "the same shape (or an empty mat for a zero)")
    raise DomainError(f"vecs of different lengths ({g.shape[0]} and {d.shape[0]}) in fitto; {SAME_LENGTH} "
                      "(or an empty vec for a zero)")


def check_mat_index(m, i, j=None) -> None:
    """Row i (and column j) of a mat, in range."""
    for k, n, what in ((i, m.shape[0], "row"), (j, m.shape[1], "column")):
        if k is None or 0 <= k < n:
            continue
        fix = f"the mat has no {what}s" if n == 0 else f"use a {what} from 0 to {n - 1}"
        raise DomainError(f"{what} index {k} is out of range for a {shape_text(m)} mat; {fix}")


def _addat(w, i, *rest):
    x = rest[-1]
    if w.ndim == 2:
        j = rest[0] if len(rest) == 2 else None
        check_mat_index(w, i, j)
        where = (i, j) if j is not None else i
        if j is None and np.shape(x) != (w.shape[1],):
            raise DomainError(f"addat of a vec of length {np.shape(x)[0]} to a row of a {shape_text(w)} mat; "
                              "give a vec as long as a row")
    else:
        _check_index(w, i)
        where = i
    out = w.copy()
    out[where] += x
    if np.isnan(out[where]).any():
        if np.ndim(x):  # a row of a mat
            k = first(np.isnan(out[where]))
            raise nan_error(w[i, k], "+", x[k], (i, k))
        raise nan_error(w[where], "+", x, where)
    return out


def _filled(name: str, value: float):
    def make(n, c=None):
        if c is not None:
            if n < 0 or c < 0:
                raise DomainError(f"{name}({n}, {c}): a mat cannot have a negative size; give sizes >= 0")
            if n * c > MAX_VEC_LENGTH:
                raise DomainError(f"{name}({n}, {c}): a mat of {n * c:,} elements is larger than the limit of "
                                  f"{MAX_VEC_LENGTH:,}; use fewer elements")
            return np.full((n, c), value)
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
            raise DomainError(f"{what} is not a number (NaN): the element{at(first(np.isnan(v)))} is NaN "
                              f"already; {NAN_ARGUMENTS}")
    raise DomainError(f"{what} is not a number (NaN): {cancels} (an inf is an argument or a value that overflowed "
                      "earlier); rescale the inputs so the values stay finite")


ADD_UP = "its elements add up to inf - inf"


def _sum(v):
    r = float(np.add.reduce(v, axis=None))  # np.sum, without its wrapper
    return r if r == r else _total(r, "sum", ADD_UP, v)


def _mean(v):
    if v.size == 0:
        if v.ndim == 2:
            raise DomainError(f"mean of an empty ({shape_text(v)}) mat is undefined; give a mat that has elements")
        raise DomainError("mean of an empty vec is undefined; guard it with `if len(v) > 0` or give a vec that has "
                          "elements")
    r = float(np.add.reduce(v, axis=None)) / v.size  # as np.mean computes it
    return r if r == r else _total(r, "mean", ADD_UP, v)


def _dot(u, v):
    if u.shape != v.shape:
        raise DomainError(f"dot of vecs of different lengths ({u.shape[0]} and {v.shape[0]}); {SAME_LENGTH}")
    return _total(float(np.dot(u, v)), "dot", "a product is inf * 0, or the products add up to inf - inf", u, v)


def _veclit(*xs):
    return np.array(xs, dtype=float)


# ---------------------------------------------------------------- derivative rules


def _spread(e, v, x):
    """A vec as long as `v` (a mat of v's shape) with every element `x`."""
    return e.op("mul", e.ones_like(v), x)


def _count(e, v):
    """How many elements v has, as it runs."""
    if v.type.kind == "mat":
        return e.op("mul", e.op("rows", v), e.op("cols", v))
    return e.op("len", v)


def _sum_jvp(e, args, t, r):
    return e.op("sum", t[0]) if t[0] is not None else None


def _sum_vjp(e, args, r, g, wants):
    return (_spread(e, args[0], g),)


def _mean_jvp(e, args, t, r):
    return e.op("mean", t[0]) if t[0] is not None else None


def _mean_vjp(e, args, r, g, wants):
    return (_spread(e, args[0], e.op("div", g, _count(e, args[0]))),)


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
    td = t[0] if t[0] is not None else e.zeros_like(d)
    tc = t[1] if t[1] is not None else e.zeros_like(c)
    return e.op("addto", td, tc)


def _addto_vjp(e, args, r, g, wants):
    """Each operand gets g fitted to its shape: an empty operand (a zero of any shape) gets an empty adjoint.
    Operands known to have one shape get g itself (and reverse mode need not keep them for their shape)."""
    if e.same_shape(*args):
        return (g, g)
    return tuple(e.op("fitto", g, x) if want else None for x, want in zip(args, wants))


def _fitto_jvp(e, args, t, r):
    return e.op("fitto", t[0], args[1]) if t[0] is not None else None


def _fitto_vjp(e, args, r, g, wants):
    """Linear in its first operand; the second gives only a shape."""
    return (e.op("fitto", g, args[0]) if wants[0] else None, None)


def _addat_jvp(e, args, t, r):
    w, *indices, _ = args
    dw, dx = t[0], t[-1]
    if dx is None:
        return dw
    base = dw if dw is not None else e.zeros_like(w)
    return e.op("addat", base, *indices, dx)


def _addat_vjp(e, args, r, g, wants):
    """The added value's adjoint is the cotangent where it was added: an element, or a row of a mat."""
    indices = args[1:-1]
    picked = None
    if wants[-1]:
        name = "index" if args[0].type.kind == "vec" else ("row" if len(indices) == 1 else "matindex")
        picked = e.op(name, g, *indices)
    return (g, *(None for _ in indices), picked)


# ---------------------------------------------------------------- the entries


def _vec_builtin(name, arity, rule, evaluate, jvp, vjp, total=True):
    register(Primitive(name, "call", name, arity, rule, None, evaluate, jvp, vjp, total))


# The evaluations that may meet an inf run with numpy's warnings off (`quiet`): a NaN is their own error.
_vec_builtin("sum", 1, _array_to_float, quiet(_sum), _sum_jvp, _sum_vjp)
_vec_builtin("mean", 1, _array_to_float, quiet(_mean), _mean_jvp, _mean_vjp, total=False)
_vec_builtin("dot", 2, _dot_rule, quiet(_dot), _dot_jvp, _dot_vjp, total=False)
_vec_builtin("len", 1, _vec_to(INT), lambda v: int(v.shape[0]), no_jvp, no_vjp)
register(Primitive("zeros", "call", "zeros", None, _filled_rule, _filled("zeros", 0.0), None, no_jvp, no_vjp, False))
register(Primitive("ones", "call", "ones", None, _filled_rule, _filled("ones", 1.0), None, no_jvp, no_vjp, False))
_vec_builtin("addto", 2, _addto_rule, quiet(_addto, lambda d, c: _addto(d, c, made_nan)), _addto_jvp, _addto_vjp,
             total=False)
_vec_builtin("fitto", 2, _fitto_rule, _fitto, _fitto_jvp, _fitto_vjp, total=False)
_vec_builtin("addat", None, _addat_rule, quiet(_addat), _addat_jvp, _addat_vjp, total=False)
register(Primitive("index", "index", "[]", 2, _index_rule, None, _index, _index_jvp, _index_vjp, False))
register(Primitive("veclit", "veclit", "[]", None, _veclit_rule, _veclit, _veclit, _veclit_jvp, _veclit_vjp))
