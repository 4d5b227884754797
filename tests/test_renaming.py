"""Names are data: renaming a program's names consistently changes no number (issue 12).

Every user name of a program (functions, parameters, lets, loop variables) is
renamed to a name drawn from the passes' own templates (`adlang.ir.naming`)
applied to the program's other names: `dfdx` beside a function f and a
parameter x, `f_reverse`, `_3`, `i_rev`, `d2fdxdy`, `main`, a Python keyword.
The value, gradient and Hessian must stay the same (1e-12) in every mode and
mode pair, in both engines, with and without checkpointing, and `diff` of the
renamed program (first and second order) must print valid adlang that runs to
the same tuple and can be differentiated again.

CI runs a small derandomized budget; ADLANG_FUZZ_EXAMPLES=N gives every
property N random examples (the issue's long run: 30 minutes).
"""

from __future__ import annotations

import keyword
import math
import os
import re
import textwrap

import numpy as np
import pytest
from helpers import PROGRAM_PATHS, ROOT, load_example
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from strategies import generated, points

from adlang.derivatives import compute
from adlang.interp.interpreter import run_function
from adlang.ir import naming
from adlang.ir.derive import diff_source, finish
from adlang.ir.primitives import BY_BUILTIN
from adlang.lang import ast
from adlang.lang.parser import _LARK, parse
from adlang.pipeline import compile_source

FIRST_ORDER = ("forward", "reverse")
SECOND_ORDER = ("reverse-over-reverse", "forward-over-reverse", "reverse-over-forward", "forward-over-forward")
ENGINES = ("interp", "compiled")
CHECKPOINTS = ("sqrt", "every:2", "revolve:2")
UNUSABLE = {"def", "let", "for", "in", "while", "if", "elif", "else", "return", "and", "or", "not", "true", "false",
            "float", "int", "bool", "vec", "mat", "push", "pop", *BY_BUILTIN}
# names that mean something to the engines' own languages: data here too
FOREIGN = ("lambda", "None", "self", "np", "math", "range", "len_", "class", "grad", "wrt")

_LONG = os.environ.get("ADLANG_FUZZ_EXAMPLES")


def budget(ci: int):
    checks = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
              HealthCheck.large_base_example]  # an example with many names draws a long renaming
    if _LONG:
        return settings(max_examples=int(_LONG), deadline=None, suppress_health_check=checks)
    return settings(max_examples=ci, deadline=None, derandomize=True, database=None, suppress_health_check=checks)


# ---------------------------------------------------------------- renaming source text


def function_names(source: str) -> list[str]:
    return [d.name.id for d in parse(source).functions]


def parameter_names(source: str) -> list[str]:
    return list(dict.fromkeys(p.name.id for d in parse(source).functions for p in d.params))


def declared_names(source: str) -> list[str]:
    """Every name the program declares (functions, parameters, lets, loop variables), first use first."""
    names: list[str] = []

    def add(name: str) -> None:
        if name not in names:
            names.append(name)

    def block(stmts) -> None:
        for s in stmts:
            if isinstance(s, ast.Let):
                for n in s.names:
                    add(n.id)
            elif isinstance(s, ast.For):
                add(s.var.id)
                block(s.body)
            elif isinstance(s, ast.While):
                block(s.body)
            elif isinstance(s, ast.If):
                for _, body in s.branches:
                    block(body)
                block(s.orelse or ())

    for d in parse(source).functions:
        add(d.name.id)
        for p in d.params:
            add(p.name.id)
        block(d.body)
    return names


def rename(source: str, mapping: dict[str, str]) -> str:
    """The source with every name token in `mapping` replaced (comments and builtins untouched)."""
    out, at = [], 0
    for token in _LARK.lex(source):
        if token.type == "NAME" and token.value in mapping:
            out.append(source[at:token.start_pos])
            out.append(mapping[token.value])
            at = token.end_pos
    out.append(source[at:])
    return "".join(out)


def usable(name: str) -> bool:
    return name.isidentifier() and name not in UNUSABLE and len(name) < 60


