"""The ``where`` language: one parser for the text and dict forms, one small AST, one meaning everywhere.

A filter that is misread returns a wrong or empty result with no word, which is the worst thing a
filter can do. So there is one parser (:func:`parse`) for the text form the CLI, HTTP and Python take::

    year >= 2000 and (genre = drama or genre in ("comedy", 'sci-fi')) and not lang is null
    tags contains "jazz" and meta.lang != en and `Release Year` < 1990

and for the dict form (Mongo / Chroma style)::

    {"year": {"$gte": 2000}, "$or": [{"genre": "drama"}, {"genre": {"$in": ["comedy", "sci-fi"]}}]}

Both give the same frozen-dataclass AST (:class:`Compare`, :class:`In`, :class:`IsNull`, :class:`Contains`,
:class:`And`, :class:`Or`, :class:`Not`). :func:`check` holds it against the collection's
:class:`FieldCatalog` (unknown field -> the closest known names; number field compared with a string
-> error), and every backend compiles the same AST: :func:`to_sqlite`, :func:`to_postgres`, and the
columnar cache (``stores/embedded/columns.py``). :func:`matches` is the reference meaning, and the tests
check that all of them agree exactly on random filters over random records.

Text form
    ``and`` binds tighter than ``or``; ``not`` negates what follows; parentheses group. Keywords are
    case-insensitive. Operators: ``= == != <> < <= > >=``, ``in (...)``, ``not in (...)``, ``is null``,
    ``is not null``, ``contains``, ``not contains``. Values: quoted strings (``"..."`` or ``'...'`` with
    backslash escapes ``\\" \\' \\\\ \\n \\t \\r \\uXXXX``), numbers (``5``, ``-2.5``, ``1e3``), ``true``,
    ``false``, ``null`` (``x = null`` means ``x is null``), or a bare word (``genre = drama``; a word that is
    a keyword must be quoted). Field names are words of letters, digits, ``_`` and ``-`` starting with a
    letter or ``_``; ``meta.lang`` is the key ``lang`` of the object in ``meta``; any other name goes in
    backquotes (`` `Release Year` ``).

Dict form
    Keys of one dict are ANDed. A field maps to a value (equality; ``None`` means "is null") or to a dict
    of operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $contains $not``. Top level also takes
    ``$and``, ``$or`` (non-empty lists of dicts) and ``$not`` (a dict).

Meaning (the same on every backend)
    - A field's value is looked up by its dotted path; a missing key, a JSON null, and a non-finite number
      (``NaN``/``Infinity`` in an old row) all count as *null*.
    - Values have a kind: number (int or float; ``5 == 5.0``), string, bool, list, object. Booleans are not
      numbers. A comparison holds only between values of the same kind: ``x = 5`` is false for ``"5"``.
    - Ordering (``< <= > >=``) is defined for numbers (by value) and strings (by Unicode code point,
      i.e. the bytes of UTF-8: ``"Z" < "a"``), never for booleans.
    - A null (missing) field fails every comparison, ``in`` and ``contains``; so ``!=``, ``not in`` and
      ``not contains``, which are exactly ``not (=)``, ``not (in)`` and ``not (contains)``, hold for it.
      ``is null`` holds for it. Logic is two-valued: ``not (x < 5)`` holds when ``x`` is missing.
    - ``contains`` on a string field tests for a substring (case-sensitive; ``""`` is in every string); on
      a list field it tests whether an element equals the value (same kind; nested lists are not searched).
      A list field never equals a scalar (``tags = x`` is false: use ``tags contains x``).
    - ``in ()`` (empty) holds for nothing; ``not in ()`` for everything.
    - Numbers compare as Python compares them, except that SQLite and the columnar cache hold large
      integers as float64: beyond 2**53 an integer may compare inexactly there (``10**30 = 1e30``).
    - A top-level key that itself contains a dot cannot be filtered (and is not in the catalog).

Old SQLite rows whose JSON text holds ``NaN`` or ``Infinity`` (written before values were cleaned) make
``json_extract`` raise ``malformed JSON``; :func:`to_sqlite` reads such a row through a repaired copy of
its text (those tokens become ``null``), so they count as null, as in :func:`matches`.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Union

from jointspace.errors import JointspaceError

Scalar = Union[str, int, float, bool]  # noqa: UP007 (a runtime alias)


class FilterError(JointspaceError):
    """A ``where`` filter that cannot be read or cannot mean anything on this collection."""

    def __init__(self, message: str, text: str | None = None, position: int | None = None,
                 expected: str | None = None) -> None:
        self.text = text
        self.position = position
        self.expected = expected
        self.reason = message
        if text is not None and position is not None:
            shown = text.replace("\n", " ").replace("\t", " ")
            message = f"{message}\n  {shown}\n  {' ' * position}^"
        super().__init__(message)


# ---------------------------------------------------------------------------------------------- the AST

@dataclass(frozen=True)
class Compare:
    """``field op value``; ``op`` is one of ``= != < <= > >=``."""

    field: str
    op: str
    value: Scalar


@dataclass(frozen=True)
class In:
    """``field in (values)``, or ``not in`` when ``negate``."""

    field: str
    values: tuple[Scalar, ...]
    negate: bool = False


@dataclass(frozen=True)
class IsNull:
    """``field is null`` (missing or null), or ``is not null`` when ``negate``."""

    field: str
    negate: bool = False


@dataclass(frozen=True)
class Contains:
    """``field contains value``: a substring of a string field, or an element of a list field."""

    field: str
    value: Scalar


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Union[Compare, In, IsNull, Contains, And, Or, Not]  # noqa: UP007 (a runtime alias)
NODE_TYPES = (Compare, In, IsNull, Contains, And, Or, Not)
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def atoms(node: Node) -> Iterator[Compare | In | IsNull | Contains]:
    """The conditions of a filter, left to right."""
    if isinstance(node, And | Or):
        for item in node.items:
            yield from atoms(item)
    elif isinstance(node, Not):
        yield from atoms(node.item)
    else:
        yield node


def fields_of(node: Node | None) -> list[str]:
    """The field names a filter uses, in order of first use."""
    if node is None:
        return []
    return list(dict.fromkeys(a.field for a in atoms(node)))


def _and(items: list[Node]) -> Node:
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, And) else (item,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def _or(items: list[Node]) -> Node:
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, Or) else (item,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


# ---------------------------------------------------------------------------------------------- names

_KEYWORDS = {"and", "or", "not", "in", "is", "null", "contains", "true", "false"}
_IDENT = re.compile(r"[^\W\d][\w\-]*(?:\.[^\W\d][\w\-]*)*\Z")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")


def _check_field(name: Any, text: str | None = None, position: int | None = None) -> str:
    """A field name as a dotted path: non-empty segments without quotes or backslashes, none all digits."""
    if not isinstance(name, str) or not name:
        raise FilterError(f"a field name must be a non-empty string, not {name!r}", text, position)
    for segment in name.split("."):
        if not segment or '"' in segment or "\\" in segment or segment.lstrip("-").isdigit() \
                or segment.startswith("$"):
            raise FilterError(
                f"bad field name {name!r}: a dotted path of keys (meta.lang), each key non-empty, without "
                "quotes or backslashes, not a number and not starting with '$'", text, position)
    return name


def path_of(field: str) -> tuple[str, ...]:
    return tuple(field.split("."))


def _kind(value: Any) -> str | None:
    """The filter kind of a JSON value: number, string, bool, list, object; None for null/missing/NaN."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "number"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else None
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return None


