"""Source text to the syntax tree of `ast.py`, with parse errors a person can read.

Lark parses `grammar.lark` (LALR, basic lexer) with an Indenter post-lexer for
the blocks; a transformer builds `ast` nodes from its tree and does nothing
else (no folding, no checks the grammar cannot express, save the few below).
Every Lark exception becomes a ParseError that says what was expected and
points at the place a person would look at: the end of the line for a missing
`:`, the opening bracket for an unclosed one.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import NamedTuple

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.indenter import Indenter

from adlang.lang import ast
from adlang.lang.errors import ParseError
from adlang.lang.span import Span

__all__ = ["MAX_SOURCE_CHARS", "parse"]

# The parser reads about 100,000 characters a second: a program is at most 1,000,000 (README, "Limits").
MAX_SOURCE_CHARS = 1_000_000

_INT_MAX = 2**63 - 1
_LAYOUT = frozenset({"_NL", "_INDENT", "_DEDENT"})
_OPENERS = {"LPAR": ")", "LSQB": "]"}
_CLOSERS = {"RPAR": "(", "RSQB": "["}
_BLOCK_KEYWORDS = ("def", "for", "while", "if", "elif", "else")
_STATEMENT_KEYWORDS = frozenset({"DEF", "LET", "FOR", "WHILE", "IF", "ELIF", "ELSE", "RETURN"})
_AUGMENTED = ("EQUAL", "PLUS_EQ", "MINUS_EQ", "STAR_EQ", "SLASH_EQ")
_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "COMP_OP": "a comparison",
    "_NL": "the end of the line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "$END": "the end of the file",
}
_CHARACTER_HINTS = {"!": "; write `not`", "&": "; write `and`", "|": "; write `or`"}
# After a complete expression: what else may follow it, named in "expected an operator, ..."
_AFTER_EXPRESSION = {"COMMA": "','", "RPAR": "')'", "RSQB": "']'", "COLON": "':'", "DOTDOT": "'..'",
                     "_NL": "the end of the line"}
_STARTS_EXPRESSION = frozenset({"NAME", "INT", "FLOAT", "LPAR", "LSQB", "TRUE", "FALSE", "NOT"})
_STATEMENT_WORDS = ("let", "for", "while", "if", "elif", "else", "return")
_UNEXPECTED_INDENT = "unexpected indentation; only the lines of a block (after a line ending in ':') are indented"


# ---------------------------------------------------------------- the post-lexer


class _Blocks(Indenter):
    """Python-style blocks, plus what the error messages need to know.

    It refuses tabs and dedents to a level that no block has, with the line
    they are on, and it records the tokens the parser has accepted and the
    brackets still open, so that an error can name the statement it is in
    or the bracket that was never closed.
    """

    NL_type = "_NL"
    OPEN_PAREN_types = list(_OPENERS)
    CLOSE_PAREN_types = list(_CLOSERS)
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[Token] = []
        self.open_brackets: list[Token] = []

    def process(self, stream):
        self.accepted = []
        self.open_brackets = []
        return self._record(super().process(stream))

    def _record(self, stream):
        for token in stream:
            yield token
            # The parser asks for the next token only once it has taken this one.
            self.accepted.append(token)
            if token.type in _OPENERS:
                self.open_brackets.append(token)
            elif token.type in _CLOSERS and self.open_brackets:
                self.open_brackets.pop()

    def handle_NL(self, token: Token):
        if self.paren_level > 0:
            return
        # The newline goes first, so that an error the parser finds at the end
        # of this line is reported before one in the next line's indentation.
        yield token
        indent = token.rsplit("\n", 1)[1]
        line = token.end_line
        if "\t" in indent:
            raise ParseError("a tab in indentation; use spaces", _at(line, indent.index("\t") + 1))
        width = len(indent)
        if width > self.indent_level[-1]:
            self.indent_level.append(width)
            yield Token.new_borrow_pos(self.INDENT_type, indent, token)
            return
        while width < self.indent_level[-1]:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, indent, token)
        if width != self.indent_level[-1]:
            raise ParseError("indentation does not match any outer block; line it up with the lines of a block "
                             "it is in", _at(line, width + 1))


class _NotLayout:
    """Spans end at a statement's last token, not at the newline and indentation after it. A class with a fixed
    name rather than a function: lark hashes its options' text to key the cache, and a function's text holds
    its address, new in every process."""

    def __call__(self, child) -> bool:
        return not (isinstance(child, Token) and child.type in _LAYOUT)

    def __repr__(self) -> str:
        return "_NotLayout"


def _cache_file() -> str | bool:
    """Where lark keeps its analysis of the grammar between runs (a 60 ms build becomes a 4 ms load): the user's
    cache folder. Lark checks the grammar's hash on load, so a stale or foreign file is rebuilt; without a
    writable folder there is no cache."""
    if os.environ.get("ADLANG_NO_CACHE"):
        return False
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(root, "adlang")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.path.join(folder, "grammar.lark-cache") if os.access(folder, os.W_OK) else False


def _build() -> Lark:
    """The parser; a cache that cannot be read or written (another process writing it, a full disk) only costs
    the build: lark's complaint about it is kept off the user's screen."""
    quiet = logging.getLogger("lark")
    level, propagate = quiet.level, quiet.propagate
    quiet.setLevel(logging.CRITICAL + 1)
    quiet.propagate = False
    try:
        return Lark(
            (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8"),
            parser="lalr",
            lexer="basic",
            start="module",
            postlex=_BLOCKS,
            propagate_positions=_NotLayout(),
            maybe_placeholders=True,
            cache=_cache_file(),
        )
    finally:
        quiet.setLevel(level)
        quiet.propagate = propagate


_LOCK = threading.Lock()
_BLOCKS = _Blocks()
_LARK = _build()


# ---------------------------------------------------------------- tree to ast


def _span(meta) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column - 1)


def _token_span(token: Token) -> Span:
    return Span(token.line, token.column, token.end_line, token.end_column - 1)


def _name(token: Token) -> ast.Name:
    return ast.Name(str(token), _token_span(token))


class _Block(NamedTuple):
    """A suite's statements and where its `:` is, which ends the header's span."""

    body: tuple[ast.Stmt, ...]
    colon: Span


def _header(meta, block: _Block) -> Span:
    return Span(meta.line, meta.column, block.colon.line, block.colon.col)


_PRAGMA = re.compile(r"#\s*checkpoint\s*:\s*(\S*)")
_STRATEGY = re.compile(r"none|sqrt|(every|revolve):[1-9][0-9]*")


def _checkpoint_comments(source: str) -> dict[int, tuple[str, int]]:
    """`# checkpoint: S` comments by line: (S, column of the '#'). Only a loop header's is read."""
    found = {}
    if "checkpoint" not in source:
        return found
    for number, line in enumerate(source.splitlines(), start=1):
        hash_at = line.find("#")
        match = _PRAGMA.match(line, hash_at) if hash_at >= 0 else None
        if match:
            found[number] = (match.group(1), hash_at + 1)
    return found


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """One method per grammar rule; each builds its ast node and nothing more."""

    def __init__(self, pragmas: dict[int, tuple[str, int]] | None = None):
        super().__init__()
        self.pragmas = pragmas or {}

    def checkpoint(self, meta) -> str | None:
        """The strategy of a `# checkpoint: S` comment on a loop's header line, checked."""
        found = self.pragmas.get(meta.line)
        if found is None:
            return None
        text, col = found
        if not _STRATEGY.fullmatch(text):
            raise ParseError(
                f"unknown checkpoint strategy '{text}' in this comment; write `# checkpoint: S` with S one of "
                "none, sqrt, every:K or revolve:S (K and S whole numbers >= 1)", _at(meta.line, col))
        return text

    def module(self, meta, children):
        return ast.Module(tuple(children))

    def funcdef(self, meta, children):
        name, params, ret, block = children
        return ast.FunctionDef(_name(name), params or (), ret, block.body, _header(meta, block))

    def params(self, meta, children):
        return tuple(children)

    def param(self, meta, children):
        name, type_ = children
        return ast.Param(_name(name), type_, _span(meta))

    def type(self, meta, children):
        name, length, cols = children
        if length is not None and name == "mat" and cols is None:
            raise ParseError(f"`mat` takes rows and columns, as in `mat({length}, 3)`", _token_span(length))
        if length is not None and name not in ("vec", "mat"):
            raise ParseError(f"only `vec` takes a length, as in `vec({length})`, and `mat` rows and columns, as in "
                             f"`mat({length}, 3)`", _token_span(length))
        if cols is not None and name != "mat":
            raise ParseError(f"only `mat` takes two sizes, as in `mat({length}, {cols})`", _token_span(cols))
        return ast.TypeRef(str(name), None if length is None else int(length), span=_span(meta),
                           cols=None if cols is None else int(cols))

    def tuple_type(self, meta, children):
        return ast.TypeRef("tuple", items=tuple(children), span=_span(meta))

    def suite(self, meta, children):
        return _Block(tuple(children), Span(meta.line, meta.column, meta.line, meta.column))

    def let_stmt(self, meta, children):
        *names, type_, value = children
        if type_ is not None and len(names) > 1:
            raise ParseError("a `let` with several names takes no type: write `let a, b = ...`", type_.span)
        return ast.Let(tuple(_name(n) for n in names), type_, value, _span(meta))

    def grad_call(self, meta, children):
        grad, call, wrt, *names = children
        if str(grad) != "grad":
            raise ParseError(f"expected an expression after '=', found '{grad}'; "
                             "a derivative is written `grad f(x, y) wrt x`", _token_span(grad))
        if str(wrt) != "wrt":
            raise ParseError(f"expected `wrt` after the call in a grad, found '{wrt}'", _token_span(wrt))
        return ast.GradCall(call, tuple(_name(n) for n in names), _span(meta))

    def assign_stmt(self, meta, children):
        name, op, value = children
        return ast.Assign(_name(name), str(op), value, _span(meta))

    def return_stmt(self, meta, children):
        return ast.Return(tuple(children), _span(meta))

    def call_stmt(self, meta, children):
        (call,) = children
        return ast.CallStmt(call, _span(meta))

    def for_stmt(self, meta, children):
        var, start, stop, block = children
        return ast.For(_name(var), start, stop, block.body, _header(meta, block), self.checkpoint(meta))

    def while_stmt(self, meta, children):
        cond, block = children
        return ast.While(cond, block.body, _header(meta, block), self.checkpoint(meta))

    def if_stmt(self, meta, children):
        cond, block, *elifs, orelse = children
        return ast.If(((cond, block.body), *elifs), orelse, _header(meta, block))

    def elif_clause(self, meta, children):
        cond, block = children
        return (cond, block.body)

    def else_clause(self, meta, children):
        (block,) = children
        return block.body

    def binary(self, meta, children):
        left, op, right = children
        return ast.Binary(str(op), left, right, _span(meta))

    def compare(self, meta, children):
        if len(children) > 3:
            second = children[3]
            raise ParseError(
                "comparisons cannot be chained: write `a < b and b < c`, not `a < b < c`",
                _token_span(second),
            )
        return self.binary(meta, children)

    def unary(self, meta, children):
        op, operand = children
        return ast.Unary(str(op), operand, _span(meta))

    def index(self, meta, children):
        target, index, column = children
        return ast.Index(target, index, column, _span(meta))

    def call(self, meta, children):
        name, args = children
        return ast.Call(str(name), args or (), _span(meta))

    def args(self, meta, children):
        return tuple(children)

    def vec(self, meta, children):
        (items,) = children
        return ast.VecLit(items or (), _span(meta))

    def name(self, meta, children):
        return _name(children[0])

    def int(self, meta, children):
        (token,) = children
        digits = str(token).lstrip("0")
        if len(digits) > 19 or int(digits or "0") > _INT_MAX:  # length first: int() refuses 4,300 digits
            shown = digits if len(digits) <= 30 else f"{digits[:12]}...({len(digits)} digits)"
            as_float = f"{digits[0]}.{digits[1:4]}e{len(digits) - 1}"
            raise ParseError(f"the int {shown} does not fit in 64 bits (at most {_INT_MAX}); "
                             f"for a number this large write a float, as {as_float}", _token_span(token))
        return ast.Num(int(digits or "0"), _span(meta))

    def float(self, meta, children):
        return ast.Num(float(children[0]), _span(meta))

    def true(self, meta, children):
        return ast.Bool(True, _span(meta))

    def false(self, meta, children):
        return ast.Bool(False, _span(meta))


