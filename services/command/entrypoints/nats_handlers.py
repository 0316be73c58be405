"""Request/reply on `fl.cmd.<tenant>.<aggregate>.<command>`, queue group `command`.

Parses and validates the command at the edge (bad input never reaches the store), then
hands it to the group committer, which answers once the command's batch is committed.
The handler itself never waits for a commit: it runs one message after another, with no
task per message (FastStream's concurrent consumption cost more CPU than the command).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.nats import NatsBroker
from faststream.nats.message import NatsMessage
from nats.aio.msg import Msg
from pydantic import ValidationError

from contracts import strict_json, subjects
from contracts.commands import (
    CreateSchedule,
    ReplayRun,
    StartRun,
    StartRuns,
    TerminateRuns,
    TriggerSchedule,
    command_class,
    new_id,
)
from contracts.errors import ErrorBody, ErrorType
from contracts.replies import Reply
from services.command.application import Envelope, request_hash
from services.command.committer import GroupCommitter


@dataclass(frozen=True)
class Incoming:
    """A command request as it came: malformed JSON must still get a proper reply."""

    subject: str
    body: bytes
    idempotency_key: str | None
    raw: Msg

    async def respond(self, reply: Reply) -> None:
        if self.raw.reply:  # A fire-and-forget publish wants no answer.
            await self.raw.respond(reply.model_dump_json().encode())


_message_numbers = itertools.count(1)


async def _parse(raw: Msg, original: Any = None) -> NatsMessage:
    """FastStream's own parser, less the fresh uuid4 it draws to name each message that
    came without a correlation id (a thirtieth of this service's CPU): a counter names
    them as uniquely within the process, which is where the name is used (its logs)."""
    headers = raw.header or {}
    correlation_id = headers.get("correlation_id") or f"cmd-{next(_message_numbers)}"
    return NatsMessage(
        raw_message=raw,
        body=raw.data,
        reply_to=raw.reply,
        headers=headers,
        content_type=headers.get("content-type", ""),
        message_id=headers.get("message_id"),
        correlation_id=correlation_id,
    )


async def _incoming(message: Any, original: Any = None) -> Incoming:
    raw = message.raw_message
    key = (raw.headers or {}).get(subjects.IDEMPOTENCY_HEADER)
    return Incoming(raw.subject, bytes(message.body), key, raw)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def parse_command(
    subject: str, body: bytes, max_bytes: int, idempotency_key: str | None = None
) -> Envelope | ErrorBody:
    """The command a request carries, with its generated ids; or why it is refused."""
    try:
        tenant, aggregate, name = subjects.parse_command_subject(subject)
        subjects.check_token(tenant, "tenant")
        cls = command_class(aggregate, name)
    except (ValueError, KeyError):
        return ErrorBody.of(ErrorType.NOT_FOUND, f"no such command subject {subject!r}")
    if len(body) > max_bytes:
        return ErrorBody.of(
            ErrorType.PAYLOAD_TOO_LARGE, f"command body over {max_bytes} bytes", limit=max_bytes
        )
    try:
        data = strict_json.loads(body or b"{}")
    except ValueError as exc:
        return ErrorBody.of(ErrorType.BAD_REQUEST, f"malformed JSON: {exc}")
    try:
        command = cls.model_validate(data)
    except ValidationError as exc:
        return ErrorBody.of(
            ErrorType.VALIDATION_ERROR, "invalid command", errors=validation_details(exc)
        )
    idempotency = None
    if idempotency_key:
        if len(idempotency_key) > 255:
            return ErrorBody.of(ErrorType.BAD_REQUEST, "an idempotency key is 1-255 characters")
        idempotency = (idempotency_key, request_hash(command))
    # Ids are given here, before the command is queued, so a retried batch keeps them.
    if isinstance(command, StartRun) and command.id is None:
        command.id = new_id()
    if isinstance(command, StartRuns):
        for body in command.runs:
            body.id = body.id or new_id()
    if isinstance(command, ReplayRun) and command.new_id is None:
        command.new_id = new_id()
    if isinstance(command, TerminateRuns) and command.job_id is None:
        command.job_id = new_id()
    if isinstance(command, CreateSchedule) and command.id is None:
        command.id = new_id()
    if isinstance(command, TriggerSchedule) and command.run_id is None:
        command.run_id = f"{command.id}-manual-{uuid.uuid4().hex[:12]}"
    return Envelope(tenant, command, idempotency)


def register_command_handlers(
    broker: NatsBroker, committer: GroupCommitter, max_bytes: int
) -> None:
    # The broker is built with apply_types=False: no dependency injection per message
    # (it cost more CPU than deciding the command); the decoder hands over what is needed.
    # no_reply: the committer answers, after the commit. A core request has nothing to
    # acknowledge: MANUAL spares FastStream's acknowledgement middleware per message.
    @broker.subscriber(
        subjects.command_wildcard(),
        queue=subjects.COMMAND_QUEUE_GROUP,
        parser=_parse,
        decoder=_incoming,
        no_reply=True,
        ack_policy=AckPolicy.MANUAL,
    )
    async def handle_command(request: Incoming) -> None:
        parsed = parse_command(request.subject, request.body, max_bytes, request.idempotency_key)
        if isinstance(parsed, ErrorBody):
            await request.respond(parsed)
        else:
            # Waits only while the committer is full: the subscription then buffers.
            await committer.enqueue(parsed, request.respond)
