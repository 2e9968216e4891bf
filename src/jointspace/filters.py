"""Metadata filters (``where``): a small language and its translation to SQL over the items table.

Python takes a dict in the style of Chroma/Mongo: ``{"genre": "drama", "year": {"$gte": 2000},
"lang": {"$in": ["en", "fr"]}}``; the CLI takes the same as text: ``"genre = drama and year >= 2000
and lang in (en, fr)"``. Every condition must hold (AND).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from jointspace.errors import JointspaceError

OPERATORS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<=",
             "$in": "IN", "$nin": "NOT IN"}
_TEXT_OPS = {"=": "$eq", "==": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte"}
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_CONDITION = re.compile(
    r"^\s*(?P<field>[A-Za-z_][A-Za-z0-9_.\-]*)\s*"
    r"(?:(?P<op>==|!=|>=|<=|=|>|<)\s*(?P<value>.+?)|(?P<neg>not\s+)?in\s*\((?P<items>.*)\))\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def parse_where(text: str) -> dict[str, Any]:
    """``"year >= 2000 and genre in (drama, comedy)"`` -> ``{"year": {"$gte": 2000}, ...}``."""
    where: dict[str, Any] = {}
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CONDITION.match(part)
        if not match:
            raise JointspaceError(
                f"cannot read the filter {part!r}; write e.g. \"year >= 2000\", \"genre = drama\" "
                "or \"lang in (en, fr)\", joined by 'and'"
            )
        field = match["field"]
        if match["op"]:
            if match["value"].lstrip()[:1] in "<>=!":
                raise JointspaceError(f"cannot read the filter {part!r}: the value starts with an operator")
            cond = {_TEXT_OPS[match["op"]]: _literal(match["value"])}
        else:
            lexer = shlex.shlex(match["items"], posix=True)
            lexer.whitespace += ","
            lexer.whitespace_split = True
            values = [_literal(v) if not v.isdigit() else int(v) for v in lexer]
            cond = {"$nin" if match["neg"] else "$in": values}
        where.setdefault(field, {}).update(cond)
    return where


def where_to_sql(where: dict[str, Any] | str | None, column: str = "fields") -> tuple[str, list[Any]]:
    """SQL condition and parameters for a ``where`` filter over a JSON column."""
    if where is None or where == {}:
        return "1", []
    if isinstance(where, str):
        where = parse_where(where)
    clauses, params = [], []
    for field, cond in where.items():
        if not _FIELD.match(field):
            raise JointspaceError(f"bad field name in filter: {field!r}")
        expr = f"json_extract({column}, '$.\"{field}\"')"
        if not isinstance(cond, dict):
            cond = {"$eq": cond}
        for op, value in cond.items():
            if op not in OPERATORS:
                raise JointspaceError(f"unknown filter operator {op!r} on {field!r}; use {sorted(OPERATORS)}")
            if op in ("$in", "$nin"):
                values = list(value) if isinstance(value, list | tuple | set) else [value]
                if not values:
                    clauses.append("0" if op == "$in" else "1")
                    continue
                clauses.append(f"{expr} {OPERATORS[op]} ({', '.join('?' * len(values))})")
                params.extend(values)
            else:
                if isinstance(value, list | dict):
                    raise JointspaceError(f"filter {field!r} {op}: expected one value, got {value!r}")
                clauses.append(f"{expr} {OPERATORS[op]} ?")
                params.append(value)
    return " AND ".join(clauses) or "1", params
