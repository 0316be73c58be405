"""One module per block type a worker executes; this registry maps type -> executor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.worker.blocks import set as set_block
from services.worker.blocks import transform
from services.worker.blocks.base import BlockContext, BlockError

Executor = Callable[[dict[str, Any], BlockContext], Awaitable[Any]]

EXECUTORS: dict[str, Executor] = {
    "set": set_block.execute,
    "transform": transform.execute,
}

__all__ = ["EXECUTORS", "BlockContext", "BlockError", "Executor"]
