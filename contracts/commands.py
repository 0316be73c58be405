"""Commands: the bodies sent on `fl.cmd.<tenant>.<aggregate>.<command>` (request/reply).

Each REST write is served by sending exactly one of these. The subject carries the tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.definitions import NAME_PATTERN, WorkflowDefinition
from contracts.ids import uuid7_hex
from contracts.schedules import Overlap, ScheduleSpec

RUN_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
SNAPSHOT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def new_id() -> str:
    """The id of what a command creates without naming it (a run, a job, a schedule):
    32 hex digits of a UUIDv7, so ids given one after another sort in the order given.
    The read models key their rows by these ids; ids in order put each transaction's new
    rows on the last few pages of those indexes, where random ones (UUIDv4) dirtied a
    page per row: the projector wrote 2.8 times the bytes per run (bench/README.md)."""
    return uuid7_hex()


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    AGGREGATE: ClassVar[str]
    NAME: ClassVar[str]
    # Changes several aggregates: a refusal part-way must undo what it already changed.
    ALL_OR_NOTHING: ClassVar[bool] = False


class PutWorkflow(Command):
    """Create, or save a new version if the definition changed.

    `expected_version` (REST: `If-Match`) refuses the save when the workflow has moved on.
    """

    AGGREGATE = "workflow"
    NAME = "put"
    name: str = Field(pattern=NAME_PATTERN)
    definition: WorkflowDefinition
    expected_version: int | None = Field(default=None, ge=0)


class DeleteWorkflow(Command):
    AGGREGATE = "workflow"
    NAME = "delete"
    name: str = Field(pattern=NAME_PATTERN)


class _WorkflowCommand(Command):
    AGGREGATE = "workflow"
    name: str = Field(pattern=NAME_PATTERN)


class UndoWorkflow(_WorkflowCommand):
    NAME = "undo"


class RedoWorkflow(_WorkflowCommand):
    NAME = "redo"


class DuplicateWorkflow(_WorkflowCommand):
    """Copy the current definition under `new_name`."""

    NAME = "duplicate"
    new_name: str = Field(pattern=NAME_PATTERN)


class CreateSnapshot(_WorkflowCommand):
    NAME = "create_snapshot"
    snapshot_id: str | None = Field(default=None, pattern=SNAPSHOT_ID_PATTERN)
    snapshot_name: str = Field(min_length=1, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)
    version: int | None = Field(default=None, ge=1)


class UpdateSnapshot(_WorkflowCommand):
    NAME = "update_snapshot"
    snapshot_id: str = Field(pattern=SNAPSHOT_ID_PATTERN)
    snapshot_name: str | None = Field(default=None, min_length=1, max_length=200)
    tags: list[str] | None = Field(default=None, max_length=50)
    favourite: bool | None = None


class DeleteSnapshot(_WorkflowCommand):
    NAME = "delete_snapshot"
    snapshot_id: str = Field(pattern=SNAPSHOT_ID_PATTERN)


class RestoreSnapshot(_WorkflowCommand):
    NAME = "restore_snapshot"
    snapshot_id: str = Field(pattern=SNAPSHOT_ID_PATTERN)


class BundleWorkflow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    definition: dict[str, Any]
    snapshots: list[dict[str, Any]] = Field(default_factory=list)


class Bundle(BaseModel):
    """The portable export format of workflows (`bundle_version` guards its evolution)."""

    model_config = ConfigDict(extra="forbid")
    bundle_version: int = 1
    workflows: list[BundleWorkflow]


class ImportWorkflows(Command):
    """Create or update every workflow of a bundle, atomically; `dry_run` only reports."""

    AGGREGATE = "workflow"
    NAME = "import"
    ALL_OR_NOTHING = True
    bundle: Bundle
    dry_run: bool = False


class StartRunBody(BaseModel):
    """What a start says besides its workflow (a batch names the workflow once)."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, pattern=RUN_ID_PATTERN)
    input: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    blocks: list[str] | None = Field(default=None, min_length=1)
    # Override the workflow's own run timeout and what happens when it passes.
    timeout_seconds: float | None = Field(default=None, gt=0, le=366 * 86400)
    timeout_policy: Literal["fail", "cancel", "terminate"] | None = None