@st.composite
def renamings(draw, names: list[str], functions: list[str], params: list[str]) -> dict[str, str]:
    """A one-to-one renaming of `names` into the passes' templates, filled with the names the program has after
    renaming (functions are renamed first): a parameter may become `dfdx` where the function becomes `f`."""
    mapping: dict[str, str] = {}
    order = [n for n in names if n in functions] + [n for n in names if n not in functions]
    for old in order:
        known = list(mapping.values()) or names
        heads = [mapping[f] for f in functions if f in mapping] or known
        tails = [mapping[p] for p in params if p in mapping] or known
        candidates = []
        for _ in range(8):
            how = draw(st.sampled_from(("lecture", "lecture", "template", "template", "fixed", "foreign", "keep")))
            if how == "keep":
                new = old
            elif how == "fixed":
                new = draw(st.sampled_from(naming.FIXED))
            elif how == "foreign":
                new = draw(st.sampled_from(FOREIGN))
            else:
                templates = naming.TEMPLATES[:2] if how == "lecture" else naming.TEMPLATES  # dadx, d2fdxdy
                new = fill(draw, draw(st.sampled_from(templates)), known, heads, tails)
                if draw(st.booleans()):  # a template of a template: `ddfdxdx`, `f_reverse_vjp`
                    new = fill(draw, draw(st.sampled_from(naming.TEMPLATES)), [new, *known], [new, *heads], tails)
            candidates.append(new)
        fresh = [c for c in candidates if usable(c) and c not in mapping.values()]
        mapping[old] = fresh[0] if fresh else old if old not in mapping.values() else f"{old}_kept"
    return mapping


def fill(draw, template: str, names: list[str], heads: list[str], tails: list[str]) -> str:
    """The template with names: `{a}` mostly a function's, `{b}` and `{c}` mostly a parameter's."""
    def one(often: list[str]) -> str:
        return draw(st.sampled_from(often if draw(st.integers(0, 3)) else names))

    k = draw(st.integers(1, 3) if draw(st.booleans()) else st.integers(0, 12))  # the first temporaries most
    return template.format(a=one(heads), b=one(tails), c=one(tails), k=k)


# ---------------------------------------------------------------- comparing runs


def same(a, b, what: str) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} and {b.shape}"
    assert np.all(np.abs(a - b) <= 1e-12 * np.maximum(np.abs(a), np.abs(b)) + 1e-300), f"{what}: {a} vs {b}"


def flat_hessian(hessian: dict, wrt: list[str]) -> list:
    return [np.asarray(hessian[p][q], dtype=float) for p in wrt for q in wrt]


def configurations(has_loop: bool, checkpoint: str):
    for mode in FIRST_ORDER:
        for engine in ENGINES:
            yield dict(mode=mode, order=1, engine=engine, checkpoint="none")
            if mode == "reverse" and has_loop:
                yield dict(mode=mode, order=1, engine=engine, checkpoint=checkpoint)
    for mode in SECOND_ORDER:
        for engine in ENGINES:
            yield dict(mode=mode, order=2, engine=engine, checkpoint="none")
        if mode.endswith("reverse") and has_loop:
            yield dict(mode=mode, order=2, engine="compiled", checkpoint=checkpoint)


