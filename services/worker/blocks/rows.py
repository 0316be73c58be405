"""What the data.* executors share: reading rows, and comparing and matching cell values.

Rows are lists of JSON objects. A value that is not such a list fails the block with
INVALID_ROWS (not retried: the same input gives the same rows).
"""

from __future__ import annotations

import json
from typing import Any

from services.worker.blocks.base import INVALID_CONFIG, BlockContext, BlockError

INVALID_ROWS = "INVALID_ROWS"

Row = dict[str, Any]


def check_rows(value: Any, what: str) -> list[Row]:
    """`value` if it is a list of objects; else the block fails naming `what` gave it."""
    if not isinstance(value, list):
        kind = "null" if value is None else type(value).__name__
        raise BlockError(INVALID_ROWS, f"{what} gave {kind}, not a list of objects", False)
    for index, row in enumerate(value):
        if not isinstance(row, dict):
            message = f"{what}: row {index} is {type(row).__name__}, not an object"
            raise BlockError(INVALID_ROWS, message, False)
    return value


def input_rows(rows: str | None, ctx: BlockContext) -> list[Row]:
    """The rows a data block works on: the JMESPath `rows` over the run's context.

    When the definition leaves `rows` out, the command side writes in the output of the
    block's only need; still null means the block has no or several needs.
    """
    if rows is None:
        message = "no rows: give `rows`, or let the block have exactly one need"
        raise BlockError(INVALID_CONFIG, message, retryable=False)
    return check_rows(ctx.evaluate(rows), f"rows {rows!r}")


def match_key(value: Any) -> Any:
    """A hashable key under which equal JSON values meet: 1 and 1.0 do, 1 and true do not."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    return ("json", json.dumps(value, sort_keys=True, separators=(",", ":")))


def sort_key(value: Any, column: str) -> Any:
    """An orderable key for a non-null cell; numbers and strings order among their own kind."""
    if isinstance(value, bool):
        return (0, value)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    message = f"column {column!r}: cannot order {type(value).__name__} values"
    raise BlockError(INVALID_ROWS, message, retryable=False)


def check_comparable(kinds: set[int], column: str) -> None:
    if len(kinds) > 1:
        message = f"column {column!r} mixes numbers, strings and booleans: cannot order them"
        raise BlockError(INVALID_ROWS, message, retryable=False)
