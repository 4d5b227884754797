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


# ---------------------------------------------------------------- inside adlang/: the front ends on top

# The command line, the REPL and the notebook are front ends: they use the API and the modules below it,
# and nothing below them uses a front end (`__init__` loads the notebook magic only when IPython asks).
FRONT_ENDS = {"cli", "repl", "repl_terminal", "repl_complete", "session", "stepper", "step_view", "notebook",
              "__main__"}
CORE = sorted(p for p in (ROOT / "adlang").glob("*.py") if p.stem not in FRONT_ENDS | {"__init__"})


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_the_api_and_what_it_stands_on_import_no_front_end(path):
    front = [f"line {line}: {name}" for line, name in imported_modules(path)
             if name.split(".")[0] == "adlang" and len(name.split(".")) > 1 and name.split(".")[1] in FRONT_ENDS]
    assert not front, f"adlang/{path.name} imports a front end: {front}"


def private_uses(path) -> list[str]:
    """`from adlang.x import _name` and `module._name` where module is an adlang module imported here."""
    tree = ast.parse(path.read_text(), str(path))
    modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("adlang"):
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                if node.module == "adlang":
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules |= {alias.asname for alias in node.names if alias.name.startswith("adlang") and alias.asname}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("folder, path", MODULES, ids=[f"{f}/{p.name}" for f, p in MODULES])
def test_no_module_uses_another_module_s_private_names(folder, path):
    assert not private_uses(path), f"{folder}/{path.name}: {private_uses(path)}"


def test_the_private_rule_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from adlang import cli\nfrom adlang.ir.prims_scalar import _add\n\ndef f():\n"
                   "    return cli._compute\n")
    assert private_uses(bad) == ["line 2: from adlang.ir.prims_scalar import _add", "line 5: cli._compute"]
