"""`adlang optimize`: minimize a float function over some of its float and vec parameters.

The derivative program is built once (first order in forward or reverse mode;
for Newton's method the Hessian program, or the Hessian-vector product program,
forward over the chosen mode) and run in the chosen engine at every step.

Methods, all over the wrt parameters flattened into one vector x with gradient g:

- `gd`: x -= lr * g.
- `momentum` (heavy ball): v = 0.9 v + g; x -= lr * v.
- `adam`: the usual betas 0.9 and 0.999, eps 1e-8, bias-corrected moments.
- `newton`: find d with H d = g and try x - d. Over floats only, H comes from
  the Hessian program and numpy solves; over vecs of at most DENSE_NEWTON (25)
  elements in all, H is built from one Hessian-vector product per element and
  numpy solves; over more, Newton-CG: conjugate gradients on Hessian-vector
  products (no matrix), stopped at a residual of min(0.5, sqrt(|g| / |g0|)) |g|
  (g0 the starting point's gradient, so the loss's scale does not matter), after
  2n products, or where H has no positive curvature along the search (then
  the direction found so far). If H is singular (or d is not
  finite, or not a descent direction: g . d <= 0), or the step would raise the
  loss, the step is damped: it is halved up to 30 times until the loss falls;
  if no Newton step works, the same is tried along -g. (The full Newton step
  may also leave the loss equal up to rounding, as it does next to the
  minimum; a damped step must lower it, so the search cannot cycle.) When
  nothing lowers the loss the search stops as stalled (not converged). Trial
  points are scored with the function itself, not the Hessian program.
  Newton takes float and vec parameters (not mats), and has no learning rate
  (`--lr` with it is a usage error rather than silently ignored).

Stopping: converged when the Euclidean norm of the gradient over all wrt
parameters is <= tol; otherwise after `steps` steps. The history holds the
loss at the start and after each step (steps + 1 values, the last is `loss`).
A loss or gradient entry that becomes inf or nan stops with a RuntimeFault at
the function's `def` line saying at which step and what to change; runtime
errors raised by the function itself propagate unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from adlang.arguments import parse_number
from adlang.interp.engines import AUTO
from adlang.interp.prologue import suggest
from adlang.ir import nodes as ir
from adlang.lang.errors import RuntimeFault, UsageError
from adlang.options import check_engine
from adlang.report import format_summary, format_value, to_json_value

METHODS = ("gd", "momentum", "adam", "newton")
MODES = ("forward", "reverse")
DEFAULT_STEPS = 1000
DEFAULT_NEWTON_STEPS = 50
DEFAULT_LR = 0.01
DEFAULT_TOL = 1e-8
MOMENTUM_BETA = 0.9
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8
MAX_HALVINGS = 30
# Newton over vecs: at most this many elements solve with the Hessian, more by conjugate gradients. Measured
# (README, "Fitting"): least squares, one exact step, is dense's best case, and dense is 2.7x faster at 10 elements,
# even at 25, 1.8x faster at 50 and 3x slower at 100; on a chained Rosenbrock and a sin-coupled chain (sparse
# Hessians, many steps) CG is 1.2-1.9x faster at 25 and 2.6-4.6x at 50, as n products a step outgrow CG's few.
DENSE_NEWTON = 25
CG_ITERATIONS = 2  # conjugate gradients stop after this many times the parameter count of H u products
CG_FLAT = 1e-14  # p.Hp <= CG_FLAT |p|^2 is no positive curvature along p
RISING = 10  # a loss that rose over this many steps in a row is diverging

OnStep = Callable[[int, float], None]


@dataclass
class OptimizeResult:
    """Where the search ended; `params` holds only the wrt parameters (floats, or arrays for vecs)."""

    function: str
    method: str
    params: dict[str, Any]
    loss: float
    grad_norm: float
    steps: int
    converged: bool
    history: list[float] = field(default_factory=list)
    tol: float = DEFAULT_TOL
    stalled: bool = False
    interrupted: bool = False  # Ctrl-C: stopped after the last whole step, with what it had reached
    lr: float | None = None
    solver: str | None = None  # newton: program, dense or cg (`newton_solver`)
    products: int = 0  # newton over vecs: the Hessian-vector products it ran

    @property
    def diverged(self) -> bool:
        """Not converged, and the loss ended above where it started or rose over the last RISING steps."""
        if self.converged or self.method == "newton" or len(self.history) < 2:
            return False
        tail = self.history[-(RISING + 1):]
        rising = len(tail) == RISING + 1 and all(b > a for a, b in zip(tail, tail[1:]))
        return self.history[-1] > self.history[0] or rising

    def to_json(self) -> dict[str, Any]:
        """The object `adlang optimize --json` prints."""
        return result_object(self)

    def _repr_html_(self) -> str:
        from adlang.display import optimize_html

        return optimize_html(self)


# ---------------------------------------------------------------- options


def parse_options(method: str | None = None, steps: str | None = None, lr: str | None = None,
                  tol: str | None = None, mode: str | None = None) -> dict[str, Any]:
    """The command line's option texts as keyword arguments of `optimize`; mistakes are UsageErrors."""
    chosen = parse_method(method)
    return {
        "method": chosen,
        "steps": parse_steps(steps),
        "lr": parse_lr(lr, chosen),
        "tol": parse_tol(tol),
        "mode": parse_mode(mode),
    }


