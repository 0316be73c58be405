"""NATS plumbing every process shares: connecting, the JetStream topology, leases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from contracts import subjects
from services.tasks import stop_tasks

log = logging.getLogger(__name__)

STREAMS = (
    StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.event_wildcard()],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        duplicate_window=120,
    ),
    StreamConfig(
        name=subjects.TASKS_STREAM,
        subjects=[f"{subjects.TASK_ROOT}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=120,
    ),
    StreamConfig(
        name=subjects.TIMERS_STREAM,
        subjects=["fl.timer.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        allow_msg_schedules=True,
        duplicate_window=120,
    ),
)


async def connect(url: str, name: str) -> Client:
    """Connect, retrying forever: NATS may start after us or restart under us."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        allow_reconnect=True,
    )


async def ensure_streams(js: JetStreamContext) -> None:
    for config in STREAMS:
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with another config (an older version): bring it up to date.
            await js.update_stream(config)


async def leases(js: JetStreamContext, ttl_seconds: float) -> KeyValue:
    try:
        return await js.key_value(subjects.LEASES_BUCKET)
    except NotFoundError:
        return await js.create_key_value(bucket=subjects.LEASES_BUCKET, ttl=ttl_seconds)


class Lease:
    """At most one holder of `key` at a time; held while renewed within the bucket's TTL."""

    def __init__(self, kv: KeyValue, key: str, owner: str, ttl_seconds: float) -> None:
        self.kv = kv
        self.key = key
        self.owner = owner.encode()
        self.ttl = ttl_seconds
        self.revision: int | None = None

    async def acquire(self) -> bool:
        try:
            self.revision = await self.kv.create(self.key, self.owner)
            return True
        except KeyWrongLastSequenceError:
            entry = await self.kv.get(self.key)
            if entry.value == self.owner:  # Our own lease from before a reconnect.
                self.revision = entry.revision
                return await self.renew()
            return False

    async def renew(self) -> bool:
        try:
            assert self.revision is not None
            self.revision = await self.kv.update(self.key, self.owner, last=self.revision)
            return True
        except Exception:
            self.revision = None
            return False

    async def release(self) -> None:
        if self.revision is not None:
            try:
                await self.kv.delete(self.key, last=self.revision)
            except Exception:
                log.debug("lease %s: release failed", self.key)
            self.revision = None

    async def hold(self, work: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
        """Run `work` while holding the lease; cancel it the moment the lease is lost."""
        while not stop.is_set():
            try:
                acquired = await self.acquire()
            except Exception:  # NATS unreachable: try again, never give up the loop.
                log.warning("lease %s: cannot reach the KV bucket; retrying", self.key)
                acquired = False
            if not acquired:
                await _wait(stop, self.ttl / 3)
                continue
            log.info("lease %s acquired", self.key)
            task = asyncio.create_task(work())
            try:
                while not stop.is_set() and not task.done():
                    await _wait(stop, self.ttl / 3)
                    if not await self.renew():
                        log.warning("lease %s lost", self.key)
                        break
            finally:
                await stop_tasks(task)
                failed = not task.cancelled() and task.exception()
                if failed:
                    log.error("lease %s work failed", self.key, exc_info=task.exception())
            await self.release()
            if failed:  # Do not spin while a dependency is down.
                await _wait(stop, 1.0)


def core_connection(js: JetStreamContext) -> Client:
    """The core NATS connection under a JetStream context (nats-py keeps it here in all
    versions; it has no public accessor)."""
    nc: Client = js._nc
    return nc


class ConsumerGone(Exception):
    """The server refused the consumer's requests (a 409: deleted, its leader moved, shut
    down, a batch over its max_ack_pending): the consumer loop starts again, after a pause
    (`retrying`), rather than asking again at once."""


class PullConsumer:
    """A durable pull consumer, read through one callback subscription.

    nats-py's `fetch` waits for each message with a timer and a task of its own, which
    cost more than handling the message. Here messages land in a list as they arrive, and
    a fetch waits once: for the first of them, or for the request to end. A request asks
    for `batch` messages and stays open until they came or it expired; the next is sent
    only then, so no more than one batch is ever delivered and not yet taken."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        subject: str,
        durable: str,
        stream: str,
        config: ConsumerConfig,
    ) -> None:
        self.js = js
        self.nc = core_connection(js)
        self.subject = subject
        self.durable = durable
        self.stream = stream
        self.config = config
        self._ready: list[Msg] = []
        self._outstanding = 0
        self._arrived = asyncio.Event()
        self._gone: str | None = None
        self._inbox = ""
        self._sub: Subscription | None = None

    async def start(self) -> PullConsumer:
        try:
            await self.js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            config = self.config.evolve(durable_name=self.durable, filter_subject=self.subject)
            await self.js.add_consumer(self.stream, config=config)
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox, cb=self._arrive)
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def fetch(
        self, batch: int, wait_seconds: float = 1.0, gather_seconds: float = 0.0
    ) -> list[Msg]:
        """Up to `batch` messages: those already here, or the first to come within
        `wait_seconds` (none if nothing came). With `gather_seconds`, a batch not yet
        full waits that long once for more (fewer, larger batches for a little latency)."""
        if not self._ready:
            if self._outstanding == 0:
                self._outstanding = batch
                request = {"batch": batch, "expires": int(wait_seconds * 1e9)}
                await self.nc.publish(
                    subjects.pull_request_subject(self.stream, self.durable),
                    json.dumps(request).encode(),
                    reply=self._inbox,
                )
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), wait_seconds + 1.0)
            except TimeoutError:
                self._outstanding = 0  # Its end never came (a reconnect lost it): ask again.
        if gather_seconds and 0 < len(self._ready) < batch and self._outstanding:
            await asyncio.sleep(gather_seconds)
        if self._gone is not None:
            raise ConsumerGone(f"consumer {self.durable}: {self._gone}")
        taken = self._ready[:batch]
        del self._ready[:batch]
        return taken

    async def _arrive(self, msg: Msg) -> None:
        if msg.reply:  # A message of the stream: its reply subject acknowledges it.
            self._ready.append(msg)
            self._outstanding = max(0, self._outstanding - 1)
        else:  # A status: the request ended (408 expired) or cannot go on (409).
            status = (msg.headers or {}).get("Status", "")
            if status == "100":  # A heartbeat: none are asked for.
                return
            self._outstanding = 0
            if status == "409":
                self._gone = (msg.headers or {}).get("Description", "conflict")
        self._arrived.set()


async def consume(
    js: JetStreamContext,
    *,
    subject: str,
    durable: str,
    stream: str,
    ack_wait: float,
    batch: int,
    handle: Callable[[Msg], Awaitable[None]],
) -> None:
    """A durable pull consumer's loop: fetch a batch, handle its messages concurrently.

    Each handler acknowledges its own message (explicit acks); one left unacknowledged
    comes back after `ack_wait`.
    """
    consumer = await PullConsumer(
        js,
        subject=subject,
        durable=durable,
        stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait, max_deliver=-1),
    ).start()
    try:
        while True:
            messages = await consumer.fetch(batch)
            await asyncio.gather(*(handle(m) for m in messages))
    finally:
        await consumer.stop()


async def retrying(name: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run a consumer loop forever: a lost connection or a bad moment restarts it."""
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s stopped; restarting in 1 s", name)
            await asyncio.sleep(1)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class PublishError(Exception):
    """JetStream refused a message, or its acknowledgement did not come in time."""


class BatchPublisher:
    """Publishes a batch of messages to JetStream and makes sure the stream stored each.

    The same guarantee as `js.publish_async` per message (each is stored by the stream, or
    the batch fails), for a fraction of its CPU, the client's and the server's:

    - On a stream this publisher is the only one to write (`sole`: subject root → stream),
      once it knows the stream's last sequence, only the batch's last message for that
      stream asks for an acknowledgement. One connection's messages are stored in the
      order sent, so an ack whose sequence is the last known plus the count sent, and no
      duplicate, says every one of them was stored, each as a new message. Anything else
      (a duplicate, a refusal, another writer) sends that stream's messages again, each
      acknowledged: their `Nats-Msg-Id`s make it idempotent. A refusal, a message that
      only the second send stored after later ones, or a reconnect while a counted batch
      is out fails the batch (PublishError), as a missing ack would have.
    - Every other message, and every message until the last sequence is known (the first
      batch, after a reconnect or a repeat), is acknowledged on its own. The acks, all on
      one wildcard inbox, are parsed only for what is needed.

    One batch at a time (the relay's loop)."""

    def __init__(
        self,
        js: JetStreamContext,
        timeout: float = 10.0,
        sole: Mapping[str, str] | None = None,
    ) -> None:
        self.nc = core_connection(js)
        self.timeout = timeout
        self._sole = {f"{root}.": stream for root, stream in (sole or {}).items()}
        # The last sequence of each sole stream, and the reconnect it was learned within.
        self._last_seq: dict[str, int] = {}
        self._learned_in = -1
        self._prefix = ""
        self._batch = 0
        self._acks: dict[int, bytes] = {}
        self._expected = 0
        self._all_in: asyncio.Event = asyncio.Event()

    def forget(self) -> None:
        """Another message went to a sole stream (or may have): learn its end again."""
        self._last_seq = {}

    async def publish(self, messages: list[tuple[str, bytes, dict[str, str]]]) -> list[bool]:
        """Publish in order; for each message, whether the stream saw it as a duplicate
        (stored before this batch: not by this call)."""
        if not messages:
            return []
        if self.nc.stats["reconnects"] != self._learned_in:
            # A server that restarted may have lost its tail: what we knew of it is void.
            self._last_seq = {}
            self._learned_in = self.nc.stats["reconnects"]
        counted: dict[str, list[int]] = {}
        acked: list[int] = []
        for index, (subject, _, _) in enumerate(messages):
            stream = self._sole_stream(subject)
            if stream is not None and stream in self._last_seq:
                counted.setdefault(stream, []).append(index)
            else:
                acked.append(index)
        wanted = acked + [indexes[-1] for indexes in counted.values()]
        acks = await self._send(messages, set(wanted))
        if counted and self.nc.stats["reconnects"] != self._learned_in:
            # Part of the batch may have gone down a connection that died: a count over
            # two connections proves nothing, and asking again could store what was lost
            # after what came through. Fail the batch, as a missing ack would.
            self._last_seq = {}
            raise PublishError("reconnected while publishing a counted batch")
        duplicates = [False] * len(messages)
        for index in acked:
            duplicates[index] = self._duplicate(acks[index])
        self._learn(messages, acked, acks)
        for stream, indexes in counted.items():
            before = self._last_seq.pop(stream)
            ack = json.loads(acks[indexes[-1]])
            if (
                "error" not in ack
                and not ack.get("duplicate")
                and ack["seq"] == before + len(indexes)
            ):
                self._last_seq[stream] = ack["seq"]
                continue
            # Not all stored as new: ask again, one ack each.
            repeats = await self._ask_each([messages[i] for i in indexes], before)
            for index, repeat in zip(indexes, repeats, strict=True):
                duplicates[index] = repeat
        return duplicates

    async def _ask_each(
        self, messages: list[tuple[str, bytes, dict[str, str]]], before: int
    ) -> list[bool]:
        """Send a sole stream's messages again, one ack each: which of them the stream
        held before this batch (a sequence up to `before`). Fails on a refusal, and on a
        message stored only now after one the first send stored (out of order)."""
        acks = await self._send(messages, set(range(len(messages))))
        repeats = [False] * len(messages)
        late = stored_first = False
        for index in reversed(range(len(messages))):
            parsed = json.loads(acks[index])
            self._check(parsed)
            repeat = bool(parsed.get("duplicate"))
            repeats[index] = repeat and parsed["seq"] <= before
            stored_first = stored_first or (repeat and parsed["seq"] > before)
            late = late or (not repeat and stored_first)
        if late:
            # The first send lost a message it did not refuse, and kept later ones: stored
            # now, it stands out of order. Fail, as its missing ack would have.
            raise PublishError("a message of a counted batch was stored out of order")
        return repeats

    def _sole_stream(self, subject: str) -> str | None:
        for root, stream in self._sole.items():
            if subject.startswith(root):
                return stream
        return None

    def _learn(
        self,
        messages: list[tuple[str, bytes, dict[str, str]]],
        acked: list[int],
        acks: dict[int, bytes],
    ) -> None:
        """The last sequence of each sole stream, from its messages acked one by one."""
        for index in acked:
            stream = self._sole_stream(messages[index][0])
            if stream is not None:
                parsed = json.loads(acks[index])
                if not parsed.get("duplicate"):
                    self._last_seq[stream] = max(self._last_seq.get(stream, 0), parsed["seq"])

    async def _send(
        self, messages: list[tuple[str, bytes, dict[str, str]]], wanted: set[int]
    ) -> dict[int, bytes]:
        """Send in order, asking an ack of those `wanted`; their acks, by index."""
        if not self._prefix:
            prefix = self.nc.new_inbox()
            await self.nc.subscribe(f"{prefix}.*.*", cb=self._on_ack)
            self._prefix = prefix
        self._batch += 1
        self._acks = {}
        self._expected = len(wanted)
        self._all_in.clear()
        reply = f"{self._prefix}.{self._batch}."
        for index, (subject, payload, headers) in enumerate(messages):
            await self.nc.publish(
                subject,
                payload,
                reply=f"{reply}{index}" if index in wanted else "",
                headers=headers,
            )
        try:
            await asyncio.wait_for(self._all_in.wait(), self.timeout)
        except TimeoutError:
            missing = self._expected - len(self._acks)
            raise PublishError(f"{missing} of {self._expected} publishes unacknowledged") from None
        return self._acks

    async def _on_ack(self, msg: Msg) -> None:
        batch, index = msg.subject.rsplit(".", 2)[1:]
        if int(batch) != self._batch:
            return  # Late, from a batch given up on.
        if msg.headers and msg.headers.get("Status") == "503":
            msg.data = b'{"error":{"description":"no stream for this subject"}}'
        self._acks[int(index)] = msg.data
        if len(self._acks) == self._expected:
            self._all_in.set()

    @staticmethod
    def _check(parsed: dict[str, Any]) -> None:
        if "error" in parsed:
            raise PublishError(f"JetStream refused a message: {parsed['error']}")

    @classmethod
    def _duplicate(cls, ack: bytes) -> bool:
        # The common ack, {"stream":…,"seq":…}, needs no parsing.
        if b'"error"' not in ack and b'"duplicate"' not in ack:
            return False
        parsed = json.loads(ack)
        cls._check(parsed)
        return bool(parsed.get("duplicate"))
