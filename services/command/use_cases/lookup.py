"""Load an aggregate by its public id, or raise the matching 404."""

from __future__ import annotations

from contracts.errors import ErrorType, FlowledgerError
from services.command.domain.run import Run, earlier_run_aggregate_id, run_aggregate_id
from services.command.domain.workflow import Workflow, workflow_aggregate_id
from services.command.unit_of_work import UnitOfWork


def workflow(uow: UnitOfWork, tenant: str, name: str) -> Workflow:
    workflow = uow.get(Workflow, workflow_aggregate_id(tenant, name))
    if workflow is None:
        raise FlowledgerError(
            ErrorType.WORKFLOW_NOT_FOUND, f"no workflow named {name!r}", workflow=name
        )
    workflow.check_exists()
    return workflow


def find_run(uow: UnitOfWork, tenant: str, run_id: str) -> Run | None:
    """The run, wherever this or an earlier version stored it; None if there is none."""
    run = uow.get(Run, run_aggregate_id(tenant, run_id))
    if run is None:
        earlier = earlier_run_aggregate_id(tenant, run_id)
        run = uow.get(Run, earlier) if earlier is not None else None
    return run


def run(uow: UnitOfWork, tenant: str, run_id: str) -> Run:
    run = find_run(uow, tenant, run_id)
    if run is None:
        raise FlowledgerError(ErrorType.RUN_NOT_FOUND, f"no run {run_id!r}", run_id=run_id)
    return run
