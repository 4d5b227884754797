"""`adlang repl [FILE]`: define functions, run them, see their transforms and step through derivative programs.

At a terminal it uses prompt_toolkit (history, completion, highlighting,
multi-line `def`s); otherwise it reads commands line by line and prints plain
text, so a session can be scripted and tested. Errors are shown as the CLI
shows them and never end the session.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import replace

from rich.syntax import Syntax
from rich.text import Text

from adlang import cli, options
from adlang.arguments import bind_arguments
from adlang.interp.prologue import signature, suggest
from adlang.lang.errors import AdlangError, UsageError
from adlang.lexer import AdlangLexer
from adlang.report import dump_json, format_value, internal_line, make_console, print_run, run_object
from adlang.runs import run_report
from adlang.session import Session
from adlang.step_view import show_move, show_tape, show_vars, show_where
from adlang.stepper import Stepper

HISTORY_FILE = "~/.adlang_history"
MAX_STEPS = 10_000_000
STEP_COMMANDS = ("next", "over", "finish", "continue", "break", "clear", "vars", "tape", "where", "back", "quit")
STEP_ALIASES = {"n": "next", "o": "over", "f": "finish", "c": "continue", "b": "break", "v": "vars", "t": "tape",
                "w": "where", "p": "back", "q": "quit"}
COMMANDS = (":help", ":load", ":reload", ":list", ":run", ":ir", ":diff", ":step", ":compare", ":quit")
MODES = options.FIRST_ORDER_MODES + options.SECOND_ORDER_MODES
LET = re.compile(r"let\s+([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?::\s*[^=]+)?=(?!=)\s*(.+)")
UPDATE = re.compile(r"([A-Za-z_]\w*)\s*=(?!=)\s*(.+)")



def _is_step_command(name: str, rest: str) -> bool:
    """`q` alone quits stepping, `q * 2` is an expression: only break and clear take a word (a line number)."""
    if name not in STEP_COMMANDS:
        return False
    words = rest.split()
    if name in ("break", "clear"):
        return len(words) <= 1 and all(w.isdigit() for w in words)
    return not words


HELP = """\
Type a `def` block to add or replace a function (it ends at a blank line),
an expression to evaluate it, `let x = EXPR` to keep a value in the session.

  :load FILE               the functions of FILE (replacing those of a file loaded
                           before); functions typed in the session are kept,
                           except those FILE defines too
  :reload                  FILE again; functions typed since are kept
  :list                    functions and session variables
  :run F x=2 y=3 [--grad x,y] [--mode M] [--order 2] [--checkpoint S] [--trace] [--json]
      [--hvp P=U ...]      as `adlang run` (the same arguments and output; --hvp:
                           one Hessian-vector product H u)
  :ir [F]                  the typed IR
  :diff F wrt x,y [forward|reverse|A-over-B] [order 2] [checkpoint S] [raw]
                           the derivative program (raw: not simplified)
  :step F x=2 y=3 [wrt x,y] [mode] [order 2] [checkpoint S] [raw]
                           step through F's derivative program (reverse mode
                           by default), or F itself without wrt
  :compare F x=2 y=3 wrt x,y [--json]
                           the derivative three ways: symbolic, finite
                           differences, forward and reverse mode (as `adlang compare`)
  :help                    this list
  :quit                    leave (Ctrl-D too; Ctrl-C stops a running program)

While stepping (the program has run once, recorded; moving is replaying that
record, so `back` shows an earlier binding again without undoing anything):
  next (n)                 one binding
  over (o)                 one binding, running a call or loop through
  finish (f)               to the end of the innermost loop or call around here
  continue (c)             to the next breakpoint, else to the end
  break LINE (b)           stop at LINE of the original program; alone: list
  clear [LINE]             remove a breakpoint (all without LINE)
  vars (v)                 every live primal and adjoint value
  tape (t)                 the pushes and pops so far and what each tape holds
  where (w)                the derivative program around the current binding
  back (p)                 the previous binding
  quit (q)                 stop stepping
