"""The REST edge end to end: bad input, tenancy, read-your-writes, the bus's error replies."""

from __future__ import annotations

import asyncio
import json
import uuid

import nats
import pytest

from contracts import subjects
from tests.e2e.stack import Stack, wait_until
from tests.support.builders import diamond

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def position(stack: Stack) -> int:
    return int(stack.http.get("/readyz").json()["checks"]["read_store_position"])


def error_of(response: object) -> tuple[int, str]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "details"}
    return response.status_code, body["error"]["type"]  # type: ignore[attr-defined]


def test_bad_input_is_refused_with_the_error_body_and_writes_nothing(stack: Stack) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    stack.put_workflow(name, diamond())
    # Counted once the read models show the workflow (the save is not read-your-writes here).
    wait_until(lambda: stack.http.get(f"/v1/workflows/{name}").status_code == 200 or None)
    before = stack.http.get("/v1/workflows").json()["total"]
    headers = {"content-type": "application/json"}
    cases = {
        "malformed JSON": (
            stack.http.put(f"/v1/workflows/{name}2", content=b"{nope", headers=headers),
            (400, "BAD_REQUEST"),
        ),
        "unknown field": (
            stack.http.put(f"/v1/workflows/{name}2", json={**diamond(), "colour": "red"}),
            (422, "VALIDATION_ERROR"),
        ),
        "NaN, which JSON has not": (
            stack.http.post(
                f"/v1/workflows/{name}/runs", content=b'{"input": {"x": NaN}}', headers=headers
            ),
            (400, "BAD_REQUEST"),
        ),
        "YAML's .inf": (
            stack.http.post(
                f"/v1/workflows/{name}/runs",
                content=b"input:\n  x: .inf\n",
                headers={"content-type": "application/yaml"},
            ),
            (400, "BAD_REQUEST"),
        ),
        "wrong type": (
            stack.http.post(f"/v1/workflows/{name}/runs", json={"input": "not an object"}),
            (422, "VALIDATION_ERROR"),
        ),
        "unknown block type": (
            stack.http.put(
                f"/v1/workflows/{name}2", json={"blocks": [{"id": "a", "type": "teleport"}]}
            ),
            (422, "VALIDATION_ERROR"),
        ),
        "cycle": (
            stack.http.put(
                f"/v1/workflows/{name}2",
                json={
                    "blocks": [
                        {"id": "a", "type": "noop", "needs": ["b"]},
                        {"id": "b", "type": "noop", "needs": ["a"]},
                    ]
                },
            ),
            (422, "VALIDATION_ERROR"),
        ),
        "unknown workflow": (
            stack.http.post("/v1/workflows/no-such-workflow/runs", json={}),
            (404, "WORKFLOW_NOT_FOUND"),
        ),
        "unknown run": (stack.http.get("/v1/runs/no-such-run"), (404, "RUN_NOT_FOUND")),
        "body over 1 MiB": (
            stack.http.post(
                f"/v1/workflows/{name}/runs", json={"input": {"blob": "x" * (1024 * 1024 + 1)}}
            ),
            (413, "PAYLOAD_TOO_LARGE"),
        ),
    }
    for what, (response, expected) in cases.items():
        assert error_of(response) == expected, what
    assert stack.http.get("/v1/workflows").json()["total"] == before
    assert stack.http.get("/v1/runs", params={"workflow": name}).json()["total"] == 0


def test_two_tenants_never_see_each_other(stack: Stack) -> None:
    name = f"shared-name-{uuid.uuid4().hex[:8]}"
    a = {subjects.HTTP_TENANT_HEADER: "tenant-a"}
    b = {subjects.HTTP_TENANT_HEADER: "tenant-b"}
    stack.put_workflow(name, diamond(sleep_seconds=0), **a)
    started = stack.http.post(f"/v1/workflows/{name}/runs", json={}, headers=a)
    assert started.status_code == 201
    run_id = started.json()["id"]
    wait = {subjects.HTTP_MIN_POSITION_HEADER: started.headers[subjects.HTTP_POSITION_HEADER]}

    assert stack.http.get(f"/v1/runs/{run_id}", headers={**a, **wait}).status_code == 200
    assert error_of(stack.http.get(f"/v1/runs/{run_id}", headers=b)) == (404, "RUN_NOT_FOUND")
    assert error_of(stack.http.get(f"/v1/workflows/{name}", headers=b)) == (
        404,
        "WORKFLOW_NOT_FOUND",
    )
    assert stack.http.get("/v1/runs", headers=b).json()["total"] == 0
    assert name not in [
        w["name"] for w in stack.http.get("/v1/workflows", headers=b).json()["items"]
    ]
    assert error_of(stack.http.post(f"/v1/workflows/{name}/runs", json={}, headers=b)) == (
        404,
        "WORKFLOW_NOT_FOUND",
    )
    assert error_of(stack.http.post(f"/v1/runs/{run_id}/cancel", headers=b)) == (
        404,
        "RUN_NOT_FOUND",
    )


