"""What the command line shows: errors (text with a caret, or JSON), values as JSON, and runs for a person.

Everything that decides the bytes the spec fixes (the error line, the JSON
objects, non-finite floats as strings) lives here, apart from the argument
handling in `cli`, so it can be tested without running a program.
"""

from __future__ import annotations

import math
import sys
from dataclasses import field
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from adlang.lang.errors import AdlangError, UsageError
from adlang.lang.record import mutable_record
from adlang.lang.span import Span
from adlang.plain import PIPE_WIDTH, RULE, Grid, Line, Piece, Raw, plain_chunks, writes_plain

if TYPE_CHECKING:
    from rich.console import Console

# ---------------------------------------------------------------- errors


def format_error(err: AdlangError, filename: str | None, source: str | None) -> str:
    """`FILE:LINE:COL: KIND error: MESSAGE`, the source line and a caret; usage errors have no place."""
    if err.kind == "usage":
        return usage_line(err.message)
    return _located(f"{err.kind} error: {err.message}", err.span, filename, source)


def format_warning(message: str, span: Span | None, filename: str | None, source: str | None) -> str:
    """`FILE:LINE:COL: warning: MESSAGE`, the source line and a caret, as an error is shown."""
    return _located(f"warning: {message}", span, filename, source)


def _located(what: str, span: Span | None, filename: str | None, source: str | None) -> str:
    """`FILE:LINE:COL: WHAT` and the source excerpt; `FILE: WHAT` where there is no place."""
    span = _place(span)
    if span is None:
        return f"{filename or 'adlang'}: {what}"
    head = f"{filename}:{span.line}:{span.col}: {what}"
    text = source_line(source, span.line)
    return head if text is None else f"{head}\n{excerpt(text, span)}"


def usage_line(message: str) -> str:
    return f"adlang: usage error: {message}"


def internal_line(message: str) -> str:
    return f"adlang: internal error: {message}"


def source_line(source: str | None, line: int) -> str | None:
    """Line `line` (1-based) as it is in the file, without its line ending."""
    if source is None:
        return None
    lines = source.split("\n")
    if not 1 <= line <= len(lines):
        return None
    return lines[line - 1].rstrip("\r")


SHOWN_CHARS = 160  # of a long source line, the part around the error that is shown


