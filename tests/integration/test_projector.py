"""The projector against a real NATS and both read stores: exactly-once application."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import event, select

from contracts import subjects
from contracts.commands import CompleteBlock, PutWorkflow, StartRun
from contracts.events import Envelope
from contracts.replies import Accepted
from projections import block_attempts
from projections.runner import Projector
from projections.store import ReadStore, create_read_engine, create_tables
from projections.tables import metadata
from services.bus import core_connection
from services.command.adapters.relay import OutboxRelay
from services.command.application import CommandProcessor
from services.command.application import Envelope as CommandEnvelope
from services.command.bootstrap import build_application
from services.tasks import stop_tasks
from tests.integration.test_relay import relay_until, write_runs
from tests.support.builders import definition, diamond

pytestmark = pytest.mark.anyio


def snapshot(store: ReadStore) -> dict[str, list[dict]]:
    with store.engine.connect() as conn:
        return {
            table.name: sorted((dict(r) for r in conn.execute(select(table)).mappings()), key=repr)
            for table in metadata.sorted_tables
        }


async def all_envelopes(js: JetStreamContext) -> list[Envelope]:
    info = await js.stream_info(subjects.EVENTS_STREAM)
    return [
        Envelope.model_validate_json((await js.get_msg(subjects.EVENTS_STREAM, seq)).data)
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


async def runs_on_the_stream(js: JetStreamContext, tmp_path: Path, runs: int) -> int:
    """`runs` starts saved in a SQLite event store and relayed to FL_EVENTS; the last
    position."""
    app = build_application(f"sqlite:///{tmp_path / 'events.db'}")
    last = write_runs(app, runs)
    await relay_until(OutboxRelay(app, js), last)
    return last


async def project_until(projector: Projector, position: int, timeout: float = 20.0) -> None:
    task = asyncio.create_task(projector.run())
    try:
        async with asyncio.timeout(timeout):
            while projector.position < position:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
    finally:
        await stop_tasks(task)


def open_read_store(url: str) -> ReadStore:
    engine = create_read_engine(url)
    create_tables(engine)
    return ReadStore(engine)


@pytest.fixture
def read_store(store_url: str) -> ReadStore:
    return open_read_store(store_url)


async def test_redelivered_events_change_nothing(
    js: JetStreamContext, tmp_path: Path, read_store: ReadStore
) -> None:
    last = await runs_on_the_stream(js, tmp_path, 15)
    await project_until(Projector(js, read_store), last)
    before = snapshot(read_store)
    assert len(before["runs"]) == 15
    counts = {r["status"]: r["count"] for r in before["workflow_run_counts"]}
    assert counts == {"running": 15}

    # Redelivery: the same events again, applied directly and through a fresh consumer.
    envelopes = await all_envelopes(js)
    assert read_store.apply_batch(envelopes) == last
    await js.delete_consumer(subjects.EVENTS_STREAM, subjects.PROJECTOR_DURABLE)
    await project_until(Projector(js, read_store), last)
    assert snapshot(read_store) == before


async def test_one_acknowledgement_covers_a_batch(
    js: JetStreamContext, tmp_path: Path, read_store: ReadStore
) -> None:
    last = await runs_on_the_stream(js, tmp_path, 15)
    events = (await js.stream_info(subjects.EVENTS_STREAM)).state.messages
    nc = core_connection(js)
    acks = await nc.subscribe(
        subjects.acks_wildcard(subjects.EVENTS_STREAM, subjects.PROJECTOR_DURABLE)
    )
    await project_until(Projector(js, read_store), last)

    async with asyncio.timeout(5):  # The last ack may still be on its way.
        while True:
            info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.PROJECTOR_DURABLE)
            if info.num_ack_pending == 0 and info.ack_floor.stream_seq == events:
                break
            await asyncio.sleep(0.01)
    sent = acks.pending_msgs
    await acks.unsubscribe()
    assert events > 25
    assert 1 <= sent < events / 10  # One per batch fetched, not one per event.


async def test_a_consumer_acknowledging_each_event_is_replaced_from_where_the_store_stands(
    js: JetStreamContext, tmp_path: Path, read_store: ReadStore
) -> None:
    """An earlier version's consumer (per-event acks: JetStream cannot change that) is
    replaced by one delivering only what the read store lacks."""
    last = await runs_on_the_stream(js, tmp_path, 8)
    envelopes = await all_envelopes(js)
    old = ConsumerConfig(
        durable_name=subjects.PROJECTOR_DURABLE,
        filter_subject=subjects.event_wildcard(),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
    )
    await js.add_consumer(subjects.EVENTS_STREAM, config=old)
    half = envelopes[: len(envelopes) // 2]
    read_store.apply_batch(half)  # What the earlier version's projector had applied.

    await project_until(Projector(js, read_store), last)
    info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.PROJECTOR_DURABLE)
    assert info.config.ack_policy == AckPolicy.ALL
    assert info.delivered.consumer_seq == len(envelopes) - len(half)
    rebuilt = open_read_store(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    rebuilt.apply_batch(envelopes)
    assert snapshot(read_store) == snapshot(rebuilt)


async def test_read_model_rebuilt_from_the_first_event_equals_the_live_one(
    js: JetStreamContext, tmp_path: Path, read_store: ReadStore
) -> None:
    last = await runs_on_the_stream(js, tmp_path, 5)
    envelopes = await all_envelopes(js)
    # Live: one event at a time; rebuilt: everything in one batch.
    for envelope in envelopes:
        read_store.apply_batch([envelope])
    rebuilt_engine = create_read_engine(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}")
    create_tables(rebuilt_engine)
    rebuilt = ReadStore(rebuilt_engine)
    rebuilt.apply_batch(envelopes)
    assert snapshot(rebuilt) == snapshot(read_store)
    assert rebuilt.position() == read_store.position() == last


async def test_events_acknowledged_then_lost_by_the_read_store_are_applied_again(
    js: JetStreamContext, tmp_path: Path, read_store: ReadStore
) -> None:
    """A read store can lose commits after the projector acknowledged them (SQLite's
    synchronous=NORMAL on a power cut, a restore from an older backup); the durable
    consumer never delivers those again, so the projector reads them from the stream."""
    last = await runs_on_the_stream(js, tmp_path, 12)
    envelopes = await all_envelopes(js)

    # A projector applied and acknowledged every event, into a store that was then lost...
    lost_engine = create_read_engine(f"sqlite:///{tmp_path / 'lost.db'}")
    create_tables(lost_engine)
    await project_until(Projector(js, ReadStore(lost_engine)), last)
    # ... and restored from a backup holding only the first half.
    half = envelopes[: len(envelopes) // 2]
    assert read_store.apply_batch(half) == half[-1].position < last

    await project_until(Projector(js, read_store), last)
    rebuilt_engine = create_read_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    create_tables(rebuilt_engine)
    rebuilt = ReadStore(rebuilt_engine)
    rebuilt.apply_batch(envelopes)
    assert snapshot(read_store) == snapshot(rebuilt)
    assert len(snapshot(read_store)["runs"]) == 12

    # Nothing lost: a restart finds nothing to apply again, and changes nothing.
    before = snapshot(read_store)
    projector = Projector(js, read_store)
    await projector.reapply_acknowledged()
    assert projector.position == 0 and snapshot(read_store) == before


def write_one_run_through_two_blocks(app: Any) -> int:
    """A diamond run whose `prepare` and `double` complete: many events on one row."""
    processor = CommandProcessor(app, lambda: datetime.now(UTC))
    now = datetime.now(UTC)
    replies = processor.process(
        [
            CommandEnvelope("t1", PutWorkflow(name="wf", definition=definition(diamond()))),
            CommandEnvelope("t1", StartRun(workflow="wf", id="r1", input={"n": 2})),
        ]
    )
    for block, output in (("prepare", {"n": 2}), ("double", 2)):
        replies += processor.process(
            [
                CommandEnvelope(
                    "t1",
                    CompleteBlock(
                        run_id="r1",
                        block=block,
                        attempt=1,
                        output=output,
                        worker="w1",
                        started_at=now,
                    ),
                )
            ]
        )
    assert all(isinstance(r, Accepted) for r in replies), replies
    return max(r.position for r in replies if isinstance(r, Accepted))


async def test_rows_kept_between_batches_are_not_read_again(
    js: JetStreamContext, store_url: str, tmp_path: Path
) -> None:
    app = build_application(store_url)
    last = write_one_run_through_two_blocks(app)
    await relay_until(OutboxRelay(app, js), last)
    envelopes = await all_envelopes(js)
    store = open_read_store(store_url)
    selects: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    for envelope in envelopes:  # One event per batch, as a projector keeping up sees them.
        store.apply_batch([envelope])
    run_events = sum(1 for e in envelopes if e.aggregate == "run")
    assert run_events > 5
    # The run's start and each attempt's scheduling make their rows: nothing to look up.
    assert not [s for s in selects if "FROM runs" in s or "FROM block_attempts" in s]
    rebuilt = open_read_store(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    rebuilt.apply_batch(envelopes)
    assert snapshot(store) == snapshot(rebuilt)


async def test_rows_another_writer_changed_are_read_again(
    js: JetStreamContext, tmp_path: Path
) -> None:
    """Two projectors on one read store (a lease lost and taken over): the one that comes
    back must not write rows from what it kept before the other wrote."""
    app = build_application(f"sqlite:///{tmp_path / 'events.db'}")
    last = write_one_run_through_two_blocks(app)
    await relay_until(OutboxRelay(app, js), last)
    envelopes = await all_envelopes(js)
    url = f"sqlite:///{tmp_path / 'read.db'}"
    first, second = open_read_store(url), open_read_store(url)
    taken_over = next(
        i
        for i, e in enumerate(envelopes)
        if e.type == "BlockScheduled" and e.data["block"] == "double"
    )
    first.apply_batch(envelopes[:taken_over])
    second.apply_batch([envelopes[taken_over]])
    first.apply_batch(envelopes[taken_over + 1 :])
    rebuilt = open_read_store(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    rebuilt.apply_batch(envelopes)
    assert snapshot(first) == snapshot(rebuilt)


async def test_a_row_standing_where_an_event_creates_one_is_looked_up_after_all(
    js: JetStreamContext, store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A read store that holds a row its creating event has not made yet (restored out of
    step, say): the insert fails and the batch is applied again, reading every row."""
    app = build_application(f"sqlite:///{tmp_path / 'events.db'}")
    last = write_one_run_through_two_blocks(app)
    await relay_until(OutboxRelay(app, js), last)
    envelopes = await all_envelopes(js)
    store = open_read_store(store_url)
    scheduled = next(e for e in envelopes if e.type == "BlockScheduled")
    with store.engine.begin() as conn:
        conn.execute(
            block_attempts.table.insert().values(
                tenant="t1",
                run_id="r1",
                block=scheduled.data["block"],
                attempt=1,
                type="set",
                status="running",
                scheduled_at="2000-01-01T00:00:00.000000Z",
                logs=[],
                scheduled_position=0,
            )
        )
    assert store.apply_batch(envelopes) == envelopes[-1].position
    assert "applying the batch again" in caplog.text
    with store.engine.connect() as conn:
        row = conn.execute(
            select(block_attempts.table).where(
                block_attempts.table.c.block == scheduled.data["block"]
            )
        ).one()
    # The row that stood there was read and carried on with: its attempt has completed.
    assert row.status == "completed" and row.scheduled_at.startswith("2000-")
