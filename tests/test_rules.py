"""The derivative rules of every primitive, one by one, against numbers computed without them.

A table gives, for each differentiable primitive, small expressions that apply
it through its surface syntax, on floats and on vecs, at points away from kinks
and inside domains. Each expression is made into a program whose result is a
float (a vec result is reduced by `dot` with a fixed weight vec), and

- forward and reverse gradients are compared with central finite differences
  computed here, from plain runs of the program;
- the JVP/VJP pair is checked by the dot-product test: for g with Jacobian J,
  <w, J d> computed in forward mode (the derivative along the line
  p + t d at t = 0) equals <J^T w, d> with J^T w computed in reverse mode.

The table is checked against the registry, so a primitive added without a row
here fails `test_table_covers_every_differentiable_primitive`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from adlang.derivatives import compute
from adlang.interp.interpreter import run_function
from adlang.ir.primitive import no_jvp, no_vjp
from adlang.ir.primitives import REGISTRY
from adlang.pipeline import compile_source

# ---------------------------------------------------------------- the table

U = np.array([0.7, -1.3, 0.45])  # a vec away from 0, ties and kinks
W = np.array([-0.6, 1.1, 0.35])
POS = np.array([0.8, 1.7, 2.6])  # inside the domain of log, sqrt, dsqrt
NEG = np.array([-1.2, -0.7, -2.1])
M = np.array([[0.7, -1.3, 0.45], [1.1, 0.35, -0.6]])  # mats: 2x3, away from 0, ties and kinks
N = np.array([[-0.6, 1.1, 0.35], [0.25, -0.9, 1.4]])
S = np.array([[0.5, -1.2], [0.8, 0.3], [-0.4, 1.6]])  # 3x2, to multiply M by
MPOS = np.array([[0.8, 1.7, 2.6], [1.2, 0.4, 3.1]])
V2 = np.array([0.9, -0.4])


def a(**kw):
    return kw


@dataclass(frozen=True)
class Case:
    prim: str
    expr: str
    point: dict
    bug: str | None = None  # a known bug that makes this row fail: a strict xfail in both tests

    @property
    def id(self) -> str:
        return f"{self.prim}:{self.expr}"


CASES = [
    # arithmetic, scalars, vecs, and vecs mixed with scalars (a scalar's adjoint sums over the vec)
    Case("add", "a + b", a(a=0.7, b=-1.3)),
    Case("add", "u + w", a(u=U, w=W)),
    Case("add", "u + a", a(u=U, a=0.3)),
    Case("add", "a + u", a(u=U, a=0.3)),
    Case("sub", "a - b", a(a=0.7, b=-1.3)),
    Case("sub", "u - w", a(u=U, w=W)),
    Case("sub", "a - u", a(u=U, a=0.3)),
    Case("sub", "u - a", a(u=U, a=0.3)),
    Case("mul", "a * b", a(a=0.7, b=-1.3)),
    Case("mul", "u * w", a(u=U, w=W)),
    Case("mul", "a * u", a(u=U, a=-0.8)),
    Case("mul", "u * a", a(u=U, a=-0.8)),
    Case("mul", "a * n", a(a=0.7, n=3)),
    Case("div", "a / b", a(a=0.7, b=-1.3)),
    Case("div", "u / w", a(u=U, w=W)),
    Case("div", "a / u", a(u=U, a=0.9)),
    Case("div", "u / a", a(u=U, a=0.9)),
    Case("div", "a / n", a(a=0.7, n=3)),
    Case("pow", "a ^ b", a(a=1.4, b=0.6)),
    Case("pow", "a ^ b", a(a=0.6, b=-1.7)),
    Case("pow", "a ^ 3", a(a=-1.3)),
    Case("pow", "a ^ 2", a(a=-0.7)),
    Case("pow", "a ^ -2", a(a=-1.6)),
    Case("pow", "a ^ n", a(a=-1.3, n=3)),
    Case("pow", "a ^ 2.0", a(a=-1.3)),
    Case("pow", "pow(a, b)", a(a=1.4, b=2.5)),
    Case("pow", "u ^ w", a(u=POS, w=W)),
    Case("pow", "u ^ a", a(u=POS, a=1.3)),
    Case("pow", "a ^ u", a(u=U, a=1.8)),
    Case("pow", "u ^ 3", a(u=U)),
    Case("pow", "pow(u, n)", a(u=NEG, n=2)),
    Case("neg", "-a", a(a=0.7)),
    Case("neg", "-u", a(u=U)),
    # the scalar math builtins, on floats and elementwise on vecs
    Case("sin", "sin(a)", a(a=0.7)),
    Case("sin", "sin(u)", a(u=U)),
    Case("cos", "cos(a)", a(a=0.7)),
    Case("cos", "cos(u)", a(u=U)),
    Case("tan", "tan(a)", a(a=0.7)),
    Case("tan", "tan(u)", a(u=U)),
    Case("exp", "exp(a)", a(a=0.7)),
    Case("exp", "exp(u)", a(u=U)),
    Case("tanh", "tanh(a)", a(a=0.7)),
    Case("tanh", "tanh(u)", a(u=U)),
    Case("log", "log(a)", a(a=0.7)),
    Case("log", "log(u)", a(u=POS)),
    Case("sqrt", "sqrt(a)", a(a=0.7)),
    Case("sqrt", "sqrt(u)", a(u=POS)),
    Case("dsqrt", "dsqrt(a)", a(a=0.7)),
    Case("dsqrt", "dsqrt(u)", a(u=POS)),
    # dpowb(a, y) = y * log(a), the derivative of a ^ b with respect to b (y = a ^ b), differentiated again
    Case("dpowb", "dpowb(a, b)", a(a=1.4, b=-0.6)),
    Case("dpowb", "dpowb(a, b)", a(a=0.3, b=2.5)),
    Case("dpowb", "dpowb(u, w)", a(u=POS, w=W)),
    Case("dpowb", "dpowb(u, a)", a(u=POS, a=1.3)),
    Case("dpowb", "dpowb(a, u)", a(u=U, a=1.8)),
    Case("abs", "abs(a)", a(a=0.7)),
    Case("abs", "abs(a)", a(a=-1.3)),
    Case("abs", "abs(u)", a(u=U)),
    Case("float", "float(a)", a(a=0.7)),
    Case("float", "a * float(n)", a(a=0.7, n=3)),
    # selections: away from ties
    Case("min", "min(a, b)", a(a=0.7, b=-1.3)),
    Case("min", "min(a, b)", a(a=-0.7, b=1.3)),
    Case("min", "min(u, w)", a(u=U, w=W)),
    Case("min", "min(u, a)", a(u=U, a=0.2)),
    Case("min", "min(a, u)", a(u=U, a=0.2)),
    Case("max", "max(a, b)", a(a=0.7, b=-1.3)),
    Case("max", "max(a, b)", a(a=-0.7, b=1.3)),
    Case("max", "max(u, w)", a(u=U, w=W)),
    Case("max", "max(u, a)", a(u=U, a=0.2)),
    Case("max", "max(a, u)", a(u=U, a=0.2)),
    Case("ifle", "ifle(a, b, c, d)", a(a=0.7, b=-1.3, c=0.4, d=-2.2)),
    Case("ifle", "ifle(a, b, c, d)", a(a=-0.7, b=1.3, c=0.4, d=-2.2)),
    Case("ifle", "ifle(u, w, v, z)", a(u=U, w=W, v=POS, z=NEG)),
    Case("ifle", "ifle(a, b, u, w)", a(a=0.1, b=0.2, u=U, w=W)),
    Case("ifle", "ifle(a, b, u, c)", a(a=0.3, b=0.2, u=U, c=1.5)),
    # the vec builtins, indexing, literals and the scatter-add
    Case("sum", "sum(u)", a(u=U)),
    Case("sum", "sum(u * u)", a(u=U)),
    Case("mean", "mean(u)", a(u=U)),
    Case("mean", "mean(exp(u))", a(u=U)),
    Case("dot", "dot(u, w)", a(u=U, w=W)),
    Case("dot", "dot(u, u)", a(u=U)),
    Case("index", "u[1]", a(u=U)),
    Case("index", "u[i] * u[0]", a(u=U, i=2)),
    Case("index", "u[i] * u[i]", a(u=U, i=1)),
    Case("veclit", "[a, b, a * b]", a(a=0.7, b=-1.3)),
    Case("veclit", "[a, 2.0, a]", a(a=0.7)),
    Case("addat", "addat(u, 1, a)", a(u=U, a=0.9)),
    Case("addat", "addat(u, i, a * a)", a(u=U, a=0.9, i=2)),
    Case("addat", "addat(zeros(3), 0, a)", a(a=0.9)),
    # helpers of the derivative programs: dpow(a, n, c) = c a^(n - 1) for ints n and c; addto(d, c) = d + c, or c when
    # d is the empty vec that stands for "no adjoint yet"
    Case("dpow", "dpow(a, n, n)", a(a=-1.3, n=3)),
    Case("dpow", "dpow(a, n, n)", a(a=0.7, n=0)),
    Case("dpow", "dpow(a, n, n)", a(a=0.0, n=1)),
    Case("dpow", "dpow(a, n, n)", a(a=0.0, n=2)),
    Case("dpow", "dpow(a, n, 2 * n)", a(a=1.7, n=3)),
    Case("dpow", "dpow(u, n, n)", a(u=U, n=4)),
    Case("addto", "addto(u, w)", a(u=U, w=W)),
    Case("addto", "addto(zeros(0), u)", a(u=U)),
    Case("addto", "addto(e, u)", a(e=np.zeros(0), u=U)),
    Case("addto", "addto(u, e)", a(e=np.zeros(0), u=U)),
    # fitto(g, d) = g fitted to d's shape (the adjoint of addto's operands): g, or zeros when either is empty
    Case("fitto", "fitto(u, w)", a(u=U, w=W)),
    Case("fitto", "fitto(u, e)", a(e=np.zeros(0), u=U)),
    Case("fitto", "fitto(e, u)", a(e=np.zeros(0), u=U)),
    # mats: elementwise arithmetic and builtins on one shape and with scalars
    Case("add", "A + B", a(A=M, B=N)),
    Case("add", "A + a", a(A=M, a=0.3)),
    Case("sub", "a - A", a(A=M, a=0.3)),
    Case("sub", "A - B", a(A=M, B=N)),
    Case("mul", "A * B", a(A=M, B=N)),
    Case("mul", "a * A", a(A=M, a=-0.8)),
    Case("div", "A / B", a(A=M, B=N)),
    Case("div", "a / A", a(A=M, a=0.9)),
    Case("pow", "A ^ a", a(A=MPOS, a=1.3)),
    Case("pow", "pow(A, B)", a(A=MPOS, B=N)),
    Case("pow", "A ^ 2", a(A=M)),
    Case("neg", "-A", a(A=M)),
    Case("sin", "sin(A)", a(A=M)),
    Case("cos", "cos(A)", a(A=M)),
    Case("tan", "tan(A)", a(A=M)),
    Case("exp", "exp(A)", a(A=M)),
    Case("tanh", "tanh(A)", a(A=M)),
    Case("log", "log(A)", a(A=MPOS)),
    Case("sqrt", "sqrt(A)", a(A=MPOS)),
    Case("dsqrt", "dsqrt(A)", a(A=MPOS)),
    Case("dpowb", "dpowb(A, B)", a(A=MPOS, B=N)),
    Case("abs", "abs(A)", a(A=M)),
    Case("min", "min(A, B)", a(A=M, B=N)),
    Case("max", "max(A, a)", a(A=M, a=0.2)),
    Case("ifle", "ifle(A, B, A, a)", a(A=M, B=N, a=0.4)),
    Case("dpow", "dpow(A, n, n)", a(A=M, n=3)),
    Case("sum", "sum(A * A)", a(A=M)),
    Case("mean", "mean(exp(A))", a(A=M)),
    # the mat primitives: products in all four combinations, outer, transpose, indexing, rows, literals
    Case("matmul", "A @ S", a(A=M, S=S)),
    Case("matmul", "A @ u", a(A=M, u=U)),
    Case("matmul", "v @ A", a(A=M, v=V2)),
    Case("matmul", "u @ w", a(u=U, w=W)),
    Case("matmul", "transpose(A) @ A", a(A=M)),
    Case("outer", "outer(u, v)", a(u=U, v=V2)),
    Case("transpose", "transpose(A) * S", a(A=M, S=S)),
    Case("matindex", "A[1, 2] * A[i, 0]", a(A=M, i=1)),
    Case("row", "A[i] * A[0]", a(A=M, i=1)),
    Case("matlit", "[[a, b], [a * b, 2.0]]", a(a=0.7, b=-1.3)),
    Case("matlit", "[u, w * a]", a(u=U, w=W, a=0.6)),
    Case("addto", "addto(A, B)", a(A=M, B=N)),
    Case("addto", "addto(zeros(0, 0), A)", a(A=M)),
    Case("fitto", "fitto(A, B)", a(A=M, B=N)),
    Case("addat", "addat(A, 1, 2, a * a)", a(A=M, a=0.9)),
    Case("addat", "addat(A, i, u * a)", a(A=M, u=U, a=0.9, i=0)),
]

# Primitives whose results carry no derivative: comparisons, logic, sign, and the int/vec constructors.
NON_DIFFERENTIABLE = {"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not", "sign", "len", "zeros", "ones",
                      "revolve_advance", "rows", "cols"}


def differentiable_primitives() -> set[str]:
    return {name for name, prim in REGISTRY.items() if prim.jvp is not no_jvp or prim.vjp is not no_vjp}


# ---------------------------------------------------------------- building programs from the table

WEIGHTS = np.array([0.9, -1.7, 0.55])  # reduces a vec result to a float: dot(result, weights)


def weights_for(case: Case) -> np.ndarray:
    """The weights that reduce the case's vec or mat result to a float (shaped like the result)."""
    params = ", ".join(param_text(k, v) for k, v in case.point.items())
    program = compile_source(f"def g({params}):\n    return {case.expr}\n", "<probe>")
    value = run_function(program, "g", dict(case.point)).value
    return np.random.default_rng(7).normal(size=np.shape(value)) if np.ndim(value) == 2 else WEIGHTS[:len(value)]


