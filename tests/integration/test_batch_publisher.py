"""BatchPublisher against a real JetStream: stored in order, duplicates told, a refusal
is an error; on a stream it alone writes, one ack a batch, counted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from contracts import subjects
from services.bus import BatchPublisher, PublishError, core_connection

pytestmark = pytest.mark.anyio


def event_subject(name: str) -> str:
    return subjects.event_subject(f"t{uuid.uuid4().hex[:8]}", "run", name)


async def test_every_message_is_stored_in_order_and_repeats_are_told(
    js: JetStreamContext,
) -> None:
    publisher = BatchPublisher(js)
    subject = event_subject("RunStarted")
    ids = [uuid.uuid4().hex for _ in range(300)]
    batch = [(subject, f"m{i}".encode(), {subjects.MSG_ID_HEADER: ids[i]}) for i in range(300)]
    assert await publisher.publish(batch) == [False] * 300
    # The same ids again, and fresh ones between them: only the repeats are duplicates.
    mixed = [batch[0], (subject, b"new", {subjects.MSG_ID_HEADER: uuid.uuid4().hex}), batch[1]]
    assert await publisher.publish(mixed) == [True, False, True]
    info = await js.stream_info(subjects.EVENTS_STREAM)
    first = info.state.last_seq - 300
    stored = [(await js.get_msg(subjects.EVENTS_STREAM, first + i)).data for i in range(301)]
    assert stored == [f"m{i}".encode() for i in range(300)] + [b"new"]


async def test_a_message_no_stream_takes_fails_the_batch(js: JetStreamContext) -> None:
    publisher = BatchPublisher(js, timeout=5)
    batch = [
        (event_subject("RunStarted"), b"ok", {subjects.MSG_ID_HEADER: uuid.uuid4().hex}),
        (f"nowhere.{uuid.uuid4().hex}", b"lost", {}),
    ]
    with pytest.raises(PublishError):
        await publisher.publish(batch)
    # The publisher stays usable.
    good = [(event_subject("RunStarted"), b"ok", {subjects.MSG_ID_HEADER: uuid.uuid4().hex})]
    assert await publisher.publish(good) == [False]


# ----- a stream the publisher alone writes: one ack per batch, counted --------------------


SoleStream = Callable[..., Awaitable[tuple[str, str]]]


@pytest.fixture
async def sole_stream(js: JetStreamContext) -> AsyncIterator[SoleStream]:
    """Makes streams of this test's own, (subject root, name), deleted afterwards."""
    made: list[str] = []

    async def make(**limits: int) -> tuple[str, str]:
        tag = uuid.uuid4().hex[:10]
        root, name = f"fltest.{tag}", f"FLTEST_{tag}"
        await js.add_stream(StreamConfig(name=name, subjects=[f"{root}.>"], **limits))
        made.append(name)
        return root, name

    yield make
    for name in made:
        await js.delete_stream(name)


