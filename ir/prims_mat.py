"""The mat primitives: `@`, `outer`, `transpose`, `A[i, j]`, `A[i]`, mat literals, `rows`, `cols`.

Elementwise arithmetic and the math builtins on mats are the scalar
primitives (prims_scalar.py), and `sum`, `mean`, `zeros`, `ones`, `addto`,
`addat` take mats in prims_vec.py. `outer(u, v)` is here because the adjoint of
`A @ x` with respect to A is `outer(g, x)`: derivative programs stay adlang.
"""

from __future__ import annotations

import numpy as np

from adlang.ir.nodes import Const
from adlang.ir.primitive import IndexContribution, Primitive, TypeRuleError, no_jvp, no_vjp, register
from adlang.ir.prims_scalar import NAN_ARGUMENTS, first, has_nan, quiet, shape_text, show, type_names, why_not_finite
from adlang.ir.prims_vec import check_mat_index
from adlang.ir.types import FLOAT, INT, Type, mat, vec
from adlang.lang.errors import DomainError

# ---------------------------------------------------------------- type rules


def _inner(a: Type, b: Type, n: int | None, m: int | None) -> None:
    if n is not None and m is not None and n != m:
        raise TypeRuleError(f"'@' of {a} and {b}: the inner lengths differ ({n} and {m})")


def _matmul_rule(args):
    a, b = args[0].type, args[1].type
    if a.kind == "mat" and b.kind == "mat":
        _inner(a, b, a.cols, b.length)
        return mat(a.length, b.cols)
    if a.kind == "mat" and b.kind == "vec":
        _inner(a, b, a.cols, b.length)
        return vec(a.length)
    if a.kind == "vec" and b.kind == "mat":
        _inner(a, b, a.length, b.length)
        return vec(b.cols)
    if a.kind == "vec" and b.kind == "vec":
        _inner(a, b, a.length, b.length)
        return FLOAT
    raise TypeRuleError(f"'@' takes mats and vecs, got {type_names(args)}")


def _outer_rule(args):
    if any(a.type.kind != "vec" for a in args):
        raise TypeRuleError(f"outer(u, v) takes two vecs, got {type_names(args)}")
    return mat(args[0].type.length, args[1].type.length)


def _mat_to(result):
    def rule(args):
        if args[0].type.kind != "mat":
            raise TypeRuleError(f"expected a mat, got {args[0].type}")
        return result(args[0].type) if callable(result) else result

    return rule


def _matindex_rule(args):
    m, i, j = (a.type for a in args)
    if m.kind != "mat":
        raise TypeRuleError(f"only a mat takes two indices, got {m}")
    if i.kind != "int" or j.kind != "int":
        raise TypeRuleError(f"mat indices must be ints, got {i} and {j}")
    return FLOAT


def _row_rule(args):
    m, i = (a.type for a in args)
    if m.kind != "mat":
        raise TypeRuleError(f"only a mat has rows, got {m}")
    if i.kind != "int":
        raise TypeRuleError(f"a row index must be an int, got {i}")
    return vec(m.cols)


def _matlit_rule(args):
    if any(a.type.kind != "vec" for a in args):
        raise TypeRuleError(f"a mat literal holds rows of numbers, got {type_names(args)}")
    known = [a.type.length for a in args if a.type.length is not None]
    if len(set(known)) > 1:
        raise TypeRuleError(f"the rows of a mat literal have different lengths ({', '.join(map(str, known))}); "
                            "give every row as many elements")
    return mat(len(args), known[0] if known else None)


# ---------------------------------------------------------------- evaluation


def _kind(x) -> str:
    return f"a {shape_text(x)} mat" if np.ndim(x) == 2 else f"a vec of length {np.shape(x)[0]}"


def _matmul(a, b):
    n, m = a.shape[-1], b.shape[0]
    if n != m:
        raise DomainError(f"'@' of {_kind(a)} and {_kind(b)}: the inner lengths differ ({n} and {m}); give "
                          "operands whose inner lengths agree (columns of the left, rows or length of the right)")
    r = np.matmul(a, b)
    if has_nan(np.asarray(r)):
        for x in (a, b):
            if has_nan(x):
                raise DomainError(f"'@' is not a number (NaN): an operand is NaN already; {NAN_ARGUMENTS}")
        raise DomainError("'@' is not a number (NaN): a product is inf * 0, or the products add up to inf - inf; "
                          f"{why_not_finite(np.inf)}")
    return float(r) if r.ndim == 0 else r


def _outer(u, v):
    r = np.outer(u, v)
    if has_nan(r):
        k = first(np.isnan(r))
        raise DomainError(f"outer: {show(u[k[0]])} * {show(v[k[1]])} at [{k[0]}, {k[1]}] is not a number (NaN); "
                          f"{why_not_finite(u[k[0]], v[k[1]])}")
    return r


