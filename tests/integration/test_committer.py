"""The group committer on both event stores: answers after the commit, shared batches,
a store outage answered, a full queue holding the producer back; batches saved on a
worker thread or on the event loop itself."""

from __future__ import annotations

import asyncio
import threading

import pytest

from contracts.commands import PutWorkflow, StartRun
from contracts.errors import ErrorBody, ErrorType
from contracts.replies import Accepted, Reply
from services.command.adapters.event_store import is_embedded
from services.command.application import CommandProcessor, Envelope
from services.command.bootstrap import build_application
from services.command.committer import GroupCommitter
from services.command.domain.run import Run, run_aggregate_id
from tests.support.builders import definition, diamond
from tests.support.event_store import now

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("in_thread", [True, False], ids=["in-thread", "on-loop"])
async def test_each_command_is_answered_once_after_its_batch_is_committed(
    store_url: str, in_thread: bool
) -> None:
    app = build_application(store_url)
    processor = CommandProcessor(app, now)
    batches: list[int] = []
    process = processor.process
    processor.process = lambda batch: (batches.append(len(batch)), process(batch))[1]  # type: ignore[method-assign]
    committer = GroupCommitter(processor, max_batch=512, in_thread=in_thread)
    committer.start()
    try:
        assert isinstance(
            await committer.submit("t1", PutWorkflow(name="wf", definition=definition(diamond()))),
            Accepted,
        )
        answers: dict[str, list[Reply]] = {}
        stored_when_answered: dict[str, bool] = {}

        def responder(run_id: str):  # type: ignore[no-untyped-def]
            async def respond(reply: Reply) -> None:
                answers.setdefault(run_id, []).append(reply)
                # A fresh application reads the store itself: the commit is visible.
                fresh = build_application(store_url)
                stored_when_answered[run_id] = bool(
                    list(fresh.events.get(run_aggregate_id("t1", run_id), lte=1))
                )
                fresh.close()

            return respond

        ids = [f"r{i}" for i in range(100)]
        for run_id in ids:
            await committer.enqueue(
                Envelope("t1", StartRun(workflow="wf", id=run_id)), responder(run_id)
            )
        deadline = asyncio.get_running_loop().time() + 20
        while len(answers) < len(ids) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert sorted(answers) == sorted(ids)
        assert all(
            len(replies) == 1 and isinstance(replies[0], Accepted) for replies in answers.values()
        )
        assert all(stored_when_answered.values())
        assert isinstance(app.repository.get(run_aggregate_id("t1", "r99")), Run)
        # Queued while a batch was being saved, the starts shared transactions.
        assert len(batches) < 1 + len(ids)
    finally:
        await committer.stop()
        app.close()


class BrokenStore:
    """A processor whose event store is down."""

    def process(self, batch: list[Envelope]) -> list[Reply]:
        raise ConnectionError("the store is down")


@pytest.mark.parametrize("in_thread", [True, False], ids=["in-thread", "on-loop"])
async def test_an_unreachable_store_is_answered_and_the_committer_keeps_serving(
    in_thread: bool,
) -> None:
    committer = GroupCommitter(BrokenStore(), max_batch=16, in_thread=in_thread)  # type: ignore[arg-type]
    committer.start()
    try:
        answered: list[Reply] = []

        async def respond(reply: Reply) -> None:
            answered.append(reply)

        await committer.enqueue(Envelope("t1", StartRun(workflow="wf", id="a")), respond)
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(
                committer.submit("t1", StartRun(workflow="wf", id="b")), timeout=10
            )
        assert len(answered) == 1 and isinstance(answered[0], ErrorBody)
        assert answered[0].error.type is ErrorType.UNAVAILABLE
    finally:
        await committer.stop()


