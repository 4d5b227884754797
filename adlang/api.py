"""The Python API (spec section 3): `import adlang`, then compile, run, differentiate, check and optimize.

A `Program` is a checked program. Its methods take Python values (numbers,
bools, lists, numpy arrays and scalars) and check them as the command line
checks its words, so every mistake is an `adlang.Error` with the command
line's message, never a Python error from inside a run. A program keeps the
derivative programs it has built (and the compiled engine keeps their code),
so calling `grad` again in a loop builds nothing.

The command line, the REPL and the notebook are front ends over the same
layer below (`options`, `runs`, `derivatives`, `optimize`); this module adds
Python's way in: values, results with attributes, and one exception type.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adlang.arguments import check_vec_length
from adlang.compare import CompareOutcome
from adlang.derivatives import CheckOutcome
from adlang.interp.engines import AUTO
from adlang.interp.prologue import bind
from adlang.interp.runtime import DEFAULT_MAX_STEPS, DEFAULT_MAX_TAPE
from adlang.ir import nodes as ir
from adlang.lang.errors import AdlangError, RuntimeFault, TypeCheckError, UsageError
from adlang.optimize import DEFAULT_TOL, OptimizeResult
from adlang.options import check_engine, derivative_mode, parse_wrt, pick_function, read_source
from adlang.report import RunReport, format_error, run_object, stats_object, trace_object
from adlang.runs import HVP_MODE
from adlang.sweep import SweepOutcome

__all__ = ["Error", "Program", "Result", "compile", "load"]


class Error(Exception):
    """Every mistake a program, its arguments or a call can make: `kind` is usage, parse, type or runtime.

    `str(e)` is the first line the command line prints (`FILE:LINE:COL: KIND error: MESSAGE`, or
    `adlang: usage error: MESSAGE`); `text` adds the source line and the caret under the column.
    """

    def __init__(self, kind: str, message: str, line: int | None = None, column: int | None = None,
                 text: str | None = None, filename: str | None = None):
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
        self.filename = filename
        self.text = text if text is not None else message
        super().__init__(self.text.split("\n", 1)[0])

    @classmethod
    def of(cls, err: AdlangError, filename: str | None, source: str | None) -> Error:
        span = err.span if err.kind != "usage" and err.span is not None and err.span.line >= 1 else None
        return cls(err.kind, err.message, span.line if span else None, span.col if span else None,
                   format_error(err, filename, source), filename)

    def _repr_html_(self) -> str:
        from adlang.display import error_html

        return error_html(self)

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this exception: the command line's text, not a traceback through adlang's
        internals (the place that matters is in the adlang source, and the text names it)."""
        return [self.text]


@contextmanager
def _reported(filename: str | None = None, source: str | None = None) -> Iterator[None]:
    """adlang's own errors as `Error`, placed in `source`; nesting too deep or memory running out as the CLI
    words them."""
    try:
        yield
    except AdlangError as err:
        raise Error.of(err, filename, source) from None
    except RecursionError:
        err = TypeCheckError("the program is nested too deeply for adlang; split deep expressions with let "
                             "and move deeply nested blocks into functions of their own")
        raise Error.of(err, filename, source) from None
    except MemoryError:
        raise Error.of(RuntimeFault("out of memory; use smaller vecs or fewer steps"), filename, source) from None


def _usage(message: str) -> Error:
    return Error.of(UsageError(message), None, None)


# ---------------------------------------------------------------- programs


def compile(source: str, filename: str = "<string>") -> Program:  # noqa: A001 - the spec's name
    """Parse and check `source`; a parse or type error is an `Error` placed in it."""
    if not isinstance(source, str):
        raise _usage(f"compile takes the program's text as a str, not {type(source).__name__}; "
                     "to read a file use adlang.load(path)")
    if not isinstance(filename, str):
        raise _usage(f"filename must be a str, not {type(filename).__name__}")
    from adlang.pipeline import compile_source

    with _reported(filename, source):
        return Program(compile_source(source, filename), source, filename)


