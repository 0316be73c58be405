"""Several commands in one atomic call (`POST /v1/commands:batch`): all applied, or none."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from contracts import commands as c
from contracts.errors import ErrorType, FlowledgerError
from services.command.unit_of_work import UnitOfWork

# Reports of workers and timers, and batches themselves, are not for clients to batch.
NOT_BATCHABLE = (
    c.ExecuteBatch,
    c.StartBlock,
    c.CompleteBlock,
    c.FailBlock,
    c.StartBlocks,
    c.ReportBlocks,
    c.FireTimer,
    c.FireSchedule,
    c.RunJobChunk,
)


def parse(index: int, raw: dict[str, Any]) -> c.Command:
    name = str(raw.get("command", ""))
    aggregate, _, verb = name.partition(".")
    try:
        cls = c.command_class(aggregate, verb)
    except KeyError:
        cls = None
    if cls is None or issubclass(cls, NOT_BATCHABLE):
        raise FlowledgerError(
            ErrorType.VALIDATION_ERROR,
            f"commands[{index}]: {name!r} is not a command that can be batched",
            index=index,
            command=name,
        )
    try:
        command = cls.model_validate({k: v for k, v in raw.items() if k != "command"})
    except ValidationError as exc:
        raise FlowledgerError(
            ErrorType.VALIDATION_ERROR,
            f"commands[{index}] ({name}) is invalid; nothing was applied",
            index=index,
            command=name,
            errors=[
                {"path": ".".join(map(str, e["loc"])), "message": e["msg"]}
                for e in exc.errors(include_url=False)
            ],
        ) from exc
    if isinstance(command, c.StartRun) and command.id is None:
        command.id = c.new_id()
    return command


def execute_batch(
    uow: UnitOfWork, tenant: str, cmd: c.ExecuteBatch, now: datetime
) -> dict[str, Any]:
    from services.command.use_cases import HANDLERS  # The registry includes this handler.

    commands = [parse(index, raw) for index, raw in enumerate(cmd.commands)]
    items = []
    for index, command in enumerate(commands):
        name = f"{command.AGGREGATE}.{command.NAME}"
        try:
            result = HANDLERS[type(command)](uow, tenant, command, now)
        except FlowledgerError as exc:
            raise FlowledgerError(
                exc.type,
                f"commands[{index}] ({name}): {exc.message}; nothing was applied",
                index=index,
                command=name,
                cause=exc.details,
            ) from exc
        items.append({"command": name, **result})
    return {"items": items}
