"""The native engine (issue 14): every primitive lowered, the examples run natively with no fallback, faults
and unsupported programs fall back to the interpreter, numba optional, compiled code cached in the process.

What it returns is the conformance suite's business (tests/test_conformance.py runs it like every engine).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ROOT, compile_text
from test_conformance import EXAMPLE_RUNS, affordable, example_run

from adlang.interp import engines
from adlang.interp.engines import ENGINES
from adlang.ir.derive import derive, finish
from adlang.ir.primitives import REGISTRY
from adlang.lang.errors import RuntimeFault, UsageError

numba = pytest.importorskip("numba")
from adlang.interp import native  # noqa: E402


def test_every_primitive_has_a_native_lowering():
    missing = [name for name in REGISTRY if not native.lowered(name)]
    assert not missing, f"primitives without a native lowering (interp/native.py SCALAR, VECTOR or MAT): {missing}"


def mat_signatures():
    """Every (primitive, operand kinds) whose type rule takes or gives a mat, found by asking each rule about
    every combination of up to four operands of the kinds below."""
    import itertools

    from adlang.ir import nodes as ir
    from adlang.ir.primitive import TypeRuleError
    from adlang.ir.types import FLOAT, INT, MAT, VEC

    found = []
    for name, prim in REGISTRY.items():
        for arity in [prim.arity] if prim.arity is not None else [1, 2, 3, 4]:
            for types in itertools.product([MAT, VEC, INT, FLOAT], repeat=arity):
                try:
                    result = prim.type_rule(tuple(ir.Var(f"a{k}", t) for k, t in enumerate(types)))
                except (TypeRuleError, IndexError, TypeError, ValueError):
                    continue
                if MAT in types or result.kind == "mat":
                    found.append((name, tuple(t.kind for t in types)))
    return found


def test_every_mat_form_of_a_primitive_has_a_native_lowering():
    signatures = mat_signatures()
    assert {"matmul", "outer", "transpose", "rows", "cols", "matindex", "row", "matlit", "sum", "mean", "zeros",
            "ones", "addto", "addat", "exp", "add"} <= {name for name, _ in signatures}
    for name, kinds in signatures:
        elementwise = name in native.ELEMENTWISE and "mat" in kinds
        assert elementwise or (native.mat_form(name, kinds) and name in native.MAT), (name, kinds)


MATS = """
def f(A: mat, x: vec, k: int) -> float:
    let y = A @ x
    let B = transpose(A) @ A
    let C = exp(B) * 2.0 + B - ones(cols(A), cols(A))
    let Z = [[1.0, 2.0], [3.0, x[0]]]
    let D = addat(addat(zeros(rows(A), cols(A)), k, A[0]), 0, 1, y[0])
    return sum(y * y) + mean(C) + A[k, 1] + sum(Z @ x) + x @ x + sum(y @ A) + sum(outer(x, y)) + float(rows(A)) + sum(D)
"""


def test_a_program_with_mats_runs_natively_with_the_interpreters_result():
    from test_conformance import assert_conforms

    program = compile_text(MATS)
    args = {"A": np.array([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]]), "x": np.array([0.5, -1.0]), "k": 2}
    before = dict(native.FALLBACKS)
    assert_conforms("native", program, "f", args)
    wrt = ["A", "x"]
    for mode in ["forward", "reverse"]:
        derived = derive(program, "f", wrt, mode, 1, True, "none")
        assert_conforms("native", derived.program, derived.entry, args)
    assert dict(native.FALLBACKS) == before


# A loop whose state is a mat: reverse mode pushes and pops mats, checkpointed too (revolve and every:2 push
# mats at snapshots).
MAT_LOOP = """
def f(A: mat, W: mat, n: int) -> float:
    let S = A
    for i in 0..n:
        S = tanh(S @ W) + A * 0.5
    return sum(S * S)
