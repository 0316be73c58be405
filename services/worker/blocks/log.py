"""`log`: writes its message (its `${…}` resolved when scheduled) to the block's log lines."""

from __future__ import annotations

from typing import Any

from contracts.blocks.basic import LogConfig
from services.worker.blocks.base import BlockContext, parse_config


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    log = parse_config(LogConfig, config)
    ctx.log(log.message)
    return {"level": log.level, "message": log.message}
