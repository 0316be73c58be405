"""The run status machine: which user commands each status allows."""

from __future__ import annotations

from enum import StrEnum

from contracts.errors import ErrorType, FlowledgerError


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    PAUSED = "paused"
    BLOCKED = "blocked"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


TERMINAL = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TERMINATED}
)


class RunCommand(StrEnum):
    CANCEL = "cancel"
    TERMINATE = "terminate"
    PAUSE = "pause"
    RESUME = "resume"
    RESTART = "restart"
    RETRY = "retry"
    REPLAY = "replay"
    ROLLBACK = "rollback"
    SEND_EVENT = "send_event"


_ACTIVE = frozenset({RunCommand.CANCEL, RunCommand.TERMINATE, RunCommand.PAUSE})
_ENDED = frozenset({RunCommand.RESTART, RunCommand.REPLAY})

ALLOWED: dict[RunStatus, frozenset[RunCommand]] = {
    RunStatus.QUEUED: _ACTIVE,
    RunStatus.RUNNING: _ACTIVE | {RunCommand.SEND_EVENT},
    RunStatus.WAITING: _ACTIVE | {RunCommand.SEND_EVENT},
    RunStatus.BLOCKED: _ACTIVE,
    # An event sent to a paused run is kept (or reaches its waiting block): never lost.
    RunStatus.PAUSED: frozenset(
        {
            RunCommand.RESUME,
            RunCommand.CANCEL,
            RunCommand.TERMINATE,
            RunCommand.ROLLBACK,
            RunCommand.SEND_EVENT,
        }
    ),
    RunStatus.COMPLETED: _ENDED,
    RunStatus.FAILED: _ENDED | {RunCommand.RETRY, RunCommand.ROLLBACK},
    RunStatus.CANCELLED: _ENDED,
    RunStatus.TERMINATED: _ENDED,
}


def check_allowed(status: RunStatus, command: RunCommand) -> None:
    """Raise 409 INVALID_RUN_STATE naming the status and what it allows."""
    allowed = ALLOWED[status]
    if command not in allowed:
        raise FlowledgerError(
            ErrorType.INVALID_RUN_STATE,
            f"cannot {command.value} a run that is {status.value}",
            status=status.value,
            command=command.value,
            allowed=sorted(c.value for c in allowed),
        )