"""


@pytest.mark.parametrize("checkpoint", ["none", "every:2", "revolve:2"])
def test_mats_on_the_tapes(checkpoint):
    from test_conformance import assert_conforms

    program = compile_text(MAT_LOOP)
    args = {"A": np.array([[0.5, -0.2], [0.1, 0.3], [1.0, 0.7]]), "W": np.array([[0.9, -0.4], [0.3, 0.6]]), "n": 5}
    before = dict(native.FALLBACKS)
    derived = derive(program, "f", ["A", "W"], "reverse", 1, True, checkpoint)
    expected = assert_conforms("native", derived.program, derived.entry, args)
    assert expected.tape_peak > 0
    assert dict(native.FALLBACKS) == before


@pytest.mark.parametrize("text, args, fragment", [
    ("def f(A: mat, x: vec) -> float:\n    let y = A @ x\n    return sum(y)\n",
     dict(A=np.ones((2, 3)), x=np.ones(2)), "inner lengths differ"),
    ("def f(A: mat, B: mat) -> float:\n    let C = A + B\n    return sum(C)\n",
     dict(A=np.ones((2, 3)), B=np.ones((3, 2))), "different shapes"),
    ("def f(A: mat, i: int) -> float:\n    let r = A[i]\n    return sum(r)\n", dict(A=np.ones((2, 3)), i=2),
     "out of range"),
    ("def f(A: mat, i: int) -> float:\n    let a = A[0, i]\n    return a\n", dict(A=np.ones((2, 3)), i=-1),
     "out of range"),
    ("def f(A: mat) -> float:\n    let B: mat(2, 2) = A\n    return sum(B)\n", dict(A=np.ones((2, 3))),
     "mat(2, 2)"),
    ("def f(u: vec, v: vec) -> float:\n    let M = [u, v]\n    return sum(M)\n", dict(u=np.ones(2), v=np.ones(3)),
     "different lengths"),
    ("def f(n: int) -> float:\n    let M = zeros(n, 2)\n    return sum(M)\n", dict(n=-1), "negative size"),
    ("def f(A: mat) -> float:\n    let B = A * 1e308\n    let C = B @ B\n    return sum(C)\n",
     dict(A=np.array([[1.0, -1.0], [1.0, 1.0]]) * 10), "NaN"),
    ("def f(A: mat) -> float:\n    let m = mean(A)\n    return m\n", dict(A=np.ones((0, 3))), "empty"),
])
def test_mat_errors_are_the_interpreters(text, args, fragment):
    from test_conformance import both_fail

    before = native.FALLBACKS["unsupported"]
    fault = both_fail("native", compile_text(text), "f", args)
    assert fragment in fault.message
    assert native.FALLBACKS["unsupported"] == before


MAT_EXAMPLES = [ROOT / "programs" / "examples" / f"{name}.ad" for name in ("lstsq", "logreg_mat", "tanh_net")]


@pytest.mark.parametrize("path", MAT_EXAMPLES, ids=lambda p: p.stem)
def test_gradients_of_the_mat_examples_natively_match_finite_differences(path):
    from helpers import load_example

    from adlang.derivatives import compute

    ex = load_example(path)
    before = dict(native.FALLBACKS)
    got = compute(ex.program, ex.fn, ex.args, wrt=ex.wrt, engine="native")
    assert dict(native.FALLBACKS) == before

    def value(args):
        return ENGINES["native"].run(ex.finished, ex.fn, args).value

    h = 1e-6
    for w in ex.wrt:
        x = np.asarray(ex.args[w], dtype=float)
        for k in list(np.ndindex(x.shape))[:6]:
            up, down = x.copy(), x.copy()
            up[k] += h
            down[k] -= h
            numeric = (value({**ex.args, w: up if x.ndim else float(up)})
                       - value({**ex.args, w: down if x.ndim else float(down)})) / (2 * h)
            analytic = np.asarray(got.grad[w])[k]
            assert abs(analytic - numeric) <= 1e-5 * max(1.0, abs(numeric)), (w, k, analytic, numeric)


@pytest.mark.parametrize("path, variant", EXAMPLE_RUNS, ids=[f"{p.stem}-{v}" for p, v in EXAMPLE_RUNS])
def test_examples_run_natively_without_fallback(path, variant):
    """Within the conformance suite's budget for native (the runs it compiled already, so nothing compiles)."""
    if not affordable("native", path, variant):
        pytest.skip("beyond native's budget (test_conformance.BUDGET)")
    program, fn, args = example_run(path, variant)
    before = dict(native.FALLBACKS)
    ENGINES["native"].run(finish(program), fn, {k: v for k, v in args.items()})
    assert dict(native.FALLBACKS) == before, f"{path.stem} {variant} fell back: {native.FALLBACKS}"


