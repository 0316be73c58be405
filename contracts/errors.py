"""The one error body, REST and bus alike, and its stable types."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class ErrorType(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
    RUN_NOT_FOUND = "RUN_NOT_FOUND"
    BLOCKS_NOT_FOUND = "BLOCKS_NOT_FOUND"
    BLOCK_TYPE_DISABLED = "BLOCK_TYPE_DISABLED"
    VERSION_NOT_FOUND = "VERSION_NOT_FOUND"
    SNAPSHOT_NOT_FOUND = "SNAPSHOT_NOT_FOUND"
    CHECKPOINT_NOT_FOUND = "CHECKPOINT_NOT_FOUND"
    SCHEDULE_NOT_FOUND = "SCHEDULE_NOT_FOUND"
    SCHEDULE_ALREADY_EXISTS = "SCHEDULE_ALREADY_EXISTS"
    WORKFLOW_ALREADY_EXISTS = "WORKFLOW_ALREADY_EXISTS"
    SNAPSHOT_ALREADY_EXISTS = "SNAPSHOT_ALREADY_EXISTS"
    NOTHING_TO_UNDO = "NOTHING_TO_UNDO"
    NOTHING_TO_REDO = "NOTHING_TO_REDO"
    RUN_ALREADY_EXISTS = "RUN_ALREADY_EXISTS"
    WORKFLOW_ALREADY_RUNNING = "WORKFLOW_ALREADY_RUNNING"
    INVALID_RUN_STATE = "INVALID_RUN_STATE"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


HTTP_STATUS: dict[ErrorType, int] = {
    ErrorType.BAD_REQUEST: 400,
    ErrorType.VALIDATION_ERROR: 422,
    ErrorType.UNAUTHORIZED: 401,
    ErrorType.FORBIDDEN: 403,
    ErrorType.NOT_FOUND: 404,
    ErrorType.WORKFLOW_NOT_FOUND: 404,
    ErrorType.RUN_NOT_FOUND: 404,
    ErrorType.BLOCKS_NOT_FOUND: 404,
    ErrorType.BLOCK_TYPE_DISABLED: 422,
    ErrorType.VERSION_NOT_FOUND: 404,
    ErrorType.SNAPSHOT_NOT_FOUND: 404,
    ErrorType.CHECKPOINT_NOT_FOUND: 404,
    ErrorType.SCHEDULE_NOT_FOUND: 404,
    ErrorType.SCHEDULE_ALREADY_EXISTS: 409,
    ErrorType.WORKFLOW_ALREADY_EXISTS: 409,
    ErrorType.SNAPSHOT_ALREADY_EXISTS: 409,
    ErrorType.NOTHING_TO_UNDO: 409,
    ErrorType.NOTHING_TO_REDO: 409,
    ErrorType.RUN_ALREADY_EXISTS: 409,
    ErrorType.WORKFLOW_ALREADY_RUNNING: 409,
    ErrorType.INVALID_RUN_STATE: 409,
    ErrorType.VERSION_CONFLICT: 409,
    ErrorType.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorType.PAYLOAD_TOO_LARGE: 413,
    ErrorType.RATE_LIMITED: 429,
    ErrorType.UNAVAILABLE: 503,
    ErrorType.INTERNAL: 500,
}


class ErrorDetail(BaseModel):
    type: ErrorType
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """`{"error": {"type": ..., "message": ..., "details": {...}}}`."""

    error: ErrorDetail

    @classmethod
    def of(cls, type_: ErrorType, message: str, **details: Any) -> ErrorBody:
        return cls(error=ErrorDetail(type=type_, message=message, details=details))

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.error.type]


class FlowledgerError(Exception):
    """An error that maps to one ErrorBody; raised by the domain and the edges alike."""

    def __init__(self, type_: ErrorType, message: str, **details: Any) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.details = details

    def body(self) -> ErrorBody:
        return ErrorBody.of(self.type, self.message, **self.details)
