"""docs/api.md's examples are a real run: every `>>>` line is run again and must print what the page shows."""

from __future__ import annotations

import doctest

from helpers import ROOT


def test_the_api_page_examples_print_what_the_page_shows(monkeypatch):
    monkeypatch.chdir(ROOT)  # the page's paths are relative to the repository root
    failures, tried = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False,
                                       optionflags=doctest.ELLIPSIS, verbose=False)
    assert tried > 20 and failures == 0
