"""`check --sweep`: the lecture's "values of epsilon", finite differences at h = 1e-1 ... 1e-16 and h = 0.

For each parameter element, the one-sided difference (f(x + h) - f(x)) / h and
the central difference (f(x + h) - f(x - h)) / 2h at each h, with their errors
relative to the derivative AD gives (absolute where that derivative is 0).
Truncation error falls with h and rounding error grows as h shrinks, so the
error against h is a V on a log-log plot; h = 0 is the lecture's
"ERR: DIV BY 0" and has no number. A difference whose f fails or is not
finite at x + h or x - h (a domain error, an overflow) is null, with a note;
only f failing at x itself is an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.console import Group
from rich.table import Table
from rich.text import Text

from adlang.derivatives import compute
from adlang.ir import nodes as ir
from adlang.lang.errors import RuntimeFault, UsageError
from adlang.perturb import Element, along, elements

STEPS = tuple(10.0 ** -k for k in range(1, 17)) + (0.0,)
DIV_BY_ZERO = "ERR: DIV BY 0"
PLOT_FLOOR = 1e-17  # an error of 0 (exact) is drawn here on a log scale
PLOT_WIDTH = 80


@dataclass
class SweepRow:
    param: str
    h: float
    forward: float | None
    central: float | None
    forward_error: float | None
    central_error: float | None
    note: str = ""


@dataclass
class SweepOutcome:
    """The sweep of `function` at `args`: `rows` (17 per parameter element), `ad` (the AD derivative of each)."""

    function: str
    rows: list[SweepRow]
    ad: dict[str, float]
    ok: bool = field(default=True)  # a sweep has nothing to fail: the exit code is 0 once f runs

    def params(self) -> list[str]:
        return list(self.ad)

    def rows_of(self, param: str) -> list[SweepRow]:
        return [r for r in self.rows if r.param == param]

    def best(self, param: str, kind: str) -> SweepRow | None:
        """The row of `param` with the smallest `kind` ("forward" or "central") error; None if none has one."""
        rows = [r for r in self.rows_of(param) if getattr(r, f"{kind}_error") is not None]
        return min(rows, key=lambda r: getattr(r, f"{kind}_error")) if rows else None

    def to_json(self) -> dict:
        keys = ("param", "h", "forward", "central", "forward_error", "central_error")
        return {"sweep": [{k: getattr(r, k) for k in keys} for r in self.rows], "ad": dict(self.ad)}

    def text_plot(self, param: str) -> str:
        return text_plot(self, param)

    def plot(self, path: str) -> None:
        """Writes the log-log plot of the errors against h as an image (PNG by the name's suffix)."""
        write_plot(self, path)

    def _repr_html_(self) -> str:
        from adlang.display import sweep_html

        return sweep_html(self)

    def __rich__(self) -> Group:
        table = Table(title=f"finite differences of {self.function} against h, beside AD",
                      caption="error: relative to the AD derivative (absolute where it is 0)", caption_justify="left")
        for col in ("d/d", "h", "one-sided", "error", "central", "error", "note"):
            table.add_column(col, justify="left" if col in ("d/d", "note") else "right")
        for param in self.params():
            table.add_row(param, "AD", repr(self.ad[param]), "", repr(self.ad[param]), "", "the derivative")
            for r in self.rows_of(param):
                table.add_row(param, _h(r.h), _number(r.forward, r.h), _error(r.forward_error),
                              _number(r.central, r.h), _error(r.central_error), r.note)
        parts: list = [table]
        for param in self.params():
            parts.append(Text(self.text_plot(param)))
        return Group(*parts)


def sweep(program: ir.Program, fn_name: str, args: dict, wrt: list[str], engine: str = "interp") -> SweepOutcome:
    """The sweep for every element of `wrt`, every run in `engine`; f failing at `args` (or its derivative
    failing) is the error."""
    grad = compute(program, fn_name, args, wrt=wrt, mode="reverse", engine=engine).grad
    rows: list[SweepRow] = []
    ad: dict[str, float] = {}
    for element in elements(wrt, args):
        derivative = element.of(grad)
        ad[element.label] = derivative
        rows += _rows(program, fn_name, args, element, derivative, engine)
    return SweepOutcome(fn_name, rows, ad)


def _rows(program: ir.Program, fn_name: str, args: dict, element: Element, derivative: float,
          engine: str) -> list[SweepRow]:
    f = along(program, fn_name, args, element, engine)
    x = element.at(args)
    fx = f(x)  # fails as the function fails: the one error a sweep has
    rows = []
    for h in STEPS:
        if h == 0.0:
            rows.append(SweepRow(element.label, h, None, None, None, None, "the difference quotient divides by 0"))
            continue
        notes = []
        right = _value(f, x + h, "x + h", notes)
        left = _value(f, x - h, "x - h", notes)
        forward = _finite((right - fx) / h) if right is not None else None
        central = _finite((right - left) / (2 * h)) if right is not None and left is not None else None
        if x + h == x:
            notes.append("x + h rounds to x: f(x + h) - f(x) is 0")
        rows.append(SweepRow(element.label, h, forward, central, _error_of(forward, derivative),
                             _error_of(central, derivative), "; ".join(notes)))
    return rows


def _value(f, at: float, where: str, notes: list[str]) -> float | None:
    try:
        value = f(at)
    except RuntimeFault as fault:
        notes.append(f"f fails at {where} ({fault.message.split(';')[0]})")
        return None
    if not math.isfinite(value):
        notes.append(f"f is {value} at {where}")
        return None
    return value


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _error_of(value: float | None, derivative: float) -> float | None:
    if value is None:
        return None
    error = abs(value - derivative)
    return error / abs(derivative) if derivative != 0 else error


def _h(h: float) -> str:
    return "0" if h == 0 else f"1e-{round(-math.log10(h)):02d}"


def _number(value: float | None, h: float) -> str:
    if value is None:
        return DIV_BY_ZERO if h == 0 else "-"
    return repr(value)


def _error(value: float | None) -> str:
    return "" if value is None else f"{value:.1e}"


# ---------------------------------------------------------------- pictures


def text_plot(outcome: SweepOutcome, param: str) -> str:
    """log10(error) against log10(h) in at most 80 columns: `f` one-sided, `c` central, `*` both, and `F`, `C`
    where each is smallest; an error of 0 sits on the bottom row."""
    rows = [r for r in outcome.rows_of(param) if r.h > 0]
    points = {}
    for kind, mark in (("forward", "f"), ("central", "c")):
        best = outcome.best(param, kind)
        for r in rows:
            error = getattr(r, f"{kind}_error")
            if error is not None:
                points.setdefault((r.h, _decade(error)), []).append(mark.upper() if r is best else mark)
    if not points:
        return f"{param}: no finite difference to plot"
    decades = [d for _, d in points]
    top, bottom = max(decades), min(decades)
    cell = 4  # columns per decade of h
    label = 8
    lines = [f"error of d{outcome.function}/d{param} against h (log-log)"]
    for d in range(top, bottom - 1, -1):
        row = [" "] * (cell * len(rows))
        for i, r in enumerate(sorted(rows, key=lambda r: r.h)):
            marks = points.get((r.h, d), [])
            if marks:
                row[i * cell + 1] = _merge(marks)
        name = "<=1e-17" if d == _decade(PLOT_FLOOR) else f"1e{d:+03d}"
        lines.append(f"{name:>{label - 2}} |" + "".join(row).rstrip())
    axis = "-" * (cell * len(rows))
    lines.append(" " * (label - 1) + "+" + axis)
    ticks = [" "] * (cell * len(rows) + 6)
    for i, r in enumerate(sorted(rows, key=lambda r: r.h)):
        if i % 3 == 0:
            text = _h(r.h)
            ticks[i * cell:i * cell + len(text)] = text
    lines.append(" " * label + "".join(ticks).rstrip() + "  h")
    legend = "f one-sided, c central, * both; F and C: the smallest error of each"
    best = [b for b in (("central", outcome.best(param, "central")), ("one-sided", outcome.best(param, "forward")))
            if b[1] is not None]
    lines.append(legend)
    lines.append("best h: " + ", ".join(f"{kind} {_h(r.h)} (error {_error(getattr(r, _kind(kind) + '_error'))})"
                                        for kind, r in best))
    lines.append(f"h = 0: {DIV_BY_ZERO}")
    return "\n".join(line[:PLOT_WIDTH] for line in lines)


def _kind(label: str) -> str:
    return "forward" if label == "one-sided" else "central"


def _decade(error: float) -> int:
    return math.floor(math.log10(max(error, PLOT_FLOOR)))


def _merge(marks: list[str]) -> str:
    if len(marks) == 1:
        return marks[0]
    return next((m for m in marks if m.isupper()), "*")


def matplotlib_pyplot():
    """matplotlib's pyplot on the Agg backend (files, no window), or a usage error saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--plot draws with matplotlib, which is not installed: pip install adlang[plot]") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_plot_path(path: str) -> None:
    """A usage error, before any work, where matplotlib is missing or cannot write an image named `path`."""
    plt = matplotlib_pyplot()
    fig = plt.figure()
    try:
        kinds = fig.canvas.get_supported_filetypes()
    finally:
        plt.close(fig)
    suffix = path.rpartition(".")[2].lower() if "." in path else ""
    if suffix not in kinds:
        raise UsageError(f"--plot writes an image: '{path}' does not end in a suffix matplotlib writes "
                         "(.png, .svg, .pdf, ...)")


def figure(outcome: SweepOutcome):
    """The log-log figure: each element's one-sided (dashed) and central (solid) error, the best h starred."""
    plt = matplotlib_pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for param in outcome.params():
        rows = [r for r in outcome.rows_of(param) if r.h > 0]
        for kind, style, name in (("forward", "o--", "one-sided"), ("central", "s-", "central")):
            hs = [r.h for r in rows if getattr(r, f"{kind}_error") is not None]
            errors = [max(getattr(r, f"{kind}_error"), PLOT_FLOOR) for r in rows
                      if getattr(r, f"{kind}_error") is not None]
            line, = ax.loglog(hs, errors, style, markersize=4, label=f"{name}, d/d{param}")
            best = outcome.best(param, kind)
            if best is not None:
                error = max(getattr(best, f"{kind}_error"), PLOT_FLOOR)
                ax.loglog([best.h], [error], "*", markersize=16, color=line.get_color())
                ax.annotate(f"best h = {_h(best.h)}", (best.h, error), textcoords="offset points", xytext=(6, 8),
                            fontsize=8, color=line.get_color())
    ax.set_xlabel("h (h = 0: ERR: DIV BY 0)")
    ax.set_ylabel("error relative to AD")
    ax.set_title(f"finite differences of {outcome.function}: truncation against rounding")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_plot(outcome: SweepOutcome, path: str) -> None:
    plt = matplotlib_pyplot()
    fig = figure(outcome)
    try:
        fig.savefig(path)
    except OSError as err:
        raise UsageError(f"cannot write the plot to {path}: {err.strerror or err}") from None
    finally:
        plt.close(fig)
