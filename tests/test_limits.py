"""Limits (issue 7): whatever is typed ends in a result or a clear, located error, never a crash.

The limits are in README, "The language, and what adlang adds to the spec", **Limits**.
CLI tests run `python -m adlang` with a timeout; the rest go through the API.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from adlang import derivatives
from adlang.interp.compiled import run_compiled
from adlang.interp.interpreter import run_function
from adlang.ir import derive
from adlang.ir import lower as lower_module
from adlang.ir.lower import MAX_BLOCK_DEPTH, MAX_EXPR_DEPTH
from adlang.lang.errors import ParseError, RuntimeFault, TypeCheckError
from adlang.lang.parser import MAX_SOURCE_CHARS
from adlang.pipeline import compile_source

ENGINES = ("interp", "compiled")


def cli(tmp_path, source: str, *words: str, timeout: float = 60) -> subprocess.CompletedProcess:
    path = tmp_path / "prog.ad"
    path.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "adlang", *[str(path) if w == "FILE" else w for w in words]],
        capture_output=True, text=True, timeout=timeout,
    )


def run(source: str, engine: str, **args):
    program = compile_source(source)
    runner = run_compiled if engine == "compiled" else run_function
    return runner(program, "main", args)


def nested_ifs(n: int) -> str:
    lines = ["def main(x):", "    let y = 0.0"]
    for i in range(n):
        lines.append("    " * (i + 1) + "if x > 0.0:")
    lines.append("    " * (n + 1) + "y = y + x * x")
    lines.append("    return y")
    return "\n".join(lines) + "\n"


def nested_fors(n: int) -> str:
    lines = ["def main(x):", "    let y = 0.0"]
    for i in range(n):
        lines.append("    " * (i + 1) + f"for i{i} in 0..1:")
    lines.append("    " * (n + 1) + "y = y + x * x")
    lines.append("    return y")
    return "\n".join(lines) + "\n"


def long_sum(n: int) -> str:
    return "def main(x):\n    let y = " + " + ".join(["x"] * n) + "\n    return y\n"


def nested_sums(n: int) -> str:
    return "def main(x):\n    let y = " + "(x + " * n + "x" + ")" * n + "\n    return y\n"


# ---------------------------------------------------------------- 1. deep and long expressions


def test_a_thousand_parentheses_are_one_value(tmp_path):
    source = "def main(x):\n    let y = " + "(" * 1000 + "x" + ")" * 1000 + "\n    return y\n"
    done = cli(tmp_path, source, "run", "FILE", "x=2", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["value"] == 2.0


def test_a_5000_term_sum_runs_and_differentiates(tmp_path):
    done = cli(tmp_path, long_sum(5000), "run", "FILE", "x=2", "--grad", "x", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["value"] == 10000.0 and out["grad"] == {"x": 5000.0}
    program = compile_source(long_sum(5000))
    for engine in ENGINES:
        result = derivatives.compute(program, "main", {"x": 2.0}, wrt=["x"], mode="forward", order=1, engine=engine)
        assert result.grad == {"x": 5000.0}
    text = derive.diff_source(program, "main", ["x"], "reverse", 1, simplify=True)
    assert text.count("\n") > 5000


def test_an_expression_nested_too_deeply_is_a_located_type_error(tmp_path):
    run(nested_sums(MAX_EXPR_DEPTH), "interp", x=1.0)
    done = cli(tmp_path, nested_sums(1000), "run", "FILE", "x=2")
    assert done.returncode == 2
    assert "prog.ad:2:" in done.stderr and "type error: expression nested too deeply" in done.stderr
    assert "split it with let" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(TypeCheckError, match="nested too deeply"):
        compile_source("def main(x):\n    let y = " + "sin(" * 300 + "x" + ")" * 300 + "\n    return y\n")


# ---------------------------------------------------------------- 2. deep blocks


@pytest.mark.parametrize("source", [nested_ifs(MAX_BLOCK_DEPTH), nested_fors(50)], ids=["ifs", "fors"])
def test_deep_blocks_run_and_differentiate_in_both_engines(source):
    program = compile_source(source)
    for engine in ENGINES:
        assert run(source, engine, x=3.0).value == 9.0
        for mode in ("forward", "reverse", "reverse-over-reverse"):
            result = derivatives.compute(program, "main", {"x": 3.0}, wrt=["x"], mode=mode,
                                         order=2 if "over" in mode else 1, engine=engine)
            assert result.grad == {"x": 6.0}
    assert "return" in derive.diff_source(program, "main", ["x"], "reverse", 1, simplify=True)


def test_deep_blocks_through_the_cli_compiled(tmp_path):
    done = cli(tmp_path, nested_fors(50), "run", "FILE", "x=3", "--grad", "x", "--engine", "compiled", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["grad"] == {"x": 6.0}


def test_blocks_nested_too_deeply_is_a_located_type_error(tmp_path):
    done = cli(tmp_path, nested_ifs(MAX_BLOCK_DEPTH + 1), "run", "FILE", "x=2", "--json")
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "type" and "blocks nested too deeply" in error["message"]
    assert error["line"] == MAX_BLOCK_DEPTH + 3


def test_a_long_elif_chain_counts_its_depth():
    def chain(n):
        branches = "".join(f"    elif x < {i}.0:\n        y = {i}.0\n" for i in range(1, n))
        return f"def main(x):\n    let y = 0.0\n    if x < 0.0:\n        y = 1.0\n{branches}    return y\n"

    for engine in ENGINES:
        assert run(chain(MAX_BLOCK_DEPTH), engine, x=2.5).value == 3.0
    with pytest.raises(TypeCheckError, match="each `elif`"):
        compile_source(chain(1000))


# ---------------------------------------------------------------- 3, 4. big sources, big literals


def test_a_10mb_source_is_a_clear_parse_error(tmp_path):
    fn = "def f{i}(x):\n    let a = x * 2.0\n    return a\n\n"
    source = "".join(fn.format(i=i) for i in range(10_000_000 // len(fn.format(i=0)) + 1))
    done = cli(tmp_path, source, "run", "FILE", "x=1", timeout=30)
    assert done.returncode == 2
    assert "parse error: the program is" in done.stderr and f"{MAX_SOURCE_CHARS:,}" in done.stderr


def test_a_ten_million_element_literal_is_refused(tmp_path):
    source = "def main():\n    let v = [" + "0," * 10_000_000 + "0]\n    return sum(v)\n"
    done = cli(tmp_path, source, "run", "FILE", "--json", timeout=30)
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"]["kind"] == "parse"


def test_a_vec_literal_longer_than_the_limit_is_a_type_error(monkeypatch):
    monkeypatch.setattr(lower_module, "MAX_VEC_LITERAL", 3)
    with pytest.raises(TypeCheckError, match="load large data with x=@file.npy") as err:
        compile_source("def main():\n    let v = [1.0, 2.0, 3.0, 4.0]\n    return sum(v)\n")
    assert err.value.span.line == 2
    compile_source("def main():\n    let v = [1.0, 2.0, 3.0]\n    return sum(v)\n")


def test_the_source_limit_points_at_the_place(monkeypatch):
    from adlang.lang import parser

    monkeypatch.setattr(parser, "MAX_SOURCE_CHARS", 20)
    with pytest.raises(ParseError, match="more than adlang reads") as err:
        compile_source("def main(x):\n    return x + x + x\n")
    assert err.value.span.line == 2


# ---------------------------------------------------------------- 5. huge vecs


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("builtin", ["zeros", "ones"])
def test_huge_zeros_and_ones_are_runtime_errors(builtin, engine):
    with pytest.raises(RuntimeFault, match="larger than the limit"):
        run(f"def main():\n    let v = {builtin}(1000000000000)\n    return sum(v)\n", engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_huge_zeros_json_error(tmp_path, engine):
    source = "def main():\n    let v = zeros(1000000000000)\n    return sum(v)\n"
    done = cli(tmp_path, source, "run", "FILE", "--json", "--engine", engine)
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "runtime" and error["line"] == 2 and "larger than the limit" in error["message"]


# ---------------------------------------------------------------- 6. powers and int overflow


@pytest.mark.parametrize("engine", ENGINES)
def test_huge_powers_overflow_to_inf(engine):
    assert run("def main():\n    return 2 ^ 100000\n", engine).value == float("inf")
    assert run("def main():\n    return 10.0 ^ 400\n", engine).value == float("inf")
    assert run("def main():\n    return (-10.0) ^ 401\n", engine).value == float("-inf")
    assert run("def main():\n    return (-10.0) ^ 400\n", engine).value == float("inf")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_negative_base_to_an_infinite_power_is_a_runtime_error(engine):
    with pytest.raises(RuntimeFault, match="infinite power") as err:
        run("def main(x):\n    let d = (-2.0) ^ x\n    return d\n", engine, x=float("inf"))
    assert err.value.span.line == 2
    with pytest.raises(RuntimeFault, match="infinite power"):
        run("def main(x):\n    let v = [-2.0, 1.0] ^ x\n    return sum(v)\n", engine, x=float("inf"))


INT_GROWTH = """\
def main(x):
    let n = 1
    for i in 0..100000:
        n = n * 1000
    return x
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_int_overflow_is_a_runtime_error_in_both_engines(engine):
    with pytest.raises(RuntimeFault, match="int overflow: 1000000000000000000000 does not fit in 64 bits") as err:
        run(INT_GROWTH, engine, x=1.0)
    assert (err.value.span.line, err.value.span.col) == (4, 9)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("expr", ["n + n", "n - (0 - n) - 3", "0 - n - n", "n * 2"])
