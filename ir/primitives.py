"""The registry of primitives, complete: importing this module defines every operator and builtin.

See `primitive.py` for what a primitive holds, `prims_scalar.py` and
`prims_vec.py` and `prims_mat.py` for the definitions, `prims_checkpoint.py` for the one
checkpointed derivative programs use.
"""

from adlang.ir import prims_checkpoint, prims_mat, prims_scalar, prims_vec  # noqa: F401  (they register the primitives)
from adlang.ir.primitive import (
    BY_BUILTIN,
    BY_OPERATOR,
    REGISTRY,
    Emitter,
    IndexContribution,
    Primitive,
    TypeRuleError,
    lookup,
)

__all__ = [
    "BY_BUILTIN", "BY_OPERATOR", "REGISTRY", "Emitter", "IndexContribution", "Primitive", "TypeRuleError", "lookup",
]
