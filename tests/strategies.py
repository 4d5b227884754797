"""Hypothesis strategies: random well-typed adlang programs, as source text.

`programs()` draws `(source, fn_name, arg_names)`: one entry function `main`
with float parameters `x0, x1, ...`, maybe an int `n` and a vec `v`, and a
float result, plus helper functions `h0, h1, ...` that it (and later helpers)
call; one helper may return a tuple, used through `let a, b = h(...)`.
Functions appear in the file in a random order, so some are used before
they are defined. `points(arg_names)` draws argument values for them: floats
in [-2, 2], `n` in 0..3, `v` a vec of length 3.

The programs are built for derivative tests as much as for the printer and
interpreter:

- Every value stays bounded: each expression carries a bound on its absolute
  value, and one that grows past `WRAP_LIMIT` is wrapped in `tanh`. Inside
  loops the variables from outside are only updated by forms that keep a
  bound (`a = tanh(...)`, `a *= tanh(...)`, `a /= 2.0 + ...`, and `a += 0.5 * tanh(...)`
  in a loop that is not nested), so no run overflows.
- No runtime error can happen: divisors are `2.0 + e * e` or `1.5 + cos(e)`,
  `log` and `sqrt` see `2.0 + e * e` and `1.0 + e * e`, a power is an int
  power or a positive base, indexes are constants or loop variables in range.
- `programs(smooth=True)` leaves out `abs`, `min`, `max` and conditions on
  floats (an `if` or `while` then only looks at ints and bools), so the
  result is a smooth function of the float arguments, fit for finite
  differences.

`generated()` draws a `Generated` that also holds an equivalent Python
program (math for scalars, numpy for vecs, the same operations in the same
order), an oracle that does not go through adlang at all.

`generated(extra=True)` (the fuzz tests) also uses every other builtin and
construct: `tan`, `float(i)`, `sign`, `dsqrt`, `dpow`, `ifle`, `zeros`,
`addto`, `addat`, a float power of a variable, elementwise `exp log sqrt cos
abs` and `-` on vecs and `/` between vecs, bool variables, `push`/`pop`, and
`let v, d = grad h(...) wrt a0` (its Python oracle takes central differences,
so it is approximate there). Without it the draws are those of before, so the
examples of the other tests do not change.

`generated(mats=True)` adds mats, the same way (without it nothing is drawn for
them): `main` may take a mat `A` (2x3, `points` draws it), and mat expressions of
shapes 2x3, 3x2, 2x2 and 3x3 are built from mat variables, `ones(r, c) * x`, mat
literals of float rows or of vecs, elementwise arithmetic and `sin`/`tanh`/`^ 2`,
`transpose`, `@` of mats whose inner sizes agree, `outer` of vecs; vecs from a
mat's row `M[i]` and `M @ v`, `v @ M` (3x3); floats from `sum`, `mean`, `M[i, j]`
and `u @ M @ w`. `let` binds mats, and a mat variable is updated as
`M = tanh(...)`, in loops too (mat loop state). The Python oracle uses numpy's
`@`, `.T`, `np.outer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

VEC_LEN = 3
N_MAX = 3
PARAM_BOUND = 2.0
WRAP_LIMIT = 20.0
MAX_DEPTH = 3  # statements at depth 1 and 2 may open a block
MAX_LEVEL = 5  # nesting of expressions that hold other expressions
MAT_SHAPE = (2, VEC_LEN)  # the mat parameter A
MAT_SHAPES = ((2, 3), (3, 2), (2, 2), (3, 3))

PY_PRELUDE = "import math\n\nimport numpy as np\n\n\n"
PY_EXTRA = '''
def sign(x):
    return float(np.sign(x)) if not isinstance(x, np.ndarray) else np.sign(x)


def ifle(a, b, x, y):
    return x if a <= b else y


def dsqrt(x):
    return 1.0 / (2.0 * math.sqrt(x))


def dpow(x, n, c):
    return 0.0 if c == 0 else c * float(x) ** (n - 1)


def addat(w, i, x):
    w = w.copy()
    w[i] += x
    return w


def grad_of(f, args, k):
    h = 1e-6 * max(1.0, abs(args[k]))
    up, down = list(args), list(args)
    up[k] += h
    down[k] -= h
    return (f(*up) - f(*down)) / (2 * h)


'''


@dataclass
class Generated:
    source: str
    fn: str
    arg_names: tuple[str, ...]
    python: str  # a Python module defining the same functions

    def python_function(self, name: str | None = None):
        namespace: dict = {}
        exec(compile(self.python, "<generated oracle>", "exec"), namespace)
        return namespace[name or self.fn]


def points(arg_names) -> st.SearchStrategy[dict]:
    """Argument values for `arg_names` of a generated function (by the naming convention above)."""
    floats = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
    parts = {}
    for name in arg_names:
        if name == "n":
            parts[name] = st.integers(0, N_MAX)
        elif name == "v":
            parts[name] = st.lists(floats, min_size=VEC_LEN, max_size=VEC_LEN).map(lambda xs: np.array(xs, dtype=float))
        elif name == "A":
            size = MAT_SHAPE[0] * MAT_SHAPE[1]
            parts[name] = st.lists(floats, min_size=size, max_size=size).map(
                lambda xs: np.array(xs, dtype=float).reshape(MAT_SHAPE))
        else:
            parts[name] = floats
    return st.fixed_dictionaries(parts)


def programs(smooth: bool = False) -> st.SearchStrategy[tuple[str, str, tuple[str, ...]]]:
    return generated(smooth).map(lambda g: (g.source, g.fn, g.arg_names))


def generated(smooth: bool = False, extra: bool = False, mats: bool = False) -> st.SearchStrategy[Generated]:
    return st.builds(_build, st.data(), st.just(smooth), st.just(extra), st.just(mats))


# ---------------------------------------------------------------- the generator


@dataclass
class Expr:
    ad: str
    py: str
    bound: float  # |value| <= bound (for a vec: of every element)


@dataclass
class Var:
    name: str
    kind: str  # float, int, vec, mat
    bound: float = 0.0
    mutable: bool = True
    lo: int = 0  # ints: the range of values
    hi: int = 0
    shape: tuple[int, int] = (0, 0)  # mats


@dataclass
class Helper:
    name: str
    params: list[str]
    returns_tuple: bool
    bound: float


@dataclass
class FunctionGen:
    """The state of one function being generated."""

    scopes: list[dict[str, Var]] = field(default_factory=lambda: [{}])
    ad_lines: list[str] = field(default_factory=list)
    py_lines: list[str] = field(default_factory=list)
    counter: int = 0
    loops: list[int] = field(default_factory=list)  # the trip-count bound of each enclosing loop

    def visible(self) -> dict[str, Var]:
        out: dict[str, Var] = {}
        for scope in self.scopes:
            out.update(scope)
        return out

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, depth: int, ad: str, py: str | None = None) -> None:
        self.ad_lines.append("    " * depth + ad)
        self.py_lines.append("    " * depth + (ad if py is None else py))


class Builder:
    def __init__(self, data: st.DataObject, smooth: bool, extra: bool = False, mats: bool = False):
        self.data = data
        self.smooth = smooth
        self.extra = extra
        self.mats = mats
        self.helpers: list[Helper] = []
        self.fn: FunctionGen = FunctionGen()
        self.level = 0  # how deep in expressions we are: past MAX_LEVEL only names and constants

    def draw(self, strategy, label=None):
        return self.data.draw(strategy, label=label)

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def chance(self, p: float) -> bool:
        return self.draw(st.integers(0, 999)) < p * 1000

    # ------------------------------------------------------------ expressions

    def floats(self) -> list[Var]:
        return [v for v in self.fn.visible().values() if v.kind == "float"]

    def ints(self) -> list[Var]:
        return [v for v in self.fn.visible().values() if v.kind == "int"]

    def vecs(self) -> list[Var]:
        return [v for v in self.fn.visible().values() if v.kind == "vec"]

    def const(self) -> Expr:
        value = self.choice([0.5, 1.0, 2.0, -1.5, 0.25, 1e-05, 3.0, -0.75, 0.1])
        if self.chance(0.4):
            value = self.draw(st.integers(-200, 200)) / 100
        text = repr(float(value))
        if text.startswith("-"):
            text = f"({text})"
        return Expr(text, text, abs(value))

    def wrap(self, e: Expr) -> Expr:
        if e.bound <= WRAP_LIMIT:
            return e
        return Expr(f"tanh({e.ad})", f"math.tanh({e.py})", 1.0)

    def leaf(self) -> Expr:
        options = ["const"]
        if self.floats():
            options += ["var"] * 4
        if self.vecs():
            options.append("index")
        if self.level < MAX_LEVEL:
            if self.ints():
                options.append("int")
            if self.vecs():
                options.append("reduce")
            if any(not h.returns_tuple for h in self.helpers):
                options.append("call")
            if self.mats:
                options += ["matreduce"] * 2
        kind = self.choice(options)
        if kind == "matreduce":
            return self.mat_reduction()
        if kind == "var":
            v = self.choice(self.floats())
            return Expr(v.name, v.name, v.bound)
        if kind == "int":
            i = self.choice(self.ints())
            f = self.choice(self.floats()) if self.floats() else None
            f = Expr(f.name, f.name, f.bound) if f else self.const()
            return self.wrap(Expr(f"({f.ad} * {i.name})", f"({f.py} * {i.name})", f.bound * max(abs(i.lo), abs(i.hi))))
        if kind == "reduce":
            return self.reduction()
        if kind == "index":
            return self.indexing()
        if kind == "call":
            return self.call(self.choice([h for h in self.helpers if not h.returns_tuple]))
        return self.const()

    def float_expr(self, depth: int = 2) -> Expr:
        self.level += 1
        try:
            return self._float_expr(depth)
        finally:
            self.level -= 1

    def _float_expr(self, depth: int) -> Expr:
        if depth <= 0 or self.level > MAX_LEVEL or self.chance(0.3):
            return self.leaf()
        d = depth - 1
        ops = ["+", "-", "*", "div", "divcos", "neg", "sin", "cos", "tanh", "exp", "expsq", "sqrt", "log",
               "sq", "cube", "powf", "pow"]
        if not self.smooth:
            ops += ["abs", "min", "max"]
        if any(v.name == "n" for v in self.ints()):
            ops.append("pown")
        if self.extra:
            ops += ["tan", "dsqrt", "powvar"]
            if self.ints():
                ops.append("floatint")
            if any(i.lo >= 0 for i in self.ints()):
                ops.append("dpow")
            if not self.smooth:
                ops += ["sign", "ifle"]
        op = self.choice(ops)
        a = self.float_expr(d)
        if op in ("tan", "dsqrt", "powvar", "floatint", "dpow", "sign", "ifle"):
            return self.extra_float(op, a, d)
        if op in ("+", "-", "*", "min", "max"):
            b = self.float_expr(d)
            if op == "+":
                return self.wrap(Expr(f"({a.ad} + {b.ad})", f"({a.py} + {b.py})", a.bound + b.bound))
            if op == "-":
                return self.wrap(Expr(f"({a.ad} - {b.ad})", f"({a.py} - {b.py})", a.bound + b.bound))
            if op == "*":
                return self.wrap(Expr(f"({a.ad} * {b.ad})", f"({a.py} * {b.py})", a.bound * b.bound))
            return Expr(f"{op}({a.ad}, {b.ad})", f"{op}({a.py}, {b.py})", max(a.bound, b.bound))
        if op == "div":
            b = self.float_expr(d)
            return Expr(f"({a.ad} / (2.0 + {b.ad} * {b.ad}))", f"({a.py} / (2.0 + {b.py} * {b.py}))", a.bound / 2)
        if op == "divcos":
            b = self.float_expr(d)
            return self.wrap(Expr(f"({a.ad} / (1.5 + cos({b.ad})))", f"({a.py} / (1.5 + math.cos({b.py})))",
                                  a.bound * 2))
        if op == "neg":
            return Expr(f"(-{a.ad})", f"(-{a.py})", a.bound)
        if op in ("sin", "cos", "tanh"):
            return Expr(f"{op}({a.ad})", f"math.{op}({a.py})", 1.0)
        if op == "exp":
            inner = self.choice(["sin", "cos", "tanh"])
            return Expr(f"exp({inner}({a.ad}))", f"math.exp(math.{inner}({a.py}))", math.e)
        if op == "expsq":
            return Expr(f"exp(-{a.ad} ^ 2)", f"math.exp(-({a.py} ** 2))", 1.0)
        if op == "sqrt":
            return Expr(f"sqrt(1.0 + {a.ad} * {a.ad})", f"math.sqrt(1.0 + {a.py} * {a.py})",
                        math.sqrt(1 + a.bound**2))
        if op == "log":
            return Expr(f"log(2.0 + {a.ad} * {a.ad})", f"math.log(2.0 + {a.py} * {a.py})",
                        math.log(2 + a.bound**2))
        if op == "sq":
            return self.wrap(Expr(f"({a.ad} ^ 2)", f"({a.py} ** 2)", a.bound**2))
        if op == "cube":
            return self.wrap(Expr(f"({a.ad} ^ 3)", f"({a.py} ** 3)", a.bound**3))
        if op == "pow":
            return self.wrap(Expr(f"pow({a.ad}, 2)", f"({a.py} ** 2)", a.bound**2))
        if op == "powf":
            return Expr(f"((1.5 + sin({a.ad})) ^ 1.5)", f"((1.5 + math.sin({a.py})) ** 1.5)", 2.5**1.5)
        if op == "pown":
            return self.wrap(Expr(f"({a.ad} ^ n)", f"(float({a.py}) ** n)", max(a.bound, 1.0) ** N_MAX))
        if op == "abs":
            return Expr(f"abs({a.ad})", f"abs({a.py})", a.bound)
        raise AssertionError(op)

    def extra_float(self, op: str, a: Expr, d: int) -> Expr:
        if op == "tan":
            return Expr(f"tan(tanh({a.ad}))", f"math.tan(math.tanh({a.py}))", 1.6)
        if op == "dsqrt":
            return Expr(f"dsqrt(1.0 + {a.ad} * {a.ad})", f"dsqrt(1.0 + {a.py} * {a.py})", 0.5)
        if op == "powvar":
            b = self.float_expr(d)
            return Expr(f"((1.5 + sin({a.ad})) ^ (1.0 + 0.5 * tanh({b.ad})))",
                        f"((1.5 + math.sin({a.py})) ** (1.0 + 0.5 * math.tanh({b.py})))", 2.5**1.5)
        if op == "floatint":
            i = self.choice(self.ints())
            return self.wrap(Expr(f"({a.ad} * float({i.name}))", f"({a.py} * float({i.name}))",
                                  a.bound * max(abs(i.lo), abs(i.hi))))
        if op == "dpow":
            i = self.choice([i for i in self.ints() if i.lo >= 0])
            base = f"tanh({a.ad})"
            # c * x^(n-1) with c = n: the derivative of x^n, 0 at n = 0
            return Expr(f"dpow({base}, {i.name}, {i.name})", f"dpow(math.tanh({a.py}), {i.name}, {i.name})",
                        max(abs(i.lo), abs(i.hi), 1))
        if op == "sign":
            b = self.float_expr(d)
            return Expr(f"(sign({a.ad}) * {b.ad})", f"(sign({a.py}) * {b.py})", b.bound)
        b, c, e = self.float_expr(d), self.float_expr(d), self.float_expr(d)
        return Expr(f"ifle({a.ad}, {b.ad}, {c.ad}, {e.ad})", f"ifle({a.py}, {b.py}, {c.py}, {e.py})",
                    max(c.bound, e.bound))

    def vec_expr(self, depth: int = 1) -> Expr:
        self.level += 1
        try:
            return self._vec_expr(depth)
        finally:
            self.level -= 1

    def _vec_expr(self, depth: int) -> Expr:
        options = ["literal", "ones"]
        if self.vecs():
            options += ["var"] * 3
        if depth > 0 and self.level <= MAX_LEVEL:
            options += ["scale", "shift", "add", "sin", "tanh", "sq", "div"]
            if not self.smooth:
                options += ["min", "max"]
            if self.extra:
                options += ["zeros", "vexp", "vlog", "vsqrt", "vcos", "vneg", "vdiv", "vpow", "addto", "addat"]
                if not self.smooth:
                    options.append("vabs")
            if self.mats:
                options += ["matrow", "matvec"]
        kind = self.choice(options)
        if kind in ("matrow", "matvec"):
            return self.vec_of_mat(kind, depth)
        if kind in ("zeros", "vexp", "vlog", "vsqrt", "vcos", "vneg", "vdiv", "vpow", "addto", "addat", "vabs"):
            return self.extra_vec(kind, depth)
        if kind == "var":
            v = self.choice(self.vecs())
            return Expr(v.name, v.name, v.bound)
        if kind == "literal":
            items = [self.float_expr(1) for _ in range(VEC_LEN)]
            return Expr("[" + ", ".join(i.ad for i in items) + "]",
                        "np.array([" + ", ".join(i.py for i in items) + "], dtype=float)",
                        max(i.bound for i in items))
        if kind == "ones":
            f = self.float_expr(1)
            return Expr(f"(ones({VEC_LEN}) * {f.ad})", f"(np.ones({VEC_LEN}) * {f.py})", f.bound)
        a = self.vec_expr(depth - 1)
        if kind == "scale":
            f = self.float_expr(1)
            e = Expr(f"({a.ad} * {f.ad})", f"({a.py} * {f.py})", a.bound * f.bound)
        elif kind == "shift":
            f = self.float_expr(1)
            if self.chance(0.5):
                e = Expr(f"({a.ad} - {f.ad})", f"({a.py} - {f.py})", a.bound + f.bound)
            else:
                e = Expr(f"({f.ad} + {a.ad})", f"({f.py} + {a.py})", a.bound + f.bound)
        elif kind == "add":
            b = self.vec_expr(depth - 1)
            e = Expr(f"({a.ad} + {b.ad})", f"({a.py} + {b.py})", a.bound + b.bound)
        elif kind in ("sin", "tanh"):
            e = Expr(f"{kind}({a.ad})", f"np.{kind}({a.py})", 1.0)
        elif kind == "sq":
            e = Expr(f"({a.ad} ^ 2)", f"({a.py} ** 2)", a.bound**2)
        elif kind == "div":
            e = Expr(f"({a.ad} / (2.0 + {a.ad} * {a.ad}))", f"({a.py} / (2.0 + {a.py} * {a.py}))", a.bound / 2)
        else:  # min, max against a scalar or a vec
            b = self.vec_expr(depth - 1) if self.chance(0.5) else self.float_expr(1)
            fn = "np.minimum" if kind == "min" else "np.maximum"
            e = Expr(f"{kind}({a.ad}, {b.ad})", f"{fn}({a.py}, {b.py})", max(a.bound, b.bound))
        if e.bound > WRAP_LIMIT:
            e = Expr(f"tanh({e.ad})", f"np.tanh({e.py})", 1.0)
        return e

    def extra_vec(self, kind: str, depth: int) -> Expr:
        if kind == "zeros":
            f = self.float_expr(1)
            return Expr(f"(zeros({VEC_LEN}) + {f.ad})", f"(np.zeros({VEC_LEN}) + {f.py})", f.bound)
        a = self.vec_expr(depth - 1)
        if kind == "vexp":
            return Expr(f"exp(tanh({a.ad}))", f"np.exp(np.tanh({a.py}))", math.e)
        if kind == "vlog":
            return Expr(f"log(2.0 + {a.ad} * {a.ad})", f"np.log(2.0 + {a.py} * {a.py})", math.log(2 + a.bound**2))
        if kind == "vsqrt":
            return Expr(f"sqrt(1.0 + {a.ad} * {a.ad})", f"np.sqrt(1.0 + {a.py} * {a.py})", math.sqrt(1 + a.bound**2))
        if kind == "vcos":
            return Expr(f"cos({a.ad})", f"np.cos({a.py})", 1.0)
        if kind == "vneg":
            return Expr(f"(-{a.ad})", f"(-{a.py})", a.bound)
        if kind == "vabs":
            return Expr(f"abs({a.ad})", f"np.abs({a.py})", a.bound)
        b = self.vec_expr(depth - 1)
        if kind == "vdiv":
            return Expr(f"({a.ad} / (2.0 + {b.ad} * {b.ad}))", f"({a.py} / (2.0 + {b.py} * {b.py}))", a.bound / 2)
        if kind == "vpow":
            return self.wrap_vec(Expr(f"pow({a.ad}, 2)", f"({a.py} ** 2)", a.bound**2))
        if kind == "addto":
            return self.wrap_vec(Expr(f"addto({a.ad}, {b.ad})", f"({a.py} + {b.py})", a.bound + b.bound))
        f = self.float_expr(1)  # addat
        index = self.draw(st.integers(0, VEC_LEN - 1))
        return self.wrap_vec(Expr(f"addat({a.ad}, {index}, {f.ad})", f"addat({a.py}, {index}, {f.py})",
                                  a.bound + f.bound))

    def wrap_vec(self, e: Expr) -> Expr:
        if e.bound <= WRAP_LIMIT:
            return e
        return Expr(f"tanh({e.ad})", f"np.tanh({e.py})", 1.0)

    def reduction(self) -> Expr:
        kind = self.choice(["sum", "mean", "dot"])
        a = self.vec_expr(1)
        if kind == "sum":
            return self.wrap(Expr(f"sum({a.ad})", f"float(np.sum({a.py}))", VEC_LEN * a.bound))
        if kind == "mean":
            return Expr(f"mean({a.ad})", f"float(np.mean({a.py}))", a.bound)
        b = self.vec_expr(1)
        return self.wrap(Expr(f"dot({a.ad}, {b.ad})", f"float(np.dot({a.py}, {b.py}))", VEC_LEN * a.bound * b.bound))

    def indexing(self) -> Expr:
        v = self.choice(self.vecs())
        in_range = [i for i in self.ints() if i.lo >= 0 and i.hi < VEC_LEN and not i.mutable]
        if in_range and self.chance(0.5):
            index = self.choice(in_range).name
        else:
            index = str(self.draw(st.integers(0, VEC_LEN - 1)))
        return Expr(f"{v.name}[{index}]", f"float({v.name}[{index}])", v.bound)

    # ------------------------------------------------------------ mats (generated(mats=True))

    def mat_vars(self, shape: tuple[int, int] | None = None) -> list[Var]:
        return [v for v in self.fn.visible().values() if v.kind == "mat" and (shape is None or v.shape == shape)]

    def mat_expr(self, shape: tuple[int, int], depth: int = 1) -> Expr:
        self.level += 1
        try:
            return self._mat_expr(shape, depth)
        finally:
            self.level -= 1

    def _mat_expr(self, shape: tuple[int, int], depth: int) -> Expr:
        r, c = shape
        options = ["ones", "literal"] + (["var"] * 4 if self.mat_vars(shape) else [])
        if c == VEC_LEN:
            options.append("rows")
        if depth > 0 and self.level <= MAX_LEVEL:
            options += ["scale", "shift", "add", "sin", "tanh", "sq", "div", "transpose", "matmul"]
            if (r, c) == (VEC_LEN, VEC_LEN):
                options.append("outer")
            if not self.smooth:
                options += ["min", "max"]
        kind = self.choice(options)
        if kind == "var":
            m = self.choice(self.mat_vars(shape))
            return Expr(m.name, m.name, m.bound)
        if kind == "ones":
            f = self.float_expr(1)
            return Expr(f"(ones({r}, {c}) * {f.ad})", f"(np.ones(({r}, {c})) * {f.py})", f.bound)
        if kind == "literal":
            rows = [[self.float_expr(1) for _ in range(c)] for _ in range(r)]
            ad = "[" + ", ".join("[" + ", ".join(e.ad for e in row) + "]" for row in rows) + "]"
            py = "np.array([" + ", ".join("[" + ", ".join(e.py for e in row) + "]" for row in rows) + "], dtype=float)"
            return Expr(ad, py, max(e.bound for row in rows for e in row))
        if kind == "rows":  # a literal of vec rows: [u, w]
            rows = [self.vec_expr(0) for _ in range(r)]
            return Expr("[" + ", ".join(e.ad for e in rows) + "]",
                        "np.array([" + ", ".join(e.py for e in rows) + "], dtype=float)", max(e.bound for e in rows))
        if kind == "transpose":
            a = self.mat_expr((c, r), depth - 1)
            return Expr(f"transpose({a.ad})", f"({a.py}).T", a.bound)
        if kind == "matmul":
            k = self.choice([2, 3])
            a, b = self.mat_expr((r, k), depth - 1), self.mat_expr((k, c), depth - 1)
            return self.wrap_mat(Expr(f"({a.ad} @ {b.ad})", f"({a.py} @ {b.py})", k * a.bound * b.bound))
        if kind == "outer":
            a, b = self.vec_expr(0), self.vec_expr(0)
            return self.wrap_mat(Expr(f"outer({a.ad}, {b.ad})", f"np.outer({a.py}, {b.py})", a.bound * b.bound))
        a = self.mat_expr(shape, depth - 1)
        if kind == "scale":
            f = self.float_expr(1)
            e = Expr(f"({a.ad} * {f.ad})", f"({a.py} * {f.py})", a.bound * f.bound)
        elif kind == "shift":
            f = self.float_expr(1)
            e = Expr(f"({f.ad} + {a.ad})", f"({f.py} + {a.py})", a.bound + f.bound)
        elif kind == "add":
            b = self.mat_expr(shape, depth - 1)
            op = self.choice(["+", "-", "*"])
            bound = a.bound * b.bound if op == "*" else a.bound + b.bound
            e = Expr(f"({a.ad} {op} {b.ad})", f"({a.py} {op} {b.py})", bound)
        elif kind in ("sin", "tanh"):
            e = Expr(f"{kind}({a.ad})", f"np.{kind}({a.py})", 1.0)
        elif kind == "sq":
            e = Expr(f"({a.ad} ^ 2)", f"({a.py} ** 2)", a.bound**2)
        elif kind == "div":
            b = self.mat_expr(shape, depth - 1)
            e = Expr(f"({a.ad} / (2.0 + {b.ad} * {b.ad}))", f"({a.py} / (2.0 + {b.py} * {b.py}))", a.bound / 2)
        else:  # min, max against a number or a mat of the same shape
            b = self.mat_expr(shape, depth - 1) if self.chance(0.5) else self.float_expr(1)
            fn = "np.minimum" if kind == "min" else "np.maximum"
            e = Expr(f"{kind}({a.ad}, {b.ad})", f"{fn}({a.py}, {b.py})", max(a.bound, b.bound))
        return self.wrap_mat(e)

    def wrap_mat(self, e: Expr) -> Expr:
        if e.bound <= WRAP_LIMIT:
            return e
        return Expr(f"tanh({e.ad})", f"np.tanh({e.py})", 1.0)

    def vec_of_mat(self, kind: str, depth: int) -> Expr:
        """A vec of length VEC_LEN from a mat: a row of one, or a product with a 3x3 mat."""
        if kind == "matrow":
            r = self.choice([2, 3])
            m = self.mat_expr((r, VEC_LEN), max(depth - 1, 0))
            i = self.draw(st.integers(0, r - 1))
            return Expr(f"({m.ad})[{i}]", f"({m.py})[{i}]", m.bound)
        m = self.mat_expr((VEC_LEN, VEC_LEN), max(depth - 1, 0))
        a = self.vec_expr(0)
        if self.chance(0.5):
            return self.wrap_vec(Expr(f"({m.ad} @ {a.ad})", f"({m.py} @ {a.py})", VEC_LEN * m.bound * a.bound))
        return self.wrap_vec(Expr(f"({a.ad} @ {m.ad})", f"({a.py} @ {m.py})", VEC_LEN * m.bound * a.bound))

    def mat_reduction(self) -> Expr:
        shape = self.choice(MAT_SHAPES)
        kind = self.choice(["sum", "mean", "element", "quadratic"])
        if kind == "quadratic":
            u, m, w = self.vec_expr(0), self.mat_expr((VEC_LEN, VEC_LEN), 1), self.vec_expr(0)
            return self.wrap(Expr(f"({u.ad} @ {m.ad} @ {w.ad})", f"float({u.py} @ {m.py} @ {w.py})",
                                  VEC_LEN * VEC_LEN * u.bound * m.bound * w.bound))
        m = self.mat_expr(shape, 1)
        if kind == "sum":
            return self.wrap(Expr(f"sum({m.ad})", f"float(np.sum({m.py}))", shape[0] * shape[1] * m.bound))
        if kind == "mean":
            return Expr(f"mean({m.ad})", f"float(np.mean({m.py}))", m.bound)
        i, j = self.draw(st.integers(0, shape[0] - 1)), self.draw(st.integers(0, shape[1] - 1))
        return Expr(f"({m.ad})[{i}, {j}]", f"float(({m.py})[{i}, {j}])", m.bound)

    def mat_statement(self, kind: str, indent: int) -> None:
        """`let M = <mat>`, or an update `M = tanh(<mat of M's shape>)` (bounded, so it may run in a loop)."""
        fn = self.fn
        if kind == "matupdate":
            m = self.choice([v for v in self.mat_vars() if v.mutable])
            e = self.mat_expr(m.shape)
            fn.emit(indent, f"{m.name} = tanh({e.ad})", f"{m.name} = np.tanh({e.py})")
            m.bound = max(m.bound, 1.0)
            return
        shape = self.choice(MAT_SHAPES)
        e = self.mat_expr(shape)
        name = fn.fresh("M")
        annotation = f": mat({shape[0]}, {shape[1]})" if self.chance(0.2) else ""
        fn.emit(indent, f"let {name}{annotation} = {e.ad}", f"{name} = {e.py}")
        self.declare(Var(name, "mat", max(e.bound, 1.0), mutable=True, shape=shape))

    def argument(self) -> Expr:
        """An argument for a helper, whose params are assumed within PARAM_BOUND."""
        if self.chance(0.1):
            value = self.draw(st.integers(-2, 2))
            return Expr(f"({value})", f"({value})", abs(value))
        e = self.float_expr(1)
        if e.bound > PARAM_BOUND:
            e = Expr(f"tanh({e.ad})", f"math.tanh({e.py})", 1.0)
        return e

    def call(self, helper: Helper) -> Expr:
        args = [self.argument() for _ in helper.params]
        return Expr(f"{helper.name}({', '.join(a.ad for a in args)})",
                    f"{helper.name}({', '.join(a.py for a in args)})", helper.bound)

    def condition(self) -> Expr:
        """A bool expression: on floats, or (smooth) only on ints and bool constants."""
        kinds = ["cmp", "cmp", "cmp", "and", "or", "not", "const"]
        bools = [v for v in self.fn.visible().values() if v.kind == "bool"]
        if self.extra and bools:
            kinds.append("bool")
        kind = self.choice(kinds)
        if kind == "bool":
            b = self.choice(bools)
            return Expr(b.name, b.name, 0)
        if kind == "const":
            value = self.choice([True, False])
            return Expr("true" if value else "false", str(value), 0)
        if kind in ("and", "or"):
            a, b = self.condition(), self.condition()
            return Expr(f"({a.ad} {kind} {b.ad})", f"({a.py} {kind} {b.py})", 0)
        if kind == "not":
            a = self.condition()
            return Expr(f"(not {a.ad})", f"(not {a.py})", 0)
        op = self.choice(["<", "<=", ">", ">=", "==", "!="])
        if self.smooth or (self.ints() and self.chance(0.3)):
            if not self.ints():
                value = self.choice([True, False])
                return Expr("true" if value else "false", str(value), 0)
            a = self.choice(self.ints())
            b = str(self.draw(st.integers(-1, N_MAX)))
            return Expr(f"({a.name} {op} {b})", f"({a.name} {op} {b})", 0)
        if op in ("==", "!="):
            op = "<"
        a, b = self.float_expr(1), self.float_expr(1)
        return Expr(f"({a.ad} {op} {b.ad})", f"({a.py} {op} {b.py})", 0)

    # ------------------------------------------------------------ statements

    def declare(self, var: Var) -> None:
        self.fn.scopes[-1][var.name] = var

    def statements(self, depth: int, count: int) -> None:
        for _ in range(count):
            self.statement(depth)

    def statement(self, depth: int) -> None:
        fn = self.fn
        options = ["let", "let", "update", "update"]
        if depth < MAX_DEPTH:
            options += ["for", "if", "while"]
        options.append("vec")
        if self.mats:
            options += ["mat", "mat"] + (["matupdate"] if any(m.mutable for m in self.mat_vars()) else [])
        if any(h.returns_tuple for h in self.helpers):
            options += ["tuple", "tuple"]
        if self.extra:
            options += ["bool", "pushpop"]
            if self.ints():
                options.append("int")
            if any(not h.returns_tuple for h in self.helpers):
                options.append("grad")
        kind = self.choice(options)
        if kind in ("bool", "pushpop", "grad", "int"):
            self.extra_statement(kind, len(fn.scopes))
            return
        if kind in ("mat", "matupdate"):
            self.mat_statement(kind, len(fn.scopes))
            return
        mutable = [v for v in self.floats() if v.mutable]
        if kind == "update" and not mutable:
            kind = "let"
        indent = len(fn.scopes)  # one scope per block, the function's own included
        if kind == "let":
            e = self.float_expr()
            name = fn.fresh("t")
            annotation = ": float" if self.chance(0.2) else ""
            if self.chance(0.1):
                value = self.draw(st.integers(-3, 3))
                e = Expr(str(value), f"{float(value)!r}", abs(value))
                annotation = ": float"
            fn.emit(indent, f"let {name}{annotation} = {e.ad}", f"{name} = {e.py}")
            self.declare(Var(name, "float", e.bound))
        elif kind == "update":
            self.update(self.choice(mutable), indent)
        elif kind == "vec":
            e = self.vec_expr()
            name = fn.fresh("u")
            fn.emit(indent, f"let {name} = {e.ad}", f"{name} = {e.py}")
            self.declare(Var(name, "vec", e.bound, mutable=False))
        elif kind == "tuple":
            helper = self.choice([h for h in self.helpers if h.returns_tuple])
            call = self.call(helper)
            a, b = fn.fresh("p"), fn.fresh("q")
            fn.emit(indent, f"let {a}, {b} = {call.ad}", f"{a}, {b} = {call.py}")
            self.declare(Var(a, "float", helper.bound))
            self.declare(Var(b, "float", helper.bound))
        elif kind == "for":
            self.for_loop(indent)
        elif kind == "while":
            self.while_loop(indent)
        else:
            self.if_statement(indent)

    def extra_statement(self, kind: str, indent: int) -> None:
        fn = self.fn
        if kind == "int":  # int arithmetic: + and * of ints stay ints
            i = self.choice(self.ints())
            k = self.draw(st.integers(0, 2))
            name = fn.fresh("j")
            if self.chance(0.5):
                fn.emit(indent, f"let {name} = {i.name} + {k}", f"{name} = {i.name} + {k}")
                self.declare(Var(name, "int", mutable=False, lo=i.lo + k, hi=i.hi + k))
            else:
                fn.emit(indent, f"let {name} = {i.name} * {k} - {k}", f"{name} = {i.name} * {k} - {k}")
                lo, hi = sorted((i.lo * k - k, i.hi * k - k))
                self.declare(Var(name, "int", mutable=False, lo=lo, hi=hi))
        elif kind == "bool":
            cond = self.condition()
            name = fn.fresh("b")
            fn.emit(indent, f"let {name} = {cond.ad}", f"{name} = {cond.py}")
            self.declare(Var(name, "bool", mutable=False))
        elif kind == "pushpop":
            # save a value, overwrite it, restore it: the value after is the one before
            e = self.float_expr()
            name = fn.fresh("s")
            fn.emit(indent, f"let {name} = {e.ad}", f"{name} = {e.py}")
            fn.emit(indent, f"push({name})", "pass")
            fn.emit(indent, f"{name} = {name} * 2.0", f"{name} = {name} * 2.0")
            fn.emit(indent, f"{name} = pop()", f"{name} = {name} / 2.0")
            self.declare(Var(name, "float", e.bound))
        else:  # grad of a helper that returns a float, with respect to its first parameter
            helper = self.choice([h for h in self.helpers if not h.returns_tuple])
            args = [self.argument() for _ in helper.params]
            value, slope = fn.fresh("g"), fn.fresh("d")
            fn.emit(indent, f"let {value}, {slope} = grad {helper.name}({', '.join(a.ad for a in args)}) "
                    f"wrt {helper.params[0]}",
                    f"{value}, {slope} = {helper.name}({', '.join(a.py for a in args)}), "
                    f"grad_of({helper.name}, [{', '.join(a.py for a in args)}], 0)")
            self.declare(Var(value, "float", helper.bound))
            self.declare(Var(slope, "float", 1e3))

    def update(self, var: Var, indent: int) -> None:
        fn = self.fn
        name = var.name
        if fn.loops:
            forms = ["wrap", "mul", "div"] + (["acc"] if len(fn.loops) == 1 else [])
        else:
            forms = ["set", "add", "sub", "mul", "div", "acc"]
        form = self.choice(forms)
        e = self.float_expr()
        if form == "set":
            fn.emit(indent, f"{name} = {e.ad}", f"{name} = {e.py}")
            var.bound = e.bound
        elif form in ("add", "sub"):
            op = "+" if form == "add" else "-"
            fn.emit(indent, f"{name} {op}= {e.ad}", f"{name} = {name} {op} ({e.py})")
            var.bound += e.bound
        elif form == "wrap":
            wrapper = self.choice(["sin", "tanh", "cos"])
            fn.emit(indent, f"{name} = {wrapper}({e.ad})", f"{name} = math.{wrapper}({e.py})")
            var.bound = max(var.bound, 1.0)
        elif form == "mul":
            fn.emit(indent, f"{name} *= tanh({e.ad})", f"{name} = {name} * (math.tanh({e.py}))")
        elif form == "div":
            fn.emit(indent, f"{name} /= 2.0 + {e.ad} * {e.ad}", f"{name} = {name} / (2.0 + {e.py} * {e.py})")
        else:  # acc: bounded growth, at most 0.5 per execution; the loop entry raised the bound already
            fn.emit(indent, f"{name} += 0.5 * tanh({e.ad})", f"{name} = {name} + (0.5 * math.tanh({e.py}))")
            if not fn.loops:
                var.bound += 0.5
        if var.bound > WRAP_LIMIT and not fn.loops:
            fn.emit(indent, f"{name} = tanh({name})", f"{name} = math.tanh({name})")
            var.bound = 1.0

    def enter_loop(self, trips: int) -> None:
        """Raise the bounds of the floats from outside for every update form a loop body may use."""
        fn = self.fn
        for var in self.floats():
            if var.mutable:
                var.bound = max(var.bound, 1.0) + (0.5 * trips if not fn.loops else 0.0)
        fn.loops.append(trips)

    def block(self, depth: int, before=()) -> None:
        self.fn.scopes.append({})
        for var in before:
            self.declare(var)
        self.statements(depth + 1, self.draw(st.integers(1, 3)))
        self.fn.scopes.pop()

    def loop_var_name(self) -> str:
        # sibling loops reuse the name: the language allows it, and the generator checks it does
        return f"i{len(self.fn.loops)}"

    def for_loop(self, indent: int) -> None:
        fn = self.fn
        bounds = [("0", "0", 0), ("1", "1", 1), ("2", "2", 2)]
        stops = [("0", "0", 0), ("1", "1", 1), ("2", "2", 2), ("3", "3", 3)]
        names = {v.name for v in self.ints()}
        if "n" in names:
            stops.append(("n", "n", N_MAX))
        if "v" in {v.name for v in self.vecs()}:
            stops.append(("len(v)", "len(v)", VEC_LEN))
        start_ad, start_py, lo = self.choice(bounds)
        stop_ad, stop_py, hi = self.choice(stops)
        trips = max(hi - lo, 0)
        name = self.loop_var_name()
        fn.emit(indent, f"for {name} in {start_ad}..{stop_ad}:", f"for {name} in range({start_py}, {stop_py}):")
        self.enter_loop(trips)
        self.block(indent, [Var(name, "int", mutable=False, lo=lo, hi=max(hi - 1, lo))])
        fn.loops.pop()

    def while_loop(self, indent: int) -> None:
        fn = self.fn
        counter = fn.fresh("k")
        limit = self.draw(st.integers(0, N_MAX))
        fn.emit(indent, f"let {counter} = 0", f"{counter} = 0")
        cond_ad, cond_py = f"{counter} < {limit}", f"{counter} < {limit}"
        if self.chance(0.3):
            extra = self.condition()
            cond_ad, cond_py = f"{cond_ad} and {extra.ad}", f"{cond_py} and {extra.py}"
        fn.emit(indent, f"while {cond_ad}:", f"while {cond_py}:")
        self.enter_loop(limit)
        # The body may read the counter (in range there); only its last statement updates it.
        # After the loop it is `limit`, so the generator does not use it there.
        self.block(indent, [Var(counter, "int", mutable=False, lo=0, hi=max(limit - 1, 0))])
        fn.emit(indent + 1, f"{counter} += 1", f"{counter} = {counter} + 1")
        fn.loops.pop()

    def if_statement(self, indent: int) -> None:
        fn = self.fn
        outer = {v.name: v for v in self.floats()}
        before = {name: v.bound for name, v in outer.items()}
        after = dict(before)
        branches = ["if"] + ["elif"] * self.draw(st.integers(0, 2)) + (["else"] if self.chance(0.6) else [])
        for keyword in branches:
            if keyword == "else":
                fn.emit(indent, "else:")
            else:
                cond = self.condition()
                fn.emit(indent, f"{keyword} {cond.ad}:", f"{keyword} {cond.py}:")
            for name, bound in before.items():
                outer[name].bound = bound
            self.block(indent)
            for name in before:
                after[name] = max(after[name], outer[name].bound)
        for name, bound in after.items():
            outer[name].bound = bound

    # ------------------------------------------------------------ functions

    def function(self, name: str, params: list[Var], returns_tuple: bool, size: int) -> tuple[str, str, float]:
        self.fn = FunctionGen()
        for p in params:
            self.declare(p)
        self.statements(1, size)
        if returns_tuple:
            a, b = self.float_expr(), self.float_expr()
            ret_ad, ret_py, bound = f"{a.ad}, {b.ad}", f"{a.py}, {b.py}", max(a.bound, b.bound)
        else:
            e = self.float_expr()
            ret_ad, ret_py, bound = e.ad, e.py, e.bound
        self.fn.emit(1, f"return {ret_ad}", f"return {ret_py}")

        def param_text(p: Var) -> str:
            if p.kind == "int":
                return f"{p.name}: int"
            if p.kind == "vec":
                return f"{p.name}: {self.choice(['vec', f'vec({VEC_LEN})'])}"
            if p.kind == "mat":
                return f"{p.name}: {self.choice(['mat', f'mat({p.shape[0]}, {p.shape[1]})'])}"
            return f"{p.name}: float" if self.chance(0.2) else p.name

        ret = ""
        if self.chance(0.5):
            ret = " -> (float, float)" if returns_tuple else " -> float"
        header = f"def {name}({', '.join(param_text(p) for p in params)}){ret}:"
        py_header = f"def {name}({', '.join(p.name for p in params)}):"
        ad = "\n".join([header, *self.fn.ad_lines]) + "\n"
        py = "\n".join([py_header, *self.fn.py_lines]) + "\n"
        return ad, py, bound


def _build(data: st.DataObject, smooth: bool, extra: bool = False, mats: bool = False) -> Generated:
    b = Builder(data, smooth, extra, mats)
    functions: list[tuple[str, str]] = []
    n_helpers = b.draw(st.integers(0, 2), label="helpers")
    tuple_at = b.draw(st.integers(-1, n_helpers - 1)) if n_helpers else -1
    for k in range(n_helpers):
        params = [Var(f"a{j}", "float", PARAM_BOUND) for j in range(b.draw(st.integers(1, 2)))]
        ad, py, bound = b.function(f"h{k}", params, k == tuple_at, b.draw(st.integers(0, 3)))
        functions.append((ad, py))
        b.helpers.append(Helper(f"h{k}", [p.name for p in params], k == tuple_at, min(bound, WRAP_LIMIT**3)))
    params = [Var(f"x{j}", "float", PARAM_BOUND) for j in range(b.draw(st.integers(1, 3)))]
    if b.chance(0.4):
        params.append(Var("n", "int", mutable=False, lo=0, hi=N_MAX))
    if b.chance(0.4):
        params.append(Var("v", "vec", PARAM_BOUND, mutable=False))
    if mats and b.chance(0.8):
        params.append(Var("A", "mat", PARAM_BOUND, mutable=False, shape=MAT_SHAPE))
    ad, py, _ = b.function("main", params, False, b.draw(st.integers(1, 5)))
    functions.append((ad, py))
    order = b.draw(st.permutations(range(len(functions))), label="order")
    source = "\n".join(functions[i][0] for i in order)
    python = PY_PRELUDE + (PY_EXTRA if extra else "") + "\n\n".join(f[1] for f in functions)
    return Generated(source, "main", tuple(p.name for p in params), python)
