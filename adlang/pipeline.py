"""The front door: source text in, checked IR out."""

from __future__ import annotations

from adlang.ir import nodes as ir
from adlang.ir.lower import lower
from adlang.lang.parser import parse


def compile_source(source: str, filename: str = "<input>") -> ir.Program:
    """Parse and check a program; raises ParseError or TypeCheckError with a place."""
    return lower(parse(source, filename), source)
