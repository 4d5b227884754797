"""The `adlang` command: run, ir, diff, check, compare, graph, optimize and repl.

`main` returns the exit code (the console script and `python -m adlang` pass
it to sys.exit). Every failure becomes a message and an exit code, never a
traceback: 0 ok, 1 runtime error or a failed check, 2 usage/parse/type error,
3 a bug in adlang itself, 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from typing import Any, NoReturn

from adlang.arguments import bind_arguments
from adlang.interp.engines import AUTO, ENGINES, SWITCH_STEPS
from adlang.interp.prologue import suggest
from adlang.interp.runtime import DEFAULT_MAX_STEPS, DEFAULT_MAX_TAPE
from adlang.ir.nodes import Function, Program
from adlang.lang.errors import AdlangError, RuntimeFault, TypeCheckError, UsageError
from adlang.lang.record import mutable_record
from adlang.options import (
    FIRST_ORDER_MODES,
    SECOND_ORDER_MODES,
    check_engine,
    derivative_mode,
    parse_max_steps,
    parse_max_tape,
    parse_order,
    parse_wrt,
    pick_function,
    read_source,
)
from adlang.report import (
    RunReport,
    check_save_path,
    dump_json,
    error_object,
    format_error,
    format_warning,
    internal_error_object,
    internal_line,
    make_console,
    run_object,
    save_arrays,
    show_run,
)
from adlang.runs import run_report

COMMANDS = ("run", "ir", "diff", "check", "compare", "graph", "optimize", "repl")
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 1  # as rich does when the reader of stdout goes away


@mutable_record
class _Context:
    """What error reporting needs: JSON or text, and the file whose lines a caret points into."""

    json: bool
    filename: str | None = None
    source: str | None = None
    entry: Function | None = None  # the function being run or differentiated, once picked


def command() -> NoReturn:
    """The `adlang` command (and `python -m adlang`): `main`, then leave at once.

    Tearing down the interpreter's objects at exit costs a process that imported numba 0.1-0.2 s, more than
    half of `run --engine native`'s start-up from the disk cache (measured: `python -c "import numba"` 0.43 s,
    0.29 s ending with os._exit). Everything the command writes is written by then (files are closed where they
    are written), so it flushes its two streams, runs the atexit handlers and ends without the teardown."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: what was left goes nowhere, as in main
            pass
    atexit._run_exitfuncs()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Runs one command line and returns its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ctx = _Context(json="--json" in argv)
    try:
        code = _dispatch(argv, ctx)
        sys.stdout.flush()
        return code
    except AdlangError as err:
        return _fail(ctx, err)
    except SystemExit as done:
        return _exit_code(done.code)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except RecursionError:
        # A safety net: the limits of nesting (README, "Limits") are checked up front, each on its own;
        # a long chain of calls, each inside deeply nested blocks, can still pass them all.
        if ctx.entry is not None:
            return _fail(ctx, TypeCheckError(
                f"{ctx.entry.name} nests calls and blocks too deeply together for adlang (a chain of calls, "
                "each inside nested blocks); move inner blocks into functions called one after another, "
                "or shorten the chain of calls", ctx.entry.span))
        return _fail(ctx, TypeCheckError(
            "the program is nested too deeply for adlang; split deep expressions with let "
            "and move deeply nested blocks into functions of their own"))
    except MemoryError:
        return _fail(ctx, RuntimeFault("out of memory; use smaller vecs or fewer steps"))
    except Exception as err:
        return _internal(ctx, err)


# ---------------------------------------------------------------- command line parsing


class _Formatter(argparse.HelpFormatter):
    """argparse's help, as wide as the terminal as argparse finds it (COLUMNS, else the terminal, else 80), but
    found without shutil: argparse imports it (and bz2 and lzma with it) for every parser it builds, at every
    start, for help that is rarely printed."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        if width is None:
            try:
                width = int(os.environ["COLUMNS"])
            except (KeyError, ValueError):
                try:
                    width = os.get_terminal_size(sys.__stdout__.fileno()).columns
                except (AttributeError, ValueError, OSError):
                    width = 0
            width = (width or 80) - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """argparse whose mistakes are UsageErrors, so they get the spec's format and exit code 2.

    `--help` and `--version` still print and exit 0 through SystemExit.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(f"{message} (see '{self.prog} --help')")