def test_a_read_with_min_position_sees_the_write(stack: Stack) -> None:
    name = f"ryw-{uuid.uuid4().hex[:8]}"
    stack.put_workflow(name, diamond())
    for _ in range(5):
        started = stack.http.post(f"/v1/workflows/{name}/runs", json={"id": uuid.uuid4().hex})
        assert started.status_code == 201
        written_at = int(started.headers[subjects.HTTP_POSITION_HEADER])
        assert written_at > 0
        response = stack.http.get(
            f"/v1/runs/{started.json()['id']}",
            headers={subjects.HTTP_MIN_POSITION_HEADER: str(written_at)},
        )
        assert response.status_code == 200, response.text
    assert position(stack) >= written_at
    duplicate = stack.http.post(f"/v1/workflows/{name}/runs", json={"id": started.json()["id"]})
    assert error_of(duplicate) == (409, "RUN_ALREADY_EXISTS")


def test_the_bus_answers_bad_commands_with_the_error_body(stack: Stack) -> None:
    async def ask(subject: str, body: bytes) -> dict[str, object]:
        nc = await nats.connect(stack.nats_url)
        try:
            return json.loads((await nc.request(subject, body, timeout=10)).data)  # type: ignore[no-any-return]
        finally:
            await nc.close()

    start = subjects.command_subject("default", "run", "start")
    replies = {
        "malformed": asyncio.run(ask(start, b"{nope")),
        "infinite": asyncio.run(ask(start, b'{"workflow": "w", "input": {"x": -Infinity}}')),
        "invalid": asyncio.run(ask(start, json.dumps({"workflow": 3}).encode())),
        "unknown workflow": asyncio.run(ask(start, json.dumps({"workflow": "zz"}).encode())),
        "unknown command": asyncio.run(
            ask(subjects.command_subject("default", "run", "fly"), b"{}")
        ),
    }
    types = {what: reply["error"]["type"] for what, reply in replies.items()}  # type: ignore[index]
    assert types == {
        "malformed": "BAD_REQUEST",
        "infinite": "BAD_REQUEST",
        "invalid": "VALIDATION_ERROR",
        "unknown workflow": "WORKFLOW_NOT_FOUND",
        "unknown command": "NOT_FOUND",
    }


def test_openapi_and_health(stack: Stack) -> None:
    schema = stack.http.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/v1/workflows/{name}" in paths and "/v1/runs/{run_id}" in paths
    assert stack.http.get("/healthz").json() == {"status": "ok"}
    assert stack.http.get("/readyz").json()["ready"] is True


def test_run_lists_page_by_cursor_page_and_offset_and_filter(stack: Stack) -> None:
    name = f"paging-{uuid.uuid4().hex[:8]}"
    stack.put_workflow(name, {"blocks": [{"id": "only", "type": "noop"}]})
    ids = []
    for i in range(23):
        body = {"metadata": {"team": "red" if i % 2 else "blue"}}
        started = stack.http.post(f"/v1/workflows/{name}/runs", json=body)
        ids.append(started.json()["id"])
    wait = {subjects.HTTP_MIN_POSITION_HEADER: started.headers[subjects.HTTP_POSITION_HEADER]}

    seen: list[str] = []
    params: dict[str, object] = {"workflow": name, "limit": 5}
    while True:
        page = stack.http.get("/v1/runs", params=params, headers=wait).json()
        assert page["total"] >= 23
        seen += [item["id"] for item in page["items"]]
        if len(seen) == 10:  # Runs inserted mid-listing do not shift the pages.
            stack.http.post(f"/v1/workflows/{name}/runs", json={})
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == list(reversed(ids)), "newest first, each run once"

    by_page = stack.http.get(
        "/v1/runs", params={"workflow": name, "page": 2, "page_size": 4, "sort": "created_at"}
    ).json()
    assert [i["id"] for i in by_page["items"]] == ids[4:8]
    by_offset = stack.http.get(
        "/v1/runs", params={"workflow": name, "offset": 20, "limit": 2, "sort": "created_at"}
    ).json()
    assert [i["id"] for i in by_offset["items"]] == ids[20:22]
    red = stack.http.get("/v1/runs", params={"workflow": name, "metadata.team": "red"}).json()
    assert red["total"] == 11 and {i["metadata"]["team"] for i in red["items"]} == {"red"}
    bad = stack.http.get("/v1/runs", params={"sort": "input"})
    assert error_of(bad) == (400, "BAD_REQUEST")
    assert stack.http.get("/v1/runs", params={"workflow": name, "version": 2}).json()["total"] == 0


def test_an_idempotency_key_makes_a_repeated_post_return_the_first_answer(stack: Stack) -> None:
    name = f"idem-{uuid.uuid4().hex[:8]}"
    stack.put_workflow(name, {"blocks": [{"id": "only", "type": "noop"}]})
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = stack.http.post(f"/v1/workflows/{name}/runs", json={"input": {"a": 1}}, headers=key)
    again = stack.http.post(f"/v1/workflows/{name}/runs", json={"input": {"a": 1}}, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    wait = {subjects.HTTP_MIN_POSITION_HEADER: again.headers[subjects.HTTP_POSITION_HEADER]}
    listed = stack.http.get("/v1/runs", params={"workflow": name}, headers=wait).json()
    assert listed["total"] == 1
    other = stack.http.post(f"/v1/workflows/{name}/runs", json={"input": {"a": 2}}, headers=key)
    assert error_of(other) == (422, "IDEMPOTENCY_KEY_REUSED")
