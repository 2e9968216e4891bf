from __future__ import annotations

import pytest

from jointspace.errors import JointspaceError
from jointspace.filters import parse_where, where_to_sql


def test_parse_where_text_form() -> None:
    assert parse_where("year >= 2000 and genre = drama") == {"year": {"$gte": 2000}, "genre": {"$eq": "drama"}}
    assert parse_where("lang in (en, 'fr')") == {"lang": {"$in": ["en", "fr"]}}
    assert parse_where("n not in (1, 2)") == {"n": {"$nin": [1, 2]}}
    assert parse_where("score < 0.5 and score > 0.1") == {"score": {"$lt": 0.5, "$gt": 0.1}}
    assert parse_where("name != 'a b'") == {"name": {"$ne": "a b"}}


def test_bad_filters_get_clear_errors() -> None:
    with pytest.raises(JointspaceError, match="cannot read the filter"):
        parse_where("year >>= 3")
    with pytest.raises(JointspaceError, match="unknown filter operator"):
        where_to_sql({"year": {"$like": 3}})
    with pytest.raises(JointspaceError, match="bad field name"):
        where_to_sql({"x') OR 1=1 --": 1})


def test_where_to_sql_uses_parameters() -> None:
    sql, params = where_to_sql({"genre": "drama", "year": {"$in": [1, 2]}})
    assert "?" in sql and "drama" not in sql
    assert params == ["drama", 1, 2]
