"""`data.source`: outputs rows, the literal `rows` or those the JMESPath `from` gives."""

from __future__ import annotations

from typing import Any

from contracts.blocks.data import DataSourceConfig
from services.worker.blocks.base import BlockContext, parse_config
from services.worker.blocks.rows import check_rows


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    source = parse_config(DataSourceConfig, config)
    if source.rows is not None:
        return source.rows
    assert source.from_ is not None  # the config model asks for exactly one of them
    return check_rows(ctx.evaluate(source.from_), f"from {source.from_!r}")
