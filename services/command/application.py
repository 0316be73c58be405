"""The command side's use cases: decide a batch of commands and save it in one transaction.

Commands in a batch are decided one after another against the same loaded aggregates, so
a later command sees an earlier one's effects; all their events are then saved atomically.
A concurrent writer's conflict makes the whole batch be reloaded and decided again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from contracts import commands as c
from contracts.definitions import WorkflowDefinition
from contracts.errors import ErrorBody, ErrorType, FlowledgerError
from contracts.replies import Accepted, Reply
from services.command.domain.run import Run, run_aggregate_id
from services.command.domain.workflow import Workflow, workflow_aggregate_id

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)
MAX_CONFLICT_RETRIES = 8


class FlowledgerApplication(Application[UUID]):
    """The event store of every aggregate; the notification log feeds the relay."""

    name = "flowledger"


@dataclass
class UnitOfWork:
    """Aggregates loaded and changed while deciding one batch."""

    app: FlowledgerApplication
    loaded: dict[UUID, Aggregate | None] = field(default_factory=dict)

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id not in self.loaded:
            try:
                self.loaded[aggregate_id] = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                self.loaded[aggregate_id] = None
        found = self.loaded[aggregate_id]
        return found if isinstance(found, cls) else None

    def add(self, aggregate: Aggregate) -> None:
        self.loaded[aggregate.id] = aggregate

    def pending_counts(self) -> dict[UUID, int]:
        return {i: len(a.pending_events) for i, a in self.loaded.items() if a is not None}

    def events_since(self, counts: dict[UUID, int]) -> list[tuple[UUID, int]]:
        """(aggregate id, version) of every event added since `counts` was taken."""
        return [
            (event.originator_id, event.originator_version)
            for i, a in self.loaded.items()
            if a is not None
            for event in a.pending_events[counts.get(i, 0) :]
        ]

    def changed(self) -> list[Aggregate]:
        return [a for a in self.loaded.values() if a is not None and a.pending_events]


Handler = Callable[[UnitOfWork, str, Any, datetime], dict[str, Any]]


def _workflow(uow: UnitOfWork, tenant: str, name: str) -> Workflow:
    workflow = uow.get(Workflow, workflow_aggregate_id(tenant, name))
    if workflow is None:
        raise FlowledgerError(
            ErrorType.WORKFLOW_NOT_FOUND, f"no workflow named {name!r}", workflow=name
        )
    workflow.check_exists()
    return workflow


def _run(uow: UnitOfWork, tenant: str, run_id: str) -> Run:
    run = uow.get(Run, run_aggregate_id(tenant, run_id))
    if run is None:
        raise FlowledgerError(ErrorType.RUN_NOT_FOUND, f"no run {run_id!r}", run_id=run_id)
    return run


def put_workflow(uow: UnitOfWork, tenant: str, cmd: c.PutWorkflow, now: datetime) -> dict[str, Any]:
    workflow = uow.get(Workflow, workflow_aggregate_id(tenant, cmd.name))
    if workflow is None:
        workflow = Workflow.register(tenant, cmd.name, cmd.definition, now)
        uow.add(workflow)
        return {"name": cmd.name, "version": 1, "created": True, "changed": True}
    was_deleted = workflow.deleted
    changed = workflow.save_definition(cmd.definition, now)
    return {
        "name": cmd.name,
        "version": workflow.current_version,
        "created": was_deleted,
        "changed": changed,
    }


def delete_workflow(
    uow: UnitOfWork, tenant: str, cmd: c.DeleteWorkflow, now: datetime
) -> dict[str, Any]:
    _workflow(uow, tenant, cmd.name).delete(now)
    return {"name": cmd.name, "deleted": True}


def start_run(uow: UnitOfWork, tenant: str, cmd: c.StartRun, now: datetime) -> dict[str, Any]:
    # The edge gives every start an id before it is queued, so a retried batch keeps it.
    assert cmd.id is not None
    workflow = _workflow(uow, tenant, cmd.workflow)
    if uow.get(Run, run_aggregate_id(tenant, cmd.id)) is not None:
        raise FlowledgerError(
            ErrorType.RUN_ALREADY_EXISTS, f"a run with id {cmd.id!r} exists", run_id=cmd.id
        )
    run = Run.start(
        tenant=tenant,
        run_id=cmd.id,
        workflow=cmd.workflow,
        version=workflow.current_version,
        definition=WorkflowDefinition.model_validate(workflow.current_definition),
        input=cmd.input,
        metadata=cmd.metadata,
        now=now,
    )
    uow.add(run)
    return {
        "id": cmd.id,
        "workflow": cmd.workflow,
        "version": workflow.current_version,
        "status": run.status.value,
    }


def _control(method: str) -> Handler:
    def handle(uow: UnitOfWork, tenant: str, cmd: Any, now: datetime) -> dict[str, Any]:
        run = _run(uow, tenant, cmd.run_id)
        getattr(run, method)(cmd.reason, now)
        return {"id": cmd.run_id, "status": run.status.value}

    return handle


def start_block(uow: UnitOfWork, tenant: str, cmd: c.StartBlock, now: datetime) -> dict[str, Any]:
    run = _run(uow, tenant, cmd.run_id)
    return {"claimed": run.claim_block(cmd.block, cmd.attempt, cmd.worker, now)}


def complete_block(
    uow: UnitOfWork, tenant: str, cmd: c.CompleteBlock, now: datetime
) -> dict[str, Any]:
    run = _run(uow, tenant, cmd.run_id)
    return {"accepted": run.complete_block(cmd.block, cmd.attempt, cmd.output, cmd.logs, now)}


def fail_block(uow: UnitOfWork, tenant: str, cmd: c.FailBlock, now: datetime) -> dict[str, Any]:
    run = _run(uow, tenant, cmd.run_id)
    accepted = run.fail_block(
        cmd.block, cmd.attempt, cmd.error_type, cmd.message, cmd.retryable, cmd.logs, now
    )
    return {"accepted": accepted}


def fire_timer(uow: UnitOfWork, tenant: str, cmd: c.FireTimer, now: datetime) -> dict[str, Any]:
    run = _run(uow, tenant, cmd.run_id)
    return {"accepted": run.fire_timer(cmd.block, cmd.attempt, cmd.purpose, now)}


HANDLERS: dict[type[c.Command], Handler] = {
    c.PutWorkflow: put_workflow,
    c.DeleteWorkflow: delete_workflow,
    c.StartRun: start_run,
    c.CancelRun: _control("cancel"),
    c.TerminateRun: _control("terminate"),
    c.PauseRun: _control("pause"),
    c.ResumeRun: _control("resume"),
    c.StartBlock: start_block,
    c.CompleteBlock: complete_block,
    c.FailBlock: fail_block,
    c.FireTimer: fire_timer,
}


@dataclass(frozen=True)
class Envelope:
    """One command waiting in a batch."""

    tenant: str
    command: c.Command


class CommandProcessor:
    """Decides batches of commands and saves each batch in one transaction."""

    def __init__(self, app: FlowledgerApplication, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.clock = clock

    def process(self, batch: list[Envelope]) -> list[Reply]:
        for _ in range(MAX_CONFLICT_RETRIES):
            try:
                uow, replies, produced = self._decide(batch)
            except Exception:
                if len(batch) == 1:
                    log.exception("command failed: %r", batch[0].command)
                    return [ErrorBody.of(ErrorType.INTERNAL, "internal error")]
                # A bug in one command must not sink the others: decide them one by one.
                return [reply for item in batch for reply in self.process([item])]
            changed = uow.changed()
            if not changed:
                return replies
            try:
                recordings = self.app.save(*changed)
            except IntegrityError:
                # Another writer got there first: reload everything and decide again.
                continue
            positions = {
                (r.domain_event.originator_id, r.domain_event.originator_version): (
                    r.notification.id
                )
                for r in recordings
            }
            for reply, events in zip(replies, produced, strict=True):
                if isinstance(reply, Accepted) and events:
                    reply.position = max(positions[key] for key in events)
            return replies
        return [
            ErrorBody.of(ErrorType.VERSION_CONFLICT, "too many concurrent changes; retry")
            for _ in batch
        ]

    def _decide(
        self, batch: list[Envelope]
    ) -> tuple[UnitOfWork, list[Reply], list[list[tuple[UUID, int]]]]:
        """Decide each command in turn; (aggregate id, version) of the events each made."""
        uow = UnitOfWork(self.app)
        now = self.clock()
        replies: list[Reply] = []
        produced: list[list[tuple[UUID, int]]] = []
        for item in batch:
            before = uow.pending_counts()
            try:
                result = HANDLERS[type(item.command)](uow, item.tenant, item.command, now)
                replies.append(Accepted(result=result))
            except FlowledgerError as exc:
                replies.append(exc.body())
            produced.append(uow.events_since(before))
        return uow, replies, produced