"""


class Repl:
    def __init__(self, interactive: bool):
        self.interactive = interactive
        self.console = make_console()
        self.session = Session()
        self.stepper: Stepper | None = None
        self.done = False
        self.exit_code = 0  # of a script: the largest exit code of its errors

    # ------------------------------------------------------------ one entry

    def execute(self, text: str) -> None:
        """One command, definition, `let` or expression; every failure is reported and the session goes on."""
        try:
            self._execute(text)
        except AdlangError as err:
            self.error(self.session.format(err), err.exit_code)
        except KeyboardInterrupt:
            self.error("interrupted")
        except SystemExit:
            pass
        except RecursionError:
            self.error("adlang: runtime error: the program nests too deeply")
        except Exception as err:  # a bug in adlang: one line, and the session goes on
            if os.environ.get("ADLANG_DEBUG") == "1":
                import traceback

                traceback.print_exc()
            self.error(internal_line(f"{type(err).__name__}: {err} (a bug in adlang)"), 3)

    def _execute(self, text: str) -> None:
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            return
        word, _, rest = stripped.partition(" ")
        if self.stepper is not None and _is_step_command(STEP_ALIASES.get(word, word), rest):
            self.step_command(STEP_ALIASES.get(word, word), rest.split())
        elif stripped.startswith(":"):
            self.command(word[1:], rest.split())
        elif DEF_START.match(text):
            names = self.session.define(text)
            self.say(f"defined {', '.join(names)}")
        else:
            self.value(stripped)

    def command(self, name: str, words: list[str]) -> None:
        handler = {"help": self.cmd_help, "load": self.cmd_load, "reload": self.cmd_reload, "list": self.cmd_list,
                   "run": self.cmd_run, "ir": self.cmd_ir, "diff": self.cmd_diff, "step": self.cmd_step,
                   "compare": self.cmd_compare,
                   "quit": self.cmd_quit, "q": self.cmd_quit}.get(name)
        if handler is None:
            raise UsageError(f"unknown command ':{name}'{suggest(':' + name, COMMANDS)} (:help lists them)")
        handler(words)

    # ------------------------------------------------------------ commands

    def cmd_help(self, words: list[str]) -> None:
        self.console.file.write(HELP)

    def cmd_quit(self, words: list[str]) -> None:
        self.done = True

    def cmd_load(self, words: list[str]) -> None:
        if len(words) != 1:
            raise UsageError(":load takes one file")
        loaded = self.session.load(words[0])
        self.stepper = None
        self.say(loaded.summary(words[0]))

    def cmd_reload(self, words: list[str]) -> None:
        names = self.session.reload()
        self.say(f"reloaded {self.session.file}: {', '.join(names) or 'no functions'}")

    def cmd_list(self, words: list[str]) -> None:
        for fn in self.session.program.functions:
            self.say(signature(fn))
        for name, value in self.session.variables.items():
            self.say(f"{name} = {format_value(value)}")
        if not self.session.program.functions and not self.session.variables:
            self.say("nothing defined yet")

    def cmd_run(self, words: list[str]) -> None:
        fn_name, words = self._function_word(words)
        ns = cli.build_parser("run")[1]["run"].parse_intermixed_args([self.session_name, *words])
        max_steps = options.parse_max_steps(ns.max_steps)
        program = self.session.program
        if ns.hvp is not None:
            report = self._hvp_report(ns, program, options.pick_function(program, fn_name or ns.fn, self.session_name),
                                      max_steps)
        else:
            mode, order = options.derivative_mode(ns.mode, ns.order, ns.grad is not None)
            fn = options.pick_function(program, fn_name or ns.fn, self.session_name)
            wrt = options.parse_wrt(ns.grad, fn, "--grad") if ns.grad is not None else None
            args = bind_arguments(fn, ns.args)
            report = run_report(program, fn, args, wrt, mode, order, ns.trace, max_steps, ns.engine, ns.checkpoint)
        # lines of the file or of what was typed, not of the joined source the session compiles
        line_of = self.session.line_of
        report.trace = None if report.trace is None else [replace(e, line=line_of(e.line)) for e in report.trace]
        report.loops = [replace(loop, line=line_of(loop.line)) for loop in report.loops]
        if ns.json:
            print(dump_json(run_object(report)))
        else:
            print_run(self.console, report)

    def _hvp_report(self, ns, program, fn, max_steps: int):
        """`:run F ... --hvp P=U`: as `adlang run --hvp`, one Hessian-vector product (and the gradient with
        --grad, the Hessian with --order 2)."""
        from adlang.hessians import direction_parts, direction_words
        from adlang.runs import hvp_mode, hvp_report

        if ns.jacobian is not None:
            raise UsageError("--hvp and --jacobian are separate runs: give one of them")
        mode, order = hvp_mode(ns.mode), options.parse_order(ns.order)
        given = direction_words(ns.hvp)
        wrt = options.parse_wrt(ns.grad if ns.grad is not None else list(given), fn,
                                "--grad" if ns.grad else "--hvp")
        args = bind_arguments(fn, ns.args)
        direction = direction_parts(fn, wrt, args, given, "--hvp")
        return hvp_report(program, fn, args, wrt, direction, mode, show_grad=ns.grad is not None, order=order,
                          trace=ns.trace, max_steps=max_steps, engine=ns.engine, checkpoint=ns.checkpoint)

    def cmd_ir(self, words: list[str]) -> None:
        from adlang.ir.printer import print_function, print_program

        program = self.session.program
        if words:
            self.code(print_function(options.pick_function(program, words[0], self.session_name), types=True))
        else:
            self.code(print_program(program, types=True))

    def cmd_diff(self, words: list[str]) -> None:
        from adlang.ir.derive import diff_source

        fn, wrt, mode, order, raw, checkpoint, rest = self._derivative_words(words, need_wrt=True)
        if rest:
            hint = suggest(rest[0], (*MODES, "wrt", "order", "raw", "checkpoint"))
            raise UsageError(f":diff does not take '{rest[0]}'{hint} (it takes wrt P1,P2, a mode, order 2, "
                             "checkpoint S and raw; see :help)")
        self.code(diff_source(self.session.program, fn.name, wrt, mode, order, simplify=not raw,
                              checkpoint=checkpoint))

    def cmd_step(self, words: list[str]) -> None:
        from adlang.ir.derive import derivative_program

        fn, wrt, mode, order, raw, checkpoint, rest = self._derivative_words(words, need_wrt=False)
        args = bind_arguments(fn, rest)
        original = self.session.program
        if wrt is None:
            program, entry, shown = original, fn.name, None
        else:
            program, entry = derivative_program(original, fn.name, wrt, mode, order, simplify=not raw,
                                                checkpoint=checkpoint)
            shown = mode
        self.stepper = Stepper.start(program, entry, args, original, shown)
        what = f"{entry} ({mode} mode)" if wrt is not None else entry
        count = len(self.stepper.stops())
        self.say(f"stepping {what}: {count} binding(s) recorded; next, over, finish, continue, break LINE, vars, "
                 "tape, where, back, quit")

    def step_command(self, name: str, words: list[str]) -> None:
        stepper = self.stepper
        origin = self.session.origin
        if name == "quit":
            self.stepper = None
            self.say("stopped stepping")
        elif name in ("next", "over", "finish", "continue", "back"):
            if name != "back" and stepper.at_end:
                show_move(self.console, stepper, stepper.next(), origin)
                return
            move = {"next": stepper.next, "over": stepper.over, "finish": stepper.step_out, "continue": stepper.cont,
                    "back": stepper.back}[name]()
            if name == "back" and move.stop is None:
                self.say(f"at the start of {stepper.entry}: nothing has run before this")
                return
            show_move(self.console, stepper, move, origin, quiet=name in ("over", "finish", "continue"))
        elif name in ("break", "clear"):
            self._breakpoints(name, words)
        elif name == "vars":
            show_vars(self.console, stepper)
        elif name == "tape":
            show_tape(self.console, stepper, origin)
        else:
            show_where(self.console, stepper, origin)

    def _breakpoints(self, name: str, words: list[str]) -> None:
        stepper = self.stepper
        if words and not all(w.isdigit() for w in words):
            raise UsageError(f"{name} takes line numbers of the original program")
        lines = {int(w) for w in words}
        if name == "break":
            stepper.breakpoints |= lines
        else:
            stepper.breakpoints = stepper.breakpoints - lines if lines else set()
        shown = ", ".join(str(n) for n in sorted(stepper.breakpoints)) or "none"
        self.say(f"breakpoints: {shown}")

    # ------------------------------------------------------------ values

    def value(self, text: str) -> None:
        """`let a, b = EXPR`, `x = EXPR` for a session variable, or an expression to print."""
        let = LET.fullmatch(text)
        update = UPDATE.fullmatch(text)
        if let:
            names = [n.strip() for n in let.group(1).split(",")]
            self._store(names, self.session.evaluate(let.group(2), MAX_STEPS, text, let.start(2)))
        elif update and update.group(1) in self.session.variables:
            value = self.session.evaluate(update.group(2), MAX_STEPS, text, update.start(2))
            self._store([update.group(1)], value)
        else:
            self.say(format_value(self.session.evaluate(text, MAX_STEPS)))

    def _store(self, names: list[str], value: object) -> None:
        if len(names) > 1 and (not isinstance(value, tuple) or len(value) != len(names)):
            raise UsageError(f"{len(names)} names, but the value is {format_value(value)}")
        values = list(value) if len(names) > 1 else [value]
        if any(isinstance(v, tuple) for v in values):
            raise UsageError("a tuple cannot be kept whole: name its parts, as let a, b = ...")
        for name, v in zip(names, values):
            self.session.variables[name] = v
            self.say(f"{name} = {format_value(v)}")

    def cmd_compare(self, words: list[str]) -> None:
        from adlang.compare import compare

        as_json = "--json" in words
        fn, wrt, _, _, _, _, rest = self._derivative_words([w for w in words if w != "--json"], need_wrt=True)
        outcome = compare(self.session.program, fn.name, bind_arguments(fn, rest), wrt)
        if as_json:
            print(dump_json(outcome.to_json()))
        else:
            self.console.print(outcome)

    # ------------------------------------------------------------ helpers

    @property
    def session_name(self) -> str:
        return self.session.file or "<session>"

    def _function_word(self, words: list[str]) -> tuple[str | None, list[str]]:
        if words and "=" not in words[0] and not words[0].startswith("-"):
            return words[0], words[1:]
        return None, words

    def _derivative_words(self, words: list[str], need_wrt: bool):
        """F, then `wrt x,y`, a mode, `order N`, `checkpoint S` and `raw` in any order; what is left (the arguments)."""
        fn_name, words = self._function_word(words)
        fn = options.pick_function(self.session.program, fn_name, self.session_name)
        wrt_text = mode = order = None
        checkpoint = "none"
        raw = False
        rest: list[str] = []
        items = iter(words)
        for word in items:
            if word in ("wrt", "--wrt", "--grad"):
                wrt_text = next(items, "")
            elif word in ("order", "--order"):
                order = next(items, "")
            elif word in MODES:
                mode = word
            elif word in ("raw", "--no-simplify"):
                raw = True
            elif word == "--mode":
                mode = next(items, "")
            elif word in ("checkpoint", "--checkpoint"):
                checkpoint = next(items, "")
            else:
                rest.append(word)
        if wrt_text is None:
            if need_wrt:
                raise UsageError("name the parameters to differentiate by: wrt x,y")
            if mode is not None or order is not None or checkpoint != "none":
                raise UsageError("a mode, order or checkpoint needs wrt x,y (the parameters to differentiate by)")
            return fn, None, None, 1, raw, checkpoint, rest
        mode, level = options.derivative_mode(mode, order, True)
        return fn, options.parse_wrt(wrt_text, fn, "wrt"), mode, level, raw, checkpoint, rest

    def say(self, text: str) -> None:
        self.console.print(Text(text), soft_wrap=True)

    def code(self, text: str) -> None:
        """Program text: exactly as `adlang ir`/`adlang diff` print it, coloured at a terminal."""
        if self.interactive:
            self.console.print(Syntax(text.rstrip("\n"), AdlangLexer(), background_color="default"))
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")

    def error(self, text: str, exit_code: int = 1) -> None:
        self.exit_code = max(self.exit_code, exit_code)
        sys.stdout.flush()
        print(text, file=sys.stderr, flush=True)

    @property
    def prompt(self) -> str:
        return "(step) " if self.stepper is not None else "adlang> "


DEF_START = re.compile(r"def\s")


# ---------------------------------------------------------------- reading


def read_entries(lines: Iterator[str]) -> Iterator[str]:
    """Entries of a script: one line each, except a `def` block, which runs to a blank line."""
    block: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if block:
            if line.strip():
                block.append(line)
                continue
            yield "\n".join(block) + "\n"
            block = []
        elif DEF_START.match(line):
            block = [line]
        else:
            yield line
    if block:
        yield "\n".join(block) + "\n"


def run_script(repl: Repl, stream) -> int:
    for entry in read_entries(iter(stream)):
        repl.execute(entry)
        sys.stdout.flush()
        if repl.done:
            break
    return repl.exit_code


def run_terminal(repl: Repl) -> int:
    from adlang.repl_terminal import prompt_session

    session = prompt_session(repl)
    while not repl.done:
        try:
            text = session.prompt(repl.prompt)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        repl.execute(text)
    return 0


def main(path: str | None) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    repl = Repl(interactive)
    if path is not None:
        repl.execute(f":load {path}")
    if interactive:
        repl.say("adlang repl: :help lists the commands, Ctrl-D leaves")
        return run_terminal(repl)
    return run_script(repl, sys.stdin)
