"""Workflow definitions end to end, over REST and the bus: versions, history, bundles."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import nats
import pytest
import yaml

from contracts import subjects
from tests.e2e.stack import Stack
from tests.support.builders import diamond

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def after(response: httpx.Response) -> dict[str, str]:
    """Read-your-writes: the header that makes the next read wait for this write."""
    return {subjects.HTTP_MIN_POSITION_HEADER: response.headers[subjects.HTTP_POSITION_HEADER]}


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["type"]


def one_block(tag: int) -> dict[str, Any]:
    return {"blocks": [{"id": "only", "type": "set", "config": {"values": {"tag": tag}}}]}


def test_versions_graph_and_diff(stack: Stack) -> None:
    name = unique("versions")
    http = stack.http
    created = http.put(f"/v1/workflows/{name}", json=diamond())
    assert created.status_code == 201 and created.json()["version"] == 1
    same = http.put(f"/v1/workflows/{name}", json=diamond())
    assert same.status_code == 200 and same.json() == {
        "name": name,
        "version": 1,
        "created": False,
        "changed": False,
    }
    changed_definition = diamond(sleep_seconds=2)
    changed_definition["blocks"].append({"id": "extra", "type": "noop", "needs": ["join"]})
    changed = http.put(f"/v1/workflows/{name}", json=changed_definition, headers={"If-Match": "1"})
    assert changed.json()["version"] == 2
    stale = http.put(f"/v1/workflows/{name}", json=diamond(), headers={"If-Match": "1"})
    assert error(stale) == (409, "VERSION_CONFLICT")

    versions = http.get(f"/v1/workflows/{name}/versions", headers=after(changed)).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert (
        http.get(f"/v1/workflows/{name}/versions/1").json()["definition"]["blocks"][0]["id"]
        == "prepare"
    )
    assert error(http.get(f"/v1/workflows/{name}/versions/9")) == (404, "VERSION_NOT_FOUND")

    graph = http.get(f"/v1/workflows/{name}/versions/2/graph").json()
    assert {n["id"] for n in graph["nodes"]} == {"prepare", "nap", "double", "join", "extra"}
    assert {"from": "prepare", "to": "nap", "kind": "needs"} in graph["edges"]
    assert {"from": "join", "to": "extra", "kind": "needs"} in graph["edges"]

    diff = http.get(f"/v1/workflows/{name}/diff", params={"from": 1, "to": 2}).json()
    assert diff["added"] == ["extra"] and diff["removed"] == []
    assert [c["id"] for c in diff["changed"]] == ["nap"]
    assert any("seconds" in op["path"] for op in diff["changed"][0]["patch"])


def test_yaml_and_validation_report_every_problem(stack: Stack) -> None:
    name = unique("yaml")
    body = yaml.safe_dump(one_block(1))
    saved = stack.http.put(
        f"/v1/workflows/{name}", content=body, headers={"content-type": "application/yaml"}
    )
    assert saved.status_code == 201, saved.text
    bad = {
        "blocks": [
            {"id": "a", "type": "noop", "needs": ["c"]},
            {"id": "b", "type": "teleport"},
            {"id": "c", "type": "transform", "needs": ["a"], "config": {"expression": "[["}},
        ]
    }
    report = stack.http.post("/v1/workflows:validate", json=bad).json()
    assert report["valid"] is False
    kinds = {p["type"] for p in report["problems"]}
    assert {"CYCLE", "UNKNOWN_TYPE", "BAD_EXPRESSION"} <= kinds
    assert all(p["path"] for p in report["problems"])
    refused = stack.http.put(f"/v1/workflows/{unique('bad')}", json=bad)
    assert error(refused) == (422, "VALIDATION_ERROR")
    assert len(refused.json()["error"]["details"]["problems"]) == len(report["problems"])
    assert stack.http.post("/v1/workflows:validate", json=diamond()).json() == {
        "valid": True,
        "problems": [],
    }
    types = stack.http.get("/v1/block-types").json()["items"]
    assert len(types) >= 21 and all("config_schema" in t for t in types)
    huge = {"blocks": [{"id": "a", "type": "set", "config": {"values": {"x": "y" * 1_100_000}}}]}
    assert error(stack.http.put(f"/v1/workflows/{unique('huge')}", json=huge)) == (
        413,
        "PAYLOAD_TOO_LARGE",
    )


def test_undo_redo_and_snapshots(stack: Stack) -> None:
    name = unique("history")
    http = stack.http
    for tag in (1, 2, 3):
        http.put(f"/v1/workflows/{name}", json=one_block(tag))

    def current_tag(response: httpx.Response) -> int:
        details = http.get(f"/v1/workflows/{name}", headers=after(response)).json()
        return int(details["definition"]["blocks"][0]["config"]["values"]["tag"])

    undone = http.post(f"/v1/workflows/{name}/undo")
    assert undone.status_code == 200 and undone.json()["version"] == 4
    assert current_tag(undone) == 2
    assert current_tag(http.post(f"/v1/workflows/{name}/undo")) == 1
    assert error(http.post(f"/v1/workflows/{name}/undo")) == (409, "NOTHING_TO_UNDO")
    assert current_tag(http.post(f"/v1/workflows/{name}/redo")) == 2
    http.put(f"/v1/workflows/{name}", json=one_block(9))  # Clears the redo stack.
    assert error(http.post(f"/v1/workflows/{name}/redo")) == (409, "NOTHING_TO_REDO")

    snap = http.post(f"/v1/workflows/{name}/snapshots", json={"name": "nine", "tags": ["a"]})
    assert snap.status_code == 201, snap.text
    snap_id = snap.json()["id"]
    patched = http.patch(
        f"/v1/workflows/{name}/snapshots/{snap_id}", json={"favourite": True, "tags": ["a", "b"]}
    )
    assert patched.status_code == 200
    got = http.get(f"/v1/workflows/{name}/snapshots/{snap_id}", headers=after(patched)).json()
    assert got["favourite"] is True and got["tags"] == ["a", "b"]
    assert got["definition"]["blocks"][0]["config"]["values"]["tag"] == 9
    listed = http.get(f"/v1/workflows/{name}/snapshots", params={"tag": "b"}).json()
    assert [s["id"] for s in listed["items"]] == [snap_id]

    http.put(f"/v1/workflows/{name}", json=one_block(10))
    restored = http.post(f"/v1/workflows/{name}/snapshots/{snap_id}/restore")
    assert current_tag(restored) == 9
    deleted = http.delete(f"/v1/workflows/{name}/snapshots/{snap_id}")
    assert deleted.status_code == 200
    assert error(http.get(f"/v1/workflows/{name}/snapshots/{snap_id}", headers=after(deleted))) == (
        404,
        "SNAPSHOT_NOT_FOUND",
    )
    assert error(http.post(f"/v1/workflows/{name}/snapshots/{snap_id}/restore")) == (
        404,
        "SNAPSHOT_NOT_FOUND",
    )


def test_duplicate_export_and_atomic_import(stack: Stack) -> None:
    http = stack.http
    source, copy = unique("source"), unique("copy")
    http.put(f"/v1/workflows/{source}", json=diamond())
    dup = http.post(f"/v1/workflows/{source}/duplicate", json={"name": copy})
    assert dup.status_code == 201, dup.text
    assert error(http.post(f"/v1/workflows/{source}/duplicate", json={"name": copy})) == (
        409,
        "WORKFLOW_ALREADY_EXISTS",
    )
    bundle = http.get("/v1/export", params={"names": f"{source},{copy}"}, headers=after(dup)).json()
    assert [w["name"] for w in bundle["workflows"]] == sorted([source, copy])

    fresh = unique("imported")
    bundle["workflows"][0]["definition"]["blocks"][0]["config"]["values"]["n"] = "changed"
    bundle["workflows"].append({"name": fresh, "definition": one_block(1)})
    preview = http.post("/v1/import", params={"dry_run": "true"}, json=bundle).json()
    actions = {w["name"]: w["action"] for w in preview["workflows"]}
    assert actions == {
        min(source, copy): "updated",
        max(source, copy): "unchanged",
        fresh: "created",
    }
    assert error(http.get(f"/v1/workflows/{fresh}")) == (404, "WORKFLOW_NOT_FOUND")

    broken = {**bundle, "workflows": [*bundle["workflows"], {"name": "x", "definition": {}}]}
    refused = http.post("/v1/import", json=broken)
    assert error(refused) == (422, "VALIDATION_ERROR")
    assert error(http.get(f"/v1/workflows/{fresh}")) == (404, "WORKFLOW_NOT_FOUND")

    done = http.post("/v1/import", json=bundle)
    assert done.status_code == 200
    assert http.get(f"/v1/workflows/{fresh}", headers=after(done)).status_code == 200


def test_the_bus_serves_the_same_commands_and_errors(stack: Stack) -> None:
    name = unique("bus")

    async def ask(command: str, body: dict[str, Any]) -> dict[str, Any]:
        nc = await nats.connect(stack.nats_url)
        try:
            reply = await nc.request(
                subjects.command_subject("default", "workflow", command),
                json.dumps(body).encode(),
                timeout=10,
            )
            return json.loads(reply.data)  # type: ignore[no-any-return]
        finally:
            await nc.close()

    put = asyncio.run(ask("put", {"name": name, "definition": one_block(1)}))
    assert put["ok"] and put["result"]["version"] == 1
    asyncio.run(ask("put", {"name": name, "definition": one_block(2)}))
    assert asyncio.run(ask("undo", {"name": name}))["result"]["version"] == 3
    stale = asyncio.run(
        ask("put", {"name": name, "definition": one_block(5), "expected_version": 1})
    )
    assert stale["error"]["type"] == "VERSION_CONFLICT"
    missing = asyncio.run(ask("undo", {"name": unique("nope")}))
    assert missing["error"]["type"] == "WORKFLOW_NOT_FOUND"
    invalid = asyncio.run(ask("put", {"name": name, "definition": {"blocks": []}}))
    assert invalid["error"]["type"] == "VALIDATION_ERROR"


def test_input_schema_is_checked_when_a_run_starts(stack: Stack) -> None:
    name = unique("schema")
    definition = {
        **one_block(1),
        "input_schema": {
            "type": "object",
            "required": ["order_id"],
            "properties": {"order_id": {"type": "string"}, "qty": {"type": "integer"}},
        },
    }
    assert stack.http.put(f"/v1/workflows/{name}", json=definition).status_code == 201
    refused = stack.http.post(f"/v1/workflows/{name}/runs", json={"input": {"qty": "x"}})
    assert error(refused) == (422, "VALIDATION_ERROR")
    assert len(refused.json()["error"]["details"]["errors"]) == 2
    accepted = stack.http.post(f"/v1/workflows/{name}/runs", json={"input": {"order_id": "o1"}})
    assert accepted.status_code == 201
    # The compiled schema is kept per version: the same refusal again, and a new version's
    # schema applies at once.
    again = stack.http.post(f"/v1/workflows/{name}/runs", json={"input": {"qty": "x"}})
    assert again.json()["error"] == refused.json()["error"]
    looser = {**definition, "input_schema": {"type": "object"}}
    assert stack.http.put(f"/v1/workflows/{name}", json=looser).status_code in (200, 201)
    started = stack.http.post(f"/v1/workflows/{name}/runs", json={"input": {"qty": "x"}})
    assert started.status_code == 201, started.text
    bad_schema = {**one_block(1), "input_schema": {"type": "no-such-type"}}
    assert error(stack.http.put(f"/v1/workflows/{unique('bad')}", json=bad_schema)) == (
        422,
        "VALIDATION_ERROR",
    )


def test_a_workflow_using_a_block_type_that_cannot_run_yet_refuses_to_start(stack: Stack) -> None:
    name = unique("later")
    definition = {"blocks": [{"id": "call", "type": "code", "config": {"handler": "h"}}]}
    saved = stack.http.put(f"/v1/workflows/{name}", json=definition)
    assert saved.status_code == 201, saved.text
    refused = stack.http.post(f"/v1/workflows/{name}/runs", json={})
    assert error(refused) == (422, "BLOCK_TYPE_DISABLED")
    assert refused.json()["error"]["details"]["blocks"] == ["call"]