def check_renamed(source: str, fn: str, args: dict, wrt: list[str], mapping: dict[str, str], checkpoint: str,
                  data, second_order: bool = True) -> None:
    """In a long run every configuration and printed program; in CI every first-order one and two drawn of
    second order."""
    renamed = rename(source, mapping)
    note(f"renamed by {mapping}:\n{renamed}")
    original, program = compile_source(source, "<original>"), compile_source(renamed, "<renamed>")
    fn2, wrt2 = mapping.get(fn, fn), [mapping.get(w, w) for w in wrt]
    args2 = {mapping.get(k, k): v for k, v in args.items()}
    has_loop = any(word in source for word in ("for ", "while "))
    configs = [c for c in configurations(has_loop, checkpoint) if c["order"] == 1 or second_order]
    if not _LONG:
        first, second = [c for c in configs if c["order"] == 1], [c for c in configs if c["order"] == 2]
        configs = first + (data.draw(st.permutations(second), label="second order")[:2] if second else [])
    for config in configs:
        before = compute(original, fn, args, wrt=wrt, **config)
        after = compute(program, fn2, args2, wrt=wrt2, **config)
        same(after.value, before.value, f"value, {config}")
        for w, w2 in zip(wrt, wrt2):
            same(after.grad[w2], before.grad[w], f"d/d{w} (renamed {w2}), {config}")
        if config["order"] == 2:
            for k, (h2, h) in enumerate(zip(flat_hessian(after.hessian, wrt2), flat_hessian(before.hessian, wrt))):
                same(h2, h, f"Hessian entry {k}, {config}")
    floats_only = all(not isinstance(args[w], np.ndarray) for w in wrt)
    pairs = list(SECOND_ORDER) if _LONG else [data.draw(st.sampled_from(SECOND_ORDER), label="printed")]
    for mode, order in [(m, 1) for m in FIRST_ORDER] + [(m, 2) for m in pairs if floats_only and second_order]:
        check_printed(original, fn, args, wrt, program, fn2, args2, wrt2, mode, order)


def check_printed(original, fn, args, wrt, program, fn2, args2, wrt2, mode: str, order: int) -> None:
    """`diff` of the renamed program is valid adlang, runs to the original's tuple, and differentiates again."""
    text = diff_source(program, fn2, wrt2, mode, order)
    assert text == diff_source(program, fn2, wrt2, mode, order), "diff output is not deterministic"
    printed = compile_source(text, "<printed>")
    entry = printed.functions[-1]
    outputs = run_function(printed, entry.name, args2).value
    direct = compute(original, fn, args, wrt=wrt, mode=mode, order=order)
    expected = [direct.value, *(direct.grad[w] for w in wrt)]
    if order == 2:
        expected += flat_hessian(direct.hessian, wrt)
    assert len(outputs) == len(expected), f"{mode} order {order}: {len(outputs)} outputs, not {len(expected)}"
    for k, (got, want) in enumerate(zip(outputs, expected)):
        same(got, want, f"printed {mode} program (order {order}), output {k}")
    if order == 2 and not _LONG and len(text) > 20_000:
        return  # differentiating a large Hessian program again (third order) is for the long run
    # differentiated again: a wrapper returning the first derivative, in both modes, agrees with itself
    namer = naming.Namer(p.name for p in entry.params)
    outs = [namer.name("o") for _ in outputs]
    first = {0: outs[1], 1: f"{outs[1]}[0]", 2: f"{outs[1]}[0, 0]"}[np.ndim(args2[wrt2[0]])]
    pick = naming.function_namer(printed.names).name("pick")
    params = ", ".join(f"{p.name}: {p.type}" for p in entry.params)
    wrapper = textwrap.dedent(f"""
        def {pick}({params}) -> float:
            let {", ".join(outs)} = {entry.name}({", ".join(p.name for p in entry.params)})
            return {first}
        """)
    again = compile_source(text + wrapper, "<printed again>")
    twice = [compute(again, pick, args2, wrt=wrt2[:1], mode=m).grad[wrt2[0]] for m in FIRST_ORDER]
    assert np.allclose(twice[0], twice[1], rtol=1e-9, atol=1e-9), f"differentiated again: {twice}"


# ---------------------------------------------------------------- the properties

EXAMPLES = [path for path in PROGRAM_PATHS if path.with_suffix(".args").exists()]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_renamed_example_gives_the_same_numbers(path):
    example = load_example(path)
    if not example.wrt:
        pytest.skip("no parameters to differentiate")
    names, functions = declared_names(example.source), function_names(example.source)

    @budget(ci=1)
    @given(renamings(names, functions, parameter_names(example.source)), st.sampled_from(CHECKPOINTS), st.data())
    def prop(mapping, checkpoint, data):
        vec_elements = sum(len(example.args[w]) for w in example.wrt if isinstance(example.args[w], np.ndarray))
        mats = any(np.ndim(example.args[w]) == 2 for w in example.wrt)  # no Hessian with respect to a mat
        check_renamed(example.source, example.fn, example.args, example.wrt, mapping, checkpoint, data,
                      second_order=vec_elements <= 8 and not mats)

    prop()