def _scalar(value: Any, where: str, allow_null: bool = False) -> Scalar | None:
    """A filter value: str, int, float (finite) or bool; numpy scalars become Python values."""
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "shape", None) == ():
        value = value.item()
    if value is None:
        if allow_null:
            return None
        raise FilterError(f"{where}: null is not a value here; use 'is null' ({{'$exists': false}})")
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"{where}: {value!r} is not a number a field can hold")
        return float(value)
    raise FilterError(f"{where}: expected a string, a number or true/false, got {type(value).__name__} {value!r}")


# ---------------------------------------------------------------------------------------------- text form

@dataclass(frozen=True)
class _Token:
    kind: str  # op ( ) , string field word end
    value: Any
    pos: int
    raw: str


_SIMPLE = re.compile(r"\s+|==|!=|<>|>=|<=|=|<|>|\(|\)|,|[\w.\-:+/]+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"', "'": "'"}


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'`":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    what = "field name" if ch == "`" else "string"
                    raise FilterError(f"cannot read the filter: this {what} is never closed (expected a {ch})",
                                      text, i, expected=ch)
                c = text[j]
                if c == ch:
                    break
                if c == "\\" and ch != "`":
                    esc = text[j + 1:j + 2]
                    if esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[j + 2:j + 6]):
                        buf.append(chr(int(text[j + 2:j + 6], 16)))
                        j += 6
                        continue
                    if esc not in _ESCAPES:
                        raise FilterError("cannot read the filter: unknown escape in a string (expected one of "
                                          "\\\" \\' \\\\ \\n \\t \\r \\uXXXX)", text, j, expected="an escape")
                    buf.append(_ESCAPES[esc])
                    j += 2
                    continue
                buf.append(c)
                j += 1
            value = "".join(buf)
            if ch != "`" and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
                value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            out.append(_Token("field" if ch == "`" else "string", value, i, text[i:j + 1]))
            i = j + 1
            continue
        m = _SIMPLE.match(text, i)
        if not m:
            raise FilterError(f"cannot read the filter: unexpected character {ch!r}", text, i,
                              expected="a field, a value, an operator or a parenthesis")
        raw = m.group()
        if not raw.isspace():
            if raw in ("(", ")", ","):
                kind = raw
            elif raw[0] in "=!<>":
                kind = "op"
            else:
                kind = "word"
            out.append(_Token(kind, raw, i, raw))
        i = m.end()
    out.append(_Token("end", None, n, ""))
    return out


