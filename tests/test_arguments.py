"""NAME=VALUE arguments: every value form, files, and the usage errors that name what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from adlang.arguments import bind_arguments, parse_number, parse_value, split_word
from adlang.interp.prologue import signature
from adlang.ir.nodes import Function, Var
from adlang.ir.types import BOOL, FLOAT, INT, VEC, vec
from adlang.lang.errors import UsageError


def make_fn(*params: tuple[str, object], name: str = "model") -> Function:
    return Function(name, tuple(Var(n, t) for n, t in params), FLOAT, ())


def usage_message(fn: Function, words: list[str]) -> str:
    with pytest.raises(UsageError) as info:
        bind_arguments(fn, words)
    return info.value.message


# ---------------------------------------------------------------- value forms


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", 3), ("-7", -7), ("+2", 2), ("3.0", 3.0), ("-1.5", -1.5), (".5", 0.5), ("2e3", 2000.0), ("1E-3", 0.001)],
)
def test_numbers_keep_int_or_float(text, expected):
    value = parse_number(text)
    assert value == expected
    assert type(value) is type(expected)


def test_non_finite_numbers():
    assert parse_number("inf") == float("inf")
    assert parse_number("-inf") == float("-inf")
    assert np.isnan(parse_number("nan"))


@pytest.mark.parametrize("text, fragment", [("nan", "'x': nan is not a number"), ("-NaN", "'x': -NaN is not a number"),
                                            ("[1, nan]", "'x': element 2 of the vec is NaN")])
def test_a_nan_argument_is_refused(text, fragment):
    """Nothing computes with NaN (the spec: never a silent NaN), so none comes in: sin(nan) would be one."""
    with pytest.raises(UsageError, match=fragment):
        parse_value(text, "x")


def test_a_nan_in_a_file_is_refused(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("1.0\nnan\n")
    with pytest.raises(UsageError, match="element 2 of the vec is NaN"):
        parse_value(f"@{path}", "v")


@pytest.mark.parametrize("text", ["abc", "1.2.3", "1_000", "0x10", "", "e5", "--1"])
def test_not_numbers(text):
    assert parse_number(text) is None


def test_bools():
    assert parse_value("true", "b") is True
    assert parse_value("false", "b") is False


def test_vec_literals():
    v = parse_value("[1, 2.5, -3e1]", "v")
    assert v.dtype == np.float64
    assert v.tolist() == [1.0, 2.5, -30.0]
    assert parse_value("[ ]", "v").shape == (0,)
    assert parse_value("[]", "v").dtype == np.float64


@pytest.mark.parametrize("text", ["[1, , 2]", "[1, x]", "[1, 2", "1, 2]", "[[1], [2]]", "[true]", "[1, 2,]"])
def test_malformed_vec_literals_name_the_argument(text):
    with pytest.raises(UsageError, match="argument 'v'"):
        parse_value(text, "v")


def test_split_word_keeps_negative_values():
    assert split_word("x=-1.5") == ("x", "-1.5")
    assert split_word("v=[1, 2]") == ("v", "[1, 2]")


@pytest.mark.parametrize("word", ["x", "-1.5", "1x=2", "=3"])
def test_split_word_rejects_non_assignments(word):
    with pytest.raises(UsageError, match="NAME=VALUE"):
        split_word(word)


def test_unquoted_vec_gets_a_quoting_hint():
    with pytest.raises(UsageError, match="quote"):
        split_word("2]")


# ---------------------------------------------------------------- binding to parameters


def test_binding_follows_parameter_order_and_types():
    fn = make_fn(("x", FLOAT), ("n", INT), ("b", BOOL), ("v", VEC))
    args = bind_arguments(fn, ["v=[1, 2]", "b=true", "n=3", "x=2"])
    assert list(args) == ["x", "n", "b", "v"]
    assert args["x"] == 2.0 and type(args["x"]) is float
    assert args["n"] == 3 and type(args["n"]) is int
    assert args["b"] is True
    assert isinstance(args["v"], np.ndarray) and args["v"].tolist() == [1.0, 2.0]


def test_no_parameters_no_words():
    assert bind_arguments(make_fn(), []) == {}


def test_missing_argument_names_it():
    message = usage_message(make_fn(("x", FLOAT), ("rate", FLOAT)), ["x=1.0"])
    assert message == "missing argument 'rate' for model(x, rate); give it as rate=VALUE"


def test_several_missing_arguments_are_all_named():
    message = usage_message(make_fn(("x", FLOAT), ("y", FLOAT)), [])
    assert "'x'" in message and "'y'" in message


def test_unknown_argument_names_it_and_suggests():
    message = usage_message(make_fn(("rate", FLOAT)), ["rat=1"])
    assert "unknown argument 'rat'" in message
    assert "did you mean 'rate'" in message


def test_argument_given_twice():
    message = usage_message(make_fn(("x", FLOAT)), ["x=1", "x=2"])
    assert "'x'" in message and "twice" in message


def test_unknown_name_is_reported_before_reading_files():
    message = usage_message(make_fn(("x", VEC)), ["y=@missing.csv"])
    assert "unknown argument 'y'" in message


@pytest.mark.parametrize(
    ("ptype", "text", "fragment"),
    [
        (INT, "2.5", "is an int"),
        (INT, "true", "is an int"),
        (FLOAT, "true", "is a float"),
        (FLOAT, "[1]", "is a float"),
        (BOOL, "1", "is a bool"),
        (VEC, "3", "is a vec"),
        (VEC, "true", "is a vec"),
    ],
)
def test_type_mismatches_name_the_parameter(ptype, text, fragment):
    message = usage_message(make_fn(("p", ptype)), [f"p={text}"])
    assert "argument 'p'" in message and fragment in message


def test_float_for_int_suggests_the_int():
    message = usage_message(make_fn(("n", INT)), ["n=3.0"])
    assert "write it as 3" in message


def test_vec_of_fixed_length():
    fn = make_fn(("u", vec(2)))
    assert bind_arguments(fn, ["u=[1, 2]"])["u"].tolist() == [1.0, 2.0]
    message = usage_message(fn, ["u=[1, 2, 3]"])
    assert "vec(2)" in message and "3 elements" in message


def test_signature():
    assert signature(make_fn(("x", FLOAT), ("rate", FLOAT))) == "model(x, rate)"


# ---------------------------------------------------------------- files


def vec_arg(tmp_path, word: str) -> list[float]:
    fn = make_fn(("v", VEC))
    return bind_arguments(fn, [word])["v"].tolist()


def test_csv_one_column_without_header(tmp_path):
    (tmp_path / "d.csv").write_text("1\n2.5\n-3\n")
    assert vec_arg(tmp_path, f"v=@{tmp_path / 'd.csv'}") == [1.0, 2.5, -3.0]


def test_csv_one_column_with_header_and_blank_lines(tmp_path):
    (tmp_path / "d.csv").write_text("height\n1\n\n2\n")
    assert vec_arg(tmp_path, f"v=@{tmp_path / 'd.csv'}") == [1.0, 2.0]


def test_csv_header_only_is_an_empty_vec(tmp_path):
    (tmp_path / "d.csv").write_text("height\n")
    assert vec_arg(tmp_path, f"v=@{tmp_path / 'd.csv'}") == []


def test_csv_named_column(tmp_path):
    (tmp_path / "d.csv").write_text("x, y\n1, 10\n2, 20\n")
    assert vec_arg(tmp_path, f"v=@{tmp_path / 'd.csv'}:y") == [10.0, 20.0]
    assert vec_arg(tmp_path, f"v=@{tmp_path / 'd.csv'}:x") == [1.0, 2.0]


def test_csv_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    assert vec_arg(tmp_path, "v=@d.csv:b") == [2.0]


def test_csv_unknown_column_lists_columns(tmp_path):
    (tmp_path / "d.csv").write_text("x,y\n1,2\n")
    message = usage_message(make_fn(("v", VEC)), [f"v=@{tmp_path / 'd.csv'}:z"])
    assert "no column 'z'" in message and "x, y" in message


def test_csv_column_needs_a_header(tmp_path):
    (tmp_path / "d.csv").write_text("1,2\n3,4\n")
    message = usage_message(make_fn(("v", VEC)), [f"v=@{tmp_path / 'd.csv'}:x"])
    assert "no header" in message


def test_csv_several_columns_without_a_name(tmp_path):
    (tmp_path / "d.csv").write_text("x,y\n1,2\n")
    message = usage_message(make_fn(("v", VEC)), [f"v=@{tmp_path / 'd.csv'}"])
    assert "2 columns" in message and "COLUMN" in message


def test_csv_bad_cell_names_file_and_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a\n1\noops\n")
    message = usage_message(make_fn(("v", VEC)), [f"v=@{path}"])
    assert str(path) in message and "line 3" in message and "oops" in message


def test_npy(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.array([1, 2, 3], dtype=np.int32))
    args = bind_arguments(make_fn(("v", VEC)), [f"v=@{path}"])
    assert args["v"].dtype == np.float64 and args["v"].tolist() == [1.0, 2.0, 3.0]


def test_npy_must_be_one_dimensional(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros((2, 2)))
    message = usage_message(make_fn(("v", VEC)), [f"v=@{path}"])
    assert str(path) in message and "1-D" in message


def test_malformed_npy_names_the_file(tmp_path):
    path = tmp_path / "d.npy"
    path.write_text("not numpy")
    message = usage_message(make_fn(("v", VEC)), [f"v=@{path}"])
    assert str(path) in message


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "nope.csv"
    message = usage_message(make_fn(("v", VEC)), [f"v=@{path}"])
    assert str(path) in message and "no such file" in message


def test_unsupported_extension(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("1\n")
    message = usage_message(make_fn(("v", VEC)), [f"v=@{path}"])
    assert str(path) in message and ".csv" in message


def test_no_glob_or_home_expansion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("1\n")
    for word in ["v=@*.csv", "v=@~/d.csv"]:
        assert "no such file" in usage_message(make_fn(("v", VEC)), [word])


def test_file_for_a_vec_of_fixed_length(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1\n2\n3\n")
    message = usage_message(make_fn(("u", vec(2))), [f"u=@{path}"])
    assert "vec(2)" in message and "3 elements" in message
