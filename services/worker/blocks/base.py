"""What every executor gets, and the error it raises to fail a block on purpose."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
