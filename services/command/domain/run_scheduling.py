"""The Run aggregate's decisions of what runs next: scheduling, settling, and the outcome.

Pure, like all of `domain`: the pinned definition and the run's state in, events out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contracts.definitions import Execution, execution_of, needs_context
from contracts.expressions import ExpressionError, resolve
from contracts.subjects import timer_id
from services.command.domain.outcome import Finished, run_outcome
from services.command.domain.routing import vetoes
from services.command.domain.run_state import (
    BLOCK_TIMEOUT,
    EVENT_TIMEOUT,
    RETRY,
    SLEEP,
    WAITING_BLOCK,
    RunState,
)
from services.command.domain.scheduling import (
    Node,
    next_steps,
)
from services.command.domain.settling import (
    AwaitEvent,
    Complete,
    Fail,
    Outcome,
    Wait,
    receive,
    settle,
    task_config,
)
from services.command.domain.status import RunStatus


class RunScheduling(RunState):
    """Decides which blocks start, settles the ones the command side runs, ends the run."""

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
            if spec.timeout is not None:
                # The attempt fails if no result came in time; a late result is then stale.
                self._set_deadline(
                    block=block_id,
                    attempt=attempt,
                    purpose=BLOCK_TIMEOUT,
                    timer_id=timer_id(self.run_id, block_id, attempt, BLOCK_TIMEOUT),
                    fire_at=now + timedelta(seconds=spec.timeout),
                    at=now,
                )
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
