"""Test configuration: `--update-golden`, and the tests directory on the import path for the helpers."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    # `from helpers import ...` and `from strategies import ...` in every test module.
    sys.path.insert(0, str(TESTS_DIR))


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/ from the current output; read the diff before committing",
    )
