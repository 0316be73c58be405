"""BatchPublisher against a real JetStream: acknowledged in order, duplicates told,
a refusal is an error."""

from __future__ import annotations

import uuid

import pytest
from nats.js import JetStreamContext

from contracts import subjects
from services.bus import BatchPublisher, PublishError

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
