"""Use cases of the Run aggregate: start, control, and the reports of workers and timers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from jsonschema import Draft202012Validator

from contracts import commands as c
from contracts.definitions import WorkflowDefinition
from contracts.errors import ErrorType, FlowledgerError
from services.command.domain.run import (
    Run,
    Unclaimed,
    earlier_run_aggregate_id,
    may_be_stored_earlier,
    run_aggregate_id,
)
from services.command.domain.status import RunCommand, check_allowed
from services.command.unit_of_work import Handler, UnitOfWork
from services.command.use_cases import lookup


@dataclass(frozen=True)
class Pinned:
    """A workflow version as runs start on it: parsed, and its input schema compiled
    (building a validator cost as much as validating an input with it)."""

    definition: WorkflowDefinition
    input_validator: Draft202012Validator | None


# Versions never change, so each is parsed and checked once, not on every start.
_PINNED: OrderedDict[tuple[UUID, int], Pinned] = OrderedDict()
_PINNED_MAX = 1024


def pinned(workflow_id: UUID, version: int, raw: dict[str, Any]) -> Pinned:
    key = (workflow_id, version)
    found = _PINNED.get(key)
    if found is None:
        definition = WorkflowDefinition.model_validate(raw)
        schema = definition.input_schema
        validator = Draft202012Validator(schema) if schema else None
        found = _PINNED[key] = Pinned(definition, validator)
        if len(_PINNED) > _PINNED_MAX:
            _PINNED.popitem(last=False)
    return found


def start_run(uow: UnitOfWork, tenant: str, cmd: c.StartRun, now: datetime) -> dict[str, Any]:
    # The edge gives every start an id before it is queued, so a retried batch keeps it.
    assert cmd.id is not None
    workflow = lookup.workflow(uow, tenant, cmd.workflow)
    earlier = earlier_run_aggregate_id(tenant, cmd.id) if may_be_stored_earlier(cmd.id) else None
    taken = uow.get_new(Run, run_aggregate_id(tenant, cmd.id)) is not None or (
        earlier is not None and uow.get(Run, earlier) is not None
    )
    if taken:
        raise FlowledgerError(
            ErrorType.RUN_ALREADY_EXISTS, f"a run with id {cmd.id!r} exists", run_id=cmd.id
        )
    pinned_version = pinned(workflow.id, workflow.current_version, workflow.current_definition)
    definition = pinned_version.definition
    disabled = definition.disabled_blocks()
    if disabled:
        raise FlowledgerError(
            ErrorType.BLOCK_TYPE_DISABLED,
            "this workflow uses block types that cannot run yet: "
            + ", ".join(sorted({definition.block(b).type for b in disabled})),
            blocks=disabled,
        )
    check_input(pinned_version.input_validator, cmd.input)
    if cmd.blocks is not None:
        known = {block.id for block in definition.blocks}
        missing = [b for b in cmd.blocks if b not in known]
        if missing:
            raise FlowledgerError(
                ErrorType.BLOCKS_NOT_FOUND,
                f"workflow {cmd.workflow!r} has no block(s) {', '.join(map(repr, missing))}",
                blocks=missing,
            )
    run = Run.start(
        tenant=tenant,
        run_id=cmd.id,
        workflow=cmd.workflow,
        version=workflow.current_version,
        definition=definition,
        input=cmd.input,
        metadata=cmd.metadata,
        now=now,
        only=cmd.blocks,
        timeout=run_timeout(definition, cmd),
        saved=workflow.current_definition,
    )
    uow.add(run)
    return {
        "id": cmd.id,
        "workflow": cmd.workflow,
        "version": workflow.current_version,
        "status": run.status.value,
    }


def control(method: str) -> Handler:
    def handle(uow: UnitOfWork, tenant: str, cmd: Any, now: datetime) -> dict[str, Any]:
        run = lookup.run(uow, tenant, cmd.run_id)
        getattr(run, method)(cmd.reason, now)
        return {"id": cmd.run_id, "status": run.status.value}

    return handle


def start_runs(uow: UnitOfWork, tenant: str, cmd: c.StartRuns, now: datetime) -> dict[str, Any]:
    """All or none: the processor undoes every start if one is refused."""
    items = []
    for index, body in enumerate(cmd.runs):
        start = c.StartRun(workflow=cmd.workflow, **body.model_dump())
        try:
            items.append(start_run(uow, tenant, start, now))
        except FlowledgerError as exc:
            raise FlowledgerError(
                exc.type,
                f"runs[{index}]: {exc.message}; no run was started",
                index=index,
                cause=exc.details,
            ) from exc
    return {"items": items}


def rollback_run(uow: UnitOfWork, tenant: str, cmd: c.RollbackRun, now: datetime) -> dict[str, Any]:
    run = lookup.run(uow, tenant, cmd.run_id)
    run.rollback(cmd.block, cmd.attempt, now)
    return {"id": cmd.run_id, "status": run.status.value}


def replay_run(uow: UnitOfWork, tenant: str, cmd: c.ReplayRun, now: datetime) -> dict[str, Any]:
    """A new run on the source's pinned version and input, keeping its checkpoints so far."""
    assert cmd.new_id is not None  # Given by the edge.
    source = lookup.run(uow, tenant, cmd.run_id)
    check_allowed(source.status, RunCommand.REPLAY)
    kept = source.checkpoint_outputs(cmd.block, cmd.attempt)
    if lookup.find_run(uow, tenant, cmd.new_id) is not None:
        raise FlowledgerError(
            ErrorType.RUN_ALREADY_EXISTS,
            f"a run with id {cmd.new_id!r} exists",
            run_id=cmd.new_id,
        )
    run = Run.start(
        tenant=tenant,
        run_id=cmd.new_id,
        workflow=source.workflow,
        version=source.workflow_version,
        definition=source.parsed_definition,
        input=source.input,
        metadata={**source.metadata, "replay_of": source.run_id},
        now=now,
        only=source.selected,
        timeout=source.timeout,
        kept=kept,
        replay_of={"run_id": source.run_id, "block": cmd.block, "attempt": cmd.attempt},
    )
    uow.add(run)
    return {
        "id": cmd.new_id,
        "workflow": source.workflow,
        "version": source.workflow_version,
        "status": run.status.value,
        "replay_of": source.run_id,
    }


