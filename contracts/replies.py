"""Replies to commands: an acceptance, or the one error body."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from contracts.errors import ErrorBody


class Accepted(BaseModel):
    """`position` is the global position of the last event written (0 if none)."""

    ok: bool = True
    position: int = 0
    result: dict[str, Any] = Field(default_factory=dict)


Reply = Accepted | ErrorBody


def parse_reply(data: bytes) -> Reply:
    body = json.loads(data)
    if isinstance(body, dict) and "error" in body:
        return ErrorBody.model_validate(body)
    return Accepted.model_validate(body)
