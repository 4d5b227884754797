"""Hessian-vector products: `run --hvp`, `prog.hvp`, `diff --hvp`, against calculus and each other."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

import adlang
from adlang import cli
from adlang.pipeline import compile_source

CHAIN = """\
def f(v: vec, x) -> float:
    let s = 0.0
    for i in 0..len(v) - 1:
        s += sin(v[i]) * v[i + 1]
    return x * sum(v * v) + s
"""
PAIRS = ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"]


def hessian(v: np.ndarray, x: float) -> np.ndarray:
    """CHAIN's Hessian by hand, over (v, x) flattened: v's elements, then x."""
    n = len(v)
    h = np.zeros((n + 1, n + 1))
    h[:n, :n] = np.diag(np.full(n, 2 * x))
    for i in range(n - 1):
        h[i, i] -= np.sin(v[i]) * v[i + 1]
        h[i, i + 1] += np.cos(v[i])
        h[i + 1, i] += np.cos(v[i])
    h[:n, n] = h[n, :n] = 2 * v
    return h


def gradient(v: np.ndarray, x: float) -> np.ndarray:
    dv = 2 * x * v
    dv[:-1] += np.cos(v[:-1]) * v[1:]
    dv[1:] += np.sin(v[:-1])
    return np.r_[dv, np.sum(v * v)]


def command(*words: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main([str(w) for w in words])
    return code, out.getvalue(), err.getvalue()


def vec_text(v: np.ndarray) -> str:
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


@pytest.fixture
def chain(tmp_path):
    path = tmp_path / "chain.ad"
    path.write_text(CHAIN)
    return path


@pytest.mark.parametrize("mode", PAIRS)
@pytest.mark.parametrize("engine", ["interp", "compiled"])
@pytest.mark.parametrize("n", [0, 1, 60])
def test_hvp_is_the_hessian_times_the_direction(mode, engine, n):
    rng = np.random.default_rng(n)
    v, x = rng.uniform(-1.5, 1.5, n), 0.7
    u = rng.normal(size=n + 1)
    r = adlang.compile(CHAIN).hvp(args={"v": v, "x": x}, direction={"v": u[:n], "x": u[n]}, mode=mode,
                                  engine=engine)
    hu = hessian(v, x) @ u
    assert list(r.hvp) == ["v", "x"] and r.hvp["v"].shape == (n,)
    assert np.allclose(r.hvp["v"], hu[:n], rtol=1e-12, atol=1e-13)
    assert r.hvp["x"] == pytest.approx(hu[n], rel=1e-12, abs=1e-13)
    assert np.allclose(np.r_[r.grad["v"], r.grad["x"]], gradient(v, x), rtol=1e-12, atol=1e-13)
    assert r.value == pytest.approx(x * np.sum(v * v) + np.sum(np.sin(v[:-1]) * v[1:]), rel=1e-12, abs=1e-13)


def test_a_left_out_parameter_has_a_zero_part_and_one_vec_may_be_the_direction_itself():
    v = np.linspace(-1, 1, 7)
    prog = adlang.compile(CHAIN)
    by_v = prog.hvp(args={"v": v, "x": 2.0}, direction={"v": np.ones(7)}, wrt=["v", "x"])
    assert np.allclose(np.r_[by_v.hvp["v"], by_v.hvp["x"]], hessian(v, 2.0) @ np.r_[np.ones(7), 0.0], rtol=1e-12)
    alone = prog.hvp(args={"v": v, "x": 2.0}, direction=list(np.ones(7)), wrt="v")
    assert list(alone.hvp) == ["v"] and np.allclose(alone.hvp["v"], by_v.hvp["v"], rtol=1e-15)
    by_x = prog.hvp(args={"v": v, "x": 2.0}, direction={"x": 1})  # wrt: the parameters the direction names
    assert list(by_x.hvp) == ["x"] and by_x.hvp["x"] == 0.0  # d2f/dx2


def test_one_hvp_costs_a_few_functions_whatever_the_length():
    """Steps (deterministic) of one forward-over-reverse H u against the function's, at two lengths."""
    prog = adlang.compile(CHAIN)
    ratios = []
    for n in (20, 400):
        args = {"v": np.ones(n), "x": 1.0}
        plain = prog.run(args=args).stats["steps"]
        ratios.append(prog.hvp(args=args, direction={"v": np.ones(n)}).stats["steps"] / plain)
    assert ratios[1] < 15 and ratios[1] == pytest.approx(ratios[0], rel=0.25), ratios