def test_a_fault_reruns_in_the_interpreter():
    program = compile_text("def f(x) -> float:\n    let y = log(x)\n    return y\n")
    before = native.FALLBACKS["fault"]
    with pytest.raises(RuntimeFault, match="log") as info:
        ENGINES["native"].run(program, "f", {"x": -1.0})
    assert info.value.span.line == 2
    assert native.FALLBACKS["fault"] == before + 1
    assert ENGINES["native"].run(program, "f", {"x": 1.0}).value == 0.0


def test_a_program_compiles_once_per_object():
    program = compile_text("def f(x, n: int) -> float:\n    let r = x\n    for i in 0..n:\n        r = r * x\n"
                           "    return r\n")
    first = native.compile_program(program)
    assert native.compile_program(program) is first
    assert ENGINES["native"].run(program, "f", {"x": 2.0, "n": 3}).value == 16.0
    signatures = dict(first.functions["f"].overloads)
    ENGINES["native"].run(program, "f", {"x": 3.0, "n": 2})
    assert dict(first.functions["f"].overloads).keys() == signatures.keys()


def test_without_numba_the_engine_is_a_usage_error(monkeypatch):
    monkeypatch.setattr(engines.importlib.util, "find_spec", lambda name: None)
    program = compile_text("def f(x) -> float:\n    return x\n")
    with pytest.raises(UsageError, match="pip install numba"):
        engines.run(program, "f", {"x": 1.0}, engine="native")
    from adlang.options import check_engine

    with pytest.raises(UsageError, match="pip install numba"):
        check_engine("native")
    assert engines.run(program, "f", {"x": 1.0}, engine="compiled").value == 1.0


def test_vec_arguments_are_left_alone():
    program = compile_text("def f(v: vec) -> vec:\n    let w = addat(v, 0, 1.0)\n    return w\n")
    v = np.array([1.0, 2.0])
    assert np.array_equal(ENGINES["native"].run(program, "f", {"v": v}).value, [2.0, 2.0])
    assert np.array_equal(v, [1.0, 2.0])


# Each function updates d by addat in a loop; only `alone` may do it in place: elsewhere another name (a copy, a
# call's result, addto's result, a parameter) holds d's array, whose old contents the result shows.
SHARED = """\
def same(v: vec) -> vec:
    return v

def alone(n: int) -> vec:
    let d = zeros(n)
    for i in 0..n:
        d = addat(d, i, 1.0)
    return d

def copied(n: int) -> (vec, vec):
    let d = zeros(n)
    let kept = d
    for i in 0..n:
        d = addat(d, i, 1.0)
    return d, kept

def called(n: int) -> (vec, vec):
    let d = zeros(n)
    let kept = same(d)
    for i in 0..n:
        d = addat(d, i, 1.0)
    return d, kept

def added(n: int) -> (vec, vec):
    let d = zeros(n)
    let kept = addto(d, zeros(0))
    for i in 0..n:
        d = addat(d, i, 1.0)
    return d, kept

def param(d: vec) -> vec:
    for i in 0..len(d):
        d = addat(d, i, 1.0)
    return d

def alone_mat(n: int) -> mat:
    let d = zeros(n, 2)
    for i in 0..n:
        d = addat(d, i, 1, 1.0)
        d = addat(d, i, [0.5, 0.5])
    return d

def copied_mat(n: int) -> (mat, mat):
    let d = zeros(n, 2)
    let kept = d
    for i in 0..n:
        d = addat(d, i, 1, 1.0)
        d = addat(d, i, [0.5, 0.5])
    return d, kept

def param_mat(d: mat) -> mat:
    for i in 0..rows(d):
        d = addat(d, i, 1, 1.0)
        d = addat(d, i, [0.5, 0.5])
    return d
"""


