"""The tables other modules derive from the registry: each agrees with what the primitives compute.

The simplifier's identities, the kink notes, the compiled engine's inline
operators and the lexer's builtins are facts set in each primitive's own
`register(...)` (`Primitive.right_unit` and the fields after it). These tests
find the facts from the primitives' evaluation and rules where they can, so a
primitive that satisfies an identity, picks a side at a kink or is a Python
operator without saying so fails here, as does one that claims a fact its
evaluation does not have. A fake primitive registered for one test shows that
each consumer reads the registry and keeps no list of its own.
"""

from __future__ import annotations

import itertools
import math
import operator
from dataclasses import replace

import numpy as np
import pytest
from pygments.token import Keyword, Name

from adlang.interp.compiled import compile_program
from adlang.interp.interpreter import run_function
from adlang.ir import nodes as ir
from adlang.ir.lower import TAPE_BUILTINS
from adlang.ir.primitive import BY_BUILTIN, BY_OPERATOR, REGISTRY, Emitter, Primitive, TypeRuleError, register
from adlang.ir.primitives import lookup
from adlang.ir.printer import print_program
from adlang.ir.simplify import simplify_program
from adlang.ir.types import FLOAT, INT, mat, vec
from adlang.lang.errors import DomainError
from adlang.lang.span import Span
from adlang.lexer import BUILTINS, AdlangLexer
from adlang.pipeline import compile_source

FLOATS = (-2.5, -1.0, 0.0, 0.75, 3.0, 1e300)  # finite, both signs, 0 and 1 among them
CANDIDATE_UNITS = (0.0, 1.0)


def takes_floats(prim: Primitive, arity: int) -> bool:
    """Whether the type rule accepts `arity` float operands."""
    if prim.arity != arity:
        return False
    try:
        prim.check(tuple(ir.Var(f"a{k}", FLOAT) for k in range(arity)))
    except TypeRuleError:
        return False
    return True


def agree(f, g=lambda x: x) -> bool:
    """f(x) is a float equal to g(x) for every sample x (an error is not)."""
    try:
        return all(type(f(x)) is float and f(x) == g(x) for x in FLOATS)
    except (ArithmeticError, ValueError, DomainError):
        return False


def binary() -> list[Primitive]:
    return [p for p in REGISTRY.values() if takes_floats(p, 2) and p.scalar is not None]


def unary() -> list[Primitive]:
    return [p for p in REGISTRY.values() if takes_floats(p, 1) and p.scalar is not None]


# ---------------------------------------------------------------- the simplifier's identities


def test_every_unit_is_declared_and_every_declared_unit_is_one():
    found = {}
    for prim in binary():
        for u in CANDIDATE_UNITS:
            if agree(lambda x, p=prim, u=u: p.scalar(x, u)):
                found[(prim.name, "right")] = u
            if agree(lambda x, p=prim, u=u: p.scalar(u, x)):
                found[(prim.name, "left")] = u
    declared = {(p.name, side): u for p in REGISTRY.values()
                for side, u in (("right", p.right_unit), ("left", p.left_unit)) if u is not None}
    assert declared == found


def test_every_unit_holds_on_vecs():
    v = np.array(FLOATS)
    for prim in REGISTRY.values():
        if prim.right_unit is not None:
            assert np.array_equal(prim.vector(v, prim.right_unit), v), prim.name
        if prim.left_unit is not None:
            assert np.array_equal(prim.vector(prim.left_unit, v), v), prim.name


def identities() -> set[str]:
    """The unary primitives that are the identity on floats (float()): a unit covers `0 + x`, an involution
    `float(float(x))` is no rule worth having, since lowering puts float() only on ints."""
    return {p.name for p in unary() if agree(p.scalar)}


def test_every_from_zero_is_declared_and_right():
    found = {}
    for prim, other in itertools.product(binary(), unary()):
        if other.name not in identities() and agree(lambda x, p=prim: p.scalar(0.0, x), other.scalar):
            found[prim.name] = other.name
    assert {p.name: p.from_zero for p in REGISTRY.values() if p.from_zero is not None} == found
    assert all(lookup(name).syntax == "prefix" for name in found.values())


def test_every_involution_is_declared_and_right():
    found = {p.name for p in unary() if p.name not in identities() and agree(lambda x, p=p: p.scalar(p.scalar(x)))}
    assert identities() == {"float"}
    assert {p.name for p in REGISTRY.values() if p.involution} == found


# ---------------------------------------------------------------- elementwise operations

SAMPLE = {"vec": np.array([0.5, 1.5, 2.25]), "mat": np.array([[0.5, 1.5], [2.25, 3.0]]), "float": 0.75, "int": 2}
KIND_TYPES = {"vec": vec(), "mat": mat(), "float": FLOAT, "int": INT}