class StartRun(Command, StartRunBody):
    """Start a run. `blocks`: run only these and what they need (the rest are skipped)."""

    AGGREGATE = "run"
    NAME = "start"
    workflow: str = Field(pattern=NAME_PATTERN)


MAX_BATCH = 1000


class StartRuns(Command):
    """Start up to 1000 runs of one workflow atomically: all of them, or none."""

    AGGREGATE = "run"
    NAME = "start_batch"
    ALL_OR_NOTHING = True
    workflow: str = Field(pattern=NAME_PATTERN)
    runs: list[StartRunBody] = Field(min_length=1, max_length=MAX_BATCH)


class ExecuteBatch(Command):
    """Several commands (`{"command": "run.cancel", ...}`, names as on the bus), atomically.

    All are applied, or none; a refusal names the failing command by its index.
    """

    AGGREGATE = "batch"
    NAME = "execute"
    ALL_OR_NOTHING = True
    commands: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


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


class RetryRun(_RunControl):
    """Resume a failed run from its last checkpoint: completed blocks are not run again."""

    NAME = "retry"


class RestartRun(_RunControl):
    """Run an ended run again from scratch, on the version it pinned."""

    NAME = "restart"


class _FromCheckpoint(Command):
    """A checkpoint is a completed block attempt (REST resolves a checkpoint id to it)."""

    AGGREGATE = "run"
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    block: str
    attempt: int = Field(ge=1)


class RollbackRun(_FromCheckpoint):
    """Discard what came after the checkpoint; the run becomes paused there."""

    NAME = "rollback"


class ReplayRun(_FromCheckpoint):
    """A new run (`new_id`) of the same version and input that keeps the outputs up to and
    including the checkpoint, and runs the rest."""

    NAME = "replay"
    new_id: str | None = Field(default=None, pattern=RUN_ID_PATTERN)


class SendEvent(Command):
    """Deliver an event to a run: to a block waiting for it, else kept until one waits."""

    AGGREGATE = "run"
    NAME = "send_event"
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    event_type: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    payload: Any = None


SCHEDULE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class CreateSchedule(Command):
    """Run `workflow` with `input` on a cron (with a time zone) or an interval."""

    AGGREGATE = "schedule"
    NAME = "create"
    id: str | None = Field(default=None, pattern=SCHEDULE_ID_PATTERN)
    workflow: str = Field(pattern=NAME_PATTERN)
    spec: ScheduleSpec
    input: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    overlap: Overlap = "skip"
    enabled: bool = True


class UpdateSchedule(Command):
    """Change what is given; the rest stays."""

    AGGREGATE = "schedule"
    NAME = "update"
    id: str = Field(pattern=SCHEDULE_ID_PATTERN)
    spec: ScheduleSpec | None = None
    input: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    overlap: Overlap | None = None


class _ScheduleCommand(Command):
    AGGREGATE = "schedule"
    id: str = Field(pattern=SCHEDULE_ID_PATTERN)


class DeleteSchedule(_ScheduleCommand):
    NAME = "delete"


class EnableSchedule(_ScheduleCommand):
    NAME = "enable"


class DisableSchedule(_ScheduleCommand):
    NAME = "disable"


class TriggerSchedule(_ScheduleCommand):
    """Start a run now, whatever the schedule says (the overlap policy still applies)."""

    NAME = "trigger"
    ALL_OR_NOTHING = True  # It may cancel the last run before starting the next.
    run_id: str | None = Field(default=None, pattern=RUN_ID_PATTERN)


