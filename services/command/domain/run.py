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
from contracts.expressions import ExpressionError, resolve
from contracts.subjects import timer_id
from services.command.domain.routing import vetoes
from services.command.domain.run_state import (
    RUNNING_BLOCK,
    WAITING_BLOCK,
    RunState,
    run_aggregate_id,
)
from services.command.domain.scheduling import (
    COMPLETED,
    FAILED,
    TERMINAL_BLOCK_STATUSES,
    Node,
    next_steps,
)
from services.command.domain.settling import Complete, Fail, settle, task_config
from services.command.domain.status import TERMINAL, RunCommand, RunStatus, check_allowed

SLEEP = "sleep"
RETRY = "retry"


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
        self.advance(now)
        return True

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
                self._schedule(bid, 1, now)
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
        if isinstance(outcome, Complete):
            self._complete_block(
                block=block_id, attempt=attempt, output=outcome.output, logs=[], at=now
            )
        elif isinstance(outcome, Fail):
            self._settle_failure(
                block_id, attempt, outcome.error_type, outcome.message, False, [], now
            )
        else:
            self._start_timer_for(block_id, attempt, SLEEP, outcome.until, now)

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
        statuses = self.block_statuses()
        if all(s in TERMINAL_BLOCK_STATUSES for s in statuses.values()):
            failed = [bid for bid, s in statuses.items() if s == FAILED]
            if failed:
                state = self.blocks[failed[0]]
                self._fail(
                    error={
                        "type": state["error"]["type"],
                        "message": state["error"]["message"],
                        "block": failed[0],
                    },
                    at=now,
                )
            else:
                self._complete(output=self._run_output(), at=now)
            return
        running = any(s == RUNNING_BLOCK for s in statuses.values())
        wanted = RunStatus.RUNNING if running else RunStatus.WAITING
        if self.status != wanted:
            self._change_status(status=wanted.value, reason=None, at=now)

    def _run_output(self) -> Any:
        definition = self.parsed_definition
        if definition.output is not None:
            try:
                return resolve(definition.output, self.context())
            except ExpressionError as exc:
                return {"error": str(exc)}
        needed = {n for b in definition.blocks for n in b.needs}
        return {
            b.id: self.blocks[b.id]["output"]
            for b in definition.blocks
            if b.id not in needed and self.blocks[b.id]["status"] == COMPLETED
        }


__all__ = ["Run", "run_aggregate_id"]
