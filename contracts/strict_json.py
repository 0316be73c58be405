"""Bodies coming in are RFC 8259 JSON: NaN and ±Infinity are refused at the edges.

Python's json module reads `NaN`, `Infinity` and `-Infinity`, and YAML has `.nan` and
`.inf`, but nothing downstream can write them back: the event store's encoder and
pydantic write null. Accepted, a run input of NaN would be stored, published and read back
as null without a word. So the command service (every command, from REST or the bus) and
the query service's body parser refuse them, as malformed JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value (RFC 8259)")


# One decoder: `json.loads` with a keyword argument builds a new one per call (+60 % per
# command on the hot path).
_DECODER = json.JSONDecoder(parse_constant=_refuse)


def loads(raw: bytes | str) -> Any:
    """`json.loads`, refusing NaN, Infinity and -Infinity (a ValueError, as for bad JSON)."""
    if isinstance(raw, bytes):  # As json.loads reads bytes: UTF-8, -16 or -32.
        raw = raw.decode(json.detect_encoding(raw), "surrogatepass")
    return _DECODER.decode(raw)


def refuse_non_finite(value: Any, path: str = "$") -> Any:
    """`value` unchanged (a document YAML parsed, say) if no float in it is NaN or infinite;
    else a ValueError naming where."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} at {path} is not a JSON value (RFC 8259)")
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_non_finite(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_non_finite(item, f"{path}[{index}]")
    return value
