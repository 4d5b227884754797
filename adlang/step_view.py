"""How the stepper's moves look: each binding as the lecture writes it, beside the original line it came from.

Everything is rich Text, so a terminal gets colour and a pipe gets plain
lines (rich writes no escape codes where there is no terminal).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from adlang.interp.events import Event
from adlang.report import format_short, format_value
from adlang.stepper import Move, Stepper

# (line of the session source) -> (file name, line in it, that line's text)
Origin = Callable[[int], tuple[str, int, str]]


def show_move(console: Console, stepper: Stepper, move: Move, origin: Origin, quiet: bool = False) -> None:
    """The tape and call events passed (all of them after `next`, a count after a longer move), then the stop."""
    passed = [e for e in move.passed if e.kind != "bind"]
    skipped = sum(1 for e in move.passed if e.kind == "bind")
    if quiet and (skipped or len(passed) > 6):
        pushes = sum(1 for e in passed if e.kind == "push")
        pops = sum(1 for e in passed if e.kind == "pop")
        console.print(Text(f"  ... passed {skipped} binding(s), {pushes} push(es), {pops} pop(s)", style="dim"))
    else:
        for event in passed:
            console.print(passing_line(event), soft_wrap=True)
    if move.stop is None:
        show_end(console, stepper)
    else:
        show_step(console, stepper, move.stop, origin)


def passing_line(event: Event) -> Text:
    if event.kind == "push":
        return Text(f"  push {event.name} = {format_short(event.value)} onto tape {event.tape}", style="magenta")
    if event.kind == "pop":
        return Text(f"  pop {format_short(event.value)} from tape {event.tape}", style="magenta")
    if event.kind == "call":
        args = ", ".join(f"{k}={format_short(v)}" for k, v in event.value.items())
        return Text(f"  call {event.name}({args})", style="blue")
    return Text(f"  {event.name} returns {format_short(event.value)}", style="blue")


def show_step(console: Console, stepper: Stepper, event: Event, origin: Origin) -> None:
    """`fn:LINE  statement    name = value`, then `file:LINE  original statement` highlighted, then a note."""
    line = stepper.program_line(event)
    code = stepper.text[line - 1].strip() if line else ""
    head = Text.assemble((f"{event.function}:{line}", "dim"), "  ", code, "    ",
                         (f"{event.name} = {format_value(event.value)}", "bold cyan"))
    console.print(head, soft_wrap=True)
    console.print(original_line(event, origin), soft_wrap=True)
    if event.note:
        console.print(Text(f"  note: {event.note}", style="yellow"), soft_wrap=True)


def original_line(event: Event, origin: Origin) -> Text:
    if event.line <= 0:
        return Text("  (no line of the original program)", style="dim")
    name, number, text = origin(event.line)
    return Text.assemble(("  from ", "dim"), (f"{name} line {number}:", "bold"), "  ", (text.strip(), "bold yellow"))


def show_end(console: Console, stepper: Stepper) -> None:
    if stepper.error is not None:
        console.print(Text(f"the run stopped with an error: {stepper.error.message}", style="bold red"))
    else:
        console.print(Text(f"end of the run: {stepper.entry} returned {format_value(stepper.value)}", style="bold"))


def show_where(console: Console, stepper: Stepper, origin: Origin, around: int = 4) -> None:
    event = stepper.current
    if event is None:
        console.print(Text(f"at the start of {stepper.entry} (nothing has run yet; 'next' runs the first binding)"))
        return
    line = stepper.program_line(event)
    for number in range(max(1, line - around), min(len(stepper.text), line + around) + 1):
        marker = "->" if number == line else "  "
        style = "bold cyan" if number == line else ""
        console.print(Text(f"{marker} {number:>4}  {stepper.text[number - 1]}", style=style), soft_wrap=True)
    console.print(original_line(event, origin), soft_wrap=True)


def show_vars(console: Console, stepper: Stepper) -> None:
    rows = stepper.frame_values()
    if not rows:
        console.print(Text("no values yet"))
        return
    name_w = max(len("name"), *(len(r[0]) for r in rows))
    kind_w = max(len("kind"), *(len(r[2]) for r in rows))
    console.print(Text(f"{'name':<{name_w}}  {'kind':<{kind_w}}  value", style="bold"))
    for name, value, kind in rows:
        console.print(Text(f"{name:<{name_w}}  {kind:<{kind_w}}  {format_value(value)}"), soft_wrap=True)


def show_tape(console: Console, stepper: Stepper, origin: Origin) -> None:
    events = stepper.tape_events()
    if not events:
        console.print(Text("the tape is empty: nothing pushed yet"))
        return
    for event in events:
        where = f"line {origin(event.line)[1]}" if event.line > 0 else ""
        verb = f"push {event.name}" if event.kind == "push" else "pop"
        style = "magenta" if event.kind == "push" else "green"
        console.print(Text(f"  {verb:<12} tape {event.tape}  {format_short(event.value):<24} {where}", style=style),
                      soft_wrap=True)
    for number, stack in sorted(stepper.tapes().items()):
        items = ", ".join(format_short(v) for v in stack)
        console.print(Text(f"tape {number} now holds {len(stack)} value(s): [{items}]", style="bold"), soft_wrap=True)
