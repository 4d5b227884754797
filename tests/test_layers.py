"""The layers import one way only: lang/ <- ir/ <- interp/ <- adlang/ (the API and the applications).

Every import of every module, at the top or inside a function, is read from its source: a module may import
from its own layer and the layers below it, never above.
"""

from __future__ import annotations

import ast

import pytest
from helpers import ROOT

LAYERS = {"lang": 0, "ir": 1, "interp": 2, "adlang": 3}


def layer_of_module(name: str) -> int | None:
    """The layer of an `adlang...` module name (`adlang.ir.nodes` -> ir); None outside adlang."""
    parts = name.split(".")
    if parts[0] != "adlang":
        return None
    return LAYERS.get(parts[1], LAYERS["adlang"]) if len(parts) > 1 else LAYERS["adlang"]


def imported_modules(path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "adlang":  # `from adlang import ir`
                found += [(node.lineno, f"adlang.{alias.name}") for alias in node.names]
    return found


MODULES = [(folder, path) for folder in LAYERS for path in sorted((ROOT / folder).glob("*.py"))]


@pytest.mark.parametrize("folder, path", MODULES, ids=[f"{f}/{p.name}" for f, p in MODULES])
def test_module_imports_no_layer_above_its_own(folder, path):
    own = LAYERS[folder]
    above = [f"line {line}: {name}" for line, name in imported_modules(path)
             if (layer := layer_of_module(name)) is not None and layer > own]
    assert not above, f"{folder}/{path.name} imports from a layer above it: {above}"


def test_the_rule_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from adlang.cli import main\n    return main\n")
    assert [layer_of_module(name) for _, name in imported_modules(bad)] == [LAYERS["adlang"]]
    assert layer_of_module("adlang.interp.faults") == LAYERS["interp"] and layer_of_module("numpy") is None