class _Version(argparse.Action):
    """`--version`, looked up only when asked for: reading the installed metadata costs 15 ms at every start."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"adlang {_version()}")
        parser.exit()


class _Only:
    """Stands for the subparsers when one command's parser is wanted: that command's is built alone, the others'
    calls go nowhere (building all of them costs 5 ms at every start)."""

    def __init__(self, name: str):
        self.name = name

    def add_parser(self, name: str, help: str | None = None, **kwargs: Any) -> Any:
        return _Parser(prog=f"adlang {name}", **kwargs) if name == self.name else _Nowhere()


class _Nowhere:
    """A parser that is not built: every call is accepted and answered with itself."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


def build_parser(only: str | None = None) -> tuple[_Parser, dict[str, _Parser]]:
    """The top-level parser (for `--help` and `--version`) and one parser per command; with `only`, just that
    command's is real."""
    top = _Parser(
        prog="adlang",
        description="adlang: a small differentiable programming language.",
        epilog="exit codes: 0 ok, 1 runtime error or failed check, 2 usage/parse/type error",
        allow_abbrev=False,
    )
    top.add_argument("--version", action=_Version, nargs=0, help="show program's version number and exit")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser) if only is None else _Only(only)
    commands = {
        "run": _run_parser(sub),
        "ir": _ir_parser(sub),
        "diff": _diff_parser(sub),
        "check": _check_parser(sub),
        "compare": _compare_parser(sub),
        "graph": _graph_parser(sub),
        "optimize": _optimize_parser(sub),
        "repl": sub.add_parser("repl", help="an interactive session", allow_abbrev=False),
    }
    commands["repl"].add_argument("file", nargs="?", metavar="FILE", help="a program to load first")
    return top, commands


def _run_parser(sub: Any) -> _Parser:
    p = sub.add_parser(
        "run",
        help="run a function, optionally with its derivatives",
        description="Run one function of FILE with arguments NAME=VALUE (a number, true, false, "
        "[1, 2.5], @data.npy, @data.csv or @data.csv:COLUMN).",
        allow_abbrev=False,
    )
    _add_file_and_args(p)
    _add_fn(p)
    p.add_argument("--grad", "--wrt", dest="grad", metavar="P1,P2",
                   help="also the derivative with respect to these parameters (--wrt is the same flag)")
    p.add_argument("--jacobian", metavar="P1,P2", help="also the Jacobian of a float, vec or tuple result with "
                   "respect to these parameters (one row per element of the result; --mode forward or reverse)")
    p.add_argument("--hvp", metavar="P=U", action="append",
                   help="also the Hessian-vector product H u: U is parameter P's part of the direction u, written as "
                   "an argument's value (a number, [1, 0, 2], @u.npy, ...); once per parameter, by default the "
                   "--grad parameters, left-out ones 0 (--mode: forward-over-reverse by default)")
    _add_mode_and_order(p)
    p.add_argument("--trace", action="store_true", help="show every binding as it executes (always the interpreter)")
    p.add_argument("--save", metavar="FILE.npz", help="also write the value, gradient and Hessian as numpy arrays "
                   "(value, grad_P, hessian_P_Q; a tuple's items as value_0, value_1, ...)")
    p.add_argument("--max-steps", metavar="N", help=f"stop after N statements (default {DEFAULT_MAX_STEPS:,})")
    p.add_argument("--max-tape", metavar="N",
                   help=f"stop when the tapes would hold more than N values (default {DEFAULT_MAX_TAPE:,})")
    p.add_argument(
        "--engine",
        metavar="E",
        default="interp",
        help="; ".join(f"{e.name}: {e.summary}" for e in ENGINES.values())
        + f"; {AUTO}: compiled, and native once the program has run {SWITCH_STEPS:,} statements"
        + " (default interp; the same results and steps in each; with --trace the interpreter runs)",
    )
    _add_json(p)
    return p


def _ir_parser(sub: Any) -> _Parser:
    p = sub.add_parser("ir", help="print the typed IR", allow_abbrev=False)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--fn", metavar="F", help="only this function")
    _add_json(p)
    return p


