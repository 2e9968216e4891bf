"""Field values and ids at write time: NaN, numpy/pandas scalars, datetimes, odd ids (issue 13)."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from jointspace.errors import ItemError
from jointspace.values import clean_fields, dumps, normalise_id


def test_nan_and_infinities_become_null_with_a_note_naming_the_field() -> None:
    fields, notes = clean_fields({"a": float("nan"), "b": float("inf"), "c": -math.inf, "d": 1.5})
    assert fields == {"a": None, "b": None, "c": None, "d": 1.5}
    assert len(notes) == 3
    assert "'a'" in notes[0] and "null" in notes[0]
    assert "'b'" in notes[1] and "'c'" in notes[2]


def test_numpy_scalars_become_python_values() -> None:
    fields, notes = clean_fields({"i": np.int64(5), "u": np.uint8(7), "f": np.float32(0.5), "b": np.bool_(True),
                                  "s": np.str_("x"), "nan": np.float64("nan"), "arr": np.array([1, 2])})
    assert fields == {"i": 5, "u": 7, "f": 0.5, "b": True, "s": "x", "nan": None, "arr": [1, 2]}
    assert type(fields["i"]) is int and type(fields["b"]) is bool and type(fields["f"]) is float
    assert len(notes) == 1 and "'nan'" in notes[0]
    # the bug on main: a numpy integer stored as the string "5"
    assert json.loads(dumps(fields))["i"] == 5


def test_pandas_values_from_a_dataframe_row() -> None:
    frame = pd.DataFrame({"year": [1999, 2001], "score": [0.5, np.nan], "when": pd.to_datetime(["2020-01-02", None]),
                          "n": pd.array([1, None], dtype="Int64"), "flag": [True, False]})
    rows = [clean_fields(r) for r in frame.to_dict(orient="records")]
    assert rows[0][0] == {"year": 1999, "score": 0.5, "when": "2020-01-02T00:00:00", "n": 1, "flag": True}
    assert rows[1][0] == {"year": 2001, "score": None, "when": None, "n": None, "flag": False}
    assert rows[0][1] == [] and len(rows[1][1]) == 1 and "'score'" in rows[1][1][0]
    assert type(rows[0][0]["year"]) is int and type(rows[0][0]["flag"]) is bool
    assert clean_fields({"x": pd.NA, "y": pd.NaT, "z": pd.Timedelta("1D")})[0] == {"x": None, "y": None,
                                                                                  "z": "P1DT0H0M0S"}


def test_datetimes_become_iso_strings() -> None:
    fields, notes = clean_fields({"d": dt.date(2020, 5, 1), "t": dt.datetime(2020, 5, 1, 12, 30),
                                  "np": np.datetime64("2021-03-04"), "ts": pd.Timestamp("2022-01-01T10:00:00Z")})
    assert fields == {"d": "2020-05-01", "t": "2020-05-01T12:30:00", "np": "2021-03-04",
                      "ts": "2022-01-01T10:00:00+00:00"}
    assert notes == []


def test_nested_values_are_cleaned_recursively_and_odd_objects_become_text_with_a_note() -> None:
    fields, notes = clean_fields({"meta": {"lang": "en", "score": float("nan"), "n": np.int32(3)},
                                  "tags": ("a", np.str_("b")), "grid": [[1.0, float("inf")]],
                                  "price": Decimal("1.25"), 5: "int key"})
    assert fields == {"meta": {"lang": "en", "score": None, "n": 3}, "tags": ["a", "b"], "grid": [[1.0, None]],
                      "price": "1.25", "5": "int key"}
    assert any("'meta.score'" in n for n in notes) and any("'grid[0][1]'" in n for n in notes)
    assert any("'price'" in n and "Decimal" in n for n in notes)


def test_dumps_is_always_valid_json() -> None:
    text = dumps({"a": float("nan"), "b": [np.float64("-inf")], "c": np.int64(2), "d": dt.date(2020, 1, 1)})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [None], "c": 2, "d": "2020-01-01"}
    assert dumps("é") == '"é"'
    json.loads(dumps([1, {"x": float("nan")}]), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


@pytest.mark.parametrize("value, expected", [("a1", "a1"), (1, "1"), (-7, "-7"), (np.int64(42), "42"),
                                             (np.uint16(3), "3"), (10**30, str(10**30))])
def test_ids_strings_and_integers(value: object, expected: str) -> None:
    assert normalise_id(value) == expected


def test_integer_and_string_ids_are_the_same_item() -> None:
    assert normalise_id(1) == normalise_id("1")


@pytest.mark.parametrize("value, shown", [(True, "True"), (np.bool_(False), "False"), (1.0, "1.0"),
                                          (float("inf"), "inf"), ([1, 2], "[1, 2]"), ({}, "{}"), (None, "None"),
                                          ("", "''"), (np.float32(2), "2")])
def test_other_ids_are_an_item_error_naming_the_value(value: object, shown: str) -> None:
    with pytest.raises(ItemError) as err:
        normalise_id(value)
    assert shown in str(err.value)
    assert "strings or integers" in str(err.value)
