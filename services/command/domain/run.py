"""The Run aggregate: one execution of a pinned workflow version.

It owns the status machine and decides, from the pinned definition and its own state,
which blocks are ready. Blocks needing no I/O are settled here (`settling`; the routers'
choices in `routing`); sleeps become durable timers; every other block becomes a task for
a worker. Results of an attempt are accepted once: a repeat, a stale attempt or a result
for an ended run changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contracts.definitions import Execution, WorkflowDefinition, execution_of, needs_context
from contracts.errors import ErrorType, FlowledgerError
from contracts.expressions import ExpressionError, resolve
from contracts.subjects import timer_id
from services.command.domain.outcome import Finished, run_outcome
from services.command.domain.routing import vetoes
from services.command.domain.run_state import (
    RUNNING_BLOCK,
    WAITING_BLOCK,
    RunState,
    run_aggregate_id,
)
from services.command.domain.scheduling import (
    Node,
    next_steps,
)
from services.command.domain.settling import (
    WAIT_TIMEOUT,
    AwaitEvent,
    Complete,
    Fail,
    Outcome,
    Wait,
    check_approval,
    receive,
    settle,
    task_config,
)
from services.command.domain.status import TERMINAL, RunCommand, RunStatus, check_allowed

SLEEP = "sleep"
RETRY = "retry"
EVENT_TIMEOUT = "event_timeout"


class Run(RunState):
    """One run: the commands it accepts and the decisions of what runs next."""

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
    ) -> Run:
        run = cls(
            tenant=tenant,
            run_id=run_id,
            workflow=workflow,
            version=version,
            definition=definition.model_dump(mode="json", exclude_none=True),
            input=input,
            metadata=metadata,
            status=RunStatus.RUNNING.value,
            at=now,
        )
        run._parsed = definition
        run.advance(now)
        return run

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
        self.advance(now)

    def restart(self, reason: str | None, now: datetime) -> None:
        check_allowed(self.status, RunCommand.RESTART)
        self._restart(reason=reason, run_attempt=self.run_attempt + 1, at=now)
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
        self, block: str, attempt: int, output: Any, logs: list[str], now: datetime
    ) -> bool:
        if self.status in TERMINAL or not self._is_current(block, attempt, RUNNING_BLOCK):
            return False
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
    ) -> bool:
        if self.status in TERMINAL or not self._is_current(block, attempt, RUNNING_BLOCK):
            return False
        self._settle_failure(block, attempt, error_type, message, retryable, logs, now)
        self.advance(now)
        return True

    def fire_timer(self, block: str, attempt: int, purpose: str, now: datetime) -> bool:
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

    def _deliver(
        self, block: str, event_type: str, payload: Any, from_inbox: bool, now: datetime
    ) -> None:
        attempt = self.blocks[block]["attempt"]
        self._receive_event(
            event_type=event_type,
            payload=payload,
            block=block,
            attempt=attempt,
            from_inbox=from_inbox,
            at=now,
        )
        spec = self.parsed_definition.block(block)
        outcome = receive(spec.type, spec.config.model_dump(mode="json"), payload)
        self._record(block, attempt, outcome, now)

    # ----- deciding what runs next ---------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Schedule every ready block, skip the unreachable, and settle the run's status."""
        if self.status not in (RunStatus.RUNNING, RunStatus.WAITING):
            return
        definition = self.parsed_definition
        nodes = [Node(b.id, tuple(b.needs), b.trigger) for b in definition.blocks]
        while True:
            # Retries whose backoff timer has fired are due first.
            due = [
                bid
                for bid, b in self.blocks.items()
                if b["status"] == WAITING_BLOCK
                and b["timer"]
                and b["timer"].get("fired")
                and b["timer"]["purpose"] == RETRY
            ]
            for bid in due:
                self._schedule(bid, self.blocks[bid]["attempt"] + 1, now)
            # Routers settled in an earlier pass of this loop veto their unchosen successors.
            vetoed = vetoes(definition, self.blocks)
            steps = next_steps(nodes, self.block_statuses(), vetoed)
            for bid in steps.skip:
                self._skip_block(block=bid, at=now)
            for bid in steps.ready:
                # Attempts keep counting across retries and restarts.
                self._schedule(bid, self.blocks[bid]["attempt"] + 1, now)
            if not (due or steps.skip or steps.ready):
                break
        self._settle_status(now)

    def _schedule(self, block_id: str, attempt: int, now: datetime) -> None:
        spec = self.parsed_definition.block(block_id)
        execution = execution_of(spec.type)
        context = self.context()
        try:
            config = resolve(spec.config.model_dump(mode="json"), context)
        except ExpressionError as exc:
            self._schedule_block(
                block=block_id,
                attempt=attempt,
                type=spec.type,
                execution=execution.value,
                queue=spec.queue,
                config={},
                context=None,
                at=now,
            )
            self._settle_failure(block_id, attempt, "EXPRESSION_ERROR", str(exc), False, [], now)
            return
        if execution is Execution.TASK:
            config = task_config(spec, config)
        self._schedule_block(
            block=block_id,
            attempt=attempt,
            type=spec.type,
            execution=execution.value,
            queue=spec.queue,
            config=config,
            context=context if needs_context(spec.type) else None,
            at=now,
        )
        if execution is Execution.TASK:
            return
        # Inline and timer blocks: the outcome (a router's choice too) is decided here, once,
        # and recorded; replaying the events never evaluates it again.
        outcome = settle(spec.type, config, context, now)
        if isinstance(outcome, AwaitEvent):
            self._await(block_id, attempt, outcome, now)
        else:
            self._record(block_id, attempt, outcome, now)

    def _record(self, block_id: str, attempt: int, outcome: Outcome, now: datetime) -> None:
        if isinstance(outcome, Complete):
            self._complete_block(
                block=block_id, attempt=attempt, output=outcome.output, logs=[], at=now
            )
        elif isinstance(outcome, Fail):
            self._settle_failure(
                block_id, attempt, outcome.error_type, outcome.message, False, [], now
            )
        elif isinstance(outcome, Wait):
            self._start_timer_for(block_id, attempt, SLEEP, outcome.until, now)

    def _await(self, block_id: str, attempt: int, wait: AwaitEvent, now: datetime) -> None:
        self._await_event(block=block_id, attempt=attempt, event_type=wait.event_type, at=now)
        kept = next((e for e in self.inbox if e["event_type"] == wait.event_type), None)
        if kept is not None:
            self._deliver(block_id, wait.event_type, kept["payload"], True, now)
        elif wait.timeout_at is not None:
            self._start_timer_for(block_id, attempt, EVENT_TIMEOUT, wait.timeout_at, now)

    def _settle_failure(
        self,
        block_id: str,
        attempt: int,
        error_type: str,
        message: str,
        retryable: bool,
        logs: list[str],
        now: datetime,
    ) -> None:
        policy = self.parsed_definition.block(block_id).retry
        will_retry = (
            retryable
            and attempt < policy.max_attempts
            and error_type not in policy.non_retryable_errors
        )
        self._fail_block(
            block=block_id,
            attempt=attempt,
            error_type=error_type,
            message=message,
            logs=logs,
            will_retry=will_retry,
            at=now,
        )
        if will_retry:
            delay = policy.delay_before(attempt + 1)
            self._start_timer_for(block_id, attempt, RETRY, now + timedelta(seconds=delay), now)

    def _start_timer_for(
        self, block_id: str, attempt: int, purpose: str, fire_at: datetime, now: datetime
    ) -> None:
        self._start_timer(
            block=block_id,
            attempt=attempt,
            purpose=purpose,
            timer_id=timer_id(self.run_id, block_id, attempt, purpose),
            fire_at=fire_at,
            at=now,
        )

    def _settle_status(self, now: datetime) -> None:
        outcome = run_outcome(self.parsed_definition, self.blocks, self.context())
        if isinstance(outcome, Finished):
            if outcome.error is not None:
                self._fail(error=outcome.error, at=now)
            else:
                self._complete(output=outcome.output, at=now)
        elif self.status != outcome:
            self._change_status(status=outcome.value, reason=None, at=now)


__all__ = ["Run", "run_aggregate_id"]
