"""The native engine: a program's IR turned into numba's nopython Python, compiled to machine code by LLVM.

numba is optional: `available()` says whether it imports, and `--engine native` without it is a usage error
(`engines.py`) that says `pip install numba`.

The fallback rule. Native code never words an error. Every place where the interpreter may raise (a domain
error such as log of a negative, division by zero, an index out of range, a NaN, an int past 64 bits, the
step limit, --max-tape, a vec length, a pop from an empty tape) has a cheap check that raises `NativeFault`;
the run then stops and the same run is repeated in the interpreter (`interpreter.run_function`), which gives
the exact message at the exact statement. A check may be conservative (an int product near 2**63): a false
alarm costs an interpreter run, never a wrong answer. A program this module cannot lower, or that numba cannot
compile, runs in the interpreter too. `FALLBACKS` counts both kinds, for the tests that require the examples
to run natively.

Shape of the generated module: one function per function of the program, each `@numba.njit`, calling the
others natively (a small function, or a larger one called from one place only, is written into its callers,
its variables renamed apart: the run's state stays in the caller's locals, a call costs nothing). Besides its
parameters each takes the run's state `_S` (an int64 array: steps, values on the tapes, their peak, the two
limits, a buffer that was too small, the fills of the tape buffers, the trips of each loop) and, when the
program uses tapes, two buffers per tape (`_F<k>` float64 for floats and vec elements, `_I<k>` int64 for ints,
bools and vec lengths); it takes those arrays borrowed (`_borrow`: no reference counting) and returns only its
value. Steps are counted as the interpreter counts them (a block's statements on entering it, a loop trip, a
return) into a local `st`, written back around calls; so are the tapes' count, peak and fills (`tape_state`),
and a while loop's trips. Loop trips go by `runtime.loop_key`.

Tapes. A buffer never changes in native code: a push that finds its buffer full records which one and how
large it must be (`GROW`, `NEED`) and stops the run, and `run_native` runs it again with that buffer enlarged
(at least doubled); the program keeps the sizes, so its later runs start large enough. A counted loop whose body
is straight code pushing scalars makes room for all its trips' pushes (and checks --max-tape) once before it,
and its pushes check nothing; elsewhere (while loops, branches, vecs) each push checks its buffer. The tape
peak is looked at before a pop (once before a counted loop that only pops: the tapes only shrink in it) and at
the end of the run: the count only grows at a push, so that is its maximum. A counted loop of straight code
that pops scalars checks once before it that the tapes hold all its pops.

Compiled code is cached by program object (and by generated source) in the process, and on disk (unless
ADLANG_NATIVE_CACHE=0): every module, a program's or the helpers', is a file named by a hash of its source
(`_jit_module`, `module_name`, `module_file`), whose machine code numba's per-function cache keeps between
processes (`_disk_cache_class`: numba's cache with every file checked, so that a damaged entry is a miss).
Code loaded from disk must not share a symbol with different code of the process: numba names symbols by
module, function and a per-process counter, so every function is named by what it computes (its module by
its hash, an elementwise helper by its operation), and no helper recurses (numba leaves a recursive call to
be resolved by the process that compiled it: loaded elsewhere, it calls address 0).

What numba compiles is written to cost it little: checks with `&` and `|` rather than branches, constant
operands deciding them before the run, NaN checks that a later one covers left out (`covered_nan_checks`),
int and bool constants passed to compiled functions as values rather than numba's literals (which compile the
callee once per constant), no slice assignment (numba compiles its error message), math functions as globals.

Every primitive of the registry is lowered through `SCALAR` (code on scalars, with its checks), `VECTOR`
(whole-vec builtins), `MAT` (the mat primitives and the mat forms of the vec builtins, `mat_form`) and
`ELEMENTWISE` (primitives whose vec or mat form is the scalar code on each element, written as a helper loop, a
module of its own, for each combination of operand kinds).

Mats are C-contiguous 2-D float64 arrays, every one made by a helper (`MAT_HELPERS_SOURCE`: a transpose or a
row is a copy, as in the registry), `@` written as loops (numba's BLAS needs scipy). On a tape a mat is its
elements on the float buffer and its rows and columns on the int buffer, counted as its elements.

Variables are `v_NAME` for identifiers of the language, else a numbered name, as in the compiled engine:
no user text becomes code; keys of tables are written with repr.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import math
import os
import pickle
import re
import sys
import tempfile
import types
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adlang.interp.prologue import prologue
from adlang.interp.pynames import PythonNames, mangled
from adlang.interp.runtime import (
    DEFAULT_MAX_STEPS,
    DEFAULT_MAX_TAPE,
    ProgramCache,
    RunResult,
    loop_key,
    pops_only,
)
from adlang.ir import nodes as ir
from adlang.ir.prims_scalar import INT_MIN, run_quietly
from adlang.ir.prims_vec import MAX_VEC_LENGTH
from adlang.lang.errors import UsageError

INSTALL = "the native engine needs numba, which is not installed; install it with `pip install numba`"
FAULT = "raise _Fault"
STEP_CHECK = f"if (st > mx) | _bad: {FAULT}"  # past --max-steps, or a check failed: one branch
# The int range written so that no literal leaves int64 (numba reads -9223372036854775808 as a uint64 negated).
IMIN = f"({INT_MIN + 1} - 1)"
# Steps and lengths of the state array `_S`; GROW and NEED: the buffer (numbered from 1) that was too small
# for a push and the size it needed.
STEPS, HELD, PEAK, MAX_STEPS, MAX_TAPE, GROW, NEED, FIRST_LENGTH = range(8)
BUFFER = 1024  # a tape buffer's first size
INLINE_STATEMENTS = 64  # the largest function compiled into its one caller (`Generator.inlined`) ...
SMALL_STATEMENTS = 16  # ... and into each of its callers

FALLBACKS: Counter = Counter()  # "fault": a check fired, "unsupported": not lowered or not compiled


class NativeFault(Exception):
    """Raised in native code where the interpreter may raise: the run is repeated there."""


class Unsupported(Exception):
    """This program (or an operation of it) has no native lowering yet."""


def available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _numba():
    try:
        import numba
    except ImportError:
        raise UsageError(INSTALL) from None
    return numba


# ---------------------------------------------------------------- running


def run_native(
    program: ir.Program, fn_name: str, args: dict[str, object], *, max_steps: int = DEFAULT_MAX_STEPS,
    max_tape: int = DEFAULT_MAX_TAPE,
) -> RunResult:
    """Run one function natively, as `run_function` does (without a trace); on any fault, in the interpreter."""
    _numba()
    native = compile_program(program)
    with run_quietly():  # a vec's squares may overflow
        _, values = prologue(program, fn_name, args)
    if native is None or native.broken:
        FALLBACKS["unsupported"] += 1
        return _interpreted(program, fn_name, args, max_steps, max_tape)
    values = [np.require(v, np.float64, ["C", "W"]) if isinstance(v, np.ndarray) else v for v in values]
    import numba.core.errors

    sizes = native.sizes if native.taped[fn_name] else []
    while True:  # once, and again with a larger buffer each time a tape buffer was too small
        state = np.zeros(native.state_size, np.int64)
        state[MAX_STEPS], state[MAX_TAPE] = max_steps, max_tape
        buffers = [np.empty(size, np.float64 if k % 2 == 0 else np.int64) for k, size in enumerate(sizes)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = native.functions[fn_name](*values, state, *buffers)
        except numba.core.errors.NumbaError:
            native.broken = True
            FALLBACKS["unsupported"] += 1
            return _interpreted(program, fn_name, args, max_steps, max_tape)
        except Exception:  # NativeFault, or any error numba raised itself: the interpreter words it
            if _grow(sizes, state, max_tape):
                continue
            FALLBACKS["fault"] += 1
            return _interpreted(program, fn_name, args, max_steps, max_tape)
        break
    loop_trips: dict[tuple[int, int, str], int] = {}
    for k, key in enumerate(native.loops):
        count = int(state[native.first_trip + k])
        if count:
            loop_trips[key] = loop_trips.get(key, 0) + count
    peak = int(max(state[PEAK], state[HELD]))
    return RunResult(value, int(state[STEPS]), None, peak, loop_trips)


def _grow(sizes: list[int], state: np.ndarray, max_tape: int) -> bool:
    """Whether the run stopped because a tape buffer was too small; if so it is made large enough (at least
    doubled, at most --max-tape values) for the run to be repeated, and stays so for the program's later runs.
    A buffer needing more than --max-tape values means the tapes ran past the limit: the interpreter says so."""
    which, need = int(state[GROW]), int(state[NEED])
    if not which or need > max_tape:
        return False
    sizes[which - 1] = min(max(need, 2 * sizes[which - 1]), max_tape)
    return True


def _interpreted(program, fn_name, args, max_steps, max_tape) -> RunResult:
    from adlang.interp.interpreter import run_function

    return run_function(program, fn_name, args, max_steps=max_steps, max_tape=max_tape)


# ---------------------------------------------------------------- the cache

_CACHE = ProgramCache(256)  # numba's machine code is kept as long as its program is


@dataclass
class Native:
    program: ir.Program
    source: str
    functions: dict  # function name -> numba dispatcher
    taped: dict  # function name -> whether it takes and gives the tape buffers
    tapes: int  # how many tapes: each has a float and an int buffer
    loops: list  # the loop key of each trip counter
    first_trip: int  # the index in `_S` of the first trip counter
    state_size: int
    sizes: list = field(default_factory=list)  # of the tape buffers (float, int for each tape), as last grown
    broken: bool = False  # numba could not compile it: the interpreter runs it

    @functools.cached_property
    def lines(self) -> int:
        """The generated module's length, what numba's compile time grows with (`engines.AUTO_NATIVE_LINES`)."""
        return self.source.count("\n")


def compile_program(program: ir.Program) -> Native | None:
    """The native module of this very Program object (by identity), or None where it cannot be lowered.

    numba compiles each function on its first call (for the types of that call) and keeps the machine code
    in its dispatcher, so a program run again, in an API loop or an optimizer step, compiles once.
    """
    return _CACHE.get(program, _generate)


def _generate(program: ir.Program) -> Native | None:
    try:
        return Generator(program).module()
    except (Unsupported, SyntaxError, RecursionError):
        return None


# ---------------------------------------------------------------- the disk cache


def cache_dir() -> Path | None:
    """Where generated modules live so that numba's disk cache keeps their machine code between processes:
    `$XDG_CACHE_HOME/adlang/native` or `~/.cache/adlang/native`; None (no disk cache) with ADLANG_NATIVE_CACHE=0."""
    if os.environ.get("ADLANG_NATIVE_CACHE", "1") == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "adlang" / "native"


@functools.cache
def _engine_key(numba_version: str) -> str:
    """What compiled code depends on besides its source: adlang's and numba's versions and this module's text
    (the helpers and the lowering it was compiled with)."""
    return "\n".join((_version(), numba_version, Path(__file__).read_text()))


def module_name(source: str, numba_version: str) -> str:
    """The module a generated source is executed as, named by a hash of it and of `_engine_key`. numba puts the
    module's name in every symbol it emits, so code loaded from the disk cache never shares a symbol with other
    code of the process unless it is this very source compiled again (the same code)."""
    key = hashlib.sha256("\n".join((_engine_key(numba_version), source)).encode()).hexdigest()[:32]
    return f"adlang_native_{key}"


def module_file(name: str, source: str) -> Path | None:
    """The file holding the source of module `name` (numba's disk cache needs a real source file), written
    atomically where missing or different (a damaged file is written again, and numba, seeing a new file,
    compiles again). None without a disk cache or where the file cannot be written."""
    directory = cache_dir()
    if directory is None:
        return None
    path = directory / f"{name}.py"
    try:
        if not path.is_file() or path.read_text() != source:
            directory.mkdir(parents=True, exist_ok=True)
            _write(path, source)
            prune(directory)
    except (OSError, UnicodeDecodeError):
        return None
    return path


def _write(path: Path, source: str) -> None:
    """The file written whole, then put in place: linked where still missing, so that the equal file another
    process wrote meanwhile keeps its time stamp (numba's index goes by it: rewritten, the code compiled there
    would be compiled again); replaced where it differs."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(source)
        try:
            os.link(temporary, path)
        except FileExistsError:
            if path.read_text() != source:
                os.replace(temporary, path)
        except OSError:  # no hard links on this file system
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


MAX_MODULES = 500  # programs kept on disk, about 100 KB each with their machine code


def prune(directory: Path, keep: int = MAX_MODULES) -> None:
    """Past `keep` modules, the oldest fifth are removed with their machine code (a process using one has
    loaded it already, or finds it missing: a miss, compiled again)."""
    modules = list(directory.glob("adlang_native_*.py"))
    if len(modules) <= keep:
        return
    for old in sorted(modules, key=_written)[: len(modules) - keep * 4 // 5]:
        for leftover in [old, *directory.glob(f"__pycache__/{old.stem}.*")]:
            try:
                leftover.unlink()
            except OSError:
                pass


def _written(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another process
        return 0.0


def _version() -> str:
    try:
        return importlib.metadata.version("adlang")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def _disk_cache_class():
    """numba's per-function disk cache (what `cache=True` uses), with its files beside the module's source in
    adlang's cache directory, each entry in a file named by its key (processes adding different entries never
    write the same file; numba numbers them, so two processes could give one number to two signatures), a
    digest of every file checked on loading, and any failure to load or save a miss: a damaged, truncated or
    foreign entry is compiled again and written over."""
    from numba.core.caching import CompileResultCacheImpl, FunctionCache, IndexDataCacheFile, InTreeCacheLocator
    from numba.core.runtime import rtsys
    from numba.core.serialize import dumps

    class Checked(IndexDataCacheFile):
        def save(self, key, data):
            name = f"{self._index_name[:-4]}.{hashlib.sha256(repr(key).encode()).hexdigest()[:16]}.nbc"
            self._save_data(name, (key, data))  # the data first: the index never names a missing file
            overloads = self._load_index()
            if overloads.get(key) != name:
                overloads[key] = name
                self._save_index(overloads)

        def load(self, key):
            name = self._load_index().get(key)
            if name is None:
                return None
            try:
                stored, data = self._load_data(name)
            except Exception:  # missing, damaged or of another key: a miss
                return None
            return data if stored == key else None

        def _load_index(self):
            try:
                with open(self._index_path, "rb") as f:
                    version = pickle.load(f)
                    stamp, overloads = self._undump(f.read())
            except Exception:
                return {}
            return overloads if version == self._version and stamp == self._source_stamp else {}

        def _load_data(self, name):
            with open(self._data_path(name), "rb") as f:
                return self._undump(f.read())

        def _dump(self, obj):
            payload = dumps(obj)
            return hashlib.sha256(payload).digest() + payload

        @staticmethod
        def _undump(raw: bytes):
            digest, payload = raw[:32], raw[32:]
            if hashlib.sha256(payload).digest() != digest:
                raise ValueError("a damaged cache file")
            return pickle.loads(payload)

    class Impl(CompileResultCacheImpl):
        _locator_classes = [InTreeCacheLocator]

    class DiskCache(FunctionCache):
        _impl_class = Impl

        def __init__(self, py_func):
            super().__init__(py_func)
            stamp = self._impl.locator.get_source_stamp()
            self._cache_file = Checked(self._cache_path, self._impl.filename_base, stamp)

        def load_overload(self, sig, target_context):
            try:  # numba's own load refreshes every lowering registry first (0.2 s); loaded code needs only NRT
                rtsys.initialize(target_context)
                return self._load_overload(sig, target_context)
            except Exception:
                return None

        def save_overload(self, sig, data):
            try:
                super().save_overload(sig, data)
            except Exception:  # a full disk, a directory gone: the code runs, uncached
                pass

    return DiskCache


# ---------------------------------------------------------------- helpers, compiled at their first use
# None may call itself (see the module's docstring): `_vsum` keeps numpy's pairwise order with a stack.

HELPERS_SOURCE = f"""
def _block(a, lo, n):
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0 = a[lo]; r1 = a[lo + 1]; r2 = a[lo + 2]; r3 = a[lo + 3]
    r4 = a[lo + 4]; r5 = a[lo + 5]; r6 = a[lo + 6]; r7 = a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]; r1 += a[lo + i + 1]; r2 += a[lo + i + 2]; r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]; r5 += a[lo + i + 5]; r6 += a[lo + i + 6]; r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res

def _vsum(a):
    n = a.shape[0]
    if n <= 128:
        return _block(a, n - n, n)  # an int64 start: a literal 0 would compile another _block
    tasks = _np.empty(390, _np.int64)  # (start, length, split yet) of each pending range; 2 per level, 64 levels
    sums = _np.empty(130)
    top = 0
    done = 0
    tasks[0] = 0
    tasks[1] = n
    tasks[2] = 0
    while top >= 0:
        lo = tasks[3 * top]
        m = tasks[3 * top + 1]
        if m <= 128:
            sums[done] = _block(a, lo, m)
            done += 1
            top -= 1
        elif tasks[3 * top + 2] == 1:
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
            top -= 1
        else:
            tasks[3 * top + 2] = 1
            half = m // 2
            half -= half % 8
            tasks[3 * top + 3] = lo + half
            tasks[3 * top + 4] = m - half
            tasks[3 * top + 5] = 0
            tasks[3 * top + 6] = lo
            tasks[3 * top + 7] = half
            tasks[3 * top + 8] = 0
            top += 2
    return sums[0]

def _full(n, value):
    out = _np.empty(n)
    for i in range(n):
        out[i] = value
    return out

def _newvec(n):
    return _np.empty(n)

def _takev(buf, start, n):
    out = _np.empty(n)
    for i in range(n):
        out[i] = buf[start + i]
    return out

def _vdot(a, b):
    if a.shape[0] != b.shape[0]:
        {FAULT}
    res = 0.0
    for i in range(a.shape[0]):
        res += a[i] * b[i]
    return res

def _addto(d, c):
    if d.shape[0] == 0:
        return c.copy()
    if c.shape[0] == 0:
        return d
    if d.shape[0] != c.shape[0]:
        {FAULT}
    out = _np.empty(d.shape[0])
    for i in range(d.shape[0]):
        t = d[i] + c[i]
        if t != t:
            {FAULT}
        out[i] = t
    return out

def _fitto(g, d):
    if g.shape == d.shape:
        return g
    if g.size != 0 and d.size != 0:
        {FAULT}
    return _np.zeros(d.shape)

def _addat(w, i, x):
    return _addat_in(w.copy(), i, x)

def _addat_in(w, i, x):
    if i < 0 or i >= w.shape[0]:
        {FAULT}
    t = w[i] + x
    if t != t:
        {FAULT}
    w[i] = t
    return w

def _revolve(n, s):
    # checkpoint_schedules.revolve_split(n, s) without its bisection: the least m in [1, n - 1] with
    # rep(m + 1, s) + 1 >= rep(n - m, s - 1) (rep(k, s): the least r with C(s + r, s) >= k), found by walking
    # rho = rep(m + 1, s) up: those m are C(s + rho - 1, s) <= m < C(s + rho, s), and the condition there
    # reads m >= n - C(s + rho, s - 1). O(rho) where the bisection cost O(log(n) rho s).
    if s == 1:
        return n - 1
    if s > 2147483647:
        {FAULT}
    rho = 1
    lo = 1
    top = s + 1
    lower = (s + 1) * s // 2
    while lo <= n - 1:
        m = max(lo, n - lower)
        if m <= min(top - 1, n - 1):
            return m
        rho += 1
        lo = top
        top, past = _smul(top, s + rho)  # overflow flags, not a bound by division: two divisions a step
        lower, beyond = _smul(lower, s + rho)
        if past | beyond:
            {FAULT}
        top = top // rho
        lower = lower // (rho + 1)
    return n - 1
"""

# The mat helpers: every mat is a C-contiguous 2-D float64 array made here (a transpose or a row is a copy, as
# in the registry), so that reshaping it to its elements is a view. Each raises where the registry would.
MAT_HELPERS_SOURCE = f"""
def _newmat(r, c):
    return _np.empty((r, c))

def _fullm(r, c, value):
    if r < 0 or c < 0 or float(r) * float(c) > {MAX_VEC_LENGTH}.0:
        {FAULT}
    out = _np.empty((r, c))
    for i in range(r):
        for j in range(c):
            out[i, j] = value
    return out

def _setrow(m, k, v):
    if v.shape[0] != m.shape[1]:
        {FAULT}
    for j in range(v.shape[0]):
        m[k, j] = v[j]

def _msum(m):
    return _vsum(m.reshape(m.size))

def _mm(a, b):
    if a.shape[1] != b.shape[0]:
        {FAULT}
    out = _np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            x = a[i, k]
            for j in range(b.shape[1]):
                out[i, j] += x * b[k, j]
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            if out[i, j] != out[i, j]:
                {FAULT}
    return out

def _mv(a, x):
    if a.shape[1] != x.shape[0]:
        {FAULT}
    out = _np.empty(a.shape[0])
    for i in range(a.shape[0]):
        t = 0.0
        for k in range(a.shape[1]):
            t += a[i, k] * x[k]
        if t != t:
            {FAULT}
        out[i] = t
    return out

def _vm(x, b):
    if x.shape[0] != b.shape[0]:
        {FAULT}
    out = _np.zeros(b.shape[1])
    for k in range(b.shape[0]):
        for j in range(b.shape[1]):
            out[j] += x[k] * b[k, j]
    for j in range(b.shape[1]):
        if out[j] != out[j]:
            {FAULT}
    return out

def _outer(u, v):
    out = _np.empty((u.shape[0], v.shape[0]))
    for i in range(u.shape[0]):
        for j in range(v.shape[0]):
            t = u[i] * v[j]
            if t != t:
                {FAULT}
            out[i, j] = t
    return out

def _transpose(m):
    out = _np.empty((m.shape[1], m.shape[0]))
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[j, i] = m[i, j]
    return out

def _row(m, i):
    if i < 0 or i >= m.shape[0]:
        {FAULT}
    out = _np.empty(m.shape[1])
    for j in range(m.shape[1]):
        out[j] = m[i, j]
    return out

def _maddto(d, c):
    same = d.shape[0] == c.shape[0] and d.shape[1] == c.shape[1]
    if d.size == 0 and not same:
        return c.copy()
    if c.size == 0 and not same:
        return d
    if not same:
        {FAULT}
    out = _np.empty((d.shape[0], d.shape[1]))
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            t = d[i, j] + c[i, j]
            if t != t:
                {FAULT}
            out[i, j] = t
    return out

def _maddrow(w, i, x):
    return _maddrow_in(w.copy(), i, x)

def _maddrow_in(w, i, x):
    if i < 0 or i >= w.shape[0] or x.shape[0] != w.shape[1]:
        {FAULT}
    for j in range(w.shape[1]):
        t = w[i, j] + x[j]
        if t != t:
            {FAULT}
        w[i, j] = t
    return w

def _maddat_in(w, i, j, x):
    if i < 0 or i >= w.shape[0] or j < 0 or j >= w.shape[1]:
        {FAULT}
    t = w[i, j] + x
    if t != t:
        {FAULT}
    w[i, j] = t
    return w

def _maddat(w, i, j, x):
    return _maddat_in(w.copy(), i, j, x)

def _pushm(buf, fill, m):
    flat = m.reshape(m.size)
    for k in range(flat.shape[0]):
        buf[fill + k] = flat[k]

def _takem(buf, start, r, c):
    out = _np.empty((r, c))
    flat = out.reshape(r * c)
    for k in range(r * c):
        flat[k] = buf[start + k]
    return out
"""

MATH = ("pow", "floor", "isinf", "log", "sqrt", "sin", "cos", "tan", "exp", "tanh")
# Every module of compiled code met in this process, by name, kept for good: equal programs share machine
# code, and a module loaded twice from numba's disk cache would define its symbols twice (LLVM aborts).
_MODULES: dict[str, types.ModuleType] = {}


def _jit_module(source: str, namespace: dict) -> types.ModuleType:
    """The module of this source, each function in it a numba dispatcher (compiling at its first call). Named
    by the source's hash (`module_name`), so that its symbols name this code only, and executed from a file in
    the cache directory, whose machine code numba keeps on disk (`_disk_cache_class`), or in memory only where
    there is no disk cache. Helpers are modules too: code compiled later links them from the disk cache."""
    numba = _numba()
    name = module_name(source, numba.__version__)
    if name in _MODULES:
        return _MODULES[name]
    path = module_file(name, source)
    module = types.ModuleType(name)
    module.__dict__.update(namespace)
    sys.modules[name] = module  # numba finds a function's module, and cached code its globals, by name
    exec(compile(source, "<adlang native>" if path is None else str(path), "exec"), module.__dict__)
    for function in re.findall(r"^def (\w+)", source, re.MULTILINE):
        python = module.__dict__[function]
        dispatcher = numba.njit(error_model="numpy")(python)
        if path is not None:
            try:
                dispatcher._cache = _disk_cache_class()(python)  # what cache=True would set, checked
            except Exception:  # no cache directory for numba's index: in memory only
                pass
        module.__dict__[function] = dispatcher
    _MODULES[name] = module
    return module


def _base() -> dict:
    """The globals of every module: numpy, math's functions (a global each: numba types no getattr), the fault,
    the intrinsics (borrowing an array, int arithmetic with its overflow flag)."""
    return dict(_base_space())


@functools.cache
def _base_space() -> dict:
    space = {"_np": np, "_Fault": NativeFault, "_INF": math.inf, "_NINF": -math.inf, "_borrow": _borrower(),
             **_overflow_checked()}
    space.update({f"_m_{name}": getattr(math, name) for name in MATH})
    return space


@functools.cache
def _helpers() -> dict:
    """The shared helpers of HELPERS_SOURCE by name (each compiled once, at its first use, or loaded)."""
    source = HELPERS_SOURCE + MAT_HELPERS_SOURCE
    module = _jit_module(source, _base())
    return {name: module.__dict__[name] for name in re.findall(r"^def (\w+)", source, re.MULTILINE)}


def _namespace(elementwise: dict) -> dict:
    """The globals of a generated module: those of every module, the shared helpers, its elementwise helpers."""
    return {**_base(), **_helpers(), **elementwise}


def _borrower():
    """`_borrow(a)`: the array `a` without its owner (a null meminfo), so that passing it costs no reference
    counting. numba counts references to an array argument atomically on entry and exit of a function that may
    raise (every generated one: 20 to 50 ns a call, most of a short call's time); the state and the tape buffers
    are owned by `run_native` for the whole run and never leave native code, so a function takes them borrowed."""
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def _borrow(typingctx, array):
        def codegen(context, builder, signature, args):
            view = cgutils.create_struct_proxy(signature.return_type)(context, builder, value=args[0])
            view.meminfo = cgutils.get_null_value(view.meminfo.type)
            return view._getvalue()

        return array(array), codegen

    return _borrow


def _overflow_checked() -> dict:
    """`_sadd(a, b)`, `_ssub`, `_smul`: an int64 operation and whether it overflowed, by LLVM's
    `llvm.s*.with.overflow` (exact, branch-free; the interpreter raises where the flag is set)."""
    from numba import types
    from numba.extending import intrinsic

    def checked(method: str):
        @intrinsic
        def operation(typingctx, a, b):
            if not (isinstance(a, types.Integer) and isinstance(b, types.Integer)):
                return None

            def codegen(context, builder, signature, args):
                x, y = (context.cast(builder, v, t, types.int64) for v, t in zip(args, signature.args))
                pair = getattr(builder, method)(x, y)
                return context.make_tuple(builder, signature.return_type,
                                          [builder.extract_value(pair, 0), builder.extract_value(pair, 1)])

            return types.Tuple((types.int64, types.boolean))(a, b), codegen

        return operation

    return {"_sadd": checked("sadd_with_overflow"), "_ssub": checked("ssub_with_overflow"),
            "_smul": checked("smul_with_overflow")}


def elementwise_name(op: str, kinds: tuple[str, ...]) -> str:
    return "_e_" + "_".join((op, *kinds))


def _elementwise(op: str, kinds: tuple[str, ...]):
    """The helper applying `op` element by element to operands of these kinds (some "vec"): a module of its own."""
    if "mat" in kinds:
        return _elementwise_mat(op, kinds)
    name = elementwise_name(op, kinds)
    params = [f"a{k}" for k in range(len(kinds))]
    vecs = [p for p, kind in zip(params, kinds) if kind == "vec"]
    lines = [f"def {name}({', '.join(params)}):", "    _bad = False", f"    n = {vecs[0]}.shape[0]"]
    lines += [f"    if {v}.shape[0] != n: {FAULT}" for v in vecs[1:]]
    lines += ["    out = _np.empty(n)", "    for k in range(n):"]
    elements = [f"{p}[k]" if kind == "vec" else p for p, kind in zip(params, kinds)]
    scalar_kinds = tuple("float" if kind == "vec" else kind for kind in kinds)
    lines += [f"        x{k} = {e}" for k, e in enumerate(elements)]
    body = SCALAR[op]("y", [f"x{k}" for k in range(len(kinds))], scalar_kinds)
    lines += ["        " + line for line in body]
    lines += ["        " + _nan("y"), "        out[k] = y", f"    if _bad: {FAULT}", "    return out"]
    return _jit_module("\n".join(lines) + "\n", _base()).__dict__[name]


def _elementwise_mat(op: str, kinds: tuple[str, ...]):
    """`_elementwise` where operands are mats (of one shape; the type rule admits no vec beside a mat)."""
    name = elementwise_name(op, kinds)
    params = [f"a{k}" for k in range(len(kinds))]
    mats = [p for p, kind in zip(params, kinds) if kind == "mat"]
    lines = [f"def {name}({', '.join(params)}):", "    _bad = False", f"    r = {mats[0]}.shape[0]",
             f"    c = {mats[0]}.shape[1]"]
    lines += [f"    if {m}.shape[0] != r or {m}.shape[1] != c: {FAULT}" for m in mats[1:]]
    lines += ["    out = _np.empty((r, c))", "    for i in range(r):", "        for j in range(c):"]
    elements = [f"{p}[i, j]" if kind == "mat" else p for p, kind in zip(params, kinds)]
    scalar_kinds = tuple("float" if kind == "mat" else kind for kind in kinds)
    lines += [f"            x{k} = {e}" for k, e in enumerate(elements)]
    body = SCALAR[op]("y", [f"x{k}" for k in range(len(kinds))], scalar_kinds)
    lines += ["            " + line for line in body]
    lines += ["            " + _nan("y"), "            out[i, j] = y", f"    if _bad: {FAULT}", "    return out"]
    return _jit_module("\n".join(lines) + "\n", _base()).__dict__[name]


# ---------------------------------------------------------------- the lowering tables
# SCALAR[op](r, args, kinds) -> lines of code setting r from the operands (Python expressions of the kinds
# "float", "int", "bool"), raising where the registry's evaluation would.


def _is_float(kinds) -> bool:
    return "float" in kinds


def _fault_if(cond: str) -> str:
    """A check of lowered code: it marks the run as faulted (`_bad`), which the next step check raises."""
    return f"_bad |= {cond}"


def _nan(r: str) -> str:
    return _fault_if(f"{r} != {r}")


def _arith(op: str, checked: str):
    """Floats: the operator and a NaN check. Ints: the operation with LLVM's overflow flag (`checked`, one of
    `_sadd`, `_ssub`, `_smul`): exact, and one instruction more than the operation."""

    def lower(r, a, k):
        if _is_float(k):
            return [f"{r} = {a[0]} {op} {a[1]}", _nan(r)]
        return [f"{r}, _o = {checked}({a[0]}, {a[1]})", _fault_if("_o")]

    return lower


def _div(r, a, k):
    return [_fault_if(f"{a[1]} == 0"), f"{r} = {a[0]} / {a[1]}", _nan(r)]


# Checks are written with `&` and `|` (branches cost numba far more to compile than the operations; nothing in
# them may overflow: numba's int arithmetic is `nsw` in LLVM, where an overflow is undefined). A constant
# operand, as `Generator.atom` writes it, decides a check before the run.
_INT_CONSTANT = re.compile(r"\((-?\d+)\)")
_FLOAT_CONSTANT = re.compile(r"\((-?[0-9.]+(?:e[-+]?\d+)?)\)")


def _int_constant(atom: str) -> int | None:
    match = _INT_CONSTANT.fullmatch(atom)
    return int(match.group(1)) if match else None


def _float_constant(atom: str) -> float | None:
    match = _FLOAT_CONSTANT.fullmatch(atom)
    return float(match.group(1)) if match else None


def _int_literal(n: int) -> str:
    return IMIN if n == INT_MIN else f"({n})"


def _floated(x: str, kind: str) -> str:
    return x if kind == "float" else f"float({x})"


def _pow_lines(r, a, b, kinds):
    """a ** b as the registry's pow: a domain error for a negative base and a non-integer exponent, or a zero
    base and a negative exponent; a constant exponent decides the check before the run."""
    base = _floated(a, kinds[0])
    exponent = _float_constant(b)
    if exponent is None:
        domain = f"(({a} < 0) & (_m_isinf(_b) | (_m_floor(_b) != _b))) | (({a} == 0) & (_b < 0))"
        return [f"_b = {_floated(b, kinds[1])}", _fault_if(domain), f"{r} = _m_pow({base}, _b)", _nan(r)]
    checks = [] if exponent == math.floor(exponent) else [f"({a} < 0)"]
    checks += [f"({a} == 0)"] if exponent < 0 else []
    return [*([_fault_if(" | ".join(checks))] if checks else []), f"{r} = _m_pow({base}, {exponent!r})", _nan(r)]


def _pow(r, a, k):
    return _pow_lines(r, a[0], a[1], k)


def _dpow(r, a, k):
    n = _int_constant(a[1])
    n = None if n == INT_MIN else n
    lines = _pow_lines("_p", a[0], f"({a[1]} - 1)" if n is None else _int_literal(n - 1), k)
    check = [_fault_if(f"{a[1]} == {IMIN}")] if n is None else []
    return [*check, f"if {a[2]} == 0:", f"    {r} = 0.0", "else:",
            *("    " + line for line in lines), f"    {r} = {a[2]} * _p", _nan(r)]


def _dpowb(r, a, k):
    return [_fault_if(f"not {a[0]} > 0"), f"{r} = {a[1]} * _m_log({a[0]})", _nan(r)]


def _neg(r, a, k):
    if k[0] == "int":
        return [_fault_if(f"{a[0]} == {IMIN}"), f"{r} = -{a[0]}"]
    return [f"{r} = -{a[0]}"]


def _abs(r, a, k):
    if k[0] == "int":
        return [_fault_if(f"{a[0]} == {IMIN}"), f"{r} = abs({a[0]})"]
    return [f"{r} = abs({a[0]})"]


def _math_fn(name: str, domain: str | None = None):
    def lower(r, a, k):
        lines = [_fault_if(f"not ({domain.format(a[0])})")] if domain else []
        return [*lines, f"{r} = _m_{name}({a[0]})", _nan(r)]

    return lower


def _dsqrt(r, a, k):
    return [_fault_if(f"{a[0]} <= 0"), f"{r} = 0.5 / _m_sqrt({a[0]})"]


def _sign(r, a, k):
    return [f"{r} = 1.0 if {a[0]} > 0 else (-1.0 if {a[0]} < 0 else 0.0)"]


def _pick(compare: str):
    def lower(r, a, k):
        if _is_float(k):
            return [f"{r} = {_floated(a[1], k[1])} if {a[1]} {compare} {a[0]} else {_floated(a[0], k[0])}"]
        return [f"{r} = {a[1]} if {a[1]} {compare} {a[0]} else {a[0]}"]

    return lower


def _simple(template: str):
    def lower(r, a, k):
        return [f"{r} = " + template.format(*a)]

    return lower


def _revolve_advance(r, a, k):
    ok = f"(({a[0]} >= 2) & ({a[1]} >= 1))"
    return [_fault_if(f"not {ok}"), f"{r} = _revolve(_np.int64({a[0]}), _np.int64({a[1]})) if {ok} else 0"]


SCALAR = {
    "add": _arith("+", "_sadd"),
    "sub": _arith("-", "_ssub"),
    "mul": _arith("*", "_smul"),
    "div": _div,
    "pow": _pow,
    "neg": _neg,
    "lt": _simple("{0} < {1}"),
    "le": _simple("{0} <= {1}"),
    "gt": _simple("{0} > {1}"),
    "ge": _simple("{0} >= {1}"),
    "eq": _simple("{0} == {1}"),
    "ne": _simple("{0} != {1}"),
    "and": _simple("{0} and {1}"),
    "or": _simple("{0} or {1}"),
    "not": _simple("not {0}"),
    "sin": _math_fn("sin"),
    "cos": _math_fn("cos"),
    "tan": _math_fn("tan"),
    "exp": _math_fn("exp"),
    "tanh": _math_fn("tanh"),
    "log": _math_fn("log", "{} > 0"),
    "sqrt": _math_fn("sqrt", "{} >= 0"),
    "dsqrt": _dsqrt,
    "dpow": _dpow,
    "dpowb": _dpowb,
    "abs": _abs,
    "sign": _sign,
    "float": _simple("float({0})"),
    "min": _pick("<"),
    "max": _pick(">"),
    "ifle": lambda r, a, k: [f"{r} = {_floated(a[2], k[2])} if {a[0]} <= {a[1]} else {_floated(a[3], k[3])}"],
    "revolve_advance": _revolve_advance,
}

# Primitives whose vec form is their scalar code on each element (numpy's broadcasting of one length).
ELEMENTWISE = {"add", "sub", "mul", "div", "pow", "neg", "sin", "cos", "tan", "exp", "tanh", "log", "sqrt", "dsqrt",
               "dpow", "dpowb", "abs", "sign", "min", "max", "ifle"}


def _filled(value: str):
    def lower(r, a, k):
        n = _int_constant(a[0].removeprefix("_np.int64(").removesuffix(")"))
        if n is not None and 0 <= n <= MAX_VEC_LENGTH:
            return [f"{r} = _full({a[0]}, {value})"]
        ok = f"((0 <= {a[0]}) & ({a[0]} <= {MAX_VEC_LENGTH}))"
        return [f"_ok = {ok}", _fault_if("not _ok"), f"{r} = _full({a[0]} if _ok else 0, {value})"]

    return lower


def _index(r, a, k):
    n = _int_constant(a[1])
    ok = f"({a[1]} < {a[0]}.shape[0])" if n is not None and n >= 0 else f"((0 <= {a[1]}) & ({a[1]} < {a[0]}.shape[0]))"
    return [f"_ok = {ok}", _fault_if("not _ok"), f"{r} = {a[0]}[{a[1]}] if _ok else 0.0"]


def _veclit(r, a, k):
    elements = (f"{r}[{i}] = {_floated(x, kind)}" for i, (x, kind) in enumerate(zip(a, k)))
    return [f"{r} = _newvec(_np.int64({len(a)}))", *elements]


def _mean(r, a, k):
    return [_fault_if(f"{a[0]}.shape[0] == 0"), f"{r} = _vsum({a[0]}) / {a[0]}.shape[0]", _nan(r)]


# VECTOR[op](r, args, kinds): the builtins on whole vecs (and indexing, vec literals, scatter-add).
VECTOR = {
    "sum": lambda r, a, k: [f"{r} = _vsum({a[0]})", _nan(r)],
    "mean": _mean,
    "dot": lambda r, a, k: [f"{r} = _vdot({a[0]}, {a[1]})", _nan(r)],
    "len": _simple("{0}.shape[0]"),
    "zeros": _filled("0.0"),
    "ones": _filled("1.0"),
    "addto": _simple("_addto({0}, {1})"),
    "fitto": _simple("_fitto({0}, {1})"),
    "addat": _simple("_addat({0}, {1}, {2})"),
    "index": _index,
    "veclit": _veclit,
}


# The vec and mat primitives whose result is an array of its own, never one of the operands (`addto` returns
# its first operand when the second is empty, `fitto` its first where the shapes agree; a row or a transpose is
# a copy, `MAT_HELPERS_SOURCE`).
FRESH = ELEMENTWISE | {"zeros", "ones", "addat", "veclit", "matlit", "matmul", "outer", "transpose", "row"}


def exclusive_arrays(fn: ir.Function) -> set[str]:
    """The vec and mat variables of fn that hold an array nothing else refers to, at every point: each binding
    makes a fresh array (FRESH, a pop: the tapes copy) or updates the variable itself (`d = addat(d, i, x)`,
    `d = addto(d, c)`), and no reading lets another name hold it (a copy `y = d`, a call, which may return its
    argument, `y = addto(d, c)`). `d = addat(d, i, x)` (of a mat, `addat(d, i, j, x)` or a row) then adds in
    place: the accumulation of an array's adjoint one element per trip costs O(1) a trip, not a copy of the
    array (O(n^2) over a loop)."""
    candidates: set[str] = set()
    spoiled = {p.name for p in fn.params}
    for stmt in ir.walk(fn.body):
        if isinstance(stmt, ir.Let) and len(stmt.targets) > 1:
            spoiled.update(t.name for t in stmt.targets)
        if isinstance(stmt, (ir.Let, ir.Assign)):
            target, expr = _target(stmt), stmt.expr
            if isinstance(expr, ir.Var):
                spoiled.add(expr.name)
            elif isinstance(expr, ir.CallFn):
                spoiled.update(a.name for a in expr.args if isinstance(a, ir.Var))
            if target.type.kind not in ("vec", "mat"):
                continue
            candidates.add(target.name)
            own = (isinstance(expr, ir.Prim) and expr.op in ("addat", "addto") and isinstance(expr.args[0], ir.Var)
                   and expr.args[0].name == target.name)
            if isinstance(expr, ir.Prim) and expr.op == "addto" and not own and isinstance(expr.args[0], ir.Var):
                spoiled.add(expr.args[0].name)
            if not (own or isinstance(expr, ir.Pop) or (isinstance(expr, ir.Prim) and expr.op in FRESH)):
                spoiled.add(target.name)
    return candidates - spoiled


# Scalar primitives whose float result is NaN when a float operand is (and is checked, or their domain check
# fires), and those that pass a NaN on unchecked.
NAN_CHECKED = frozenset({"add", "sub", "mul", "div", "exp", "sin", "cos", "tan", "tanh", "log", "sqrt"})
NAN_PASSING = frozenset({"neg", "abs"})


def covered_nan_checks(stmts: tuple[ir.Stmt, ...]) -> set[int]:
    """The statements of a block (by position) whose NaN check a later one makes redundant: the float value they
    give reaches, unchanged and in the same block (so surely evaluated, unless the run faults first), an
    operand of a statement in NAN_CHECKED whose own result is checked or covered in turn. A NaN there is
    still caught, a few statements later; the interpreter, running again, names the first. Fewer checks are
    less for numba to compile. Values used only in nested blocks, by calls, comparisons or returns keep theirs."""
    covered: set[str] = set()  # variables whose current value reaches a check later in the block
    out: set[int] = set()
    for position in reversed(range(len(stmts))):
        stmt = stmts[position]
        if not (isinstance(stmt, (ir.Let, ir.Assign)) and len(ir.defined_vars(stmt)) == 1):
            covered -= {v.name for s in ir.walk((stmt,)) for v in ir.defined_vars(s)}
            continue
        target, expr = ir.defined_vars(stmt)[0], stmt.expr
        reached = target.name in covered
        covered.discard(target.name)
        if reached:
            out.add(position)
        floats = {a.name for a in ir.atoms_of(expr) if isinstance(a, ir.Var) and a.type.kind == "float"}
        if isinstance(expr, ir.Var) and reached:
            covered |= floats
        elif isinstance(expr, ir.Prim) and target.type.kind == "float" and all(
                a.type.kind in ("float", "int", "bool") for a in expr.args):
            if expr.op in NAN_CHECKED or (expr.op in NAN_PASSING and reached):
                covered |= floats
    return out


def carried_nan(body: tuple[ir.Stmt, ...]) -> dict[int, str]:
    """The statements of a straight loop body (by id) whose NaN check can be one check after the loop, with the
    variable to check: `x = op(.., x, ..)`, the only assignment of the float x in the body, op in NAN_CHECKED. A
    NaN it gives stays in x (each later trip's result is NaN again), so x is NaN after the loop; a straight
    body cannot stop the run before it ends. `accum = accum * y` in a loop checks nothing per trip."""
    assigned = Counter(v.name for s in body for v in ir.defined_vars(s))
    out = {}
    for s in body:
        if isinstance(s, ir.Assign) and isinstance(s.expr, ir.Prim) and s.expr.op in NAN_CHECKED:
            x = s.target
            if (x.type.kind == "float" and assigned[x.name] == 1
                    and all(a.type.kind in ("float", "int", "bool") for a in s.expr.args)
                    and any(isinstance(a, ir.Var) and a.name == x.name for a in s.expr.args)):
                out[id(s)] = x.name
    return out


# The vec primitives whose code calls a compiled helper, which takes an int constant as an int64 (`argument`).
CALLING = ELEMENTWISE | {"addat", "zeros", "ones"}


def _matmul(r, a, k):
    """The four forms of `@`; vec @ vec is a dot product."""
    helper = {("mat", "mat"): "_mm", ("mat", "vec"): "_mv", ("vec", "mat"): "_vm"}.get(tuple(k))
    if helper is None:
        return [f"{r} = _vdot({a[0]}, {a[1]})", _nan(r)]
    return [f"{r} = {helper}({a[0]}, {a[1]})"]


def _matindex(r, a, k):
    ok = f"((0 <= {a[1]}) & ({a[1]} < {a[0]}.shape[0]) & (0 <= {a[2]}) & ({a[2]} < {a[0]}.shape[1]))"
    return [f"_ok = {ok}", _fault_if("not _ok"), f"{r} = {a[0]}[{a[1]}, {a[2]}] if _ok else 0.0"]


def _matlit(r, a, k):
    rows = (f"_setrow({r}, _np.int64({i}), {row})" for i, row in enumerate(a))
    return [f"{r} = _newmat(_np.int64({len(a)}), {a[0]}.shape[0])", *rows]


def _mat_mean(r, a, k):
    return [_fault_if(f"{a[0]}.size == 0"), f"{r} = _msum({a[0]}) / {a[0]}.size", _nan(r)]


def _mat_addat(r, a, k):
    if len(a) == 4:
        return [f"{r} = _maddat({a[0]}, {a[1]}, {a[2]}, {_floated(a[3], k[3])})"]
    return [f"{r} = _maddrow({a[0]}, {a[1]}, {a[2]})"]


# MAT[op](r, args, kinds): the mat primitives, and the mat forms of the vec builtins (a mat operand, or
# zeros(r, c) and ones(r, c)); elementwise primitives on mats are ELEMENTWISE's. Operands are written by
# `Generator.argument`: an int constant is an int64 value, as the helpers take it.
MAT = {
    "matmul": _matmul,
    "outer": _simple("_outer({0}, {1})"),
    "transpose": _simple("_transpose({0})"),
    "rows": _simple("{0}.shape[0]"),
    "cols": _simple("{0}.shape[1]"),
    "matindex": _matindex,
    "row": _simple("_row({0}, {1})"),
    "matlit": _matlit,
    "sum": lambda r, a, k: [f"{r} = _msum({a[0]})", _nan(r)],
    "mean": _mat_mean,
    "zeros": _simple("_fullm({0}, {1}, 0.0)"),
    "ones": _simple("_fullm({0}, {1}, 1.0)"),
    "addto": _simple("_maddto({0}, {1})"),
    "fitto": _simple("_fitto({0}, {1})"),
    "addat": _mat_addat,
}


def mat_form(op: str, kinds: tuple[str, ...]) -> bool:
    """Whether a primitive with operands of these kinds is lowered by MAT: a mat among them, a primitive of
    prims_mat.py (`@` of two vecs too), or zeros and ones of two sizes."""
    return "mat" in kinds or (op in MAT and op not in VECTOR) or (op in ("zeros", "ones") and len(kinds) == 2)


def lowered(name: str) -> bool:
    """Whether the primitive `name` has a native lowering (the completeness test asks it of every one, and a
    mat lowering, `MAT` or `ELEMENTWISE`, of every one that takes or gives a mat)."""
    return name in SCALAR or name in VECTOR or name in MAT


# ---------------------------------------------------------------- the generator


class Generator(PythonNames):
    def __init__(self, program: ir.Program):
        self.program = program
        self.lines: list[str] = []
        self.fn_names = {fn.name: mangled("f_", fn.name, i) for i, fn in enumerate(program.functions)}
        used = sorted({s.tape if isinstance(s, ir.Push) else s.expr.tape for fn in program.functions
                       for s in ir.walk(fn.body) if isinstance(s, ir.Push)
                       or (isinstance(s, (ir.Let, ir.Assign)) and isinstance(s.expr, ir.Pop))})
        self.tape_index = {number: i for i, number in enumerate(used)}
        self.taped = self._taped(program)
        # Small functions are written into their callers (`inlined`: revolve's driver calls its taped VJP once a
        # reversed iteration, and the loop once an advance); the language has no recursion.
        self.call_sites = Counter(s.expr.fn for fn in program.functions for s in ir.walk(fn.body)
                                  if isinstance(getattr(s, "expr", None), ir.CallFn))
        self.reserved = False  # in a loop that made room for its pushes before it
        self.peaked = False  # in a loop that only pops, whose tape peak was looked at before it
        self.counted_pops = False  # in a loop that checked before it that its pops find values
        self.elementwise: dict[str, object] = {}  # the elementwise helpers the module calls, by name
        self.nan_covered = False  # the statement being lowered has its NaN check covered (`covered_nan_checks`)
        self.current = ""
        self.exclusive: set[str] = set()  # the current function's arrays updated in place (`exclusive_arrays`)
        self.loops: list = []
        self.var_names: dict[str, str] = {}
        self.var_prefix = ""  # of the variables of a function being compiled into its caller
        self.temps = 0
        self.instances = 0  # functions compiled into their callers so far
        self.inline = self.inlined()
        self.offsets = Offsets()
        self.carried: set[int] = set()  # statements whose NaN check is one after their loop (`carried_nan`)

    def inlined(self) -> set[str]:
        """The functions whose body the generator writes in place of their calls (`inline_call`): those of at
        most SMALL_STATEMENTS statements, and those of at most INLINE_STATEMENTS called from one place only,
        counting the statements of the functions written into them. numba compiles a function in a time that
        grows faster than its code: linefit_newton's reverse program, its 400-statement functions inlined
        (by numba), took 390 s to compile, 48 s without inlining, as many with this bound."""
        calls = {fn.name: [s.expr.fn for s in ir.walk(fn.body) if isinstance(getattr(s, "expr", None), ir.CallFn)]
                 for fn in self.program.functions}
        sizes: dict[str, int] = {}

        def inline(name: str) -> bool:
            bound = INLINE_STATEMENTS if self.call_sites[name] == 1 else SMALL_STATEMENTS
            return self.program.function(name) is not None and size(name) <= bound

        def size(name: str) -> int:  # programs never recurse
            if name not in sizes:
                own = len(list(ir.walk(self.program.function(name).body)))
                sizes[name] = own + sum(size(c) for c in calls[name] if inline(c))
            return sizes[name]

        return {fn.name for fn in self.program.functions if inline(fn.name)}

    @staticmethod
    def _taped(program: ir.Program) -> set[str]:
        """The functions that push or pop, or call one that does: they take and give the tape buffers."""
        taped = {fn.name for fn in program.functions for s in ir.walk(fn.body)
                 if isinstance(s, ir.Push) or isinstance(getattr(s, "expr", None), ir.Pop)}
        grown = True
        while grown:
            grown = False
            for fn in program.functions:
                if fn.name not in taped and any(isinstance(getattr(s, "expr", None), ir.CallFn) and s.expr.fn in taped
                                                for s in ir.walk(fn.body)):
                    taped.add(fn.name)
                    grown = True
        return taped

    @property
    def buffers(self) -> str:
        return ", ".join(f"_F{i}, _I{i}" for i in range(len(self.tape_index)))

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)
        self.offsets.note(depth, text)

    def emit_all(self, depth: int, lines: list[str]) -> None:
        for line in lines:
            self.emit(depth, line)

    def module(self) -> Native:
        for fn in self.program.functions:
            self.function(fn)
        source = "\n".join(self.lines) + "\n"
        self.entries = {fn.name: fn.name in self.taped for fn in self.program.functions}
        tapes = len(self.tape_index)
        first_trip = FIRST_LENGTH + 2 * tapes
        module = _jit_module(source, _namespace(self.elementwise))
        functions = {fn.name: module.__dict__[self.fn_names[fn.name]] for fn in self.program.functions}
        return Native(self.program, source, functions, self.entries, tapes, self.loops, first_trip,
                      first_trip + len(self.loops), [BUFFER] * (2 * tapes))

    # ------------------------------------------------------------ names and atoms

    def atom(self, a: ir.Atom) -> str:
        if isinstance(a, ir.Var):
            return self.var(a.name)
        value = a.value
        kind = a.type.kind
        if kind == "bool":
            return "True" if value else "False"
        if kind == "int":
            if value == INT_MIN:
                return IMIN
            return f"({int(value)})"
        if kind == "float":
            value = float(value)
            if math.isnan(value):
                raise Unsupported("a NaN constant")
            if math.isinf(value):
                return "_INF" if value > 0 else "_NINF"
            return f"({value!r})"
        raise Unsupported(f"a constant of type {a.type}")

    def argument(self, a: ir.Atom) -> str:
        """An atom passed to a compiled function: an int or bool constant as a value of its type, not numba's
        literal type, for which numba would compile the callee once more for each constant (`f(x, 1)`)."""
        if isinstance(a, ir.Const) and a.type.kind in ("int", "bool"):
            return f"_np.{'int64' if a.type.kind == 'int' else 'bool_'}({self.atom(a)})"
        return self.atom(a)

    def var(self, name: str) -> str:
        """A variable's name; those of a function compiled into its caller have a prefix of their own."""
        return self.var_prefix + super().var(name)

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def length(self, tape: int, kind: str) -> str:
        """The index in `_S` of the fill of tape `tape`'s float (F) or int (I) buffer."""
        return str(FIRST_LENGTH + 2 * self.tape_index[tape] + (kind == "I"))

    # ------------------------------------------------------------ functions

    def function(self, fn: ir.Function) -> None:
        self.var_names, self.var_prefix = {}, ""
        self.current = fn.name
        self.exclusive = exclusive_arrays(fn)
        arrays = ["_S"] + (self.buffers.split(", ") if fn.name in self.taped and self.tape_index else [])
        self.emit(0, f"def {self.fn_names[fn.name]}({', '.join([self.var(p.name) for p in fn.params] + arrays)}):")
        for array in arrays:
            self.emit(1, f"{array} = _borrow({array})")
        self.emit(1, "st = _S[0]")
        self.emit(1, "mx = _S[3]")
        self.emit(1, "_bad = False")
        if fn.name in self.taped:
            self.emit(1, "mt = _S[4]")
            self.emit_all(1, self.tape_state(load=True))
        self.block(fn.body[:-1], 1)
        value = self.returned(fn, 1)
        self.emit(1, f"if _bad: {FAULT}")
        self.emit(1, "_S[0] = st")
        if fn.name in self.taped:
            self.emit_all(1, self.tape_state(load=False))
        self.emit(1, f"return {value}")

    def returned(self, fn: ir.Function, depth: int, checked: bool = True) -> str:
        """The return counted as a step, the step check, the lengths of the values checked: their code. A
        function written into its caller (`inline_call`) leaves the step check to the caller's next loop trip
        or return: it adds a fixed number of steps after its last loop's check."""
        self.emit(depth, "st += 1")
        if checked:
            self.emit(depth, STEP_CHECK)
        ret_types = fn.ret.items if fn.ret.kind == "tuple" else (fn.ret,)
        values = [self.atom(a) for a in fn.returned.values]
        if len(values) == len(ret_types):
            for value, type_ in zip(values, ret_types):
                self.length_check(depth, value, type_)
        return values[0] if len(values) == 1 else f"({', '.join(values)},)"

    def tape_state(self, load: bool) -> list[str]:
        """The tapes' count, peak and buffer fills are locals of a function that uses tapes (registers in its
        loops), loaded from `_S` on entry and after a call, stored before a call and at its return."""
        names = {"_h": HELD, "_pk": PEAK}
        names.update({f"_L{k}": k for k in range(FIRST_LENGTH, FIRST_LENGTH + 2 * len(self.tape_index))})
        return [f"{name} = _S[{k}]" if load else f"_S[{k}] = {name}" for name, k in names.items()]

    def length_check(self, depth: int, value: str, type_) -> None:
        if type_.kind == "vec" and type_.length is not None:
            self.emit(depth, _fault_if(f"{value}.shape[0] != {int(type_.length)}"))
        if type_.shape is not None:
            rows, cols = type_.shape
            self.emit(depth, _fault_if(f"({value}.shape[0] != {int(rows)}) | ({value}.shape[1] != {int(cols)})"))

    # ------------------------------------------------------------ blocks and statements

    def block(self, stmts: tuple[ir.Stmt, ...], depth: int, counted: bool = True) -> None:
        """A block's statements, counted on entering it. Its steps are not checked here: a run that crossed
        --max-steps, or failed a check, stops at the next loop trip or return (every loop checks each trip, or
        all its trips before it), later than the interpreter would but with the same outcome: the rerun."""
        covered = covered_nan_checks(stmts)
        if counted and stmts:
            self.emit(depth, f"st += {len(stmts)}")
        for position, stmt in enumerate(stmts):
            self.nan_covered = position in covered or id(stmt) in self.carried
            self.statement(stmt, depth)
        if not stmts:
            self.emit(depth, "pass")

    def statement(self, stmt: ir.Stmt, depth: int) -> None:
        if isinstance(stmt, ir.Let) and len(stmt.targets) > 1:
            if not isinstance(stmt.expr, ir.CallFn):
                raise Unsupported("several targets of no call")
            value = self.call(stmt.expr, depth)
            self.emit(depth, f"{', '.join(self.var(t.name) for t in stmt.targets)} = {value}")
        elif isinstance(stmt, (ir.Let, ir.Assign)):
            self.assign(_target(stmt), stmt.expr, depth)
        elif isinstance(stmt, ir.Push):
            self.push(stmt, depth)
        elif isinstance(stmt, ir.If):
            self.emit(depth, f"if {self.atom(stmt.cond)}:")
            self.block(stmt.then, depth + 1)
            self.emit(depth, "else:")
            self.block(stmt.orelse, depth + 1)
        elif isinstance(stmt, ir.For):
            self.for_(stmt, depth)
        elif isinstance(stmt, ir.While):
            counter, trips = self.trip_counter(stmt), self.temp()  # trips counted in a register, stored after
            self.emit(depth, f"{trips} = 0")
            self.emit(depth, f"while {self.atom(stmt.cond)}:")
            self.emit(depth + 1, f"{trips} += 1")
            self.emit(depth + 1, f"st += {len(stmt.body) + 1}")
            self.emit(depth + 1, STEP_CHECK)
            self.block(stmt.body, depth + 1, counted=False)
            self.emit(depth, f"_S[{counter}] += {trips}")
        else:
            raise Unsupported("`return` before the end")

    def trip_counter(self, loop: ir.For | ir.While) -> str:
        self.loops.append(loop_key(loop))
        return f"{FIRST_LENGTH + 2 * len(self.tape_index) + len(self.loops) - 1}"

    def for_(self, stmt: ir.For, depth: int) -> None:
        """A counted loop; a body without calls, branches or loops has all its trips' steps counted at once."""
        counter = self.trip_counter(stmt)
        start, stop = self.atom(stmt.start), self.atom(stmt.stop)
        trips = self.temp()
        per_trip = len(stmt.body) + 1
        known = self.offsets.difference(start, stop)  # revolve reverses one iteration: `for i in capo..capo + 1`
        self.emit(depth, f"{trips} = {stop} - {start}" if known is None else f"{trips} = {known}")
        self.emit(depth, f"if {trips} > 0:")
        self.emit(depth + 1, f"_S[{counter}] += {trips}")
        straight = all(isinstance(s, ir.Push) or (isinstance(s, (ir.Let, ir.Assign))
                                                  and not isinstance(s.expr, ir.CallFn)) for s in stmt.body)
        if straight:
            self.emit(depth + 1, f"st += {trips} * {per_trip}")
            if known != 1:  # one trip adds a few steps: the next check sees them (a long loop is checked first)
                self.emit(depth + 1, STEP_CHECK)
        pushes = [s for s in stmt.body if isinstance(s, ir.Push)]
        pops = [s for s in stmt.body if isinstance(getattr(s, "expr", None), ir.Pop)]
        reserve = straight and pushes and not pops and all(not s.value.type.is_array for s in pushes)
        if reserve:  # room for every trip's pushes made once: the loop's pushes check nothing
            self.emit(depth + 1, f"if _h + {trips} * {len(pushes)} > mt: {FAULT}")  # a push would cross --max-tape
            for (tape, buffer), count in Counter((s.tape, _buffer(s.value.type.kind)) for s in pushes).items():
                need = f"_L{self.length(tape, buffer)} + {trips} * {count}"
                self.emit(depth + 1, self.room(tape, buffer, need))
        drained = not self.peaked and pops_only(stmt.body)
        if drained:  # the tapes only shrink in this loop: their peak is looked at once, before it
            self.emit(depth + 1, "if _h > _pk: _pk = _h")
        checked = straight and pops and not pushes and all(not _target(s).type.is_array for s in pops)
        if checked:  # every trip's pops are on the tapes: none looks
            for (tape, buffer), count in Counter((s.expr.tape, _buffer(_target(s).type.kind)) for s in pops).items():
                self.emit(depth + 1, f"if _L{self.length(tape, buffer)} < {trips} * {count}: {FAULT}")
        if known == 1:  # one trip: its body as straight code
            self.emit(depth, f"{self.var(stmt.var.name)} = {start}")
            self.emit(depth, "if True:")
        else:
            self.emit(depth, f"for {self.var(stmt.var.name)} in range({start}, {stop}):")
        if not straight:
            self.emit(depth + 1, f"st += {per_trip}")
            self.emit(depth + 1, STEP_CHECK)
        outer = self.reserved, self.peaked, self.counted_pops
        self.reserved, self.peaked, self.counted_pops = outer[0] or reserve, outer[1] or drained, outer[2] or checked
        carried = carried_nan(stmt.body) if straight else {}
        self.carried |= set(carried)
        self.block(stmt.body, depth + 1, counted=False)
        self.carried -= set(carried)
        self.reserved, self.peaked, self.counted_pops = outer
        for name in carried.values():
            self.emit(depth, _nan(self.var(name)))

    def assign(self, target: ir.Var, expr: ir.Expr, depth: int) -> None:
        name = self.var(target.name)
        if isinstance(expr, (ir.Var, ir.Const)):
            value = self.atom(expr)
            if target.type.kind == "float" and expr.type.kind == "int":
                raise Unsupported("an int held in a float variable")
            self.emit(depth, f"{name} = {value}")
        elif isinstance(expr, ir.Prim) and expr.op == "addat" and _updates(target, expr, self.exclusive):
            operands = [self.argument(a) for a in expr.args]
            if len(operands) == 4:
                operands[3] = _floated(operands[3], expr.args[3].type.kind)
            helper = {"vec": "_addat_in", "mat": "_maddat_in" if len(operands) == 4 else "_maddrow_in"}
            self.emit(depth, f"{name} = {helper[target.type.kind]}({', '.join(operands)})")
        elif isinstance(expr, ir.Prim):
            self.primitive(name, expr, depth)
        elif isinstance(expr, ir.CallFn):
            self.emit(depth, f"{name} = {self.call(expr, depth)}")
        elif isinstance(expr, ir.Pop):
            self.pop(name, target.type.kind, expr.tape, depth)
        else:
            raise Unsupported(type(expr).__name__)
        self.length_check(depth, name, target.type)

    def primitive(self, name: str, expr: ir.Prim, depth: int) -> None:
        kinds = tuple(a.type.kind for a in expr.args)
        args = [self.atom(a) for a in expr.args]
        result = self.temp()
        if expr.op in CALLING:
            args = [self.argument(a) for a in expr.args]
        if ("vec" in kinds or "mat" in kinds) and expr.op in ELEMENTWISE:
            helper = elementwise_name(expr.op, kinds)
            self.elementwise[helper] = _elementwise(expr.op, kinds)
            lines = [f"{result} = {helper}({', '.join(args)})"]
        elif mat_form(expr.op, kinds):
            if expr.op not in MAT:
                raise Unsupported(f"{expr.op} of a mat")
            lines = MAT[expr.op](result, [self.argument(a) for a in expr.args], kinds)
        elif expr.op in VECTOR:
            lines = VECTOR[expr.op](result, args, kinds)
        elif expr.op in SCALAR and not {"vec", "mat", "tuple"} & set(kinds):
            lines = SCALAR[expr.op](result, args, kinds)
        else:
            raise Unsupported(expr.op)
        if self.nan_covered:
            lines = [line for line in lines if line != _nan(result)]
        self.emit_all(depth, lines)
        self.emit(depth, f"{name} = {result}")

    def call(self, expr: ir.CallFn, depth: int) -> str:
        """Code for a call's value; the statements around it (the step count, the buffers back) are emitted."""
        callee = self.program.function(expr.fn)
        if callee is None:
            raise Unsupported("a call of no function")
        args = [self.argument(a) for a in expr.args]
        for value, param in zip(args, callee.params):
            self.length_check(depth, value, param.type)
        if expr.fn in self.inline:
            return self.inline_call(callee, [self.atom(a) for a in expr.args], depth)
        args.append("_S")
        self.emit(depth, "_S[0] = st")
        taped = expr.fn in self.taped
        call = f"{self.fn_names[expr.fn]}({', '.join(args + ([self.buffers] if taped else []))})"
        if not taped:
            result = self.temp()
            self.emit(depth, f"{result} = {call}")
            self.emit(depth, "st = _S[0]")
            return result
        result = self.temp()
        self.emit_all(depth, self.tape_state(load=False))
        self.emit(depth, f"{result} = {call}")
        self.emit_all(depth, self.tape_state(load=True))
        self.emit(depth, "st = _S[0]")
        return result

    def inline_call(self, fn: ir.Function, args: list[str], depth: int) -> str:
        """The callee's body in place of the call (`inlined`), its variables renamed apart: the run's state
        stays in the caller's locals (no store and load of `_S` around a call, no tuple of results)."""
        self.instances += 1
        outer = self.var_names, self.var_prefix, self.reserved, self.peaked, self.counted_pops
        self.var_names, self.var_prefix = {}, f"_i{self.instances}"
        self.reserved = self.peaked = self.counted_pops = False
        for param, value in zip(fn.params, args):
            self.emit(depth, f"{self.var(param.name)} = {value}")
        self.block(fn.body[:-1], depth)
        value = self.returned(fn, depth, checked=False)
        self.var_names, self.var_prefix, self.reserved, self.peaked, self.counted_pops = outer
        result = self.temp()
        self.emit(depth, f"{result} = {value}")
        return result

    # ------------------------------------------------------------ tapes

    def push(self, stmt: ir.Push, depth: int) -> None:
        kind = stmt.value.type.kind
        value = self.atom(stmt.value)
        i = self.tape_index[stmt.tape]
        if kind == "vec":
            size = self.temp()
            self.emit(depth, f"{size} = {value}.shape[0]")
            self._append(depth, "F", i, stmt.tape, value, size)
            self._append(depth, "I", i, stmt.tape, size, None)
            self.emit(depth, f"_h += {size}")
        elif kind in ("float", "int", "bool"):
            buffer = _buffer(kind)
            self._append(depth, buffer, i, stmt.tape, f"(1 if {value} else 0)" if kind == "bool" else value, None)
            self.emit(depth, "_h += 1")
        elif kind == "mat":
            self.push_mat(depth, i, stmt.tape, value)
        else:
            raise Unsupported(f"a push of a {kind}")
        if not self.reserved:
            self.emit(depth, _fault_if("_h > mt"))

    def push_mat(self, depth: int, i: int, tape: int, value: str) -> None:
        """A mat on a tape: its elements (row by row) on the float buffer, then its rows and columns on the int
        buffer; it counts as many values as it has elements, as in the interpreter."""
        size, fill = self.temp(), self.temp()
        at = self.length(tape, "F")
        self.emit(depth, f"{size} = {value}.size")
        self.emit(depth, f"{fill} = _L{at}")
        self.emit(depth, self.room(tape, "F", f"{fill} + {size}"))
        self.emit(depth, f"_pushm(_F{i}, {fill}, {value})")
        self.emit(depth, f"_L{at} = {fill} + {size}")
        self._append(depth, "I", i, tape, f"{value}.shape[0]", None)
        self._append(depth, "I", i, tape, f"{value}.shape[1]", None)
        self.emit(depth, f"_h += {size}")

    def pop_mat(self, name: str, i: int, tape: int, depth: int) -> None:
        ints, floats = self.length(tape, "I"), self.length(tape, "F")
        top, rows, cols, start = self.temp(), self.temp(), self.temp(), self.temp()
        self.emit(depth, f"{top} = _L{ints} - 2")
        self.emit(depth, f"if {top} < 0: {FAULT}")
        self.emit(depth, f"{rows} = _I{i}[{top}]")
        self.emit(depth, f"{cols} = _I{i}[{top} + 1]")
        self.emit(depth, f"_L{ints} = {top}")
        self.emit(depth, f"{start} = _L{floats} - {rows} * {cols}")
        self.emit(depth, f"if {start} < 0: {FAULT}")
        self.emit(depth, f"{name} = _takem(_F{i}, {start}, {rows}, {cols})")
        self.emit(depth, f"_L{floats} = {start}")
        self.emit(depth, f"_h -= {rows} * {cols}")

    def room(self, tape: int, buffer: str, need: str) -> str:
        """The check that buffer `buffer` of `tape` holds `need` values: where it is too small the run stops,
        saying which buffer and how large, and `run_native` repeats it with a larger one."""
        i = self.tape_index[tape]
        number = 2 * i + (buffer == "I") + 1
        return f"if {need} > _{buffer}{i}.shape[0]: _S[{GROW}] = {number}; _S[{NEED}] = {need}; {FAULT}"

    def _append(self, depth: int, buffer: str, i: int, tape: int, value: str, size: str | None) -> None:
        """value (or `size` elements of the vec `value`) at the end of buffer `buffer` of tape i."""
        at = self.length(tape, buffer)
        fill = self.temp()
        self.emit(depth, f"{fill} = _L{at}")
        need = f"{fill} + {size}" if size else f"{fill} + 1"
        if not self.reserved:
            self.emit(depth, self.room(tape, buffer, need))
        if size:  # element by element: a slice assignment compiles numba's shape-mismatch message
            k = self.temp()
            self.emit(depth, f"for {k} in range({size}):")
            self.emit(depth + 1, f"_{buffer}{i}[{fill} + {k}] = {value}[{k}]")
        else:
            self.emit(depth, f"_{buffer}{i}[{fill}] = {value}")
        self.emit(depth, f"_L{at} = {need}")

    def pop(self, name: str, kind: str, tape: int, depth: int) -> None:
        if tape not in self.tape_index:
            raise Unsupported("a pop of an unknown tape")
        i = self.tape_index[tape]
        if not self.peaked:
            self.emit(depth, "if _h > _pk: _pk = _h")
        top = self.temp()
        if kind == "vec":
            ints, floats = self.length(tape, "I"), self.length(tape, "F")
            size, start = self.temp(), self.temp()
            self.emit(depth, f"{top} = _L{ints} - 1")
            self.emit(depth, f"if {top} < 0: {FAULT}")
            self.emit(depth, f"{size} = _I{i}[{top}]")
            self.emit(depth, f"_L{ints} = {top}")
            self.emit(depth, f"{start} = _L{floats} - {size}")
            self.emit(depth, f"if {start} < 0: {FAULT}")
            self.emit(depth, f"{name} = _takev(_F{i}, {start}, {size})")
            self.emit(depth, f"_L{floats} = {start}")
            self.emit(depth, f"_h -= {size}")
            return
        if kind == "mat":
            self.pop_mat(name, i, tape, depth)
            return
        if kind not in ("float", "int", "bool"):
            raise Unsupported(f"a pop of a {kind}")
        buffer = _buffer(kind)
        at = self.length(tape, buffer)
        self.emit(depth, f"{top} = _L{at} - 1")
        if not self.counted_pops:
            self.emit(depth, f"if {top} < 0: {FAULT}")
        value = f"_{buffer}{i}[{top}]"
        self.emit(depth, f"{name} = {value} != 0" if kind == "bool" else f"{name} = {value}")
        self.emit(depth, f"_L{at} = {top}")
        self.emit(depth, "_h -= 1")


class Offsets:
    """Which int variables of the code being written are another plus a constant, known from the lines emitted
    (`note`): an alias `a = b`, `a, _o = _sadd(b, c)` or `_ssub`. A line assigning a name forgets what was known
    of it and of the names known relative to it. A nested block (a branch, a loop's body) starts knowing
    nothing, so a loop's reassignments are never missed; after it, what was known before it holds, less what it
    assigned. `difference` gives a counted loop's trip count when it is known without running:
    `for i in capo..capo + 1`, as revolve reverses one iteration."""

    ASSIGNED = re.compile(r"(?:^|[:;])\s*((?:\w+\s*,\s*)*\w+)\s*(?://|<<|>>|[-+*/|&^%])?=(?!=)")
    LOOP_VAR = re.compile(r"^for (\w+) in ")
    ALIAS = re.compile(r"^(\w+) = ([A-Za-z_]\w*)$")
    STEP = re.compile(r"^(\w+), _o = _s(add|sub)\(([A-Za-z_]\w*), (?:_np\.int64\()?\((-?\d+)\)\)?\)$")

    def __init__(self):
        self.known: dict[str, tuple[str, int]] = {}  # name -> (base name, offset)
        self.depth = -1
        self.outer: list[tuple[int, dict, set]] = []  # enclosing depths: what they knew, what was assigned since

    def base(self, name: str) -> tuple[str, int]:
        return self.known.get(name, (name, 0))

    def note(self, depth: int, text: str) -> None:
        line = text.strip()
        if depth > self.depth:
            self.outer.append((self.depth, self.known, set()))
            self.known = {}
        elif depth < self.depth:
            assigned: set[str] = set()
            while self.outer and self.outer[-1][0] >= depth:
                at, known, since = self.outer.pop()
                assigned |= since
            self.known = {k: v for k, v in known.items() if k not in assigned and v[0] not in assigned} \
                if at == depth else {}
        self.depth = depth
        if line.startswith("def "):
            self.known, self.outer = {}, []
        assigned = {n.strip() for m in self.ASSIGNED.finditer(line) for n in m.group(1).split(",")}
        assigned |= set(self.LOOP_VAR.findall(line))
        alias, step = self.ALIAS.match(line), self.STEP.match(line)
        source = (self.base(alias.group(2)) if alias else
                  (lambda b, c: (b[0], b[1] + c))(self.base(step.group(3)),
                                                  int(step.group(4)) * (1 if step.group(2) == "add" else -1))
                  if step else None)
        for _, _, since in self.outer:
            since |= assigned
        for name in assigned:
            self.known.pop(name, None)
            self.known = {k: v for k, v in self.known.items() if v[0] != name}
        if source is not None and source[0] not in assigned:
            self.known[(alias or step).group(1)] = source

    def difference(self, start: str, stop: str) -> int | None:
        """stop - start where both are names known relative to one base, else None."""
        if not (re.fullmatch(r"[A-Za-z_]\w*", start) and re.fullmatch(r"[A-Za-z_]\w*", stop)):
            return None
        (a, i), (b, j) = self.base(start), self.base(stop)
        return j - i if a == b else None


def _updates(target: ir.Var, expr: ir.Prim, exclusive: set[str]) -> bool:
    """Whether `target = addat(target, i, x)` may add in place: the array is the target's alone."""
    first = expr.args[0]
    return isinstance(first, ir.Var) and first.name == target.name and target.name in exclusive


def _target(stmt: ir.Let | ir.Assign) -> ir.Var:
    return stmt.targets[0] if isinstance(stmt, ir.Let) else stmt.target


def _buffer(kind: str) -> str:
    """The buffer of a tape a value of this kind goes on: F (float64) for floats, I (int64) for ints and bools."""
    return "F" if kind == "float" else "I"