def load(path: str | os.PathLike[str]) -> Program:
    """Read and check the program in the file at `path`."""
    if not isinstance(path, (str, os.PathLike)):
        raise _usage(f"load takes a file's path, not {type(path).__name__}; for program text use "
                     "adlang.compile(source)")
    path = os.fspath(path)
    with _reported():
        source = read_source(path)
    return compile(source, path)


class Program:
    """A checked adlang program: its functions, and what can be computed from them."""

    def __init__(self, program: ir.Program, source: str, filename: str):
        self.program = program
        self.source = source
        self.filename = filename
        self._derived: dict = {}  # derivative programs built, by function, parameters, mode, order, checkpoint

    def __repr__(self) -> str:
        return f"<adlang.Program {self.filename}: {', '.join(self.functions)}>"

    def _repr_html_(self) -> str:
        from adlang.display import program_html

        return program_html(self)

    @property
    def functions(self) -> list[str]:
        """The function names, in file order."""
        return list(self.program.names)

    # ------------------------------------------------------------ running

    def run(self, args: Mapping[str, Any] | None = None, fn: str | None = None, trace: bool = False,
            engine: str = "interp", *, max_steps: int = DEFAULT_MAX_STEPS,
            max_tape: int = DEFAULT_MAX_TAPE) -> Result:
        """Run `fn` (default `main`, else the last function) on `args`, as `adlang run`."""
        return self._run(args, fn, None, "reverse", 1, "none", engine, trace, max_steps, max_tape)

    def grad(self, args: Mapping[str, Any] | None = None, wrt: Iterable[str] | str | None = None,
             fn: str | None = None, mode: str = "reverse", order: int = 1, checkpoint: str = "none",
             engine: str = "interp", trace: bool = False, *, max_steps: int = DEFAULT_MAX_STEPS,
             max_tape: int = DEFAULT_MAX_TAPE) -> Result:
        """The value of `fn` and its derivatives with respect to `wrt` (default: every float, vec and mat
        parameter), as `adlang run --grad`; `order=2` adds the Hessian."""
        return self._run(args, fn, wrt, mode, order, checkpoint, engine, trace, max_steps, max_tape,
                         differentiate=True)

    def _run(self, args, fn, wrt, mode, order, checkpoint, engine, trace, max_steps, max_tape,
             differentiate: bool = False) -> Result:
        from adlang.runs import run_report

        with self._reported():
            function = self._function(fn)
            _check_flag(trace, "trace")
            check_engine(engine, "engine")
            limits = _count(max_steps, "max_steps"), _count(max_tape, "max_tape")
            names = self._wrt(function, wrt) if differentiate else None
            mode, order = self._mode(mode, order) if differentiate else ("reverse", 1)
            _check_text(checkpoint, "checkpoint")
            values = self._arguments(function, args)
            report = run_report(self.program, function, values, names, mode, order, trace, limits[0], engine,
                                checkpoint, limits[1], cache=self._derived)
        return Result.of(report)

    def jacobian(self, args: Mapping[str, Any] | None = None, wrt: Iterable[str] | str | None = None,
                 fn: str | None = None, mode: str = "reverse", engine: str = "interp", *,
                 max_steps: int = DEFAULT_MAX_STEPS, max_tape: int = DEFAULT_MAX_TAPE) -> Result:
        """d(result)/d(p) for p in `wrt`, for a result that is a float, a vec or a tuple of those: `.jacobian[p]`
        has the result's elements as rows and p's as columns (a list of such arrays for a tuple result)."""
        from adlang.jacobians import jacobian, result_items

        with self._reported():
            function = self._function(fn)
            result_items(function)
            names = self._wrt(function, wrt, float_result=False)
            if mode not in ("forward", "reverse"):
                raise UsageError(f"a Jacobian's mode is forward or reverse, not {mode!r}")
            check_engine(engine, "engine")
            limits = _count(max_steps, "max_steps"), _count(max_tape, "max_tape")
            values = self._arguments(function, args)
            run = jacobian(self.program, function.name, values, names, mode=mode, engine=engine,
                           max_steps=limits[0], max_tape=limits[1], cache=self._derived)
        report = RunReport(function=function.name, args=values, value=run.value, steps=run.steps,
                           jacobian=run.jacobian)
        return Result.of(report)

    def hvp(self, args: Mapping[str, Any] | None = None, direction: Mapping[str, Any] | Any = None,
            wrt: Iterable[str] | str | None = None, fn: str | None = None, mode: str = HVP_MODE,
            checkpoint: str = "none", engine: str = "interp", trace: bool = False, *,
            max_steps: int = DEFAULT_MAX_STEPS, max_tape: int = DEFAULT_MAX_TAPE) -> Result:
        """The Hessian-vector product H u, as `adlang run --hvp`: `.hvp[p]` is p's part of H u, with `.value`
        and `.grad`. `direction` maps parameters to their part of u (a number for a float, a list or array for
        a vec; left-out parameters 0), or is u itself where one parameter is differentiated by; `wrt` defaults
        to the parameters `direction` names. `mode` is a pair (outer over inner) or a plain mode at both levels;
        forward over reverse costs least."""
        from adlang.hessians import direction_parts
        from adlang.runs import hvp_mode, hvp_report

        with self._reported():
            function = self._function(fn)
            _check_flag(trace, "trace")
            check_engine(engine, "engine")
            limits = _count(max_steps, "max_steps"), _count(max_tape, "max_tape")
            _check_text(mode, "mode")
            _check_text(checkpoint, "checkpoint")
            given = _direction(direction, wrt)
            names = self._wrt(function, wrt if wrt is not None else list(given))
            values = self._arguments(function, args)
            parts = direction_parts(function, names, values, given, "direction")
            report = hvp_report(self.program, function, values, names, parts, hvp_mode(mode, api=True), show_grad=True,
                                trace=trace, max_steps=limits[0], engine=engine, checkpoint=checkpoint,
                                max_tape=limits[1], cache=self._derived)
        return Result.of(report)

    def diff(self, wrt: Iterable[str] | str | None = None, fn: str | None = None, mode: str | None = None,
             order: int = 1, checkpoint: str = "none", simplify: bool = True, hvp: bool = False) -> Code:
        """The derivative program, exactly as `adlang diff` prints it (`mode` by default reverse); `hvp=True` is
        `diff --hvp`, the Hessian-vector product program (`mode` by default forward over reverse)."""
        from adlang.ir.derive import diff_source, hvp_source

        with self._reported():
            function = self._function(fn)
            names = self._wrt(function, wrt)
            _check_flag(simplify, "simplify")
            _check_flag(hvp, "hvp")
            _check_text(checkpoint, "checkpoint")
            if hvp:
                from adlang.runs import hvp_mode

                if order != 1:
                    raise UsageError("diff(hvp=True) is the Hessian-vector product program, second order by "
                                     "itself; leave out order")
                if mode is not None:
                    _check_text(mode, "mode")
                text = hvp_source(self.program, function.name, names, hvp_mode(mode, api=True), simplify, checkpoint)
            else:
                mode, order = self._mode("reverse" if mode is None else mode, order)
                text = diff_source(self.program, function.name, names, mode, order, simplify=simplify,
                                   checkpoint=checkpoint)
        return Code(text if text.endswith("\n") else text + "\n")

    def ir(self, fn: str | None = None) -> Code:
        """The typed IR, as `adlang ir` prints it (every function, or only `fn`)."""
        from adlang.ir.printer import print_function, print_program

        with self._reported():
            if fn is None:
                text = print_program(self.program, types=True)
            else:
                _check_text(fn, "fn")
                text = print_function(pick_function(self.program, fn, self.filename), types=True)
        return Code(text if text.endswith("\n") else text + "\n")

    def check(self, args: Mapping[str, Any] | None = None, wrt: Iterable[str] | str | None = None,
              fn: str | None = None, sweep: bool = False, jacobian: Iterable[str] | str | None = None,
              order: int = 1, engine: str = "interp") -> CheckOutcome | SweepOutcome:
        """Forward mode, reverse mode and central differences side by side, as `adlang check`: `.ok` and
        `.rows` (one per parameter element, each with `forward`, `reverse`, `central`). `sweep=True` is
        `check --sweep` (`Program.sweep`); `jacobian=[...]` is `check --jacobian` (a row per entry of the
        Jacobian, instead of `wrt`); `order=2` is `check --order 2` (a row per entry of the Hessian; `forward`
        and `reverse` are the outer modes, each over reverse). Every run is in `engine`, as `check --engine`."""
        from adlang import checks
        from adlang.derivatives import check

        if isinstance(order, bool) or order not in (1, 2):
            raise _usage(f"order must be 1 or 2, not {order!r}")
        if sweep is not False:
            _check_flag(sweep, "sweep")
            if jacobian is not None or order == 2:
                raise _usage("sweep is for first derivatives: leave out jacobian and order")
            return self.sweep(args, wrt, fn, engine)
        with self._reported():
            check_engine(engine, "engine")
            if jacobian is not None:
                if wrt is not None or order != 1:
                    raise UsageError("check(jacobian=...) takes the parameters itself: leave out wrt and order")
                function = self._function(fn)
                checks.result_items(function)
                names = self._wrt(function, jacobian, float_result=False)
                return checks.check_jacobian(self.program, function.name, self._arguments(function, args), names,
                                             engine)
            if order == 2:
                return checks.check_hessian(self.program, *self._differentiated(fn, wrt, args), engine)
            return check(self.program, *self._differentiated(fn, wrt, args), engine)

    def sweep(self, args: Mapping[str, Any] | None = None, wrt: Iterable[str] | str | None = None,
              fn: str | None = None, engine: str = "interp") -> SweepOutcome:
        """Finite differences at h = 1e-1 ... 1e-16 and h = 0 beside AD, as `adlang check --sweep`: `.rows`,
        `.ad`, `.to_json()`, `.plot(path)` (matplotlib) and `.text_plot(param)`; a notebook shows the plot."""
        from adlang.sweep import sweep

        with self._reported():
            check_engine(engine, "engine")
            return sweep(self.program, *self._differentiated(fn, wrt, args), engine)

    def compare(self, args: Mapping[str, Any] | None = None, wrt: Iterable[str] | str | None = None,
                fn: str | None = None) -> CompareOutcome:
        """The derivative three ways, as `adlang compare`: `.symbolic`, `.finite_differences`, `.forward`,
        `.reverse`, `.to_json()`."""
        from adlang.compare import compare

        with self._reported():
            return compare(self.program, *self._differentiated(fn, wrt, args))

    def graph(self, args: Mapping[str, Any] | None = None, wrt: Iterable[str] | str | None = None,
              fn: str | None = None, mode: str | None = None) -> Graph:
        """The computation as a graph, as `adlang graph`: `.dot` (DOT text), `.svg()`, `.png()`, `.save(path)`;
        a notebook shows the picture (the DOT text where Graphviz is not installed). `wrt` adds each value's
        tangents (`mode="forward"`) or adjoint (`"reverse"`, the default); `args` its values."""
        from adlang.graph import graph

        with self._reported():
            function = self._function(fn)
            names = None if wrt is None else self._wrt(function, wrt)
            if mode is not None:
                _check_text(mode, "mode")
            values = None if args is None else self._arguments(function, args)
            picture = graph(self.program, function.name, values, names, mode)
        return Graph(picture)

    def optimize(self, args: Mapping[str, Any] | None = None, wrt: Iterable[str] | str | None = None,
                 fn: str | None = None, method: str = "gd", steps: int | None = None, lr: float | None = None,
                 tol: float | None = None, mode: str = "reverse", checkpoint: str = "none",
                 engine: str = AUTO) -> OptimizeResult:
        """Minimize `fn` over `wrt` from `args`, as `adlang optimize`: `.params`, `.loss`, `.grad_norm`,
        `.steps`, `.converged`, `.history`."""
        from adlang.optimize import optimize, parse_mode

        with self._reported():
            name, values, names = self._differentiated(fn, wrt, args)
            for value, what in ((method, "method"), (mode, "mode"), (checkpoint, "checkpoint")):
                _check_text(value, what)
            parse_mode(mode, "mode")
            if steps is not None:
                steps = _count(steps, "steps")
            lr = None if lr is None else _number(lr, "lr")
            tol = DEFAULT_TOL if tol is None else _number(tol, "tol")
            return optimize(self.program, name, values, names, method=method, steps=steps, lr=lr,
                            tol=tol, mode=mode, checkpoint=checkpoint, engine=engine)

    # ------------------------------------------------------------ checks, as the command line makes them

    def _reported(self):
        return _reported(self.filename, self.source)

    def _differentiated(self, fn: object, wrt: object, args: object) -> tuple[str, dict[str, Any], list[str]]:
        """fn's name, its arguments and the parameters to differentiate by, checked: what check, sweep,
        compare and optimize all start from."""
        function = self._function(fn)
        names = self._wrt(function, wrt)
        return function.name, self._arguments(function, args), names

    def _function(self, fn: object) -> ir.Function:
        if fn is not None:
            _check_text(fn, "fn")
        return pick_function(self.program, fn, self.filename)

    def _wrt(self, function: ir.Function, wrt: object, float_result: bool = True) -> list[str]:
        if wrt is None:
            wrt = [p.name for p in function.params if p.type.is_differentiable]
            if not wrt:
                raise UsageError(f"{function.name} has no float or vec parameter to differentiate by")
        elif not isinstance(wrt, (str, list, tuple)):
            raise UsageError(f"wrt must be a list of parameter names, as wrt=['x', 'y'], not "
                             f"{type(wrt).__name__}")
        return parse_wrt(wrt, function, "wrt", float_result)

    def _mode(self, mode: object, order: object) -> tuple[str, int]:
        _check_text(mode, "mode")
        if isinstance(order, bool) or order not in (1, 2):
            raise UsageError(f"order must be 1 or 2, not {order!r}")
        return derivative_mode(mode, str(order), True, api=True)

    def _arguments(self, function: ir.Function, args: object) -> dict[str, Any]:
        """`args` checked and converted as the command line's NAME=VALUE words are."""
        if args is None:
            args = {}
        if not isinstance(args, Mapping):
            raise UsageError(f"args must be a dict of parameter names and values, as args={{'x': 2.0}}, not "
                             f"{type(args).__name__}")
        for name in args:
            if not isinstance(name, str):
                raise UsageError(f"args has the key {name!r}; its keys are parameter names (str)")
        values = dict(zip([p.name for p in function.params], bind(function, args, api=True)))
        for param in function.params:
            if param.type.kind == "vec":
                check_vec_length(param, _shown(args[param.name]), values[param.name])
        return values


