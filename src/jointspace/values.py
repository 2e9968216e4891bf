"""Field values and ids that cannot break a collection: cleaned once, at write time.

A single ``NaN`` written as JSON text makes SQLite's ``json_extract`` fail on that row for every later
filter, and ``--json`` output with ``NaN`` in it is not JSON; a numpy integer written with
``default=str`` becomes the string ``"5"``. So every field value goes through :func:`clean_fields`
before it is stored:

- ``NaN``, ``inf`` and ``-inf`` become ``None`` (JSON null), with a note naming the field;
- numpy and pandas scalars become the Python value (``np.int64(5)`` -> ``5``, ``np.bool_`` -> ``bool``);
- ``pd.NA``, ``pd.NaT`` and ``None`` become ``None``;
- ``datetime``, ``date``, ``time``, ``pd.Timestamp`` and ``np.datetime64`` become ISO 8601 strings;
- lists, tuples, sets, numpy arrays and dicts are cleaned element by element (dict keys become strings);
- anything else that JSON cannot hold becomes ``str(value)``, with a note.

:func:`dumps` then writes strict JSON (``allow_nan=False``): it cannot produce ``NaN``.

Ids are strings or integers. An integer id (Python or numpy) is stored as its decimal string, so ``1``
and ``"1"`` are the same item, as documented. Any other type is an :class:`ItemError`, never a silent
``"True"`` or ``"[1, 2]"``. This module sits below everything else: it imports only the errors.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

from jointspace.errors import ItemError

_SCALARS = (str, int, float, bool, type(None))


def _is_missing_scalar(value: Any) -> bool:
    """``pd.NA``, ``pd.NaT``, ``np.datetime64('NaT')`` (checked by type name, without importing pandas)."""
    name = type(value).__name__
    if name in ("NAType", "NaTType"):
        return True
    if name in ("datetime64", "timedelta64"):
        return str(value) == "NaT"
    return False


def _clean(value: Any, where: str, notes: list[str]) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return int(value)  # an int subclass (IntEnum...) as a plain int
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        notes.append(f"field {where!r}: {value!r} is not a JSON number; stored as null")
        return None
    if _is_missing_scalar(value):
        return None
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):  # pd.Timestamp is a datetime
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _clean(v, f"{where}.{k}", notes) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_clean(v, f"{where}[{i}]", notes) for i, v in enumerate(items)]
    module = type(value).__module__ or ""
    if module.startswith("numpy"):
        import numpy as np

        if isinstance(value, np.ndarray):
            return [_clean(v, f"{where}[{i}]", notes) for i, v in enumerate(value.tolist())]
        if isinstance(value, np.datetime64):
            return str(np.datetime_as_string(value))
        if isinstance(value, np.timedelta64):
            notes.append(f"field {where!r}: a numpy timedelta stored as the text {str(value)!r}")
            return str(value)
        if isinstance(value, np.generic):
            return _clean(value.item(), where, notes)
    if module.startswith("pandas"):
        if hasattr(value, "isoformat"):
            return value.isoformat()  # pd.Timedelta
        if hasattr(value, "tolist"):  # a Series or an Index
            return _clean(value.tolist(), where, notes)
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "shape", None) == ():
        return _clean(value.item(), where, notes)  # a 0-d tensor of another array library
    text = str(value)
    notes.append(f"field {where!r}: a {type(value).__name__} is not JSON; stored as the text {text[:40]!r}")
    return text


def clean_fields(fields: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Fields made JSON-safe, and one note per value that had to change meaning (NaN -> null, ...)."""
    notes: list[str] = []
    out = {str(k): _clean(v, str(k), notes) for k, v in fields.items()}
    return out, notes


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``obj`` (cleaned first): never ``NaN`` or ``Infinity``, whatever ``obj`` holds."""
    cleaned = _clean(obj, "value", [])
    return json.dumps(cleaned, allow_nan=False, ensure_ascii=kwargs.pop("ensure_ascii", False), **kwargs)


def normalise_id(value: Any) -> str:
    """An item id as stored: a non-empty string as given, an integer (Python or numpy) as its decimal string."""
    if isinstance(value, str):
        if value == "":
            raise ItemError(repr(value), "an empty id; ids are non-empty strings or integers")
        return value
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        raise ItemError(repr(value), "a boolean is not an id; ids are strings or integers")
    if isinstance(value, int):
        return str(int(value))
    module = type(value).__module__ or ""
    if module.startswith("numpy"):
        import numpy as np

        if isinstance(value, np.integer):
            return str(int(value))
    if value is None:
        raise ItemError("None", "a missing id; ids are strings or integers")
    kind = type(value).__name__
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise ItemError(shown, f"a {kind} is not an id; ids are strings or integers")
