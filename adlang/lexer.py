"""A Pygments lexer for adlang, so the REPL (and rich) can colour adlang code."""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, Whitespace

from adlang.ir.lower import TAPE_BUILTINS
from adlang.ir.primitives import BY_BUILTIN

KEYWORDS = ("def", "let", "for", "in", "while", "if", "elif", "else", "return", "and", "or", "not")
TYPES = ("float", "int", "bool", "vec", "mat")
# Every builtin the registry knows (its call-syntax primitives and their aliases), the tape's, which lowering
# reads itself, and the words of the `grad f(...) wrt ...` form.
BUILTINS = (*BY_BUILTIN, *TAPE_BUILTINS, "grad", "wrt")


class AdlangLexer(RegexLexer):
    name = "adlang"
    aliases = ["adlang"]
    filenames = ["*.ad"]

    tokens = {
        "root": [
            (r"#.*?$", Comment.Single),
            (r"\s+", Whitespace),
            (r"(def)(\s+)([A-Za-z_]\w*)", bygroups(Keyword, Whitespace, Name.Function)),
            (words(("true", "false"), suffix=r"\b"), Keyword.Constant),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(TYPES, suffix=r"\b"), Keyword.Type),
            (words(BUILTINS, suffix=r"\b"), Name.Builtin),
            (r"(\d+\.(?!\.)\d*|\.\d+)([eE][+-]?\d+)?|\d+[eE][+-]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"[A-Za-z_]\w*", Name),
            (r"->|\.\.|[-+*/]=|[<>=!]=|[-+*/^<>=]", Operator),
            (r"[()\[\],:]", Punctuation),
        ]
    }