def test_run_hvp_json(chain):
    v = np.array([0.1, -0.4, 0.9, 1.3])
    code, out, _ = command("run", chain, f"v={vec_text(v)}", "x=0.5", "--hvp", "v=[1, 0, 2, 0]", "--json")
    assert code == 0
    obj = json.loads(out)
    assert set(obj) == {"function", "args", "value", "direction", "hvp", "stats"}  # no grad: --grad not given
    assert obj["direction"] == {"v": [1.0, 0.0, 2.0, 0.0]}
    assert np.allclose(obj["hvp"]["v"], (hessian(v, 0.5) @ np.r_[1, 0, 2, 0, 0])[:4], rtol=1e-12)
    code, out, _ = command("run", chain, f"v={vec_text(v)}", "x=0.5", "--grad", "v,x", "--hvp", "x=2", "--order",
                           "2", "--mode", "reverse-over-reverse", "--json")
    obj = json.loads(out)
    assert code == 0 and set(obj) >= {"grad", "hessian", "direction", "hvp"}
    assert obj["direction"] == {"v": [0.0] * 4, "x": 2.0}
    h = hessian(v, 0.5)
    assert np.allclose(np.r_[obj["hvp"]["v"], obj["hvp"]["x"]], h @ np.r_[0, 0, 0, 0, 2.0], rtol=1e-12)
    assert np.allclose(obj["hessian"]["v"]["v"], h[:4, :4], rtol=1e-12)
    assert np.allclose(np.r_[obj["grad"]["v"], obj["grad"]["x"]], gradient(v, 0.5), rtol=1e-12)


def test_run_hvp_reads_the_direction_as_arguments_are_read_and_saves_it(chain, tmp_path):
    u = np.arange(5.0)
    np.save(tmp_path / "u.npy", u)
    code, out, _ = command("run", chain, "v=[1,2,3,4,5]", "x=1", "--hvp", f"v=@{tmp_path / 'u.npy'}", "--save",
                           tmp_path / "out.npz")
    assert code == 0 and "H u" in out
    saved = np.load(tmp_path / "out.npz")
    assert np.allclose(saved["hvp_v"], (hessian(np.arange(1.0, 6), 1.0) @ np.r_[u, 0])[:5], rtol=1e-12)


@pytest.mark.parametrize("words, fragment", [
    (["--hvp", "v=[1,0]"], "--hvp v: the direction has 2 elements but the argument 'v' has 3"),
    (["--hvp", "x=[1,0]"], "--hvp x: 'x' is a float parameter, so its part of the direction is a number"),
    (["--hvp", "v=1"], "--hvp v: 'v' is a vec, so its part of the direction is a vec of 3 numbers"),
    (["--hvp", "x=abc"], "--hvp x: 'abc' is not a number"),
    (["--hvp", "x=1", "--hvp", "x=2"], "--hvp gives the direction for 'x' twice"),
    (["--hvp", "y=1"], "--hvp names 'y', which is not a parameter of f(v, x)"),
    (["--hvp", "x=1", "--grad", "v"], "--hvp gives a direction for 'x', which is not among the parameters"),
    (["--hvp", "x=inf"], "--hvp x: the direction holds inf; give finite numbers"),
    (["--hvp", "x=1", "--jacobian", "v"], "--hvp and --jacobian are separate runs"),
    (["--hvp", "x=1", "--mode", "sideways"], "unknown --mode 'sideways'"),
    (["--hvp", "x"], "'x' is not an argument of the form NAME=VALUE"),
])
def test_run_hvp_usage_errors(chain, words, fragment):
    code, _, err = command("run", chain, "v=[1,2,3]", "x=1", *words)
    assert code == 2 and fragment in err, err


