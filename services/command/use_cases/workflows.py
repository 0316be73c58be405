"""Use cases of the Workflow aggregate: save, delete, undo/redo, snapshots, duplicate, import."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from contracts import commands as c
from contracts.definitions import WorkflowDefinition
from contracts.errors import ErrorType, FlowledgerError
from services.command.domain.workflow import Workflow, workflow_aggregate_id
from services.command.unit_of_work import UnitOfWork
from services.command.use_cases import lookup


def put_workflow(uow: UnitOfWork, tenant: str, cmd: c.PutWorkflow, now: datetime) -> dict[str, Any]:
    workflow = uow.get(Workflow, workflow_aggregate_id(tenant, cmd.name))
    if workflow is None:
        if cmd.expected_version:
            raise FlowledgerError(
                ErrorType.VERSION_CONFLICT,
                f"workflow {cmd.name!r} does not exist, so it is not at version "
                f"{cmd.expected_version}",
                current_version=0,
                expected_version=cmd.expected_version,
            )
        uow.add(Workflow.register(tenant, cmd.name, cmd.definition, now))
        return {"name": cmd.name, "version": 1, "created": True, "changed": True}
    was_deleted = workflow.deleted
    changed = workflow.save_definition(cmd.definition, now, cmd.expected_version)
    return {
        "name": cmd.name,
        "version": workflow.current_version,
        "created": was_deleted,
        "changed": changed,
    }


def delete_workflow(
    uow: UnitOfWork, tenant: str, cmd: c.DeleteWorkflow, now: datetime
) -> dict[str, Any]:
    lookup.workflow(uow, tenant, cmd.name).delete(now)
    return {"name": cmd.name, "deleted": True}


def _version_result(workflow: Workflow) -> dict[str, Any]:
    return {"name": workflow.name, "version": workflow.current_version}


def undo_workflow(
    uow: UnitOfWork, tenant: str, cmd: c.UndoWorkflow, now: datetime
) -> dict[str, Any]:
    workflow = lookup.workflow(uow, tenant, cmd.name)
    workflow.undo(now)
    return _version_result(workflow)


def redo_workflow(
    uow: UnitOfWork, tenant: str, cmd: c.RedoWorkflow, now: datetime
) -> dict[str, Any]:
    workflow = lookup.workflow(uow, tenant, cmd.name)
    workflow.redo(now)
    return _version_result(workflow)


def duplicate_workflow(
    uow: UnitOfWork, tenant: str, cmd: c.DuplicateWorkflow, now: datetime
) -> dict[str, Any]:
    source = lookup.workflow(uow, tenant, cmd.name)
    target = uow.get(Workflow, workflow_aggregate_id(tenant, cmd.new_name))
    if target is not None and not target.deleted:
        raise FlowledgerError(
            ErrorType.WORKFLOW_ALREADY_EXISTS,
            f"a workflow named {cmd.new_name!r} exists",
            workflow=cmd.new_name,
        )
    definition = WorkflowDefinition.model_validate(
        {**source.current_definition, "name": cmd.new_name}
    )
    if target is None:
        target = Workflow.register(tenant, cmd.new_name, definition, now)
        uow.add(target)
    else:
        target.save_definition(definition, now)
    return _version_result(target)


def create_snapshot(
    uow: UnitOfWork, tenant: str, cmd: c.CreateSnapshot, now: datetime
) -> dict[str, Any]:
    assert cmd.snapshot_id is not None  # Given by the edge, like run ids.
    workflow = lookup.workflow(uow, tenant, cmd.name)
    workflow.create_snapshot(cmd.snapshot_id, cmd.snapshot_name, cmd.tags, cmd.version, now)
    return {"id": cmd.snapshot_id, **workflow.snapshots[cmd.snapshot_id], "definition": None}


def update_snapshot(
    uow: UnitOfWork, tenant: str, cmd: c.UpdateSnapshot, now: datetime
) -> dict[str, Any]:
    workflow = lookup.workflow(uow, tenant, cmd.name)
    workflow.update_snapshot(cmd.snapshot_id, cmd.snapshot_name, cmd.tags, cmd.favourite, now)
    return {"id": cmd.snapshot_id, **workflow.snapshots[cmd.snapshot_id], "definition": None}


def delete_snapshot(
    uow: UnitOfWork, tenant: str, cmd: c.DeleteSnapshot, now: datetime
) -> dict[str, Any]:
    lookup.workflow(uow, tenant, cmd.name).delete_snapshot(cmd.snapshot_id, now)
    return {"id": cmd.snapshot_id, "deleted": True}


def restore_snapshot(
    uow: UnitOfWork, tenant: str, cmd: c.RestoreSnapshot, now: datetime
) -> dict[str, Any]:
    workflow = lookup.workflow(uow, tenant, cmd.name)
    workflow.restore_snapshot(cmd.snapshot_id, now)
    return _version_result(workflow)


def import_workflows(
    uow: UnitOfWork, tenant: str, cmd: c.ImportWorkflows, now: datetime
) -> dict[str, Any]:
    """Decide every workflow of the bundle first; write only if all are valid (atomic)."""
    report: list[dict[str, Any]] = []
    plan: list[tuple[c.BundleWorkflow, WorkflowDefinition, Workflow | None]] = []
    for item in cmd.bundle.workflows:
        entry: dict[str, Any] = {"name": item.name}
        try:
            checked = c.PutWorkflow(name=item.name, definition=item.definition)
        except ValidationError as exc:
            entry.update(action="invalid", reasons=validation_messages(exc))
            report.append(entry)
            continue
        existing = uow.get(Workflow, workflow_aggregate_id(tenant, item.name))
        definition = checked.definition
        if existing is None or existing.deleted:
            entry["action"] = "created"
        elif existing.current_definition == definition.model_dump(mode="json", exclude_none=True):
            entry["action"] = "unchanged"
        else:
            entry["action"] = "updated"
        report.append(entry)
        plan.append((item, definition, existing))
    invalid = [e for e in report if e["action"] == "invalid"]
    if invalid and not cmd.dry_run:
        raise FlowledgerError(
            ErrorType.VALIDATION_ERROR,
            f"{len(invalid)} workflow(s) in the bundle are invalid; nothing was imported",
            workflows=report,
        )
    if not cmd.dry_run:
        for item, definition, existing in plan:
            workflow = existing
            if workflow is None:
                workflow = Workflow.register(tenant, item.name, definition, now)
                uow.add(workflow)
            else:
                workflow.save_definition(definition, now)
            for snapshot in item.snapshots:
                workflow.create_snapshot(
                    str(snapshot.get("id") or uuid.uuid4().hex),
                    str(snapshot.get("name") or "imported"),
                    list(snapshot.get("tags") or []),
                    None,
                    now,
                )
    return {"dry_run": cmd.dry_run, "workflows": report}


def validation_messages(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
    ]
