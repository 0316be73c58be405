"""End to end through the real processes: http, data, condition, switch, log and webhook blocks.

The workflow fetches orders over HTTP from a server this test runs on 127.0.0.1, filters and
totals them, routes on the total (condition) and on the input's channel (switch), logs, and
notifies over a signed webhook; the branches not chosen end skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any

import nats
import pytest

from contracts import subjects
from contracts.events import Envelope
from tests.e2e.stack import Stack, wait_until
from tests.support.http_server import Answer, TestServer, serve

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)

EU_ORDERS = [
    {"sku": "a", "qty": 2, "price": 80},
    {"sku": "b", "qty": 0, "price": 500},  # filtered out
    {"sku": "c", "qty": 1, "price": 40},
]
US_ORDERS = [{"sku": "x", "qty": 1, "price": 30}]
SECRET = "hook-secret"


@pytest.fixture(scope="module")
def server() -> Iterator[TestServer]:
    answers = {
        "/orders/eu": Answer(200, {"orders": EU_ORDERS}),
        "/orders/us": Answer(200, {"orders": US_ORDERS}),
        "/hook": Answer(202, {"received": True}),
        "/down": Answer(503, "maintenance"),
    }
    with serve(answers) as running:
        yield running


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def order_flow(base: str) -> dict[str, Any]:
    total = "blocks.totals.output[0]"
    return {
        "blocks": [
            {"id": "fetch", "type": "http", "config": {"url": base + "/orders/${input.region}"}},
            {
                "id": "lines",
                "type": "data.filter",
                "needs": ["fetch"],
                "config": {"rows": "blocks.fetch.output.body.orders", "where": "qty > `0`"},
            },
            {
                # No `rows`: the output of its only need, `lines`.
                "id": "totals",
                "type": "data.aggregate",
                "needs": ["lines"],
                "config": {
                    "aggregates": {"amount": {"op": "sum", "field": "price"}, "n": {"op": "count"}}
                },
            },
            {
                "id": "decide",
                "type": "condition",
                "needs": ["totals"],
                "config": {"if": f"{total}.amount > `100`", "then": ["big"], "else": ["small"]},
            },
            {
                "id": "big",
                "type": "log",
                "needs": ["decide"],
                "config": {
                    "message": "big order of ${" + total + ".n} lines: ${" + total + ".amount}",
                    "level": "warning",
                },
            },
            {
                "id": "small",
                "type": "log",
                "needs": ["decide"],
                "config": {"message": "small order: ${" + total + ".amount}"},
            },
            {
                "id": "channel",
                "type": "switch",
                "needs": ["totals"],
                "config": {
                    "value": "input.channel",
                    "cases": {"hook": ["notify"], "sms": ["text"]},
                    "default": ["drop"],
                },
            },
            {
                "id": "notify",
                "type": "webhook",
                "needs": ["channel"],
                "config": {
                    "url": base + "/hook",
                    "secret": SECRET,
                    "payload": {"region": "${input.region}", "total": "${" + total + ".amount}"},
                },
            },
            {"id": "text", "type": "log", "needs": ["channel"], "config": {"message": "sms"}},
            {"id": "drop", "type": "noop", "needs": ["channel"]},
            {
                "id": "done",
                "type": "set",
                "needs": ["big", "small", "notify", "text", "drop"],
                "trigger": "none_failed",
                "config": {
                    "values": {
                        "branch": "${blocks.decide.output.branch}",
                        "case": "${blocks.channel.output.case}",
                        "total": "${" + total + ".amount}",
                    }
                },
            },
        ],
        "output": "${blocks.done.output}",
    }


async def _events_of(nats_url: str, run_id: str) -> list[Envelope]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        info = await js.stream_info(subjects.EVENTS_STREAM)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            raw = (await js.get_msg(subjects.EVENTS_STREAM, seq)).data
            envelope = Envelope.model_validate_json(raw)
            if envelope.aggregate_id == run_id:
                found.append(envelope)
        return found
    finally:
        await nc.close()


def _blocks(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block["id"]: block for block in run["blocks"]}


def _statuses(run: dict[str, Any]) -> dict[str, str]:
    return {block["id"]: block["status"] for block in run["blocks"]}


def test_a_big_order_takes_the_then_branch_and_a_signed_webhook(
    stack: Stack, server: TestServer
) -> None:
    workflow = unique("orders")
    stack.put_workflow(workflow, order_flow(server.url))
    run_id = stack.start_run(workflow, {"input": {"region": "eu", "channel": "hook"}})["id"]
    run = stack.wait_for_status(run_id, {"completed", "failed"}, timeout=60)
    assert run["status"] == "completed", run
    assert run["output"] == {"branch": "then", "case": "hook", "total": 120}
    assert _statuses(run) == {
        "fetch": "completed",
        "lines": "completed",
        "totals": "completed",
        "decide": "completed",
        "big": "completed",
        "small": "skipped",
        "channel": "completed",
        "notify": "completed",
        "text": "skipped",
        "drop": "skipped",
        "done": "completed",
    }
    blocks = _blocks(run)
    fetch = blocks["fetch"]["output"]
    assert (fetch["status"], fetch["body"]) == (200, {"orders": EU_ORDERS})
    assert fetch["headers"]["content-type"] == "application/json"
    assert blocks["lines"]["output"] == [EU_ORDERS[0], EU_ORDERS[2]]
    assert blocks["totals"]["output"] == [{"amount": 120, "n": 2}]
    assert blocks["decide"]["output"] == {"branch": "then", "chosen": ["big"]}
    assert blocks["channel"]["output"] == {
        "branch": "case",
        "case": "hook",
        "value": "hook",
        "chosen": ["notify"],
    }
    assert blocks["big"]["output"] == {"level": "warning", "message": "big order of 2 lines: 120"}
    assert blocks["notify"]["output"]["status"] == 202
    assert blocks["notify"]["output"]["body"] == {"received": True}

    # The worker called the server as configured, and signed the webhook's exact body.
    assert [r.method for r in server.requests_to("/orders/eu")] == ["GET"]
    (hook,) = [r for r in server.requests_to("/hook") if r.json()["region"] == "eu"]
    assert hook.json() == {"region": "eu", "total": 120}
    digest = hmac.new(SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["x-flowledger-signature"] == f"sha256={digest}"

    # The log block's line is recorded with its completion.
    events = wait_until(
        lambda: [
            e
            for e in asyncio.run(_events_of(stack.nats_url, run_id))
            if e.type == "BlockCompleted" and e.data["block"] == "big"
        ],
        what="big's completion on the bus",
    )
    assert events[0].data["logs"] == ["big order of 2 lines: 120"]


def test_a_small_order_takes_the_else_branch_and_the_switch_default(
    stack: Stack, server: TestServer
) -> None:
    workflow = unique("orders")
    stack.put_workflow(workflow, order_flow(server.url))
    run_id = stack.start_run(workflow, {"input": {"region": "us", "channel": "pigeon"}})["id"]
    run = stack.wait_for_status(run_id, {"completed", "failed"}, timeout=60)
    assert run["status"] == "completed", run
    assert run["output"] == {"branch": "else", "case": None, "total": 30}
    statuses = _statuses(run)
    assert {b: statuses[b] for b in ("big", "small", "notify", "text", "drop", "done")} == {
        "big": "skipped",
        "small": "completed",
        "notify": "skipped",
        "text": "skipped",
        "drop": "completed",
        "done": "completed",
    }
    blocks = _blocks(run)
    assert blocks["small"]["output"] == {"level": "info", "message": "small order: 30"}
    assert blocks["channel"]["output"]["branch"] == "default"
    assert not [r for r in server.requests_to("/hook") if r.json()["region"] == "us"]


def test_http_failures_fail_the_run_after_the_retries_their_status_allows(
    stack: Stack, server: TestServer
) -> None:
    workflow = unique("failing-http")
    retry = {"max_attempts": 3, "backoff": "fixed", "initial_seconds": 0.2}
    stack.put_workflow(
        workflow,
        {
            "blocks": [
                # 404 is not retryable: one attempt despite the policy.
                {
                    "id": "gone",
                    "type": "http",
                    "config": {"url": f"{server.url}/nope"},
                    "retry": retry,
                },
                # 503 is retryable: every attempt of the policy is made.
                {
                    "id": "down",
                    "type": "http",
                    "config": {"url": f"{server.url}/down"},
                    "retry": retry,
                },
                {"id": "after", "type": "noop", "needs": ["gone", "down"]},
            ]
        },
    )
    run_id = stack.start_run(workflow)["id"]
    run = stack.wait_for_status(run_id, {"completed", "failed"}, timeout=60)
    assert run["status"] == "failed"
    assert run["error"]["type"] == "HTTP_404"
    assert run["error"]["block"] == "gone"
    blocks = _blocks(run)
    assert (blocks["gone"]["attempts"], blocks["gone"]["error"]["type"]) == (1, "HTTP_404")
    assert (blocks["down"]["attempts"], blocks["down"]["error"]["type"]) == (3, "HTTP_503")
    assert blocks["after"]["status"] == "skipped"
    assert len(server.requests_to("/down")) == 3


async def _claims_while(nats_url: str, stack: Stack, workflow: str) -> tuple[str, list[str]]:
    """Start a run and collect the blocks workers claimed (run.start_block) until it ends."""
    nc = await nats.connect(nats_url)
    claimed: list[str] = []

    async def seen(msg: Any) -> None:
        claimed.append(json.loads(msg.data)["block"])

    sub = await nc.subscribe(subjects.command_subject("*", "run", "start_block"), cb=seen)
    try:
        await nc.flush()
        run_id = await asyncio.to_thread(lambda: stack.start_run(workflow)["id"])
        await asyncio.to_thread(stack.wait_for_status, run_id, {"completed"}, 60)
        await nc.flush()
    finally:
        await sub.unsubscribe()
        await nc.close()
    return run_id, claimed


def test_only_blocks_with_outside_effects_are_claimed_before_they_run(
    stack: Stack, server: TestServer
) -> None:
    """A pure block (set, log, transform, data.*) is run unclaimed: running it twice is
    harmless. An http block is claimed first, so a redelivered task of a finished attempt
    is never sent again."""
    workflow = unique("claims")
    blocks = [
        {"id": "values", "type": "set", "config": {"values": {"region": "eu"}}},
        {"id": "say", "type": "log", "needs": ["values"], "config": {"message": "hi"}},
        {
            "id": "fetch",
            "type": "http",
            "needs": ["say"],
            "config": {"url": f"{server.url}/orders/eu"},
        },
        {"id": "count", "type": "transform", "needs": ["fetch"], "config": {"expression": "`1`"}},
    ]
    stack.put_workflow(workflow, {"blocks": blocks})
    run_id, claimed = asyncio.run(_claims_while(stack.nats_url, stack, workflow))
    assert claimed == ["fetch"]
    # Unclaimed or not, every attempt's log names its worker and its start.
    log = stack.http.get(f"/v1/runs/{run_id}/logs").json()["items"]
    assert [item["block"] for item in log] == ["values", "say", "fetch", "count"]
    for item in log:
        assert item["worker"].startswith("worker-") and item["started_at"], item
        assert item["started_at"] <= item["ended_at"], item
