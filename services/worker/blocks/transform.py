"""`transform`: the JMESPath `expression` evaluated over the run's context."""

from __future__ import annotations

from typing import Any

from contracts.definitions import TransformConfig
from services.worker.blocks.base import BlockContext, parse_config


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    return ctx.evaluate(parse_config(TransformConfig, config).expression)