def _matindex(m, i, j):
    check_mat_index(m, i, j)
    return float(m[i, j])


def _row(m, i):
    check_mat_index(m, i)
    return m[i].copy()


def _matlit(*rows):
    lengths = [len(r) for r in rows]
    if len(set(lengths)) > 1:
        raise DomainError(f"the rows of a mat literal have different lengths ({', '.join(map(str, lengths))}); "
                          "give every row as many elements")
    return np.array(rows, dtype=float).reshape(len(rows), lengths[0])


# ---------------------------------------------------------------- derivative rules


def _matmul_jvp(e, args, t, r):
    a, b = args
    return e.add_all([e.op("matmul", t[0], b) if t[0] is not None else None,
                      e.op("matmul", a, t[1]) if t[1] is not None else None])


def _matmul_vjp(e, args, r, g, wants):
    """mat @ mat: g B^T and A^T g; mat @ vec: outer(g, x) and g @ A; vec @ mat: A @ g and outer(x, g);
    vec @ vec: v g and u g."""
    a, b = args
    kinds = (a.type.kind, b.type.kind)
    ga = gb = None
    if kinds == ("mat", "mat"):
        ga = e.op("matmul", g, e.op("transpose", b)) if wants[0] else None
        gb = e.op("matmul", e.op("transpose", a), g) if wants[1] else None
    elif kinds == ("mat", "vec"):
        ga = e.op("outer", g, b) if wants[0] else None
        gb = e.op("matmul", g, a) if wants[1] else None
    elif kinds == ("vec", "mat"):
        ga = e.op("matmul", b, g) if wants[0] else None
        gb = e.op("outer", a, g) if wants[1] else None
    else:
        ga = e.op("mul", b, g) if wants[0] else None
        gb = e.op("mul", a, g) if wants[1] else None
    return (ga, gb)


def _outer_jvp(e, args, t, r):
    u, v = args
    return e.add_all([e.op("outer", t[0], v) if t[0] is not None else None,
                      e.op("outer", u, t[1]) if t[1] is not None else None])


def _outer_vjp(e, args, r, g, wants):
    u, v = args
    return (e.op("matmul", g, v) if wants[0] else None, e.op("matmul", u, g) if wants[1] else None)


def _transpose_jvp(e, args, t, r):
    return e.op("transpose", t[0]) if t[0] is not None else None


def _transpose_vjp(e, args, r, g, wants):
    return (e.op("transpose", g),)


def _matindex_jvp(e, args, t, r):
    return e.op("matindex", t[0], args[1], args[2]) if t[0] is not None else None


def _matindex_vjp(e, args, r, g, wants):
    return (IndexContribution(args[1], g, args[2]), None, None)


def _row_jvp(e, args, t, r):
    return e.op("row", t[0], args[1]) if t[0] is not None else None


def _row_vjp(e, args, r, g, wants):
    return (IndexContribution(args[1], g), None)


def _matlit_jvp(e, args, t, r):
    if all(x is None for x in t):
        return None
    return e.op("matlit", *[x if x is not None else e.zeros_like(a) for a, x in zip(args, t)])


def _matlit_vjp(e, args, r, g, wants):
    return tuple(e.op("row", g, Const(k, INT)) if wants[k] else None for k in range(len(args)))


# ---------------------------------------------------------------- the entries

register(Primitive("matmul", "infix", "@", 2, _matmul_rule, None, quiet(_matmul), _matmul_jvp, _matmul_vjp, False))
register(Primitive("outer", "call", "outer", 2, _outer_rule, None, quiet(_outer), _outer_jvp, _outer_vjp, False))
register(Primitive("transpose", "call", "transpose", 1, _mat_to(lambda m: mat(m.cols, m.length)), None,
                   lambda m: m.T.copy(), _transpose_jvp, _transpose_vjp))
register(Primitive("rows", "call", "rows", 1, _mat_to(INT), None, lambda m: int(m.shape[0]), no_jvp, no_vjp))
register(Primitive("cols", "call", "cols", 1, _mat_to(INT), None, lambda m: int(m.shape[1]), no_jvp, no_vjp))
register(Primitive("matindex", "index", "[]", 3, _matindex_rule, None, _matindex, _matindex_jvp, _matindex_vjp,
                   False))
register(Primitive("row", "index", "[]", 2, _row_rule, None, _row, _row_jvp, _row_vjp, False))
register(Primitive("matlit", "veclit", "[]", None, _matlit_rule, None, _matlit, _matlit_jvp, _matlit_vjp, False))