def send_event(uow: UnitOfWork, tenant: str, cmd: c.SendEvent, now: datetime) -> dict[str, Any]:
    run = lookup.run(uow, tenant, cmd.run_id)
    block = run.send_event(cmd.event_type, cmd.payload, now)
    return {"id": cmd.run_id, "delivered_to": block, "status": run.status.value}


def start_block(uow: UnitOfWork, tenant: str, cmd: c.StartBlock, now: datetime) -> dict[str, Any]:
    run = lookup.run(uow, tenant, cmd.run_id)
    return {"claimed": run.claim_block(cmd.block, cmd.attempt, cmd.worker, now)}


def complete_block(
    uow: UnitOfWork, tenant: str, cmd: c.CompleteBlock, now: datetime
) -> dict[str, Any]:
    run = lookup.run(uow, tenant, cmd.run_id)
    accepted = run.complete_block(
        cmd.block, cmd.attempt, cmd.output, cmd.logs, now, unclaimed(cmd, now)
    )
    return {"accepted": accepted}


def fail_block(uow: UnitOfWork, tenant: str, cmd: c.FailBlock, now: datetime) -> dict[str, Any]:
    run = lookup.run(uow, tenant, cmd.run_id)
    accepted = run.fail_block(
        cmd.block,
        cmd.attempt,
        cmd.error_type,
        cmd.message,
        cmd.retryable,
        cmd.logs,
        now,
        unclaimed(cmd, now),
    )
    return {"accepted": accepted}


def start_blocks(uow: UnitOfWork, tenant: str, cmd: c.StartBlocks, now: datetime) -> dict[str, Any]:
    return {"items": _each_alone(uow, tenant, cmd.claims, now)}


def report_blocks(
    uow: UnitOfWork, tenant: str, cmd: c.ReportBlocks, now: datetime
) -> dict[str, Any]:
    return {"items": _each_alone(uow, tenant, cmd.reports, now)}


def _each_alone(
    uow: UnitOfWork,
    tenant: str,
    commands: Sequence[c.StartBlock | c.CompleteBlock | c.FailBlock],
    now: datetime,
) -> list[dict[str, Any]]:
    """Each of a worker's batched commands decided as if alone, by its own handler: a
    refusal (its run is gone, say) is its own item. Those handlers refuse before they
    change anything, as alone they must too."""
    from services.command.use_cases import HANDLERS  # The registry includes this module.

    items: list[dict[str, Any]] = []
    for command in commands:
        try:
            items.append(HANDLERS[type(command)](uow, tenant, command, now))
        except FlowledgerError as exc:
            items.append(exc.body().model_dump(mode="json"))
    return items


def unclaimed(cmd: c.CompleteBlock | c.FailBlock, now: datetime) -> Unclaimed | None:
    """The start of an attempt a worker ran without claiming it (a pure block)."""
    if cmd.worker is None:
        return None
    return Unclaimed(cmd.worker, cmd.started_at or now)


def fire_timer(uow: UnitOfWork, tenant: str, cmd: c.FireTimer, now: datetime) -> dict[str, Any]:
    run = lookup.run(uow, tenant, cmd.run_id)
    return {"accepted": run.fire_timer(cmd.block, cmd.attempt, cmd.purpose, now)}


def run_timeout(definition: WorkflowDefinition, cmd: c.StartRun) -> tuple[float, str] | None:
    """The start's own timeout and policy, else the workflow's."""
    seconds = cmd.timeout_seconds or definition.timeout_seconds
    if seconds is None:
        return None
    return seconds, cmd.timeout_policy or definition.timeout_policy


def check_input(validator: Draft202012Validator | None, run_input: dict[str, Any]) -> None:
    """The run's input must match the workflow's `input_schema` (every error at once)."""
    if validator is None:
        return
    errors = sorted(validator.iter_errors(run_input), key=lambda e: list(e.absolute_path))
    if errors:
        raise FlowledgerError(
            ErrorType.VALIDATION_ERROR,
            f"the input does not match the workflow's input_schema ({len(errors)} error(s))",
            errors=[
                {
                    "path": "input" + "".join(f"[{p!r}]" for p in e.absolute_path),
                    "message": e.message,
                }
                for e in errors
            ],
        )