def _diff_parser(sub: Any) -> _Parser:
    p = sub.add_parser(
        "diff",
        help="print the derivative program",
        description="Print an adlang program that computes F's value and derivatives.",
        allow_abbrev=False,
    )
    p.add_argument("file", metavar="FILE")
    _add_wrt(p)
    _add_fn(p)
    _add_mode_and_order(p)
    p.add_argument("--hvp", action="store_true", help="the Hessian-vector product program instead: it takes F's "
                   "parameters and a direction P_seed per --wrt parameter, and returns F's value, its gradient "
                   "and H u")
    p.add_argument("--no-simplify", action="store_true", help="print the program before simplification")
    _add_json(p)
    return p


def _check_parser(sub: Any) -> _Parser:
    p = sub.add_parser(
        "check",
        help="compare forward, reverse and finite differences",
        description="Compute the derivative in forward mode, reverse mode and by central finite "
        "differences; exit 1 if they disagree.",
        allow_abbrev=False,
    )
    _add_file_and_args(p)
    _add_wrt(p)
    _add_fn(p)
    p.add_argument("--jacobian", metavar="P1,P2", help="the Jacobian of a float, vec or tuple result instead: "
                   "forward mode, reverse mode and central differences, an entry per row (no --wrt)")
    p.add_argument("--order", metavar="N", help="2: the Hessian with respect to the --wrt parameters instead, "
                   "forward over reverse and reverse over reverse beside central differences of the gradient")
    p.add_argument("--sweep", action="store_true", help="the one-sided and central differences at h = 1e-1 ... "
                   "1e-16 and h = 0 beside AD, with their errors: a table and a log-log plot (exit 0 unless f fails)")
    p.add_argument("--plot", metavar="FILE.png", help="with --sweep: also write the plot as an image (matplotlib: "
                   "pip install adlang[plot])")
    p.add_argument("--engine", metavar="E", default="interp", help="the engine every run of the check uses, as "
                   "for run: interp (default), compiled, native or auto")
    _add_json(p)
    return p


def _compare_parser(sub: Any) -> _Parser:
    p = sub.add_parser(
        "compare",
        help="the derivative three ways: symbolic, finite differences, AD",
        description="The derivative of F by a symbolic formula (sympy: pip install adlang[symbolic]), by central "
        "finite differences and by forward and reverse mode, side by side with their sizes and costs.",
        allow_abbrev=False,
    )
    _add_file_and_args(p)
    _add_wrt(p)
    _add_fn(p)
    _add_json(p)
    return p


def _graph_parser(sub: Any) -> _Parser:
    p = sub.add_parser(
        "graph",
        help="draw the computation as a graph (Graphviz DOT, SVG or PNG)",
        description="F's values as a graph: parameters, bindings and the return as nodes, data flow as edges (a "
        "value used twice has two). With --wrt, each value's tangents (--mode forward) or adjoint (reverse) by "
        "the names adlang diff prints; with arguments, every value, and a short run unrolled.",
        allow_abbrev=False,
    )
    _add_file_and_args(p)
    _add_fn(p)
    _add_wrt(p)
    p.add_argument("--mode", metavar="M", help="forward or reverse (default reverse; needs --wrt)")
    p.add_argument("--format", metavar="F", help="dot (default: DOT text), svg or png (these need Graphviz's dot); "
                   "without it, the suffix of -o decides")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    _add_json(p)
    return p


def _optimize_parser(sub: Any) -> _Parser:
    p = sub.add_parser(
        "optimize",
        help="minimize a function over some of its parameters",
        description="Minimize a float function of FILE over the --wrt parameters, starting from the "
        "arguments NAME=VALUE (every parameter given, as for run).",
        allow_abbrev=False,
    )
    _add_file_and_args(p)
    _add_wrt(p)
    _add_fn(p)
    p.add_argument("--method", metavar="M", help="gd (default), momentum, adam or newton")
    p.add_argument("--steps", metavar="N", help="at most N steps (default 1000; newton 50)")
    p.add_argument("--lr", metavar="R", help="the learning rate (default 0.01; not for newton)")
    p.add_argument("--tol", metavar="T", help="stop when the gradient's norm is <= T (default 1e-8)")
    p.add_argument("--mode", metavar="M", help="forward or reverse (default) for the gradient")
    _add_checkpoint(p)
    p.add_argument("--engine", choices=(*ENGINES, AUTO), default=AUTO,
                   help="auto (default: compiled, and native once the program has run long enough to pay for "
                        "compiling it), compiled, native or interp")
    _add_json(p)
    return p


