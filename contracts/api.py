"""REST response bodies of the query service (the requests are the commands' bodies)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from contracts.validation import Problem


class WorkflowSaved(BaseModel):
    name: str
    version: int
    created: bool
    changed: bool


class WorkflowView(BaseModel):
    name: str
    version: int
    description: str | None = None
    definition: dict[str, Any]
    run_counts: dict[str, int]
    created_at: str
    updated_at: str


class RunAccepted(BaseModel):
    id: str
    workflow: str
    version: int
    status: str


class BlockView(BaseModel):
    id: str
    type: str
    status: str
    attempts: int
    scheduled_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    wake_at: str | None = None
    worker: str | None = None
    output: Any = None
    error: dict[str, Any] | None = None


class RunView(BaseModel):
    id: str
    workflow: str
    version: int
    status: str
    input: dict[str, Any]
    output: Any = None
    error: dict[str, Any] | None = None
    metadata: dict[str, str]
    blocks: list[BlockView] = Field(default_factory=list)
    created_at: str
    updated_at: str
    ended_at: str | None = None


class RunSummary(BaseModel):
    id: str
    workflow: str
    version: int
    status: str
    metadata: dict[str, str]
    created_at: str
    updated_at: str
    ended_at: str | None = None


class RunPage(BaseModel):
    items: list[RunSummary]
    total: int
    next_cursor: str | None = None


class WorkflowPage(BaseModel):
    items: list[WorkflowView]
    total: int
    next_cursor: str | None = None


class VersionSummary(BaseModel):
    version: int
    cause: str
    based_on: int | None = None
    created_at: str


class VersionView(VersionSummary):
    definition: dict[str, Any]


class VersionPage(BaseModel):
    items: list[VersionSummary]
    total: int
    next_cursor: str | None = None


class SnapshotView(BaseModel):
    id: str
    name: str
    tags: list[str]
    favourite: bool
    version: int
    definition: dict[str, Any] | None = None
    created_at: str
    updated_at: str


class SnapshotPage(BaseModel):
    items: list[SnapshotView]
    total: int
    next_cursor: str | None = None


class ValidationReport(BaseModel):
    """`valid` unless a problem is an error (warnings, such as UNREACHABLE, do not count)."""

    valid: bool
    problems: list[Problem]


class RunEventView(BaseModel):
    """One event of a run's history; `position` orders it and resumes a stream after it."""

    position: int
    type: str
    occurred_at: str
    data: dict[str, Any]


class RunHistoryPage(BaseModel):
    items: list[RunEventView]
    total: int
    next_cursor: str | None = None


class BlockAttemptView(BaseModel):
    """One attempt of a block: its timings, the worker that ran it, the lines it logged."""

    block: str
    attempt: int
    type: str
    status: str
    scheduled_at: str
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    worker: str | None = None
    logs: list[str] = Field(default_factory=list)
    error: dict[str, Any] | None = None


class RunLogPage(BaseModel):
    items: list[BlockAttemptView]
    total: int
    next_cursor: str | None = None


class CheckpointView(BaseModel):
    """A completed block's output; `id` (its BlockCompleted's position) names it to replay."""

    id: str
    block: str
    attempt: int
    completed_at: str
    output: Any = None


class CheckpointPage(BaseModel):
    items: list[CheckpointView]
    total: int
    next_cursor: str | None = None


class ScheduleView(BaseModel):
    id: str
    workflow: str
    spec: dict[str, Any]
    input: dict[str, Any]
    metadata: dict[str, str]
    overlap: str
    enabled: bool
    fires: int
    last_fired_at: str | None = None
    last_action: str | None = None
    last_run_id: str | None = None
    next_fire_times: list[str]
    created_at: str
    updated_at: str


class SchedulePage(BaseModel):
    items: list[ScheduleView]
    total: int
    next_cursor: str | None = None
