"""The command processor on both event stores: group commit and conflict retries."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import psycopg
from eventsourcing.persistence import JSONTranscoder

from contracts.commands import (
    CancelRun,
    CompleteBlock,
    PauseRun,
    PutWorkflow,
    ResumeRun,
    StartRun,
)
from contracts.errors import ErrorBody, ErrorType
from contracts.replies import Accepted
from services.command.adapters.event_store import PostgresEventRecorder
from services.command.application import CommandProcessor, Envelope
from services.command.bootstrap import build_application
from services.command.domain.run import Run, run_aggregate_id
from tests.support.backends import postgres_base_url, postgres_schema
from tests.support.builders import definition, diamond
from tests.support.event_store import now
from tests.support.threads import all_at_once


def test_a_batch_of_commands_is_one_transaction(store_url: str) -> None:
    app = build_application(store_url)
    saves: list[int] = []
    original = app.save_aggregates

    def counting_save(aggregates: Any) -> Any:
        saves.append(len(aggregates))
        return original(aggregates)

    app.save_aggregates = counting_save  # type: ignore[method-assign]
    processor = CommandProcessor(app, now)
    batch = [Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond())))]
    batch += [Envelope("t1", StartRun(workflow="wf", id=f"r{i}")) for i in range(200)]
    replies = processor.process(batch)
    assert all(isinstance(r, Accepted) for r in replies)
    assert saves == [201]
    positions = [r.position for r in replies if isinstance(r, Accepted)]
    assert positions == sorted(positions) and len(set(positions)) == 201


def test_rejections_in_a_batch_do_not_sink_the_others(store_url: str) -> None:
    processor = CommandProcessor(build_application(store_url), now)
    replies = processor.process(
        [
            Envelope("t1", StartRun(workflow="missing", id="x")),
            Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond()))),
            Envelope("t1", StartRun(workflow="wf", id="r1")),
            Envelope("t1", StartRun(workflow="wf", id="r1")),
        ]
    )
    assert isinstance(replies[0], ErrorBody)
    assert replies[0].error.type is ErrorType.WORKFLOW_NOT_FOUND
    assert isinstance(replies[1], Accepted) and isinstance(replies[2], Accepted)
    assert isinstance(replies[3], ErrorBody)
    assert replies[3].error.type is ErrorType.RUN_ALREADY_EXISTS


def test_a_conflicting_write_is_reloaded_and_decided_again(store_url: str) -> None:
    app_a = build_application(store_url)
    app_b = build_application(store_url)
    setup = CommandProcessor(app_a, now).process(
        [
            Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond()))),
            Envelope("t1", StartRun(workflow="wf", id="r1")),
        ]
    )
    assert all(isinstance(r, Accepted) for r in setup)

    # B cancels the run after A has decided, but before A saves.
    original = app_a.save_aggregates
    interleaved = []

    def save_after_a_concurrent_writer(aggregates: Any) -> Any:
        if not interleaved:
            interleaved.append(
                CommandProcessor(app_b, now).process([Envelope("t1", CancelRun(run_id="r1"))])
            )
        return original(aggregates)

    app_a.save_aggregates = save_after_a_concurrent_writer  # type: ignore[method-assign]
    [reply] = CommandProcessor(app_a, now).process(
        [Envelope("t1", CompleteBlock(run_id="r1", block="prepare", attempt=1, output={}))]
    )
    assert isinstance(interleaved[0][0], Accepted)
    # Re-decided on the reloaded (cancelled) run: the late result is ignored, not saved.
    assert isinstance(reply, Accepted) and reply.result == {"accepted": False}
    reader = build_application(store_url)
    run = reader.repository.get(run_aggregate_id("t1", "r1"))
    assert isinstance(run, Run)
    assert run.status.value == "cancelled"
    assert run.blocks["prepare"]["status"] == "cancelled"


def test_tenants_are_isolated_in_the_store(store_url: str) -> None:
    processor = CommandProcessor(build_application(store_url), now)
    run_id = uuid.uuid4().hex
    replies = processor.process(
        [
            Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond()))),
            Envelope("t1", StartRun(workflow="wf", id=run_id)),
            Envelope("t2", StartRun(workflow="wf", id="other")),
            Envelope("t2", CancelRun(run_id=run_id)),
        ]
    )
    assert isinstance(replies[2], ErrorBody)
    assert replies[2].error.type is ErrorType.WORKFLOW_NOT_FOUND
    assert isinstance(replies[3], ErrorBody)
    assert replies[3].error.type is ErrorType.RUN_NOT_FOUND


def test_an_idempotency_key_gives_a_repeat_the_first_answer(store_url: str) -> None:
    from services.command.application import request_hash

    app = build_application(store_url)
    processor = CommandProcessor(app, now)
    processor.process([Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond())))])
    sent = StartRun(workflow="wf", input={"n": 1})  # No id: the edge gives one per request.
    key = ("start-1", request_hash(sent))
    first, same_batch = processor.process(
        [
            Envelope("t1", sent.model_copy(update={"id": "a"}), key),
            Envelope("t1", sent.model_copy(update={"id": "b"}), key),
        ]
    )
    [later] = processor.process([Envelope("t1", sent.model_copy(update={"id": "c"}), key)])
    assert isinstance(first, Accepted) and isinstance(same_batch, Accepted)
    assert isinstance(later, Accepted)
    assert first.result["id"] == same_batch.result["id"] == later.result["id"] == "a"
    assert same_batch.position >= first.position and later.position >= first.position
    # Only one run was started.
    for run_id, exists in (("a", True), ("b", False), ("c", False)):
        found = processor.process([Envelope("t1", CancelRun(run_id=run_id))])[0]
        assert isinstance(found, Accepted) is exists

    other = StartRun(workflow="wf", input={"n": 2}, id="d")
    [reused] = processor.process([Envelope("t1", other, ("start-1", request_hash(other)))])
    assert isinstance(reused, ErrorBody)
    assert reused.error.type is ErrorType.IDEMPOTENCY_KEY_REUSED
    # Keys belong to a tenant.
    [elsewhere] = processor.process([Envelope("t2", other, ("start-1", request_hash(other)))])
    assert isinstance(elsewhere, ErrorBody)
    assert elsewhere.error.type is ErrorType.WORKFLOW_NOT_FOUND


def test_an_id_taken_for_new_that_exists_is_refused_without_losing_the_batch(
    store_url: str,
) -> None:
    """A start takes its run id for new without reading the store; a processor that never
    saw the run (another replica, a restart) finds out at save, and decides again."""
    from services.command.application import request_hash

    first = CommandProcessor(build_application(store_url), now)
    first.process([Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond())))])
    sent = StartRun(workflow="wf", input={"n": 1})
    key = ("start-cold", request_hash(sent))
    [started] = first.process([Envelope("t1", sent.model_copy(update={"id": "old"}), key)])
    assert isinstance(started, Accepted)

    app = build_application(store_url)
    cold = CommandProcessor(app, now)  # Its cache is empty: every id looks new to it.
    again, new, repeat = cold.process(
        [
            Envelope("t1", StartRun(workflow="wf", id="old", input={"n": 9})),
            Envelope("t1", StartRun(workflow="wf", id="new", input={"n": 2})),
            Envelope("t1", sent.model_copy(update={"id": "other"}), key),
        ]
    )
    assert isinstance(again, ErrorBody) and again.error.type is ErrorType.RUN_ALREADY_EXISTS
    assert isinstance(new, Accepted)
    assert isinstance(repeat, Accepted) and repeat.result["id"] == "old"
    kept = app.repository.get(run_aggregate_id("t1", "old"))
    assert kept.input == {"n": 1}, "the existing run was not overwritten"
    for run_id, exists in (("new", True), ("other", False)):
        found = cold.process([Envelope("t1", CancelRun(run_id=run_id))])[0]
        assert isinstance(found, Accepted) is exists


def test_a_batch_of_starts_is_all_or_nothing(store_url: str) -> None:
    from contracts.commands import StartRunBody, StartRuns

    app = build_application(store_url)
    processor = CommandProcessor(app, now)
    processor.process([Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond())))])
    processor.process([Envelope("t1", StartRun(workflow="wf", id="taken"))])
    bodies = [StartRunBody(id=f"b{i}") for i in range(5)] + [StartRunBody(id="taken")]
    [refused, alongside] = processor.process(
        [
            Envelope("t1", StartRuns(workflow="wf", runs=bodies)),
            Envelope("t1", StartRun(workflow="wf", id="other")),  # Same transaction.
        ]
    )
    assert isinstance(refused, ErrorBody)
    assert refused.error.type is ErrorType.RUN_ALREADY_EXISTS
    assert refused.error.details["index"] == 5
    assert isinstance(alongside, Accepted), "a refused batch does not sink its neighbours"
    for run_id in ("b0", "b4"):
        [reply] = processor.process([Envelope("t1", CancelRun(run_id=run_id))])
        assert isinstance(reply, ErrorBody) and reply.error.type is ErrorType.RUN_NOT_FOUND

    [done] = processor.process([Envelope("t1", StartRuns(workflow="wf", runs=bodies[:5]))])
    assert isinstance(done, Accepted)
    assert [item["id"] for item in done.result["items"]] == [f"b{i}" for i in range(5)]


def test_a_command_batch_is_all_or_nothing(store_url: str) -> None:
    from contracts.commands import ExecuteBatch

    processor = CommandProcessor(build_application(store_url), now)
    processor.process([Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond())))])
    processor.process([Envelope("t1", StartRun(workflow="wf", id=f"r{i}")) for i in range(2)])
    batch = ExecuteBatch(
        commands=[
            {"command": "run.cancel", "run_id": "r0"},
            {"command": "run.pause", "run_id": "r1"},
            {"command": "run.cancel", "run_id": "missing"},
        ]
    )
    [refused] = processor.process([Envelope("t1", batch)])
    assert isinstance(refused, ErrorBody)
    assert refused.error.type is ErrorType.RUN_NOT_FOUND
    assert refused.error.details["index"] == 2 and refused.error.details["command"] == "run.cancel"
    # Nothing was applied: r0 can still be cancelled, r1 still paused.
    ok = ExecuteBatch(commands=batch.commands[:2])
    [applied] = processor.process([Envelope("t1", ok)])
    assert isinstance(applied, Accepted)
    assert [i["status"] for i in applied.result["items"]] == ["cancelled", "paused"]
    internal = ExecuteBatch(commands=[{"command": "run.complete_block", "run_id": "r1"}])
    [refused_internal] = processor.process([Envelope("t1", internal)])
    assert isinstance(refused_internal, ErrorBody)
    assert refused_internal.error.type is ErrorType.VALIDATION_ERROR


def test_a_replica_with_stale_cached_aggregates_decides_on_the_stored_state(
    store_url: str,
) -> None:
    """Two command services on one store, each keeping aggregates in memory between
    batches: what one writes, the other never decides on an old copy of."""
    tenant = f"cache-{uuid.uuid4().hex[:8]}"  # The store may be shared by the module.
    a = CommandProcessor(build_application(store_url), now)
    b = CommandProcessor(build_application(store_url), now)
    steps: list[dict[str, Any]] = [
        {"id": "first", "type": "set", "config": {"values": {"n": 1}}},
        {"id": "second", "type": "set", "needs": ["first"], "config": {"values": {"n": 2}}},
    ]
    first = definition({"blocks": steps})
    a.process([Envelope(tenant, PutWorkflow(name="wf", definition=first))])
    a.process([Envelope(tenant, StartRun(workflow="wf", id=f"r{i}")) for i in range(3)])
    assert len(a.cache) >= 4  # The workflow and the runs, kept after the save.

    # Read only: a start pins the version B saved since, not A's cached one.
    third = {"id": "third", "type": "noop", "needs": ["second"], "config": {}}
    edited = definition({"blocks": [*steps, third]})
    b.process([Envelope(tenant, PutWorkflow(name="wf", definition=edited))])
    [started] = a.process([Envelope(tenant, StartRun(workflow="wf", id="r9"))])
    assert isinstance(started, Accepted) and started.result["version"] == 2

    # A refusal that the cached copy would justify: B paused r0; A's copy is running.
    [paused] = b.process([Envelope(tenant, PauseRun(run_id="r0"))])
    assert isinstance(paused, Accepted)
    [resumed] = a.process([Envelope(tenant, ResumeRun(run_id="r0"))])
    assert isinstance(resumed, Accepted), resumed

    # A change on a stale copy conflicts at save, and is decided again on the stored run.
    [cancelled] = b.process([Envelope(tenant, CancelRun(run_id="r1"))])
    assert isinstance(cancelled, Accepted)
    [late] = a.process(
        [Envelope(tenant, CompleteBlock(run_id="r1", block="first", attempt=1, output={}))]
    )
    assert isinstance(late, Accepted) and late.result == {"accepted": False}
    [again] = a.process([Envelope(tenant, CancelRun(run_id="r1"))])
    assert isinstance(again, ErrorBody) and again.error.type is ErrorType.INVALID_RUN_STATE

    # And A's own writes keep going from its cache.
    [done] = a.process(
        [Envelope(tenant, CompleteBlock(run_id="r2", block="first", attempt=1, output={}))]
    )
    assert isinstance(done, Accepted) and done.result == {"accepted": True}
    reader = build_application(store_url)
    run = reader.repository.get(run_aggregate_id(tenant, "r2"))
    assert isinstance(run, Run)
    assert run.blocks["first"]["status"] == "completed"
    assert run.blocks["second"]["status"] == "running"


def test_stored_events_are_the_bytes_the_json_transcoder_writes(store_url: str) -> None:
    """The store's events are encoded by orjson: read back and written again by the
    library's json transcoder, every one is byte for byte what is stored."""
    app = build_application(store_url)
    processor = CommandProcessor(app, now)
    replies = processor.process(
        [
            Envelope("t1", PutWorkflow(name="wf", definition=definition(diamond()))),
            Envelope("t1", StartRun(workflow="wf", id="r1", input={"n": 2, "é": [1.5, None]})),
            Envelope("t1", StartRun(workflow="wf", id="r2", input={"n": 3})),
        ]
    )
    replies += processor.process(
        [
            Envelope(
                "t1",
                CompleteBlock(
                    run_id="r1",
                    block="prepare",
                    attempt=1,
                    output={"n": 2, "nested": {"deep": [True, "ü"]}},
                    worker="w1",
                    started_at=now(),
                ),
            ),
            Envelope("t1", PauseRun(run_id="r2")),
            Envelope("t1", CancelRun(run_id="r2")),
        ]
    )
    assert all(isinstance(r, Accepted) for r in replies), replies
    json_transcoder = JSONTranscoder()
    app.register_transcodings(json_transcoder)
    stored = app.recorder.select_notifications(start=1, limit=1000)
    assert {n.topic.rsplit(".", 1)[-1] for n in stored} >= {
        "WorkflowCreated",
        "RunStarted",
        "BlockScheduled",
        "BlockCompleted",
        "TimerStarted",
        "RunStatusChanged",
        "RunCancelled",
    }
    for notification in stored:
        state = json_transcoder.decode(notification.state)
        assert json_transcoder.encode(state) == notification.state, notification.topic