def _direction(direction: object, wrt: object) -> dict[str, Any]:
    """`direction` as parameter -> part: a mapping as it is, or u itself for the one parameter in `wrt`."""
    if direction is None:
        raise UsageError("hvp needs a direction, as direction={'v': [1, 0, 0]}")
    if isinstance(direction, Mapping):
        for name in direction:
            if not isinstance(name, str):
                raise UsageError(f"direction has the key {name!r}; its keys are parameter names (str)")
        return dict(direction)
    single = wrt.split(",") if isinstance(wrt, str) else list(wrt) if isinstance(wrt, (list, tuple)) else []
    if len(single) != 1 or not isinstance(single[0], str):
        raise UsageError("direction is u itself only where one parameter is differentiated by (wrt=['v']); "
                         "otherwise give a dict of parts, as direction={'v': [1, 0], 'x': 0.5}")
    return {single[0].strip(): direction}


def _shown(value: object) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, separator=", ", threshold=6)
    return repr(value)


def _check_flag(value: object, what: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise UsageError(f"{what} must be True or False, not {value!r}")


def _check_text(value: object, what: str) -> None:
    """A str; a checkpoint strategy or an optimize method also one of those, in the API's terms."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a str, not {type(value).__name__}")
    if what == "checkpoint":
        from adlang.ir.checkpoint import parse_strategy

        parse_strategy(value, what)
    elif what == "method":
        from adlang.optimize import parse_method

        parse_method(value, what)



def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise UsageError(f"{what} must be a whole number >= 0, not {value!r}")
    return int(value)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UsageError(f"{what} must be a number, not {value!r}")
    return float(value)


# ---------------------------------------------------------------- results


class Code(str):
    """Program text (`diff`, `ir`): a str, byte for byte what the command prints, shown highlighted in a
    notebook and as plain lines in IPython."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        from adlang.display import code_html

        return code_html(str(self))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self).rstrip("\n"))


