"""IR names as identifiers in the Python source that the compiled and native engines generate.

Every name gets a prefix (`f_` a function, `v_` a variable), so a user's `os`, `import` or `_np` never meets a
name of the generated module; a name that is no identifier becomes `vn3_`. One scheme for both engines, so
their generated code reads alike.
"""

from __future__ import annotations

import re

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def mangled(prefix: str, name: str, number: int) -> str:
    return prefix + name if IDENT.fullmatch(name) else f"{prefix[0]}n{number}_"


class PythonNames:
    """A generator's table of variable names (`var_names`, reset per function by the generator)."""

    var_names: dict[str, str]

    def var(self, name: str) -> str:
        found = self.var_names.get(name)
        if found is None:
            found = mangled("v_", name, len(self.var_names))
            self.var_names[name] = found
        return found
