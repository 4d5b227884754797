"""`record`: a frozen dataclass that is cheap to create, for the classes every `adlang` process makes at start-up.

`@dataclass(frozen=True)` writes six methods (`__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__`,
`__delattr__`) as text and compiles each when the class is made: about 3.5 million instructions per class in
CPython 3.11, and the IR, the syntax tree and the runtime have about 60 of them, a third of what `adlang run` does
before it runs anything (README, "Speed": start-up). A record compiles only `__init__`, whose speed matters
(passes make IR nodes by the thousand); the other five are shared functions over the class's fields. The class
is still a dataclass (`fields`, `replace`, `asdict`, pickling and `match` work), with the same equality, hash,
repr and immutability as `@dataclass(frozen=True)`; methods the class body defines are kept, as there.
`mutable_record` is `@dataclass` (eq and repr) on the same terms: it compiles only `__init__`.
"""

from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from operator import attrgetter


def record(cls: type) -> type:
    """`@dataclass(frozen=True)`, compiling one method instead of six."""
    undocumented = cls.__dict__.get("__doc__") is None
    cls = dataclass(cls, init=False, repr=False, eq=False)
    _keep_or_set(cls, "__init__", _frozen_init(cls))
    if undocumented:  # dataclass wrote `Name()`, not knowing the __init__ to come
        cls.__doc__ = f"{cls.__name__}({', '.join(f.name for f in fields(cls))})"
    _shared_methods(cls)
    _keep_or_set(cls, "__setattr__", _cannot_set)
    _keep_or_set(cls, "__delattr__", _cannot_delete)
    if not _has_explicit_hash(cls):
        key = _key(cls)
        cls.__hash__ = lambda self: hash(key(self))
    return cls


def mutable_record(cls: type) -> type:
    """`@dataclass`, compiling one method instead of three (dataclass writes its `__init__`)."""
    explicit_hash = _has_explicit_hash(cls)
    cls = dataclass(cls, repr=False, eq=False)
    _shared_methods(cls)
    if not explicit_hash:
        cls.__hash__ = None  # mutable and compared by value, as dataclass leaves it
    return cls


def _shared_methods(cls: type) -> None:
    key = _key(cls)
    shown = tuple(f.name for f in fields(cls) if f.repr)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    def __repr__(self):
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({inner})"

    _keep_or_set(cls, "__eq__", __eq__)
    _keep_or_set(cls, "__repr__", __repr__)


def _key(cls: type):
    """The values that take part in equality and hashing, as a tuple (attrgetter: no Python frame per call)."""
    names = [f.name for f in fields(cls) if f.compare]
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        get = attrgetter(names[0])
        return lambda self: (get(self),)
    return lambda self: ()


def _frozen_init(cls: type):
    """`__init__(self, a, b=..., c=<factory>)` setting each field past the frozen `__setattr__`, then
    `__post_init__` if the class has one: the one method compiled from text, as dataclass would write it."""
    env = {"__set": object.__setattr__, "__missing": MISSING}
    params, body = [], []
    for f in fields(cls):
        if not f.init:
            raise TypeError(f"{cls.__name__}.{f.name}: a record's fields are all set by __init__")
        if f.default is not MISSING:
            env[f"__default_{f.name}"] = f.default
            params.append(f"{f.name}=__default_{f.name}")
            body.append(f"__set(self, {f.name!r}, {f.name})")
        elif f.default_factory is not MISSING:
            env[f"__factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=__missing")
            body.append(f"__set(self, {f.name!r}, __factory_{f.name}() if {f.name} is __missing else {f.name})")
        else:
            params.append(f.name)
            body.append(f"__set(self, {f.name!r}, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    text = f"def __init__(self, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"]) + "\n"
    exec(text, env)  # noqa: S102 -- the text is made here from the field names, as dataclasses does
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _cannot_set(self, name, value):
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _cannot_delete(self, name):
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _has_explicit_hash(cls: type) -> bool:
    """dataclass's rule: a `__hash__` in the class body counts, the None Python puts there beside `__eq__` not."""
    own = cls.__dict__.get("__hash__", MISSING)
    return not (own is MISSING or (own is None and "__eq__" in cls.__dict__))


def _keep_or_set(cls: type, name: str, method) -> None:
    if name not in cls.__dict__:
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, method)
