"""Commands: the bodies sent on `fl.cmd.<tenant>.<aggregate>.<command>` (request/reply).

Each REST write is served by sending exactly one of these. The subject carries the tenant.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from contracts.definitions import NAME_PATTERN, WorkflowDefinition

RUN_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    AGGREGATE: ClassVar[str]
    NAME: ClassVar[str]


class PutWorkflow(Command):
    AGGREGATE = "workflow"
    NAME = "put"
    name: str = Field(pattern=NAME_PATTERN)
    definition: WorkflowDefinition


class DeleteWorkflow(Command):
    AGGREGATE = "workflow"
    NAME = "delete"
    name: str = Field(pattern=NAME_PATTERN)


class StartRun(Command):
    AGGREGATE = "run"
    NAME = "start"
    workflow: str = Field(pattern=NAME_PATTERN)
    id: str | None = Field(default=None, pattern=RUN_ID_PATTERN)
    input: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)


class _RunControl(Command):
    AGGREGATE = "run"
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    reason: str | None = None


class CancelRun(_RunControl):
    NAME = "cancel"


class TerminateRun(_RunControl):
    NAME = "terminate"


class PauseRun(_RunControl):
    NAME = "pause"


class ResumeRun(_RunControl):
    NAME = "resume"


class _BlockAttempt(Command):
    AGGREGATE = "run"
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    block: str
    attempt: int = Field(ge=1)


class StartBlock(_BlockAttempt):
    """A worker claims a task before executing it; a stale claim is answered `stale`."""

    NAME = "start_block"
    worker: str


class CompleteBlock(_BlockAttempt):
    NAME = "complete_block"
    output: Any = None
    logs: list[str] = Field(default_factory=list)


class FailBlock(_BlockAttempt):
    NAME = "fail_block"
    error_type: str = "BLOCK_FAILED"
    message: str
    retryable: bool = True
    logs: list[str] = Field(default_factory=list)


class FireTimer(Command):
    """Sent by the timer consumer when a JetStream message schedule fires."""

    AGGREGATE = "run"
    NAME = "fire_timer"
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    block: str
    attempt: int = Field(ge=1)
    purpose: str


COMMANDS: dict[tuple[str, str], type[Command]] = {
    (cls.AGGREGATE, cls.NAME): cls
    for cls in (
        PutWorkflow,
        DeleteWorkflow,
        StartRun,
        CancelRun,
        TerminateRun,
        PauseRun,
        ResumeRun,
        StartBlock,
        CompleteBlock,
        FailBlock,
        FireTimer,
    )
}


def command_class(aggregate: str, name: str) -> type[Command]:
    return COMMANDS[(aggregate, name)]
