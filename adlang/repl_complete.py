"""What the REPL offers to complete, from the text before the cursor: a command's words where a command is
typed, file paths after `:load`, names inside an expression or a `def`, nothing on a blank line.

Plain functions of the text and the session, so they are tested without a terminal; `repl_terminal` turns
them into prompt_toolkit completions.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from adlang.interp.engines import ENGINES
from adlang.lexer import BUILTINS, KEYWORDS, TYPES
from adlang.repl import COMMANDS, MODES, STEP_COMMANDS

STRATEGIES = ("none", "sqrt", "every:", "revolve:")
# `:run` takes `adlang run`'s flags; what follows each flag that takes a value
RUN_FLAGS = ("--grad", "--wrt", "--jacobian", "--mode", "--order", "--checkpoint", "--trace", "--json", "--engine",
             "--max-steps", "--max-tape", "--save", "--fn")
# `:step`, `:diff` and `:compare` take words (see Repl._derivative_words); flags are accepted too
STEP_WORDS = ("wrt", *MODES, "order", "checkpoint", "raw")
DIFF_WORDS = STEP_WORDS
COMPARE_WORDS = ("wrt", "--json")
VALUES = {"--mode": MODES, "mode": MODES, "--order": ("1", "2"), "order": ("1", "2"),
          "--checkpoint": STRATEGIES, "checkpoint": STRATEGIES, "--engine": tuple(ENGINES)}
TAKES_PARAMETERS = ("--grad", "--wrt", "wrt", "--jacobian")
TAKES_ANYTHING = ("--max-steps", "--max-tape", "--save", "--fn")
LINE_KEYWORDS = ("let", "for", "while", "if", "elif", "else", "return")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
LET_NAMES = re.compile(r"\b(?:let|for)\s+([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)")
DEF_HEADER = re.compile(r"\s*def\s+([A-Za-z_]\w*)\s*\(([^)]*)")


@dataclass(frozen=True)
class Context:
    """What the session knows that completion uses: its functions (name and parameter names, in order), its
    variables, and whether a derivative program is being stepped through."""

    functions: dict[str, tuple[str, ...]]
    variables: tuple[str, ...] = ()
    stepping: bool = False


@dataclass(frozen=True)
class Offer:
    """Candidates for the `word` before the cursor, in the order they are shown."""

    word: str
    names: tuple[str, ...]

    def matching(self) -> list[str]:
        return [n for n in self.names if n.startswith(self.word) and n != self.word]


NOTHING = Offer("", ())


def offer(text: str, ctx: Context, requested: bool = False) -> Offer:
    """The candidates at the end of `text` (everything typed before the cursor, earlier lines of a `def`
    included). `requested`: asked for with Tab, rather than while typing."""
    lines = text.split("\n")
    line = lines[-1]
    if not line.strip():
        return NOTHING  # a blank line, or the indentation of a `def`'s line: nothing pops up
    if len(lines) > 1 or DEF_HEADER.match(lines[0]):
        return _in_def(lines, ctx, requested)
    stripped = line.lstrip()
    if stripped.startswith(":"):
        return _command(stripped, ctx)
    word = _word(line)
    if not word and not requested:
        return NOTHING
    if line.strip() == word:  # the first word of an entry
        first = ["def", "let"] + (list(STEP_COMMANDS) if ctx.stepping else [])
        return Offer(word, _unique(first + _expression_names(ctx)))
    return Offer(word, _unique(_expression_names(ctx)))


def _command(line: str, ctx: Context) -> Offer:
    words = line.split()
    typing_new = line.endswith(" ")
    current = "" if typing_new else words[-1]
    done = words if typing_new else words[:-1]
    if not done:
        return Offer(current, COMMANDS)
    name = done[0]
    if name in (":load",):
        return Offer(current, tuple(paths(current))) if len(done) == 1 else NOTHING
    if name not in (":run", ":ir", ":diff", ":step", ":compare"):
        return NOTHING
    if len(done) == 1:
        return Offer(current, tuple(ctx.functions))
    if name == ":ir":
        return NOTHING
    params = ctx.functions.get(done[1], ())
    previous = done[-1]
    if previous in TAKES_PARAMETERS:
        # a comma-separated list: complete the name after the last comma
        head, _, last = current.rpartition(",")
        given = set(head.split(",")) if head else set()
        return Offer(last, tuple(p for p in params if p not in given))
    if previous in VALUES:
        return Offer(current, VALUES[previous])
    if previous in TAKES_ANYTHING or "=" in current:
        return NOTHING
    words = {":run": RUN_FLAGS, ":step": STEP_WORDS, ":diff": DIFF_WORDS, ":compare": COMPARE_WORDS}[name]
    if current.startswith("-"):
        return Offer(current, tuple(w for w in words if w.startswith("-")))
    given = {w.split("=", 1)[0] for w in done[2:] if "=" in w}
    arguments = () if name == ":diff" else tuple(f"{p}=" for p in params if p not in given)
    return Offer(current, arguments + words)


def _in_def(lines: list[str], ctx: Context, requested: bool) -> Offer:
    """Inside a `def` being typed: statement keywords first on a line, then the parameters, the names bound
    so far, the session's functions and the builtins."""
    line = lines[-1]
    word = _word(line)
    if not word and not requested:
        return NOTHING
    header = DEF_HEADER.match(lines[0])
    local = []
    if header:
        local += [p.split(":")[0].strip() for p in header.group(2).split(",") if p.strip()]
    for earlier in lines[1:]:
        for match in LET_NAMES.finditer(earlier):
            local += [n.strip() for n in match.group(1).split(",")]
    if len(lines) == 1:  # the header: after `:` or `->` a type
        return Offer(word, TYPES) if re.search(r"(:|->)\s*\w*$", line) else NOTHING
    first = line.strip() == word
    names = list(LINE_KEYWORDS) if first else []
    names += local + list(ctx.functions) + list(BUILTINS) + ([] if first else list(KEYWORDS) + list(TYPES))
    return Offer(word, _unique(names))


def _expression_names(ctx: Context) -> list[str]:
    return list(ctx.variables) + list(ctx.functions) + list(BUILTINS) + ["and", "or", "not", "true", "false"]


def _word(line: str) -> str:
    match = WORD.search(line)
    return match.group(0) if match else ""


def _unique(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def paths(partial: str) -> list[str]:
    """Files to :load: the folders and `.ad` files whose path starts with `partial` (folders end in /)."""
    folder, slash, start = partial.rpartition("/")
    where = os.path.expanduser(folder) if folder else ("/" if slash else ".")
    try:
        entries = sorted(os.scandir(where), key=lambda e: e.name)
    except OSError:
        return []
    prefix = folder + slash
    found = []
    for entry in entries:
        if not entry.name.startswith(start) or (entry.name.startswith(".") and not start.startswith(".")):
            continue
        if entry.is_dir():
            found.append(f"{prefix}{entry.name}/")
        elif entry.name.endswith(".ad"):
            found.append(f"{prefix}{entry.name}")
    return found