@pytest.mark.parametrize("mode", PAIRS)
def test_diff_hvp_prints_a_program_that_runs_and_differentiates_again(chain, mode):
    code, text, _ = command("diff", chain, "--wrt", "v,x", "--hvp", "--mode", mode)
    assert code == 0 and "def main(" not in text
    assert text == adlang.load(chain).diff(wrt=["v", "x"], hvp=True, mode=mode)
    printed = adlang.compile(text)
    assert printed.functions[-1] == "f_hvp"
    v, u = np.array([0.3, -0.2, 0.8]), np.array([1.0, 2.0, -1.0, 0.5])
    args = {"v": v, "x": 1.5, "v_seed": u[:3], "x_seed": u[3]}
    value, dv, dx, hv, hx = printed.run(args=args, fn="f_hvp").value
    assert np.allclose(np.r_[hv, hx], hessian(v, 1.5) @ u, rtol=1e-12)
    assert np.allclose(np.r_[dv, dx], gradient(v, 1.5), rtol=1e-12)
    # the printed program differentiated again: d(H u)_0 / dx is the third derivative along u, by both modes
    again = adlang.compile(text + "\ndef pick_(v: vec, x, v_seed: vec, x_seed) -> float:\n"
                           "    let a, b, c, d, e = f_hvp(v, x, v_seed, x_seed)\n    return d[0]\n")
    third = [again.grad(args=args, fn="pick_", wrt=["x"], mode=m).grad["x"] for m in ("forward", "reverse")]
    assert third[0] == pytest.approx(third[1], rel=1e-12) and third[0] == pytest.approx(2 * u[0], rel=1e-12)


def test_diff_hvp_is_deterministic_and_refuses_order(chain):
    first = command("diff", chain, "--wrt", "v", "--hvp")[1]
    assert first == command("diff", chain, "--wrt", "v", "--hvp")[1]
    assert compile_source(first, "<hvp>").function("f_hvp") is not None
    code, _, err = command("diff", chain, "--wrt", "v", "--hvp", "--order", "2")
    assert code == 2 and "leave out --order" in err


@pytest.mark.parametrize("call, fragment", [
    (lambda p: p.hvp(args={"v": [1, 2], "x": 1}), "hvp needs a direction"),
    (lambda p: p.hvp(args={"v": [1, 2], "x": 1}, direction=[1, 0]), "direction is u itself only where one"),
    (lambda p: p.hvp(args={"v": [1, 2], "x": 1}, direction={"v": [1, 0, 0]}), "the direction has 3 elements"),
    (lambda p: p.hvp(args={"v": [1, 2], "x": 1}, direction={"v": "up"}), "'v' is a vec, so its part"),
    (lambda p: p.hvp(args={"v": [1, 2], "x": 1}, direction={1: 0}), "its keys are parameter names"),
    (lambda p: p.hvp(args={"v": [1, 2], "x": 1}, direction={"x": 1}, mode="sideways"), "unknown mode"),
    (lambda p: p.diff(wrt="v", hvp=True, order=2), "leave out order"),
])
def test_api_hvp_mistakes_are_usage_errors(call, fragment):
    with pytest.raises(adlang.Error) as info:
        call(adlang.compile(CHAIN))
    assert info.value.kind == "usage" and fragment in info.value.message, info.value.message


def test_api_hvp_is_what_run_hvp_json_prints(chain):
    words = ["run", chain, "v=[0.5,1.5,-1]", "x=2", "--grad", "v", "--hvp", "v=[0,1,0]", "--json"]
    expected = json.loads(command(*words)[1])
    got = adlang.load(chain).hvp(args={"v": [0.5, 1.5, -1], "x": 2}, direction={"v": [0, 1, 0]}, wrt=["v"])
    assert got.to_json() == expected


def test_a_notebook_and_ipython_show_the_hvp():
    r = adlang.compile(CHAIN).hvp(args={"v": [0.1, 0.2], "x": 1.0}, direction={"v": [1.0, 0.0]})
    page = r._repr_html_()
    assert "Hessian-vector product H u" in page and "direction u" in page

    class Printer:
        def __init__(self):
            self.parts = []

        def text(self, part):
            self.parts.append(part)

    printer = Printer()
    r._repr_pretty_(printer, False)
    assert "hessian-vector product H u" in printer.parts[0]


