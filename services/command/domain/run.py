"""The Run aggregate: one execution of a pinned workflow version.

It owns the status machine and decides, from the pinned definition and its own state,
which blocks are ready. Blocks needing no I/O are settled here (`settling`; the routers'
choices in `routing`); sleeps become durable timers; every other block becomes a task for
a worker. Results of an attempt are accepted once: a repeat, a stale attempt or a result
for an ended run changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from contracts.definitions import WorkflowDefinition
from contracts.errors import ErrorType, FlowledgerError
from contracts.subjects import timer_id
from services.command.domain.run_scheduling import RunScheduling
from services.command.domain.run_state import (
    BLOCK_TIMEOUT,
    EVENT_TIMEOUT,
    RUN_TIMEOUT,
    RUNNING_BLOCK,
    SLEEP,
    WAITING_BLOCK,
    earlier_run_aggregate_id,
    may_be_stored_earlier,
    run_aggregate_id,
)
from services.command.domain.scheduling import COMPLETED, PENDING, Node, with_needs
from services.command.domain.settling import (
    BLOCK_TIMEOUT_ERROR,
    RUN_TIMEOUT_ERROR,
    WAIT_TIMEOUT,
    check_approval,
)
from services.command.domain.status import TERMINAL, RunCommand, RunStatus, check_allowed
from services.command.domain.workflow import canonical


class Unclaimed(NamedTuple):
    """Who ran an attempt that was not claimed first, and when it began."""

    worker: str
    at: datetime


class Run(RunScheduling):
    """One run: the commands it accepts, and the reports of workers and timers."""

    @classmethod
    def start(
        cls,
        *,
        tenant: str,
        run_id: str,
        workflow: str,
        version: int,
        definition: WorkflowDefinition,
        input: dict[str, Any],
        metadata: dict[str, str],
        now: datetime,
        only: list[str] | None = None,
        timeout: tuple[float, str] | None = None,
        kept: list[tuple[str, Any]] | None = None,
        replay_of: dict[str, Any] | None = None,
        saved: dict[str, Any] | None = None,
    ) -> Run:
        """Start a run; with `only`, just those blocks and what they need run. `saved` is
        the definition as its version was saved (`canonical`), when the caller has it: the
        run records that instead of dumping `definition` again (~12 µs of a start for
        three blocks, more for larger ones)."""
        selected = None
        if only is not None:
            nodes = [Node(b.id, tuple(b.needs), b.trigger) for b in definition.blocks]
            selected = sorted(with_needs(nodes, only))
        run = cls(
            tenant=tenant,
            run_id=run_id,
            workflow=workflow,
            version=version,
            definition=saved or canonical(definition),
            input=input,
            metadata=metadata,
            status=RunStatus.RUNNING.value,
            at=now,
            selected=selected,
            timeout=list(timeout) if timeout else None,
            replay_of=replay_of,
        )
        run._parsed = definition
        run._start_deadline(now)
        run._skip_unselected(now)
        run._keep_outputs(kept or [], now)
        run.advance(now)
        return run

    def _keep_outputs(self, kept: list[tuple[str, Any]], now: datetime) -> None:
        """A replay starts with the outputs of its source's checkpoints, not running them."""
        source = (self.replay_of or {}).get("run_id")
        for block, output in kept:
            spec = self.parsed_definition.block(block)
            self._schedule_block(
                block=block,
                attempt=1,
                type=spec.type,
                execution="inline",
                queue=spec.queue,
                config={},
                context=None,
                at=now,
            )
            note = f"kept from run {source}" if source else "kept"
            self._complete_block(block=block, attempt=1, output=output, logs=[note], at=now)

    def checkpoint_outputs(self, block: str, attempt: int) -> list[tuple[str, Any]]:
        """The checkpoints up to and including this one, with their outputs, in order."""
        self._check_checkpoint(block, attempt)
        upto = self.completed_order[: self.completed_order.index(block) + 1]
        return [(bid, self.blocks[bid]["output"]) for bid in upto]

    def rollback(self, block: str, attempt: int, now: datetime) -> None:
        """Back to a checkpoint: what came after it is pending again; the run is paused."""
        check_allowed(self.status, RunCommand.ROLLBACK)
        self._check_checkpoint(block, attempt)
        later = self.completed_order[self.completed_order.index(block) + 1 :]
        unsettled = [
            bid
            for bid, b in self.blocks.items()
            if b["status"] not in (PENDING, COMPLETED)
            and (self.selected is None or bid in self.selected)
        ]
        self._roll_back(block=block, attempt=attempt, reset=later + unsettled, at=now)

    def _check_checkpoint(self, block: str, attempt: int) -> None:
        state = self.blocks.get(block)
        if state is None or state["status"] != COMPLETED or state["attempt"] != attempt:
            raise FlowledgerError(
                ErrorType.CHECKPOINT_NOT_FOUND,
                f"block {block!r} attempt {attempt} is not a checkpoint of run {self.run_id!r}",
                block=block,
                attempt=attempt,
            )

    def _skip_unselected(self, now: datetime) -> None:
        if self.selected is not None:
            for block in self.blocks:
                if block not in self.selected:
                    self._skip_block(block=block, at=now)

    # ----- user commands ---------------------------------------------------------------

    def cancel(self, reason: str | None, now: datetime) -> None:
        check_allowed(self.status, RunCommand.CANCEL)
        self._cancel(reason=reason, at=now)

    def terminate(self, reason: str | None, now: datetime) -> None:
        check_allowed(self.status, RunCommand.TERMINATE)
        self._terminate(reason=reason, at=now)

    def pause(self, reason: str | None, now: datetime) -> None:
        check_allowed(self.status, RunCommand.PAUSE)
        self._change_status(status=RunStatus.PAUSED.value, reason=reason, at=now)

    def resume(self, reason: str | None, now: datetime) -> None:
        check_allowed(self.status, RunCommand.RESUME)
        self._change_status(status=RunStatus.RUNNING.value, reason=reason, at=now)
        self.advance(now)

    def retry(self, reason: str | None, now: datetime) -> None:
        """Failed and skipped blocks run again; completed blocks (checkpoints) do not."""
        check_allowed(self.status, RunCommand.RETRY)
        self._retry(reason=reason, at=now)
        self._start_deadline(now)
        self._skip_unselected(now)
        self.advance(now)

    def restart(self, reason: str | None, now: datetime) -> None:
        check_allowed(self.status, RunCommand.RESTART)
        self._restart(reason=reason, run_attempt=self.run_attempt + 1, at=now)
        self._start_deadline(now)
        self._skip_unselected(now)
        self.advance(now)

    def send_event(self, event_type: str, payload: Any, now: datetime) -> str | None:
        """Deliver to the first block waiting for it, else keep it; the block it reached."""
        check_allowed(self.status, RunCommand.SEND_EVENT)
        waiting = [
            bid
            for bid, b in self.blocks.items()
            if b["status"] == WAITING_BLOCK and b.get("awaiting") == event_type
        ]
        if not waiting:
            self._receive_event(
                event_type=event_type,
                payload=payload,
                block=None,
                attempt=None,
                from_inbox=False,
                at=now,
            )
            return None
        block = waiting[0]
        spec = self.parsed_definition.block(block)
        if spec.type == "approval":
            problem = check_approval(spec.config.model_dump(mode="json"), payload)
            if problem:
                raise FlowledgerError(ErrorType.VALIDATION_ERROR, problem, block=block)
        self._deliver(block, event_type, payload, False, now)
        self.advance(now)
        return block

    # ----- worker and timer reports ---------------------------------------------------
    # These never raise on a stale report: a redelivered task, a worker racing another,
    # or a result arriving after cancel must change nothing and still be acknowledged.

    def claim_block(self, block: str, attempt: int, worker: str, now: datetime) -> bool:
        """A worker asks to execute an attempt; False means: stale, do not execute."""
        if self.status in TERMINAL or not self._is_current(block, attempt, RUNNING_BLOCK):
            return False
        self._start_block(block=block, attempt=attempt, worker=worker, at=now)
        return True

    def complete_block(
        self,
        block: str,
        attempt: int,
        output: Any,
        logs: list[str],
        now: datetime,
        unclaimed: Unclaimed | None = None,
    ) -> bool:
        if self.status in TERMINAL or not self._is_current(block, attempt, RUNNING_BLOCK):
            return False
        self._start_unclaimed(block, attempt, unclaimed, now)
        self._complete_block(block=block, attempt=attempt, output=output, logs=logs, at=now)
        self.advance(now)
        return True

    def fail_block(
        self,
        block: str,
        attempt: int,
        error_type: str,
        message: str,
        retryable: bool,
        logs: list[str],
        now: datetime,
        unclaimed: Unclaimed | None = None,
    ) -> bool:
        if self.status in TERMINAL or not self._is_current(block, attempt, RUNNING_BLOCK):
            return False
        self._start_unclaimed(block, attempt, unclaimed, now)
        self._settle_failure(block, attempt, error_type, message, retryable, logs, now)
        self.advance(now)
        return True

    def _start_unclaimed(
        self, block: str, attempt: int, unclaimed: Unclaimed | None, now: datetime
    ) -> None:
        """A pure block's result comes without a claim: its start is recorded first (the
        log and timings read the same as for a claimed attempt)."""
        state = self.blocks[block]
        if unclaimed is None or state.get("worker") is not None:
            return
        # The worker's clock is not ours: its start is kept between scheduling and now.
        at = min(max(unclaimed.at, state.get("scheduled_at") or unclaimed.at), now)
        self._start_block(block=block, attempt=attempt, worker=unclaimed.worker, at=at)

    def fire_timer(self, block: str, attempt: int, purpose: str, now: datetime) -> bool:
        if purpose == RUN_TIMEOUT:
            return self._time_out(attempt, now)
        if purpose == BLOCK_TIMEOUT:
            if self.status in TERMINAL or not self._is_current(block, attempt, RUNNING_BLOCK):
                return False  # The attempt ended in time.
            self._fire_timer(block=block, attempt=attempt, purpose=purpose, at=now)
            message = f"no result within {self.parsed_definition.block(block).timeout} s"
            self._settle_failure(block, attempt, BLOCK_TIMEOUT_ERROR, message, True, [], now)
            self.advance(now)
            return True
        if self.status in TERMINAL or not self._is_current(block, attempt, WAITING_BLOCK):
            return False
        timer = self.blocks[block]["timer"]
        if timer is None or timer["purpose"] != purpose:
            return False
        self._fire_timer(block=block, attempt=attempt, purpose=purpose, at=now)
        if purpose == SLEEP:
            self._complete_block(block=block, attempt=attempt, output=None, logs=[], at=now)
        elif purpose == EVENT_TIMEOUT:
            message = f"no {self.blocks[block]['awaiting']!r} event came in time"
            self._settle_failure(block, attempt, WAIT_TIMEOUT, message, True, [], now)
        self.advance(now)
        return True

    def _time_out(self, run_attempt: int, now: datetime) -> bool:
        """The run's own deadline: end it as its `timeout_policy` says."""
        if self.status in TERMINAL or run_attempt != self.run_attempt or not self.timeout:
            return False
        self._fire_timer(block="", attempt=run_attempt, purpose=RUN_TIMEOUT, at=now)
        seconds, policy = self.timeout
        reason = f"the run did not end within {seconds:g} s"
        if policy == "cancel":
            self._cancel(reason=reason, at=now)
        elif policy == "terminate":
            self._terminate(reason=reason, at=now)
        else:
            self._fail(error={"type": RUN_TIMEOUT_ERROR, "message": reason, "block": None}, at=now)
        return True

    def _start_deadline(self, now: datetime) -> None:
        """Arm the run's timeout, if it has one (again on every retry and restart)."""
        if self.timeout:
            self._set_deadline(
                block=None,
                attempt=self.run_attempt,
                purpose=RUN_TIMEOUT,
                timer_id=timer_id(self.run_id, "", self.run_attempt, RUN_TIMEOUT),
                fire_at=now + timedelta(seconds=self.timeout[0]),
                at=now,
            )


__all__ = ["Run", "earlier_run_aggregate_id", "may_be_stored_earlier", "run_aggregate_id"]