def param_text(name: str, value) -> str:
    if isinstance(value, np.ndarray):
        return f"{name}: mat" if value.ndim == 2 else f"{name}: vec"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{name}: int"
    return name


def is_diff(value) -> bool:
    return isinstance(value, (float, np.ndarray))


def result_kind(case: Case) -> str:
    params = ", ".join(param_text(k, v) for k, v in case.point.items())
    program = compile_source(f"def g({params}):\n    return {case.expr}\n", "<probe>")
    return program.function("g").ret.kind


def scalar_program(case: Case) -> tuple[str, dict, list[str]]:
    """f(params...) -> float applying the case's expression; its args and its wrt list."""
    args = dict(case.point)
    params = [param_text(k, v) for k, v in args.items()]
    body = case.expr
    if result_kind(case) == "vec":
        params.append("weights_: vec")
        args["weights_"] = weights_for(case)
        body = f"dot({case.expr}, weights_)"
    elif result_kind(case) == "mat":
        params.append("weights_: mat")
        args["weights_"] = weights_for(case)
        body = f"sum({case.expr} * weights_)"
    text = f"def f({', '.join(params)}) -> float:\n    let r = {body}\n    return r\n"
    return text, args, [k for k, v in case.point.items() if is_diff(v)]


def flat(value) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=float)).ravel()


