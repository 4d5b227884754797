"""The printer: the one way IR becomes text, and the text is valid adlang.

`parse(print(ir))` lowers back to an equal IR, and printing that again gives
the same bytes: each statement is one line of the language, each operation has
atoms as operands, so no precedence can be lost. With `types=True` every
binding shows its type (`adlang ir`); without, the program reads like the
lecture's slides (`adlang diff`).
"""

from __future__ import annotations

import math

from adlang.ir import nodes as ir
from adlang.ir.primitives import TypeRuleError, lookup
from adlang.ir.types import FLOAT, Type

INDENT = "    "


def print_program(program: ir.Program, types: bool = False) -> str:
    returns = {fn.name: fn.ret for fn in program.functions}
    return "\n".join(print_function(fn, types, returns) for fn in program.functions)


def print_function(fn: ir.Function, types: bool = False, returns: dict[str, Type] | None = None) -> str:
    """`returns` (each function's result type) lets a `let` of a call drop a type the call gives anyway."""
    params = ", ".join(_param(p, types) for p in fn.params)
    ret = f" -> {fn.ret}" if types or fn.ret != FLOAT else ""
    lines = [f"def {fn.name}({params}){ret}:"]
    _block(fn.body, 1, types, lines, returns or {})
    return "\n".join(lines) + "\n"


def print_statement(stmt: ir.Stmt, types: bool = False) -> str:
    """One statement's own line (a block statement's header), for traces and the REPL."""
    lines: list[str] = []
    _statement(stmt, 0, types, lines, {})
    return lines[0]


def print_expr(expr: ir.Expr) -> str:
    if isinstance(expr, (ir.Var, ir.Const)):
        return atom(expr)
    if isinstance(expr, ir.Pop):
        return f"pop({expr.tape})" if expr.tape else "pop()"
    if isinstance(expr, ir.CallFn):
        return f"{expr.fn}({', '.join(atom(a) for a in expr.args)})"
    if isinstance(expr, ir.GradOf):
        return f"grad {expr.fn}({', '.join(atom(a) for a in expr.args)}) wrt {', '.join(expr.wrt)}"
    prim = lookup(expr.op)
    args = expr.args
    if prim.syntax == "infix":
        left = atom(args[0])
        if prim.symbol == "^" and _is_negative_const(args[0]):
            left = f"({left})"
        return f"{left} {prim.symbol} {atom(args[1])}"
    if prim.syntax == "prefix":
        operand = atom(args[0])
        if prim.symbol == "-":
            return f"-({operand})" if _is_negative_const(args[0]) else f"-{operand}"
        return f"{prim.symbol} {operand}"
    if prim.syntax == "index":
        return f"{atom(args[0])}[{', '.join(atom(a) for a in args[1:])}]"
    if prim.syntax == "veclit":
        return "[" + ", ".join(atom(a) for a in args) + "]"
    return f"{prim.symbol}({', '.join(atom(a) for a in args)})"


def atom(a: ir.Atom) -> str:
    if isinstance(a, ir.Var):
        return a.name
    return const(a.value)


def const(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return repr(float(value))


def _is_negative_const(a: ir.Atom) -> bool:
    return isinstance(a, ir.Const) and not isinstance(a.value, bool) and (a.value < 0 or repr(a.value)[0] == "-")


def _param(p: ir.Var, types: bool) -> str:
    return f"{p.name}: {p.type}" if types or p.type != FLOAT else p.name


def _annotation(t: Type, types: bool, expr: ir.Expr, returns: dict[str, Type]) -> str:
    """The type of a `let`: always with `types`, else where the value alone would give another one.

    Only a vec's length or a mat's shape can differ (`let v: vec = [1.0, 2.0]` may later hold three elements),
    and a `pop()` has no type of its own.
    """
    if types or isinstance(expr, ir.Pop):
        return f": {t}"
    if t.is_array and _type_of(expr, returns) != t:
        return f": {t}"
    return ""


def _type_of(expr: ir.Expr, returns: dict[str, Type]) -> Type | None:
    """The type lowering gives `expr` on its own, None where it is not known here."""
    if isinstance(expr, (ir.Var, ir.Const)):
        return expr.type
    if isinstance(expr, ir.CallFn):
        return returns.get(expr.fn)
    if isinstance(expr, ir.Prim):
        try:
            return lookup(expr.op).check(expr.args)
        except TypeRuleError:
            return None
    return None


def _block(body: tuple[ir.Stmt, ...], depth: int, types: bool, lines: list[str], returns: dict[str, Type]) -> None:
    for stmt in body:
        _statement(stmt, depth, types, lines, returns)


def _statement(stmt: ir.Stmt, depth: int, types: bool, lines: list[str], returns: dict[str, Type]) -> None:
    pad = INDENT * depth
    if isinstance(stmt, ir.Let):
        if len(stmt.targets) == 1:
            t = stmt.targets[0]
            note = _annotation(t.type, types, stmt.expr, returns)
            lines.append(f"{pad}let {t.name}{note} = {print_expr(stmt.expr)}")
        else:
            names = ", ".join(t.name for t in stmt.targets)
            note = "  # " + ", ".join(str(t.type) for t in stmt.targets) if types else ""
            lines.append(f"{pad}let {names} = {print_expr(stmt.expr)}{note}")
    elif isinstance(stmt, ir.Assign):
        lines.append(f"{pad}{stmt.target.name} = {print_expr(stmt.expr)}")
    elif isinstance(stmt, ir.Push):
        tape = f", {stmt.tape}" if stmt.tape else ""
        lines.append(f"{pad}push({atom(stmt.value)}{tape})")
    elif isinstance(stmt, ir.For):
        lines.append(f"{pad}for {stmt.var.name} in {atom(stmt.start)}..{atom(stmt.stop)}:{_pragma(stmt)}")
        _block(stmt.body, depth + 1, types, lines, returns)
    elif isinstance(stmt, ir.While):
        lines.append(f"{pad}while {atom(stmt.cond)}:{_pragma(stmt)}")
        _block(stmt.body, depth + 1, types, lines, returns)
    elif isinstance(stmt, ir.If):
        _if(stmt, depth, types, lines, "if", returns)
    elif isinstance(stmt, ir.Return):
        lines.append(f"{pad}return {', '.join(atom(a) for a in stmt.values)}")
    else:
        raise TypeError(f"cannot print {stmt!r}")


def _if(stmt: ir.If, depth: int, types: bool, lines: list[str], keyword: str, returns: dict[str, Type]) -> None:
    pad = INDENT * depth
    lines.append(f"{pad}{keyword} {atom(stmt.cond)}:")
    _block(stmt.then, depth + 1, types, lines, returns)
    orelse = stmt.orelse
    if len(orelse) == 1 and isinstance(orelse[0], ir.If):
        _if(orelse[0], depth, types, lines, "elif", returns)
    elif orelse:
        lines.append(f"{pad}else:")
        _block(orelse, depth + 1, types, lines, returns)


def _pragma(loop: ir.For | ir.While) -> str:
    """A loop's checkpoint annotation, written as the comment it was read from."""
    return f"  # checkpoint: {loop.checkpoint}" if loop.checkpoint else ""