class GatedProcessor:
    """Holds every batch until the gate opens; answers each command with its run id."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()

    def process(self, batch: list[Envelope]) -> list[Reply]:
        self.entered.set()
        self.gate.wait(timeout=20)
        return [Accepted(result={"id": e.command.id}) for e in batch]  # type: ignore[attr-defined]


async def test_a_full_queue_holds_the_producer_back_until_a_batch_is_saved() -> None:
    processor = GatedProcessor()
    committer = GroupCommitter(processor, max_batch=16, max_pending=2)  # type: ignore[arg-type]
    committer.start()
    answered: list[Reply] = []

    async def respond(reply: Reply) -> None:
        answered.append(reply)

    def envelope(run_id: str) -> Envelope:
        return Envelope("t1", StartRun(workflow="wf", id=run_id))

    try:
        await committer.enqueue(envelope("first"), respond)
        await asyncio.to_thread(processor.entered.wait, 10)  # "first" is being saved.
        await committer.enqueue(envelope("a"), respond)
        await committer.enqueue(envelope("b"), respond)
        third = asyncio.create_task(committer.enqueue(envelope("c"), respond))
        # The queue holds two: the third producer waits while the batch is being saved.
        done, _ = await asyncio.wait({third}, timeout=0.3)
        assert not done
        processor.gate.set()
        await asyncio.wait_for(third, timeout=10)
        deadline = asyncio.get_running_loop().time() + 10
        while len(answered) < 4 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert [r.result["id"] for r in answered] == ["first", "a", "b", "c"]  # type: ignore[union-attr]
    finally:
        processor.gate.set()
        await committer.stop()


class ThreadNoting:
    """Answers every command, noting the thread each batch was decided on."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def process(self, batch: list[Envelope]) -> list[Reply]:
        self.threads.append(threading.get_ident())
        return [Accepted(result={}) for _ in batch]


@pytest.mark.parametrize("in_thread", [True, False], ids=["in-thread", "on-loop"])
async def test_batches_are_decided_on_a_worker_thread_or_on_the_loop_as_told(
    in_thread: bool,
) -> None:
    processor = ThreadNoting()
    committer = GroupCommitter(processor, max_batch=16, in_thread=in_thread)  # type: ignore[arg-type]
    committer.start()
    try:
        for run_id in ("a", "b"):
            reply = await asyncio.wait_for(
                committer.submit("t1", StartRun(workflow="wf", id=run_id)), timeout=10
            )
            assert isinstance(reply, Accepted)
        loop_thread = threading.get_ident()
        assert len(processor.threads) == 2
        assert all((thread != loop_thread) is in_thread for thread in processor.threads)
    finally:
        await committer.stop()


def test_only_an_embedded_store_is_saved_on_the_event_loop() -> None:
    """The composition root's choice: a SQLite file on the loop, a server from a thread."""
    assert is_embedded("sqlite:///data/events.db")
    assert is_embedded("sqlite:////abs/events.db")
    assert not is_embedded("postgresql://postgres@127.0.0.1:5432/test")
    assert not is_embedded("postgres://user:pw@db/flowledger?schema=s1")


async def test_on_the_loop_other_tasks_run_between_batches() -> None:
    """Batches saved on the loop leave it between them (the relay publishes what was just
    saved), even when the queue already holds the next."""
    processor = ThreadNoting()
    committer = GroupCommitter(processor, max_batch=2, in_thread=False)  # type: ignore[arg-type]
    seen: list[int] = []

    async def observe() -> None:
        while True:
            seen.append(len(processor.threads))
            await asyncio.sleep(0)

    async def respond(reply: Reply) -> None:
        pass

    observer = asyncio.create_task(observe())
    try:
        for run_id in "abcdef":  # Three batches, queued before the committer starts.
            await committer.enqueue(Envelope("t1", StartRun(workflow="wf", id=run_id)), respond)
        committer.start()
        deadline = asyncio.get_running_loop().time() + 10
        while len(processor.threads) < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert len(processor.threads) == 3
        assert {1, 2} <= set(seen)  # The observer ran after the first and the second.
    finally:
        observer.cancel()
        await committer.stop()
