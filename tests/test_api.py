"""The Python API (spec section 3) against the command line: the same numbers, JSON, text and errors.

Each test does through `import adlang` what a test of the CLI does through `adlang ...`, and
compares: a Python user and a shell user must see the same thing.
"""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adlang
from adlang import cli

FOO = ROOT / "programs" / "lecture" / "foo.ad"
VEC_STATS = ROOT / "programs" / "examples" / "vec_stats.ad"
LOOP = ROOT / "programs" / "lecture" / "loop.ad"
LINEFIT = ROOT / "programs" / "lecture" / "linefit.ad"

MIXED = """\
def g(x, v: vec, n: int, flag: bool) -> float:
    let s = 0.0
    for i in 0..n:
        s += x * v[i]
    if flag:
        s = s * 2.0
    return s
"""


def command(*words: str) -> tuple[int, str, str]:
    """`adlang WORDS...` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main([str(w) for w in words])
    return code, out.getvalue(), err.getvalue()


def cli_json(*words: str) -> dict:
    code, out, _ = command(*words, "--json")
    assert code == 0, out
    return json.loads(out)


# ---------------------------------------------------------------- programs


def test_load_and_compile_give_the_functions_in_file_order():
    prog = adlang.load(LINEFIT)
    assert prog.functions == ["predict", "loss", "goodfit", "main"]
    again = adlang.compile(LINEFIT.read_text(), filename="linefit.ad")
    assert again.functions == prog.functions and again.filename == "linefit.ad"
    assert adlang.load(str(FOO)).functions == ["foo"]


@pytest.mark.parametrize("words, call", [
    ((), dict(args={"x": 2, "y": 3})),
    (("--grad", "x,y"), dict(args={"x": 2, "y": 3}, wrt=["x", "y"])),
    (("--grad", "y,x", "--mode", "forward"), dict(args={"x": 2.0, "y": np.float32(3)}, wrt="y,x", mode="forward")),
    (("--grad", "x,y", "--order", "2", "--mode", "forward-over-reverse"),
     dict(args={"x": np.int64(2), "y": 3}, wrt=["x", "y"], order=2, mode="forward-over-reverse")),
    (("--grad", "x", "--trace"), dict(args={"x": 2, "y": 3}, wrt=["x"], trace=True)),
    (("--trace", "--engine", "compiled"), dict(args={"x": 2, "y": 3}, trace=True, engine="compiled")),
])
def test_a_run_is_what_run_json_prints(words, call):
    args = [f"{k}={v}" for k, v in call["args"].items()]
    expected = cli_json("run", FOO, *args, *words)
    prog = adlang.load(FOO)
    method = prog.grad if "wrt" in call else prog.run
    result = method(**call)
    assert result.to_json() == expected
    assert result.function == "foo" and result.value == expected["value"]
    assert result.args == {"x": 2.0, "y": 3.0} and all(type(v) is float for v in result.args.values())
    assert result.stats == expected["stats"] and result.stats["steps"] > 0
    if "wrt" in call:
        assert result.grad == expected["grad"]
    else:
        assert result.grad is None and result.hessian is None
    if call.get("order") == 2:
        assert result.hessian == expected["hessian"]
    if call.get("trace"):
        assert result.trace == expected["trace"]
    else:
        assert result.trace is None


def test_vecs_come_back_as_numpy_arrays_and_match_the_cli():
    v, w = [1, 2.5, 3, 4.5], np.array([0.5, -1, 2, 0.25])
    expected = cli_json("run", VEC_STATS, "v=[1,2.5,3,4.5]", "w=[0.5,-1,2,0.25]", "--grad", "v,w")
    result = adlang.load(VEC_STATS).grad(args={"v": v, "w": w}, wrt=["v", "w"])
    assert isinstance(result.grad["v"], np.ndarray) and result.grad["v"].dtype == np.float64
    assert result.grad["v"].tolist() == expected["grad"]["v"]
    assert result.grad["w"].tolist() == expected["grad"]["w"]
    assert isinstance(result.args["v"], np.ndarray)
    assert result.to_json() == expected


def test_every_kind_of_argument_python_has():
    prog = adlang.compile(MIXED)
    forms = [
        {"x": 1.5, "v": [1, 2, 3], "n": 3, "flag": True},
        {"x": np.float64(1.5), "v": np.array([1, 2, 3]), "n": np.int32(3), "flag": np.bool_(True)},
        {"x": 1.5, "v": (1.0, 2.0, 3.0), "n": 3, "flag": True},
        {"x": np.float32(1.5), "v": np.arange(1, 4, dtype=np.float32), "n": np.int64(3), "flag": True},
    ]
    for args in forms:
        result = prog.grad(args=args, wrt=["x", "v"])
        assert result.value == 2 * 1.5 * 6
        assert result.grad["x"] == 12.0 and result.grad["v"].tolist() == [3.0, 3.0, 3.0]


def test_fn_none_means_main_else_the_last_function():
    prog = adlang.load(LINEFIT)
    xs, ys = [0.0, 1.0, 2.0], [1.0, 3.0, 5.0]
    main = prog.run(args={"m": 2, "b": 1, "xs": xs, "ys": ys})
    assert main.function == "main"
    loss = prog.run(args={"m": 2, "b": 1, "xs": xs, "ys": ys}, fn="loss")
    assert loss.function == "loss" and loss.value == 0.0
    last = adlang.compile("def a(x):\n    return x\n\ndef b(x):\n    return 2 * x\n")
    assert last.run(args={"x": 1}).function == "b"


def test_wrt_defaults_to_every_float_and_vec_parameter():
    prog = adlang.compile(MIXED)
    result = prog.grad(args={"x": 2.0, "v": [1.0, 1.0], "n": 2, "flag": False})
    assert list(result.grad) == ["x", "v"]


def test_a_vec_hessian_and_checkpointing_match_the_cli():
    expected = cli_json("run", LOOP, "x=1.5", "y=1.1", "--grad", "x,y", "--checkpoint", "sqrt")
    got = adlang.load(LOOP).grad(args={"x": 1.5, "y": 1.1}, wrt=["x", "y"], checkpoint="sqrt")
    assert got.to_json() == expected and got.stats["checkpoint"] == expected["stats"]["checkpoint"]
    expected = cli_json("run", VEC_STATS, "--fn", "std", "v=[1,2.5,3,4.5]", "--grad", "v", "--order", "2")
    got = adlang.load(VEC_STATS).grad(args={"v": [1, 2.5, 3, 4.5]}, fn="std", wrt=["v"], order=2)
    assert isinstance(got.hessian["v"]["v"], np.ndarray) and got.hessian["v"]["v"].shape == (4, 4)
    assert got.to_json() == expected


# ---------------------------------------------------------------- diff, ir, check, optimize


@pytest.mark.parametrize("options, words", [
    ({}, ()),
    ({"mode": "forward"}, ("--mode", "forward")),
    ({"order": 2, "mode": "reverse-over-forward"}, ("--order", "2", "--mode", "reverse-over-forward")),
    ({"simplify": False}, ("--no-simplify",)),
])
def test_diff_is_what_diff_prints_byte_for_byte(options, words):
    code, out, _ = command("diff", FOO, "--wrt", "x,y", *words)
    assert code == 0
    text = adlang.load(FOO).diff(wrt=["x", "y"], **options)
    assert isinstance(text, str) and text == out


def test_diff_with_checkpointing_and_ir_are_what_the_commands_print():
    _, out, _ = command("diff", LOOP, "--wrt", "x", "--checkpoint", "revolve:2")
    assert adlang.load(LOOP).diff(wrt=["x"], checkpoint="revolve:2") == out
    _, out, _ = command("ir", LINEFIT, "--fn", "loss")
    assert adlang.load(LINEFIT).ir(fn="loss") == out
    _, out, _ = command("ir", LINEFIT)
    assert adlang.load(LINEFIT).ir() == out


def test_check_has_the_rows_of_check_json():
    expected = cli_json("check", VEC_STATS, "v=[1,2.5,3,4.5]", "w=[0.5,-1,2,0.25]", "--wrt", "v,w")
    outcome = adlang.load(VEC_STATS).check(args={"v": [1, 2.5, 3, 4.5], "w": [0.5, -1, 2, 0.25]}, wrt=["v", "w"])
    assert outcome.ok is expected["ok"] is True
    assert len(outcome.rows) == 8
    for row, want in zip(outcome.rows, expected["rows"]):
        assert (row.forward, row.reverse, row.central) == (want["forward"], want["reverse"], want["finite_difference"])


def test_a_failed_check_is_not_ok():
    """A jump at x = 1: the derivative of the branch that ran is 1, finite differences see the jump."""
    prog = adlang.compile("def f(x):\n    let y = x\n    if x < 1.0:\n        y = 0.0\n    return y\n")
    assert not prog.check(args={"x": 1.0}, wrt=["x"]).ok
    assert prog.check(args={"x": 2.0}, wrt=["x"]).ok


def test_optimize_is_what_optimize_json_prints():
    data = ROOT / "programs" / "data" / "line_samples.csv"
    expected = cli_json("optimize", LINEFIT, "--fn", "loss", "--wrt", "m,b", "m=0", "b=0",
                        f"xs=@{data}:x", f"ys=@{data}:y", "--method", "newton")
    import csv

    rows = list(csv.DictReader(data.open()))
    xs, ys = [float(r["x"]) for r in rows], [float(r["y"]) for r in rows]
    result = adlang.load(LINEFIT).optimize(args={"m": 0, "b": 0, "xs": xs, "ys": ys}, fn="loss", wrt=["m", "b"],
                                           method="newton")
    assert result.to_json() == expected
    assert result.converged and result.steps == expected["steps"] and result.loss == expected["loss"]
    assert result.params == expected["params"] and result.history == expected["history"]
    assert result.grad_norm == expected["grad_norm"]


# ---------------------------------------------------------------- errors


def first_line(stderr: str) -> str:
    return stderr.splitlines()[0]


@pytest.mark.parametrize("source, args, kind", [
    ("def f(x):\n    return x +\n", {"x": 1}, "parse"),
    ("def f(x):\n    return y\n", {"x": 1}, "type"),
    ("def f(x):\n    let a = 1.0\n    return log(x) + a\n", {"x": -1}, "runtime"),
    ("def f(x):\n    let a = sqrt(x)\n    return a\n", {"x": 0}, "runtime"),  # d sqrt at 0: only with wrt
])
def test_errors_are_the_cli_s_first_line_with_the_place(tmp_path, source, args, kind):
    path = tmp_path / "p.ad"
    path.write_text(source)
    words = [f"{k}={v}" for k, v in args.items()]
    code, _, stderr = command("run", path, *words, "--grad", "x")
    with pytest.raises(adlang.Error) as info:
        adlang.load(path).grad(args=args, wrt=["x"])
    err = info.value
    assert err.kind == kind and code == (1 if kind == "runtime" else 2)
    assert str(err) == first_line(stderr)
    assert err.text == stderr.rstrip("\n")
    assert (err.line, err.column) == tuple(json.loads(command("run", path, *words, "--grad", "x", "--json")[1])
                                           ["error"][k] for k in ("line", "column"))
    assert err.message in str(err) and isinstance(err, Exception)


@pytest.mark.parametrize("call, words, fragment", [
    (dict(args={"x": 2}), ["x=2"], "missing argument 'y'"),
    (dict(args={"x": 2, "y": 3, "z": 1}), ["x=2", "y=3", "z=1"], "unknown argument 'z'"),
    (dict(args={"x": [1, 2], "y": 3}), ["x=[1, 2]", "y=3"], "is a float, but"),
    (dict(args={"x": 2, "y": float("nan")}), ["x=2", "y=nan"], "not a number"),
    (dict(args={"x": 2, "y": 3}, wrt=["z"]), ["x=2", "y=3", "--grad", "z"], "'z', which is not a parameter"),
    (dict(args={"x": 2, "y": 3}, fn="bar"), ["x=2", "y=3", "--fn", "bar"], "unknown function 'bar'"),
    (dict(args={"x": 2, "y": 3}, checkpoint="often"), ["x=2", "y=3", "--grad", "x", "--checkpoint", "often"],
     "unknown checkpoint 'often'"),
])
def test_usage_errors_say_what_the_cli_says(call, words, fragment):
    """The same message, in the API's terms where the command line's name a flag or a NAME=VALUE word."""
    code, _, stderr = command("run", FOO, *words)
    with pytest.raises(adlang.Error) as info:
        adlang.load(FOO).grad(**call)
    err = info.value
    assert code == 2 and err.kind == "usage" and (err.line, err.column) == (None, None)
    in_api_terms = (first_line(stderr).replace("--grad names", "wrt names").replace("y=VALUE", "args={'y': ...}")
                    .replace("--checkpoint", "checkpoint"))
    assert fragment in err.message and str(err) == in_api_terms


@pytest.mark.parametrize("call, fragment", [
    (dict(args=[2, 3]), "args must be a dict"),
    (dict(args={1: 2}), "keys are parameter names"),
    (dict(args={"x": 2, "y": 3}, wrt=5), "wrt must be a list"),
    (dict(args={"x": 2, "y": 3}, wrt=[1]), "list of parameter names"),
    (dict(args={"x": 2, "y": 3}, order=3), "order must be 1 or 2"),
    (dict(args={"x": 2, "y": 3}, order=True), "order must be 1 or 2"),
    (dict(args={"x": 2, "y": 3}, mode="sideways"), "unknown mode 'sideways'"),
    (dict(args={"x": 2, "y": 3}, mode="forward-over-reverse"), "add order=2"),
    (dict(args={"x": 2, "y": 3}, engine="jit"), "unknown engine 'jit'"),
    (dict(args={"x": 2, "y": 3}, engine=None), "unknown engine None"),
    (dict(args={"x": 2, "y": 3}, trace="yes"), "trace must be True or False"),
    (dict(args={"x": 2, "y": 3}, fn=3), "fn must be a str"),
    (dict(args={"x": 2, "y": 3}, max_steps=-1), "max_steps must be a whole number"),
    (dict(args={"x": "2", "y": 3}), "is a float, but '2' is a str"),
    (dict(args={"x": None, "y": 3}), "is a float, but None is None"),
    (dict(args={"x": {"a": 1}, "y": 3}), "is a float, but"),
])
def test_python_mistakes_are_usage_errors(call, fragment):
    with pytest.raises(adlang.Error) as info:
        adlang.load(FOO).grad(**call)
    assert info.value.kind == "usage" and fragment in info.value.message, info.value.message


def test_compile_and_load_refuse_what_they_cannot_read(tmp_path):
    with pytest.raises(adlang.Error, match="takes the program's text as a str"):
        adlang.compile(b"def f(x):\n    return x\n")
    with pytest.raises(adlang.Error, match="no such file"):
        adlang.load(tmp_path / "missing.ad")
    with pytest.raises(adlang.Error, match="takes a file's path"):
        adlang.load(3)
    with pytest.raises(adlang.Error) as info:
        adlang.compile("def f(x):\n\treturn x\n", filename="tabs.ad")
    assert info.value.kind == "parse" and str(info.value).startswith("tabs.ad:2:")


def test_a_runtime_error_inside_a_derivative_points_at_the_source():
    prog = adlang.compile("def f(a, b):\n    let p = a ^ b\n    return p\n")
    with pytest.raises(adlang.Error) as info:
        prog.grad(args={"a": -2.0, "b": 2.0}, wrt=["b"])
    err = info.value
    assert err.kind == "runtime" and (err.line, err.column) == (2, 5)
    assert "the derivative of a ^ b with respect to b" in err.message
    assert prog.run(args={"a": -2.0, "b": 2.0}).value == 4.0


def test_the_step_limit_is_a_runtime_error():
    prog = adlang.compile("def f(x):\n    let s = x\n    while s > 0.0:\n        s = s + 1.0\n    return s\n")
    with pytest.raises(adlang.Error) as info:
        prog.run(args={"x": 1.0}, max_steps=50)
    assert info.value.kind == "runtime" and "step limit of 50" in info.value.message


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.text(max_size=3),
    st.lists(st.one_of(st.floats(), st.integers(-5, 5), st.text(max_size=2)), max_size=4),
    st.lists(st.lists(st.floats(-2, 2), max_size=2), max_size=2), st.dictionaries(st.text(max_size=2), st.integers()),
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["x", "v", "n", "flag", "zz"]), VALUES, max_size=5),
       st.sampled_from(["run", "grad", "check"]))
def test_no_python_value_gets_past_as_anything_but_an_error(args, method):
    """Whatever Python hands the API, the answer is a result or an adlang.Error, nothing else."""
    prog = adlang.compile(MIXED)
    call = getattr(prog, method)
    kwargs = {"args": args} if method == "run" else {"args": args, "wrt": ["x"]}
    try:
        result = call(**kwargs)
    except adlang.Error as err:
        assert err.kind in ("usage", "runtime") and err.message
    else:
        assert result is not None


# ---------------------------------------------------------------- the cache


def test_repeated_calls_build_the_derivative_program_once(monkeypatch):
    import adlang.derivatives as derivatives
    import adlang.interp.compiled as compiled

    built, generated = [], []
    real_derive, real_generator = derivatives.derive, compiled.Generator
    monkeypatch.setattr(derivatives, "derive", lambda *a, **k: built.append(a[1:]) or real_derive(*a, **k))

    class CountingGenerator(real_generator):
        def module(self):
            generated.append(1)
            return super().module()

    monkeypatch.setattr(compiled, "Generator", CountingGenerator)
    prog = adlang.load(LOOP)
    values = [prog.grad(args={"x": 1.0 + k / 10, "y": 1.1}, wrt=["x", "y"], engine="compiled").grad["y"]
              for k in range(5)]
    assert len(built) == 1 and len(generated) == 1
    assert len(set(values)) == 5  # each call ran at its own arguments
    prog.grad(args={"x": 1.0, "y": 1.1}, wrt=["x", "y"], mode="forward", engine="compiled")
    prog.grad(args={"x": 1.0, "y": 1.1}, wrt=["x"], engine="compiled")
    assert len(built) == 3  # another mode, other parameters: other programs
    import adlang.derivatives as derivatives

    real_hvp, hvps = derivatives.derive_hvp, []
    monkeypatch.setattr(derivatives, "derive_hvp", lambda *a, **k: hvps.append(1) or real_hvp(*a, **k))
    vec = adlang.load(VEC_STATS)
    for k in range(3):
        vec.grad(args={"v": [1, 2, 3.0 + k]}, fn="std", wrt=["v"], order=2)
    vec.grad(args={"v": [1, 2]}, fn="std", wrt=["v"], order=2)
    assert len(hvps) == 1  # Hessian-vector products: one program for every length


def test_a_program_is_independent_of_another_with_the_same_names():
    a = adlang.compile("def f(x):\n    return x * x\n")
    b = adlang.compile("def f(x):\n    return x * x * x\n")
    assert a.grad(args={"x": 2.0}).grad["x"] == 4.0
    assert b.grad(args={"x": 2.0}).grad["x"] == 12.0
    assert a.grad(args={"x": 2.0}).grad["x"] == 4.0


def test_results_are_plain_python_where_the_spec_says():
    prog = adlang.compile("def f(x, n: int) -> (float, int, bool):\n    return x, n * 2, x > 1.0\n")
    result = prog.run(args={"x": 2, "n": 3})
    assert result.value == (2.0, 6, True)
    assert [type(v) for v in result.value] == [float, int, bool]
    inf = adlang.compile("def f(x):\n    return x\n").run(args={"x": math.inf})
    assert inf.value == math.inf and inf.to_json()["value"] == "inf"


def test_the_readme_example_runs():
    """README's five lines, as printed there."""
    readme = Path(ROOT / "README.md").read_text()
    start = readme.index("```python\nimport adlang")
    code = readme[start + len("```python\n"): readme.index("```", start + 10)]
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 - our own README
    assert "3.0" in out.getvalue() and "7.0" in out.getvalue()