class Graph:
    """`Program.graph`'s picture (adlang/graph.py's Graph: `.dot`, `.nodes`, `.edges`, `.title`, ...), whose
    drawing fails with an `Error` like every other call (Graphviz missing or failing, a file not written)."""

    def __init__(self, picture: Any):
        self.picture = picture

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.picture, name)

    def __repr__(self) -> str:
        return f"<adlang.Graph of {self.picture.function}: {len(self.picture.nodes)} nodes>"

    def __str__(self) -> str:
        return self.picture.dot

    def svg(self) -> str:
        with _reported():
            return self.picture.svg()

    def png(self) -> bytes:
        with _reported():
            return self.picture.png()

    def save(self, path: str | os.PathLike[str], format: str | None = None) -> None:  # noqa: A002 - the CLI's word
        """Writes DOT text, SVG or PNG to `path`: `format` if given, else by the name's suffix, else DOT."""
        if not isinstance(path, (str, os.PathLike)):
            raise _usage(f"save takes a file's path, not {type(path).__name__}")
        with _reported():
            if format is not None:
                _check_text(format, "format")
            self.picture.save(os.fspath(path), format)

    def _repr_svg_(self) -> str | None:
        with _reported():
            return self.picture._repr_svg_()

    def _repr_html_(self) -> str:
        with _reported():
            return self.picture._repr_html_()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.picture.dot.rstrip("\n"))


