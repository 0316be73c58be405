"""Load an aggregate by its public id, or raise the matching 404."""

from __future__ import annotations

from contracts.errors import ErrorType, FlowledgerError
from services.command.domain.run import Run, run_aggregate_id
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


def run(uow: UnitOfWork, tenant: str, run_id: str) -> Run:
    run = uow.get(Run, run_aggregate_id(tenant, run_id))
    if run is None:
        raise FlowledgerError(ErrorType.RUN_NOT_FOUND, f"no run {run_id!r}", run_id=run_id)
    return run
