"""What only the compiled engine has: its cache, and the Python source it writes.

That it gives what the interpreter gives (values bit for bit, steps, tapes, errors) is
tests/test_conformance.py's, which runs every engine in the table.
"""

from __future__ import annotations

import pytest
from helpers import compile_text
from test_conformance import HOST_NAMES, POPPED, TAPE_LOOPS

from adlang.interp.compiled import compile_program, run_compiled
from adlang.lang.errors import RuntimeFault


def test_names_of_python_are_renamed_in_the_source():
    """`def os`, `let import` and `for __import__` would not compile, or would shadow what the source uses."""
    source = compile_program(compile_text(HOST_NAMES)).source
    assert "v_import" in source and "f_os" in source and "def os" not in source


def test_the_cache_is_per_program_object():
    text = "def f(x) -> float:\n    let y = 1.0 / x\n    return y\n"
    first = compile_text(text)
    second = compile_text("# one\n# two\n" + text)
    assert first == second  # spans take no part in equality
    assert compile_program(first) is compile_program(first)
    assert compile_program(first) is not compile_program(second)
    with pytest.raises(RuntimeFault) as err:
        run_compiled(second, "f", dict(x=0.0))
    assert err.value.span.line == 4


# ---------------------------------------------------------------- loops run without per-trip bookkeeping

# A straight-line `for` body counts its steps once for the whole loop, and a body that starts with the
# loop's only pop walks the tape backwards (test_conformance runs these programs at every step limit).


def test_a_tape_is_walked_both_ways():
    source = compile_program(compile_text(TAPE_LOOPS)).source
    assert "_zip(" in source and "_islice(" in source


def test_a_loop_that_reads_its_variable_walks_the_tape_with_zip():
    assert "_zip(" in compile_program(compile_text(POPPED)).source
