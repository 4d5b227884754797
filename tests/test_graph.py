"""`adlang graph`: the computation as a graph, with the tangents or adjoints of its derivative program.

DOT output is compared with golden files (tests/golden/graph/; `--update-golden` rewrites them) for the
lecture's foo, fan-out and loop, plain, forward and reverse, without and with arguments. The values on the
nodes are checked against the gradient `run --grad` computes, the names against `adlang diff`'s program,
the straight-line function a run unrolls into against the run, and the structure against renaming.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from helpers import PROGRAM_PATHS, ROOT, check_golden, golden_stem, load_example, src

import adlang
from adlang import cli
from adlang.graph import MAX_UNROLLED_STEPS, graph, short
from adlang.interp.interpreter import run_function
from adlang.ir.derivative_names import bound_names
from adlang.ir.derive import derive, finish
from adlang.pipeline import compile_source
from adlang.unroll import record, unroll

LECTURE = ROOT / "programs" / "lecture"
GOLDEN = [("foo", ["x", "y"]), ("fanout", ["x"]), ("loop", ["x", "y"])]
MODES = [None, "forward", "reverse"]
HAS_DOT = shutil.which("dot") is not None
EXAMPLES = [load_example(p) for p in PROGRAM_PATHS]


def lecture(name: str):
    return load_example(LECTURE / f"{name}.ad")


def derivative_value(node, name: str) -> str:
    return dict(node.derivatives)[name]


def node_binding(g, text: str):
    (node,) = [n for n in g.nodes if n.text == text]
    return node


# ---------------------------------------------------------------- golden DOT files


@pytest.mark.parametrize("with_args", [False, True], ids=["text", "args"])
@pytest.mark.parametrize("mode", MODES, ids=["plain", "forward", "reverse"])
@pytest.mark.parametrize("name, wrt", GOLDEN, ids=[n for n, _ in GOLDEN])
def test_dot_golden(name, wrt, mode, with_args, request, capsys):
    """The command's own output, byte for byte (the command line is the contract the golden keeps)."""
    ex = lecture(name)
    words = [f"{k}={v}" for k, v in ex.args.items()] if with_args else []
    flags = ["--wrt", ",".join(wrt), "--mode", mode] if mode else []
    assert cli.main(["graph", str(LECTURE / f"{name}.ad"), *words, *flags]) == 0
    out = capsys.readouterr().out
    stem = f"{golden_stem(ex.path)}.{mode or 'plain'}{'.args' if with_args else ''}.dot"
    check_golden(f"graph/{stem}", out, request)


def test_the_same_input_gives_the_same_bytes():
    ex = lecture("loop")
    texts = {graph(ex.program, ex.fn, ex.args, ex.wrt, "reverse").dot for _ in range(3)}
    assert len(texts) == 1


# ---------------------------------------------------------------- what the picture says


def test_fan_out_is_two_out_edges_and_reverse_mode_sums_what_they_send_back():
    """The lecture's x1 = x2 = x: x feeds a = 2x and b = x^2; dc/dx = dc/dx1 + dc/dx2 = 2 + 2x = 5 at 1.5."""
    ex = lecture("fanout")
    g = graph(ex.program, ex.fn, ex.args, ["x"], "reverse")
    x = node_binding(g, "x")
    data = [e for e in g.edges if e.source == x.id and e.kind == "data"]
    back = [e for e in g.edges if e.source == x.id and e.kind == "adjoint"]
    assert sorted(node_binding(g, t).id for t in ("a = 2 * x", "b = x ^ 2")) == sorted(e.target for e in data)
    assert sorted(float(e.label) for e in back) == [2.0, 3.0]  # dcda * 2 and dcdb * 2x
    assert derivative_value(x, "dcdx") == "5" == short(sum(float(e.label) for e in back))


def test_a_value_used_twice_by_one_operation_has_two_edges():
    program = compile_source(src("""
        def sq(x):
            let y = x * x
            return y
    """))
    g = graph(program, "sq", {"x": 3.0}, ["x"], "reverse")
    x, y = node_binding(g, "x"), node_binding(g, "y = x * x")
    assert [e.kind for e in g.edges if (e.source, e.target) == (x.id, y.id)] == ["data", "adjoint", "data", "adjoint"]
    assert [e.label for e in g.edges if e.kind == "adjoint" and e.source == x.id] == ["3", "3"]
    assert derivative_value(x, "dydx") == "6"


