"""`data.join`: joins the rows of `left` and `right` where all `on` columns are equal.

As in SQL: `inner` keeps the matched pairs; `left`, `right` and `outer` also keep the
unmatched rows of that side (of both for `outer`), with null in the columns only the other
side has. A row with a null or missing `on` value matches nothing. A matched pair is one
object: the left row's columns, then the right row's, its value winning a shared column.
Order: the left rows in order, each with its matches in right order; then, for `right` and
`outer`, the unmatched right rows in order. Values are equal as JSON (1 and 1.0 match).
"""

from __future__ import annotations

from typing import Any

from contracts.blocks.data import DataJoinConfig
from services.worker.blocks.base import BlockContext, parse_config
from services.worker.blocks.rows import Row, check_rows, match_key


def _columns(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(column for row in rows for column in row))


def _key(row: Row, on: list[str]) -> tuple[Any, ...] | None:
    if any(row.get(column) is None for column in on):
        return None
    return tuple(match_key(row[column]) for column in on)


def join_rows(left: list[Row], right: list[Row], on: list[str], how: str) -> list[Row]:
    by_key: dict[tuple[Any, ...], list[int]] = {}
    for index, row in enumerate(right):
        key = _key(row, on)
        if key is not None:
            by_key.setdefault(key, []).append(index)
    left_blank = dict.fromkeys(_columns(left))
    right_columns = _columns(right)
    matched_right: set[int] = set()
    result: list[Row] = []
    for row in left:
        key = _key(row, on)
        matches = by_key.get(key, []) if key is not None else []
        for index in matches:
            matched_right.add(index)
            result.append({**row, **right[index]})
        if not matches and how in ("left", "outer"):
            result.append({**row, **{c: None for c in right_columns if c not in row}})
    if how in ("right", "outer"):
        for index, row in enumerate(right):
            if index not in matched_right:
                result.append({**left_blank, **row})
    return result


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    data = parse_config(DataJoinConfig, config)
    left = check_rows(ctx.evaluate(data.left), f"left {data.left!r}")
    right = check_rows(ctx.evaluate(data.right), f"right {data.right!r}")
    return join_rows(left, right, data.on, data.how)
