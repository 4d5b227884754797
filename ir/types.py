"""The types of adlang values: float, int, bool, vec, vec(N), mat, mat(R, C), and tuples of those."""

from __future__ import annotations

from adlang.lang.record import record


@record
class Type:
    """A type. `kind` is one of float, int, bool, vec, mat, tuple.

    A vec's `length`, a mat's `length` (rows) and `cols`, where known.
    """

    kind: str
    length: int | None = None
    items: tuple[Type, ...] = ()
    cols: int | None = None

    def __str__(self) -> str:
        if self.kind == "vec":
            return "vec" if self.length is None else f"vec({self.length})"
        if self.kind == "mat":
            return "mat" if self.shape is None else f"mat({self.length}, {self.cols})"
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
    def is_array(self) -> bool:
        return self.kind in ("vec", "mat")

    @property
    def shape(self) -> tuple[int, int] | None:
        """A mat's (rows, cols) when both are known."""
        if self.kind == "mat" and self.length is not None and self.cols is not None:
            return (self.length, self.cols)
        return None

    @property
    def is_differentiable(self) -> bool:
        """Floats, vecs and mats carry derivatives; ints and bools do not."""
        return self.kind in ("float", "vec", "mat")

    @property
    def unsized(self) -> Type:
        """The type with no length or shape: what an adjoint holds, which starts as an empty placeholder."""
        return Type(self.kind) if self.is_array else self


FLOAT = Type("float")
INT = Type("int")
BOOL = Type("bool")
VEC = Type("vec")
MAT = Type("mat")


def vec(length: int | None = None) -> Type:
    return Type("vec", length)


def mat(rows: int | None = None, cols: int | None = None) -> Type:
    """mat(R, C), or mat when either is not known (a shape is known whole or not at all)."""
    if rows is None or cols is None:
        return MAT
    return Type("mat", rows, (), cols)


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
    if expected.kind == "mat" and got.kind == "mat":
        return expected.shape is None or got.shape is None or expected.shape == got.shape
    if expected.kind == "tuple" and got.kind == "tuple":
        return len(expected.items) == len(got.items) and all(
            accepts(e, g) for e, g in zip(expected.items, got.items)
        )
    return False


def join_vec_lengths(a: Type, b: Type) -> Type:
    """The vec type of an elementwise result of two vecs (length known if either knows it)."""
    return vec(a.length if a.length is not None else b.length)