def parse_method(text: str | None, option: str = "--method") -> str:
    if text is None:
        return "gd"
    name = text.strip()
    if name not in METHODS:
        raise UsageError(f"unknown {option} '{text}'{suggest(name, METHODS)} (methods: {', '.join(METHODS)})")
    return name


def parse_steps(text: str | None) -> int | None:
    if text is None:
        return None
    word = text.strip().replace("_", "")
    if not word.isdigit() or int(word) < 1:
        raise UsageError(f"--steps needs a positive whole number of steps, not '{text}'")
    return int(word)


def parse_lr(text: str | None, method: str = "gd") -> float | None:
    if text is None:
        return None
    if method == "newton":
        raise UsageError("--lr is not used by --method newton (it takes Newton steps, halving them "
                         "when the loss would rise); leave it out")
    value = parse_number(text)
    if value is None or not math.isfinite(value) or value <= 0:
        raise UsageError(f"--lr needs a positive number, as --lr 0.01, not '{text}'")
    return float(value)


def parse_tol(text: str | None) -> float:
    if text is None:
        return DEFAULT_TOL
    value = parse_number(text)
    if value is None or not math.isfinite(value) or value < 0:
        raise UsageError(f"--tol needs a number >= 0, as --tol 1e-8, not '{text}'")
    return float(value)


def parse_mode(text: str | None, option: str = "--mode") -> str:
    if text is None:
        return "reverse"
    mode = text.strip()
    if mode not in MODES:
        raise UsageError(f"unknown {option} '{text}'{suggest(mode, MODES)} (optimize modes: {', '.join(MODES)})")
    return mode


def default_steps(method: str, steps: int | None) -> int:
    """The step limit: as given, else 1000 (50 for newton)."""
    if steps is not None:
        return steps
    return DEFAULT_NEWTON_STEPS if method == "newton" else DEFAULT_STEPS


# ---------------------------------------------------------------- the search


def optimize(program: ir.Program, fn_name: str, args: dict[str, Any], wrt: list[str], *, method: str = "gd",
             steps: int | None = None, lr: float | None = None, tol: float = DEFAULT_TOL, mode: str = "reverse",
             on_step: OnStep | None = None, checkpoint: str = "none", engine: str = AUTO) -> OptimizeResult:
    """Minimizes `fn_name` over the `wrt` parameters from the values in `args` (every parameter given).

    `on_step(step, loss)` is called for the start (step 0) and after every step; `checkpoint` is
    the reverse pass's checkpointing strategy, as for `run --grad`. The derivative program runs in
    `auto` by default (`interp/engines.py`: the compiled engine, the same numbers as the interpreter,
    several times faster, and the native one once the program has run long enough to pay for
    compiling it); `engine=` names another.
    """
    check_engine(engine, "engine")
    fn = program.function(fn_name)
    if fn is None:
        raise UsageError(f"unknown function '{fn_name}'")
    method = parse_method(method)
    mode = parse_mode(mode)
    steps = default_steps(method, steps)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UsageError(f"steps must be a positive whole number, not {steps!r}")
    if lr is not None and method == "newton":
        raise UsageError("lr is not used by method newton")
    lr = DEFAULT_LR if lr is None else float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise UsageError(f"lr must be a positive number, not {lr!r}")
    if not (math.isfinite(tol) and tol >= 0):
        raise UsageError(f"tol must be a number >= 0, not {tol!r}")
    layout = _Layout(fn, wrt, args)
    search = _Search(program, fn, args, layout, method, mode, lr, on_step, checkpoint, engine)
    return search.run(steps, float(tol))


