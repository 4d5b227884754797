"""The types of adlang values: float, int, bool, vec, vec(N), and tuples of those."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Type:
    """A type. `kind` is one of float, int, bool, vec, tuple."""

    kind: str
    length: int | None = None
    items: tuple[Type, ...] = ()

    def __str__(self) -> str:
        if self.kind == "vec":
            return "vec" if self.length is None else f"vec({self.length})"
        if self.kind == "tuple":
            return "(" + ", ".join(str(t) for t in self.items) + ")"
        return self.kind

    @property
    def is_scalar_number(self) -> bool:
        return self.kind in ("float", "int")

    @property
    def is_vec(self) -> bool:
        return self.kind == "vec"

    @property
    def is_differentiable(self) -> bool:
        """Floats and vecs carry derivatives; ints and bools do not."""
        return self.kind in ("float", "vec")


FLOAT = Type("float")
INT = Type("int")
BOOL = Type("bool")
VEC = Type("vec")


def vec(length: int | None = None) -> Type:
    return Type("vec", length)


def tuple_of(items) -> Type:
    return Type("tuple", None, tuple(items))


def accepts(expected: Type, got: Type) -> bool:
    """Whether a value of type `got` may go where `expected` is wanted.

    int promotes to float; vec(N) and vec are interchangeable (a length that
    differs from a known one is refused here, an unknown one is checked when it runs).
    """
    if expected == got:
        return True
    if expected.kind == "float" and got.kind == "int":
        return True
    if expected.kind == "vec" and got.kind == "vec":
        return expected.length is None or got.length is None or expected.length == got.length
    if expected.kind == "tuple" and got.kind == "tuple":
        return len(expected.items) == len(got.items) and all(
            accepts(e, g) for e, g in zip(expected.items, got.items)
        )
    return False


def join_vec_lengths(a: Type, b: Type) -> Type:
    """The vec type of an elementwise result of two vecs (length known if either knows it)."""
    return vec(a.length if a.length is not None else b.length)
