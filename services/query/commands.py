"""Send a command over NATS request/reply and turn its reply into a result or an error."""

from __future__ import annotations

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from contracts import subjects
from contracts.commands import Command
from contracts.errors import ErrorBody, ErrorType, FlowledgerError
from contracts.replies import Accepted, parse_reply


class CommandBus:
    def __init__(self, nc: Client, timeout: float) -> None:
        self.nc = nc
        self.timeout = timeout

    async def send(
        self, tenant: str, command: Command, idempotency_key: str | None = None
    ) -> Accepted:
        subject = subjects.command_subject(tenant, command.AGGREGATE, command.NAME)
        headers = {subjects.IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else None
        try:
            msg = await self.nc.request(
                subject, command.model_dump_json().encode(), timeout=self.timeout, headers=headers
            )
        except (NoRespondersError, NatsTimeoutError, TimeoutError) as exc:
            raise FlowledgerError(
                ErrorType.UNAVAILABLE,
                "the command service did not answer; retry",
                retry_after=1,
            ) from exc
        reply = parse_reply(msg.data)
        if isinstance(reply, ErrorBody):
            raise FlowledgerError(reply.error.type, reply.error.message, **reply.error.details)
        return reply
