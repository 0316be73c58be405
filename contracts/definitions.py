"""Workflow definitions: the blocks, their typed configs, triggers and retry policies.

Each block type has one config model here (the wire shape) and, where it runs on a worker,
one executor module in `services/worker/blocks/`. `EXECUTION` says who settles a block:
`inline` (the command side, no I/O), `timer` (a durable JetStream message schedule) or
`task` (a worker).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
BLOCK_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_BLOCKS = 1000


class Execution(StrEnum):
    INLINE = "inline"
    TIMER = "timer"
    TASK = "task"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoopConfig(Strict):
    """Does nothing; completes at once."""

    EXECUTION: ClassVar[Execution] = Execution.INLINE


class FailConfig(Strict):
    """Fails the block with a message and an error type."""

    EXECUTION: ClassVar[Execution] = Execution.INLINE
    message: str = "failed by a fail block"
    error_type: str = "FAILED"


class SetConfig(Strict):
    """Outputs `values`, with `${…}` expressions resolved."""

    EXECUTION: ClassVar[Execution] = Execution.TASK
    values: dict[str, Any]


class TransformConfig(Strict):
    """Outputs the JMESPath `expression` evaluated over the run's context."""

    EXECUTION: ClassVar[Execution] = Execution.TASK
    NEEDS_CONTEXT: ClassVar[bool] = True
    expression: str = Field(min_length=1)


class SleepConfig(Strict):
    """Waits `seconds` on a durable timer; no worker holds the run meanwhile."""

    EXECUTION: ClassVar[Execution] = Execution.TIMER
    seconds: float = Field(ge=0, le=366 * 86400)


class RetryPolicy(Strict):
    max_attempts: int = Field(default=1, ge=1, le=100)
    backoff: Literal["fixed", "exponential"] = "exponential"
    initial_seconds: float = Field(default=1.0, ge=0)
    max_seconds: float = Field(default=300.0, ge=0)
    non_retryable_errors: list[str] = Field(default_factory=list)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before `attempt` (2, 3, …)."""
        if self.backoff == "fixed":
            return min(self.initial_seconds, self.max_seconds)
        return float(min(self.initial_seconds * 2 ** (attempt - 2), self.max_seconds))


class Trigger(StrEnum):
    ALL_SUCCESS = "all_success"
    NONE_FAILED = "none_failed"
    ALL_DONE = "all_done"
    ANY_SUCCESS = "any_success"


class _BlockBase(Strict):
    id: str = Field(pattern=BLOCK_ID_PATTERN)
    needs: list[str] = Field(default_factory=list)
    trigger: Trigger = Trigger.ALL_SUCCESS
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    queue: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None


class NoopBlock(_BlockBase):
    type: Literal["noop"]
    config: NoopConfig = Field(default_factory=NoopConfig)


class FailBlock(_BlockBase):
    type: Literal["fail"]
    config: FailConfig = Field(default_factory=FailConfig)


class SetBlock(_BlockBase):
    type: Literal["set"]
    config: SetConfig


class TransformBlock(_BlockBase):
    type: Literal["transform"]
    config: TransformConfig


class SleepBlock(_BlockBase):
    type: Literal["sleep"]
    config: SleepConfig


Block = Annotated[
    NoopBlock | FailBlock | SetBlock | TransformBlock | SleepBlock,
    Field(discriminator="type"),
]

BLOCK_TYPES: dict[str, type[BaseModel]] = {
    "noop": NoopConfig,
    "fail": FailConfig,
    "set": SetConfig,
    "transform": TransformConfig,
    "sleep": SleepConfig,
}


def execution_of(block_type: str) -> Execution:
    return BLOCK_TYPES[block_type].EXECUTION  # type: ignore[attr-defined, no-any-return]


def needs_context(block_type: str) -> bool:
    return bool(getattr(BLOCK_TYPES[block_type], "NEEDS_CONTEXT", False))


class WorkflowDefinition(Strict):
    """A workflow: a graph of blocks joined by `needs`."""

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    description: str | None = None
    blocks: list[Block] = Field(min_length=1, max_length=MAX_BLOCKS)
    output: Any = None

    @model_validator(mode="after")
    def _check_graph(self) -> WorkflowDefinition:
        from contracts.graph import graph_problems

        problems = graph_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def block(self, block_id: str) -> Block:
        for block in self.blocks:
            if block.id == block_id:
                return block
        raise KeyError(block_id)