class FireSchedule(_ScheduleCommand):
    """Sent by the timer consumer when the schedule's message schedule fires."""

    NAME = "fire"
    ALL_OR_NOTHING = True
    generation: int = Field(ge=1)
    # When the schedule fired (the fired message's time): the run id derives from it, so a
    # redelivered fire starts nothing twice.
    fired_at: datetime


class TerminateRuns(Command):
    """Terminate many runs in the background: a job whose progress `GET /v1/jobs/{id}` shows.

    REST resolves a `filter` to `ids` from the read models before sending this.
    """

    AGGREGATE = "job"
    NAME = "terminate_runs"
    job_id: str | None = Field(default=None, pattern=SCHEDULE_ID_PATTERN)
    ids: list[str] = Field(min_length=1, max_length=100_000)
    reason: str | None = None


class RunJobChunk(Command):
    """Sent by the command service's job consumer: do one chunk of a job."""

    AGGREGATE = "job"
    NAME = "run_chunk"
    job_id: str = Field(pattern=SCHEDULE_ID_PATTERN)
    chunk: int = Field(ge=0)


class _BlockAttempt(Command):
    AGGREGATE = "run"
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    block: str
    attempt: int = Field(ge=1)


class StartBlock(_BlockAttempt):
    """A worker claims a task before executing it; a stale claim is answered `stale`."""

    NAME = "start_block"
    worker: str


class _BlockResult(_BlockAttempt):
    # Sent by a worker that ran a pure block without claiming it (`StartBlock`) first:
    # the attempt's start is recorded with the result.
    worker: str | None = None
    started_at: AwareDatetime | None = None


class CompleteBlock(_BlockResult):
    NAME = "complete_block"
    output: Any = None
    logs: list[str] = Field(default_factory=list)


class FailBlock(_BlockResult):
    NAME = "fail_block"
    error_type: str = "BLOCK_FAILED"
    message: str
    retryable: bool = True
    logs: list[str] = Field(default_factory=list)


class StartBlocks(Command):
    """Several claims in one request: a worker's claims that came due while its previous
    one was in flight. Each is decided on its own, exactly as if it had come alone (a
    refused one refuses nothing else); the reply's `items` hold, in order, each one's
    result (`{"claimed": …}`) or its error (`{"error": …}`)."""

    AGGREGATE = "run"
    NAME = "start_blocks"
    claims: list[StartBlock] = Field(min_length=1, max_length=MAX_BATCH)


class ReportBlocks(Command):
    """Several results of block attempts in one request, as `StartBlocks` for claims:
    each decided as if alone; `items` hold each one's `{"accepted": …}` or its error."""

    AGGREGATE = "run"
    NAME = "report_blocks"
    reports: list[CompleteBlock | FailBlock] = Field(min_length=1, max_length=MAX_BATCH)


# A worker's commands about an attempt, and the command that carries several of a kind
# (its one field lists them).
BATCHED_IN: dict[type[Command], type[StartBlocks] | type[ReportBlocks]] = {
    StartBlock: StartBlocks,
    CompleteBlock: ReportBlocks,
    FailBlock: ReportBlocks,
}


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
        UndoWorkflow,
        RedoWorkflow,
        DuplicateWorkflow,
        CreateSnapshot,
        UpdateSnapshot,
        DeleteSnapshot,
        RestoreSnapshot,
        ImportWorkflows,
        StartRun,
        StartRuns,
        ExecuteBatch,
        CancelRun,
        TerminateRun,
        PauseRun,
        ResumeRun,
        RetryRun,
        RestartRun,
        SendEvent,
        RollbackRun,
        ReplayRun,
        CreateSchedule,
        UpdateSchedule,
        DeleteSchedule,
        EnableSchedule,
        DisableSchedule,
        TriggerSchedule,
        FireSchedule,
        TerminateRuns,
        RunJobChunk,
        StartBlock,
        CompleteBlock,
        FailBlock,
        StartBlocks,
        ReportBlocks,
        FireTimer,
    )
}


def command_class(aggregate: str, name: str) -> type[Command]:
    return COMMANDS[(aggregate, name)]