# ---------------------------------------------------------------- Jacobians

JACOBIANS = """\
def soft(v: vec) -> vec:
    let e = exp(v)
    return e / sum(e)

def both(x, v: vec, n: int) -> (float, vec):
    let s = 0.0
    for i in 0..n:
        s += sin(x * v[i])
    return s, v * x ^ 2

def f(x, y):
    return x * y
"""


def numeric_jacobian(prog, fn: str, args: dict, p: str, item: int | None) -> np.ndarray:
    """Central differences, column by column (h = 1e-6)."""
    base = np.atleast_1d(np.asarray(args[p], dtype=float))
    columns = []
    for k in range(base.size):
        moved = []
        for h in (1e-6, -1e-6):
            x = base.copy()
            x[k] += h
            value = prog.run(args={**args, p: x if isinstance(args[p], np.ndarray) else float(x[0])}, fn=fn).value
            moved.append(np.atleast_1d(np.asarray(value if item is None else value[item], dtype=float)))
        columns.append((moved[0] - moved[1]) / 2e-6)
    return np.array(columns).T


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("engine", ["interp", "compiled"])
def test_jacobians_agree_with_finite_differences_in_both_modes(mode, engine):
    prog = adlang.compile(JACOBIANS)
    v = np.array([0.1, 0.5, -0.3])
    soft = prog.jacobian(args={"v": v}, fn="soft", wrt=["v"], mode=mode, engine=engine)
    s = np.exp(v) / np.exp(v).sum()
    assert np.allclose(soft.jacobian["v"], np.diag(s) - np.outer(s, s), rtol=1e-12, atol=1e-15)
    args = {"x": 0.7, "v": v, "n": 3}
    both = prog.jacobian(args=args, fn="both", wrt=["x", "v"], mode=mode, engine=engine)
    for p, shapes in (("x", [(1, 1), (3, 1)]), ("v", [(1, 3), (3, 3)])):
        assert [block.shape for block in both.jacobian[p]] == shapes
        for item, block in enumerate(both.jacobian[p]):
            assert np.allclose(block, numeric_jacobian(prog, "both", args, p, item), rtol=1e-6, atol=1e-8)
    assert both.value[0] == prog.run(args=args, fn="both").value[0]


