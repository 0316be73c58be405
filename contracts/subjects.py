"""Every NATS subject, stream, consumer, bucket and header name Flowledger uses.

No other module writes one of these as a literal: build subjects with the functions here.
"""

from __future__ import annotations

import re
import uuid

# Streams.
EVENTS_STREAM = "FL_EVENTS"
TASKS_STREAM = "FL_TASKS"
TIMERS_STREAM = "FL_TIMERS"

# Subject roots.
COMMAND_ROOT = "fl.cmd"
EVENT_ROOT = "fl.evt"
TASK_ROOT = "fl.task"
TIMER_SCHEDULE_ROOT = "fl.timer.sched"
TIMER_FIRED_ROOT = "fl.timer.fired"

# Queue group shared by command-service replicas.
COMMAND_QUEUE_GROUP = "command"

# Durable consumer names.
TIMERS_DURABLE = "command-timers"
JOBS_DURABLE = "command-jobs"
# Background jobs (e.g. batch terminate) travel as tasks on this queue, served by the
# command service itself; definitions may not name it.
JOBS_QUEUE = "flowledger-jobs"
PROJECTOR_DURABLE = "projector"


def worker_durable(queue: str) -> str:
    """Workers serving one queue share this durable consumer (like a Temporal task queue)."""
    return f"worker-{queue}"


# JetStream's own API (a pull consumer's "next messages" request goes here).
JETSTREAM_API_PREFIX = "$JS.API"


def pull_request_subject(stream: str, durable: str) -> str:
    return f"{JETSTREAM_API_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"


# A delivered message's reply subject, to which its acknowledgement is published.
JETSTREAM_ACK_PREFIX = "$JS.ACK"


def acks_wildcard(stream: str, durable: str) -> str:
    """Every acknowledgement sent for one consumer's messages (to watch them)."""
    return f"{JETSTREAM_ACK_PREFIX}.{stream}.{durable}.>"


# KV bucket that holds the leases (relay, projector).
LEASES_BUCKET = "fl_leases"
RELAY_LEASE_KEY = "relay"
PROJECTOR_LEASE_KEY = "projector"

# Headers.
MSG_ID_HEADER = "Nats-Msg-Id"
SCHEDULE_HEADER = "Nats-Schedule"
SCHEDULE_TARGET_HEADER = "Nats-Schedule-Target"
SCHEDULE_TIME_ZONE_HEADER = "Nats-Schedule-Time-Zone"
# The purpose of a schedule's own timer (its fires start runs).
SCHEDULE_PURPOSE = "schedule"
# A command sent with this header is applied once; repeats get the first answer.
IDEMPOTENCY_HEADER = "Idempotency-Key"

# HTTP headers of the public API.
HTTP_POSITION_HEADER = "X-Flowledger-Position"
HTTP_MIN_POSITION_HEADER = "X-Flowledger-Min-Position"
HTTP_API_KEY_HEADER = "X-API-Key"
# Until API keys carry the tenant, a request names it with this header (default `default`).
HTTP_TENANT_HEADER = "X-Flowledger-Tenant"
HTTP_LAST_EVENT_ID_HEADER = "Last-Event-ID"

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_token(value: str, what: str) -> str:
    """A subject token may not hold dots, spaces or wildcards."""
    if not _TOKEN.match(value):
        raise ValueError(f"{what} {value!r} must be 1-64 characters of [A-Za-z0-9_-]")
    return value


def command_subject(tenant: str, aggregate: str, command: str) -> str:
    return f"{COMMAND_ROOT}.{tenant}.{aggregate}.{command}"


def command_wildcard() -> str:
    return f"{COMMAND_ROOT}.*.*.*"


def parse_command_subject(subject: str) -> tuple[str, str, str]:
    """(tenant, aggregate, command) of a command subject."""
    _, _, tenant, aggregate, command = subject.split(".", 4)
    return tenant, aggregate, command


def event_subject(tenant: str, aggregate: str, event_type: str) -> str:
    return f"{EVENT_ROOT}.{tenant}.{aggregate}.{event_type}"


def event_wildcard() -> str:
    return f"{EVENT_ROOT}.>"


def task_subject(tenant: str, queue: str) -> str:
    return f"{TASK_ROOT}.{tenant}.{queue}"


def task_queue_filter(queue: str) -> str:
    """Workers of a queue serve it for every tenant."""
    return f"{TASK_ROOT}.*.{queue}"


def timer_schedule_subject(tenant: str, timer_id: str) -> str:
    """A schedule's subject is its identity: republishing it replaces the schedule."""
    return f"{TIMER_SCHEDULE_ROOT}.{tenant}.{timer_id}"


def timer_fired_subject(tenant: str) -> str:
    return f"{TIMER_FIRED_ROOT}.{tenant}"


def timer_fired_wildcard() -> str:
    return f"{TIMER_FIRED_ROOT}.>"


_TIMER_NAMESPACE = uuid.UUID("6f1d7c4e-8a51-4c8e-9f5e-2b7d8f1b9a01")


def timer_id(run_id: str, block_id: str, attempt: int, purpose: str) -> str:
    """A subject-safe, deterministic id for one timer of one block attempt."""
    return uuid.uuid5(_TIMER_NAMESPACE, f"{run_id}/{block_id}/{attempt}/{purpose}").hex
