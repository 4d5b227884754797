"""The REPL as a script drives it (stdin piped, plain output), and the stepper, lexer and notes on their own."""

from __future__ import annotations

import re
import subprocess
import sys

from helpers import ROOT
from pygments.token import Comment, Keyword, Name, Number

from adlang.interp.interpreter import run_function
from adlang.ir import nodes as ir
from adlang.ir.derive import derivative_program
from adlang.ir.printer import print_program, print_statement
from adlang.lexer import AdlangLexer
from adlang.pipeline import compile_source
from adlang.stepper import Stepper, statement_lines

FOO = str(ROOT / "programs/lecture/foo.ad")
LOOP = str(ROOT / "programs/lecture/loop.ad")
KINK = """\
def f(x, y):
    let a = abs(x)
    let m = max(x, y)
    return a + m
"""


def repl(script: str, *files: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adlang", "repl", *files], input=script, capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def cli(*words: str) -> str:
    done = subprocess.run([sys.executable, "-m", "adlang", *words], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    return done.stdout


def test_stepping_foo_in_reverse_mode_shows_the_lecture_in_order():
    out = repl(":step foo x=2 y=3 wrt x,y\n" + "next\n" * 7, FOO).stdout
    expected = [("a = 7.0", 6), ("b = 21.0", 7), ("dbdb = 1.0", 8), ("dbda = 3.0", 7), ("dbdy = 7.0", 7),
                ("dbdx = 3.0", 6)]
    steps = re.findall(r"^\S+:\d+  .*?    (\w+ = \S+)\n  from \S+ line (\d+):", out, re.M)
    assert [(s, int(n)) for s, n in steps] == expected
    assert "end of the run: foo_reverse returned (21.0, 3.0, 7.0)" in out
    assert "\x1b[" not in out


def test_break_continue_and_back():
    out = repl(":step foo x=2 y=3 wrt x,y\nbreak 8\ncontinue\nnext\nback\nback\n", FOO).stdout
    lines = [line for line in out.splitlines() if " = " in line and not line.startswith("  ")]
    assert [line.split("    ")[-1] for line in lines] == ["dbdb = 1.0", "dbda = 3.0", "dbdb = 1.0", "b = 21.0"]


def test_tape_shows_pushes_in_the_forward_sweep_and_pops_in_the_backward_sweep():
    out = repl(":step foo x=1.5 y=1.1 wrt x,y\nbreak 9\ncontinue\ncontinue\ntape\nclear\nbreak 10\n"
               "continue\nnext\nnext\nnext\nnext\ntape\n", LOOP).stdout
    forward, backward = out.split("breakpoints: none")
    assert "tape 1 now holds 2 value(s): [1.5, 1.6500000000000001]" in forward
    assert re.search(r"^  push accum\s+tape 1\s+1\.5\s+line 9$", forward, re.M) and "pop " not in forward
    assert re.search(r"^  pop 3\.215383215000002 from tape 1$", backward, re.M)
    assert re.search(r"^  pop\s+tape 1\s+3\.215383215000002\s+line 9$", backward, re.M)
    assert "tape 1 now holds 8 value(s)" in backward


def test_stepper_unit_over_skips_a_loop_and_vars_shows_adjoints():
    program = compile_source(open(LOOP).read(), "loop.ad")
    derived, entry = derivative_program(program, "foo", ["x", "y"])
    stepper = Stepper.start(derived, entry, {"x": 1.5, "y": 1.1}, program, "reverse")
    assert stepper.next().stop.name == "accum"
    after = stepper.over().stop
    assert after.name == "accum_final"
    kinds = {name: kind for name, _, kind in stepper.frame_values()}
    assert kinds["x"] == "parameter" and kinds["accum"] == "primal"
    stepper.over()
    assert {name: kind for name, _, kind in stepper.frame_values()}["daccumdaccum"] == "adjoint"
    assert stepper.back().stop is after


def test_statement_lines_follow_the_printer():
    original = compile_source((ROOT / "programs/examples/piecewise.ad").read_text())
    program, _ = derivative_program(original, original.functions[-1].name, [original.functions[-1].params[0].name])
    printed = print_program(program).split("\n")
    for fn in program.functions:
        for stmt in ir.walk(fn.body):
            line = statement_lines(program)[id(stmt)]
            assert printed[line - 1].strip().removeprefix("el") == print_statement(stmt).strip()


def test_errors_leave_the_session_usable():
    script = "1 +\ntrue + 1\nsqrt(-1.0)\n:nope\ndef g(x):\n    return x +\n\n:run foo x=2 y=3\n"
    done = repl(script, FOO)
    assert "<input>:1:4: parse error" in done.stderr
    assert "<input>:1:1: type error" in done.stderr
    assert "runtime error: sqrt of -1.0" in done.stderr
    assert "unknown command ':nope'" in done.stderr
    assert "Traceback" not in done.stderr
    assert "value = 21.0" in done.stdout
    assert done.returncode == 2  # a script exits with its errors' largest code (usage: 2)


def test_a_script_without_errors_exits_0_and_one_runtime_error_exits_1():
    assert repl(":run foo x=2 y=3\n", FOO).returncode == 0
    assert repl("sqrt(-1.0)\n1 + 1\n", FOO).returncode == 1


def test_diff_ir_and_run_match_the_cli():
    out = repl(":diff foo wrt x,y\n:ir foo\n:run foo x=2 y=3 --grad x,y --trace\n:diff foo wrt x,y forward raw\n",
               FOO).stdout
    assert cli("diff", FOO, "--wrt", "x,y") in out
    assert cli("ir", FOO, "--fn", "foo") in out
    assert cli("run", FOO, "x=2", "y=3", "--grad", "x,y", "--trace") in out
    assert cli("diff", FOO, "--wrt", "x,y", "--mode", "forward", "--no-simplify") in out


def test_run_takes_hvp_as_the_cli_does():
    """`:run F ... --hvp P=U` is `adlang run --hvp`: one Hessian-vector product, the same text and JSON."""
    words = ["x=2", "y=3", "--hvp", "x=1", "--hvp", "y=-0.5"]
    out = repl(":run foo " + " ".join(words) + "\n:run foo " + " ".join(words) + " --grad x,y --mode reverse --json\n"
               ":run foo x=2 y=3 --hvp x=1,2\n", FOO)
    assert cli("run", FOO, *words) in out.stdout
    assert cli("run", FOO, *words, "--grad", "x,y", "--mode", "reverse", "--json") in out.stdout
    assert "hessian-vector product" in out.stdout and '"hvp": {"x": ' in out.stdout
    assert "usage error: --hvp x" in out.stderr and "Traceback" not in out.stderr


def test_define_run_let_and_expressions():
    script = "def sq(x):\n    let a = x * x\n    return a + 1.0\n\nsq(3.0)\nlet z = sq(2.0) + 1\nz * 2\n:list\n"
    out = repl(script).stdout.splitlines()
    assert out[:4] == ["defined sq", "10.0", "z = 6.0", "12.0"]
    assert "sq(x)" in out and "z = 6.0" in out[4:]


def test_redefining_replaces_a_function():
    out = repl("def h(x):\n    return x\n\ndef h(x):\n    return 2.0 * x\n\nh(4.0)\n").stdout
    assert out.splitlines()[-1] == "8.0"


def test_kink_notes_in_the_stepper_and_in_the_trace(tmp_path):
    out = repl(f"def f(x, y):\n{KINK.split(chr(10), 1)[1]}\n:step f x=0 y=0 wrt x,y\n" + "next\n" * 12).stdout
    assert "note: abs at x = 0" in out and "abs'(0) = 0" in out
    assert "note: max(x, y) at a tie: the derivative goes to the first argument, x" in out
    path = tmp_path / "kink.ad"
    path.write_text(KINK)
    assert "(note: abs at x = 0" in cli("run", str(path), "x=0", "y=0", "--trace")
    assert "note" not in cli("run", str(path), "x=1", "y=0", "--trace", "--json")


def test_trace_notes_do_not_change_the_json_keys():
    program = compile_source(KINK)
    trace = run_function(program, "f", {"x": 0.0, "y": 0.0}, trace=True).trace
    assert [e.name for e in trace] == ["a", "m"] and trace[0].note and trace[1].note


def test_lexer_tokens():
    tokens = [(t, v) for t, v in AdlangLexer().get_tokens("def f(x):  # c\n    for i in 1..10:\n        let a = 2.5\n")
              if v.strip()]
    assert (Keyword, "def") in tokens and (Name.Function, "f") in tokens and (Keyword, "let") in tokens
    assert (Comment.Single, "# c") in tokens
    assert (Number.Integer, "1") in tokens and (Number.Integer, "10") in tokens and (Number.Float, "2.5") in tokens


def test_help_lists_every_command():
    out = repl(":help\n").stdout
    for word in (":load", ":reload", ":list", ":run", ":ir", ":diff", ":step", "next", "over", "continue", "break",
                 "vars", "tape", "where", "back", "quit", "replay"):
        assert word in out


def test_a_step_command_word_starting_an_expression_is_an_expression():
    """While stepping, `q` alone quits, but `q * 2` with a session variable q is evaluated."""
    out = repl(":step foo x=2 y=3 wrt x,y\nlet q = 3.0\nq * 2\nn\nq\n:quit\n", FOO).stdout
    assert "6.0" in out
    assert out.index("6.0") < out.index("a = 7.0", out.index("6.0")) < out.index("stopped stepping")


def test_stepping_and_diff_with_checkpointing():
    out = repl(":step foo x=1.5 y=1.1 wrt x,y checkpoint revolve:2\ncontinue\nquit\n"
               ":diff foo wrt x,y checkpoint every:2\n:run foo x=1.5 y=1.1 --grad x,y --checkpoint revolve:2\n",
               LOOP).stdout
    assert "end of the run: foo_reverse returned (3.536921536500002, 2.357947691000002, 28.93844893500002)" in out
    assert cli("diff", LOOP, "--wrt", "x,y", "--checkpoint", "every:2") in out
    assert cli("run", LOOP, "x=1.5", "y=1.1", "--grad", "x,y", "--checkpoint", "revolve:2") in out


def test_finish_runs_to_the_end_of_the_innermost_loop_or_call():
    program = compile_source(open(LOOP).read(), "loop.ad")
    derived, entry = derivative_program(program, "foo", ["x", "y"])
    stepper = Stepper.start(derived, entry, {"x": 1.5, "y": 1.1}, program, "reverse")
    stepper.next()
    inside = stepper.next().stop  # the loop variable: inside the forward loop
    assert inside.name == "i" and inside.loops == 1
    out = stepper.step_out()
    assert out.stop.name == "accum_final" and out.stop.loops == 0  # the whole loop, not one iteration
    assert sum(e.kind == "bind" and e.name == "i" for e in out.passed) == 8  # the 8 trips left
    called = compile_source("def g(u):\n    let v = u * 2.0\n    let w = v + 1.0\n    return w\n\n"
                            "def f(x):\n    let a = g(x)\n    let b = a * 3.0\n    return b\n")
    stepper = Stepper.start(called, "f", {"x": 1.0}, called, None)
    assert stepper.next().stop.name == "v"
    assert stepper.step_out().stop.name == "a"  # out of g, at the binding of its result


def test_finish_in_the_repl():
    out = repl(":step foo x=1.5 y=1.1 wrt x,y\nnext\nnext\nfinish\nf\n", LOOP).stdout
    bound = re.findall(r"    (\w+) = ", out)
    assert bound[:3] == ["accum", "i", "accum_final"]
    assert "finish (f)" in repl(":help\n").stdout
    assert "next, over, finish, continue" in out  # the commands the stepper names when it starts


def test_load_keeps_typed_functions_and_says_what_it_replaced(tmp_path):
    other = tmp_path / "other.ad"
    other.write_text("def bar(x):\n    return x + 1.0\n")
    script = ("def g(x):\n    return 3.0 * x\n\ndef foo(x, y):\n    return 0.0\n\n"
              f":load {FOO}\ng(2.0)\nfoo(2.0, 3.0)\n:load {other}\ng(1.0) + bar(1.0)\n:list\n")
    done = repl(script)
    out = done.stdout.splitlines()
    assert out[2] == f"loaded {FOO}: foo; replaced foo typed in the session; kept g typed in the session"
    assert out[3:5] == ["6.0", "21.0"]  # g kept; FILE's foo, not the typed one
    assert out[5] == f"loaded {other}: bar; kept g typed in the session; foo of {FOO} no longer defined"
    assert out[6] == "5.0"
    assert "g(x)" in out and "bar(x)" in out and "foo(x, y)" not in out
    assert done.stderr == ""


def test_a_typed_def_reports_lines_of_what_was_typed(tmp_path):
    script = ("def g(x):\n    return x\n\n"
              "def h(x):\n    let a = x + true\n    return a\n\n"
              "def k(x):\n    let a = g(x) + true\n    return a\n\n"
              "def m(x):\n    let a = foo(x, 1.0) + true\n    return a\n\n")
    err = repl(script, FOO).stderr
    assert "<input>:2:13: type error" in err
    assert "'x' is float (a parameter of h, line 1)" in err  # not line 9 of the session's joined source
    assert "g(...) returns float (def on line 1 of the entry that defined g)" in err
    assert f"foo(...) returns float (def on line 5 of {FOO})" in err


def test_a_trace_of_a_typed_function_shows_its_lines():
    out = repl("def k(x):\n    let a = sqrt(x)\n    let b = a * 2.0\n    return b\n\n:run k x=4 --trace\n"
               ":run k x=4 --trace --json\n", FOO).stdout
    assert re.search(r"^\s+2  a\s+2\.0$", out, re.M) and re.search(r"^\s+3  b\s+4\.0$", out, re.M)
    assert '"trace": [{"name": "a", "value": 2.0, "line": 2}, {"name": "b", "value": 4.0, "line": 3}]' in out


def test_grad_and_wrt_are_the_same_in_the_repls_commands():
    """Issue 17, item 3: `:run`, `:diff` and `:step` take `--grad`, `--wrt` and the bare word `wrt` alike."""
    def outputs(*commands: str) -> list[str]:
        return [repl(f"{command}\nquit\n", FOO).stdout for command in commands]

    run_grad, run_wrt = outputs(":run foo x=2 y=3 --grad x", ":run foo x=2 y=3 --wrt x")
    assert run_grad == run_wrt and "gradient" in run_grad
    diffs = outputs(":diff foo wrt x", ":diff foo --wrt x", ":diff foo --grad x")
    assert diffs[0] == diffs[1] == diffs[2] and "def foo_reverse" in diffs[0]
    steps = outputs(":step foo x=2 y=3 wrt x\nnext", ":step foo x=2 y=3 --wrt x\nnext",
                    ":step foo x=2 y=3 --grad x\nnext")
    assert steps[0] == steps[1] == steps[2] and "reverse mode" in steps[0]