def _acts_elementwise(prim: Primitive) -> bool:
    """Whether, for some operands with an array among them that its type rule takes, the array result has their
    shape and element k is the scalar evaluation on their elements k."""
    if prim.arity is None or prim.scalar is None or prim.vector is None:
        return False
    for kinds in itertools.product(KIND_TYPES, repeat=prim.arity):
        if not any(k in ("vec", "mat") for k in kinds) or len({k for k in kinds if k in ("vec", "mat")}) > 1:
            continue
        try:
            result = prim.check(tuple(ir.Var(f"a{k}", KIND_TYPES[kind]) for k, kind in enumerate(kinds)))
        except TypeRuleError:
            continue
        if not result.is_array:
            continue
        values = [SAMPLE[kind] for kind in kinds]
        shape = next(np.shape(v) for v in values if np.ndim(v))
        got = prim.evaluator(tuple(KIND_TYPES[kind] for kind in kinds))(*values)
        if np.shape(got) != shape:
            return False
        for k in np.ndindex(shape):
            expected = prim.scalar(*[float(v[k]) if np.ndim(v) else v for v in values])
            if not math.isclose(got[k], expected, rel_tol=1e-14):  # numpy's tanh and math's may differ in a bit
                return False
        return True
    return False


def test_elementwise_is_declared_where_an_operation_is_elementwise():
    found = {p.name for p in REGISTRY.values() if _acts_elementwise(p)}
    assert {p.name for p in REGISTRY.values() if p.elementwise} == found
    assert {"add", "mul", "exp", "ifle", "dpow"} <= found and not {"addto", "matmul", "sum"} & found


# ---------------------------------------------------------------- kink notes


def _float_prims() -> list[Primitive]:
    return [p for p in REGISTRY.values() if p.arity and takes_floats(p, p.arity) and p.scalar is not None]


def _rules(prim: Primitive) -> tuple[set[str], tuple]:
    """The primitives the JVP and VJP rules of `prim` emit on float operands, and the VJP's contributions."""
    names = iter(f"_{k}" for k in itertools.count(1))
    e = Emitter(lambda: next(names), Span(1, 1))
    args = tuple(ir.Var(f"a{k}", FLOAT) for k in range(prim.arity))
    result = ir.Var("r", prim.check(args))
    prim.emit_jvp(e, args, tuple(ir.Var(f"t{k}", FLOAT) for k in range(prim.arity)), result)
    contributions = prim.emit_vjp(e, args, result, ir.Var("g", FLOAT), (True,) * prim.arity)
    return {s.expr.op for s in e.stmts if isinstance(s.expr, ir.Prim)}, contributions


def _depends_on(prim: Primitive, k: int) -> bool:
    """Whether the value changes with operand k, moved from a point away from ties and zeros (to another
    operand's value too: `==` changes only there)."""
    point = [0.3, 0.6, 1.1, 2.2][: prim.arity]
    here = prim.scalar(*point)
    for x in (-5.0, 5.0, *point):
        moved = list(point)
        moved[k] = x
        try:
            if prim.scalar(*moved) != here:
                return True
        except DomainError:
            pass
    return False


def test_every_primitive_that_picks_a_side_has_a_kink_note():
    """A primitive whose value moves with an operand that its derivative ignores is piecewise constant in it (a
    comparison, sign, the choice of ifle) and jumps somewhere; one whose rules use such a primitive (abs uses sign,
    min and max use ifle) has a kink where that one jumps. Each has a note for that point, and no other does."""
    rules = {p.name: _rules(p) for p in _float_prims()}
    kinked = {p.name for p in _float_prims()
              if any(c is None and _depends_on(p, k) for k, c in enumerate(rules[p.name][1]))}
    while more := {name for name, (ops, _) in rules.items() if ops & kinked} - kinked:
        kinked |= more
    assert {p.name for p in REGISTRY.values() if p.kink is not None} == kinked
    assert kinked == {"abs", "sign", "min", "max", "ifle", "lt", "le", "gt", "ge", "eq", "ne"}


@pytest.mark.parametrize("name", sorted(p.name for p in REGISTRY.values() if p.kink is not None))
def test_every_kink_note_is_silent_away_from_its_kink_and_speaks_at_it(name):
    prim = lookup(name)
    names = [f"a{k}" for k in range(prim.arity)]
    assert prim.kink(names, [0.5, -1.5, 2.0, 3.0][: prim.arity]) is None
    note = prim.kink(names, [0.0] * prim.arity)
    assert note and names[0] in note


# ---------------------------------------------------------------- the compiled engine's operators

