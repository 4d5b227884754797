"""The REPL at a terminal (prompt_toolkit) in a pseudo-terminal: typing and pasting `def`s, Tab and Backspace in
the indentation, completion by context; and the pieces of editing and completion on their own."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from helpers import ROOT
from prompt_toolkit.key_binding import KeyPress
from prompt_toolkit.keys import Keys

from adlang.repl_complete import RUN_FLAGS, Context, offer, paths
from adlang.repl_terminal import dedent_count, indent_to_next_level, next_indent, pasted_line_follows

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|[\r\x08]")


class Terminal:
    """`adlang repl` in a pseudo-terminal 100 columns wide: keys are written, the screen's text is read."""

    def __init__(self, home, *args: str):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "HOME": str(home)}
        self.process = subprocess.Popen([sys.executable, "-m", "adlang", "repl", *args], stdin=slave, stdout=slave,
                                        stderr=slave, env=env, cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.master = master
        self.raw = b""
        self.seen = 0
        self.expect("adlang>")
        self.settle()

    @property
    def text(self) -> str:
        return ESCAPES.sub("", self.raw.decode(errors="replace"))

    def _read(self, seconds: float) -> None:
        ready, _, _ = select.select([self.master], [], [], seconds)
        if ready:
            try:
                self.raw += os.read(self.master, 65536)
            except OSError:
                pass

    def expect(self, wanted: str, timeout: float = 30.0) -> str:
        """Waits until `wanted` appears after what was expected before; returns the text up to it."""
        deadline = time.monotonic() + timeout
        while wanted not in self.text[self.seen:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{wanted!r} did not appear; the screen:\n{self.text[-3000:]}")
            self._read(0.05)
        at = self.text.index(wanted, self.seen) + len(wanted)
        before, self.seen = self.text[self.seen:at], at
        return before

    def settle(self, seconds: float = 0.3) -> None:
        """Reads what the REPL draws for a moment (a completion menu appears after a keystroke)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read(0.05)

    def send(self, keys: str, settle: float = 0.3) -> None:
        os.write(self.master, keys.encode())
        self.settle(settle)

    def close(self) -> None:
        os.write(self.master, b"\x03\x04")
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path):
    opened = []

    def start(*args: str) -> Terminal:
        opened.append(Terminal(tmp_path, *args))
        return opened[-1]

    yield start
    for t in opened:
        t.close()


# ---------------------------------------------------------------- in a pseudo-terminal


def test_typing_the_indentation_enter_suggests_does_not_double_it(terminal):
    """Each line typed with its own four spaces, as people type Python: the auto-indent is replaced, not added
    to (it used to give 8 spaces, then 12, and an indentation error), and no menu pops up on the new lines."""
    t = terminal()
    for line in ["def f(x):", "    let a = x * 2.0", "    if a > 1.0:", "        a = a + 1.0", "    return a"]:
        t.send(line + "\r")
    typing = t.text[t.seen:]
    t.send("\r")
    t.expect("defined f")
    assert not any(name in typing for name in ("while", "elif", "tanh", "pow")), "a completion menu popped up"
    t.send("f(3.0)\r")
    assert t.expect("7.0\n")


def test_a_def_pasted_without_bracketed_paste(terminal):
    """The whole def arrives at once as keystrokes (a terminal without bracketed paste): every line's own
    indentation, a blank line inside the body, a block and a dedent after it, then more entries."""
    t = terminal()
    t.send("def g(x):\r    let a = x\r\r    if a > 0.0:\r        a = a * 2.0\r    return a\r\rg(3.0)\rg(-1.0)\r",
           settle=0.1)
    t.expect("defined g")
    t.expect("6.0")
    t.expect("-1.0")
    assert "error" not in t.text


def test_tab_indents_a_level_and_backspace_removes_one(terminal):
    t = terminal()
    t.send("def h(x):\r")
    t.send("\x7f")  # Backspace: from the suggested 4 spaces to none
    t.send("\t")  # Tab: back to 4
    t.send("if x > 0.0:\r")  # Enter suggests 8
    t.send("x = x * 2.0\r")
    t.send("\x7f")  # one level back: 4 (one space would leave 7, an indentation error)
    t.send("return x\r")
    t.send("\r")
    t.expect("defined h")
    t.send("h(2.0)\r")
    t.expect("4.0")
    assert "error" not in t.text


def test_completion_of_run_arguments_and_load_paths(terminal):
    t = terminal()
    t.send(":load programs/le")
    t.send("\t")  # the one folder that starts so: programs/lecture/
    t.send("fo")
    t.send("\t")  # foo.ad
    t.send("\r")
    t.expect("loaded programs/lecture/foo.ad: foo")
    t.send(":run fo")
    t.send("\t")  # foo
    t.send(" ")
    t.send("\t")  # x=, the first parameter
    t.send("2 ")
    t.send("\t")  # y=, the one left
    t.send("3 --g")
    t.send("\t")  # --grad
    t.send(" x,")
    t.send("\t")  # y, the parameter not named yet
    t.send("\r")
    out = t.expect("steps")
    assert "foo(x=2.0, y=3.0)" in out and "gradient (reverse mode)" in out
    assert re.search(r"y\s+7\.0", out)


# ---------------------------------------------------------------- the pieces


def test_enter_indents_as_the_line_before_and_one_level_after_a_colon():
    assert next_indent("def f(x):") == "    "
    assert next_indent("    let a = x") == "    "
    assert next_indent("    for i in 0..n:  # loop") == "        "
    assert next_indent("        return a") == "        "


def test_tab_and_backspace_move_by_levels():
    assert [len(indent_to_next_level(" " * n)) for n in (0, 1, 3, 4, 6)] == [4, 3, 1, 4, 2]
    assert [dedent_count(" " * n) for n in (1, 3, 4, 6, 8)] == [1, 3, 4, 2, 4]


def keys(text: str) -> list[KeyPress]:
    return [KeyPress(Keys.ControlM if ch == "\r" else ch, ch) for ch in text]


def test_a_blank_line_is_inside_a_def_only_when_an_indented_line_is_waiting():
    assert pasted_line_follows(keys("    return a\r"))
    assert not pasted_line_follows(keys("g(3.0)\r"))
    assert not pasted_line_follows(keys("\r    return a\r"))  # a second blank line ends it
    assert not pasted_line_follows([])  # typed by hand: nothing waiting


CTX = Context({"foo": ("x", "y"), "fit": ("xs", "ys", "w")}, ("z",))


def matching(text: str, requested: bool = False, ctx: Context = CTX) -> list[str]:
    return offer(text, ctx, requested).matching()


def test_run_offers_the_parameters_not_given_then_the_flags():
    assert matching(":run foo ")[:3] == ["x=", "y=", "--grad"]
    assert matching(":run foo x=2 ")[0] == "y="
    assert matching(":run foo x=2 y=3 ") == list(RUN_FLAGS)
    assert matching(":run foo x=2 --") == list(RUN_FLAGS)
    assert matching(":run foo x=2 --gr") == ["--grad"]
    assert matching(":run f") == ["foo", "fit"]
    assert matching(":run foo x=") == []  # a value: nothing to offer


def test_flag_values_are_offered_after_their_flag():
    assert matching(":run foo x=2 y=3 --grad ") == ["x", "y"]
    assert matching(":run foo x=2 y=3 --grad x,") == ["y"]
    assert matching(":run foo x=1 y=1 --mode rev") == ["reverse", "reverse-over-reverse", "reverse-over-forward"]
    assert "interp" in matching(":run foo --engine ")
    assert matching(":step fit xs=[1] wrt ") == ["xs", "ys", "w"]
    assert matching(":diff foo ")[:1] == ["wrt"] and not any("=" in w for w in matching(":diff foo "))


def test_load_offers_folders_and_programs(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "a.ad").write_text("")
    (tmp_path / "b.txt").write_text("")
    (tmp_path / ".hidden").mkdir()
    monkeypatch.chdir(tmp_path)
    assert paths("") == ["a.ad", "data/"]
    assert matching(":load ") == ["a.ad", "data/"]
    assert matching(":load da") == ["data/"]
    assert paths(str(tmp_path) + "/a") == [str(tmp_path / "a.ad")]


def test_builtins_only_inside_expressions_and_nothing_on_blank_lines():
    assert "sqrt" in matching("sq") and "sqrt" in matching("let a = sq")
    assert "sqrt" not in matching(":run foo sq") and "sqrt" not in matching(":load sq")
    assert matching(":r") == [":reload", ":run"]
    assert matching("let a = 1 + ") == []  # nothing pops up after a space while typing ...
    assert "z" in matching("let a = 1 + ", requested=True)  # ... Tab asks
    assert matching("def f(x):\n") == [] and matching("def f(x):\n    ") == []
    assert matching("def f(x):\n    ", requested=True) == []


def test_inside_a_def_statement_words_then_its_own_names():
    text = "def fit2(xs: vec, w):\n    let acc, n = 0.0, 0\n    for i in 0..len(xs):\n        "
    assert matching(text + "re")[0] == "return"  # a statement word first on a line
    inside = matching(text + "acc = a")
    assert inside[0] == "acc" and "abs" in inside and "and" in inside and "let" not in inside
    assert {"acc", "n", "xs", "w", "i"} <= set(matching(text + "let b = ", requested=True))
    assert matching("def g(x: ve") == ["vec"]
