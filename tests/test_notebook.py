"""The notebook side of the API: the `%%adlang` cell magic, what every result shows in a notebook, and
docs/lecture.ipynb executed on a real kernel (it must run from docs/ without an error or a traceback)."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT

import adlang

FOO = "def foo(x, y):\n    let a = x + 5\n    let b = a * y\n    return b\n"
NOTEBOOK = ROOT / "docs" / "lecture.ipynb"


@pytest.fixture(scope="module")
def shell():
    """IPython's shell with the extension loaded (history in memory, so nothing is written)."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "adlang")
    return shell


def captured(shell, text: str):
    """Run a cell; its result, and what it printed and displayed."""
    from IPython.utils.capture import capture_output

    with capture_output() as out:
        result = shell.run_cell(text)
    return result, out


def cell(shell, name: str, text: str):
    """Run `%%adlang name` on `text`, which must not fail the cell; what it printed and displayed."""
    result, out = captured(shell, f"%%adlang {name}\n{text}")
    assert result.success, result.error_in_exec
    return out


def shown(out) -> str:
    """Everything a captured cell showed: stdout, stderr and each display's plain text and HTML."""
    parts = [out.stdout, out.stderr]
    for display in out.outputs:
        parts += [display.data.get("text/plain", ""), display.data.get("text/html", "")]
    return "\n".join(parts)


# ---------------------------------------------------------------- the magic


def test_magic_binds_a_program_and_rebinds_it(shell):
    out = cell(shell, "foo", FOO)
    assert shown(out).strip() == ""
    assert isinstance(shell.user_ns["foo"], adlang.Program)
    assert shell.user_ns["foo"].filename == "<cell foo>"
    assert shell.user_ns["foo"].grad({"x": 2, "y": 3}).grad == {"x": 3.0, "y": 7.0}
    cell(shell, "foo", "def foo(x, y):\n    return x * y\n")
    assert shell.user_ns["foo"].run({"x": 2, "y": 3}).value == 6.0


def test_an_error_is_shown_as_the_command_line_shows_it_and_keeps_the_old_binding(shell):
    cell(shell, "bar", "def bar(x):\n    return x\n")
    old = shell.user_ns["bar"]
    out = cell(shell, "bar", "def bar(x):\n    let a = x * 2\n    return a + y\n")
    text = shown(out)
    assert "<cell bar>:3:16: type error: 'y' is not declared" in text
    assert "    return a + y\n               ^" in text
    assert "Traceback" not in text and "adlang/" not in text
    assert [d.data["text/plain"] for d in out.outputs] == [
        "<cell bar>:3:16: type error: 'y' is not declared; declare it with let\n    return a + y\n               ^"]
    assert "color: #b00020" in out.outputs[0].data["text/html"]
    assert shell.user_ns["bar"] is old
    # the shell goes on
    result = shell.run_cell("bar.run({'x': 4}).value + 1")
    assert result.success and result.result == 5.0


def test_a_parse_error_in_a_new_name_binds_nothing(shell):
    out = cell(shell, "never_bound", "def f(x):\n    return x +\n")
    assert "<cell never_bound>:2:15: parse error:" in shown(out)
    assert "never_bound" not in shell.user_ns


@pytest.mark.parametrize("line", ["", "two names", "for", "1abc", "a-b"])
def test_a_missing_or_invalid_name_is_a_usage_message(shell, line):
    result, out = captured(shell, f"%%adlang {line}\ndef f(x):\n    return x\n")
    assert result.success
    text = shown(out)
    assert "usage: %%adlang NAME" in text and "Traceback" not in text


def test_an_api_error_in_a_python_cell_shows_its_text_without_a_traceback(shell):
    cell(shell, "foo", FOO)
    result, out = captured(shell, "foo.grad({'x': 2, 'y': 3}, wrt=['x', 'z'])")
    assert isinstance(result.error_in_exec, adlang.Error)  # still an exception: the cell fails
    text = shown(out)
    assert "adlang: usage error: wrt names 'z', which is not a parameter of foo(x, y)" in text
    assert "Traceback" not in text and "api.py" not in text
    assert shell.run_cell("1 + 1").result == 2