def _describe(tok: _Token) -> str:
    if tok.kind == "end":
        return "the end of the filter"
    if tok.kind == "string":
        return f"the string {tok.raw}"
    return f"{tok.raw!r}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.toks[self.i]

    def next(self) -> _Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.value.lower() == word

    def fail(self, tok: _Token, expected: str, after: str | None = None) -> FilterError:
        where = f" after {after}" if after else ""
        return FilterError(f"cannot read the filter at column {tok.pos + 1}: expected {expected}{where}, "
                           f"found {_describe(tok)}", self.text, tok.pos, expected=expected)

    def parse(self) -> Node | None:
        if self.peek().kind == "end":
            return None
        node = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            what = "'and', 'or' or the end of the filter"
            if tok.kind == ")":
                what = "'and', 'or' or the end of the filter (this ')' closes nothing)"
            raise self.fail(tok, what)
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.keyword("or"):
            self.next()
            items.append(self.and_("'or'"))
        return _or(items)

    def and_(self, after: str | None = None) -> Node:
        items = [self.unary(after)]
        while self.keyword("and"):
            self.next()
            items.append(self.unary("'and'"))
        return _and(items)

    def unary(self, after: str | None = None) -> Node:
        if self.keyword("not"):
            self.next()
            return Not(self.unary("'not'"))
        return self.primary(after)

    def primary(self, after: str | None) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.next()
            node = self.or_()
            close = self.peek()
            if close.kind != ")":
                raise self.fail(close, f"')' (to close the '(' at column {tok.pos + 1}) or 'and', 'or'")
            self.next()
            return node
        if tok.kind == "field" or (tok.kind == "word" and tok.value.lower() not in _KEYWORDS
                                   and _IDENT.match(tok.value)):
            self.next()
            field = _check_field(tok.value, self.text, tok.pos)
            return self.condition(field, tok)
        raise self.fail(tok, "a condition (a field name, 'not' or '(')", after)

    def condition(self, field: str, field_tok: _Token) -> Node:
        tok = self.next()
        shown = f"the field {field_tok.raw}"
        if tok.kind == "op":
            op = {"==": "=", "<>": "!="}.get(tok.value, tok.value)
            value_tok = self.peek()
            value = self.value(f"'{tok.value}'")
            if value is None:
                if op in ("=", "!="):
                    return IsNull(field, negate=op == "!=")
                raise FilterError(f"cannot read the filter at column {value_tok.pos + 1}: null has no order; "
                                  "use 'is null' or 'is not null'", self.text, value_tok.pos)
            if op in _ORDER_OPS and isinstance(value, bool):
                raise FilterError(f"cannot read the filter at column {value_tok.pos + 1}: {op} needs a number or "
                                  "a string; true and false have no order", self.text, value_tok.pos)
            return Compare(field, op, value)
        if tok.kind == "word":
            word = tok.value.lower()
            if word == "is":
                negate = self.keyword("not")
                if negate:
                    self.next()
                null = self.peek()
                if not self.keyword("null"):
                    raise self.fail(null, "'null'", "'is not'" if negate else "'is'")
                self.next()
                return IsNull(field, negate)
            negate = word == "not"
            if negate:
                tok = self.next()
                word = tok.value.lower() if tok.kind == "word" else ""
                if word not in ("in", "contains"):
                    raise self.fail(tok, "'in' or 'contains'", f"{shown} not")
            if word == "in":
                return In(field, self.values(), negate)
            if word == "contains":
                value_tok = self.peek()
                value = self.value("'contains'")
                if value is None:
                    raise FilterError(f"cannot read the filter at column {value_tok.pos + 1}: contains needs a "
                                      "value, not null", self.text, value_tok.pos)
                node: Node = Contains(field, value)
                return Not(node) if negate else node
        raise self.fail(tok, "an operator (= != < <= > >= in, not in, is null, contains)", shown)

    def value(self, after: str) -> Scalar | None:
        tok = self.next()
        if tok.kind == "string":
            return tok.value
        if tok.kind == "word":
            word = tok.value
            low = word.lower()
            if low in ("true", "false"):
                return low == "true"
            if low == "null":
                return None
            if _NUMBER.match(word):
                number: int | float = float(word) if any(c in word for c in ".eE") else int(word)
                if isinstance(number, float) and not math.isfinite(number):
                    raise FilterError(f"cannot read the filter at column {tok.pos + 1}: the number {word} is out "
                                      "of range", self.text, tok.pos, expected="a finite number")
                return number
            if low not in _KEYWORDS and (word[0].isalnum() or word[0] == "_"):
                return word  # a bare word is a string: genre = drama
        raise self.fail(tok, "a value (a number, a quoted string, true, false or a word)", after)

    def values(self) -> tuple[Scalar, ...]:
        tok = self.next()
        if tok.kind != "(":
            raise self.fail(tok, "'(' and a list of values", "'in'")
        out: list[Scalar] = []
        if self.peek().kind == ")":
            self.next()
            return ()
        while True:
            value_tok = self.peek()
            value = self.value("'('" if not out else "','")
            if value is None:
                raise FilterError(f"cannot read the filter at column {value_tok.pos + 1}: null cannot be in a "
                                  "list; use 'is null'", self.text, value_tok.pos)
            out.append(value)
            sep = self.next()
            if sep.kind == ")":
                return tuple(out)
            if sep.kind != ",":
                raise self.fail(sep, "',' or ')'", "a value in the list")
            if self.peek().kind == ")":  # a trailing comma
                self.next()
                return tuple(out)


