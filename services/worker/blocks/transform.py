"""`transform`: the JMESPath `expression` evaluated over the run's context."""

from __future__ import annotations

from typing import Any

from contracts.definitions import TransformConfig
from contracts.expressions import ExpressionError, evaluate
from services.worker.blocks.base import BlockContext, BlockError


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    transform = TransformConfig.model_validate(config)
    try:
        return evaluate(transform.expression, ctx.context or {})
    except ExpressionError as exc:
        raise BlockError("EXPRESSION_ERROR", str(exc), retryable=False) from exc
