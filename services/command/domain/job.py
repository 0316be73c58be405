"""The Job aggregate: a background job over many runs (batch terminate), done in chunks."""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import Aggregate, event

_JOB_NAMESPACE = uuid.UUID("7e2d4c1b-5a69-4f80-b3c2-d1e0f9a8b7c6")
CHUNK_SIZE = 200


def job_aggregate_id(tenant: str, job_id: str) -> uuid.UUID:
    return uuid.uuid5(_JOB_NAMESPACE, f"{tenant}/{job_id}")


class Job(Aggregate):
    @staticmethod
    def create_id(tenant: str, job_id: str) -> uuid.UUID:
        return job_aggregate_id(tenant, job_id)

    @event("JobCreated")
    def __init__(
        self,
        tenant: str,
        job_id: str,
        kind: str,
        ids: list[str],
        chunk_size: int,
        reason: str | None,
        at: datetime,
    ) -> None:
        self.tenant = tenant
        self.job_id = job_id
        self.kind = kind
        self.ids = ids
        self.chunk_size = chunk_size
        self.reason = reason
        self.chunks_done: set[int] = set()
        self.completed = False

    @property
    def chunk_count(self) -> int:
        return (len(self.ids) + self.chunk_size - 1) // self.chunk_size

    def chunk_ids(self, chunk: int) -> list[str]:
        return self.ids[chunk * self.chunk_size : (chunk + 1) * self.chunk_size]

    def is_pending(self, chunk: int) -> bool:
        """A chunk not done yet (a redelivered chunk is done once only)."""
        return 0 <= chunk < self.chunk_count and chunk not in self.chunks_done

    def finish_chunk(
        self, chunk: int, done: int, skipped: int, not_found: int, now: datetime
    ) -> None:
        self._finish_chunk(chunk=chunk, done=done, skipped=skipped, not_found=not_found, at=now)
        if len(self.chunks_done) == self.chunk_count:
            self._complete(at=now)

    @event("JobChunkDone")
    def _finish_chunk(
        self, chunk: int, done: int, skipped: int, not_found: int, at: datetime
    ) -> None:
        self.chunks_done.add(chunk)

    @event("JobCompleted")
    def _complete(self, at: datetime) -> None:
        self.completed = True
