"""How programs, results and errors look in a notebook: highlighted code and HTML tables.

IPython calls `_repr_html_` on what a cell returns; the API's objects answer
through these functions, so every display is made in one place.
"""

from __future__ import annotations

import html
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter

from adlang.lexer import AdlangLexer
from adlang.report import format_value


def code_html(text: str) -> str:
    """adlang source, highlighted with the project's lexer (styles inline, so no stylesheet is needed)."""
    return highlight(text, AdlangLexer(), HtmlFormatter(noclasses=True, nobackground=True))


def error_html(err: Any) -> str:
    """An error as the command line shows it: the place, the message, the source line and the caret."""
    return f'<pre style="color: #b00020">{html.escape(err.text)}</pre>'


def _table(title: str, header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td><code>{html.escape(c)}</code></td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<p><b>{html.escape(title)}</b></p><table><tr>{head}</tr>{body}</table>"


def result_html(result: Any) -> str:
    """A run: the call and its value, then gradient, Hessian and trace as tables where there are any."""
    call = ", ".join(f"{k}={format_value(v)}" for k, v in result.args.items())
    parts = [f"<p><code>{html.escape(result.function)}({html.escape(call)})</code> = "
             f"<code>{html.escape(format_value(result.value))}</code></p>"]
    if result.grad is not None:
        parts.append(_table("gradient", ["parameter", "derivative"],
                            [[name, format_value(value)] for name, value in result.grad.items()]))
    if result.hessian is not None:
        names = list(result.hessian)
        parts.append(_table("hessian", ["", *names],
                            [[p, *(format_value(result.hessian[p][q]) for q in names)] for p in names]))
    if result.trace is not None:
        parts.append(_table("trace", ["line", "name", "value"],
                            [[str(e["line"]), e["name"], format_value(e["value"])] for e in result.trace]))
    steps = result.stats["steps"]
    parts.append(f"<p><small>{steps} step{'s' if steps != 1 else ''}</small></p>")
    return "".join(parts)
