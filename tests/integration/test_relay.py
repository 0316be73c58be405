"""The outbox relay against a real NATS and both event stores."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext

from contracts import subjects
from contracts.commands import PutWorkflow, StartRun
from contracts.events import envelope_position
from services import bus
from services.command.adapters.relay import OutboxRelay
from services.command.application import CommandProcessor, Envelope, FlowledgerApplication
from services.command.bootstrap import build_application
from services.tasks import stop_tasks
from tests.support.builders import definition, diamond

pytestmark = pytest.mark.anyio


def write_runs(app: FlowledgerApplication, runs: int) -> int:
    """Save a workflow and `runs` starts; return the last position written."""
    processor = CommandProcessor(app, lambda: datetime.now(UTC))
    batch = [Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond())))]
    batch += [
        Envelope("t1", StartRun(workflow="wf", id=uuid.uuid4().hex, input={"n": i}))
        for i in range(runs)
    ]
    replies = processor.process(batch)
    return max(r.position for r in replies)  # type: ignore[union-attr]


async def stream_positions(js: JetStreamContext) -> list[int]:
    info = await js.stream_info(subjects.EVENTS_STREAM)
    positions = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(subjects.EVENTS_STREAM, seq)
        except nats.js.errors.NotFoundError:
            continue
        positions.append(envelope_position(msg.data))
    return positions


async def relay_until(relay: OutboxRelay, position: int, timeout: float = 20.0) -> None:
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(timeout):
            while relay.published_position < position:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
    finally:
        await stop_tasks(task)


async def test_commit_then_crash_before_publish_loses_nothing(
    js: JetStreamContext, store_url: str
) -> None:
    app = build_application(store_url)
    last = write_runs(app, 20)  # Committed; no relay ran: the "crash" before publishing.
    await relay_until(OutboxRelay(app, js), last)
    assert await stream_positions(js) == list(range(1, last + 1))


async def test_relay_killed_mid_publish_resumes_without_duplicates(
    js: JetStreamContext, store_url: str
) -> None:
    app = build_application(store_url)
    first = write_runs(app, 30)
    relay = OutboxRelay(app, js, batch_size=7)
    task = asyncio.create_task(relay.run())
    async with asyncio.timeout(10):
        while relay.published_position < 20:
            await asyncio.sleep(0)
    await stop_tasks(task)  # Killed between two batches, or in the middle of one.
    second = write_runs(app, 10)
    assert second > first
    await relay_until(OutboxRelay(app, js), second)
    positions = await stream_positions(js)
    assert positions == list(range(1, second + 1)), "every event once, in order"


async def test_stream_that_lost_its_tail_is_healed_from_the_store(
    js: JetStreamContext, store_url: str
) -> None:
    app = build_application(store_url)
    last = write_runs(app, 10)
    await relay_until(OutboxRelay(app, js), last)
    info = await js.stream_info(subjects.EVENTS_STREAM)
    for seq in range(info.state.last_seq - 9, info.state.last_seq + 1):
        await js.delete_msg(subjects.EVENTS_STREAM, seq)
    assert len(await stream_positions(js)) == last - 10
    await relay_until(OutboxRelay(app, js), last)
    assert await stream_positions(js) == list(range(1, last + 1))


async def test_the_relay_asks_one_ack_a_batch_of_each_stream_it_alone_writes(
    js: JetStreamContext, store_url: str
) -> None:
    app = build_application(store_url)
    last = write_runs(app, 40)
    tasks_before = (await js.stream_info(subjects.TASKS_STREAM)).state.last_seq
    nc = bus.core_connection(js)
    received = nc.stats["in_msgs"]
    await relay_until(OutboxRelay(app, js, batch_size=20), last)
    received = nc.stats["in_msgs"] - received
    assert await stream_positions(js) == list(range(1, last + 1))
    tasks = (await js.stream_info(subjects.TASKS_STREAM)).state.last_seq - tasks_before
    assert tasks > 0
    # An ack a message for the first batch (it learns where each stream ends), then at
    # most one a batch per stream; the rest of what came in answered its reads of the
    # stream on start.
    batches = -(-last // 20)
    assert received <= 20 + tasks + 2 * batches + 5 < last + tasks


async def test_tasks_and_timers_are_published(js: JetStreamContext, store_url: str) -> None:
    app = build_application(store_url)
    last = write_runs(app, 3)
    await relay_until(OutboxRelay(app, js), last)
    tasks = await js.stream_info(subjects.TASKS_STREAM)
    assert tasks.state.messages == 3  # Each run's first block, a `set`, is a task.


async def test_only_one_relay_holds_the_lease(js: JetStreamContext) -> None:
    kv = await bus.leases(js, ttl_seconds=2)
    key = f"relay-{uuid.uuid4().hex}"
    first = bus.Lease(kv, key, "a", 2)
    second = bus.Lease(kv, key, "b", 2)
    assert await first.acquire()
    assert not await second.acquire()
    assert await first.renew()
    await first.release()
    assert await second.acquire()


async def test_work_under_a_lost_lease_is_stopped(js: JetStreamContext) -> None:
    """Whoever loses the lease stops its work (a relay or a projector must never run
    twice), and goes on trying to take the lease back until told to stop."""
    kv = await bus.leases(js, ttl_seconds=2)
    key = f"relay-{uuid.uuid4().hex}"
    lease, stop = bus.Lease(kv, key, "a", 2), asyncio.Event()
    beats: list[float] = []

    async def work() -> None:
        wake = asyncio.Event()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), 0.01)
            beats.append(time.monotonic())

    holding = asyncio.create_task(lease.hold(work, stop))
    try:
        async with asyncio.timeout(10):
            while not beats:
                await asyncio.sleep(0.01)
            await kv.put(key, b"b")  # Taken over: the next renewal fails.
            lost_at = time.monotonic()
            while time.monotonic() - beats[-1] < 1.0:  # Until the work has gone quiet.
                await asyncio.sleep(0.05)
        assert lost_at <= beats[-1] < lost_at + 2, "stopped within a renewal of the loss"
        assert not holding.done(), "it goes on trying to take the lease back"
        stop.set()
        async with asyncio.timeout(5):
            await holding
    finally:
        await stop_tasks(holding)


async def test_events_handed_over_in_memory_are_published_as_decoded_ones(
    js: JetStreamContext, store_url: str
) -> None:
    """What this process just saved is relayed without decoding it again; the messages
    are the same as a relay that reads everything back from the store builds."""
    app = build_application(store_url)
    relay = OutboxRelay(app, js)
    app.on_saved = relay.remember
    decoded = 0
    decode = app.mapper.to_domain_event

    def counting_decode(stored: Any) -> Any:
        nonlocal decoded
        decoded += 1
        return decode(stored)

    app.mapper.to_domain_event = counting_decode  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(10):
            while not relay._running:
                await asyncio.sleep(0.01)
        last = write_runs(app, 20)
        async with asyncio.timeout(20):
            while relay.published_position < last:
                await asyncio.sleep(0.01)
    finally:
        await stop_tasks(task)
    assert decoded < last / 2, "remembered events were decoded again"
    assert await stream_positions(js) == list(range(1, last + 1))
    app.mapper.to_domain_event = decode  # type: ignore[method-assign]
    fresh = OutboxRelay(app, js)
    for seq, notification in enumerate(app.recorder.select_notifications(1, last), start=1):
        msg = await js.get_msg(subjects.EVENTS_STREAM, seq)
        built = fresh._messages(notification.id, app.mapper.to_domain_event(notification))
        assert msg.data == built[-1][1]


async def test_the_store_is_read_only_when_a_poll_falls_due_or_a_hole_shows(
    js: JetStreamContext, store_url: str
) -> None:
    """Its own saves are relayed from memory, with no read of the store after each
    publish; another writer's events, seen as a hole before its own, are read."""
    app = build_application(store_url)
    relay = OutboxRelay(app, js, poll_seconds=30)  # No poll falls due in this test.
    app.on_saved = relay.remember
    reads = 0
    read_after = relay._read_after

    def counting_read(position: int) -> Any:
        nonlocal reads
        reads += 1
        return read_after(position)

    relay._read_after = counting_read  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(10):
            while not relay._running or reads < 1:
                await asyncio.sleep(0.01)
            for _ in range(5):
                last = write_runs(app, 10)
                relay.wake.set()  # As the committer does after each commit.
                while relay.published_position < last:
                    await asyncio.sleep(0.01)
            assert reads == 1, "only the first look at the store, on start"
            write_runs(build_application(store_url), 5)  # Another writer: not remembered.
            last = write_runs(app, 5)
            relay.wake.set()
            while relay.published_position < last:
                await asyncio.sleep(0.01)
    finally:
        await stop_tasks(task)
    assert reads >= 2
    assert await stream_positions(js) == list(range(1, last + 1))
