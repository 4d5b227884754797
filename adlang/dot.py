"""Graphviz: a graph as DOT text (our own writer), and drawn as SVG or PNG by Graphviz's `dot` program.

The text is written in one fixed order (the graph's nodes, clusters and edges
as built), so the same graph gives the same bytes. Drawing needs the `dot`
executable; without it, asking for a picture is a usage error that says how
to install it, and the DOT text is still there (paste it into any Graphviz
viewer).
"""

from __future__ import annotations

import html as html_text
import shutil
import subprocess
from typing import Any

from adlang.lang.errors import RuntimeFault, UsageError

FORMATS = ("dot", "svg", "png")
SUFFIXES = {"dot": "dot", "gv": "dot", "svg": "svg", "png": "png"}
INSTALL = ("install Graphviz (apt install graphviz, brew install graphviz, conda install graphviz, or "
           "https://graphviz.org/download/)")
DRAW_SECONDS = 120

BLUE = "#1f6fb2"
RED = "#c0392b"
GRAY = "#666666"

_NODE_STYLE = {
    "param": 'shape=ellipse, style=filled, fillcolor="#eef2f7"',
    "op": 'shape=box, style=rounded',
    "control": "shape=diamond",
    "loop": "shape=ellipse, style=dashed",
    "return": "shape=box, peripheries=2",
}
_EDGE_STYLE = {
    "data": "",
    "tangent": f'color="{BLUE}"',
    "carried": f'style=dashed, constraint=false, label="next trip", fontcolor="{GRAY}"',
    "carried_tangent": f'color="{BLUE}", style=dashed, constraint=false, label="next trip", fontcolor="{GRAY}"',
    "tape": f'style=dotted, label="tape", fontcolor="{GRAY}"',
    "adjoint": f'color="{RED}", style=dashed, dir=back',
}


# ---------------------------------------------------------------- the text


def write(graph: Any) -> str:
    """The graph (adlang.graph.Graph) as DOT text."""
    lines = [
        "digraph adlang {",
        f'  graph [fontname="Helvetica", fontsize=12, labelloc=t, label=<{_lines(graph.title)}>];',
        '  node [fontname="Courier", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    inside: dict[str | None, list[Any]] = {}
    for node in graph.nodes:
        inside.setdefault(node.cluster, []).append(node)
    children: dict[str | None, list[Any]] = {}
    for cluster in graph.clusters:
        children.setdefault(cluster.parent, []).append(cluster)

    def emit(parent: str | None, depth: int) -> None:
        pad = "  " * depth
        for node in inside.get(parent, []):
            lines.append(f"{pad}{node.id} [{_node_style(node)}, label=<{_node_label(node, graph.mode)}>];")
        for cluster in children.get(parent, []):
            lines.append(f"{pad}subgraph {cluster.id} {{")
            lines.append(f'{pad}  graph [style="rounded,dashed", color="{GRAY}", fontcolor="{GRAY}", '
                         f"label=<{_escape(cluster.label)}>];")
            emit(cluster.id, depth + 1)
            lines.append(f"{pad}}}")

    emit(None, 1)
    for edge in graph.edges:
        style = _EDGE_STYLE[edge.kind]
        if edge.label and "label=" not in style:
            style = ", ".join(s for s in (style, f'label="{edge.label}"') if s)
        lines.append(f"  {edge.source} -> {edge.target}{f' [{style}]' if style else ''};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_style(node: Any) -> str:
    if node.kind == "control" and not node.text.startswith(("if ", "while ")):
        return _NODE_STYLE["loop"]
    return _NODE_STYLE[node.kind]


def _node_label(node: Any, mode: str | None) -> str:
    parts = [_escape(node.text)]
    if node.value is not None:
        parts.append(f'<FONT COLOR="{GRAY}">= {_escape(node.value)}</FONT>')
    color = BLUE if mode == "forward" else RED
    for name, value in node.derivatives:
        text = name if value is None else f"{name} = {value}"
        parts.append(f'<FONT COLOR="{color}">{_escape(text)}</FONT>')
    return "<BR/>".join(parts)


def _lines(lines: tuple[str, ...]) -> str:
    return "<BR/>".join(_escape(line) for line in lines)


def _escape(text: str) -> str:
    return html_text.escape(text, quote=False).replace('"', "&quot;")


# ---------------------------------------------------------------- drawing


def available() -> bool:
    return shutil.which("dot") is not None


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format is dot, svg or png, not '{fmt}'")
    return fmt


def format_for(path: str | None, fmt: str | None) -> str:
    """`fmt` if given, else the suffix of `path` (.dot, .gv, .svg, .png), else DOT text."""
    if fmt is not None:
        return check_format(fmt)
    suffix = path.rpartition(".")[2].lower() if path and "." in path else ""
    return SUFFIXES.get(suffix, "dot")


def need_dot(fmt: str) -> None:
    """A usage error, before any work, where a picture is asked for and Graphviz is not installed."""
    if fmt != "dot" and not available():
        raise UsageError(f"drawing {fmt.upper()} needs Graphviz's dot program, which is not installed: {INSTALL}; "
                         "or ask for the DOT text (no --format, or -o FILE.dot)")


def render(text: str, fmt: str) -> bytes:
    """The DOT text drawn as `fmt` (svg or png) by Graphviz's dot."""
    need_dot(fmt)
    try:
        done = subprocess.run([shutil.which("dot") or "dot", f"-T{fmt}"], input=text.encode("utf-8"),
                              capture_output=True, timeout=DRAW_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeFault(f"Graphviz's dot took more than {DRAW_SECONDS} s to draw the graph; take the DOT "
                           "text instead (leave out --format)") from None
    except OSError as err:
        raise RuntimeFault(f"Graphviz's dot could not be run: {err.strerror or err}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeFault(f"Graphviz's dot could not draw the graph: {message[0] if message else 'no message'}")
    return done.stdout


def save(text: str, path: str, fmt: str) -> None:
    data = text.encode("utf-8") if fmt == "dot" else render(text, fmt)
    try:
        with open(path, "wb") as out:
            out.write(data)
    except OSError as err:
        raise UsageError(f"cannot write '{path}': {err.strerror or err}") from None


def html(text: str) -> str:
    """A notebook's picture: the SVG inline where Graphviz is installed, else the DOT text and how to draw it."""
    if available():
        svg = render(text, "svg").decode("utf-8")
        return svg[svg.find("<svg"):]  # without the XML prolog and doctype, which do not belong inside HTML
    return (f"<p><small>Graphviz's <code>dot</code> is not installed, so here is the DOT text; to see the "
            f"picture, {_escape(INSTALL)}.</small></p><pre>{_escape(text)}</pre>")
