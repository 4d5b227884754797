"""The REPL at a terminal: prompt_toolkit with history, completion by context, highlighting and `def`s typed
or pasted over several lines.

Kept apart from `repl` so a scripted session never imports prompt_toolkit.

Editing a `def`: Enter indents the next line as the one before (one level more after a `:`), and a blank
line ends the `def`. That indentation is a suggestion: spaces typed at the start of the line replace it
rather than add to it, so typing (or pasting, in a terminal without bracketed paste) four spaces gives four.
Tab indents to the next level and Backspace in the indentation removes one.
"""

from __future__ import annotations

import os

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.keys import Keys
from prompt_toolkit.lexers import PygmentsLexer

from adlang.lexer import AdlangLexer
from adlang.repl import DEF_START, HISTORY_FILE, Repl
from adlang.repl_complete import Context, offer

LEVEL = 4  # spaces per level of indentation


class ReplCompleter(Completer):
    """prompt_toolkit's side of `repl_complete.offer`."""

    def __init__(self, repl: Repl):
        self.repl = repl

    def get_completions(self, document, complete_event):
        found = offer(document.text_before_cursor, context(self.repl), complete_event.completion_requested)
        for name in found.matching():
            yield Completion(name, start_position=-len(found.word))


def context(repl: Repl) -> Context:
    program = repl.session.program
    return Context({f.name: tuple(p.name for p in f.params) for f in program.functions},
                   tuple(repl.session.variables), repl.stepper is not None)


# ---------------------------------------------------------------- editing


def next_indent(line: str) -> str:
    """The indentation Enter gives the line after `line`: the same, one level more after a `:`."""
    indent = line[: len(line) - len(line.lstrip())]
    code = line.split("#", 1)[0].rstrip()
    return indent + " " * LEVEL if code.endswith(":") else indent


def indent_to_next_level(before: str) -> str:
    """Spaces that take an indentation of `before` to the next multiple of LEVEL."""
    return " " * (LEVEL - len(before) % LEVEL)


def dedent_count(before: str) -> int:
    """Characters Backspace removes from an indentation `before`: back to the previous level."""
    return len(before) % LEVEL or min(LEVEL, len(before))


def pasted_line_follows(keys) -> bool:
    """Whether the keys waiting to be handled (a paste arriving as keystrokes) start with an indented line:
    then a blank line is inside the `def`, not its end."""
    text = []
    for key in keys:
        if key.key in (Keys.ControlM, Keys.ControlJ):
            break
        text.append(key.data)
    line = "".join(text)
    return bool(line.strip()) and line[:1] in (" ", "\t")


def _buffer():
    from prompt_toolkit.application.current import get_app

    return get_app().current_buffer


def _in_def(buffer) -> bool:
    return bool(DEF_START.match(buffer.document.text.lstrip()))


@Condition
def _on_blank_last_line() -> bool:
    """A later line of a `def` holding only spaces, the cursor at its end: where Enter may have indented."""
    document = _buffer().document
    return (_in_def(_buffer()) and document.cursor_position_row > 0 and document.is_cursor_at_the_end
            and not document.current_line.strip())


@Condition
def _at_indentation() -> bool:
    """The cursor on a later line of a `def`, with only spaces before it on that line."""
    document = _buffer().document
    return _in_def(_buffer()) and document.cursor_position_row > 0 and not document.current_line_before_cursor.strip()


@Condition
def _after_indentation() -> bool:
    before = _buffer().document.current_line_before_cursor
    return bool(before) and not before.strip(" ")


def key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter")
    def _(event):
        """Enter ends the entry, except inside a `def`, which goes on (indented) until a blank line."""
        buffer = event.current_buffer
        document = buffer.document
        if not _in_def(buffer):
            buffer.validate_and_handle()
        elif document.cursor_position_row == document.line_count - 1 and not document.current_line.strip():
            if pasted_line_follows(event.app.key_processor.input_queue):
                buffer.insert_text("\n")
            else:
                buffer.validate_and_handle()
        else:
            buffer.insert_text("\n" + next_indent(document.current_line_before_cursor))

    @bindings.add(" ", filter=_on_blank_last_line)
    def _(event):
        """The first space typed on a line Enter has just indented replaces that indentation."""
        buffer = event.current_buffer
        previous = event.previous_key_sequence
        if previous and previous[-1].key in (Keys.ControlM, Keys.ControlJ):
            buffer.delete_before_cursor(len(buffer.document.current_line_before_cursor))
        buffer.insert_text(" ")

    @bindings.add("tab", filter=_at_indentation)
    def _(event):
        buffer = event.current_buffer
        buffer.insert_text(indent_to_next_level(buffer.document.current_line_before_cursor))

    @bindings.add("backspace", filter=_after_indentation)
    def _(event):
        buffer = event.current_buffer
        buffer.delete_before_cursor(dedent_count(buffer.document.current_line_before_cursor))

    return bindings


def prompt_session(repl: Repl) -> PromptSession:
    return PromptSession(
        history=FileHistory(os.path.expanduser(HISTORY_FILE)),
        completer=ReplCompleter(repl),
        lexer=PygmentsLexer(AdlangLexer),
        key_bindings=key_bindings(),
        multiline=True,
        prompt_continuation=lambda width, line, soft: "." * (width - 1) + " ",
    )
