"""Idempotency keys: the first answer to a command, kept so a repeat gets the same answer.

The record is saved in the same transaction as the command's own events, so a command is
either applied and remembered, or neither.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.errors import ErrorType, FlowledgerError

_KEY_NAMESPACE = uuid.UUID("9a3e4f0c-1d2b-4c5e-8f70-6b1a2c3d4e5f")


def idempotency_id(tenant: str, key: str) -> uuid.UUID:
    return uuid.uuid5(_KEY_NAMESPACE, f"{tenant}/{key}")


class IdempotencyRecord(Aggregate):
    """One key of one tenant: which command it was used for, and the answer it got."""

    @staticmethod
    def create_id(tenant: str, key: str) -> uuid.UUID:
        return idempotency_id(tenant, key)

    @event("IdempotencyKeyUsed")
    def __init__(
        self,
        tenant: str,
        key: str,
        command: str,
        request_hash: str,
        result: dict[str, Any],
        at: datetime,
    ) -> None:
        self.tenant = tenant
        self.key = key
        self.command = command
        self.request_hash = request_hash
        self.result = result

    def answer_repeat(self, command: str, request_hash: str) -> dict[str, Any]:
        """The first answer, if this is the same request; a reused key is refused."""
        if command != self.command or request_hash != self.request_hash:
            raise FlowledgerError(
                ErrorType.IDEMPOTENCY_KEY_REUSED,
                f"idempotency key {self.key!r} was used for a different request",
                key=self.key,
                first_command=self.command,
            )
        return self.result
