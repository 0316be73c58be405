"""`data.aggregate`: one row per group of equal `group_by` values, with its `aggregates`.

As in SQL: groups come out in the order they first appear; with no `group_by` the whole
input is one group, so even no rows give one row (`count` 0, the others null). `count`
without a field counts rows, with one the rows where it is not null; `sum`, `avg`, `min`
and `max` skip nulls and are null when nothing is left; `first` and `last` take the field
of the group's first and last row as it is. `sum` and `avg` need numbers; `min` and `max`
need values of one kind (numbers, strings or booleans); anything else is INVALID_ROWS.
"""

from __future__ import annotations

from typing import Any

from contracts.blocks.data import Aggregate, DataAggregateConfig
from services.worker.blocks.base import BlockContext, BlockError, parse_config
from services.worker.blocks.rows import (
    INVALID_ROWS,
    Row,
    check_comparable,
    input_rows,
    match_key,
    sort_key,
)


def aggregate_rows(
    rows: list[Row], group_by: list[str], aggregates: dict[str, Aggregate]
) -> list[Row]:
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        key = tuple(match_key(row.get(column)) for column in group_by)
        groups.setdefault(key, []).append(row)
    if not group_by and not groups:
        groups[()] = []
    result = []
    for members in groups.values():
        out = {column: members[0].get(column) for column in group_by}
        for name, spec in aggregates.items():
            out[name] = _apply(spec, members)
        result.append(out)
    return result


def _apply(spec: Aggregate, rows: list[Row]) -> Any:
    if spec.op == "count":
        if spec.field is None:
            return len(rows)
        return sum(1 for row in rows if row.get(spec.field) is not None)
    assert spec.field is not None  # the config model asks for a field but for count
    if spec.op == "first":
        return rows[0].get(spec.field) if rows else None
    if spec.op == "last":
        return rows[-1].get(spec.field) if rows else None
    values = [row[spec.field] for row in rows if row.get(spec.field) is not None]
    if not values:
        return None
    if spec.op in ("sum", "avg"):
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int | float):
                message = f"{spec.op} of {spec.field!r}: {value!r} is not a number"
                raise BlockError(INVALID_ROWS, message, retryable=False)
        total = sum(values)
        return total if spec.op == "sum" else total / len(values)
    keys = [sort_key(value, spec.field) for value in values]
    check_comparable({kind for kind, _ in keys}, spec.field)
    pick = min if spec.op == "min" else max
    return values[keys.index(pick(keys))]


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    data = parse_config(DataAggregateConfig, config)
    return aggregate_rows(input_rows(data.rows, ctx), data.group_by, data.aggregates)
