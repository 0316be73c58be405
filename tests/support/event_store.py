"""What the command side's integration tests share: a clock, and runs read back fresh."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.command.bootstrap import build_application
from services.command.domain.run import Run


def now() -> datetime:
    return datetime.now(UTC)


def stored_runs(store_url: str, *aggregate_ids: uuid.UUID) -> list[Run]:
    """The runs as the store holds them (a new application: nothing of a processor's
    cache), each asserted to exist."""
    fresh = build_application(store_url)
    try:
        runs: list[Run] = [fresh.repository.get(i) for i in aggregate_ids]
    finally:
        fresh.close()
    assert all(isinstance(run, Run) for run in runs)
    return runs
