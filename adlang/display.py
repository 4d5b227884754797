"""How programs, results and errors look in a notebook: highlighted code and HTML tables.

IPython calls `_repr_html_` on what a cell returns; the API's objects (Program, Code, Result, CheckOutcome,
OptimizeResult, Error) answer through these functions, so every display is made in one place. Numbers are
written at full precision, as the command line writes them; in HTML a vec longer than LONG_VEC elements
shows its first and last elements and its length, and a trace longer than TRACE_ROWS entries its first
ones (the objects' attributes always hold everything).
"""

from __future__ import annotations

import html
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter

from adlang.lexer import AdlangLexer
from adlang.optimize import outcome_line
from adlang.report import format_short, format_value

LONG_VEC = 12
TRACE_ROWS = 200

_TABLE = 'style="border-collapse: collapse; margin: 0.2em 0 0.6em 0"'
_CELL = 'style="border: 1px solid #ccc; padding: 0.15em 0.6em; text-align: {align}"'
_OK = "#1b7f3b"
_BAD = "#b00020"


def code_html(text: str) -> str:
    """adlang source, highlighted with the project's lexer (styles inline, so no stylesheet is needed)."""
    return highlight(text, AdlangLexer(), HtmlFormatter(noclasses=True, nobackground=True))


def program_html(program: Any) -> str:
    """A Program: where it came from and its functions, then its source highlighted."""
    names = ", ".join(program.functions)
    head = (f"<p><small>adlang program <code>{html.escape(program.filename)}</code>: "
            f"{html.escape(names)}</small></p>")
    return head + code_html(program.source)


def error_html(err: Any) -> str:
    """An error as the command line shows it: the place, the message, the source line and the caret."""
    return f'<pre style="color: {_BAD}">{html.escape(err.text)}</pre>'


def value_html(value: Any) -> str:
    """A value at full precision, a long vec shortened to its ends and its length."""
    return html.escape(format_short(value, LONG_VEC))


def _table(title: str | None, header: list[str] | None, rows: list[list[str]], note: str = "") -> str:
    """A bordered table (without a header row if `header` is None); cells after the first are code,
    right-aligned (numbers)."""

    def cell(tag: str, text: str, first: bool) -> str:
        align = "left" if first else "right"
        inner = html.escape(text) if tag == "th" or first else f"<code>{html.escape(text)}</code>"
        return f"<{tag} {_CELL.format(align=align)}>{inner}</{tag}>"

    head = "" if header is None else "<tr>" + "".join(cell("th", h, i == 0) for i, h in enumerate(header)) + "</tr>"
    body = "".join("<tr>" + "".join(cell("td", c, i == 0) for i, c in enumerate(row)) + "</tr>" for row in rows)
    caption = f"<p><b>{html.escape(title)}</b></p>" if title else ""
    after = f"<p><small>{html.escape(note)}</small></p>" if note else ""
    return f"{caption}<table {_TABLE}>{head}{body}</table>{after}"


def _call(function: str, args: dict[str, Any]) -> str:
    return f"{function}(" + ", ".join(f"{k}={format_short(v, LONG_VEC)}" for k, v in args.items()) + ")"


def result_html(result: Any) -> str:
    """A run: the call and its value, then gradient, Hessian, trace and the run's statistics."""
    parts = [f"<p><code>{html.escape(_call(result.function, result.args))}</code> = "
             f"<code>{value_html(result.value)}</code></p>"]
    if result.grad is not None:
        parts.append(_table("gradient", ["parameter", "derivative"],
                            [[name, format_short(value, LONG_VEC)] for name, value in result.grad.items()]))
    if result.hessian is not None:
        names = list(result.hessian)
        parts.append(_table("Hessian", ["", *names],
                            [[p, *(format_value(result.hessian[p][q]) for q in names)] for p in names]))
    if result.hvp is not None:
        parts.append(_table("Hessian-vector product H u", ["parameter", "direction u", "H u"],
                            [[name, format_short(result.direction[name], LONG_VEC), format_short(value, LONG_VEC)]
                             for name, value in result.hvp.items()]))
    for name, blocks in (result.jacobian or {}).items():
        for k, block in enumerate(blocks if isinstance(blocks, list) else [blocks]):
            item = f", result item {k}" if isinstance(blocks, list) else ""
            header = ["", *(f"[{j}]" for j in range(block.shape[1]))]
            rows = [[f"[{i}]", *(format_value(float(x)) for x in row)] for i, row in enumerate(block)]
            parts.append(_table(f"Jacobian with respect to {name}{item}", header, rows))
    if result.trace is not None:
        shown = result.trace[:TRACE_ROWS]
        more = len(result.trace) - len(shown)
        note = f"... and {more} more entries (all of them are in .trace)" if more else ""
        parts.append(_table("trace", ["name", "value", "line"],
                            [[e["name"], format_short(e["value"], LONG_VEC), str(e["line"])] for e in shown],
                            note))
    parts.append(f"<p><small>{html.escape(stats_text(result.stats))}</small></p>")
    return "".join(parts)