def central_differences(program, fn: str, args: dict, wrt: list[str]) -> dict[str, np.ndarray]:
    """(f(x + h e_k) - f(x - h e_k)) / 2h for every element of every parameter in wrt."""
    out = {}
    for name in wrt:
        base = flat(args[name])
        grads = np.zeros_like(base)
        for k in range(base.shape[0]):
            h = 1e-6 * max(1.0, abs(base[k]))
            values = []
            for step in (h, -h):
                moved = dict(args)
                x = base.copy()
                x[k] += step
                moved[name] = x.reshape(args[name].shape) if isinstance(args[name], np.ndarray) else float(x[0])
                values.append(float(run_function(program, fn, moved).value))
            grads[k] = (values[0] - values[1]) / (2 * h)
        out[name] = grads
    return out


def assert_close(got, want, rel: float, what: str) -> None:
    got, want = flat(got), flat(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, wanted {want.shape}"
    scale = np.maximum(1.0, np.maximum(np.abs(got), np.abs(want)))
    err = np.abs(got - want) / scale
    assert np.all(err <= rel), f"{what}: got {got}, wanted {want} (relative error {err.max():.2e})"


# ---------------------------------------------------------------- (a) completeness


def test_every_primitive_has_callable_rules():
    missing = [name for name, prim in REGISTRY.items() if not callable(prim.jvp) or not callable(prim.vjp)]
    assert not missing, f"primitives without a callable JVP or VJP rule: {missing}"


def test_table_covers_every_differentiable_primitive():
    in_table = {c.prim for c in CASES}
    differentiable = differentiable_primitives()
    untested = differentiable - in_table
    assert not untested, f"differentiable primitives without a rule test: {untested}"
    assert in_table <= set(REGISTRY), f"table rows for unknown primitives: {in_table - set(REGISTRY)}"
    # every primitive is either tested here or declared to carry no derivative
    unclassified = set(REGISTRY) - in_table - NON_DIFFERENTIABLE
    assert not unclassified, f"primitives neither in the rule table nor known to be non-differentiable: {unclassified}"
    assert NON_DIFFERENTIABLE & differentiable == set(), "a primitive listed as non-differentiable has derivative rules"


def test_every_table_expression_applies_its_primitive():
    """Each row's program really contains the primitive it claims to test."""
    from adlang.ir import nodes as ir

    for case in CASES:
        text, _, _ = scalar_program(case)
        program = compile_source(text, "<rule>")
        ops = {s.expr.op for s in ir.walk(program.function("f").body)
               if isinstance(s, (ir.Let, ir.Assign)) and isinstance(s.expr, ir.Prim)}
        assert case.prim in ops, f"{case.id}: the program does not apply {case.prim} (it applies {sorted(ops)})"


@pytest.mark.parametrize("name", sorted(NON_DIFFERENTIABLE))
def test_non_differentiable_primitives_give_no_derivative(name):
    prim = REGISTRY[name]
    assert prim.jvp is no_jvp and prim.vjp is no_vjp


def test_sign_carries_no_derivative():
    """sign(a) * a has derivative sign(a): the sign itself contributes nothing."""
    program = compile_source("def f(a) -> float:\n    return sign(a) * a\n", "<sign>")
    for mode in ("forward", "reverse"):
        for x, want in ((0.7, 1.0), (-1.3, -1.0)):
            run = compute(program, "f", {"a": x}, wrt=["a"], mode=mode)
            assert run.grad["a"] == want


# ---------------------------------------------------------------- (b) against finite differences


def with_known_bugs(cases):
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.bug, strict=True)] if c.bug else [])
            for c in cases]


