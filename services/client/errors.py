"""What the client raises: the server's one error body, or no answer at all."""

from __future__ import annotations

from typing import Any

import httpx


class FlowledgerClientError(Exception):
    """Anything the client raises on purpose."""


class FlowledgerAPIError(FlowledgerClientError):
    """The server refused: its status and the `{"error": {type, message, details}}` body.

    `type` is kept a string, so a type added by a newer server does not break an older client.
    """

    def __init__(
        self, status: int, type: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{type}: {message}")
        self.status = status
        self.type = type
        self.message = message
        self.details = details or {}

    @classmethod
    def from_response(cls, response: httpx.Response) -> FlowledgerAPIError:
        try:
            error = response.json()["error"]
            return cls(
                response.status_code,
                str(error["type"]),
                str(error["message"]),
                dict(error.get("details") or {}),
            )
        except (ValueError, KeyError, TypeError):
            # Not the error body: a proxy or load balancer answered, not Flowledger.
            type_ = "UNAVAILABLE" if response.status_code in (502, 503, 504) else "HTTP_ERROR"
            text = response.text.strip()[:200] or response.reason_phrase
            return cls(response.status_code, type_, f"HTTP {response.status_code}: {text}")


class FlowledgerConnectionError(FlowledgerClientError):
    """No answer: the server could not be reached, or did not answer in time."""

    type = "CONNECTION_ERROR"

    def __init__(self, url: str, cause: Exception) -> None:
        super().__init__(f"cannot reach {url}: {cause}")
        self.url = url
        self.message = str(self)