# ---------------------------------------------------------------------------------------------- dict form

_FIELD_OPS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_ALL_FIELD_OPS = sorted([*_FIELD_OPS, "$in", "$nin", "$exists", "$contains", "$not"])


def _from_dict(where: Any, at: str = "where") -> Node | None:
    if not isinstance(where, dict):
        raise FilterError(f"{at}: expected a dict of conditions, got {type(where).__name__} {where!r}")
    items: list[Node] = []
    for key, value in where.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list | tuple) or not value:
                raise FilterError(f"{at}.{key}: expected a non-empty list of dicts, got {value!r}")
            parts = [_from_dict(v, f"{at}.{key}[{i}]") for i, v in enumerate(value)]
            if any(p is None for p in parts):
                raise FilterError(f"{at}.{key}: an empty condition {{}} in the list")
            nodes = [p for p in parts if p is not None]
            items.append(_and(nodes) if key == "$and" else _or(nodes))
        elif key == "$not":
            inner = _from_dict(value, f"{at}.$not")
            if inner is None:
                raise FilterError(f"{at}.$not: an empty condition {{}}")
            items.append(Not(inner))
        elif isinstance(key, str) and key.startswith("$"):
            raise FilterError(f"{at}: unknown operator {key!r} at the top level; use $and, $or, $not or a field name")
        else:
            items.extend(_field_conditions(_check_field(key), value, f"{at}.{key}"))
    return _and(items) if items else None


def _field_conditions(field: str, cond: Any, at: str) -> list[Node]:
    if isinstance(cond, dict):
        if not cond:
            raise FilterError(f"{at}: an empty dict of operators; use e.g. {{'$eq': value}}")
        if not all(isinstance(k, str) and k.startswith("$") for k in cond):
            raise FilterError(f"{at}: an object value cannot be compared; filter on its keys "
                              f"({field}.key) or use operators {_ALL_FIELD_OPS}")
        out: list[Node] = []
        for op, value in cond.items():
            where = f"{at}.{op}"
            if op in _FIELD_OPS:
                scalar = _scalar(value, where, allow_null=op in ("$eq", "$ne"))
                if scalar is None:
                    out.append(IsNull(field, negate=op == "$ne"))
                elif op not in ("$eq", "$ne") and isinstance(scalar, bool):
                    raise FilterError(f"{where}: {op} needs a number or a string; true and false have no order")
                else:
                    out.append(Compare(field, _FIELD_OPS[op], scalar))
            elif op in ("$in", "$nin"):
                if isinstance(value, str | bytes | dict) or not hasattr(value, "__iter__"):
                    raise FilterError(f"{where}: expected a list of values, got {value!r}")
                values = tuple(_scalar(v, f"{where}[{i}]") for i, v in enumerate(value))
                out.append(In(field, values, negate=op == "$nin"))  # type: ignore[arg-type]
            elif op == "$exists":
                if not isinstance(value, bool):
                    raise FilterError(f"{where}: expected true or false, got {value!r}")
                out.append(IsNull(field, negate=value))
            elif op == "$contains":
                out.append(Contains(field, _scalar(value, where)))  # type: ignore[arg-type]
            elif op == "$not":
                inner = _field_conditions(field, value, where)
                out.append(Not(_and(inner)))
            else:
                raise FilterError(f"{at}: unknown operator {op!r}; use one of {_ALL_FIELD_OPS}")
        return out
    if isinstance(cond, list | tuple | set):
        raise FilterError(f"{at}: a list cannot be compared; use {{'$in': [...]}} or {{'$contains': value}}")
    value = _scalar(cond, at, allow_null=True)
    return [IsNull(field) if value is None else Compare(field, "=", value)]


@functools.lru_cache(maxsize=1024)
def _parse_text(text: str) -> Node | None:
    """Parsed once per distinct text (the nodes are immutable): a repeated filter costs a dict lookup."""
    return _Parser(text).parse()


def parse(where: str | dict[str, Any] | Node | None) -> Node | None:
    """A ``where`` filter (text, dict or an AST) as an AST; None for no filter (None, "", blanks, {})."""
    if where is None or isinstance(where, NODE_TYPES):
        return where
    if isinstance(where, str):
        return _parse_text(where)
    if isinstance(where, dict):
        return _from_dict(where)
    raise FilterError(f"a filter is a text, a dict or None, not {type(where).__name__} {where!r}")


