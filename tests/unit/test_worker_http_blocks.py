"""The http and webhook executors against a real HTTP server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest

from services.worker.blocks import EXECUTORS, BlockContext, BlockError
from tests.support.http_server import Answer, TestServer, serve, unused_url


@pytest.fixture(scope="module")
def server() -> Iterator[TestServer]:
    answers = {
        "/json": Answer(200, {"ok": True, "items": [1, 2]}, {"X-Trace": "t-1"}),
        "/problem-json": Answer(200, {"kind": "x"}, {"Content-Type": "application/problem+json"}),
        "/text": Answer(200, "plain words"),
        "/not-json": Answer(200, b"{broken", {"Content-Type": "application/json"}),
        "/created": Answer(201, {"id": 7}),
        "/gone": Answer(404, {"error": "gone"}),
        "/bad": Answer(400, "bad request"),
        "/busy": Answer(429, "slow down"),
        "/down": Answer(503, "maintenance"),
        "/moved": Answer(302, b"", {"Location": "/json"}),
        "/slow": Answer(200, {"late": True}, delay=2.0),
        "/echo": Answer(200, {"echo": True}),
        "/cookie": Answer(200, {"set": True}, {"Set-Cookie": "session=secret; Path=/"}),
    }
    with serve(answers) as running:
        yield running


def run(block_type: str, config: dict[str, Any]) -> Any:
    ctx = BlockContext("run-1", "b", 1, None)
    return asyncio.run(EXECUTORS[block_type](config, ctx))


def fails(block_type: str, config: dict[str, Any]) -> BlockError:
    with pytest.raises(BlockError) as caught:
        run(block_type, config)
    return caught.value


# ----- http ----------------------------------------------------------------------------------


def test_blocks_of_one_loop_share_a_client_and_no_response_sets_cookies_for_the_next(
    server: TestServer,
) -> None:
    from services.worker.blocks import http

    async def two_blocks() -> tuple[Any, Any]:
        ctx = BlockContext("run-1", "b", 1, None)
        first = await EXECUTORS["http"]({"url": f"{server.url}/cookie"}, ctx)
        client = http._client()
        second = await EXECUTORS["http"]({"url": f"{server.url}/echo?after-cookie"}, ctx)
        return client, (first, second, http._client())

    client, (first, second, again) = asyncio.run(two_blocks())
    assert again is client  # One client per loop, not one per block.
    assert first["headers"]["set-cookie"].startswith("session=")
    assert second["body"] == {"echo": True}
    [later] = [r for r in server.received if r.query == "after-cookie"]
    assert "cookie" not in later.headers  # Another run's session does not leak into it.


def test_closing_the_loops_client_ends_its_connections_and_a_later_block_gets_a_new_one(
    server: TestServer,
) -> None:
    from services.worker.blocks import http

    async def block_close_block() -> tuple[Any, Any, Any]:
        ctx = BlockContext("run-1", "b", 1, None)
        await EXECUTORS["http"]({"url": f"{server.url}/json"}, ctx)
        first = http._client()
        await http.close_client()
        output = await EXECUTORS["http"]({"url": f"{server.url}/json"}, ctx)
        second = http._client()
        await http.close_client()
        return first, second, output

    first, second, output = asyncio.run(block_close_block())
    assert first.is_closed and second is not first and second.is_closed
    assert output["body"] == {"ok": True, "items": [1, 2]}


def test_a_json_response_is_decoded_with_status_and_lower_case_headers(
    server: TestServer,
) -> None:
    output = run("http", {"url": f"{server.url}/json"})
    assert output["status"] == 200
    assert output["body"] == {"ok": True, "items": [1, 2]}
    assert output["headers"]["x-trace"] == "t-1"
    assert output["headers"]["content-type"] == "application/json"
    assert set(output) == {"status", "headers", "body"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/problem-json", {"kind": "x"}),  # a +json media type is JSON too
        ("/text", "plain words"),
        ("/not-json", "{broken"),  # claims JSON but is not: kept as text
    ],
)
def test_bodies_are_json_when_the_response_is_json_else_text(
    server: TestServer, path: str, body: Any
) -> None:
    assert run("http", {"url": f"{server.url}{path}"})["body"] == body


def test_method_headers_and_json_body_are_sent(server: TestServer) -> None:
    output = run(
        "http",
        {
            "method": "PUT",
            "url": f"{server.url}/echo?x=1",
            "headers": {"Authorization": "Bearer abc"},
            "json": {"order": 42, "tags": ["a"]},
        },
    )
    assert output["status"] == 200
    received = server.requests_to("/echo")[-1]
    assert (received.method, received.query) == ("PUT", "x=1")
    assert received.headers["authorization"] == "Bearer abc"
    assert received.headers["content-type"] == "application/json"
    assert received.json() == {"order": 42, "tags": ["a"]}


def test_without_json_no_body_is_sent(server: TestServer) -> None:
    run("http", {"method": "DELETE", "url": f"{server.url}/echo"})
    received = server.requests_to("/echo")[-1]
    assert (received.method, received.body) == ("DELETE", b"")


def test_a_head_request_has_an_empty_text_body(server: TestServer) -> None:
    output = run("http", {"method": "HEAD", "url": f"{server.url}/text"})
    assert (output["status"], output["body"]) == (200, "")


def test_redirects_are_followed(server: TestServer) -> None:
    output = run("http", {"url": f"{server.url}/moved"})
    assert (output["status"], output["body"]["ok"]) == (200, True)


@pytest.mark.parametrize(
    ("path", "error_type", "retryable"),
    [
        ("/gone", "HTTP_404", False),
        ("/bad", "HTTP_400", False),
        ("/busy", "HTTP_429", True),
        ("/down", "HTTP_503", True),
        ("/created", None, None),  # any 2xx is fine by default
    ],
)
def test_a_status_outside_2xx_fails_the_block(
    server: TestServer, path: str, error_type: str | None, retryable: bool | None
) -> None:
    config = {"url": f"{server.url}{path}"}
    if error_type is None:
        assert run("http", config)["status"] == 201
        return
    error = fails("http", config)
    assert (error.error_type, error.retryable) == (error_type, retryable)
    assert f"answered {error_type[5:]}" in error.message


def test_expect_status_replaces_the_2xx_default(server: TestServer) -> None:
    gone = run("http", {"url": f"{server.url}/gone", "expect_status": [200, 404]})
    assert (gone["status"], gone["body"]) == (404, {"error": "gone"})
    assert run("http", {"url": f"{server.url}/created", "expect_status": 201})["status"] == 201
    error = fails("http", {"url": f"{server.url}/json", "expect_status": 201})
    assert (error.error_type, error.retryable) == ("HTTP_200", False)


def test_no_answer_within_the_timeout_is_a_retryable_http_timeout(server: TestServer) -> None:
    error = fails("http", {"url": f"{server.url}/slow", "timeout_seconds": 0.3})
    assert (error.error_type, error.retryable) == ("HTTP_TIMEOUT", True)


def test_nothing_listening_is_a_retryable_http_unreachable() -> None:
    error = fails("http", {"url": f"{unused_url()}/x", "timeout_seconds": 5})
    assert (error.error_type, error.retryable) == ("HTTP_UNREACHABLE", True)


def test_a_url_that_resolved_to_something_else_is_invalid_config() -> None:
    # `${…}` are resolved before the task is sent: what arrives must be an http(s) URL.
    error = fails("http", {"url": "ftp://example.com/file"})
    assert (error.error_type, error.retryable) == ("INVALID_CONFIG", False)


# ----- webhook -------------------------------------------------------------------------------


def test_a_webhook_posts_its_payload_signed_with_its_secret(server: TestServer) -> None:
    payload = {"event": "order.paid", "amount": 12.5, "note": "café"}
    output = run("webhook", {"url": f"{server.url}/echo", "secret": "s3cret", "payload": payload})
    assert (output["status"], output["body"]) == (200, {"echo": True})
    received = server.requests_to("/echo")[-1]
    assert received.method == "POST"
    assert received.headers["content-type"] == "application/json"
    assert received.json() == payload
    expected = hmac.new(b"s3cret", received.body, hashlib.sha256).hexdigest()
    assert received.headers["x-flowledger-signature"] == f"sha256={expected}"


def test_an_unsigned_webhook_has_no_signature_header(server: TestServer) -> None:
    run("webhook", {"url": f"{server.url}/echo", "payload": [1, 2]})
    received = server.requests_to("/echo")[-1]
    assert "x-flowledger-signature" not in received.headers
    assert json.loads(received.body) == [1, 2]


@pytest.mark.parametrize(
    ("path", "error_type", "retryable"),
    [("/gone", "HTTP_404", False), ("/down", "HTTP_503", True)],
)
def test_a_webhook_handles_statuses_like_http(
    server: TestServer, path: str, error_type: str, retryable: bool
) -> None:
    error = fails("webhook", {"url": f"{server.url}{path}", "payload": {}})
    assert (error.error_type, error.retryable) == (error_type, retryable)


def test_an_unreachable_webhook_is_retryable() -> None:
    error = fails("webhook", {"url": unused_url(), "payload": {}})
    assert (error.error_type, error.retryable) == ("HTTP_UNREACHABLE", True)
