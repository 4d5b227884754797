"""Checked programs kept between runs: a file compiled before is loaded, not parsed and checked again.

Parsing needs lark and the syntax tree's classes: about a third of what `adlang run` does before it runs
anything (README, "Speed": start-up). A program that compiled is pickled under a key made of its text, its
file name, the Python version and the size and modification time of every file of adlang's own code and of
lark (as Python keys its bytecode cache), so an edited program, or an edited or upgraded adlang, compiles
afresh. A program with errors is never kept: its messages come from compiling it. The folder keeps the
KEEP most recently used programs of at most LARGEST characters; ADLANG_NO_CACHE=1 turns the cache off, as it does the
grammar's.
"""

from __future__ import annotations

import hashlib
import os
import sys

from adlang.ir import nodes as ir

KEEP = 256
LARGEST = 200_000  # characters of source: a longer program is compiled each time (its IR would be megabytes)
SUFFIX = ".program"


def compile_file(source: str, filename: str) -> ir.Program:
    """The program of `source` (the text of `filename`), from the cache when it was compiled before."""
    folder = _folder() if len(source) <= LARGEST else None
    path = None if folder is None else os.path.join(folder, _key(source, filename) + SUFFIX)
    program = None if path is None else _read(path)
    if program is None:
        from adlang.pipeline import compile_source  # the parser: only for what the cache does not hold

        program = compile_source(source, filename)
        if path is not None:
            _write(folder, path, program)
    return program


def _folder() -> str | None:
    if os.environ.get("ADLANG_NO_CACHE"):
        return None
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(root, "adlang", "programs")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def _key(source: str, filename: str) -> str:
    digest = hashlib.sha256()
    for part in (sys.version, filename, *_code_stamps()):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(source.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _code_stamps() -> list[str]:
    """Name, size and modification time of each file that could change what compiling gives: adlang's
    modules and grammar (adlang/, lang/, ir/) and lark's."""
    import importlib.util

    import adlang
    import adlang.ir
    import adlang.lang

    folders = [os.path.dirname(package.__file__) for package in (adlang, adlang.lang, adlang.ir)]
    lark = importlib.util.find_spec("lark")
    if lark is not None and lark.origin:
        folders.append(os.path.dirname(lark.origin))
    stamps = []
    for folder in folders:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith((".py", ".lark")):
                stat = entry.stat()
                stamps.append(f"{entry.path}:{stat.st_size}:{stat.st_mtime_ns}")
    return stamps


def _read(path: str) -> ir.Program | None:
    import pickle

    try:
        with open(path, "rb") as fh:
            program = pickle.load(fh)
        os.utime(path)  # the newest are kept
    except Exception:  # missing, partly written by another process, from other code: compile instead
        return None
    return program if isinstance(program, ir.Program) else None


def _write(folder: str, path: str, program: ir.Program) -> None:
    """Written whole or not at all (a temporary file renamed); past KEEP programs, the least recently used go."""
    import pickle

    temporary = f"{path}.{os.getpid()}.tmp"  # this process's own name: no tempfile (and random) to load
    try:
        with open(temporary, "xb") as fh:
            pickle.dump(program, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
        kept = [e for e in os.scandir(folder) if e.name.endswith(SUFFIX)]
        if len(kept) > KEEP:  # down to three quarters, the least recently used first: pruning is rare
            kept.sort(key=lambda e: e.stat().st_mtime_ns)
            for old in kept[: len(kept) - KEEP * 3 // 4]:
                os.unlink(old.path)
    except (OSError, pickle.PicklingError, RecursionError):
        try:
            os.unlink(temporary)
        except OSError:
            pass
