"""Blocks that wait: sleep, sleep_until, wait_for_event, approval."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from contracts.blocks.base import MAX_SECONDS, BlockBase, BlockConfig, Execution, is_template

EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


class SleepConfig(BlockConfig):
    """Waits `seconds` on a durable timer; no worker holds the run meanwhile."""

    EXECUTION: ClassVar[Execution] = Execution.TIMER
    ENABLED: ClassVar[bool] = True
    seconds: float = Field(ge=0, le=MAX_SECONDS)


class SleepUntilConfig(BlockConfig):
    """Waits on a durable timer until `until`, an RFC 3339 time (or a `${…}` giving one).

    A time already past completes the block at once; a `${…}` giving no such time fails it
    with INVALID_CONFIG.
    """

    EXECUTION: ClassVar[Execution] = Execution.TIMER
    ENABLED: ClassVar[bool] = True
    until: str = Field(min_length=1)

    @field_validator("until")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        if is_template(value):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("must be an RFC 3339 time or a ${…} expression") from exc
        if moment.tzinfo is None:
            raise ValueError("must carry a UTC offset (e.g. Z)")
        return value


class WaitForEventConfig(BlockConfig):
    """Waits for an event of `event_type` sent to the run; outputs its payload.

    An event sent before the block starts waiting is kept and delivered when it does.
    Past `timeout_seconds` the block fails with WAIT_TIMEOUT.
    """

    EXECUTION: ClassVar[Execution] = Execution.INLINE
    ENABLED: ClassVar[bool] = True

    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)


class ApprovalConfig(BlockConfig):
    """Waits for a person to approve or reject, showing `message`; outputs the decision.

    The decision is an event of type `approval` with `{"approved": bool, "by", "comment"}`;
    when `approvers` is set, `by` must be one of them. A rejection fails the block with
    APPROVAL_REJECTED; past `timeout_seconds` it fails with WAIT_TIMEOUT.
    """

    EXECUTION: ClassVar[Execution] = Execution.INLINE
    ENABLED: ClassVar[bool] = True
    EVENT_TYPE: ClassVar[str] = "approval"

    approvers: list[str] | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    message: str | None = None


class SleepBlock(BlockBase):
    type: Literal["sleep"]
    config: SleepConfig


class SleepUntilBlock(BlockBase):
    type: Literal["sleep_until"]
    config: SleepUntilConfig


class WaitForEventBlock(BlockBase):
    type: Literal["wait_for_event"]
    config: WaitForEventConfig


class ApprovalBlock(BlockBase):
    type: Literal["approval"]
    config: ApprovalConfig = Field(default_factory=ApprovalConfig)
