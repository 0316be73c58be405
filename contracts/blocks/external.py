"""Blocks that reach outside the run: http, webhook, emit_event."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from contracts.blocks.base import BlockBase, BlockConfig, is_template
from contracts.blocks.timing import EVENT_TYPE_PATTERN


def _http_url(value: str) -> str:
    if is_template(value):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL or a ${…} expression")
    return value


HttpUrl = Annotated[str, Field(min_length=1, max_length=8192), AfterValidator(_http_url)]
Status = Annotated[int, Field(ge=100, le=599)]


class HttpConfig(BlockConfig):
    """Sends an HTTP request; outputs the status, headers and (JSON) body of the response.

    Redirects are followed; `timeout_seconds` bounds the whole exchange. The output is
    `{"status", "headers", "body"}`: header names in lower case, the body JSON-decoded when
    the response is JSON, else text. A status outside `expect_status` fails the block with
    `HTTP_<status>` (retried for 5xx and 429 only); no answer in time is `HTTP_TIMEOUT`, no
    connection `HTTP_UNREACHABLE`, both retried.
    """

    ENABLED: ClassVar[bool] = True

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Statuses that count as success; by default any 2xx.
    expect_status: Status | list[Status] | None = None


class WebhookConfig(BlockConfig):
    """POSTs `payload` as JSON to `url`, signed with HMAC-SHA256 when a `secret` is set.

    The signature is header `X-Flowledger-Signature: sha256=<hex HMAC-SHA256 of the exact
    body bytes, keyed by secret>`. Any 2xx is success; the output and errors are `http`'s.
    """

    ENABLED: ClassVar[bool] = True

    url: HttpUrl
    secret: str | None = None
    payload: Any = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)


class EmitEventConfig(BlockConfig):
    """Publishes an event of `event_type` with `payload` for triggers and other runs to see."""

    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)
    payload: Any = None


class HttpBlock(BlockBase):
    type: Literal["http"]
    config: HttpConfig


class WebhookBlock(BlockBase):
    type: Literal["webhook"]
    config: WebhookConfig


class EmitEventBlock(BlockBase):
    type: Literal["emit_event"]
    config: EmitEventConfig
