"""What every executor gets, and the error it raises to fail a block on purpose."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from contracts.expressions import ExpressionError, evaluate

M = TypeVar("M", bound=BaseModel)

EXPRESSION_ERROR = "EXPRESSION_ERROR"
INVALID_CONFIG = "INVALID_CONFIG"


class BlockError(Exception):
    """Fail the block with a stable error type; `retryable` consults the retry policy."""

    def __init__(self, error_type: str, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.retryable = retryable


@dataclass
class BlockContext:
    """The run's context for expressions, plus the lines the block logs."""

    run_id: str
    block: str
    attempt: int
    context: dict[str, Any] | None
    logs: list[str] = field(default_factory=list)

    def log(self, line: str) -> None:
        self.logs.append(line)

    def evaluate(self, expression: str) -> Any:
        """A JMESPath over the run's context; an error fails the block, not retried."""
        return evaluate_on(expression, self.context or {})


def evaluate_on(expression: str, root: dict[str, Any]) -> Any:
    """A JMESPath over `root`; an error fails the block, not retried."""
    try:
        return evaluate(expression, root)
    except ExpressionError as exc:
        raise BlockError(EXPRESSION_ERROR, str(exc), retryable=False) from exc


def parse_config(model: type[M], config: dict[str, Any]) -> M:
    """The resolved config as its model; a `${…}` that resolved to a bad value fails it."""
    try:
        return model.model_validate(config)
    except ValidationError as exc:
        details = "; ".join(
            ".".join(str(part) for part in error["loc"]) + ": " + error["msg"]
            for error in exc.errors(include_url=False)
        )
        raise BlockError(INVALID_CONFIG, f"invalid config: {details}", retryable=False) from exc