def all_of(*wheres: str | dict[str, Any] | Node | None) -> Node | None:
    """Filters of any form ANDed into one (``--modality image`` with ``--where``); None when all are empty."""
    nodes = [node for node in (parse(w) for w in wheres) if node is not None]
    return _and(nodes) if nodes else None


# ---------------------------------------------------------------------------------------------- back to text

def _text_value(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _text_field(field: str) -> str:
    if _IDENT.match(field) and not any(s.lower() in _KEYWORDS for s in field.split(".")):
        return field
    return f"`{field}`"


def to_text(node: Node | None) -> str:
    """The text form of a filter; ``parse(to_text(node)) == node``."""
    if node is None:
        return ""
    if isinstance(node, Compare):
        return f"{_text_field(node.field)} {node.op} {_text_value(node.value)}"
    if isinstance(node, In):
        return (f"{_text_field(node.field)} {'not in' if node.negate else 'in'} "
                f"({', '.join(_text_value(v) for v in node.values)})")
    if isinstance(node, IsNull):
        return f"{_text_field(node.field)} is {'not ' if node.negate else ''}null"
    if isinstance(node, Contains):
        return f"{_text_field(node.field)} contains {_text_value(node.value)}"
    if isinstance(node, Not):
        return f"not ({to_text(node.item)})"
    joiner = " and " if isinstance(node, And) else " or "
    return joiner.join(f"({to_text(i)})" for i in node.items)


# ---------------------------------------------------------------------------------------------- the field catalog

KINDS = ("number", "string", "bool", "list", "object", "null")
_KIND_WORDS = {"number": "numbers", "string": "strings", "bool": "booleans (true/false)", "list": "lists",
               "object": "objects"}


def walk_fields(fields: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """``(dotted name, kind, value)`` for every field and every key of a nested object; kind null for null/NaN.

    A key that itself holds a dot is left out: ``a.b`` always means the key ``b`` of the object in ``a``.
    """
    for key, value in fields.items():
        if "." in key:
            continue
        name = f"{prefix}{key}"
        kind = _kind(value) or "null"
        yield name, kind, value
        if kind == "object":
            yield from walk_fields(value, f"{name}.")


class FieldCatalog:
    """Field name -> how many items hold a value of each kind; what :func:`check` holds a filter against.

    A store keeps one, updated as items are written and deleted, and saves it with :meth:`to_json`.
    """

    def __init__(self, counts: dict[str, dict[str, int]] | None = None) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        for name, kinds in (counts or {}).items():
            kept = {k: int(c) for k, c in kinds.items() if int(c) > 0}
            if kept:
                self.counts[name] = kept

    def add(self, fields: dict[str, Any]) -> None:
        for name, kind, _ in walk_fields(fields):
            kinds = self.counts.setdefault(name, {})
            kinds[kind] = kinds.get(kind, 0) + 1

    def remove(self, fields: dict[str, Any]) -> None:
        for name, kind, _ in walk_fields(fields):
            kinds = self.counts.get(name)
            if kinds is None or kind not in kinds:
                continue
            kinds[kind] -= 1
            if kinds[kind] <= 0:
                del kinds[kind]
            if not kinds:
                del self.counts[name]

    def kinds(self, field: str) -> set[str]:
        """The kinds (not null) that some item holds in ``field``."""
        return {k for k in self.counts.get(field, {}) if k != "null"}

    def names(self) -> list[str]:
        return sorted(self.counts)

    def __contains__(self, field: object) -> bool:
        return field in self.counts

    def __len__(self) -> int:
        return len(self.counts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldCatalog) and self.counts == other.counts

    def __repr__(self) -> str:
        return f"FieldCatalog({self.counts!r})"

    def to_json(self) -> dict[str, dict[str, int]]:
        return {name: dict(sorted(kinds.items())) for name, kinds in sorted(self.counts.items())}

    @classmethod
    def from_json(cls, data: dict[str, dict[str, int]]) -> FieldCatalog:
        return cls(data)

    def merge(self, *others: FieldCatalog) -> FieldCatalog:
        """A new catalog counting the items of this one and the others (the shards of a sharded store)."""
        out = FieldCatalog(self.counts)
        for other in others:
            for name, kinds in other.counts.items():
                mine = out.counts.setdefault(name, {})
                for kind, count in kinds.items():
                    mine[kind] = mine.get(kind, 0) + count
        return out


def _unknown_field(field: str, catalog: FieldCatalog) -> FilterError:
    names = catalog.names()
    close = difflib.get_close_matches(field, names, n=3, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[m] for m in difflib.get_close_matches(field.lower(), list(lowered), n=3, cutoff=0.6)]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return FilterError(f"no item has the field {field!r}{hint} (known fields: {shown})")


def _kind_error(atom: Compare | In | Contains, value: Scalar, held: set[str], catalog: FieldCatalog) -> FilterError:
    field = atom.field
    what = " and ".join(_KIND_WORDS[k] for k in sorted(held))
    vk = _kind(value)
    if isinstance(atom, Contains):
        need = "a text or a list field" if vk == "string" else "a list field"
        return FilterError(f"{field} contains {_text_value(value)}: contains needs {need}, and {field!r} holds {what}")
    if held == {"list"}:
        return FilterError(f"{field!r} holds lists, which never equal a single value; write "
                           f"'{_text_field(field)} contains {_text_value(value)}'")
    if held == {"object"}:
        keys = [n for n in catalog.names() if n.startswith(field + ".")][:5]
        return FilterError(f"{field!r} holds objects; filter on their keys ({', '.join(keys) or field + '.key'})")
    hint = ""
    if vk == "string" and "number" in held and isinstance(value, str) and _NUMBER.match(value.strip()):
        hint = f"; write the number without quotes: {value.strip()}"
    if vk == "number" and "string" in held:
        hint = f"; to compare with text, quote it: \"{_text_value(value)}\""
    kind_word = {"number": "a number", "string": "a string", "bool": "a boolean"}[vk or "string"]
    return FilterError(f"the field {field!r} holds {what}, and the filter compares it with {kind_word} "
                       f"({_text_value(value)}); that can never match{hint}")


def check(node: Node | None, catalog: FieldCatalog) -> None:
    """Raise :class:`FilterError` for a filter that cannot mean anything here.

    A field no item has (with the closest known names), or a comparison of a field with a value of a kind
    it never holds (a number field with a string, a list field with ``=``). An empty catalog (a collection
    with no items) accepts everything: there is nothing to compare, and the search finds nothing.
    """
    if node is None or len(catalog) == 0:
        return
    for atom in atoms(node):
        if atom.field not in catalog:
            raise _unknown_field(atom.field, catalog)
        held = catalog.kinds(atom.field)
        if isinstance(atom, IsNull) or not held:
            continue
        if isinstance(atom, Contains):
            ok = ("list" in held) or (isinstance(atom.value, str) and "string" in held)
            if not ok:
                raise _kind_error(atom, atom.value, held, catalog)
            continue
        values = atom.values if isinstance(atom, In) else (atom.value,)
        for value in values:
            if _kind(value) not in held:
                raise _kind_error(atom, value, held, catalog)


# ---------------------------------------------------------------------------------------------- reference meaning

def lookup(fields: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path; None when missing, null or a non-finite number."""
    cur: Any = fields
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    if isinstance(cur, float) and not math.isfinite(cur):
        return None
    return cur


def equal(a: Any, b: Scalar) -> bool:
    """Typed equality: same kind and equal (``5 == 5.0``; ``True != 1``; ``"5" != 5``)."""
    ka = _kind(a)
    return ka is not None and ka == _kind(b) and a == b


def _match_atom(atom: Compare | In | IsNull | Contains, fields: dict[str, Any]) -> bool:
    value = lookup(fields, path_of(atom.field))
    if isinstance(atom, IsNull):
        return (value is None) != atom.negate
    if isinstance(atom, Compare):
        if atom.op == "=":
            return equal(value, atom.value)
        if atom.op == "!=":
            return not equal(value, atom.value)
        kind = _kind(value)
        return kind in ("number", "string") and kind == _kind(atom.value) and _ORDER_OPS[atom.op](value, atom.value)
    if isinstance(atom, In):
        return any(equal(value, v) for v in atom.values) != atom.negate
    if isinstance(value, str):
        return isinstance(atom.value, str) and atom.value in value
    if isinstance(value, list):
        return any(equal(element, atom.value) for element in value)
    return False


def matches(node: Node | None, fields: dict[str, Any]) -> bool:
    """Whether an item's fields pass the filter: the reference meaning every backend reproduces."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(matches(i, fields) for i in node.items)
    if isinstance(node, Or):
        return any(matches(i, fields) for i in node.items)
    if isinstance(node, Not):
        return not matches(node.item, fields)
    return _match_atom(node, fields)


# ---------------------------------------------------------------------------------------------- SQLite

_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?\Z")
_BAD_TOKENS = ("-Infinity", "Infinity", "NaN")
_BEFORE = (": ", ":", ", ", ",", "[", "[ ")
_INT64 = (-(2**63), 2**63 - 1)


def _sql_column(column: str) -> str:
    if not _COLUMN.match(column):
        raise ValueError(f"bad column name {column!r}")
    return column


def _repaired(column: str) -> str:
    """SQL for the JSON text of ``column`` with bare NaN/Infinity tokens (Python's json.dumps) as null."""
    expr = column
    for token in _BAD_TOKENS:
        for before in _BEFORE:
            expr = f"replace({expr}, '{before}{token}', '{before}null')"
    return expr


def sqlite_document(column: str = "fields") -> str:
    """SQL for a row's JSON that json_extract can always read: the text itself, or its repaired copy."""
    column = _sql_column(column)
    fixed = _repaired(column)
    return f"(CASE WHEN json_valid({column}) THEN {column} WHEN json_valid({fixed}) THEN {fixed} ELSE '{{}}' END)"


def _sqlite_path(field: str) -> str:
    return "$" + "".join(f'."{key}"' for key in path_of(field))


def as_float(value: int | float) -> float:
    """A number as a float; an integer too large for one becomes +-inf, which orders it the same way."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _sql_number(value: int | float) -> int | float:
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        return as_float(value)
    return value


class _SqlCompiler:
    """The logic every SQL dialect shares: and/or/not, null tests, != as not =, not in as not in. A dialect
    says how to read a field's JSON type and how to compare, test membership and containment."""

    params: list[Any]

    def compile(self, node: Node) -> str:
        if isinstance(node, And | Or):
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self.compile(i) for i in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.item)})"
        if isinstance(node, IsNull):
            return f"({self.type_of(node.field)} {'NOT ' if node.negate else ''}IN ('', 'null'))"
        if isinstance(node, Compare):
            if node.op == "!=":
                return f"(NOT {self.compile(Compare(node.field, '=', node.value))})"
            return self.equal_or_order(node.field, node.op, node.value)
        if isinstance(node, In):
            sql = self.in_(node)
            return f"(NOT {sql})" if node.negate else sql
        return self.contains(node)

    def type_of(self, field: str) -> str:
        raise NotImplementedError

    def equal_or_order(self, field: str, op: str, value: Scalar) -> str:
        raise NotImplementedError

    def in_(self, node: In) -> str:
        raise NotImplementedError

    def contains(self, node: Contains) -> str:
        raise NotImplementedError


