"""PullConsumer against a real JetStream: every message once when acknowledged, a batch
as soon as there is one, an unacknowledged message back after its ack wait, a deleted
consumer told."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from contracts import subjects
from services.bus import ConsumerGone, PullConsumer

pytestmark = pytest.mark.anyio


def consumer(js: JetStreamContext, queue: str, ack_wait: float = 30) -> PullConsumer:
    return PullConsumer(
        js,
        subject=subjects.task_queue_filter(queue),
        durable=f"test-{queue}",
        stream=subjects.TASKS_STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait, max_deliver=-1),
    )


async def publish(js: JetStreamContext, queue: str, count: int) -> None:
    for i in range(count):
        await js.publish(subjects.task_subject("t1", queue), f"m{i}".encode())


async def request_open(js: JetStreamContext, queue: str) -> None:
    """Until the server holds the consumer's pull request."""
    async with asyncio.timeout(10):
        while not (await js.consumer_info(subjects.TASKS_STREAM, f"test-{queue}")).num_waiting:
            await asyncio.sleep(0.02)


async def fetch_in_wait(
    pull: PullConsumer, js: JetStreamContext, queue: str, batch: int
) -> asyncio.Task[list]:
    """A fetch that is waiting, its request open at the server."""
    waiting = asyncio.create_task(pull.fetch(batch, wait_seconds=5))
    await request_open(js, queue)
    return waiting


async def test_every_message_arrives_once_in_order_in_batches(js: JetStreamContext) -> None:
    queue = f"q{uuid.uuid4().hex[:8]}"
    await publish(js, queue, 250)
    pull = await consumer(js, queue).start()
    try:
        got: list[bytes] = []
        batches = 0
        async with asyncio.timeout(20):
            while len(got) < 250:
                messages = await pull.fetch(100)
                assert len(messages) <= 100
                batches += bool(messages)
                for message in messages:
                    got.append(message.data)
                    await message.ack()
        assert got == [f"m{i}".encode() for i in range(250)]
        assert batches < 250, "messages came in batches"
        # Nothing more: an idle fetch comes back empty within its wait.
        began = time.monotonic()
        assert await pull.fetch(100, wait_seconds=0.5) == []
        assert time.monotonic() - began < 3
    finally:
        await pull.stop()


async def test_a_message_published_during_a_wait_is_taken_at_once(js: JetStreamContext) -> None:
    queue = f"q{uuid.uuid4().hex[:8]}"
    pull = await consumer(js, queue).start()
    try:
        waiting = await fetch_in_wait(pull, js, queue, 50)
        began = time.monotonic()
        await publish(js, queue, 1)
        messages = await asyncio.wait_for(waiting, timeout=10)
        assert [m.data for m in messages] == [b"m0"]
        assert time.monotonic() - began < 2, "not held back until the request expired"
        await messages[0].ack()
    finally:
        await pull.stop()


async def test_an_unacknowledged_message_comes_back(js: JetStreamContext) -> None:
    queue = f"q{uuid.uuid4().hex[:8]}"
    await publish(js, queue, 1)
    pull = await consumer(js, queue, ack_wait=1).start()
    try:
        async with asyncio.timeout(20):
            first: list = []
            while not first:
                first = await pull.fetch(10)
            again: list = []
            while not again:
                again = await pull.fetch(10)
        assert [m.data for m in again] == [b"m0"]
        assert again[0].metadata.num_delivered == 2
    finally:
        await pull.stop()


async def test_a_deleted_consumer_is_told(js: JetStreamContext) -> None:
    queue = f"q{uuid.uuid4().hex[:8]}"
    pull = await consumer(js, queue).start()
    try:
        waiting = await fetch_in_wait(pull, js, queue, 10)
        await js.delete_consumer(subjects.TASKS_STREAM, f"test-{queue}")
        with pytest.raises(ConsumerGone):
            await asyncio.wait_for(waiting, timeout=10)
    finally:
        await pull.stop()
