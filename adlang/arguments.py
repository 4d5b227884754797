"""Function arguments from the command line: `NAME=VALUE` words checked against a function's parameters.

A value is a number, `true`/`false`, a vec literal `[1, 2.5]`, a mat literal
`[[1, 2], [3, 4]]`, or `@PATH` (a `.npy` array, a one-column `.csv`, or
`@PATH:COLUMN`, a named column of a CSV with a header row; for a mat parameter
a 2-D `.npy`, or a `.csv` whose columns, in order, are the mat's). Every
mistake is a UsageError that names the parameter (and the file), since the
spec wants exit 2 with a message a student can act on.
"""

from __future__ import annotations

import os
import re

import numpy as np

from adlang.interp.prologue import NO_NAN as _NO_NAN
from adlang.interp.prologue import check_names, convert, is_int, mismatch, suggest
from adlang.interp.prologue import shown_text as _shown
from adlang.ir.nodes import Function, Var
from adlang.ir.prims_scalar import INT_MAX, INT_MIN
from adlang.lang.errors import UsageError

Value = bool | int | float | np.ndarray

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_FORMS = "a number, true, false, a vec like [1.0, 2.5] or @FILE"
_MAT_FORMS = "a mat like [[1.0, 2.0], [3.0, 4.0]] or @FILE"


# ---------------------------------------------------------------- binding to a function


def bind_arguments(fn: Function, words: list[str]) -> dict[str, Value]:
    """The arguments for `fn`, in parameter order, each converted to its parameter's type.

    Names are checked before any value is read, so a misspelt name is reported
    as such rather than as a file that cannot be loaded.
    """
    texts = _collect(fn, words)
    check_names(fn, list(texts))
    return {p.name: _convert(fn, p, texts[p.name]) for p in fn.params}


def split_word(word: str) -> tuple[str, str]:
    """`x=-1.5` -> ("x", "-1.5"); anything that is not NAME=VALUE is a usage error."""
    name, sep, text = word.partition("=")
    name = name.strip()
    if not sep:
        hint = "; quote a vec literal that has spaces, as 'v=[1, 2]'" if "[" in word or "]" in word else ""
        raise UsageError(f"'{word}' is not an argument of the form NAME=VALUE{hint}")
    if not _NAME.fullmatch(name):
        raise UsageError(f"'{word}' is not an argument of the form NAME=VALUE: '{name}' is not a name")
    return name, text.strip()