def test_a_jacobian_is_laid_out_as_run_jacobian_json_prints(tmp_path):
    path = tmp_path / "j.ad"
    path.write_text(JACOBIANS)
    expected = cli_json("run", path, "--fn", "both", "x=2", "v=[0.1,0.5]", "n=2", "--jacobian", "x,v")
    got = adlang.load(path).jacobian(args={"x": 2, "v": [0.1, 0.5], "n": 2}, fn="both", wrt=["x", "v"])
    assert got.to_json() == expected
    assert expected["jacobian"]["x"] == [[[pytest.approx(math.cos(0.2) * 0.1 + math.cos(1.0) * 0.5)]],
                                         [[0.4], [2.0]]]
    scalar = cli_json("run", path, "--fn", "f", "x=2", "y=3", "--jacobian", "x,y", "--grad", "y")
    assert scalar["jacobian"] == {"x": [[3.0]], "y": [[2.0]]} and scalar["grad"] == {"y": 2.0}


def test_a_jacobian_refuses_what_has_none(tmp_path):
    prog = adlang.compile("def g(x, n: int) -> (float, int):\n    return x, n\n")
    with pytest.raises(adlang.Error, match="a Jacobian needs a function whose result is a float, a vec or a tuple"):
        prog.jacobian(args={"x": 1.0, "n": 2}, wrt=["x"])
    with pytest.raises(adlang.Error, match="forward or reverse"):
        adlang.compile(JACOBIANS).jacobian(args={"x": 1.0, "y": 2.0}, fn="f", mode="forward-over-reverse")
    path = tmp_path / "j.ad"
    path.write_text(JACOBIANS)
    code, _, stderr = command("run", path, "--fn", "soft", "v=[1,2]", "--jacobian", "v", "--order", "2")
    assert code == 2 and "--order needs --grad" in stderr