def _add_file_and_args(p: _Parser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("args", nargs="*", default=[], metavar="NAME=VALUE", help="the function's arguments")


def _add_fn(p: _Parser) -> None:
    p.add_argument("--fn", metavar="F", help="the function (default: main, else the last one)")


def _add_wrt(p: _Parser) -> None:
    p.add_argument("--wrt", "--grad", dest="wrt", metavar="P1,P2",
                   help="the parameters to differentiate by (--grad is the same flag)")


def _add_mode_and_order(p: _Parser) -> None:
    modes = ", ".join(FIRST_ORDER_MODES + SECOND_ORDER_MODES)
    p.add_argument("--mode", metavar="M", help=f"{modes} (default reverse; X-over-Y needs --order 2)")
    p.add_argument("--order", metavar="N", help="1 (default) or 2: also the second derivatives")
    _add_checkpoint(p)


def _add_checkpoint(p: _Parser) -> None:
    p.add_argument("--checkpoint", metavar="S", default="none",
                   help="reverse mode of long loops: none (default: store every iteration), every:K (store "
                   "the loop state every K iterations, recompute in between), sqrt (K = sqrt(trips)) or "
                   "revolve:S (binomial checkpointing with S snapshots); a loop's `# checkpoint: S` comment "
                   "overrides it")


def _add_json(p: _Parser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object (errors too)")


def parse_command_line(argv: list[str]) -> argparse.Namespace:
    """The options of one command; NAME=VALUE words may come before, between or after options."""
    top, commands = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    if not argv or argv[0].startswith("-"):
        top.parse_args([word for word in argv if word != "--json"])
        raise UsageError(f"give a command: {', '.join(COMMANDS)} (see 'adlang --help')")
    name = argv[0]
    if name not in commands:
        raise UsageError(f"unknown command '{name}'{suggest(name, COMMANDS)} (commands: {', '.join(COMMANDS)})")
    ns = commands[name].parse_intermixed_args(argv[1:])
    ns.command = name
    if name in ("diff", "check", "compare", "optimize") and getattr(ns, "jacobian", None) is None:
        _required_wrt(ns)
    return ns


# ---------------------------------------------------------------- commands


def _dispatch(argv: list[str], ctx: _Context) -> int:
    ns = parse_command_line(argv)
    handler = {"run": _cmd_run, "ir": _cmd_ir, "diff": _cmd_diff, "check": _cmd_check,
               "compare": _cmd_compare, "graph": _cmd_graph, "optimize": _cmd_optimize,
               "repl": _cmd_repl}
    return handler[ns.command](ns, ctx)


def _cmd_run(ns: argparse.Namespace, ctx: _Context) -> int:
    if ns.hvp is not None:
        return _cmd_run_hvp(ns, ctx)
    if ns.jacobian is not None and ns.grad is None and ns.order is not None:
        raise UsageError("--order needs --grad (the Jacobian is first order)")
    mode, order = derivative_mode(ns.mode, ns.order, ns.grad is not None or ns.jacobian is not None)
    if ns.jacobian is not None and order == 2 and ns.mode is not None and ns.mode not in FIRST_ORDER_MODES:
        raise UsageError(f"--jacobian takes --mode forward or reverse, not {ns.mode}")
    max_steps = parse_max_steps(ns.max_steps)
    max_tape = parse_max_tape(ns.max_tape)
    check_engine(ns.engine)
    if ns.save is not None:
        check_save_path(ns.save)
    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    wrt = parse_wrt(ns.grad, fn, "--grad") if ns.grad is not None else None
    args = bind_arguments(fn, ns.args)
    report = run_report(program, fn, args, wrt, mode, order, ns.trace, max_steps, ns.engine, ns.checkpoint, max_tape)
    if ns.jacobian is not None:
        from adlang.jacobians import jacobian, result_items

        result_items(fn)
        by = parse_wrt(ns.jacobian, fn, "--jacobian", float_result=False)
        run = jacobian(program, fn.name, args, by, mode=mode.partition("-over-")[0], engine=ns.engine,
                       max_steps=max_steps, max_tape=max_tape)
        report.jacobian = run.jacobian
        report.steps = run.steps if wrt is None else report.steps + run.steps  # its first run is the plain one
    _warn_overflow(ctx, report, lambda: run_report(program, fn, args, wrt, mode, order, True, max_steps, "interp",
                                                 ns.checkpoint, max_tape))
    if ns.save is not None:
        save_arrays(ns.save, report)
    if ctx.json:
        print(dump_json(run_object(report)))
    else:
        show_run(report)
    return 0


def _cmd_run_hvp(ns: argparse.Namespace, ctx: _Context) -> int:
    """`run --hvp P=U ...`: the value and H u (and the gradient with --grad, the Hessian with --order 2)."""
    from adlang.hessians import direction_parts, direction_words
    from adlang.runs import hvp_mode, hvp_report

    if ns.jacobian is not None:
        raise UsageError("--hvp and --jacobian are separate runs: give one of them")
    mode, order = hvp_mode(ns.mode), parse_order(ns.order)
    max_steps, max_tape = parse_max_steps(ns.max_steps), parse_max_tape(ns.max_tape)
    check_engine(ns.engine)
    if ns.save is not None:
        check_save_path(ns.save)
    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    given = direction_words(ns.hvp)
    wrt = parse_wrt(ns.grad if ns.grad is not None else list(given), fn, "--grad" if ns.grad else "--hvp")
    args = bind_arguments(fn, ns.args)
    direction = direction_parts(fn, wrt, args, given, "--hvp")
    report = hvp_report(program, fn, args, wrt, direction, mode, show_grad=ns.grad is not None, order=order,
                        trace=ns.trace, max_steps=max_steps, engine=ns.engine, checkpoint=ns.checkpoint,
                        max_tape=max_tape)
    if ns.save is not None:
        save_arrays(ns.save, report)
    if ctx.json:
        print(dump_json(run_object(report)))
    else:
        show_run(report)
    return 0


def _warn_overflow(ctx: _Context, report: RunReport, traced: Any) -> None:
    """A warning on stderr naming the line where an inf in the results first appeared."""
    from adlang import overflow

    if not overflow.has_infinity((report.value, report.grad, report.hessian)):
        return
    trace = report.trace if report.trace is not None else traced().trace
    entry = overflow.first_infinity(trace or [])
    if entry is not None:
        given = [name for name, value in report.args.items() if overflow.has_infinity(value)]
        print(format_warning(overflow.warning_text(entry, given), entry.span, ctx.filename, ctx.source),
              file=sys.stderr)


def _cmd_ir(ns: argparse.Namespace, ctx: _Context) -> int:
    program = _load(ctx, ns.file)
    from adlang.ir.printer import print_function, print_program

    if ns.fn is None:
        text = print_program(program, types=True)
    else:
        text = print_function(pick_function(program, ns.fn, ns.file), types=True)
    _write_text(text, ctx, {"function": ns.fn, "ir": text})
    return 0


def _cmd_diff(ns: argparse.Namespace, ctx: _Context) -> int:
    if ns.hvp:
        return _cmd_diff_hvp(ns, ctx)
    mode, order = derivative_mode(ns.mode, ns.order, True)
    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    wrt = parse_wrt(ns.wrt, fn, "--wrt")
    from adlang.ir.derive import diff_source  # the passes load only for the commands that use them

    text = diff_source(program, fn.name, wrt, mode, order, simplify=not ns.no_simplify, checkpoint=ns.checkpoint)
    _write_text(text, ctx, {"function": fn.name, "program": text})
    return 0


def _cmd_diff_hvp(ns: argparse.Namespace, ctx: _Context) -> int:
    """`diff --hvp`: the Hessian-vector product program (F's parameters and a direction in; value, gradient and
    H u out)."""
    from adlang.runs import hvp_mode

    if ns.order is not None:
        raise UsageError("diff --hvp prints the Hessian-vector product program, second order by itself; "
                         "leave out --order")
    mode = hvp_mode(ns.mode)
    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    wrt = parse_wrt(ns.wrt, fn, "--wrt")
    from adlang.ir.derive import hvp_source

    text = hvp_source(program, fn.name, wrt, mode, simplify=not ns.no_simplify, checkpoint=ns.checkpoint)
    _write_text(text, ctx, {"function": fn.name, "program": text})
    return 0


def _cmd_check(ns: argparse.Namespace, ctx: _Context) -> int:
    """The lead's `derivatives.check` result must have `.ok`, be printable by rich, and have `.to_json()`."""
    if ns.plot is not None and not ns.sweep:
        raise UsageError("--plot draws the sweep: use it with --sweep")
    check_engine(ns.engine)
    if ns.jacobian is not None or parse_order(ns.order) == 2:
        return _cmd_check_more(ns, ctx)
    if ns.sweep:
        return _cmd_sweep(ns, ctx)
    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    wrt = parse_wrt(ns.wrt, fn, "--wrt")
    args = bind_arguments(fn, ns.args)
    from adlang import derivatives
    outcome = derivatives.check(program, fn.name, args, wrt, ns.engine)
    return _show_check(outcome, ctx)


def _cmd_check_more(ns: argparse.Namespace, ctx: _Context) -> int:
    """`check --jacobian P1,P2` and `check --order 2`: the same table for a Jacobian's or a Hessian's entries."""
    from adlang import checks

    if ns.sweep:
        raise UsageError("--sweep is for first derivatives: leave out --jacobian and --order")
    if ns.jacobian is not None and (ns.wrt is not None or ns.order is not None):
        raise UsageError("check --jacobian takes the parameters itself: leave out --wrt and --order")
    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    if ns.jacobian is not None:
        checks.result_items(fn)
        wrt = parse_wrt(ns.jacobian, fn, "--jacobian", float_result=False)
    else:
        wrt = parse_wrt(ns.wrt, fn, "--wrt")
    args = bind_arguments(fn, ns.args)
    if ns.jacobian is not None:
        outcome = checks.check_jacobian(program, fn.name, args, wrt, ns.engine)
    else:
        outcome = checks.check_hessian(program, fn.name, args, wrt, ns.engine)
    return _show_check(outcome, ctx)


def _show_check(outcome, ctx: _Context) -> int:
    """A check's table (or its JSON) on stdout; exit 1 when the ways disagree."""
    if ctx.json:
        print(dump_json(outcome.to_json()))
    else:
        make_console().print(outcome)
    return 0 if outcome.ok else 1


def _cmd_sweep(ns: argparse.Namespace, ctx: _Context) -> int:
    """`check --sweep`: finite differences against h beside AD; exit 0 unless f itself fails."""
    from adlang import sweep

    if ns.plot is not None:
        sweep.check_plot_path(ns.plot)  # before any work: without matplotlib, --plot is a usage error
    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    wrt = parse_wrt(ns.wrt, fn, "--wrt")
    args = bind_arguments(fn, ns.args)
    outcome = sweep.sweep(program, fn.name, args, wrt, ns.engine)
    if ns.plot is not None:
        outcome.plot(ns.plot)
    if ctx.json:
        print(dump_json(outcome.to_json()))
    else:
        console = make_console()
        console.print(outcome)
        if ns.plot is not None:
            console.print(f"plot written to {ns.plot}", soft_wrap=True)
    return 0


def _cmd_compare(ns: argparse.Namespace, ctx: _Context) -> int:
    from adlang.compare import compare

    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    wrt = parse_wrt(ns.wrt, fn, "--wrt")
    args = bind_arguments(fn, ns.args)
    outcome = compare(program, fn.name, args, wrt)
    if ctx.json:
        print(dump_json(outcome.to_json()))
    else:
        make_console().print(outcome)
    return 0


def _cmd_graph(ns: argparse.Namespace, ctx: _Context) -> int:
    """The picture of the computation: DOT text, or SVG or PNG drawn by Graphviz (checked before any work)."""
    from adlang import dot
    from adlang.graph import check_mode, graph

    fmt = dot.format_for(ns.output, ns.format)
    dot.need_dot(fmt)
    if fmt == "png" and ns.output is None and (ctx.json or sys.stdout.isatty()):
        raise UsageError("a PNG is not for a terminal or JSON: give -o FILE.png (or --format svg, or the DOT text)")
    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    wrt = parse_wrt(ns.wrt, fn, "--wrt") if ns.wrt is not None else None
    check_mode(ns.mode, wrt)
    args = bind_arguments(fn, ns.args) if ns.args else None
    picture = graph(program, fn.name, args, wrt, ns.mode)
    if ns.output is not None:
        picture.save(ns.output, fmt)
    if ctx.json:  # the DOT text always; the SVG too where it is asked for and not written to a file
        obj: dict[str, Any] = {"function": fn.name, "dot": picture.dot}
        if ns.output is not None:
            obj["output"] = ns.output
        elif fmt == "svg":
            obj["svg"] = picture.svg()
        print(dump_json(obj))
    elif ns.output is None and fmt == "dot":
        sys.stdout.write(picture.dot)
    elif ns.output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(dot.render(picture.dot, fmt))
    return 0


def _cmd_optimize(ns: argparse.Namespace, ctx: _Context) -> int:
    from adlang import optimize
    options = optimize.parse_options(ns.method, ns.steps, ns.lr, ns.tol, ns.mode)
    program = _load(ctx, ns.file)
    fn = ctx.entry = pick_function(program, ns.fn, ns.file)
    wrt = parse_wrt(ns.wrt, fn, "--wrt")
    args = bind_arguments(fn, ns.args)
    console = None if ctx.json else make_console()
    total = optimize.default_steps(options["method"], options["steps"])
    with optimize.progress(console, fn.name, total) as on_step:
        result = optimize.optimize(program, fn.name, args, wrt, on_step=on_step, checkpoint=ns.checkpoint,
                                   engine=ns.engine, **options)
    if ctx.json:
        print(dump_json(optimize.result_object(result)))
    else:
        optimize.print_result(console, result)
    return EXIT_INTERRUPTED if result.interrupted else 0


def _cmd_repl(ns: argparse.Namespace, ctx: _Context) -> int:
    if ns.file is not None:
        read_source(ns.file)
    from adlang import repl
    return _exit_code(repl.main(ns.file))


def _required_wrt(ns: argparse.Namespace) -> str:
    """`--wrt` (or `--grad`, the same flag), which diff, check and optimize cannot do without."""
    if ns.wrt is None:
        raise UsageError(f"the following arguments are required: --wrt (see 'adlang {ns.command} --help')")
    return ns.wrt


def _write_text(text: str, ctx: _Context, as_json: dict[str, Any]) -> None:
    """Program text exactly as produced (one final newline), or inside a JSON object."""
    if ctx.json:
        print(dump_json(as_json))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


# ---------------------------------------------------------------- checks shared by the commands


def _load(ctx: _Context, path: str) -> Program:
    """Reads and checks the program, remembering its text so errors can show their line."""
    ctx.source = read_source(path)
    ctx.filename = path
    from adlang.program_cache import compile_file

    return compile_file(ctx.source, path)


# ---------------------------------------------------------------- failures


def _fail(ctx: _Context, err: AdlangError) -> int:
    if ctx.json:
        print(dump_json(error_object(err)))
    else:
        print(format_error(err, ctx.filename, ctx.source), file=sys.stderr)
    return err.exit_code


def _internal(ctx: _Context, err: Exception) -> int:
    """A bug in adlang: one line, no traceback unless ADLANG_DEBUG=1 asks for it."""
    message = f"{type(err).__name__}: {err}"
    if os.environ.get("ADLANG_DEBUG") == "1":
        import traceback

        traceback.print_exc()
    if ctx.json:
        print(dump_json(internal_error_object(message)))
    else:
        hint = " (a bug in adlang; set ADLANG_DEBUG=1 to see where)"
        print(internal_line(message + hint), file=sys.stderr)
    return EXIT_INTERNAL


def _exit_code(code: Any) -> int:
    """SystemExit's code as an int, the way sys.exit reads it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _drop_stdout() -> None:
    """After a closed pipe (`adlang ir f.ad | head`), send what is left to /dev/null, quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("adlang")
    except PackageNotFoundError:
        return "unknown"