SAMPLES = (0.0, -2.5, 1e308, math.inf, -math.inf, math.nan, 3, -(2**63), 2**63 - 1)
PYTHON = {"+": operator.add, "-": operator.sub, "*": operator.mul, "<": operator.lt, "<=": operator.le,
          ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
# Operators written by calling the registry: Python's / raises its own error, ^ is xor, and/or/not run as
# the registry's functions.
NOT_INLINE = {"div", "pow", "and", "or", "not", "matmul"}  # matmul takes no scalars


def _scalar_types(values) -> tuple:
    return tuple(ir.Const(v, INT if type(v) is int else FLOAT) for v in values)


@pytest.mark.parametrize("name", sorted(p.name for p in REGISTRY.values() if p.python_operator is not None))
def test_every_python_operator_is_the_registry_evaluation_up_to_its_checks(name):
    prim = lookup(name)
    for values in itertools.product(SAMPLES, repeat=prim.arity):
        try:
            prim.check(_scalar_types(values))
        except TypeRuleError:
            continue
        if prim.syntax == "prefix":
            bare = operator.neg(values[0]) if prim.python_operator == "-" else None
        else:
            bare = PYTHON[prim.python_operator](*values)
        checked = ("nan" in prim.operator_checks and type(bare) is float and bare != bare) or (
            "int" in prim.operator_checks and type(bare) is int and not -(2**63) <= bare < 2**63)
        if checked:
            with pytest.raises(DomainError):
                prim.scalar(*values)
            continue
        got = prim.scalar(*values)
        assert type(got) is type(bare) and (got == bare or got != got and bare != bare), (values, got, bare)


def test_every_operator_is_inline_or_said_not_to_be():
    operators = {p.name for p in BY_OPERATOR.values()}
    assert {p.name for p in REGISTRY.values() if p.python_operator is not None} == operators - NOT_INLINE
    assert NOT_INLINE <= operators


# ---------------------------------------------------------------- the lexer


def test_the_lexer_colours_every_builtin_of_the_registry():
    assert set(BUILTINS) == {*BY_BUILTIN, *TAPE_BUILTINS, "grad", "wrt"}
    for word in BY_BUILTIN:
        tokens = [t for t, v in AdlangLexer().get_tokens(f"{word}(x)") if v == word]
        assert tokens == [Keyword.Type if word == "float" else Name.Builtin], word


# ---------------------------------------------------------------- a fake primitive reaches every consumer


@pytest.fixture
def fake():
    """`fake(a, b)` = a - b, registered for one test with the facts `facts` of the test's choosing."""
    made = []

    def make(**facts):
        prim = register(Primitive("fake", "call", "fake", 2, lambda args: FLOAT, lambda a, b: a - b, None,
                                  lambda e, args, t, r: None, lambda e, args, r, g, wants: (None, None), **facts))
        made.append(prim)
        return prim

    yield make
    for prim in made:
        del REGISTRY[prim.name], BY_BUILTIN[prim.symbol]


FAKE = "def f(x, y) -> float:\n    let a = fake(x, 0.0)\n    let b = fake(x, y)\n    return a + b\n"


def _note(a, b):
    return "a fake kink" if a == b else None


def test_a_fake_primitive_with_facts_is_simplified_noted_and_inlined(fake):
    fake(right_unit=0, kink=lambda names, values: _note(*values[:2]), python_operator="-")
    program = compile_source(FAKE)
    assert "let a = x\n" in print_program(simplify_program(program))
    trace = run_function(program, "f", {"x": 1.0, "y": 1.0}, trace=True).trace
    assert [e.note for e in trace if e.name == "b"] == ["a fake kink"]
    assert "= v_x - v_y" in compile_program(program).source


def test_a_fake_primitive_without_facts_is_left_alone(fake):
    fake()
    program = compile_source(FAKE)
    assert "let a = fake(x, 0.0)\n" in print_program(simplify_program(program))
    trace = run_function(program, "f", {"x": 1.0, "y": 1.0}, trace=True).trace
    assert not any(e.note for e in trace)
    assert "v_x - v_y" not in compile_program(program).source


def test_taking_a_fact_off_a_real_primitive_takes_it_out_of_its_consumer(monkeypatch):
    program = compile_source("def f(x) -> float:\n    let a = x * 1.0\n    let b = -a\n    return b\n")
    assert "let a = x\n" in print_program(simplify_program(program))
    assert "= -v_a" in compile_program(program).source
    monkeypatch.setitem(REGISTRY, "mul", replace(lookup("mul"), right_unit=None))
    monkeypatch.setitem(REGISTRY, "neg", replace(lookup("neg"), python_operator=None))
    program = compile_source("def f(x) -> float:\n    let a = x * 1.0\n    let b = -a\n    return b\n")
    assert "let a = x * 1.0\n" in print_program(simplify_program(program))
    assert "-v_a" not in compile_program(program).source
