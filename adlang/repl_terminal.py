"""The REPL at a terminal: prompt_toolkit with history, completion, highlighting and multi-line `def`s.

Kept apart from `repl` so a scripted session never imports prompt_toolkit.
"""

from __future__ import annotations

import os
import re

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.lexers import PygmentsLexer

from adlang.lexer import BUILTINS, KEYWORDS, AdlangLexer
from adlang.repl import COMMANDS, HISTORY_FILE, STEP_COMMANDS, Repl

WORD = re.compile(r"[:A-Za-z_][A-Za-z0-9_]*$")


class ReplCompleter(Completer):
    """Commands at the start of a line, then function, parameter, variable and builtin names."""

    def __init__(self, repl: Repl):
        self.repl = repl

    def get_completions(self, document, complete_event):
        before = document.text_before_cursor
        match = WORD.search(before)
        word = match.group(0) if match else ""
        for name in self.candidates(before[: len(before) - len(word)]):
            if name.startswith(word) and name != word:
                yield Completion(name, start_position=-len(word))

    def candidates(self, head: str) -> list[str]:
        program = self.repl.session.program
        if not head.strip():
            first = list(COMMANDS) + (list(STEP_COMMANDS) if self.repl.stepper is not None else [])
            return first + program.names + list(self.repl.session.variables) + ["def", "let"]
        names = list(program.names)
        words = head.split()
        fn = program.function(words[1]) if len(words) > 1 else None
        if fn is not None and words[0] in (":run", ":step"):
            names = [f"{p.name}=" for p in fn.params] + ["wrt", "--grad", "--trace"]
        elif fn is not None and words[0] == ":diff":
            names = ["wrt", "forward", "reverse", "order", "raw"] + [p.name for p in fn.params]
        else:
            names += [p.name for f in program.functions for p in f.params]
        return names + list(self.repl.session.variables) + list(BUILTINS) + list(KEYWORDS)


def _key_bindings() -> KeyBindings:
    """Enter ends the entry, except inside a `def` block, which goes on (indented) until a blank line."""
    bindings = KeyBindings()

    @bindings.add("enter")
    def _(event):
        buffer = event.current_buffer
        text = buffer.document.text
        last = text.split("\n")[-1]
        if text.lstrip().startswith("def ") and last.strip():
            indent = last[: len(last) - len(last.lstrip())]
            if last.split("#")[0].rstrip().endswith(":"):
                indent += "    "
            buffer.insert_text("\n" + indent)
        else:
            buffer.validate_and_handle()

    return bindings


def prompt_session(repl: Repl) -> PromptSession:
    return PromptSession(
        history=FileHistory(os.path.expanduser(HISTORY_FILE)),
        completer=ReplCompleter(repl),
        lexer=PygmentsLexer(AdlangLexer),
        key_bindings=_key_bindings(),
        multiline=True,
        prompt_continuation=lambda width, line, soft: "." * (width - 1) + " ",
    )