def _collect(fn: Function, words: list[str]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for word in words:
        name, text = split_word(word)
        check_names(fn, [name], missing=False)
        if name in texts:
            raise UsageError(f"argument '{name}' is given twice")
        texts[name] = text
    return texts


# ---------------------------------------------------------------- conversion to a parameter's type


def _convert(fn: Function, param: Var, text: str) -> Value:
    """The value of `text` for `param`, checked as every run's arguments are (`interp/prologue.py`)."""
    if param.type.kind == "mat":
        value = parse_mat_value(text, param.name)
        if isinstance(value, np.ndarray) and value.ndim == 1 and not text.startswith("@"):
            raise UsageError(mismatch(fn, param, text, value))
        return check_mat_shape(param, text, convert(fn, param, value, shown=text))
    value = parse_value(text, param.name)
    fits = is_int(value) and INT_MIN <= value <= INT_MAX
    if param.type.kind == "int" and _INT.fullmatch(text.strip()) and not fits:
        raise UsageError(mismatch(fn, param, text, value, too_long=True))
    value = convert(fn, param, value, shown=text)
    return check_vec_length(param, text, value) if param.type.kind == "vec" else value


def check_vec_length(param: Var, text: str, value: np.ndarray) -> np.ndarray:
    """A vec(N) parameter takes N elements: anything else is a usage error, before the run."""
    want = param.type.length
    if want is not None and len(value) != want:
        raise UsageError(
            f"argument '{param.name}' is a {param.type}, but {_shown(text)} has {len(value)} "
            f"element{'s' if len(value) != 1 else ''}"
        )
    return value


def check_mat_shape(param: Var, text: str, value: np.ndarray) -> np.ndarray:
    """A mat(R, C) parameter takes an R x C mat: anything else is a usage error, before the run."""
    want = param.type.shape
    if want is not None and value.shape != want:
        raise UsageError(f"argument '{param.name}' is a {param.type}, but {_shown(text)} is a "
                         f"{value.shape[0]}x{value.shape[1]} mat")
    return value


# ---------------------------------------------------------------- values


_MAT_LITERAL = re.compile(r"\[\s*(\[[^\[\]]*\]\s*,\s*)*\[[^\[\]]*\]\s*,?\s*\]")


def parse_mat_value(text: str, name: str) -> Value:
    """A mat parameter's VALUE: a literal of rows `[[1, 2], [3, 4]]`, or `@PATH` (a 2-D .npy, or a CSV whose
    columns are the mat's); anything else as for other parameters, for the mismatch message."""
    if text.startswith("@"):
        return load_mat_file(text[1:], name)
    if not text.startswith("[[") and not text.startswith("[") and text not in ("true", "false"):
        if parse_number(text) is None:
            shown = f"'{_shown(text)}'" if text else "nothing"
            raise UsageError(f"argument '{name}': {shown} is not {_MAT_FORMS}")
    if not text.startswith("[["):
        try:
            return parse_value(text, name)
        except UsageError:
            if text.startswith("["):
                raise UsageError(f"argument '{name}': '{_shown(text)}' is not {_MAT_FORMS}") from None
            raise
    if not _MAT_LITERAL.fullmatch(text):
        raise UsageError(f"argument '{name}': '{_shown(text)}' is not a mat literal like [[1.0, 2.0], [3.0, 4.0]]")
    rows = [parse_vec_literal(row, name) for row in re.findall(r"\[[^\[\]]*\]", text[1:-1])]
    lengths = [len(row) for row in rows]
    if len(set(lengths)) > 1:
        raise UsageError(f"argument '{name}': the rows of the mat have different lengths "
                         f"({', '.join(map(str, lengths))}); give every row as many numbers")
    return np.array(rows, dtype=np.float64).reshape(len(rows), lengths[0])




def parse_value(text: str, name: str) -> Value:
    """One VALUE as written; vecs become float64 arrays. `name` is for messages only.

    NaN is refused: adlang never computes with a NaN (spec: "never a silent NaN"), so none may come in.
    """
    if text in ("true", "false"):
        return text == "true"
    if text.startswith("@") or text.startswith("[") or text.endswith("]"):
        vec = load_vec_file(text[1:], name) if text.startswith("@") else parse_vec_literal(text, name)
        if np.isnan(vec).any():
            k = int(np.flatnonzero(np.isnan(vec))[0])
            raise UsageError(f"argument '{name}': element {k + 1} of the vec is NaN (not a number); {_NO_NAN}")
        return vec
    number = parse_number(text)
    if number is None:
        shown = f"'{_shown(text)}'" if text else "nothing"
        raise UsageError(f"argument '{name}': {shown} is not {_FORMS}")
    if number != number:
        raise UsageError(f"argument '{name}': {_shown(text)} is not a number; {_NO_NAN}")
    return number


def parse_number(text: str) -> int | float | None:
    """An int for `3`, a float for `3.0`, `-1.5`, `2e3`, `inf`, `nan` (refused by `parse_value`); None if not
    a number."""
    text = text.strip()
    if _INT.fullmatch(text):
        # past 19 digits it is no 64-bit int: read as a float (any length; huge ones are inf)
        return int(text) if len(text.lstrip("+-").lstrip("0")) <= 19 else float(text)
    if _FLOAT.fullmatch(text) or _NON_FINITE.fullmatch(text):
        return float(text)
    return None


def parse_vec_literal(text: str, name: str) -> np.ndarray:
    """`[1, 2.5, 3]` or `[]`: numbers only, separated by commas."""
    if not (text.startswith("[") and text.endswith("]")):
        raise UsageError(f"argument '{name}': '{_shown(text)}' is not a vec literal like [1.0, 2.5]")
    inner = text[1:-1].strip()
    if not inner:
        return np.zeros(0, dtype=np.float64)
    items = [item.strip() for item in inner.split(",")]
    values = []
    for i, item in enumerate(items, start=1):
        number = parse_number(item)
        if number is None:
            what = f"'{_shown(item)}' is not a number" if item else "is empty"
            raise UsageError(f"argument '{name}': element {i} of the vec {what}")
        values.append(float(number))
    return np.array(values, dtype=np.float64)


# ---------------------------------------------------------------- files


def load_vec_file(spec: str, name: str) -> np.ndarray:
    """The vec in `@PATH` or `@PATH:COLUMN`; reads exactly that one file, nothing else."""
    path, column = _split_column(spec)
    if not path:
        raise UsageError(f"argument '{name}': '@' must be followed by a file name, as @data.csv")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy" and column is None:
        return _load_npy(path, name)
    if ext == ".csv":
        return _load_csv(path, column, name)
    raise UsageError(f"argument '{name}': cannot read '{path}': only .npy and .csv files hold vecs")


def load_mat_file(spec: str, name: str) -> np.ndarray:
    """The mat in `@PATH`: a 2-D .npy, a CSV (every column in order, a header row skipped), or `@PATH:COLUMN`
    (a mat of one column)."""
    path, column = _split_column(spec)
    if not path:
        raise UsageError(f"argument '{name}': '@' must be followed by a file name, as @data.csv")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy" and column is None:
        array = _load_array(path, name)
        if array.ndim != 2:
            raise UsageError(f"argument '{name}': '{path}' holds an array of shape {array.shape}; a mat is 2-D")
        return array
    if ext == ".csv" and column is not None:
        return _named_column(_read_csv(path, name), path, column, name).reshape(-1, 1)
    if ext == ".csv":
        return _table(_read_csv(path, name), path, name)
    raise UsageError(f"argument '{name}': cannot read '{path}': only .npy and .csv files hold mats")


def _table(rows: list[tuple[int, list[str]]], path: str, name: str) -> np.ndarray:
    """Every column of a CSV, a row per line; a first row that is not all numbers is a header."""
    if rows and any(parse_number(cell) is None for cell in rows[0][1]):
        rows = rows[1:]
    if not rows:
        raise UsageError(f"argument '{name}': '{path}' has no rows of numbers")
    width = len(rows[0][1])
    values = []
    for line, row in rows:
        if len(row) != width:
            raise UsageError(f"argument '{name}': '{path}' line {line} has {len(row)} columns, the first row "
                             f"{width}; give every row as many")
        values.append(_numbers([(line, cell) for cell in row], path, name))
    return np.array(values, dtype=np.float64).reshape(len(values), width)


def _split_column(spec: str) -> tuple[str, str | None]:
    """`data.csv:x` -> ("data.csv", "x"), unless a file is really named `data.csv:x`."""
    if os.path.isfile(spec):
        return spec, None
    head, sep, column = spec.rpartition(":")
    if sep and head.lower().endswith(".csv"):
        return head, column.strip()
    return spec, None


def _open_error(path: str, name: str, err: OSError) -> UsageError:
    if isinstance(err, FileNotFoundError):
        reason = "no such file"
    elif isinstance(err, IsADirectoryError):
        reason = "it is a directory"
    else:
        reason = err.strerror or str(err)
    return UsageError(f"argument '{name}': cannot read '{path}': {reason}")


def _load_npy(path: str, name: str) -> np.ndarray:
    array = _load_array(path, name)
    if array.ndim != 1:
        raise UsageError(f"argument '{name}': '{path}' holds an array of shape {array.shape}; a vec is 1-D")
    return array


def _load_array(path: str, name: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except OSError as err:
        raise _open_error(path, name, err) from None
    except (ValueError, EOFError) as err:
        raise UsageError(f"argument '{name}': '{path}' is not a .npy array file ({err})") from None
    if not isinstance(array, np.ndarray):
        raise UsageError(f"argument '{name}': '{path}' holds several arrays; give a .npy with one")
    if array.dtype.kind not in "iuf":
        raise UsageError(f"argument '{name}': '{path}' holds {array.dtype} values, not numbers")
    return array.astype(np.float64)


def _load_csv(path: str, column: str | None, name: str) -> np.ndarray:
    rows = _read_csv(path, name)
    if column is None:
        return _single_column(rows, path, name)
    return _named_column(rows, path, column, name)


def _read_csv(path: str, name: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows with their line numbers, cells stripped, trailing empty cells dropped."""
    import csv  # only for @file.csv arguments

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = [(reader.line_num, _trim(row)) for row in reader]
    except OSError as err:
        raise _open_error(path, name, err) from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise UsageError(f"argument '{name}': '{path}' is not a readable CSV file ({err})") from None
    return [(line, row) for line, row in rows if row]


def _trim(row: list[str]) -> list[str]:
    cells = [cell.strip() for cell in row]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _single_column(rows: list[tuple[int, list[str]]], path: str, name: str) -> np.ndarray:
    if rows and parse_number(rows[0][1][0]) is None:
        rows = rows[1:]
    for _, row in rows:
        if len(row) != 1:
            raise UsageError(
                f"argument '{name}': '{path}' has {len(row)} columns; "
                f"name one with @{path}:COLUMN (the CSV then needs a header row)"
            )
    return _numbers([(line, row[0]) for line, row in rows], path, name)


def _named_column(rows: list[tuple[int, list[str]]], path: str, column: str, name: str) -> np.ndarray:
    if not rows or all(parse_number(cell) is not None for cell in rows[0][1]):
        raise UsageError(f"argument '{name}': '{path}' has no header row, so no column '{column}'")
    header = rows[0][1]
    if column not in header:
        known = ", ".join(header)
        raise UsageError(
            f"argument '{name}': '{path}' has no column '{column}'{suggest(column, header)} (its columns: {known})"
        )
    index = header.index(column)
    cells = [(line, row[index] if index < len(row) else "") for line, row in rows[1:]]
    return _numbers(cells, path, name)


def _numbers(cells: list[tuple[int, str]], path: str, name: str) -> np.ndarray:
    values = []
    for line, cell in cells:
        number = parse_number(cell)
        if number is None:
            what = f"'{_shown(cell)}' is not a number" if cell else "the cell is empty"
            raise UsageError(f"argument '{name}': '{path}' line {line}: {what}")
        values.append(float(number))
    return np.array(values, dtype=np.float64)
