"""`data.filter`: keeps the rows for which `where`, evaluated on the row, is truthy."""

from __future__ import annotations

from typing import Any

from contracts.blocks.data import DataFilterConfig
from services.worker.blocks.base import BlockContext, evaluate_on, parse_config
from services.worker.blocks.rows import input_rows


def truthy(value: Any) -> bool:
    """JMESPath truth: false, null, "", [] and {} are false; everything else (0 too) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    data = parse_config(DataFilterConfig, config)
    return [row for row in input_rows(data.rows, ctx) if truthy(evaluate_on(data.where, row))]
