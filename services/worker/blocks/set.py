"""`set`: outputs its `values`; their `${…}` were resolved when the block was scheduled."""

from __future__ import annotations

from typing import Any

from contracts.definitions import SetConfig
from services.worker.blocks.base import BlockContext


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    return SetConfig.model_validate(config).values
