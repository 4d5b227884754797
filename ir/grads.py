"""Expanding `grad f(args) wrt p`: a call of f's reverse-mode derivative program, generated once.

Derivatives inside the language are derivative programs like any other, so a
function that uses `grad` can itself be differentiated (the outer pass then
differentiates the inner derivative program), and nested derivatives cannot
confuse their perturbations: each level is a function with variables of its own.
"""

from __future__ import annotations

import weakref

from adlang.ir import nodes as ir
from adlang.ir.naming import function_namer
from adlang.ir.reverse import ReverseMode, reverse_entry
from adlang.ir.simplify import simplify_function


def has_grads(program: ir.Program) -> bool:
    return any(isinstance(getattr(s, "expr", None), ir.GradOf) for fn in program.functions for s in ir.walk(fn.body))


_RECENT: list[tuple[weakref.ref, ir.Program]] = []
_RECENT_SIZE = 8


def expand_grads(program: ir.Program) -> ir.Program:
    """The program with every GradOf replaced by a call; the derivative functions are appended.

    The last few programs are remembered by identity (weakly), so running a
    function that uses grad many times (an optimizer, a benchmark) builds its
    derivative programs once.
    """
    for ref, expanded in _RECENT:
        if ref() is program:
            return expanded
    expanded = _Expander(program).run() if has_grads(program) else program
    _RECENT.insert(0, (weakref.ref(program), expanded))
    del _RECENT[_RECENT_SIZE:]
    return expanded


class _Expander:
    def __init__(self, program: ir.Program):
        self.program = program
        self.names = function_namer(program.names)
        self.expanded: dict[str, ir.Function] = {}
        self.generated: list[ir.Function] = []
        self.entries: dict[tuple[str, tuple[str, ...]], str] = {}

    def run(self) -> ir.Program:
        for fn in self.program.functions:
            self.expand(fn.name)
        functions = [self.expanded[fn.name] for fn in self.program.functions]
        return ir.Program(tuple(functions) + tuple(self.generated))

    def expand(self, name: str) -> ir.Function:
        if name not in self.expanded:
            fn = self.program.function(name)
            self.expanded[name] = ir.Function(fn.name, fn.params, fn.ret, self.block(fn.body), fn.span)
        return self.expanded[name]

    def block(self, body) -> tuple[ir.Stmt, ...]:
        out = []
        for s in body:
            if isinstance(s, ir.Let) and isinstance(s.expr, ir.GradOf):
                g = s.expr
                s = ir.Let(s.targets, ir.CallFn(self.derivative(g.fn, g.wrt), g.args), s.span)
            out.append(ir.map_blocks(s, self.block))
        return tuple(out)

    def derivative(self, fn_name: str, wrt: tuple[str, ...]) -> str:
        key = (fn_name, wrt)
        if key not in self.entries:
            for callee in ir.callees_first({f.name: f for f in self.program.functions}, fn_name):
                self.expand(callee)
            current = ir.Program(tuple(self.expanded.values()) + tuple(self.generated))
            mode = ReverseMode(current, self.names)
            entry = reverse_entry(mode, current.function(fn_name), list(wrt))
            self.generated.extend(simplify_function(f) for f in mode.functions() + [entry])
            self.entries[key] = entry.name
        return self.entries[key]