def excerpt(text: str, span: Span) -> str:
    """The source line and its carets; a line longer than SHOWN_CHARS is cut to a window around the
    error's column, marked with `...` where it was cut."""
    if len(text) <= SHOWN_CHARS:
        return f"{text}\n{caret_line(text, span)}"
    first = max(0, min(span.col - 1 - SHOWN_CHARS // 3, len(text) - SHOWN_CHARS))
    last = first + SHOWN_CHARS
    before = "... " if first > 0 else ""
    after = " ..." if last < len(text) else ""
    shifted = Span(span.line, span.col - first + len(before),
                   span.end_line, min(span.end_col, last) - first + len(before))
    shown = before + text[first:last] + after
    return f"{shown}\n{caret_line(shown[: len(before) + last - first], shifted)}"


def caret_line(text: str, span: Span) -> str:
    """Carets under columns col..end_col of `text`; tabs are copied so they line up in a terminal."""
    start = max(span.col, 1)
    end = span.end_col if span.end_line == span.line and span.end_col >= start else start
    end = max(start, min(end, len(text)))
    prefix = "".join("\t" if ch == "\t" else " " for ch in text[: start - 1])
    prefix += " " * (start - 1 - len(prefix))
    return prefix + "^" * (end - start + 1)


def _place(span: Span | None) -> Span | None:
    """The span if it points into a file (the IR's NO_SPAN, line 0, does not)."""
    return span if span is not None and span.line >= 1 else None


def error_object(err: AdlangError) -> dict[str, Any]:
    """The spec's `{"error": {...}}`; line and column are null for usage errors."""
    span = None if err.kind == "usage" else _place(err.span)
    return _error(err.kind, err.message, span)


def internal_error_object(message: str) -> dict[str, Any]:
    return _error("internal", message, None)


def _error(kind: str, message: str, span: Span | None) -> dict[str, Any]:
    return {
        "error": {
            "kind": kind,
            "message": message,
            "line": span.line if span else None,
            "column": span.col if span else None,
        }
    }


# ---------------------------------------------------------------- JSON


def to_json_value(value: Any) -> Any:
    """Plain JSON data: numpy scalars and arrays to Python, tuples to lists, non-finite floats to strings."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _json_float(float(value))
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and np.isfinite(value).all():
            return value.tolist()  # plain floats already: no element-by-element pass (a 10^6-element gradient)
        return to_json_value(value.tolist())
    if isinstance(value, (list, tuple)):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    raise TypeError(f"no JSON form for a {type(value).__name__}")


def _json_float(x: float) -> float | str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def dump_json(obj: Any) -> str:
    """One line of JSON; fails rather than writing NaN, which is not JSON."""
    import json  # only for --json: a run in text starts without it

    return json.dumps(to_json_value(obj), allow_nan=False)


@mutable_record
class RunReport:
    """What one `adlang run` produced, whichever way it was computed."""

    function: str
    args: dict[str, Any]
    value: Any
    steps: int
    grad: dict[str, Any] | None = None
    hessian: dict[str, Any] | None = None
    trace: list[Any] | None = None
    mode: str | None = None
    tape_peak: int | None = None  # with --grad: the most values the tapes held at once
    recomputed: int | None = None  # with --grad: loop iterations run again
    loops: list[Any] = field(default_factory=list)  # with --checkpoint: one LoopStats per checkpointed loop
    jacobian: dict[str, Any] | None = None  # with a Jacobian: per parameter, rows of the result's elements
    direction: dict[str, Any] | None = None  # with --hvp: u, a part per parameter
    hvp: dict[str, Any] | None = None  # with --hvp: H u, a part per parameter


def run_object(report: RunReport) -> dict[str, Any]:
    """The spec's JSON object for a run; grad, hessian and trace only when asked for."""
    obj: dict[str, Any] = {
        "function": report.function,
        "args": to_json_value(report.args),
        "value": to_json_value(report.value),
    }
    if report.grad is not None:
        obj["grad"] = to_json_value(report.grad)
    if report.hessian is not None:
        obj["hessian"] = to_json_value(report.hessian)
    if report.jacobian is not None:
        obj["jacobian"] = to_json_value(report.jacobian)
    if report.hvp is not None:
        obj["direction"] = to_json_value(report.direction)
        obj["hvp"] = to_json_value(report.hvp)
    if report.trace is not None:
        obj["trace"] = [trace_object(entry) for entry in report.trace]
    obj["stats"] = stats_object(report)
    return obj


def stats_object(report: RunReport) -> dict[str, Any]:
    """The JSON `stats` of a run: steps, tape peak, recomputations, the checkpointed loops."""
    stats: dict[str, Any] = {"steps": int(report.steps)}
    if report.tape_peak is not None:
        stats["tape_peak"] = int(report.tape_peak)
    if report.recomputed is not None:
        stats["recomputed"] = int(report.recomputed)
    if report.loops:
        stats["checkpoint"] = [
            {"line": loop.line, "loop": "while" if loop.counted else "for", "strategy": loop.strategy,
             "trips": loop.trips, "recomputed": loop.recomputed, "predicted": loop.predicted}
            for loop in report.loops
        ]
    return stats


def check_save_path(path: str) -> None:
    if not path.endswith(".npz"):
        raise UsageError(f"--save writes a numpy .npz file; give a name ending in .npz, not '{path}'")


def save_arrays(path: str, report: RunReport) -> None:
    """`run --save FILE.npz`: the value, gradient, Hessian and Jacobian as numpy arrays, every element kept."""
    check_save_path(path)
    arrays: dict[str, Any] = {}
    values = report.value if isinstance(report.value, tuple) else (report.value,)
    for k, item in enumerate(values):
        arrays["value" if len(values) == 1 else f"value_{k}"] = np.asarray(item)
    for name, value in (report.grad or {}).items():
        arrays[f"grad_{name}"] = np.asarray(value)
    for p, row in (report.hessian or {}).items():
        for q, block in row.items():
            arrays[f"hessian_{p}_{q}"] = np.asarray(block)
    for name, value in (report.hvp or {}).items():
        arrays[f"hvp_{name}"] = np.asarray(value)
    for name, blocks in (report.jacobian or {}).items():
        for k, block in enumerate(blocks if isinstance(blocks, list) else [blocks]):
            arrays[f"jacobian_{name}" if not isinstance(blocks, list) else f"jacobian_{name}_{k}"] = block
    try:
        np.savez(path, **arrays)
    except OSError as err:
        raise UsageError(f"--save cannot write '{path}': {err.strerror or err}") from None


def trace_object(entry: Any) -> dict[str, Any]:
    """The spec's name, value and line; a convention note (abs at 0, a tie) only where there is one."""
    obj = {"name": entry.name, "value": to_json_value(entry.value), "line": int(entry.line)}
    note = getattr(entry, "note", None)
    if note:
        obj["note"] = note
    return obj


# ---------------------------------------------------------------- values for a person


def format_value(value: Any) -> str:
    """A value as adlang writes it, floats at full precision (3.536921536500002, not 3.537)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return format_value(value.item())
    if isinstance(value, tuple):
        return "(" + ", ".join(format_value(item) for item in value) + ")"
    if isinstance(value, (list, np.ndarray)):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    return str(value)


def format_mat(value: np.ndarray, limit: int = 8) -> str:
    """A mat for people: a row per line; past `limit` rows or columns, the first and last ones and the shape."""
    rows, cols = value.shape

    def cut(n: int) -> list[int | None]:
        return list(range(n)) if n <= limit else [*range(limit // 2), None, n - 2, n - 1]

    lines = []
    for i in cut(rows):
        if i is None:
            lines.append(" ...")
            continue
        cells = ["..." if j is None else format_value(value[i, j]) for j in cut(cols)]
        lines.append(" [" + ", ".join(cells) + "]")
    text = "[" + ",\n".join(lines)[1:] + "]"
    return text + f" ({rows}x{cols} mat)" if rows > limit or cols > limit else text


def format_short(value: Any, limit: int = 8) -> str:
    """Like format_value, but a long vec shows its ends and its length, and a mat only its shape when large
    (for the call line)."""
    if isinstance(value, np.ndarray) and value.ndim == 2 and value.size > limit:
        return f"<{value.shape[0]}x{value.shape[1]} mat>"
    if isinstance(value, np.ndarray) and value.ndim == 1 and len(value) > limit:
        head = ", ".join(format_value(x) for x in value[: limit // 2])
        tail = ", ".join(format_value(x) for x in value[-2:])
        return f"[{head}, ..., {tail}] ({len(value)} values)"
    return format_value(value)


# Past this many elements a vec is shown by its ends and a summary; --json and --save keep every element.
LONG_VEC = 20


def format_summary(value: Any) -> str:
    """A value for a person: a long vec as its ends, its length, min, max and norm (as numpy summarises); a mat
    a row per line (summarised when large)."""
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return format_mat(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(format_summary(item) for item in value) + ")"
    if isinstance(value, np.ndarray) and value.ndim == 1 and len(value) > LONG_VEC:
        head = ", ".join(format_value(x) for x in value[:3])
        tail = ", ".join(format_value(x) for x in value[-2:])
        finite = value[np.isfinite(value)]
        stats = (f"min {format_value(finite.min())}, max {format_value(finite.max())}, "
                 f"norm {format_value(float(np.linalg.norm(finite)))}" if finite.size else "no finite element")
        return f"[{head}, ..., {tail}] (length {len(value):,}; {stats})"
    return format_value(value)


def call_line(function: str, args: dict[str, Any]) -> str:
    """`foo(x=2.0, y=3.0)`."""
    return f"{function}(" + ", ".join(f"{k}={format_short(v)}" for k, v in args.items()) + ")"


def make_console(file: TextIO | None = None) -> Console:
    """A console that never cuts a number: generous width off a terminal, no markup or emoji parsing."""
    from rich.console import Console

    file = file or sys.stdout
    width = None if _is_terminal(file) else PIPE_WIDTH
    return Console(file=file, width=width, highlight=False, markup=False, emoji=False)


def _is_terminal(file: TextIO) -> bool:
    isatty = getattr(file, "isatty", None)
    return bool(isatty and isatty())


def show_run(report: RunReport, file: TextIO | None = None) -> None:
    """A run as `adlang run` prints it: through rich at a terminal, as the same bytes without it in a pipe."""
    file = file or sys.stdout
    pieces = run_pieces(report)
    chunks = plain_chunks(pieces) if writes_plain(file) else None
    if chunks is None:
        render(make_console(file), pieces)
    else:
        file.writelines(chunks)


def print_run(console: Console, report: RunReport) -> None:
    """The call, its value and, when asked for, gradient, Hessian and trace as tables."""
    render(console, run_pieces(report))


def run_pieces(report: RunReport) -> list[Piece]:
    """What print_run shows, line by line and table by table."""
    pieces: list[Piece] = [
        Line.of(call_line(report.function, report.args), "bold"),
        Line((("value", "bold cyan"), (" = ", None), (format_summary(report.value), None))),
    ]
    if report.grad is not None:
        pieces += _section(_titled("gradient", report.mode), gradient_table(report.grad))
    if report.hessian is not None:
        pieces += _section(_titled("hessian", report.mode), hessian_table(report.hessian))
    if report.hvp is not None:
        pieces += _section(_titled("hessian-vector product H u", report.mode), hvp_table(report))
    for name, blocks in (report.jacobian or {}).items():
        for k, block in enumerate(blocks if isinstance(blocks, list) else [blocks]):
            item = f", result item {k}" if isinstance(blocks, list) else ""
            pieces += _section(f"jacobian with respect to {name}{item} (rows: the result's elements)",
                               jacobian_table(block))
    if report.trace is not None:
        pieces += _trace(report.trace)
    pieces.append(Line.of(""))
    stats = f"{report.steps} step{'s' if report.steps != 1 else ''}"
    if report.tape_peak:  # the JSON always has both; the text only where there is something to say
        stats += f", tape peak: {report.tape_peak} value{'s' if report.tape_peak != 1 else ''}"
    if report.recomputed:
        stats += f", recomputed: {report.recomputed} loop iteration{'s' if report.recomputed != 1 else ''}"
    pieces.append(Line.of(stats, "dim", wrap=True))
    pieces += [Line.of(loop_line(loop), "dim") for loop in report.loops]
    return pieces


def render(console: Console, pieces: list[Piece]) -> None:
    """Pieces through rich: styled lines, tables with a rule under the header."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    for piece in pieces:
        if isinstance(piece, Raw):
            console.file.write(piece.text)
        elif isinstance(piece, Line):
            console.print(Text.assemble(*piece.parts), soft_wrap=not piece.wrap)
        else:
            table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold")
            for name in piece.columns:
                table.add_column(name, overflow="fold")
            for row in piece.rows:
                table.add_row(*row)
            console.print(table)


def loop_line(loop: Any) -> str:
    """One checkpointed loop: what it recomputed against what its schedule predicts."""
    text = (f"checkpoint {loop.strategy}, loop on line {loop.line}: {loop.trips} trips, "
            f"{loop.recomputed} iterations run again")
    if loop.predicted is None:
        return text + " (in a called function or inside a loop: no single schedule to predict)"
    text += f"; predicted {loop.predicted}"
    if loop.strategy.startswith("revolve") and loop.trips:
        advances = loop.predicted - loop.trips
        text += (f" = {advances} advances (r*l - C(s+r, s+1), Griewank and Walther) "
                 f"+ {loop.trips} taped re-runs, one per reversed iteration")
    elif loop.strategy != "none" and loop.trips:
        text += " (every segment run again, taped, before it is reversed)"
    if loop.counted and loop.trips:
        text += f"; a while loop: {loop.trips} of them counted its trips first"
    return text


def _section(title: str, table: Grid) -> list[Piece]:
    """A title on its own line (a table title would wrap to the table's width), then the table."""
    return [Line.of(""), Line.of(title, "bold"), table]


def _trace(trace: list[Any]) -> list[Piece]:
    header, *rows = trace_lines(trace)
    pieces: list[Piece] = [Line.of(""), Line.of("trace", "bold", wrap=True), Line.of(header, "bold"),
                           Line.of(RULE * len(header), "dim")]
    if rows:
        pieces.append(Raw("\n".join(rows) + "\n"))
    return pieces


def _table(*columns: str) -> Grid:
    return Grid(columns)


def gradient_table(grad: dict[str, Any]) -> Grid:
    table = _table("parameter", "derivative")
    for name, value in grad.items():
        table.add_row(name, format_summary(value))
    return table


def hvp_table(report: RunReport) -> Grid:
    table = _table("parameter", "direction u", "H u")
    for name, value in report.hvp.items():
        table.add_row(name, format_summary(report.direction[name]), format_summary(value))
    return table


def jacobian_table(block: Any) -> Grid:
    table = _table("", *(f"[{j}]" for j in range(block.shape[1])))
    for i, row in enumerate(block):
        table.add_row(f"[{i}]", *(format_value(float(x)) for x in row))
    return table


# Past this many rows and columns a Hessian is shown a block per parameter pair, summarised.
WIDE_HESSIAN = 10


def hessian_table(hessian: dict[str, Any]) -> Grid:
    """Row p, column q: d2f/dp dq; a vec parameter takes a row and a column per element (`v[0]`, ...). A wide
    Hessian is a row per block (parameter pair) with its shape and a summary instead."""
    names = list(hessian)
    elements = {p: _elements(hessian[p][p]) for p in names}
    labels = [(p, i) for p in names for i in elements[p]]
    if len(labels) > WIDE_HESSIAN:
        return _hessian_blocks(hessian)
    table = _table("", *(_label(p, i) for p, i in labels))
    for p, i in labels:
        table.add_row(_label(p, i), *(format_value(_entry(hessian[p][q], i, j, elements[p] != [None]))
                                      for q, j in labels))
    return table


def _hessian_blocks(hessian: dict[str, Any]) -> Grid:
    table = _table("block", "shape", "min", "max", "largest |entry| at", "diagonal (first 3)")
    for p in hessian:
        for q in hessian[p]:
            block = np.atleast_2d(np.asarray(hessian[p][q], dtype=float))
            if np.ndim(hessian[p][q]) == 1 and np.ndim(hessian[p][p]) != 2:
                block = block.reshape(1, -1)  # p a float: one row along q's elements
            elif np.ndim(hessian[p][q]) == 1:
                block = block.reshape(-1, 1)
            shape = " x ".join(str(n) for n in block.shape)
            if block.size == 0:
                table.add_row(f"d2f/d{p} d{q}", shape, "", "", "", "")
                continue
            at = np.unravel_index(int(np.argmax(np.abs(block))), block.shape)
            diagonal = ", ".join(format_value(x) for x in np.diagonal(block)[:3]) if p == q else ""
            table.add_row(f"d2f/d{p} d{q}", shape, format_value(block.min()), format_value(block.max()),
                          f"[{at[0]}, {at[1]}]", diagonal)
    return table


def _elements(diagonal: Any) -> list[int | None]:
    """The element indices of a parameter, read off its diagonal block: [None] for a number."""
    return list(range(np.shape(diagonal)[0])) if np.ndim(diagonal) == 2 else [None]


def _label(name: str, element: int | None) -> str:
    return name if element is None else f"{name}[{element}]"


def _entry(block: Any, i: int | None, j: int | None, rows_are_elements: bool) -> Any:
    """One number of a Hessian block (a number, a vec along p's or q's elements, or a matrix)."""
    if np.ndim(block) == 2:
        return block[i][j]
    if np.ndim(block) == 1:
        return block[i] if rows_are_elements else block[j]
    return block


def trace_lines(trace: list[Any]) -> list[str]:
    """The trace as aligned `line  name  value` rows under a header, a convention note after its value.

    Plain text rather than a rich Table: a loop can bind millions of times,
    and a Table measures every cell before drawing.
    """
    rows = [(str(entry.line), entry.name, format_value(entry.value)) for entry in trace]
    notes = [getattr(entry, "note", None) for entry in trace]
    line_w = max([len("line")] + [len(r[0]) for r in rows])
    name_w = max([len("name")] + [len(r[1]) for r in rows])
    lines = [f"{'line':>{line_w}}  {'name':<{name_w}}  value"]
    lines += [
        f"{line:>{line_w}}  {name:<{name_w}}  {value}" + (f"  (note: {note})" if note else "")
        for (line, name, value), note in zip(rows, notes)
    ]
    return lines


def _titled(title: str, mode: str | None) -> str:
    if mode is None:
        return title
    return f"{title} ({mode}{' mode' if '-over-' not in mode else ''})"
