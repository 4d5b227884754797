"""Which arrays reverse mode knows to have one shape (ir/shapes.py), and what addto's VJP makes of it."""

from __future__ import annotations

import numpy as np
import pytest

from adlang.derivatives import compute
from adlang.ir import nodes as ir
from adlang.ir.derive import derive_hvp
from adlang.ir.printer import print_program
from adlang.ir.shapes import Shapes
from adlang.pipeline import compile_source

SOURCE = """\
def f(v: vec, e: vec, x) -> float:
    let a = v * x
    let w = a
    let grown: vec = zeros(0)
    let s = 0.0
    for i in 0..len(v):
        w = addat(w, i, x)
        w = addto(w, a)
        grown = addto(grown, a)
        let t = v * 2.0
        let z = ones(i)
        s = s + sum(t) + sum(z)
    return sum(w * v) + sum(grown) + sum(addto(e, v)) + s
"""


def var(fn, name):
    return next(v for s in ir.walk(fn.body) for v in ir.defined_vars(s) if v.name == name)


def test_updated_arrays_have_a_witness_only_when_every_definition_keeps_it():
    fn = compile_source(SOURCE, "<shapes>").function("f")
    shapes = Shapes(fn)
    v, e = fn.params[0], fn.params[1]
    assert shapes.same(var(fn, "w"), v) and shapes.same(var(fn, "a"), v)
    assert not shapes.same(var(fn, "grown"), v)  # empty at first: addto grows it
    assert not shapes.same(e, v)  # two parameters: nothing says they are as long
    assert shapes.same(var(fn, "t"), v)  # each trip's t is v * 2.0
    assert not shapes.same(var(fn, "z"), var(fn, "t"))  # a let in a loop is no witness: z grows


def test_addto_of_arrays_of_one_shape_reads_neither_and_an_empty_one_gets_an_empty_gradient():
    program = compile_source(SOURCE, "<shapes>")
    args = {"v": np.array([0.5, -1.0, 2.0]), "e": np.zeros(0), "x": 0.7}
    for mode in ("forward", "reverse"):
        run = compute(program, "f", args, wrt=["v", "e", "x"], mode=mode)
        assert run.grad["e"].shape == (0,), mode
    built = derive_hvp(compile_source(SOURCE, "<shapes>"), "f", ["v", "x"], "reverse-over-reverse")
    gradient = print_program(built.program).split("def f_reverse_vjp")[0]
    fits = sorted(line.split("fitto(")[1] for line in gradient.splitlines() if "fitto(" in line)
    assert fits == ["df_1d_9, v)", "df_1dgrown, a)", "df_1dgrown, grown)"]  # addto(e, v) and grown's: not w's


@pytest.mark.parametrize("pair", ["reverse-over-reverse", "forward-over-reverse"])
def test_an_accumulated_vec_adjoint_is_not_taped(pair):
    """d = addto(d, c) in a gradient program: reversing it again needs no old d, not even for its shape."""
    program = compile_source("def f(v: vec, x) -> float:\n    let s = 0.0\n    for i in 0..len(v) - 1:\n"
                             "        s += sin(v[i]) * v[i + 1]\n    return x * sum(v * v) + s\n", "<chain>")
    text = print_program(derive_hvp(program, "f", ["v", "x"], pair).program)
    assert "fitto(" not in text and "push(df_1dv" not in text