def test_forward_mode_shows_the_lecture_s_tangents_and_seeds():
    ex = lecture("foo")
    g = graph(ex.program, ex.fn, ex.args, ["x", "y"], "forward")
    assert node_binding(g, "x").derivatives == (("dxdx", "1"), ("dxdy", "0"))
    assert node_binding(g, "a = x + 5").derivatives == (("dadx", "1"), ("dady", "0"))
    assert node_binding(g, "b = a * y").derivatives == (("dbdx", "3"), ("dbdy", "7"))
    assert {e.kind for e in g.edges} == {"tangent"}


def test_reverse_mode_shows_the_lecture_s_adjoints():
    ex = lecture("foo")
    g = graph(ex.program, ex.fn, ex.args, ["x", "y"], "reverse")
    got = {n.text: n.derivatives for n in g.nodes}
    assert got == {"x": (("dbdx", "3"),), "y": (("dbdy", "7"),), "a = x + 5": (("dbda", "3"),),
                   "b = a * y": (("dbdb", "1"),), "return b": ()}
    assert node_binding(g, "return b").value == "21"


def test_without_arguments_the_names_stand_alone():
    ex = lecture("foo")
    g = graph(ex.program, ex.fn, None, ["x", "y"], "reverse")
    assert node_binding(g, "a = x + 5").derivatives == (("dbda", None),)
    assert all(n.value is None for n in g.nodes)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.golden_name)
def test_every_name_is_one_the_derivative_program_binds(ex, mode):
    fn = ex.program.function(ex.fn)
    wrt = [w for w in ex.wrt if mode == "reverse" or next(p for p in fn.params if p.name == w).type.kind == "float"]
    if not wrt:
        pytest.skip("no float parameter for forward mode")
    derived = derive(ex.program, ex.fn, wrt, mode)
    bound = bound_names(derived.program.function(derived.entry))
    g = graph(ex.program, ex.fn, None, wrt, mode)
    names = [name for n in g.nodes for name, _ in n.derivatives]
    assert names and set(names) <= bound


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.golden_name)
def test_the_values_are_the_run_s_and_the_derivatives_the_gradient(ex):
    """Reverse mode: a parameter's adjoint is the gradient. Forward mode: the tangents of the returned value's
    last binding are the gradient. Both as `adlang run --grad` computes them (6 digits)."""
    prog = adlang.compile(ex.source, str(ex.path))
    fn = ex.program.function(ex.fn)
    g = graph(ex.program, ex.fn, ex.args, ex.wrt, "reverse")
    if not g.unrolled:
        assert "more than" in g.title[1]
        return
    grad = prog.grad(ex.args, wrt=ex.wrt, fn=ex.fn).grad
    params = {n.text.partition(":")[0]: n for n in g.nodes if n.kind == "param"}
    for w in ex.wrt:
        (value,) = [v for _, v in params[w].derivatives]
        assert value == short(grad[w]), (w, value, grad[w])
    assert node_binding(g, g.nodes[-1].text).value == short(prog.run(ex.args, fn=ex.fn).value)
    floats = [w for w in ex.wrt if next(p for p in fn.params if p.name == w).type.kind == "float"]
    if floats:
        forward = graph(ex.program, ex.fn, ex.args, floats, "forward")
        (last,) = [e.source for e in forward.edges if e.target == "ret"]
        tangents = [v for _, v in next(n for n in forward.nodes if n.id == last).derivatives]
        assert tangents == [short(grad[w]) for w in floats]


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.golden_name)
def test_the_unrolled_run_computes_what_the_run_computes(ex):
    finished = finish(ex.program)
    events = record(finished, ex.fn, ex.args, 1_000_000)
    unrolled = unroll(finished, ex.fn, events)
    assert not any(not isinstance(s, (type(unrolled.function.body[0]), type(unrolled.function.body[-1])))
                   for s in unrolled.function.body)  # lets and the return only: straight-line code
    program = finish(type(finished)(finished.functions + (unrolled.function,)))
    got = run_function(program, unrolled.function.name, ex.args).value
    want = run_function(finished, ex.fn, ex.args).value
    assert short(got) == short(want)
    assert np.allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=1e-12, atol=0)


# ---------------------------------------------------------------- loops and branches


def test_a_loop_without_arguments_is_a_cluster_with_the_previous_trip_dashed():
    ex = lecture("loop")
    g = graph(ex.program, ex.fn, None, None)
    assert [c.label for c in g.clusters] == ["for i in 1..10"]
    body = node_binding(g, "accum = accum * y")
    assert body.cluster == g.clusters[0].id
    assert [(e.source, e.target) for e in g.edges if e.kind == "carried"] == [(body.id, body.id)]
    ret = node_binding(g, "return accum")
    assert sorted(e.source for e in g.edges if e.target == ret.id) == sorted([body.id, node_binding(g, "accum = x").id])