@st.composite
def generated_cases(draw):
    gen = draw(generated(smooth=draw(st.booleans()), extra=draw(st.booleans())))
    args = draw(points(gen.arg_names))
    candidates = [n for n in gen.arg_names if n != "n"]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=len(candidates), unique=True))
    wrt = [n for n in candidates if n in chosen]
    mapping = draw(renamings(declared_names(gen.source), function_names(gen.source), parameter_names(gen.source)))
    note(gen.source)
    note(f"args: {args}, wrt: {wrt}")
    return gen.source, args, wrt, mapping, draw(st.sampled_from(CHECKPOINTS))


@budget(ci=6)
@given(generated_cases(), st.data())
def test_renamed_random_program_gives_the_same_numbers(case, data):
    source, args, wrt, mapping, checkpoint = case
    check_renamed(source, "main", args, wrt, mapping, checkpoint, data)


# ---------------------------------------------------------------- the helpers themselves


def test_rename_replaces_names_only():
    source = ("def f(x, n: int) -> float:\n    let s = sin(x)  # s is sin(x)\n    for i in 0..n:\n        s += x\n"
              "    return s\n")
    renamed = rename(source, {"f": "dfdx", "x": "_1", "s": "x", "i": "f_reverse"})
    assert renamed == ("def dfdx(_1, n: int) -> float:\n    let x = sin(_1)  # s is sin(x)\n"
                       "    for f_reverse in 0..n:\n        x += _1\n    return x\n")
    assert declared_names(source) == ["f", "x", "n", "s", "i"]


def test_templates_cover_every_role():
    """Every role name naming.py defines appears in a template or a fixed name the property draws from."""
    roles = [value for name, value in vars(naming).items() if name.isupper() and isinstance(value, str)]
    for role in roles:
        assert any(role in t for t in naming.TEMPLATES) or role in naming.FIXED, f"role {role!r} is drawn nowhere"


def test_templates_fill_to_names():
    for template in naming.TEMPLATES:
        assert template.format(a="f", b="x", c="y", k=3).isidentifier()
    assert keyword.iskeyword("lambda") and "lambda" in FOREIGN  # a Python keyword is an adlang name


# ---------------------------------------------------------------- the reproductions of issue 12


def hessian_by_calculus_dfdx(x: float, dfdx: float) -> list[list[float]]:
    """f(x, dfdx) = x * x * dfdx: d2f/dx2 = 2 dfdx, d2f/dx ddfdx = 2x, d2f/ddfdx2 = 0."""
    return [[2 * dfdx, 2 * x], [2 * x, 0.0]]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_a_parameter_named_dfdx_keeps_its_hessian(mode, engine):
    program = compile_source("def f(x, dfdx):\n    return x * x * dfdx\n")
    run = compute(program, "f", {"x": 2.0, "dfdx": 3.0}, wrt=["x", "dfdx"], mode=mode, order=2, engine=engine)
    assert [[run.hessian[p][q] for q in ("x", "dfdx")] for p in ("x", "dfdx")] == hessian_by_calculus_dfdx(2.0, 3.0)
    assert run.grad == {"x": 12.0, "dfdx": 4.0}


