"""`record` and `mutable_record` (lang/record.py) behave as `@dataclass(frozen=True)` and `@dataclass` do."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from adlang.lang.record import mutable_record, record


def _point(decorate, name):
    class Point:
        """A point with a label that equality ignores."""

        x: int
        y: float = 0.5
        tags: tuple = field(default_factory=tuple)
        label: str = field(default="", compare=False, repr=False)

    Point.__name__ = Point.__qualname__ = name  # pickled by this module's name for it
    globals()[name] = decorate(Point)
    return globals()[name]


FROZEN = [_point(dataclass(frozen=True), "FrozenDataclass"), _point(record, "Record")]
MUTABLE = [_point(dataclass, "MutableDataclass"), _point(mutable_record, "MutableRecord")]


@pytest.mark.parametrize("make", [FROZEN, MUTABLE], ids=["frozen", "mutable"])
def test_a_record_acts_as_the_dataclass(make):
    def behaviour(cls):
        a, b, c = cls(1, 2.0, ("t",), label="a"), cls(1, 2.0, ("t",), label="b"), cls(2)
        return {
            "repr": repr(a).replace(cls.__name__, "Point"),
            "eq": (a == b, a == c, a != c, a == (1, 2.0, ("t",)), c.y, c.tags),
            "hash": cls.__hash__ is None or hash(a) == hash(b),
            "fields": [(f.name, f.compare, f.repr) for f in dataclasses.fields(cls)],
            "replace": dataclasses.replace(a, x=5) == cls(5, 2.0, ("t",)),
            "pickle": pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a,
            "asdict": dataclasses.asdict(a),
            "match": cls.__match_args__,
        }

    assert behaviour(make[1]) == behaviour(make[0])
    with pytest.raises(TypeError):
        make[1]()  # x is required


def test_a_record_is_immutable_and_keeps_what_its_class_defines():
    point = FROZEN[1](1)
    with pytest.raises(FrozenInstanceError):
        point.x = 2
    with pytest.raises(FrozenInstanceError):
        del point.x

    @record
    class Shown:
        value: int

        def __repr__(self) -> str:
            return f"<{self.value}>"

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    assert repr(Shown(3)) == "<3>" and Shown(3) == Shown(3) and len({Shown(3), Shown(3)}) == 1
    with pytest.raises(ValueError):
        Shown(-1)


def test_a_record_without_a_docstring_is_named_by_its_fields():
    @record
    class Pair:
        first: int
        second: int = 0

    assert Pair.__doc__ == "Pair(first, second)" and FROZEN[1].__doc__.startswith("A point")