# ---------------------------------------------------------------- the entry point


def parse(source: str, filename: str = "<input>") -> ast.Module:
    """Parse a whole file; raises ParseError with a message and a 1-based place.

    `filename` is accepted for symmetry with the rest of the pipeline; errors
    carry only a span, and the caller names the file.
    """
    del filename
    if len(source) > MAX_SOURCE_CHARS:
        line = source.count("\n", 0, MAX_SOURCE_CHARS) + 1
        col = MAX_SOURCE_CHARS - source.rfind("\n", 0, MAX_SOURCE_CHARS)
        raise ParseError(
            f"the program is {len(source):,} characters, more than adlang reads ({MAX_SOURCE_CHARS:,}); "
            "split it into smaller files, and load large data with x=@file.npy",
            _at(line, col),
        )
    if not source.endswith("\n"):
        source += "\n"
    _check_first_line(source)
    with _LOCK:
        try:
            tree = _LARK.parse(source)
        except UnexpectedInput as e:
            raise _explain(e, _BLOCKS) from None
        except LarkError as e:
            raise ParseError(f"cannot parse this: {str(e).splitlines()[0]}", Span(1, 1, 1, 1)) from None
    try:
        return _ToAst(_checkpoint_comments(source)).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, ParseError):
            raise e.orig_exc from None
        raise