def test_import_adlang_and_the_command_line_do_not_import_ipython_or_display():
    code = ("import sys, adlang, adlang.cli\n"
            "adlang.compile('def f(x):\\n    return x\\n').grad({'x': 1.0})\n"
            "print(sorted(m for m in sys.modules if m.startswith(('IPython', 'adlang.display', "
            "'adlang.notebook'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- what each type displays


@pytest.fixture(scope="module")
def foo():
    return adlang.compile(FOO, filename="foo.ad")


def test_program_html_is_the_highlighted_source(foo):
    html = foo._repr_html_()
    assert "foo.ad" in html and "<pre" in html
    assert '<span style="color: #008000; font-weight: bold">def</span>' in html  # a keyword, coloured
    assert ">foo</span>" in html


def test_diff_and_ir_html_are_highlighted_code(foo):
    html = foo.diff(wrt=["x", "y"])._repr_html_()
    assert "dbdx" in html and "dbdy" in html and "font-weight: bold" in html
    assert ">foo_reverse</span>" in html
    assert "float" in foo.ir()._repr_html_()


def test_result_html_holds_the_value_gradient_trace_and_stats(foo):
    html = foo.grad({"x": 2, "y": 3}, trace=True)._repr_html_()
    assert "<code>foo(x=2.0, y=3.0)</code> = <code>21.0</code>" in html
    assert "<code>3.0</code>" in html and "<code>7.0</code>" in html
    assert ">dbda</td>" in html and "steps" in html


def test_result_html_writes_full_precision_and_the_hessian():
    cube = adlang.load(ROOT / "programs" / "lecture" / "cube.ad")
    html = cube.grad({"x": 2}, order=2)._repr_html_()
    assert "Hessian" in html and html.count("<code>60.0</code>") == 2  # d/dx and d2/dx2
    loop = adlang.load(ROOT / "programs" / "lecture" / "loop.ad")
    html = loop.grad({"x": 1.5, "y": 1.1}, checkpoint="sqrt")._repr_html_()
    assert "<code>3.536921536500002</code>" in html and "tape_peak 5" in html and "sqrt over 9 trips" in html


def test_long_vecs_and_traces_are_shortened_in_html_only():
    prog = adlang.compile("def f(v: vec, n: int):\n    let s = 0.0\n    for i in 0..n:\n        s = s + v[0]\n"
                          "    return s * sum(v)\n")
    v = np.arange(30.0)
    result = prog.grad({"v": v, "n": 300}, wrt=["v"], trace=True)
    html = result._repr_html_()
    assert "(30 values)" in html and "28.0, 29.0]" in html
    assert "more entries (all of them are in .trace)" in html
    assert len(result.trace) > 200 and len(result.grad["v"]) == 30


def test_check_html_is_the_table_of_both_modes_and_finite_differences(foo):
    outcome = foo.check({"x": 2, "y": 3})
    html = outcome._repr_html_()
    assert "forward" in html and "reverse" in html and "finite diff." in html
    assert f"<code>{outcome.rows[0].finite!r}</code>" in html and "<code>7.0</code>" in html
    assert "they agree" in html and "DIFFERENT" not in html


def test_optimize_html_shows_the_parameters_loss_and_outcome():
    data = np.loadtxt(ROOT / "programs" / "data" / "line_samples.csv", delimiter=",", skiprows=1)
    linefit = adlang.load(ROOT / "programs" / "lecture" / "linefit.ad")
    result = linefit.optimize({"m": 0, "b": 0, "xs": data[:, 0], "ys": data[:, 1]}, wrt=["m", "b"],
                              method="newton")
    html = result._repr_html_()
    assert "main minimized with newton" in html
    assert f"<code>{result.params['m']!r}</code>" in html and f"<code>{result.loss!r}</code>" in html
    assert "converged after 1 step" in html


def test_error_html_is_the_escaped_command_line_text():
    with pytest.raises(adlang.Error) as caught:
        adlang.compile("def f(x):\n    return x < y\n", filename="<f>")
    html = caught.value._repr_html_()
    assert "<f>" not in html and "&lt;f&gt;:2:16: type error" in html and "x &lt; y" in html
    assert caught.value._render_traceback_() == [caught.value.text]


# ---------------------------------------------------------------- the tutorial


def test_the_committed_notebook_was_executed():
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]


def test_the_lecture_notebook_runs_on_a_real_kernel_from_docs():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = copy.deepcopy(nbformat.read(NOTEBOOK, as_version=4))
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    problems = []
    for index, code_cell in enumerate(notebook.cells):
        for output in code_cell.get("outputs", []):
            if output.output_type == "error":
                problems.append((index, output.ename, output.evalue))
            elif output.output_type == "stream" and output.name == "stderr" and "Traceback" in output.text:
                problems.append((index, output.text))
    assert not problems
    everything = "\n".join(str(o) for c in notebook.cells for o in c.get("outputs", []))
    assert "<code>3.0</code>" in everything and "<code>7.0</code>" in everything  # the gradient of foo
    assert "&lt;cell broken&gt;:3:16: type error" in everything


def test_jacobian_html_is_a_table_per_result_item():
    pair = adlang.compile("def pair(x, v: vec) -> (float, vec):\n    return x * sum(v), v * x\n")
    page = pair.jacobian({"x": 2.0, "v": [1.0, 3.0]}, wrt=["x"])._repr_html_()
    assert "Jacobian with respect to x, result item 0" in page and "result item 1" in page
    assert ">4.0<" in page and ">3.0<" in page
