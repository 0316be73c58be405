"""One module per block type a worker executes; this registry maps type -> executor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.worker.blocks import (
    data_aggregate,
    data_filter,
    data_join,
    data_sort,
    data_source,
    http,
    log,
    transform,
    webhook,
)
from services.worker.blocks import set as set_block
from services.worker.blocks.base import BlockContext, BlockError

Executor = Callable[[dict[str, Any], BlockContext], Awaitable[Any]]

EXECUTORS: dict[str, Executor] = {
    "set": set_block.execute,
    "transform": transform.execute,
    "log": log.execute,
    "http": http.execute,
    "webhook": webhook.execute,
    "data.source": data_source.execute,
    "data.filter": data_filter.execute,
    "data.aggregate": data_aggregate.execute,
    "data.join": data_join.execute,
    "data.sort": data_sort.execute,
}

__all__ = ["EXECUTORS", "BlockContext", "BlockError", "Executor"]