@pytest.mark.parametrize("case", with_known_bugs(CASES))
def test_rule_matches_central_differences(case: Case):
    text, args, wrt = scalar_program(case)
    program = compile_source(text, "<rule>")
    fd = central_differences(program, "f", args, wrt)
    primal = float(run_function(program, "f", args).value)
    for mode in ("forward", "reverse"):
        run = compute(program, "f", args, wrt=wrt, mode=mode)
        assert run.value == pytest.approx(primal, rel=1e-12, abs=1e-12), f"{mode} value"
        for name in wrt:
            got = run.grad[name]
            if isinstance(args[name], np.ndarray):
                assert isinstance(got, np.ndarray) and got.shape == args[name].shape, f"{mode} d/d{name}: {got!r}"
            else:
                assert isinstance(got, float), f"{mode} d/d{name} is {got!r}"
            assert_close(got, fd[name], 1e-5, f"{case.id} {mode} d/d{name} vs central differences")


# ---------------------------------------------------------------- (c) the dot-product test


def dot_test_programs(case: Case) -> tuple[str, str, list[str]]:
    """Two programs around g = the case's expression, with weight w (a vec or a float like g's result).

    jvp: f(t, p_at..., p_dir..., w) = <w, g(p_at + t p_dir, ...)>, whose derivative in t at 0 is <w, J d>.
    vjp: f(p..., w) = <w, g(p...)>, whose gradient is J^T w.
    """
    point = case.point
    diff = [k for k, v in point.items() if is_diff(v)]
    kind = result_kind(case)
    w_param = {"vec": "w_: vec", "mat": "w_: mat"}.get(kind, "w_")
    reduce = {"vec": f"dot(w_, {case.expr})", "mat": f"sum(w_ * ({case.expr}))"}.get(kind, f"w_ * ({case.expr})")
    jvp_params = ["t"]
    lets = []
    for k, v in point.items():
        if is_diff(v):
            jvp_params += [param_text(f"{k}_at", v), param_text(f"{k}_dir", v)]
            lets.append(f"    let {k} = {k}_at + t * {k}_dir\n")
        else:
            jvp_params.append(param_text(k, v))
    jvp = f"def along({', '.join(jvp_params + [w_param])}) -> float:\n{''.join(lets)}    return {reduce}\n"
    vjp_params = [param_text(k, v) for k, v in point.items()]
    vjp = f"def pulled({', '.join(vjp_params + [w_param])}) -> float:\n    return {reduce}\n"
    return jvp, vjp, diff


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", with_known_bugs(CASES))
def test_dot_product_jvp_vjp(case: Case, seed: int):
    rng = np.random.default_rng(seed)
    jvp_text, vjp_text, diff = dot_test_programs(case)
    program = compile_source(jvp_text + "\n" + vjp_text, "<dot test>")
    kind = result_kind(case)
    w = rng.normal(size=np.shape(weights_for(case))) if kind in ("vec", "mat") else float(rng.normal())
    directions = {k: (rng.normal(size=v.shape) if isinstance(v, np.ndarray) else float(rng.normal()))
                  for k, v in case.point.items() if k in diff}
    along_args = {"t": 0.0, "w_": w}
    for k, v in case.point.items():
        if k in diff:
            along_args[f"{k}_at"] = v
            along_args[f"{k}_dir"] = directions[k]
        else:
            along_args[k] = v
    w_jd = compute(program, "along", along_args, wrt=["t"], mode="forward").grad["t"]
    pulled_args = dict(case.point, w_=w)
    jt_w = compute(program, "pulled", pulled_args, wrt=diff, mode="reverse").grad
    jt_w_d = sum(float(np.dot(flat(jt_w[k]), flat(directions[k]))) for k in diff)
    assert w_jd == pytest.approx(jt_w_d, rel=1e-9, abs=1e-12), f"{case.id}: <w, J d> = {w_jd}, <J^T w, d> = {jt_w_d}"
    # and the JVP itself against a finite difference along the line
    h = 1e-6
    plus = float(run_function(program, "along", dict(along_args, t=h)).value)
    minus = float(run_function(program, "along", dict(along_args, t=-h)).value)
    assert_close(w_jd, (plus - minus) / (2 * h), 1e-5, f"{case.id}: <w, J d> vs central differences")