class _Layout:
    """The wrt parameters as one flat float vector, and back."""

    def __init__(self, fn: ir.Function, wrt: list[str], args: dict[str, Any]):
        params = {p.name: p for p in fn.params}
        self.names = list(wrt)
        if fn.ret.kind != "float":
            raise UsageError(f"optimize needs a function whose result is a float, but {fn.name} returns {fn.ret}")
        if not self.names or len(set(self.names)) != len(self.names):
            raise UsageError("name each parameter to optimize over once, as --wrt m,b")
        self.sizes: list[int | None] = []  # None for a float
        self.shapes: list[tuple[int, ...]] = []  # () for a float, (n,) for a vec, (r, c) for a mat
        for name in self.names:
            param = params.get(name)
            if param is None or not param.type.is_differentiable:
                raise UsageError(f"'{name}' is not a float, vec or mat parameter of {fn.name}")
            shape = np.shape(args[name]) if param.type.is_array else ()
            self.shapes.append(shape)
            self.sizes.append(int(np.prod(shape)) if param.type.is_array else None)

    def pack(self, values: dict[str, Any] | tuple) -> np.ndarray:
        items = [values[n] for n in self.names] if isinstance(values, dict) else list(values)
        parts = [np.atleast_1d(np.asarray(v, dtype=float)).ravel() for v in items]
        return np.concatenate(parts) if parts else np.zeros(0)

    def unpack(self, x: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        at = 0
        for name, size, shape in zip(self.names, self.sizes, self.shapes):
            if size is None:
                out[name] = float(x[at])
                at += 1
            else:
                out[name] = np.array(x[at:at + size], dtype=float).reshape(shape)
                at += size
        return out

    def entry_name(self, k: int) -> str:
        """The parameter (and element) that flat entry k belongs to: `m` or `w[3]`."""
        at = 0
        for name, size, shape in zip(self.names, self.sizes, self.shapes):
            width = 1 if size is None else size
            if k < at + width:
                if len(shape) == 2:
                    return f"{name}[{(k - at) // shape[1]}, {(k - at) % shape[1]}]"
                return name if size is None else f"{name}[{k - at}]"
            at += width
        return "?"


class _Search:
    def __init__(self, program: ir.Program, fn: ir.Function, args: dict[str, Any], layout: _Layout, method: str,
                 mode: str, lr: float, on_step: OnStep | None, checkpoint: str = "none", engine: str = AUTO):
        from adlang.ir.derive import derivative_program

        self.program = program
        self.fn = fn
        self.args = dict(args)
        self.layout = layout
        self.method = method
        self.lr = lr
        self.on_step = on_step
        self.engine = engine
        self.solver = newton_solver(layout) if method == "newton" else None
        self.products = 0  # Hessian-vector products run (dense and cg)
        self.first_norm = 1.0  # the starting point's gradient norm: conjugate gradients' scale
        self.hvp = None
        if self.solver == "program":
            self.derived, self.entry = derivative_program(program, fn.name, layout.names, mode=f"forward-over-{mode}",
                                                          order=2, checkpoint=checkpoint)
        else:
            self.derived, self.entry = derivative_program(program, fn.name, layout.names, mode=mode, order=1,
                                                          checkpoint=checkpoint)
        if self.solver in ("dense", "cg"):
            from adlang.ir.derive import derive_hvp

            self.hvp = derive_hvp(program, fn.name, layout.names, f"forward-over-{mode}", checkpoint=checkpoint)

    # one run of the derivative program

    def execute(self, program: ir.Program, fn_name: str, args: dict[str, Any]) -> Any:
        """One run in the chosen engine; its value."""
        from adlang.interp import engines
        from adlang.ir.derive import finish

        return engines.run(finish(program), fn_name, args, engine=self.engine).value

    def evaluate(self, x: np.ndarray, step: int) -> tuple[float, np.ndarray, np.ndarray | None]:
        """The loss and gradient at x, and the Hessian where the program of order 2 gives it."""
        from adlang.derivatives import derivative_fault

        try:
            outputs = self.execute(self.derived, self.entry, self._arguments(x))
        except RuntimeFault as fault:
            raise derivative_fault(fault, self.program, self.fn.name, self._arguments(x), engine=self.engine) from None
        n = len(self.layout.names)
        loss = float(outputs[0])
        grad = self.layout.pack(tuple(outputs[1:1 + n]))
        self._check_finite(loss, grad, step)
        hessian = None
        if self.solver == "program":
            hessian = np.array(outputs[1 + n:], dtype=float).reshape(n, n)
        return loss, grad, hessian

    def hessian_times(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """H u at x: one run of the Hessian-vector product program."""
        from adlang.derivatives import derivative_fault

        built = self.hvp
        seeds = dict(zip(built.seeds, (self.layout.unpack(u)[name] for name in self.layout.names)))
        try:
            outputs = self.execute(built.program, built.directional, self._arguments(x) | seeds)
        except RuntimeFault as fault:
            raise derivative_fault(fault, self.program, self.fn.name, self._arguments(x), engine=self.engine) from None
        self.products += 1
        return self.layout.pack(built.hu(outputs))

    def loss_at(self, x: np.ndarray) -> float:
        return float(self.execute(self.program, self.fn.name, self._arguments(x)))

    def _arguments(self, x: np.ndarray) -> dict[str, Any]:
        args = dict(self.args)
        args.update(self.layout.unpack(x))
        return args

    def _check_finite(self, loss: float, grad: np.ndarray, step: int) -> None:
        if math.isfinite(loss) and np.all(np.isfinite(grad)):
            return
        if not math.isfinite(loss):
            what = f"the loss became {_shown(loss)}"
        else:
            k = int(np.flatnonzero(~np.isfinite(grad))[0])
            what = f"the gradient became {_shown(grad[k])} (d/d{self.layout.entry_name(k)})"
        if step == 0:
            what = what.replace("became", "is", 1)
            message = (f"{what} at the starting point, before any step; start from other values of "
                       f"{', '.join(self.layout.names)}")
        elif self.method == "newton":
            message = (f"{what} at step {step} (--method newton); start from other values of "
                       f"{', '.join(self.layout.names)} or try --method gd with a small --lr")
        else:
            message = f"{what} at step {step}; lower --lr (now {self.lr:g}) or try --method newton"
        raise RuntimeFault(message, self.fn.span)

    # the loop

    def run(self, steps: int, tol: float) -> OptimizeResult:
        """The search; Ctrl-C during it ends it after the last whole step, keeping what that step reached."""
        x = self.layout.pack(self.args)
        loss, grad, hessian = self.evaluate(x, 0)
        self.first_norm = max(float(np.linalg.norm(grad)), np.finfo(float).tiny)
        history = [loss]
        self._report(0, loss)
        state = _State(np.zeros_like(x), np.zeros_like(x))
        taken = 0
        converged = stalled = interrupted = False
        try:
            while True:
                if float(np.linalg.norm(grad)) <= tol:
                    converged = True
                    break
                if taken == steps:
                    break
                if self.method == "newton":
                    direction = self.newton_direction(x, grad, hessian)
                    moved = self.newton_step(x, loss, grad, direction)
                    if moved is None:
                        stalled = True
                        break
                else:
                    moved = self.first_order_step(x, grad, state, taken + 1)
                point = self.evaluate(moved, taken + 1)  # an interrupt in here leaves the last step's point
                x, taken, (loss, grad, hessian) = moved, taken + 1, point
                history.append(loss)
                self._report(taken, loss)
        except KeyboardInterrupt:
            interrupted = True
        return OptimizeResult(
            function=self.fn.name,
            method=self.method,
            params=self.layout.unpack(x),
            loss=loss,
            grad_norm=float(np.linalg.norm(grad)),
            steps=taken,
            converged=converged,
            history=history,
            tol=tol,
            stalled=stalled,
            interrupted=interrupted,
            lr=None if self.method == "newton" else self.lr,
            solver=self.solver,
            products=self.products,
        )

    def _report(self, step: int, loss: float) -> None:
        if self.on_step is not None:
            self.on_step(step, loss)

    def first_order_step(self, x: np.ndarray, g: np.ndarray, state: _State, t: int) -> np.ndarray:
        if self.method == "gd":
            return x - self.lr * g
        if self.method == "momentum":
            state.first = MOMENTUM_BETA * state.first + g
            return x - self.lr * state.first
        state.first = ADAM_BETA1 * state.first + (1 - ADAM_BETA1) * g
        state.second = ADAM_BETA2 * state.second + (1 - ADAM_BETA2) * g * g
        first = state.first / (1 - ADAM_BETA1 ** t)
        second = state.second / (1 - ADAM_BETA2 ** t)
        return x - self.lr * first / (np.sqrt(second) + ADAM_EPS)

    def newton_direction(self, x: np.ndarray, g: np.ndarray, h: np.ndarray | None) -> np.ndarray | None:
        """d with H d = g: solved with the Hessian (dense: column k is H e_k), or by conjugate gradients on H u
        products (cg)."""
        if self.solver == "cg":
            d = _conjugate_gradients(lambda u: self.hessian_times(x, u), g, CG_ITERATIONS * len(g), self.first_norm)
            return d if d is not None and float(np.dot(g, d)) > 0 else None
        if self.solver == "dense":
            h = np.column_stack([self.hessian_times(x, unit) for unit in np.eye(len(x))])
        return _solve(h, g)

    def newton_step(self, x: np.ndarray, loss: float, g: np.ndarray, newton: np.ndarray | None) -> np.ndarray | None:
        """x - d for the Newton direction d, damped by halving; then along -g; None if neither lowers the loss."""
        directions = [g] if newton is None else [newton, g]
        slack = 4 * np.finfo(float).eps * abs(loss)
        for d in directions:
            t = 1.0
            for _ in range(MAX_HALVINGS + 1):
                trial = x - t * d
                value = self.loss_at(trial)
                # a full Newton step may leave the loss the same up to rounding (near the minimum);
                # a damped or gradient step must lower it, so the search cannot cycle
                full_newton = d is newton and t == 1.0
                lower = value <= loss + slack if full_newton else value < loss
                if math.isfinite(value) and lower and not np.array_equal(trial, x):
                    return trial
                t /= 2
        return None


@dataclass
class _State:
    """Momentum's velocity, or Adam's first and second moments."""

    first: np.ndarray
    second: np.ndarray


def _solve(h: np.ndarray | None, g: np.ndarray) -> np.ndarray | None:
    """The Newton direction, or None if H is singular or the direction does not go down."""
    if h is None or not np.all(np.isfinite(h)):
        return None
    try:
        d = np.linalg.solve(h, g)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(d)) or float(np.dot(g, d)) <= 0:
        return None
    return d


def newton_solver(layout: _Layout) -> str:
    """How Newton's method solves H d = g: `program` (floats only: the Hessian from a program of order 2),
    `dense` (vecs of at most DENSE_NEWTON elements in all: the Hessian from one H u per element, solved by numpy)
    or `cg` (more: conjugate gradients on H u products, no matrix)."""
    if all(size is None for size in layout.sizes):
        return "program"
    count = sum(1 if size is None else size for size in layout.sizes)
    return "dense" if count <= DENSE_NEWTON else "cg"


def _conjugate_gradients(times: Callable[[np.ndarray], np.ndarray], g: np.ndarray, limit: int,
                         scale: float = 1.0) -> np.ndarray | None:
    """d with H d ~ g by conjugate gradients, `times(u)` giving H u (Nocedal and Wright, algorithm 7.1).

    Stops at a residual of min(0.5, sqrt(|g| / scale)) |g| (inexact Newton: superlinear near the minimum; `scale`,
    the first gradient's norm, makes the test the same whatever the loss's units), after `limit` products, or
    where H has no positive curvature along the search direction: then the direction found so far (-g's direction
    on the first iteration: gradient descent). None where the products are not finite.
    """
    norm = float(np.linalg.norm(g))
    tol = min(0.5, math.sqrt(norm / scale)) * norm
    d = np.zeros_like(g)
    r = g.copy()
    p = r.copy()
    rr = float(r @ r)
    for k in range(limit):
        hp = times(p)
        curvature = float(p @ hp)
        if not (math.isfinite(curvature) and np.all(np.isfinite(hp))):
            return None
        if curvature <= CG_FLAT * float(p @ p):
            return g.copy() if k == 0 else d
        alpha = rr / curvature
        d += alpha * p
        r -= alpha * hp
        fresh = float(r @ r)
        if math.sqrt(fresh) <= tol:
            break
        p = r + (fresh / rr) * p
        rr = fresh
    return d


def _shown(x: float) -> str:
    x = float(x)
    if math.isnan(x):
        return "nan"
    return "inf" if x > 0 else "-inf"


# ---------------------------------------------------------------- output


def result_object(result: OptimizeResult) -> dict[str, Any]:
    """The JSON object of `adlang optimize --json`."""
    return {
        "function": result.function,
        "method": result.method,
        "params": to_json_value(result.params),
        "loss": to_json_value(result.loss),
        "grad_norm": to_json_value(result.grad_norm),
        "steps": int(result.steps),
        "converged": bool(result.converged),
        "diverged": result.diverged,
        "interrupted": result.interrupted,
        "history": to_json_value(result.history),
        # extensions (README, "Fitting"): how Newton solved H d = g, and the H u products that took
        **({"newton_solver": result.solver, "hessian_vector_products": int(result.products)}
           if result.method == "newton" else {}),
    }


def outcome_line(result: OptimizeResult) -> str:
    steps = f"{result.steps} step{'s' if result.steps != 1 else ''}"
    if result.diverged:
        start, end = format_value(result.history[0]), format_value(result.history[-1])
        how = "rose" if result.history[-1] > result.history[0] else "has risen step after step"
        return (f"diverging: the loss {how} from {start} to {end} in {steps}; lower --lr (now {result.lr:g})"
                + (" (interrupted)" if result.interrupted else ""))
    if result.interrupted:
        return f"interrupted after {steps}: the parameters reached so far (not converged)"
    if result.converged:
        return f"converged after {steps} (gradient norm <= {result.tol:g})"
    if result.stalled:
        return f"stalled after {steps}: no damped Newton or gradient step lowers the loss"
    hint = "raise --steps" if result.method == "newton" else "raise --steps or --lr"
    return f"ran out of steps after {steps} (gradient norm still > {result.tol:g}; {hint})"


def print_result(console: Console, result: OptimizeResult) -> None:
    """The parameters found, then the loss, gradient norm, steps and how the search ended."""
    title = f"{result.function} minimized with {result.method}"
    if result.solver == "dense":
        title += f" (each step's Hessian from Hessian-vector products: {result.products:,} in all)"
    elif result.solver == "cg":
        title += f"-CG (conjugate gradients on {result.products:,} Hessian-vector products)"
    console.print(Text(title, style="bold"), soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold")
    table.add_column("parameter", overflow="fold")
    table.add_column("value", overflow="fold")
    for name, value in result.params.items():
        table.add_row(name, format_summary(value))
    console.print(table)
    for label, value in (("loss", format_value(result.loss)), ("gradient norm", format_value(result.grad_norm)),
                         ("steps", str(result.steps))):
        console.print(Text.assemble((label, "bold cyan"), " = ", value), soft_wrap=True)
    style = "green" if result.converged else "red" if result.diverged else "yellow"
    console.print(Text(outcome_line(result), style=style), soft_wrap=True)


@contextmanager
def progress(console: Console | None, function: str, total: int) -> Iterator[OnStep | None]:
    """A transient progress bar (step and loss) when `console` is a terminal; else no callback."""
    if console is None or not console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn(f"optimizing {function}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task("optimize", total=total, loss="")

        def on_step(step: int, loss: float) -> None:
            bar.update(task, completed=step, loss=f"{loss:.6g}")

        yield on_step
