"""Use cases of background jobs: create one, and do one of its chunks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts import commands as c
from contracts.errors import ErrorType, FlowledgerError
from services.command.domain.job import CHUNK_SIZE, Job, job_aggregate_id
from services.command.unit_of_work import UnitOfWork
from services.command.use_cases import lookup

TERMINATE_RUNS = "terminate_runs"


def terminate_runs(
    uow: UnitOfWork, tenant: str, cmd: c.TerminateRuns, now: datetime
) -> dict[str, Any]:
    assert cmd.job_id is not None  # Given by the edge.
    if uow.get(Job, job_aggregate_id(tenant, cmd.job_id)) is not None:
        raise FlowledgerError(ErrorType.BAD_REQUEST, f"a job {cmd.job_id!r} exists")
    ids = list(dict.fromkeys(cmd.ids))  # Each run once, in the order given.
    job = Job(
        tenant=tenant,
        job_id=cmd.job_id,
        kind=TERMINATE_RUNS,
        ids=ids,
        chunk_size=CHUNK_SIZE,
        reason=cmd.reason,
        at=now,
    )
    uow.add(job)
    return {"id": cmd.job_id, "status": "running", "total": len(ids)}


def run_chunk(uow: UnitOfWork, tenant: str, cmd: c.RunJobChunk, now: datetime) -> dict[str, Any]:
    job = uow.get(Job, job_aggregate_id(tenant, cmd.job_id))
    if job is None or not job.is_pending(cmd.chunk):
        return {"accepted": False}
    done = skipped = not_found = 0
    for run_id in job.chunk_ids(cmd.chunk):
        run = lookup.find_run(uow, tenant, run_id)
        if run is None:
            not_found += 1
            continue
        try:
            run.terminate(job.reason or f"terminated by job {job.job_id}", now)
            done += 1
        except FlowledgerError:  # Already ended: nothing to terminate.
            skipped += 1
    # The job's progress comes after the runs it changed, so a reader that sees the job
    # done sees them done too.
    uow.save_last(job)
    job.finish_chunk(cmd.chunk, done, skipped, not_found, now)
    return {"accepted": True, "done": done, "skipped": skipped, "not_found": not_found}