def test_postgres_takes_the_batch_in_binary(store_url: str) -> None:
    app = build_application(store_url)
    if not store_url.startswith("postgres"):
        assert not hasattr(app.recorder, "sql_invoke_pg_function_insert_events")
        return
    statement = app.recorder.sql_invoke_pg_function_insert_events.as_string(None)
    assert "%b" in statement and "%s" not in statement


def test_a_save_waits_for_another_replicas_uncommitted_save() -> None:
    """Two command services on one PostgreSQL store: while one's save is uncommitted, the
    other's waits for it, so commits come in the order of their notification ids. (Were
    the later id committed first, the relay would publish it and pass over the earlier
    one when it committed.) SQLite has one writer at a time by design."""
    with postgres_schema() as store_url:
        _two_replicas_save(store_url)


def _two_replicas_save(store_url: str) -> None:
    slow = build_application(store_url)
    other = CommandProcessor(build_application(store_url), now)
    recorder = slow.recorder
    assert isinstance(recorder, PostgresEventRecorder)
    start = PutWorkflow(name="wf", definition=definition(diamond()))
    pool = ThreadPoolExecutor(1)
    with recorder.datastore.get_connection() as held, held.transaction():
        # A replica mid-save: its event has an id, its transaction is not committed.
        held_event = recorder.construct_pg_stored_event(uuid.uuid4(), 1, "held", b"{}")
        inserted = held.execute(recorder.sql_invoke_pg_function_insert_events, ([held_event],))
        [first_id] = inserted.fetchone().values()
        saving = pool.submit(other.process, [Envelope("t1", start)])
        with psycopg.connect(postgres_base_url(), autocommit=True) as watcher:
            deadline = time.monotonic() + 10
            while not _waits_on_a_lock(watcher, held.info.backend_pid):
                assert not saving.done(), "saved past an uncommitted save's lower id"
                assert time.monotonic() < deadline, "the save neither waited nor ended"
                time.sleep(0.01)
    [accepted] = saving.result(timeout=10)
    pool.shutdown()
    assert isinstance(accepted, Accepted)
    ids = [n.id for n in recorder.select_notifications(start=1, limit=100)]
    assert ids[0] == first_id and ids == sorted(ids) and len(ids) > 1


def _waits_on_a_lock(conn: psycopg.Connection[Any], blocked_by: int) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
        (blocked_by,),
    ).fetchone()
    return bool(row and row[0])


def test_replicas_opening_a_fresh_store_at_once_all_start() -> None:
    """Every service that opens the store creates its tables and functions; four at once
    on an empty PostgreSQL schema collided in its catalogue before that was serialised."""
    for _ in range(2):
        with postgres_schema() as store_url:
            assert all_at_once(4, partial(build_application, store_url)) == []
