"""What every block type shares: the config base class, execution kinds, triggers, retries."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.subjects import JOBS_QUEUE

BLOCK_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_SECONDS = 366 * 86400


class Execution(StrEnum):
    """Who settles a block: the command side, a durable timer, or a worker."""

    INLINE = "inline"
    TIMER = "timer"
    TASK = "task"


class Strict(BaseModel):
    """A wire shape: unknown fields are errors; aliases (`if`, `else`, `from`) are wire names."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)


class Branch(NamedTuple):
    """One branch of a routing block: the successors it chooses."""

    kind: Literal["then", "else", "case"]
    case: str | None  # a switch case's key; None for then, else and a switch's default
    path: tuple[str, ...]  # where the ids sit, under `config`
    ids: list[str]


class BlockConfig(Strict):
    """The config of one block type; its docstring's first line describes the type."""

    EXECUTION: ClassVar[Execution] = Execution.TASK
    # Only types with an executor today; the rest validate and save but cannot run yet.
    ENABLED: ClassVar[bool] = False
    # Whether a worker needs the run's context (expressions it evaluates itself).
    NEEDS_CONTEXT: ClassVar[bool] = False
    # Whether running an attempt twice is harmless: its output is a function of its config
    # and the run's context, with no effect outside. A worker runs such a block without
    # claiming the attempt first (one command fewer); a redelivered task of a finished
    # attempt is then run again and its result ignored. Anything with I/O keeps the claim.
    PURE: ClassVar[bool] = False
    # Wire names of fields holding a bare JMESPath expression (not `${…}`), checked on save.
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ()

    def branches(self) -> list[Branch] | None:
        """For a routing block (condition, switch): its branches; None for any other type."""
        return None


class Trigger(StrEnum):
    """When a block's `needs` let it start."""

    ALL_SUCCESS = "all_success"
    NONE_FAILED = "none_failed"
    ALL_DONE = "all_done"
    ANY_SUCCESS = "any_success"


class RetryPolicy(Strict):
    """How often, and how far apart, a failed attempt is tried again."""

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


class BlockBase(Strict):
    """The fields every block has, whatever its type."""

    id: str = Field(pattern=BLOCK_ID_PATTERN)
    needs: list[str] = Field(default_factory=list)
    trigger: Trigger = Trigger.ALL_SUCCESS
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    queue: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,64}$")

    @field_validator("queue")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == JOBS_QUEUE:
            raise ValueError(f"{JOBS_QUEUE!r} is reserved for Flowledger's own background jobs")
        return value

    description: str | None = None
    timeout: float | None = Field(default=None, gt=0, le=MAX_SECONDS)


def is_template(value: Any) -> bool:
    """Whether a string holds `${…}`, so its value is only known at run time."""
    return isinstance(value, str) and "${" in value