def stats_text(stats: dict[str, Any]) -> str:
    """`23 steps, tape_peak 9, recomputed 0`, and each checkpointed loop's strategy and trips."""
    steps = stats["steps"]
    words = [f"{steps} step{'s' if steps != 1 else ''}"]
    words += [f"{key} {value}" for key, value in stats.items() if key not in ("steps", "checkpoint")]
    for loop in stats.get("checkpoint") or []:
        words.append(f"line {loop['line']}: {loop['strategy']} over {loop['trips']} trips, "
                     f"{loop['recomputed']} recomputed")
    return ", ".join(words)


def check_html(outcome: Any) -> str:
    """`check`: forward, reverse and central differences side by side, each row marked ok or DIFFERENT; a long
    table summarised as the terminal's is (`CheckOutcome.shown_rows`)."""
    rows = outcome.table_rows(format_value)
    notes = "; ".join(outcome.notes("every row is in .rows and .to_json()"))
    first, one, other, apart = outcome.columns
    table = _table(outcome.title, [first, one, other, "finite diff.", apart, "vs finite diff.", ""], rows, notes)
    verdict = ("they agree" if outcome.ok else "they differ") + (
        f" ({outcome.columns[1]} vs {outcome.columns[2]} within {outcome.modes_tol:g}, vs finite differences within "
        f"{outcome.fd_tol:g})")
    color = _OK if outcome.ok else _BAD
    return f'{table}<p style="color: {color}">{html.escape(verdict)}</p>'


def optimize_html(result: Any) -> str:
    """`optimize`: the parameters found, the loss, the gradient norm, and how the search ended."""
    params = _table(f"{result.function} minimized with {result.method}", ["parameter", "value"],
                    [[name, format_short(value, LONG_VEC)] for name, value in result.params.items()])
    facts = _table(None, None, [["loss", format_value(result.loss)],
                                    ["gradient norm", format_value(result.grad_norm)],
                                    ["steps", str(result.steps)]])
    color = _OK if result.converged else "#8a6d00"
    history = ""
    if len(result.history) > 1:
        history = (f"<p><small>loss history: {len(result.history)} values, from "
                   f"<code>{format_value(result.history[0])}</code> to "
                   f"<code>{format_value(result.history[-1])}</code> (all in .history)</small></p>")
    return f'{params}{facts}<p style="color: {color}">{html.escape(outcome_line(result))}</p>{history}'


def sweep_html(outcome: Any) -> str:
    """`check --sweep`: each element's differences against h, then the log-log plot inline (a PNG where
    matplotlib is installed, else the text plot)."""
    import base64
    import io

    from adlang.lang.errors import UsageError
    from adlang.sweep import figure, matplotlib_pyplot

    parts = []
    for param in outcome.params():
        rows = [["AD", format_value(outcome.ad[param]), "", format_value(outcome.ad[param]), "", "the derivative"]]
        rows += [[_sweep_h(r.h), _sweep_number(r.forward, r.h), _sweep_error(r.forward_error),
                  _sweep_number(r.central, r.h), _sweep_error(r.central_error), r.note] for r in outcome.rows_of(param)]
        parts.append(_table(f"finite differences of {outcome.function} against h, d/d{param}",
                            ["h", "one-sided", "error", "central", "error", "note"], rows))
    try:
        plt = matplotlib_pyplot()
    except UsageError:
        plots = "".join(f"<pre>{html.escape(outcome.text_plot(p))}</pre>" for p in outcome.params())
        return "".join(parts) + plots
    fig = figure(outcome)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    image = base64.b64encode(buffer.getvalue()).decode("ascii")
    return "".join(parts) + f'<img src="data:image/png;base64,{image}" alt="error against h, log-log"/>'


def _sweep_h(h: float) -> str:
    return "0" if h == 0 else f"{h:.0e}"


def _sweep_number(value: float | None, h: float) -> str:
    if value is None:
        return "ERR: DIV BY 0" if h == 0 else "-"
    return format_value(value)


def _sweep_error(value: float | None) -> str:
    return "" if value is None else f"{value:.1e}"


def compare_html(outcome: Any) -> str:
    """`compare`: each derivative by the three ways, their sizes and steps, then the formulas (or why none)."""
    sym, fd = outcome.symbolic, outcome.finite_differences
    rows = []
    for p in outcome.params:
        rows.append([f"d/d{p}", format_value(sym.value[p]) if sym.ok and sym.value[p] is not None else "-",
                     format_value(fd.value[p]) if fd.value[p] is not None else "-",
                     format_value(outcome.forward.value[p]), format_value(outcome.reverse.value[p])])
    rows.append(["size", f"{sym.operations} operations" if sym.ok else "-", f"{fd.evaluations} evaluations",
                 f"{outcome.forward.operations} operations", f"{outcome.reverse.operations} operations"])
    rows.append(["steps", "", "", str(outcome.forward.steps), str(outcome.reverse.steps)])
    table = _table(f"three ways to the derivative of {outcome.function}",
                   ["", "symbolic", f"finite differences (h = {fd.h:.1e})", "forward mode", "reverse mode"], rows)
    if sym.ok:
        formulas = "".join(f"<p><code>d{html.escape(outcome.function)}/d{html.escape(p)} = {html.escape(f)}</code></p>"
                           for p, f in sym.formula.items())
    else:
        formulas = f"<p>symbolic: no formula: {html.escape(sym.reason or '')}</p>"
    return table + formulas