def test_int_bounds_are_the_same_in_both_engines(engine, expr):
    source = f"def main(n: int) -> int:\n    let m = {expr}\n    return m\n"
    assert run(source, engine, n=2**62 - 1).value == eval(expr, {"n": 2**62 - 1})
    with pytest.raises(RuntimeFault, match="int overflow"):
        run(source, engine, n=2**62 + 1)


def test_int_overflow_through_the_cli(tmp_path):
    for engine in ENGINES:
        done = cli(tmp_path, INT_GROWTH, "run", "FILE", "x=1", "--engine", engine)
        assert done.returncode == 1
        assert "prog.ad:4:9: runtime error: int overflow" in done.stderr


# ---------------------------------------------------------------- 7. the step limit


@pytest.mark.parametrize("engine", ENGINES)
def test_an_endless_loop_stops_at_max_steps(tmp_path, engine):
    source = "def main(x):\n    let y = x\n    while true:\n        y = y + 1.0\n    return y\n"
    done = cli(tmp_path, source, "run", "FILE", "x=1", "--max-steps", "1000", "--engine", engine, "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "runtime" and "step limit of 1,000" in error["message"]
    assert error["line"] in (3, 4)


# ---------------------------------------------------------------- 8. big numbers and long chains of calls


@pytest.mark.parametrize("digits", [20, 400, 5000])
def test_an_int_literal_past_64_bits_is_a_parse_error(tmp_path, digits):
    source = f"def main(x):\n    let n = {'9' * digits}\n    return x\n"
    with pytest.raises(ParseError, match="does not fit in 64 bits") as err:
        compile_source(source)
    assert (err.value.span.line, err.value.span.col) == (2, 13)
    done = cli(tmp_path, source, "run", "FILE", "x=1", "--json")
    assert done.returncode == 2 and json.loads(done.stdout)["error"]["kind"] == "parse"


def test_the_largest_int_literal_runs():
    assert run("def main() -> int:\n    return 9223372036854775807\n", "interp").value == 2**63 - 1
    assert run("def main() -> int:\n    return 0009223372036854775807\n", "compiled").value == 2**63 - 1


@pytest.mark.parametrize("digits", [20, 400, 5000])
def test_huge_number_arguments(tmp_path, digits):
    """Past 64 bits, an int argument is a usage error; a float parameter takes it as a float (inf past 1e308)."""
    big = "9" * digits
    done = cli(tmp_path, "def main(n: int) -> int:\n    return n\n", "run", "FILE", f"n={big}")
    assert done.returncode == 2 and "does not fit in 64 bits" in done.stderr and "Traceback" not in done.stderr
    done = cli(tmp_path, "def main(x):\n    return x\n", "run", "FILE", f"x={big}", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["value"] == (float(big) if digits < 300 else "inf")
    done = cli(tmp_path, "def main(v: vec):\n    return sum(v)\n", "run", "FILE", f"v=[1, {big}]", "--json")
    assert done.returncode == 0


def chain(n: int) -> str:
    lines = ["def f0(x):\n    return x * 1.0\n"]
    lines += [f"def f{i}(x):\n    let y = f{i - 1}(x)\n    return y + 1.0\n" for i in range(1, n)]
    return "".join(lines)


def test_a_chain_of_100_calls_runs_everywhere():
    from adlang.ir.lower import MAX_CALL_DEPTH

    program = compile_source(chain(MAX_CALL_DEPTH))
    fn = f"f{MAX_CALL_DEPTH - 1}"
    for engine in ENGINES:
        runner = run_compiled if engine == "compiled" else run_function
        assert runner(program, fn, {"x": 1.0}).value == MAX_CALL_DEPTH
        for mode, order in (("forward", 1), ("reverse", 1), ("forward-over-reverse", 2), ("reverse-over-reverse", 2)):
            result = derivatives.compute(program, fn, {"x": 1.0}, wrt=["x"], mode=mode, order=order, engine=engine)
            assert result.grad == {"x": 1.0}
    assert run_function(program, fn, {"x": 1.0}, trace=True).value == MAX_CALL_DEPTH


@pytest.mark.parametrize("n", [101, 3000])
def test_a_longer_chain_of_calls_is_a_located_type_error(tmp_path, n):
    with pytest.raises(TypeCheckError, match="calls nested too deeply") as err:
        compile_source(chain(n))
    assert err.value.span.line == 3 * 100 + 1  # the call in f100, the first function past the limit
    done = cli(tmp_path, chain(n), "run", "FILE", "x=1", "--json")
    error = json.loads(done.stdout)["error"]
    assert done.returncode == 2 and error["kind"] == "type" and error["line"] == 301


def chain_in_loops(n: int, depth: int) -> str:
    """A chain of n functions, each calling the next inside `depth` nested loops."""
    lines = ["def f0(x):\n    return x * 1.0\n"]
    for i in range(1, n):
        loops = "".join("    " * (d + 1) + f"for i{d} in 0..1:\n" for d in range(depth))
        lines.append(f"def f{i}(x):\n    let y = x\n{loops}{'    ' * (depth + 1)}y = f{i - 1}(x) + y\n"
                     "    return y + 1.0\n")
    return "".join(lines)


def test_calls_and_blocks_nested_too_deeply_together_are_a_located_error(tmp_path):
    """Each limit alone passes (100 calls, 5 blocks), together they exhaust Python's stack in reverse mode:
    the safety net names the function run and points at its def, not at nothing."""
    source = chain_in_loops(100, 5)
    done = cli(tmp_path, source, "run", "FILE", "x=1", "--grad", "x", "--json")
    error = json.loads(done.stdout)["error"]
    assert done.returncode == 2 and error["kind"] == "type"
    assert error["message"].startswith("f99 nests calls and blocks too deeply together for adlang")
    assert (error["line"], error["column"]) == (source.split("\n").index("def f99(x):") + 1, 1)
    done = cli(tmp_path, chain_in_loops(21, 8), "run", "FILE", "x=1", "--grad", "x", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["grad"] == {"x": 21.0}