def test_a_short_run_is_unrolled_one_cluster_per_trip():
    ex = lecture("loop")
    g = graph(ex.program, ex.fn, ex.args, ["x", "y"], "reverse")
    assert g.unrolled and [c.label for c in g.clusters] == [f"i = {i}" for i in range(1, 10)]
    trips = [n for n in g.nodes if n.text == "accum = accum * y"]
    assert [n.cluster for n in trips] == [c.id for c in g.clusters]
    assert [n.value for n in trips] == [short(1.5 * 1.1 ** k) for k in range(1, 10)]
    # the adjoint of trip k's accum is y^(9-k): the lecture's da_k da_10
    assert [derivative_value(n, "daccumdaccum") for n in trips] == [short(1.1 ** (9 - k)) for k in range(1, 10)]
    y = node_binding(g, "y")
    sent = [float(e.label) for e in g.edges if e.kind == "adjoint" and e.source == y.id]
    assert len(sent) == 9 and short(sum(sent)) == derivative_value(y, "daccumdy") == short(9 * 1.5 * 1.1 ** 8)


def test_a_long_run_is_drawn_as_the_text_with_the_result_in_the_title():
    program = compile_source(src("""
        def power(x, y, n: int):
            let accum = x
            for i in 0..n:
                accum = accum * y
            return accum
    """))
    g = graph(program, "power", {"x": 1.0, "y": 1.0, "n": MAX_UNROLLED_STEPS}, ["x", "y"], "reverse")
    assert not g.unrolled and len(g.clusters) == 1
    assert g.title[0] == f"power(x=1, y=1, n={MAX_UNROLLED_STEPS}) = 1" and "more than" in g.title[1]
    assert all(n.value is None for n in g.nodes)


def test_a_branch_is_a_diamond_and_a_cluster_each_and_the_run_takes_one():
    program = compile_source(src("""
        def f(x):
            let y = 0.0
            if x > 0.0:
                y = x * 2.0
            else:
                y = -x
            return y
    """))
    text = graph(program, "f", None, ["x"])
    assert [c.label for c in text.clusters] == ["if _1", "else"]
    assert [n.text for n in text.nodes if n.kind == "control"] == ["if _1"]
    ret = node_binding(text, "return y")
    assert len([e for e in text.edges if e.target == ret.id and e.kind == "data"]) == 2
    run = graph(program, "f", {"x": 3.0}, ["x"])
    assert [n.text for n in run.nodes if n.kind == "op"] == ["y = 0.0", "_1 = x > 0.0", "y = x * 2.0"]
    assert derivative_value(node_binding(run, "x"), "dydx") == "2"


def test_a_tape_in_a_derivative_program_is_an_edge_from_push_to_pop():
    """A printed derivative program is adlang too: graphing it follows values through the tape."""
    text = adlang.load(LECTURE / "loop.ad").diff(wrt=["x", "y"])
    program = compile_source(text)
    g = graph(program, "foo_reverse", {"x": 1.5, "y": 1.1})
    assert len([e for e in g.edges if e.kind == "tape"]) == 9


# ---------------------------------------------------------------- renaming


RENAMED = [
    {},
    {"x": "dadx", "y": "dbda", "a": "a_1", "b": "dxdx"},
    {"x": "_1", "y": "foo_reverse", "a": "dbdb", "b": "a"},
]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("names", RENAMED[1:], ids=str)
def test_renaming_user_names_changes_no_structure_and_labels_follow_diff(names, mode):
    def build(mapping):
        ex = lecture("foo")
        source = re.sub(r"\b[a-z]\b", lambda m: mapping.get(m.group(0), m.group(0)), ex.source.split("def", 1)[1])
        program = compile_source("def" + source)
        wrt = [mapping.get(w, w) for w in ("x", "y")]
        args = {mapping.get(k, k): v for k, v in ex.args.items()}
        return program, graph(program, "foo", args, wrt, mode), wrt

    _, plain, _ = build({})
    program, renamed, wrt = build(names)

    def shape(g):
        return ([(n.id, n.kind, n.cluster, n.value, [v for _, v in n.derivatives]) for n in g.nodes],
                [(e.source, e.target, e.kind, e.label) for e in g.edges], g.clusters)

    assert shape(renamed) == shape(plain)
    derived = derive(program, "foo", wrt, mode)
    bound = bound_names(derived.program.function(derived.entry))
    assert all(name in bound for n in renamed.nodes for name, _ in n.derivatives)