# ---------------------------------------------------------------- broadcasting a scalar's derivative over a vec

BROADCAST = {"u": np.array([1.0, 2.0, 3.0]), "a": 0.5, "b": 0.2}


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize(("expr", "want"), [
    ("sum(u + a)", 3.0),  # d/da sum_i (u_i + a) = len(u)
    ("sum(a + u)", 3.0),
    ("sum(u - a)", -3.0),
    ("sum(a - u)", 3.0),
    ("sum(ifle(a, b, u, a))", 3.0),  # a > b: the result is a vec of three a's
    ("sum(ifle(b, a, u, a))", 0.0),  # b <= a: the result is u
    ("sum(min(u, a + 1.0))", 2.0),  # a + 1 = 1.5 is below two of the three elements
    ("sum(max(a + 1.0, u))", 1.0),
    ("sum(u * a)", 6.0),
    ("sum(u / a)", -24.0),
])
def test_scalar_derivative_broadcast_over_a_vec(expr, want, mode):
    """Only the scalar operand varies: its tangent must become a vec (forward), its adjoint a sum (reverse)."""
    program = compile_source(f"def f(u: vec, a, b) -> float:\n    return {expr}\n", "<broadcast>")
    assert compute(program, "f", BROADCAST, wrt=["a"], mode=mode).grad["a"] == pytest.approx(want, rel=1e-14)