@dataclass(frozen=True)
class Result:
    """One run: `value`, `grad` (parameter -> float or numpy array), `hessian` (dict of dicts), `trace`
    (dicts of name, value, line), `stats` (steps and the rest of the JSON `stats`), `jacobian` (from
    `Program.jacobian`), `hvp` and `direction` (from `Program.hvp`)."""

    function: str
    args: dict[str, Any]
    value: Any
    grad: dict[str, Any] | None
    hessian: dict[str, dict[str, Any]] | None
    trace: list[dict[str, Any]] | None
    stats: dict[str, Any]
    report: RunReport = field(repr=False, compare=False)
    jacobian: dict[str, Any] | None = None
    hvp: dict[str, Any] | None = None
    direction: dict[str, Any] | None = None

    @classmethod
    def of(cls, report: RunReport) -> Result:
        trace = None
        if report.trace is not None:
            trace = [{**trace_object(entry), "value": entry.value} for entry in report.trace]
        return cls(report.function, dict(report.args), report.value, report.grad, report.hessian, trace,
                   stats_object(report), report, report.jacobian, report.hvp, report.direction)

    def to_json(self) -> dict[str, Any]:
        """The object `adlang run --json` prints for the same run (non-finite floats as strings)."""
        return run_object(self.report)

    def _repr_html_(self) -> str:
        from adlang.display import result_html

        return result_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """In terminal IPython: the run as `adlang run` shows it (long vecs summarised), not the dataclass with
        every array element."""
        import io

        from adlang.report import make_console, print_run

        out = io.StringIO()
        print_run(make_console(out), self.report)
        printer.text(out.getvalue().rstrip("\n"))
