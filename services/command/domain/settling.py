"""How the command side settles the blocks it runs itself (inline and timer types).

Pure: a block's resolved config, the run's context and the present moment in, an outcome
out. The Run aggregate records the outcome as events; nothing here has side effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from contracts.blocks.timing import ApprovalConfig, SleepUntilConfig, WaitForEventConfig
from contracts.definitions import Block, FailConfig, SleepConfig
from contracts.expressions import ExpressionError
from services.command.domain.routing import ROUTERS, route

EXPRESSION_ERROR = "EXPRESSION_ERROR"
INVALID_CONFIG = "INVALID_CONFIG"


@dataclass(frozen=True)
class Complete:
    """The block completes now with `output`."""

    output: Any = None


@dataclass(frozen=True)
class Fail:
    """The block fails now; never retried, as its config would not change."""

    error_type: str
    message: str


@dataclass(frozen=True)
class Wait:
    """The block waits on a durable timer until `until`."""

    until: datetime


@dataclass(frozen=True)
class AwaitEvent:
    """The block waits for an event of `event_type` sent to the run, until `timeout_at`."""

    event_type: str
    timeout_at: datetime | None


Outcome = Complete | Fail | Wait | AwaitEvent

APPROVAL_REJECTED = "APPROVAL_REJECTED"
WAIT_TIMEOUT = "WAIT_TIMEOUT"
BLOCK_TIMEOUT_ERROR = "BLOCK_TIMEOUT"
RUN_TIMEOUT_ERROR = "RUN_TIMEOUT"


def settle(
    block_type: str, config: dict[str, Any], context: dict[str, Any], now: datetime
) -> Outcome:
    """The outcome of an inline or timer block, from its config resolved over `context`."""
    if block_type == "fail":
        fail = FailConfig.model_validate(config)
        return Fail(fail.error_type, fail.message)
    if block_type in ROUTERS:
        try:
            return Complete(route(block_type, config, context))
        except ExpressionError as exc:
            return Fail(EXPRESSION_ERROR, str(exc))
    if block_type == "sleep":
        return Wait(now + timedelta(seconds=SleepConfig.model_validate(config).seconds))
    if block_type == "sleep_until":
        return _sleep_until(config, now)
    if block_type in ("wait_for_event", "approval"):
        waits = WaitForEventConfig if block_type == "wait_for_event" else ApprovalConfig
        wait = waits.model_validate(config)
        event_type = getattr(wait, "event_type", ApprovalConfig.EVENT_TYPE)
        seconds = wait.timeout_seconds
        return AwaitEvent(event_type, now + timedelta(seconds=seconds) if seconds else None)
    # noop, parallel: nothing to do but complete.
    return Complete()


def _sleep_until(config: dict[str, Any], now: datetime) -> Outcome:
    # `until` may have come from a `${…}`, so it is checked again once resolved.
    try:
        until = datetime.fromisoformat(SleepUntilConfig.model_validate(config).until)
    except (ValidationError, ValueError, TypeError):
        return Fail(INVALID_CONFIG, f"until: {config.get('until')!r} is not an RFC 3339 time")
    # A moment already past fires at once: no timer round trip.
    return Wait(until) if until > now else Complete()


def task_config(block: Block, config: dict[str, Any]) -> dict[str, Any]:
    """A task's config as the worker gets it: defaults that need the graph filled in.

    A data block without `rows` reads the output of its only need (contracts/blocks/data.py);
    only the definition knows that need, so its expression is written in here. With no or
    several needs, `rows` stays null and the worker fails the block with INVALID_CONFIG.
    """
    reads_rows = "rows" in type(block.config).EXPRESSION_FIELDS
    if reads_rows and config.get("rows") is None and len(block.needs) == 1:
        return {**config, "rows": f'blocks."{block.needs[0]}".output'}
    return config


def receive(block_type: str, config: dict[str, Any], payload: Any) -> Complete | Fail:
    """What an event delivered to a waiting block does to it."""
    if block_type != "approval":
        return Complete(payload)
    decision = payload if isinstance(payload, dict) else {}
    if decision.get("approved") is True:
        return Complete(decision)
    reason = decision.get("comment") or "rejected"
    return Fail(APPROVAL_REJECTED, f"rejected by {decision.get('by') or 'someone'}: {reason}")


def check_approval(config: dict[str, Any], payload: Any) -> str | None:
    """Why an approval event is not acceptable, or None."""
    if not isinstance(payload, dict) or not isinstance(payload.get("approved"), bool):
        return 'an approval is {"approved": true|false, "by": ..., "comment": ...}'
    approvers = ApprovalConfig.model_validate(config).approvers
    if approvers and payload.get("by") not in approvers:
        return f"{payload.get('by')!r} is not one of the approvers"
    return None