@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_diff_of_a_parameter_named_dfdx_prints_valid_adlang(mode):
    program = compile_source("def f(x, dfdx):\n    return x * x * dfdx\n")
    text = diff_source(program, "f", ["x", "dfdx"], mode, order=2)
    printed = compile_source(text, "<printed>")  # once: 'dfdx' is already declared
    outputs = run_function(printed, printed.functions[-1].name, {"x": 2.0, "dfdx": 3.0}).value
    assert outputs == (12.0, 12.0, 4.0, 6.0, 4.0, 4.0, 0.0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", SECOND_ORDER)
@pytest.mark.parametrize("p", ["_1", "ddfdfddfdf", "f_value", "d2fdxdy", "f_hessian"])
def test_a_parameter_named_like_a_generated_name_beside_x_y_z(p, mode, engine):
    """f = x y z p + p^2 x with p named `_1` (the Hessian entry's row temporary once shadowed it), and other
    names the second-order entry makes."""
    source = f"def f(x, y, z, {p}):\n    let f = x * y * z * {p} + {p} * {p} * x\n    return f\n"
    x, y, z, q = 2.0, 3.0, 4.0, 5.0
    run = compute(compile_source(source), "f", {"x": x, "y": y, "z": z, p: q}, wrt=["x", "y", "z", p], mode=mode,
                  order=2, engine=engine)
    expected = [[0.0, z * q, y * q, y * z + 2 * q], [z * q, 0.0, x * q, x * z], [y * q, x * q, 0.0, x * y],
                [y * z + 2 * q, x * z, x * y, 2 * x]]
    names = ["x", "y", "z", p]
    assert [[run.hessian[a][b] for b in names] for a in names] == expected


def test_a_user_name_like_a_temporary_is_a_name_like_any_other():
    """`_1` declared and updated by the user: never merged with a temporary, in a loop, in both modes."""
    source = ("def f(x, n: int) -> float:\n    let _1 = x * x\n    let _2 = 0.0\n    for _3 in 0..n:\n"
              "        _2 = _2 + _1 * sin(x + _3)\n        _1 = _1 * 0.5\n    return _2 + x\n")
    program = compile_source(source)
    args = {"x": 0.7, "n": 3}
    value = run_function(finish(program), "f", args).value
    expected = sum(0.7 * 0.7 * 0.5 ** k * math.sin(0.7 + k) for k in range(3)) + 0.7
    assert abs(value - expected) < 1e-15
    grads = [compute(program, "f", args, wrt=["x"], mode=m).grad["x"] for m in FIRST_ORDER]
    by_hand = sum(0.5 ** k * (2 * 0.7 * math.sin(0.7 + k) + 0.49 * math.cos(0.7 + k)) for k in range(3)) + 1.0
    assert abs(grads[0] - by_hand) < 1e-12 and abs(grads[1] - by_hand) < 1e-12


def test_no_pass_spells_a_name_of_its_own():
    """Generated names come from ir/naming.py's templates: no other module builds one with an f-string."""
    built = re.compile(r"""(\bVar|\.name|\bFunction|\bNamer|\._fresh)\(\s*f["']""")
    offenders = [f"{path.relative_to(ROOT)}:{k}" for folder in ("ir", "interp", "adlang", "lang")
                 for path in sorted((ROOT / folder).glob("*.py")) if path.name != "naming.py"
                 for k, line in enumerate(path.read_text().splitlines(), 1) if built.search(line)]
    assert not offenders, f"names built outside ir/naming.py: {offenders}"


@pytest.mark.parametrize("checkpoint", ["sqrt", "every:2", "revolve:2"])
@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_a_loop_state_named_like_a_temporary_survives_checkpointing(mode, checkpoint):
    """The long renaming run found it: the lecture loop with `accum` named `_0`. Checkpointing makes `_0` a
    parameter of the segment function, and reverse mode renamed a returned temporary to the function's name in
    the body but not in the parameters (KeyError: 'dfoodfoo_segment_1'); a parameter keeps its name now."""
    source = ("def dfoodfoo(x, y):\n    let _0 = x\n    for trips in 1..10:\n        _0 = _0 * y\n"
              "    return _0\n")
    run = compute(compile_source(source), "dfoodfoo", {"x": 1.5, "y": 1.1}, wrt=["x", "y"], mode=mode, order=2,
                  checkpoint=checkpoint)
    x, y = 1.5, 1.1  # x y^9
    by_calculus = [[0.0, 9 * y ** 8], [9 * y ** 8, 72 * x * y ** 7]]
    got = [[run.hessian[p][q] for q in ("x", "y")] for p in ("x", "y")]
    assert np.allclose(got, by_calculus, rtol=1e-12, atol=0), got