class _SqliteCompiler(_SqlCompiler):
    def __init__(self, column: str) -> None:
        self.doc = sqlite_document(column)
        self.params: list[Any] = []

    def type_of(self, field: str) -> str:
        self.params.append(_sqlite_path(field))
        return f"coalesce(json_type({self.doc}, ?), '')"

    def value_of(self, field: str) -> str:
        self.params.append(_sqlite_path(field))
        return f"json_extract({self.doc}, ?)"

    def typed(self, field: str, kind: str, test: Callable[[str], str]) -> str:
        """``CASE WHEN <field is kind> THEN test(<value>) ELSE 0 END``."""
        if kind == "bool":
            return test(self.type_of(field))
        types = {"number": "IN ('integer', 'real')", "string": "= 'text'"}[kind]
        type_sql = self.type_of(field)
        value_sql = self.value_of(field)
        return f"(CASE WHEN {type_sql} {types} THEN {test(value_sql)} ELSE 0 END)"

    def bind(self, value: Any) -> str:
        self.params.append(_sql_number(value) if isinstance(value, int | float) and not isinstance(value, bool)
                           else value)
        return "?"

    def equal_or_order(self, field: str, op: str, value: Scalar) -> str:
        if isinstance(value, bool):
            return f"({self.type_of(field)} = '{'true' if value else 'false'}')"
        kind = "string" if isinstance(value, str) else "number"
        return self.typed(field, kind, lambda v: f"{v} {op} {self.bind(value)}")

    def in_(self, node: In) -> str:
        numbers = [v for v in node.values if _kind(v) == "number"]  # JSON text: SQLite reads big ones as REAL
        strings = [v for v in node.values if isinstance(v, str)]
        bools = sorted({"true" if v else "false" for v in node.values if isinstance(v, bool)})
        parts = []
        for kind, values in (("number", numbers), ("string", strings)):
            if values:
                listed = json.dumps(values, ensure_ascii=False)
                def test(v: str, listed: str = listed) -> str:
                    return f"{v} IN (SELECT value FROM json_each({self.bind(listed)}))"

                parts.append(self.typed(node.field, kind, test))
        if bools:
            parts.append(f"({self.type_of(node.field)} IN ({', '.join(repr(b) for b in bools)}))")
        return "(" + " OR ".join(parts) + ")" if parts else "0"

    def contains(self, node: Contains) -> str:
        value = node.value
        type_sql = self.type_of(node.field)
        self.params.append(_sqlite_path(node.field))
        elements = f"json_each({self.doc}, ?)"
        if isinstance(value, bool):
            element_test = f"type = '{'true' if value else 'false'}'"
        elif isinstance(value, str):
            element_test = f"type = 'text' AND value = {self.bind(value)}"
        else:
            element_test = f"type IN ('integer', 'real') AND value = {self.bind(_sql_number(value))}"
        in_list = f"EXISTS (SELECT 1 FROM {elements} WHERE {element_test})"
        if isinstance(value, str):
            substring = f"instr({self.value_of(node.field)}, {self.bind(value)}) > 0"
            return f"(CASE {type_sql} WHEN 'array' THEN {in_list} WHEN 'text' THEN {substring} ELSE 0 END)"
        return f"(CASE {type_sql} WHEN 'array' THEN {in_list} ELSE 0 END)"