@pytest.mark.parametrize("pair, most", [("forward-over-reverse", 9), ("reverse-over-reverse", 10)])
def test_one_hvp_runs_a_constant_number_of_statements_per_statement_of_f(pair, most):
    """H u costs a constant times f whatever n is (issue 16: within 15x f): counted in statements, not timed.
    Reverse over reverse ran 19.6 per statement of f while it reversed the gradient program's forward loop
    (whose value nobody asked for) and taped what that program's backward loop recomputes, and 11.1 while it
    kept that loop's unread `v[i]` and `v[i + 1]` (which cannot fail there)."""
    from adlang.interp.interpreter import run_function
    from adlang.ir.derive import derive_hvp

    program = compile_source(CHAIN, "<chain>")
    built = derive_hvp(program, "f", ["v", "x"], pair)
    ratios = []
    for n in (10, 100, 1000):
        v, u = np.linspace(-1.0, 1.5, n), np.cos(np.arange(n))
        args = {"v": v, "x": 0.7}
        f = run_function(program, "f", args).steps
        run = run_function(built.program, built.directional, {**args, built.seeds[0]: u, built.seeds[1]: 0.5})
        hu = np.concatenate([np.atleast_1d(part) for part in built.hu(run.value)])
        assert np.allclose(hu, hessian(v, 0.7) @ np.append(u, 0.5), rtol=1e-12, atol=1e-12)
        ratios.append(run.steps / f)
    assert max(ratios) <= most and max(ratios) - min(ratios) < 1.0, ratios


def test_a_loops_trip_local_variables_become_its_own_lets():
    """`t` is written before it is read on every trip of both loops and read after neither: each loop gets a
    `let` of its own, so reverse mode tells the loops' values apart (`ir/loop_locals.py`); `s`, carried from
    trip to trip, stays an update."""
    from adlang.ir import nodes as ir
    from adlang.ir.loop_locals import localize
    from adlang.ir.naming import Namer

    source = ("def g(v: vec) -> float:\n    let s = 0.0\n    let t = 0.0\n    for i in 0..len(v):\n"
              "        t = v[i] * 2.0\n        s = s + t\n    for j in 0..len(v):\n        t = v[j] + 1.0\n"
              "        s = s * t\n    return s\n")
    fn = compile_source(source, "<g>").function("g")
    local = localize(fn, Namer(ir.names_in(fn)))
    loops = [s for s in local.body if isinstance(s, ir.For)]
    assigned = [{s.target.name for s in loop.body if isinstance(s, ir.Assign)} for loop in loops]
    assert assigned == [{"s"}, {"s"}]  # t's two assignments are lets now
    fresh = [s.targets[0].name for loop in loops for s in loop.body
             if isinstance(s, ir.Let) and isinstance(s.expr, ir.Prim) and s.expr.op in ("mul", "add")]
    assert len(set(fresh)) == 2 and "t" not in fresh
    assert localize(local, Namer(ir.names_in(local))) == local  # nothing left to do


@pytest.mark.parametrize("stop, index, dropped", [
    ("len(v) - 1", "v[i + 1]", True),
    ("len(v) - 2", "v[i + 2]", True),
    ("len(v)", "v[i]", True),
    ("len(v)", "v[i + 1]", False),  # out of range on the last trip: the read stays, and so does its error
    ("len(v) - 1", "v[i + 2]", False),
    ("len(w)", "v[i]", False),  # another vec's length
])
def test_unread_indexing_is_dropped_only_where_it_is_in_range(stop, index, dropped):
    from adlang.interp.interpreter import run_function
    from adlang.ir.printer import print_program
    from adlang.ir.simplify import simplify_program
    from adlang.lang.errors import RuntimeFault

    source = (f"def f(v: vec, w: vec) -> float:\n    let s = 0.0\n    for i in 0..{stop}:\n        let t = {index}\n"
              "        s += 1.0\n    return s\n")
    simple = simplify_program(compile_source(source, "<reads>"))
    assert ("v[" not in print_program(simple)) == dropped
    args = {"v": np.ones(3), "w": np.ones(3)}
    if dropped:
        assert run_function(simple, "f", args).value == float(len(range(eval(stop, {"len": len}, args))))
    else:
        with pytest.raises(RuntimeFault):
            run_function(simple, "f", {"v": np.ones(3), "w": np.ones(4)})
