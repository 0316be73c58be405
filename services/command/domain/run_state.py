"""The state of a run and the events that change it: the Run aggregate's half that
only records. `run.Run` adds the commands and decisions on top.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.definitions import WorkflowDefinition
from services.command.domain.scheduling import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PENDING,
    SKIPPED,
    TERMINAL_BLOCK_STATUSES,
)
from services.command.domain.status import RunStatus

RUNNING_BLOCK = "running"
WAITING_BLOCK = "waiting"
# What a block's timer is for.
SLEEP = "sleep"
RETRY = "retry"
EVENT_TIMEOUT = "event_timeout"
BLOCK_TIMEOUT = "block_timeout"
RUN_TIMEOUT = "run_timeout"

_RUN_NAMESPACE = uuid.UUID("0b5b8c3e-4c1a-4f7e-9d62-3c1f1e7a2a11")


# A UUIDv7 in hex, as the command service gives run ids (contracts.commands.new_id).
_UUID7_HEX = re.compile(r"[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}")
# Until this version (landed before this moment), runs with such ids were stored under
# the plain hash too.
_TIME_LED_SINCE_MS = int(datetime(2026, 12, 3, 12, 30, tzinfo=UTC).timestamp() * 1000)


@functools.lru_cache(maxsize=16_384)
def run_aggregate_id(tenant: str, run_id: str) -> uuid.UUID:
    """Run ids are unique per tenant; the aggregate id is a hash of both, led by the run
    id's own time when the run id is a UUIDv7. Runs given ids in order are then stored
    in order: the event store's index takes each batch's new entries on its last pages,
    where a plain hash put each run on a page of its own (bench/README.md, item 12).

    Cached: every command of a run derives it again, and uuid5 is slow Python."""
    hashed = _plain_hash(tenant, run_id)
    if _UUID7_HEX.fullmatch(run_id):
        return uuid.UUID(hex=run_id[:12] + hashed.hex[12:])
    return hashed


def earlier_run_aggregate_id(tenant: str, run_id: str) -> uuid.UUID | None:
    """Where an earlier version stored a run with a UUIDv7 id (the plain hash); None for
    every other run id, whose aggregate id never changed."""
    return _plain_hash(tenant, run_id) if _UUID7_HEX.fullmatch(run_id) else None


def _plain_hash(tenant: str, run_id: str) -> uuid.UUID:
    """Every run's aggregate id before UUIDv7 ids led them by their time."""
    return uuid.uuid5(_RUN_NAMESPACE, f"{tenant}/{run_id}")


def may_be_stored_earlier(run_id: str) -> bool:
    """Whether a start must also look where an earlier version would have stored a run
    of this id: for a UUIDv7 from before this version. (A lookup of an existing run
    always looks there when it misses; a start, which nearly always misses, would pay a
    read of the store each time.)"""
    return bool(_UUID7_HEX.fullmatch(run_id)) and int(run_id[:12], 16) < _TIME_LED_SINCE_MS