def to_sqlite(node: Node | str | dict[str, Any] | None, column: str = "fields") -> tuple[str, list[Any]]:
    """A SQL condition over a JSON TEXT column (json_extract) and its ``?`` parameters; ``"1"`` for no filter.

    Every condition is two-valued (never SQL NULL), so ``NOT`` means exactly "does not pass"; an ``in`` list
    is one JSON parameter read by json_each, so a list of any length needs one variable.
    """
    node = parse(node)
    if node is None:
        return "1", []
    compiler = _SqliteCompiler(column)
    return compiler.compile(node), compiler.params


# ---------------------------------------------------------------------------------------------- PostgreSQL

class _PostgresCompiler(_SqlCompiler):
    def __init__(self, column: str) -> None:
        self.column = _sql_column(column)
        self.params: list[Any] = []

    def json_of(self, field: str) -> str:
        self.params.append(list(path_of(field)))
        return f"({self.column} #> %s::text[])"

    def text_of(self, field: str) -> str:
        self.params.append(list(path_of(field)))
        return f"({self.column} #>> %s::text[])"

    def type_of(self, field: str) -> str:
        return f"coalesce(jsonb_typeof({self.json_of(field)}), '')"

    def bind(self, value: Any, cast: str) -> str:
        self.params.append(value)
        return f"%s::{cast}"

    def equal_or_order(self, field: str, op: str, value: Scalar) -> str:
        if isinstance(value, bool):
            return f"(({self.json_of(field)} = '{'true' if value else 'false'}'::jsonb) IS TRUE)"
        type_sql = self.type_of(field)
        if isinstance(value, str):
            test = f"{self.text_of(field)} COLLATE \"C\" {op} {self.bind(value, 'text')} COLLATE \"C\""
            return f"(CASE WHEN {type_sql} = 'string' THEN {test} ELSE FALSE END)"
        if isinstance(value, int):
            test = f"{self.json_of(field)}::numeric {op} {self.bind(value, 'numeric')}"
        else:
            test = f"{self.json_of(field)}::float8 {op} {self.bind(value, 'float8')}"
        return f"(CASE WHEN {type_sql} = 'number' THEN {test} ELSE FALSE END)"

    def in_(self, node: In) -> str:
        ints = [v for v in node.values if isinstance(v, int) and not isinstance(v, bool)]
        floats = [v for v in node.values if isinstance(v, float)]
        strings = [v for v in node.values if isinstance(v, str)]
        bools = sorted({"true" if v else "false" for v in node.values if isinstance(v, bool)})
        parts = []
        if ints or floats:
            type_sql = self.type_of(node.field)
            tests = []
            if ints:
                tests.append(f"{self.json_of(node.field)}::numeric = ANY({self.bind(ints, 'numeric[]')})")
            if floats:
                tests.append(f"{self.json_of(node.field)}::float8 = ANY({self.bind(floats, 'float8[]')})")
            parts.append(f"(CASE WHEN {type_sql} = 'number' THEN {' OR '.join(tests)} ELSE FALSE END)")
        if strings:
            parts.append(f"(CASE WHEN {self.type_of(node.field)} = 'string' THEN "
                         f"{self.text_of(node.field)} = ANY({self.bind(strings, 'text[]')}) ELSE FALSE END)")
        if bools:
            parts.append(f"({self.type_of(node.field)} = 'boolean' AND "
                         f"{self.text_of(node.field)} IN ({', '.join(repr(b) for b in bools)}))")
        return "(" + " OR ".join(parts) + ")" if parts else "FALSE"

    def contains(self, node: Contains) -> str:
        from psycopg.types.json import Jsonb

        value = node.value
        type_sql = self.type_of(node.field)
        in_list = f"{self.json_of(node.field)} @> {self.bind(Jsonb([value]), 'jsonb')}"
        if isinstance(value, str):
            substring = f"strpos({self.text_of(node.field)}, {self.bind(value, 'text')}) > 0"
            return f"(CASE {type_sql} WHEN 'array' THEN {in_list} WHEN 'string' THEN {substring} ELSE FALSE END)"
        return f"(CASE WHEN {type_sql} = 'array' THEN {in_list} ELSE FALSE END)"


def to_postgres(node: Node | str | dict[str, Any] | None, column: str = "fields") -> tuple[str, list[Any]]:
    """A SQL condition over a JSONB column and its psycopg ``%s`` parameters; ``"TRUE"`` for no filter."""
    node = parse(node)
    if node is None:
        return "TRUE", []
    compiler = _PostgresCompiler(column)
    return compiler.compile(node), compiler.params


__all__ = ["FilterError", "Compare", "In", "IsNull", "Contains", "And", "Or", "Not", "Node", "parse", "all_of",
           "to_text", "FieldCatalog", "check", "matches", "to_sqlite", "to_postgres", "fields_of", "atoms", "lookup",
           "sqlite_document", "walk_fields", "as_float", "equal"]