def test_addat_in_place_only_where_the_array_is_the_variables_alone():
    program = finish(compile_text(SHARED))
    assert native.exclusive_arrays(program.function("alone")) == {"d"}
    assert "d" in native.exclusive_arrays(program.function("alone_mat"))  # and the row literal, made afresh
    for name in ("copied", "called", "added", "param", "copied_mat", "param_mat"):
        assert "d" not in native.exclusive_arrays(program.function(name)), name
    source = native.Generator(program).module().source
    assert "_maddat_in(" in source and "_maddrow_in(" in source
    filled = [[0.5, 1.5], [0.5, 1.5], [0.5, 1.5]]
    d, kept = ENGINES["native"].run(program, "copied_mat", {"n": 3}).value
    assert np.array_equal(d, filled) and np.array_equal(kept, np.zeros((3, 2)))
    assert np.array_equal(ENGINES["native"].run(program, "alone_mat", {"n": 3}).value, filled)
    m = np.zeros((3, 2))
    assert np.array_equal(ENGINES["native"].run(program, "param_mat", {"d": m}).value, filled)
    assert np.array_equal(m, np.zeros((3, 2)))
    for name in ("copied", "called", "added"):
        d, kept = ENGINES["native"].run(program, name, {"n": 3}).value
        assert np.array_equal(d, [1.0, 1.0, 1.0]) and np.array_equal(kept, [0.0, 0.0, 0.0]), name
    v = np.zeros(3)
    assert np.array_equal(ENGINES["native"].run(program, "param", {"d": v}).value, [1.0, 1.0, 1.0])
    assert np.array_equal(v, [0.0, 0.0, 0.0])
    assert np.array_equal(ENGINES["native"].run(program, "alone", {"n": 4}).value, np.ones(4))


def test_the_lecture_loop_natively():
    from helpers import load_example

    ex = load_example(ROOT / "programs" / "lecture" / "loop.ad")
    got = ENGINES["native"].run(ex.finished, ex.fn, dict(ex.args))
    expected = ENGINES["interp"].run(ex.finished, ex.fn, dict(ex.args))
    assert (got.value, got.steps, got.loop_trips) == (expected.value, expected.steps, expected.loop_trips)