class RunState(Aggregate):
    """What a run is: its status, its blocks' attempts and timers; changed only by events."""

    @staticmethod
    def create_id(tenant: str, run_id: str) -> uuid.UUID:
        return run_aggregate_id(tenant, run_id)

    @event("RunStarted")
    def __init__(
        self,
        tenant: str,
        run_id: str,
        workflow: str,
        version: int,
        definition: dict[str, Any],
        input: dict[str, Any],
        metadata: dict[str, str],
        status: str,
        at: datetime,
        selected: list[str] | None = None,
        timeout: list[Any] | None = None,
        replay_of: dict[str, Any] | None = None,
    ) -> None:
        self.tenant = tenant
        self.run_id = run_id
        self.workflow = workflow
        self.workflow_version = version
        self.definition = definition
        self.input = input
        self.metadata = metadata
        self.status = RunStatus(status)
        self.created_at = at
        self.output: Any = None
        self.error: dict[str, Any] | None = None
        self.blocks: dict[str, dict[str, Any]] = {
            b["id"]: {"status": PENDING, "attempt": 0, "output": None, "timer": None}
            for b in definition["blocks"]
        }
        # Events sent to the run that no block was waiting for yet, oldest first.
        self.inbox: list[dict[str, Any]] = []
        self.run_attempt = 1
        self.selected = selected
        self.replay_of = replay_of
        # Blocks completed (checkpoints), in the order they completed.
        self.completed_order: list[str] = []
        # (seconds, policy) of the run's own deadline, if it has one.
        self.timeout: tuple[float, str] | None = (
            (float(timeout[0]), str(timeout[1])) if timeout else None
        )

    # ----- reading state -------------------------------------------------------------

    @property
    def parsed_definition(self) -> WorkflowDefinition:
        parsed: WorkflowDefinition | None = getattr(self, "_parsed", None)
        if parsed is None:
            parsed = WorkflowDefinition.model_validate(self.definition)
            self._parsed = parsed
        return parsed

    def context(self) -> dict[str, Any]:
        """What expressions see: input, settled blocks' outputs and statuses, the run."""
        return {
            "input": self.input,
            "blocks": {
                bid: {"output": b["output"], "status": b["status"]}
                for bid, b in self.blocks.items()
                if b["status"] != PENDING
            },
            "run": {"id": self.run_id, "workflow": self.workflow, "attempt": self.run_attempt},
        }

    def block_statuses(self) -> dict[str, str]:
        return {bid: b["status"] for bid, b in self.blocks.items()}

    def _is_current(self, block: str, attempt: int, status: str) -> bool:
        state = self.blocks.get(block)
        return state is not None and state["attempt"] == attempt and state["status"] == status

    # ----- events: the only places state changes ---------------------------------------

    @event("BlockScheduled")
    def _schedule_block(
        self,
        block: str,
        attempt: int,
        type: str,
        execution: str,
        queue: str,
        config: dict[str, Any],
        context: dict[str, Any] | None,
        at: datetime,
    ) -> None:
        # `worker` is None until the attempt is started (claimed, or reported unclaimed).
        self.blocks[block].update(
            status=RUNNING_BLOCK, attempt=attempt, timer=None, worker=None, scheduled_at=at
        )

    @event("BlockStarted")
    def _start_block(self, block: str, attempt: int, worker: str, at: datetime) -> None:
        self.blocks[block]["worker"] = worker

    @event("BlockCompleted")
    def _complete_block(
        self, block: str, attempt: int, output: Any, logs: list[str], at: datetime
    ) -> None:
        self.blocks[block].update(status=COMPLETED, output=output, timer=None)
        if block in self.completed_order:
            self.completed_order.remove(block)
        self.completed_order.append(block)

    @event("BlockFailed")
    def _fail_block(
        self,
        block: str,
        attempt: int,
        error_type: str,
        message: str,
        logs: list[str],
        will_retry: bool,
        at: datetime,
    ) -> None:
        self.blocks[block].update(
            status=WAITING_BLOCK if will_retry else FAILED,
            error={"type": error_type, "message": message},
        )

    @event("BlockSkipped")
    def _skip_block(self, block: str, at: datetime) -> None:
        self.blocks[block]["status"] = SKIPPED

    @event("TimerStarted")
    def _start_timer(
        self,
        block: str,
        attempt: int,
        purpose: str,
        timer_id: str,
        fire_at: datetime,
        at: datetime,
    ) -> None:
        self.blocks[block].update(
            status=WAITING_BLOCK, timer={"purpose": purpose, "id": timer_id, "fired": False}
        )

    @event("TimerFired")
    def _fire_timer(self, block: str, attempt: int, purpose: str, at: datetime) -> None:
        timer = self.blocks[block]["timer"] if block in self.blocks else None
        if timer is not None and timer["purpose"] == purpose:
            timer["fired"] = True  # Deadlines keep no state: the attempt or run is checked.

    @event("DeadlineSet")
    def _set_deadline(
        self,
        block: str | None,
        attempt: int,
        purpose: str,
        timer_id: str,
        fire_at: datetime,
        at: datetime,
    ) -> None:
        pass  # Only the relay acts on it: it becomes a message schedule.

    @event("RunStatusChanged")
    def _change_status(self, status: str, reason: str | None, at: datetime) -> None:
        self.status = RunStatus(status)

    @event("RunCompleted")
    def _complete(self, output: Any, at: datetime) -> None:
        self.status = RunStatus.COMPLETED
        self.output = output

    @event("RunFailed")
    def _fail(self, error: dict[str, Any], at: datetime) -> None:
        self.status = RunStatus.FAILED
        self.error = error
        self._cancel_open_blocks()  # Only a run timeout fails a run with blocks open.

    @event("RunCancelled")
    def _cancel(self, reason: str | None, at: datetime) -> None:
        self.status = RunStatus.CANCELLED
        self._cancel_open_blocks()

    @event("RunTerminated")
    def _terminate(self, reason: str | None, at: datetime) -> None:
        self.status = RunStatus.TERMINATED
        self._cancel_open_blocks()

    @event("EventAwaited")
    def _await_event(self, block: str, attempt: int, event_type: str, at: datetime) -> None:
        self.blocks[block].update(status=WAITING_BLOCK, awaiting=event_type, timer=None)

    @event("EventReceived")
    def _receive_event(
        self,
        event_type: str,
        payload: Any,
        block: str | None,
        attempt: int | None,
        from_inbox: bool,
        at: datetime,
    ) -> None:
        if block is None:
            self.inbox.append({"event_type": event_type, "payload": payload})
            return
        self.blocks[block]["awaiting"] = None
        if from_inbox:
            self.inbox.remove(next(e for e in self.inbox if e["event_type"] == event_type))

    @event("RunRetried")
    def _retry(self, reason: str | None, at: datetime) -> None:
        self.status = RunStatus.RUNNING
        self.error = None
        for state in self.blocks.values():
            if state["status"] in (FAILED, SKIPPED, CANCELLED):
                state.update(status=PENDING, output=None, timer=None, error=None, awaiting=None)

    @event("RunRolledBack")
    def _roll_back(self, block: str, attempt: int, reset: list[str], at: datetime) -> None:
        self.status = RunStatus.PAUSED
        self.error = None
        self.output = None
        for bid in reset:
            self.blocks[bid].update(
                status=PENDING, output=None, timer=None, error=None, awaiting=None
            )
        self.completed_order = [b for b in self.completed_order if b not in reset]

    @event("RunRestarted")
    def _restart(self, reason: str | None, run_attempt: int, at: datetime) -> None:
        self.status = RunStatus.RUNNING
        self.error = None
        self.output = None
        self.run_attempt = run_attempt
        self.completed_order = []
        for state in self.blocks.values():
            # Attempt numbers keep counting, so a late report of an old attempt stays stale.
            state.update(status=PENDING, output=None, timer=None, error=None, awaiting=None)

    def _cancel_open_blocks(self) -> None:
        for state in self.blocks.values():
            if state["status"] not in TERMINAL_BLOCK_STATUSES:
                state["status"] = CANCELLED
