"""Programs kept between runs (adlang/program_cache.py): the same IR as compiling, never stale, never an error."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest
from helpers import ROOT

from adlang import program_cache
from adlang.ir.printer import print_program
from adlang.lang.errors import TypeCheckError
from adlang.pipeline import compile_source

SOURCE = "def f(x, v: vec):\n    let a = x * sum(v)  # a comment\n    for i in 0..2:\n        a = a + x\n    return a\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ADLANG_NO_CACHE", raising=False)
    return tmp_path / "adlang" / "programs"


def kept(folder) -> list[str]:
    return sorted(p.name for p in folder.glob("*" + program_cache.SUFFIX)) if folder.exists() else []


def test_a_program_from_the_cache_is_the_program_compiled(cache):
    first = program_cache.compile_file(SOURCE, "f.ad")
    assert len(kept(cache)) == 1
    again = program_cache.compile_file(SOURCE, "f.ad")
    assert again is not first and again == first == compile_source(SOURCE, "f.ad")
    assert print_program(again, types=True) == print_program(first, types=True)
    spans = [(s.span, s.span.written) for fn in again.functions for s in fn.body]
    assert spans == [(s.span, s.span.written) for fn in first.functions for s in fn.body]


def test_an_edited_program_or_another_name_compiles_afresh(cache):
    program_cache.compile_file(SOURCE, "f.ad")
    edited = program_cache.compile_file(SOURCE.replace("0..2", "0..3"), "f.ad")
    program_cache.compile_file(SOURCE, "g.ad")
    assert "0..3" in print_program(edited) and len(kept(cache)) == 3


def test_a_program_with_an_error_is_never_kept(cache):
    for _ in range(2):
        with pytest.raises(TypeCheckError):
            program_cache.compile_file("def f(x):\n    return x + true\n", "bad.ad")
    assert kept(cache) == []


def test_a_broken_file_in_the_cache_is_compiled_over(cache):
    program_cache.compile_file(SOURCE, "f.ad")
    (path,) = cache.glob("*" + program_cache.SUFFIX)
    path.write_bytes(b"not a pickle")
    assert program_cache.compile_file(SOURCE, "f.ad") == compile_source(SOURCE, "f.ad")
    assert path.read_bytes() != b"not a pickle"


@pytest.mark.parametrize("entry", [
    pickle.dumps({"not": "a program"}),  # another kind of object under the key
    "from code that is gone",
    b"",  # an empty file (a process stopped while writing)
])
def test_an_entry_that_is_not_a_program_is_compiled_over(cache, entry):
    program_cache.compile_file(SOURCE, "f.ad")
    (path,) = cache.glob("*" + program_cache.SUFFIX)
    if entry == "from code that is gone":  # the IR's classes in a module of the same length's name, not there
        entry = pickle.dumps(compile_source(SOURCE, "f.ad")).replace(b"adlang.ir.nodes", b"adlang.ir.goner")
    path.write_bytes(entry)
    assert program_cache.compile_file(SOURCE, "f.ad") == compile_source(SOURCE, "f.ad")
    assert pickle.loads(path.read_bytes()) == compile_source(SOURCE, "f.ad")


def test_an_entry_made_by_other_code_is_not_read(cache, monkeypatch):
    """Stale entries: the key holds adlang's own files, so after an edit of adlang the old entry is not found."""
    program_cache.compile_file(SOURCE, "f.ad")
    (old,) = cache.glob("*" + program_cache.SUFFIX)
    old.write_bytes(pickle.dumps(compile_source(SOURCE.replace("0..2", "0..7"), "f.ad")))  # what old code gave
    stamps = program_cache._code_stamps()
    assert any(s.startswith(os.path.join(ROOT, "ir", "nodes.py") + ":") for s in stamps)
    assert any(s.startswith(os.path.join(ROOT, "lang", "grammar.lark") + ":") for s in stamps)
    monkeypatch.setattr(program_cache, "_code_stamps", lambda: [*stamps[1:], stamps[0] + "0"])  # one file edited
    assert "0..2" in print_program(program_cache.compile_file(SOURCE, "f.ad"))


def test_the_most_recently_used_are_kept_and_no_cache_keeps_nothing(cache, monkeypatch):
    monkeypatch.setattr(program_cache, "KEEP", 4)
    sources = [SOURCE.replace("0..2", f"0..{n}") for n in range(5)]

    def path(source):
        return cache / (program_cache._key(source, "f.ad") + program_cache.SUFFIX)

    for n, source in enumerate(sources[:4]):
        program_cache.compile_file(source, "f.ad")
        os.utime(path(source), ns=(n * 10**9, n * 10**9))  # used in this order, a second apart
    program_cache.compile_file(sources[0], "f.ad")  # used again: now the most recent
    program_cache.compile_file(sources[4], "f.ad")  # a fifth: down to three, the least recently used gone
    assert [path(s).exists() for s in sources] == [True, False, False, True, True]
    monkeypatch.setattr(program_cache, "LARGEST", 10)
    program_cache.compile_file(SOURCE.replace("0..2", "0..9"), "f.ad")
    monkeypatch.setenv("ADLANG_NO_CACHE", "1")
    program_cache.compile_file(SOURCE.replace("0..2", "0..8"), "f.ad")
    assert len(kept(cache)) == 3  # neither the long program nor one compiled with ADLANG_NO_CACHE set


def test_a_changed_adlang_changes_the_key(cache, monkeypatch):
    key = program_cache._key(SOURCE, "f.ad")
    monkeypatch.setattr(program_cache, "_code_stamps", lambda: ["lower.py:1:2"])
    assert program_cache._key(SOURCE, "f.ad") != key


def test_adlang_run_of_a_kept_program_does_not_load_the_parser(tmp_path):
    """What the cache is for: the second run starts without lark and the syntax tree's classes."""
    code = ("import sys; from adlang.cli import main; main(['run', 'programs/lecture/foo.ad', 'x=2', 'y=3', "
            "'--grad', 'x,y']); print(sorted(m for m in sys.modules if m.split('.')[0] == 'lark' or m in "
            "('adlang.lang.ast', 'adlang.lang.parser', 'adlang.ir.lower')))")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("ADLANG_NO_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                           timeout=60).stdout for _ in range(2)]
    assert "lark" in runs[0].splitlines()[-1]
    assert runs[1].splitlines()[-1] == "[]"
    assert runs[0].splitlines()[:-1] == runs[1].splitlines()[:-1]
