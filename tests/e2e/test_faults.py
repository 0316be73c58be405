"""Fault tests: kill the command service or NATS mid-run; nothing is lost or done twice."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from contracts.subjects import IDEMPOTENCY_HEADER
from services import devserver
from tests.e2e.stack import Stack, wait_until
from tests.e2e.test_runs import _events_of, unique
from tests.support.backends import postgres_schema
from tests.support.builders import diamond


def assert_each_block_completed_once(stack: Stack, run_ids: list[str], blocks: int) -> None:
    events = asyncio.run(_events_of(stack.nats_url, set(run_ids)))
    positions = [e.position for e in events]
    assert len(positions) == len(set(positions)), "an event was published twice"
    completed: dict[tuple[str, str], int] = {}
    for envelope in events:
        if envelope.type == "BlockCompleted":
            key = (envelope.aggregate_id, str(envelope.data["block"]))
            completed[key] = completed.get(key, 0) + 1
    assert len(completed) == len(run_ids) * blocks
    assert set(completed.values()) == {1}


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_killing_the_relay_holder_hands_over_to_another_command_service(
    tmp_path: Path, store: str
) -> None:
    """Two command services save side by side (on PostgreSQL, concurrently: their
    commits must come in id order, or the relay passes over an event); the one holding
    the relay's lease is killed and the other takes over."""
    with contextlib.ExitStack() as stores:
        if store == "sqlite":
            events, reads = (
                f"sqlite:///{tmp_path / 'events.db'}",
                f"sqlite:///{tmp_path / 'read.db'}",
            )
        else:
            events = stores.enter_context(postgres_schema())
            reads = stores.enter_context(postgres_schema())
        _hand_over(tmp_path, events, reads)


def start_as_a_client_would(stack: Stack, workflow: str, body: dict[str, Any]) -> str:
    """A start sent just after a command replica died may reach the dead one (the server
    has not yet seen its connection close): the API answers 503, "retry". A client sends
    it again with the same Idempotency-Key, so that a start the dead one saved is not
    made twice."""
    key = {IDEMPOTENCY_HEADER: uuid.uuid4().hex}

    def accepted() -> str | None:
        response = stack.http.post(f"/v1/workflows/{workflow}/runs", json=body, headers=key)
        if response.status_code == 503:
            return None
        assert response.status_code == 201, response.text
        run_id: str = response.json()["id"]
        return run_id

    return wait_until(accepted, 60, f"a start of {workflow} to be accepted")


def _hand_over(tmp_path: Path, events: str, reads: str) -> None:
    port = devserver.free_port()
    with tempfile.TemporaryDirectory() as data:
        nats = devserver.start_nats(Path(data), port, None)
        stack = Stack(tmp_path, f"nats://127.0.0.1:{port}", events, reads)
        stack.env["FL_LEASE_TTL_SECONDS"] = "2"
        try:
            stack.start()
            stack.start_service("command", "command-2")  # A replica, side by side.
            workflow = unique("handover")
            stack.put_workflow(workflow, diamond(sleep_seconds=1))
            run_ids = [stack.start_run(workflow, {"input": {"n": i}})["id"] for i in range(20)]
            stack.processes["command"].kill()  # kill -9: it held the relay lease.
            run_ids += [
                start_as_a_client_would(stack, workflow, {"input": {"n": i}}) for i in range(20)
            ]
            for run_id in run_ids:
                stack.wait_for_status(run_id, {"completed"}, timeout=60)
            assert_each_block_completed_once(stack, run_ids, blocks=4)
        finally:
            stack.stop()
            nats.stop()


def test_restarting_nats_mid_run_loses_nothing(tmp_path: Path) -> None:
    port = devserver.free_port()
    data = tmp_path / "nats"
    nats = devserver.start_nats(data, port, None)
    stack = Stack(
        tmp_path,
        f"nats://127.0.0.1:{port}",
        f"sqlite:///{tmp_path / 'events.db'}",
        f"sqlite:///{tmp_path / 'read.db'}",
    )
    try:
        stack.start()
        workflow = unique("nats-restart")
        stack.put_workflow(workflow, diamond(sleep_seconds=2))
        run_ids = [stack.start_run(workflow, {"input": {"n": i}})["id"] for i in range(20)]
        wait_until(
            lambda: all((run := stack.get_run(r)) and run["status"] == "waiting" for r in run_ids),
            what="every run to be sleeping",
        )
        nats.kill()  # kill -9 while every run waits on a durable timer.
        nats = devserver.start_nats(data, port, None)
        for run_id in run_ids:
            stack.wait_for_status(run_id, {"completed"}, timeout=90)
        # The services are still serving after the restart.
        later = stack.start_run(workflow, {"input": {"n": 99}})["id"]
        assert stack.wait_for_status(later, {"completed"}, timeout=60)["output"] == {
            "join": {"n": 99}
        }
        assert_each_block_completed_once(stack, [*run_ids, later], blocks=4)
    finally:
        stack.stop()
        nats.stop()
