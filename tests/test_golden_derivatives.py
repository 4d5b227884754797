"""Golden files of the derivative programs of every example: `<dir>__<name>.forward.ad` and `.reverse.ad`.

They pin what `adlang diff` prints (simplified), so a change in a pass shows up
as a diff a person reads. Regenerate with `pytest --update-golden`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import GOLDEN_DIR, PROGRAM_PATHS, check_golden, golden_stem

from adlang.ir.derive import diff_source
from adlang.options import pick_function
from adlang.pipeline import compile_source


def _wrt(path: Path) -> list[str]:
    lines = path.with_suffix(".args").read_text().splitlines()
    return [w.strip() for w in lines[1].split(",") if w.strip()]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("path", PROGRAM_PATHS, ids=golden_stem)
def test_derivative_program_golden(path: Path, mode: str, request):
    program = compile_source(path.read_text(), str(path))
    fn = pick_function(program, None, str(path))
    text = diff_source(program, fn.name, _wrt(path), mode)
    check_golden(f"{golden_stem(path)}.{mode}.ad", text, request)


USES_GRAD = re.compile(r"=\s*grad\s+\w+\s*\(")
# The lecture's examples; the line fits that use `grad` inside give second-order programs of thousands of lines.
LECTURE = [p for p in PROGRAM_PATHS if p.parent.name == "lecture" and not USES_GRAD.search(p.read_text())]


@pytest.mark.parametrize("mode", ["reverse-over-reverse", "forward-over-reverse"])
@pytest.mark.parametrize("path", LECTURE, ids=golden_stem)
def test_second_order_program_golden(path: Path, mode: str, request):
    """The lecture's examples at second order: reverse over reverse is the lecture's own way."""
    program = compile_source(path.read_text(), str(path))
    fn = pick_function(program, None, str(path))
    text = diff_source(program, fn.name, _wrt(path), mode, order=2)
    check_golden(f"{golden_stem(path)}.{mode}.ad", text, request)


def test_every_derivative_golden_has_a_program():
    stems = {golden_stem(p) for p in PROGRAM_PATHS}
    for mode in ("forward", "reverse", "reverse-over-reverse", "forward-over-reverse"):
        for golden in GOLDEN_DIR.glob(f"*.{mode}.ad"):
            assert golden.name.removesuffix(f".{mode}.ad") in stems, f"stale golden file {golden.name}"
