"""The table of engines: what `--engine`, the REPL, optimize, the API and bench choose from.

Adding an engine is one module with a `run` function keeping `runtime.py`'s
contract, and one row here. An engine that cannot trace leaves a traced run
to the interpreter (the trace is the interpreter's). Engines are imported when
first used, so choosing one costs nothing for the others.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from adlang.interp.runtime import DEFAULT_MAX_STEPS, DEFAULT_MAX_TAPE, ProgramCache, RunResult
from adlang.ir import nodes as ir
from adlang.lang.errors import UsageError
from adlang.lang.record import record

DEFAULT_ENGINE = "interp"
# `auto`, the default of optimize and the API, is no engine of its own: it runs a program in the compiled engine,
# and in the native one once that program has run SWITCH_STEPS statements under `auto` in this process, if numba
# imports and the program lowers (mats too). Measured on the examples (README, Speed): numba takes 0.4 to 13 s
# to compile a program, which the compiled engine's 50-100 million statements a second make up for only after
# about this many; counting statements, not seconds, makes the switch the same in every run.
AUTO = "auto"
SWITCH_STEPS = 100_000_000
# ... unless numba would take too long over it: compiling grows faster than the generated module (CPU time on
# the 2-core machine: 680 lines 2.9 s, 1,560 lines 3.9 s, 7,000-7,500 lines 32-36 s, linefit_newton's reverse
# over reverse, 30,000 lines, more than 15 minutes). `auto` moves a program only if its native module has at most
# this many lines, so the switch never costs more than a few seconds; `--engine native` compiles any.
AUTO_NATIVE_LINES = 2_000


@record
class Engine:
    """One row: the engine's name, the module and function that run a program, whether it traces."""

    name: str
    module: str
    function: str
    traces: bool
    summary: str
    needs: str | None = None  # a package the engine imports, optional for adlang

    def missing(self) -> str | None:
        """The usage error's message where the package this engine needs is not installed, else None."""
        if self.needs is None or importlib.util.find_spec(self.needs) is not None:
            return None
        return (f"--engine {self.name} needs {self.needs}, which is not installed; "
                f"install it with `pip install {self.needs}`")

    def runner(self) -> Callable[..., RunResult]:
        return getattr(importlib.import_module(self.module), self.function)

    def run(self, program: ir.Program, fn_name: str, args: dict[str, object], *, trace: bool = False,
            max_steps: int = DEFAULT_MAX_STEPS, max_tape: int = DEFAULT_MAX_TAPE) -> RunResult:
        """Run fn of a finished program; a traced run goes to the interpreter when this engine cannot trace."""
        message = self.missing()
        if message is not None:
            raise UsageError(message)
        if trace and not self.traces:
            return ENGINES[DEFAULT_ENGINE].run(program, fn_name, args, trace=True, max_steps=max_steps,
                                               max_tape=max_tape)
        if self.traces:
            return self.runner()(program, fn_name, args, trace=trace, max_steps=max_steps, max_tape=max_tape)
        return self.runner()(program, fn_name, args, max_steps=max_steps, max_tape=max_tape)


ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in [
        Engine("interp", "adlang.interp.interpreter", "run_function", traces=True,
               summary="the tree-walking interpreter: traces, steps, events for the stepper"),
        Engine("compiled", "adlang.interp.compiled", "run_compiled", traces=False,
               summary="the program as Python source, exec'd once and cached"),
        Engine("native", "adlang.interp.native", "run_native", traces=False,
               summary="the program as numba's nopython Python, compiled by LLVM; any fault reruns in the interpreter",
               needs="numba"),
    ]
}


def run(program: ir.Program, fn_name: str, args: dict[str, object], *, engine: str = DEFAULT_ENGINE,
        trace: bool = False, max_steps: int = DEFAULT_MAX_STEPS, max_tape: int = DEFAULT_MAX_TAPE) -> RunResult:
    """Run fn of a finished program in the engine named (one of `ENGINES`, or `AUTO`)."""
    if engine != AUTO:
        return ENGINES[engine].run(program, fn_name, args, trace=trace, max_steps=max_steps, max_tape=max_tape)
    result = ENGINES[chosen(program)].run(program, fn_name, args, trace=trace, max_steps=max_steps,
                                          max_tape=max_tape)
    _RUN_UNDER_AUTO.get(program, _no_statements)[0] += result.steps
    return result


_RUN_UNDER_AUTO = ProgramCache(1024)  # a program -> [statements it has run under `auto`]


def _no_statements(program: ir.Program) -> list[int]:
    return [0]


def chosen(program: ir.Program) -> str:
    """The engine `auto` runs this program in now (see `AUTO`)."""
    if _RUN_UNDER_AUTO.get(program, _no_statements)[0] < SWITCH_STEPS or ENGINES["native"].missing() is not None:
        return "compiled"
    from adlang.interp import native

    built = native.compile_program(program)
    return "compiled" if built is None or built.broken or built.lines > AUTO_NATIVE_LINES else "native"
