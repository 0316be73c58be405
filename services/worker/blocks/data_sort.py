"""`data.sort`: a stable sort of rows by the `by` columns, all ascending or all descending.

Null or missing cells sort last whichever the direction. A column must hold values of one
kind (numbers, strings or booleans) to be ordered; mixing them fails with INVALID_ROWS.
"""

from __future__ import annotations

from typing import Any

from contracts.blocks.data import DataSortConfig
from services.worker.blocks.base import BlockContext, parse_config
from services.worker.blocks.rows import Row, check_comparable, input_rows, sort_key


def sort_rows(rows: list[Row], by: list[str], descending: bool) -> list[Row]:
    ordered = list(rows)
    # Stable sorts from the last column to the first give the lexicographic order.
    for column in reversed(by):
        present = [row for row in ordered if row.get(column) is not None]
        missing = [row for row in ordered if row.get(column) is None]
        keys = {id(row): sort_key(row[column], column) for row in present}
        check_comparable({kind for kind, _ in keys.values()}, column)
        present.sort(key=lambda row: keys[id(row)], reverse=descending)
        ordered = present + missing
    return ordered


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    data = parse_config(DataSortConfig, config)
    return sort_rows(input_rows(data.rows, ctx), data.by, data.descending)
