"""Golden files: the typed IR of every program in programs/, compared byte for byte.

`check_golden(name, text, request)` (in helpers.py) is generic: the derivative passes add
their own goldens (`<dir>__<name>.forward.ad`, `.reverse.ad`) through it.
`pytest --update-golden` rewrites the files instead of comparing; read the
diff before committing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import GOLDEN_DIR, PROGRAM_PATHS, check_golden, golden_stem

from adlang.ir.printer import print_program
from adlang.pipeline import compile_source


def test_programs_exist():
    assert len(PROGRAM_PATHS) >= 10
    assert {p.parent.name for p in PROGRAM_PATHS} == {"lecture", "examples"}


@pytest.mark.parametrize("path", PROGRAM_PATHS, ids=golden_stem)
def test_typed_ir_golden(path: Path, request):
    program = compile_source(path.read_text(), str(path))
    check_golden(f"{golden_stem(path)}.ir.ad", print_program(program, types=True), request)


def test_every_golden_has_a_program():
    """A golden left behind by a renamed or deleted program is stale."""
    stems = {golden_stem(p) for p in PROGRAM_PATHS}
    for golden in GOLDEN_DIR.glob("*.ir.ad"):
        assert golden.name.removesuffix(".ir.ad") in stems, f"stale golden file {golden.name}"