def messages_to(root: str, count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    return [
        (f"{root}.e", f"m{i}".encode(), {subjects.MSG_ID_HEADER: uuid.uuid4().hex})
        for i in range(count)
    ]


async def stored(js: JetStreamContext, stream: str) -> list[bytes]:
    info = await js.stream_info(stream)
    return [
        (await js.get_msg(stream, seq)).data
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


async def acks_received(js: JetStreamContext, publish: Awaitable[list[bool]]) -> int:
    """How many messages the publisher's connection took in while `publish` ran: its acks."""
    nc = core_connection(js)
    before = nc.stats["in_msgs"]
    await publish
    return int(nc.stats["in_msgs"] - before)


async def learned_publisher(
    js: JetStreamContext, sole_stream: SoleStream, **limits: int
) -> tuple[str, str, BatchPublisher]:
    """A publisher of a stream of its own that has learned where the stream ends."""
    root, stream = await sole_stream(**limits)
    publisher = BatchPublisher(js, sole={root: stream})
    await publisher.publish(messages_to(root, 3))
    return root, stream, publisher


def intercept(
    monkeypatch: pytest.MonkeyPatch, js: JetStreamContext, send: Callable[[bytes], bool]
) -> None:
    """The connection's publish asks `send(payload)` first, and sends only if it says so."""
    nc = core_connection(js)
    publish = nc.publish

    async def intercepted(subject: str, payload: bytes, **kwargs: Any) -> None:
        if send(payload):
            await publish(subject, payload, **kwargs)

    monkeypatch.setattr(nc, "publish", intercepted)


async def test_a_sole_stream_is_acknowledged_once_a_batch_once_its_end_is_known(
    js: JetStreamContext, sole_stream: SoleStream
) -> None:
    root, stream = await sole_stream()
    publisher = BatchPublisher(js, sole={root: stream})
    first, second = messages_to(root, 50), messages_to(root, 300)
    # The first batch learns where the stream ends: one ack per message.
    assert await acks_received(js, publisher.publish(first)) == 50
    assert await acks_received(js, publisher.publish(second)) == 1
    assert await stored(js, stream) == [body for _, body, _ in first + second]


async def test_repeats_in_a_counted_batch_are_told_and_nothing_is_stored_twice(
    js: JetStreamContext, sole_stream: SoleStream
) -> None:
    root, stream = await sole_stream()
    publisher = BatchPublisher(js, sole={root: stream})
    batch = messages_to(root, 20)
    assert await publisher.publish(batch) == [False] * 20
    fresh = messages_to(root, 2)
    # Repeats, and fresh messages between them, the last a repeat: the count comes out
    # short, so each is asked again; the fresh ones stored by the first send are not
    # repeats of anything stored before this batch.
    mixed = [batch[0], fresh[0], batch[1], fresh[1], batch[2]]
    assert await publisher.publish(mixed) == [True, False, True, False, True]
    assert await stored(js, stream) == [body for _, body, _ in batch + fresh]
    # The stream's end is learned again, and counting resumes.
    assert await publisher.publish(messages_to(root, 5)) == [False] * 5
    assert await acks_received(js, publisher.publish(messages_to(root, 30))) == 1


async def test_another_writer_makes_the_count_differ_and_nothing_is_lost_or_doubled(
    js: JetStreamContext, sole_stream: SoleStream
) -> None:
    root, stream, publisher = await learned_publisher(js, sole_stream)
    first = await stored(js, stream)
    other = messages_to(root, 1)
    await js.publish(other[0][0], other[0][1], headers=other[0][2])
    then = messages_to(root, 10)
    assert await publisher.publish(then) == [False] * 10
    assert await stored(js, stream) == first + [body for _, body, _ in other + then]


async def test_a_refusal_inside_a_counted_batch_fails_it(
    js: JetStreamContext, sole_stream: SoleStream
) -> None:
    root, _, publisher = await learned_publisher(js, sole_stream, max_msg_size=64)
    batch = messages_to(root, 3)
    batch[1] = (batch[1][0], b"x" * 100, batch[1][2])  # Over the stream's message size.
    with pytest.raises(PublishError):
        await publisher.publish(batch)


async def test_a_reconnect_during_a_counted_batch_fails_it(
    js: JetStreamContext, sole_stream: SoleStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _, publisher = await learned_publisher(js, sole_stream)
    stats = core_connection(js).stats

    def reconnecting_midway(payload: bytes) -> bool:
        if payload == b"m2":  # As if the connection had dropped and come back here.
            stats["reconnects"] += 1
        return True

    intercept(monkeypatch, js, reconnecting_midway)
    with pytest.raises(PublishError):
        await publisher.publish(messages_to(root, 5))
    monkeypatch.undo()
    # Learned again from scratch, one ack a message, and counted after that.
    assert await acks_received(js, publisher.publish(messages_to(root, 4))) == 4
    assert await acks_received(js, publisher.publish(messages_to(root, 4))) == 1


async def test_a_message_lost_unrefused_in_a_counted_batch_fails_it(
    js: JetStreamContext, sole_stream: SoleStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, stream, publisher = await learned_publisher(js, sole_stream)
    dropped: list[bytes] = []

    def losing_one(payload: bytes) -> bool:
        if payload == b"m1" and not dropped:  # Lost on the way, once; nothing refused.
            dropped.append(payload)
            return False
        return True

    intercept(monkeypatch, js, losing_one)
    with pytest.raises(PublishError):
        await publisher.publish(messages_to(root, 4))
    # Asked again, it is in the stream, though after the ones sent after it.
    bodies = await stored(js, stream)
    assert bodies[-4:] == [b"m0", b"m2", b"m3", b"m1"]