def _check_first_line(source: str) -> None:
    """The Indenter sees indentation only after a newline, so the first line is checked here."""
    first = source.split("\n", 1)[0]
    code = first.lstrip(" \t")
    if not code or code.startswith("#") or code == first or code == "\r":
        return
    indent = first[: len(first) - len(code)]
    if "\t" in indent:
        raise ParseError("a tab in indentation; use spaces", _at(1, indent.index("\t") + 1))
    raise ParseError(_UNEXPECTED_INDENT, _at(1, len(indent) + 1))


# ---------------------------------------------------------------- errors


def _at(line: int, col: int) -> Span:
    return Span(line, col, line, col)


def _found(token: Token) -> str:
    if token.type in _LAYOUT or token.type == "$END":
        return _WORDS[token.type]
    return f"'{token}'"


def _terminal_word(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    pattern = _LARK.get_terminal(name).pattern
    return f"'{pattern.value}'"


def _one_of(names) -> str:
    words = sorted({_terminal_word(n) for n in names})
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _after(token: Token) -> Span:
    """Just after `token`: where something missing at the end of its line belongs."""
    return _at(token.end_line, token.end_column)


def _statement_start(accepted: list[Token]) -> Token | None:
    """The first token of the statement the parser is in."""
    start = None
    for token in reversed(accepted):
        if token.type in _LAYOUT:
            break
        start = token
    return start


def _explain(error: UnexpectedInput, blocks: _Blocks) -> ParseError:
    """Turn a Lark error into a ParseError; `blocks` knows what the parser had taken."""
    if isinstance(error, UnexpectedCharacters):
        hint = _CHARACTER_HINTS.get(error.char, "")
        return ParseError(f"unexpected character {error.char!r}{hint}", _at(error.line, error.column))
    accepted = list(blocks.accepted)
    prev = next((t for t in reversed(accepted) if t.type not in _LAYOUT), None)
    if isinstance(error, UnexpectedToken):
        token = error.token
        parser = error.interactive_parser
        # The LALR table's own list is too wide (merged lookaheads); ask what really fits.
        expected = set(parser.accepts() if parser is not None else error.expected)
    else:
        line, col = (prev.end_line, prev.end_column) if prev is not None else (1, 1)
        token = Token("$END", "", line=line, column=col)
        expected = set(getattr(error, "expected", ()))
    return ParseError(*_describe(token, expected, accepted, prev, blocks.open_brackets))


def _describe(token, expected, accepted, prev, open_brackets) -> tuple[str, Span]:
    """The message and place for the token the parser could not take."""
    found = _found(token)
    at_end = token.type in ("_NL", "_DEDENT", "$END")
    here = _after(prev) if at_end and prev is not None else _at(token.line, token.column)
    start = _statement_start(accepted)
    kind = str(start) if start is not None and start.type != "NAME" else None

    if open_brackets and token.type not in _CLOSERS and _looks_unclosed(token, accepted, open_brackets):
        bracket = open_brackets[-1]
        # Inside brackets newlines make no blocks, so a dedent here is the end of the file.
        before = _WORDS["$END"] if token.type == "_DEDENT" else found
        return (
            f"unclosed '{bracket}': no '{_OPENERS[bracket.type]}' before {before}",
            _at(bracket.line, bracket.column),
        )
    if token.type == "_INDENT":
        return _UNEXPECTED_INDENT, _at(token.end_line, token.end_column)
    if expected == {"_INDENT"} and prev is not None:
        return "expected a block after ':' (indent the next line)", _at(prev.line, prev.column)
    if expected == {"_NL"} and prev is not None and prev.type == "COLON":
        return f"a block starts on the line after ':', indented; found {found}", here
    if at_end and "COLON" in expected and kind in _BLOCK_KEYWORDS:
        return f"expected ':' at the end of the `{kind}` line", here
    if kind == "for" and ({"DOTDOT", "IN"} & expected or prev is not None and prev.type in ("FOR", "DOTDOT")):
        return f"a `for` line looks like `for i in a..b:`; found {found}", here
    if {"NAME", "INT", "FLOAT"} <= expected:
        after = f" after '{prev}'" if prev is not None else ""
        hint = " (a power is written `x ^ n`)" if prev is not None and prev == "*" and token == "*" else ""
        return f"expected an expression{after}, found {found}{hint}", here
    if token.type in _CLOSERS and token.type not in expected:
        if open_brackets and _OPENERS[open_brackets[-1].type] != str(token):
            inner = open_brackets[-1]
            return (
                f"unexpected '{token}': the '{inner}' on line {inner.line} is still open",
                _at(token.line, token.column),
            )
        if not open_brackets and not ({"LPAR", "LSQB"} & expected and len(expected) <= 4):
            return (f"unexpected '{token}': no '{_CLOSERS[token.type]}' is open; remove it or add the "
                    f"'{_CLOSERS[token.type]}'", _at(token.line, token.column))
    if {"PLUS", "STAR", "CARET"} <= expected and token.type not in expected:
        return _after_expression(token, found, expected, prev), here
    if token.type in ("ELIF", "ELSE") and token.type not in expected:
        return f"'{token}' without an `if` before it at the same indentation", here
    if {"LET", "RETURN"} <= expected:
        return f"expected a statement, found {found}{_keyword_hint(token, _STATEMENT_WORDS)}", here
    if "DEF" in expected and "LET" not in expected:
        return f"expected a function definition `def name(...):`, found {found}{_keyword_hint(token, ('def',))}", here
    if prev is not None and prev.type in ("COLON", "ARROW") and "NAME" in expected and "INT" not in expected:
        after = "'->'" if prev.type == "ARROW" else "':'"
        return (f"expected a type after {after}, found {found}; the types are {ast.TYPE_NAMES}"
                + (", and (float, float) for a result of several values" if prev.type == "ARROW" else ""), here)
    if start is not None and start.type == "NAME" and set(_AUGMENTED) <= expected:
        if token.type == "LSQB" and prev is start:
            return _no_element_update(str(start)), here
        hint = _keyword_hint(prev, _STATEMENT_WORDS) if prev is start else ""
        return f"expected '=', an update like '+=', or a call '(' after '{prev}', found {found}{hint}", here
    if 0 < len(expected) <= 4:
        after = f" after '{prev}'" if prev is not None else ""
        return f"expected {_one_of(expected)}{after}, found {found}", here
    return f"unexpected {found}", here


def _no_element_update(name: str) -> str:
    """`v[i] = e` (or `A[i, j] = e`): what to write instead. The parser does not know whether it is a vec or a mat."""
    return (f"vecs and mats are immutable: there is no `{name}[i] = ...` (or `{name}[i, j] = ...`); make a new one "
            f"instead, as `let w = addat({name}, i, value - {name}[i])` (w is {name} with element i set to value; "
            f"`addat({name}, i, j, value - {name}[i, j])` sets an element of a mat), or build it whole with a literal "
            "or arithmetic")


def _after_expression(token: Token, found: str, expected: set, prev: Token | None) -> str:
    """An expression ended, and what follows cannot continue it: most often a missing operator or ','."""
    others = [word for name, word in _AFTER_EXPRESSION.items() if name in expected]
    what = ", ".join(["an operator", *others[:-1]]) + (f" or {others[-1]}" if others else "")
    after = f" after '{prev}'" if prev is not None else ""
    message = f"expected {what}{after}, found {found}"
    if token.type in ("LET", "RETURN", "IF", "FOR", "WHILE", "DEF") and "_NL" in expected:
        return message + f"; '{token}' starts a statement: put it on a line of its own"
    if token.type in _STARTS_EXPRESSION:
        return message + ("; is a ',' missing?" if "COMMA" in expected else "; is an operator missing?")
    return message


def _keyword_hint(token: Token | None, keywords: tuple[str, ...]) -> str:
    """`; did you mean `return`?` for a name that is one of `keywords` misspelt."""
    if token is None or token.type != "NAME":
        return ""
    swapped = [k for k in keywords if sorted(k) == sorted(str(token))]  # `fi`, `retrun`: letters swapped
    import difflib  # only for a message: not loaded by a program that parses

    close = swapped or difflib.get_close_matches(str(token), keywords, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def _looks_unclosed(token: Token, accepted: list[Token], open_brackets: list[Token]) -> bool:
    """Whether the parser stopped because a bracket was never closed.

    Inside brackets newlines are ignored, so a forgotten `)` shows up later: at
    the end of the file, at a keyword that starts a statement, or at a line
    that starts no deeper than the statement holding the bracket.
    """
    if token.type in ("_DEDENT", "$END"):
        return True
    outer = open_brackets[0]
    if token.line <= outer.line:
        return False
    if token.type in _STATEMENT_KEYWORDS:
        return True
    line_start = next((t for t in accepted if t.type not in _LAYOUT and t.line == outer.line), outer)
    prev = next((t for t in reversed(accepted) if t.type not in _LAYOUT), outer)
    return token.line > prev.end_line and token.column <= line_start.column