# ---------------------------------------------------------------- the command line


def test_cli_errors_are_usage_errors_with_exit_2(capsys, tmp_path):
    foo = str(LECTURE / "foo.ad")
    cases = [
        (["--mode", "forward"], "--mode needs --wrt"),
        (["--wrt", "x", "--mode", "sideways"], "forward or reverse, not 'sideways'"),
        (["--wrt", "z"], "'z', which is not a parameter"),
        (["x=2"], "missing argument 'y'"),
        (["--format", "jpg"], "--format is dot, svg or png, not 'jpg'"),
        (["-o", str(tmp_path / "missing" / "g.dot")], "cannot write"),
    ]
    for extra, message in cases:
        assert cli.main(["graph", foo, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("adlang: usage error: ") and message in err and "Traceback" not in err


def test_cli_forward_mode_over_a_vec_is_a_usage_error(capsys):
    path = ROOT / "programs" / "examples" / "vec_stats.ad"
    fn = compile_source(path.read_text()).functions[-1]
    vec = next(p.name for p in fn.params if p.type.kind == "vec")
    assert cli.main(["graph", str(path), "--wrt", vec, "--mode", "forward"]) == 2
    assert "draw it with --mode reverse" in capsys.readouterr().err


def test_cli_a_failing_run_is_a_runtime_error_with_exit_1(tmp_path, capsys):
    path = tmp_path / "bad.ad"
    path.write_text("def f(x):\n    let y = log(x)\n    return y\n")
    assert cli.main(["graph", str(path), "x=-1"]) == 1
    assert re.match(rf"{re.escape(str(path))}:2:\d+: runtime error: ", capsys.readouterr().err)


def test_cli_without_graphviz_a_picture_is_a_usage_error_saying_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    foo = str(LECTURE / "foo.ad")
    for extra in (["--format", "svg"], ["-o", str(tmp_path / "g.png")]):
        assert cli.main(["graph", foo, *extra]) == 2
        assert "apt install graphviz" in capsys.readouterr().err
    assert cli.main(["graph", foo, "-o", str(tmp_path / "g.dot")]) == 0
    assert (tmp_path / "g.dot").read_text().startswith("digraph adlang {")
    assert "<pre>digraph adlang {" in adlang.load(foo).graph()._repr_html_()
    assert adlang.load(foo).graph()._repr_svg_() is None
    with pytest.raises(adlang.Error, match="apt install graphviz"):
        adlang.load(foo).graph().svg()


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_cli_draws_svg_and_png_with_graphviz(tmp_path, capsys):
    fanout = str(LECTURE / "fanout.ad")
    assert cli.main(["graph", fanout, "x=1.5", "--wrt", "x", "--format", "svg"]) == 0
    svg = capsys.readouterr().out
    assert "<svg" in svg and "dcdx = 5" in svg
    assert cli.main(["graph", fanout, "-o", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    g = adlang.load(fanout).graph({"x": 1.5}, wrt=["x"])
    assert g._repr_html_().startswith("<svg") and g._repr_svg_().lstrip().startswith("<?xml")


def test_cli_json_holds_the_dot_text_and_names_the_file_written(capsys, tmp_path):
    foo = str(LECTURE / "foo.ad")
    assert cli.main(["graph", foo, "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj == {"function": "foo", "dot": adlang.load(foo).graph().dot}
    assert cli.main(["graph", foo, "--json", "-o", str(tmp_path / "g.dot")]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == obj["dot"]
    assert cli.main(["graph", foo, "--json", "--format", "png"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "usage"


def test_api_graph_is_what_the_command_prints(capsys):
    foo = LECTURE / "foo.ad"
    assert cli.main(["graph", str(foo), "x=2", "y=3", "--wrt", "x,y", "--mode", "forward"]) == 0
    g = adlang.load(foo).graph({"x": 2, "y": 3}, wrt=["x", "y"], mode="forward")
    assert g.dot == capsys.readouterr().out == str(g)
    for bad in ({"mode": "reverse"}, {"wrt": ["q"]}, {"args": {"x": 2}}, {"fn": "nope"}, {"mode": 3, "wrt": "x"}):
        with pytest.raises(adlang.Error):
            adlang.load(foo).graph(**bad)
    with pytest.raises(adlang.Error, match="save takes a file's path"):
        g.save(3)