def test_the_disk_cache_keeps_one_file_per_module(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ADLANG_NATIVE_CACHE", raising=False)  # on by default
    source = "def f_g(v_x, _S):\n    return v_x\n"
    name = native.module_name(source, numba.__version__)
    assert name == native.module_name(source, numba.__version__) != native.module_name(source + "\n", "0")
    path = native.module_file(name, source)
    assert path == tmp_path / "adlang" / "native" / f"{name}.py" and path.read_text() == source
    assert native.module_file(name, source) == path
    path.write_text("garbage")  # a damaged file is written again
    assert native.module_file(name, source).read_text() == source
    monkeypatch.setenv("ADLANG_NATIVE_CACHE", "0")
    assert native.module_file(name, source) is None


def test_the_disk_cache_keeps_the_newest_modules(tmp_path):
    import os

    (tmp_path / "__pycache__").mkdir()
    for k in range(12):
        (tmp_path / f"adlang_native_{k:02}.py").write_text("")
        (tmp_path / "__pycache__" / f"adlang_native_{k:02}.f_g-1.py311.nbi").write_text("")
        os.utime(tmp_path / f"adlang_native_{k:02}.py", (k, k))
    native.prune(tmp_path, keep=10)
    assert sorted(p.stem for p in tmp_path.glob("*.py")) == [f"adlang_native_{k:02}" for k in range(4, 12)]
    assert len(list((tmp_path / "__pycache__").iterdir())) == 8


# One process: runs each program given (name=source) natively on vecs of 300 elements, and prints the values and
# how many compiled functions numba found in its disk cache or compiled.
RUNNER = """
import json, sys
import numpy as np
from adlang.interp.engines import ENGINES
from adlang.interp import native
from adlang.pipeline import compile_source

out = {}
u, w = np.linspace(-1.0, 2.0, 300), np.linspace(3.0, 0.5, 300)
for item in sys.argv[1:]:
    name, text = item.split("=", 1)
    program = compile_source(text, "<cached>")
    value = ENGINES["native"].run(program, "f", {"u": u, "w": w}).value
    stats = [d.stats for d in native.compile_program(program).functions.values()]
    out[name] = dict(value=value, hits=sum(sum(s.cache_hits.values()) for s in stats),
                     misses=sum(sum(s.cache_misses.values()) for s in stats))
out["fallbacks"] = sum(native.FALLBACKS.values())
print(json.dumps(out))
"""
# A sum over more than 128 elements (numpy's pairwise order, once a recursive helper) and two elementwise helpers
# that differ only in their operation (once both named `_e`): code loaded from the cache called the wrong one,
# or address 0, beside code compiled in the same process.
PLUS = ("def g(u: vec, w: vec) -> vec:\n    return u + w\n\n"  # small: written into f at both calls
        "def f(u: vec, w: vec) -> float:\n    let s = g(u, w)\n    let t = g(w, s)\n    return sum(t)\n")
TIMES = "def f(u: vec, w: vec) -> float:\n    let s = u * w\n    return sum(s)\n"


def cached_runs(tmp_path, *programs: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("ADLANG_NATIVE_CACHE", None)
    done = subprocess.run([sys.executable, "-c", RUNNER, *programs], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def expected(text: str) -> float:
    u, w = np.linspace(-1.0, 2.0, 300), np.linspace(3.0, 0.5, 300)
    return ENGINES["interp"].run(compile_text(text), "f", {"u": u, "w": w}).value


def test_a_second_process_loads_the_machine_code_instead_of_compiling(tmp_path):
    plus, times = expected(PLUS), expected(TIMES)
    first = cached_runs(tmp_path, f"plus={PLUS}")
    assert first["plus"] == dict(value=plus, hits=0, misses=1) and first["fallbacks"] == 0
    # the other program compiled in this process before the cached one is loaded beside it
    second = cached_runs(tmp_path, f"times={TIMES}", f"plus={PLUS}")
    assert second["times"] == dict(value=times, hits=0, misses=1)
    assert second["plus"] == dict(value=plus, hits=1, misses=0) and second["fallbacks"] == 0
    third = cached_runs(tmp_path, f"plus={PLUS}", f"times={TIMES}")
    assert third["plus"]["hits"] == third["times"]["hits"] == 1
    assert (third["plus"]["value"], third["times"]["value"]) == (plus, times)


def test_a_damaged_cache_entry_is_compiled_again(tmp_path):
    cached_runs(tmp_path, f"plus={PLUS}")
    entries = list((tmp_path / "adlang" / "native" / "__pycache__").iterdir())
    assert {p.suffix for p in entries} == {".nbi", ".nbc"}
    for k, path in enumerate(entries):  # cut short, flipped bytes, emptied
        data = path.read_bytes()
        path.write_bytes([data[: len(data) // 2], bytes(b ^ 0xFF for b in data), b""][k % 3])
    again = cached_runs(tmp_path, f"plus={PLUS}")
    assert again["plus"] == dict(value=expected(PLUS), hits=0, misses=1) and again["fallbacks"] == 0
    assert cached_runs(tmp_path, f"plus={PLUS}")["plus"]["hits"] == 1


def test_two_processes_may_fill_the_cache_at_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: cached_runs(tmp_path, f"plus={PLUS}", f"times={TIMES}"), range(2)))
    plus, times = expected(PLUS), expected(TIMES)
    assert all((run["plus"]["value"], run["times"]["value"], run["fallbacks"]) == (plus, times, 0) for run in both)
    after = cached_runs(tmp_path, f"plus={PLUS}", f"times={TIMES}")
    assert (after["plus"]["misses"], after["times"]["misses"]) == (0, 0)


def test_the_cli_finds_the_compiled_code_in_a_second_process(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("ADLANG_NATIVE_CACHE", None)
    argv = [sys.executable, "-m", "adlang", "run", str(ROOT / "programs" / "lecture" / "loop.ad"), "x=1.5",
            "y=1.1", "--grad", "x,y", "--engine", "native", "--json"]
    first = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    files = {path: path.stat().st_mtime_ns for path in (tmp_path / "adlang" / "native").glob("**/*")}
    assert any(path.name.endswith("f_foo_reverse-1.py311.nbi") for path in files)
    second = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == second.returncode == 0 and first.stdout == second.stdout
    # loaded, not compiled and saved again
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "adlang" / "native").glob("**/*")} == files


# A NaN check is left out where the NaN would surely reach a later check in the same block (`covered_nan_checks`);
# these NaNs (inf * 0 on line 2) go on to a check, into a negation, a comparison, a value overwritten, a branch
# or a call: every run stops with the interpreter's error at line 2.
NAN_ROUTES = {
    "a later sum": "    let b = a + 1.0\n    return b",
    "through a negation": "    let b = -a\n    let c = b * 2.0\n    return c",
    "into a negation only": "    let b = -a\n    return 1.0",
    "through a copy": "    let b = a\n    let c = exp(b)\n    return c",
    "a comparison only": "    let b = a < 1.0\n    return 1.0",
    "overwritten": "    a = 2.0\n    let b = a + 1.0\n    return b",
    "into a branch": "    if x > 0.0:\n        let b = a + 1.0\n    return 1.0",
    "returned": "    return a",
    "into a call": "    let b = g(a)\n    return 1.0",
    "a use in a loop": "    let s = 0.0\n    for i in 0..0:\n        s = s + a\n    return s",
}


@pytest.mark.parametrize("route", NAN_ROUTES)
def test_a_nan_is_caught_wherever_it_goes(route):
    text = f"def f(x, y) -> float:\n    let a = x * y\n{NAN_ROUTES[route]}\n\ndef g(z) -> float:\n    return 1.0\n"
    program = compile_text(text)
    with pytest.raises(RuntimeFault) as expected:
        ENGINES["interp"].run(program, "f", {"x": float("inf"), "y": 0.0})
    with pytest.raises(RuntimeFault) as got:
        ENGINES["native"].run(program, "f", {"x": float("inf"), "y": 0.0})
    assert (got.value.message, got.value.span) == (expected.value.message, expected.value.span)
    assert expected.value.span.line == 2


# Pushes past a tape buffer's first size (native.BUFFER): in a counted loop that makes room before it, in a
# while loop and a called function that look at each push, and as a vec; the run stops and runs again with a
# larger buffer, which the program keeps for its later runs.
GROWING = """
def g(x, n: int) -> float:
    let r = x
    let i = 0
    while i < n:
        push(r)
        r = r * 0.5 + 1.0
        i += 1
    let s = 0.0
    while i > 0:
        let y: float = pop()
        s = s + y
        i -= 1
    return s

def f(x, v: vec, n: int) -> float:
    for i in 0..n:
        push(x * float(i))
    push(v, 1)
    let s = g(x, n)
    let w: vec = pop(1)
    for i in 0..n:
        let y: float = pop()
        s = s + y
    return s + sum(w)
"""


@pytest.mark.parametrize("n", [3, native.BUFFER - 1, native.BUFFER + 1, 5 * native.BUFFER])
def test_tape_buffers_grow_by_running_again(n):
    from test_conformance import assert_conforms

    program = compile_text(GROWING)
    args = dict(x=0.75, v=np.arange(2.0 * n), n=n)
    before = dict(native.FALLBACKS)
    assert_conforms("native", program, "f", args)
    assert dict(native.FALLBACKS) == before
    sizes = native.compile_program(program).sizes
    floats_of_tape_0, floats_of_tape_1 = sizes[0], sizes[2]  # n + n pushes; the vec's 2n elements
    assert floats_of_tape_0 >= 2 * n and floats_of_tape_1 >= 2 * n
    assert (floats_of_tape_0 > native.BUFFER) == (2 * n > native.BUFFER) and sizes[1] == sizes[3] == native.BUFFER
    assert_conforms("native", program, "f", args)  # the buffers are large enough at once
    assert native.compile_program(program).sizes == sizes


@pytest.mark.parametrize("limit", [native.BUFFER // 2, native.BUFFER + 3, 2 * native.BUFFER])
def test_a_buffer_is_not_grown_past_the_tape_limit(limit):
    """The tapes would hold more than --max-tape: the interpreter's error, not a larger buffer."""
    from test_conformance import both_fail

    program = compile_text(GROWING)
    fault = both_fail("native", program, "f", dict(x=0.75, v=np.ones(3), n=2 * native.BUFFER), max_tape=limit)
    assert "--max-tape" in fault.message
    assert max(native.compile_program(program).sizes) <= max(limit, native.BUFFER)


def test_revolves_split_is_the_schedules():
    """The native split (a walk over repetition numbers) is checkpoint_schedules.revolve_split (a bisection)."""
    import random

    from adlang.ir.checkpoint_schedules import revolve_split

    split = native._helpers()["_revolve"]
    pairs = [(n, s) for n in range(2, 400) for s in range(1, 12)]
    rng = random.Random(14)
    pairs += [(rng.randint(2, 10**9), rng.randint(1, 60)) for _ in range(2000)] + [(10**6, 11), (10**9, 2)]
    assert [split(n, s) for n, s in pairs] == [revolve_split(n, s) for n, s in pairs]


# A loop whose trip count is known from its bounds (`Offsets`: `hi = lo + 1`) runs its body as straight code;
# a bound reassigned in a loop or a branch between its definition and the loop must not be taken as known.
KNOWN_TRIPS = """
def f(x, n: int) -> float:
    let s = x
    let lo = n
    let hi = lo + 1
    for i in lo..hi:
        s = s * 2.0
    let k = 0
    while k < 3:
        lo = lo - 1
        k += 1
    for i in lo..hi:
        s = s * 1.5
    if x > 0.0:
        hi = hi + 2
    for i in lo..hi:
        s = s + 1.0
    return s
"""


@pytest.mark.parametrize("x", [1.0, -1.0])
def test_a_loop_of_known_trips_counts_as_the_interpreter(x):
    program = compile_text(KNOWN_TRIPS)
    expected = ENGINES["interp"].run(program, "f", {"x": x, "n": 5})
    got = ENGINES["native"].run(program, "f", {"x": x, "n": 5})
    assert (got.value, got.steps, got.loop_trips) == (expected.value, expected.steps, expected.loop_trips)


def test_offsets_forget_what_a_block_assigns():
    offsets = native.Offsets()
    for depth, line in [(1, "a = n"), (1, "_t1, _o = _sadd(a, _np.int64((1)))"), (1, "b = _t1"),
                        (1, "while c:"), (2, "a = _t9"), (1, "d = b")]:
        offsets.note(depth, line)
        if line == "b = _t1":
            assert offsets.difference("a", "b") == 1
            assert offsets.difference("n", "b") == 1
    assert offsets.difference("a", "b") is None  # a was assigned in the loop
    assert offsets.difference("n", "d") == 1
    offsets.note(1, "n += 1")
    assert offsets.difference("n", "d") is None


# A NaN in a loop's carried float (`carried_nan`: checked once after the loop) is the interpreter's error, at
# the line that made it, wherever in the loop it appears.
@pytest.mark.parametrize("first", [0, 3, 9])
def test_a_nan_carried_through_a_loop_is_the_interpreters_error(first):
    text = ("def f(x, y, n: int, m: int) -> float:\n    let s = x\n    for i in 0..n:\n"
            "        let z = ifle(float(i), float(m) - 0.5, 1.0, y)\n        s = s * z\n    return s\n")
    program = compile_text(text)
    args = {"x": float("inf"), "y": 0.0, "n": 10, "m": first}
    with pytest.raises(RuntimeFault) as expected:
        ENGINES["interp"].run(program, "f", args)
    with pytest.raises(RuntimeFault) as got:
        ENGINES["native"].run(program, "f", args)
    assert (got.value.message, got.value.span) == (expected.value.message, expected.value.span)
