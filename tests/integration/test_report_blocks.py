"""`run.report_blocks` and `run.start_blocks` on both event stores: several results, or
several claims, in one command, each decided as if it had come alone."""

from __future__ import annotations

from contracts.commands import (
    CompleteBlock,
    FailBlock,
    PutWorkflow,
    ReportBlocks,
    StartBlock,
    StartBlocks,
    StartRun,
)
from contracts.replies import Accepted
from services.command.application import CommandProcessor, Envelope
from services.command.bootstrap import build_application
from services.command.domain.run import Run, run_aggregate_id
from tests.support.builders import definition
from tests.support.event_store import now, stored_runs

TWO_SETS = {
    "blocks": [
        {"id": "a", "type": "set", "config": {"values": {"x": 1}}},
        {"id": "b", "type": "set", "needs": ["a"], "config": {"values": {"y": "${input.n}"}}},
    ]
}


# Pinned definitions are cached per process by workflow id and version: a tenant of its
# own keeps another test's "wf" version 1 out of this one.
TENANT = "reports"


def started(processor: CommandProcessor, workflow: str, *run_ids: str) -> None:
    """The workflow put and one run of it started per id."""
    setup = [Envelope(TENANT, PutWorkflow(name=workflow, definition=definition(TWO_SETS)))]
    setup += [Envelope(TENANT, StartRun(workflow=workflow, id=i, input={"n": 1})) for i in run_ids]
    assert all(isinstance(reply, Accepted) for reply in processor.process(setup))


def stored(store_url: str, *run_ids: str) -> list[Run]:
    return stored_runs(store_url, *(run_aggregate_id(TENANT, i) for i in run_ids))


def test_each_report_is_decided_alone_and_a_refused_one_refuses_nothing_else(
    store_url: str,
) -> None:
    app = build_application(store_url)
    processor = CommandProcessor(app, now)
    try:
        started(processor, "wf", "r1", "r2")
        reports = ReportBlocks(
            reports=[
                CompleteBlock(run_id="r1", block="a", attempt=1, output={"x": 1}, worker="w1"),
                CompleteBlock(run_id="gone", block="a", attempt=1),
                FailBlock(run_id="r2", block="a", attempt=1, message="boom", retryable=False),
                # The same attempt reported again (a redelivered task): accepted once only.
                CompleteBlock(run_id="r1", block="a", attempt=1, output={"x": 2}),
            ]
        )
        [reply] = processor.process([Envelope(TENANT, reports)])

        assert isinstance(reply, Accepted)
        items = reply.result["items"]
        assert items[0] == {"accepted": True}
        assert items[1]["error"]["type"] == "RUN_NOT_FOUND"
        assert items[2] == {"accepted": True}
        assert items[3] == {"accepted": False}
        assert reply.position == app.recorder.max_notification_id()

        r1, r2 = stored(store_url, "r1", "r2")
        assert r1.blocks["a"]["output"] == {"x": 1}
        assert r1.block_statuses() == {"a": "completed", "b": "running"}
        assert r1.blocks["a"]["worker"] == "w1"
        assert r2.status == "failed"
        assert r2.block_statuses()["a"] == "failed"
    finally:
        app.close()


def test_each_claim_is_decided_alone_and_a_stale_one_is_not_claimed(
    store_url: str,
) -> None:
    app = build_application(store_url)
    processor = CommandProcessor(app, now)
    try:
        started(processor, "claims", "c1", "c2")
        claims = StartBlocks(
            claims=[
                StartBlock(run_id="c1", block="a", attempt=1, worker="w1"),
                StartBlock(run_id="gone", block="a", attempt=1, worker="w1"),
                # An attempt that is not the block's current one: stale, not to be run.
                StartBlock(run_id="c1", block="a", attempt=2, worker="w2"),
                StartBlock(run_id="c2", block="a", attempt=1, worker="w2"),
            ]
        )
        [reply] = processor.process([Envelope(TENANT, claims)])

        assert isinstance(reply, Accepted)
        items = reply.result["items"]
        assert items[0] == {"claimed": True}
        assert items[1]["error"]["type"] == "RUN_NOT_FOUND"
        assert items[2] == {"claimed": False}
        assert items[3] == {"claimed": True}
        c1, c2 = stored(store_url, "c1", "c2")
        assert (c1.blocks["a"]["worker"], c2.blocks["a"]["worker"]) == ("w1", "w2")
    finally:
        app.close()