def test_a_result_in_terminal_ipython_reads_as_the_command_line_shows_it():
    from IPython.lib.pretty import pretty

    result = adlang.compile("def f(v: vec) -> float:\n    return sum(v * v)\n").grad({"v": np.arange(1000.0)})
    text = pretty(result)
    assert "value = 332833500.0" in text and "(length 1,000; min 0.0, max 1998.0" in text
    assert len(text.splitlines()) < 20 and "array(" not in text


@pytest.mark.parametrize("call, says", [
    (lambda p: p.grad(args={"x": 2, "y": 3}, wrt=["x"], mode="bogus"), "unknown mode 'bogus'"),
    (lambda p: p.grad(args={"x": 2, "y": 3}, wrt=["x"], mode="forward-over-reverse"),
     "mode='forward-over-reverse' is for second derivatives; add order=2"),
    (lambda p: p.diff(wrt=["x"], mode="sideways"), "unknown mode 'sideways'"),
    (lambda p: p.hvp(args={"x": 2, "y": 3}, direction={"x": 1}, wrt=["x"], mode="bogus"), "unknown mode 'bogus'"),
    (lambda p: p.run(args={"x": 2}), "give it as args={'y': ...}"),
    (lambda p: p.run(args={}), "give them as args={'x': ..., 'y': ...}"),
    (lambda p: p.optimize(args={"x": 2, "y": 3}, wrt=["x"], method="sgd"), "unknown method 'sgd'"),
    (lambda p: p.optimize(args={"x": 2, "y": 3}, wrt=["x"], mode="sideways"), "unknown mode 'sideways'"),
    (lambda p: p.grad(args={"x": 2, "y": 3}, wrt=["x"], checkpoint="weird"), "unknown checkpoint 'weird'"),
])
def test_a_mistake_made_from_python_is_told_in_pythons_terms(call, says):
    """The API's keywords (`mode=`, `args=`), not the command line's flags and NAME=VALUE words."""
    with pytest.raises(adlang.Error) as caught:
        call(adlang.load(FOO))
    assert caught.value.kind == "usage" and says in caught.value.message
    assert "--" not in caught.value.message and "=VALUE" not in caught.value.message
