"""Stopping tasks: a cancellation that asyncio.wait_for drops is delivered again.

Each test has a short timeout: a stop that does not stop would otherwise hang the suite
(even `asyncio.timeout` cannot end a wait on a task that drops its cancellations)."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import pytest

from services.tasks import stop_tasks


async def wait_in_a_loop(event: asyncio.Event) -> None:
    """A consumer loop's shape: wait (through wait_for) for the next thing, forever."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), 1.0)
        event.clear()


async def cancelled_as_its_wait_completes() -> tuple[asyncio.Task[None], asyncio.Event]:
    """A task whose wait completed in the moment it was cancelled."""
    event = asyncio.Event()
    task = asyncio.create_task(wait_in_a_loop(event))
    await asyncio.sleep(0.01)
    event.set()
    await asyncio.sleep(0)  # The wait completes; the task has not resumed yet...
    task.cancel()  # ... when the cancellation comes.
    return task, event


@pytest.mark.timeout(20)
def test_a_task_whose_wait_completed_as_it_was_cancelled_is_stopped() -> None:
    async def scenario() -> None:
        if sys.version_info < (3, 12):  # The reason for stop_tasks, as Python 3.11 has it.
            task, _ = await cancelled_as_its_wait_completes()
            done, _ = await asyncio.wait({task}, timeout=0.5)
            assert not done, "the cancellation was dropped: the loop runs on"
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        task, _ = await cancelled_as_its_wait_completes()
        async with asyncio.timeout(5):
            await stop_tasks(task)
        assert task.cancelled()

    asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_every_task_is_stopped_and_a_failure_stays_readable() -> None:
    async def fail() -> None:
        raise ValueError("boom")

    async def scenario() -> None:
        failing = asyncio.create_task(fail())
        waiting = asyncio.create_task(asyncio.Event().wait())
        await asyncio.sleep(0)
        async with asyncio.timeout(5):
            await stop_tasks(failing, waiting)
        assert waiting.cancelled()
        assert isinstance(failing.exception(), ValueError)

    asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_a_task_that_resists_several_cancellations_is_cancelled_until_it_ends() -> None:
    async def resist(times: int) -> None:
        for _ in range(times):
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                continue  # Dropped, as a swallowed cancellation would be.
        await asyncio.Event().wait()

    async def scenario() -> None:
        task = asyncio.create_task(resist(3))
        await asyncio.sleep(0)
        async with asyncio.timeout(5):
            await stop_tasks(task)
        assert task.cancelled()

    asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_a_task_stopping_its_own_while_it_is_stopped_stops_them_first() -> None:
    """A lease holder stops its work in a `finally` while it is stopped itself, and so
    cancelled again and again: its work must still have ended when it does."""

    async def stubborn() -> None:
        for _ in range(5):  # Ends only after five cancellations: ~0.4 s of stopping.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)

    async def scenario() -> None:
        work = asyncio.create_task(stubborn())

        async def holder() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await stop_tasks(work)

        holding = asyncio.create_task(holder())
        await asyncio.sleep(0)
        try:
            async with asyncio.timeout(5):
                await stop_tasks(holding)
            assert work.done(), "the holder ended while its work still ran"
            assert holding.cancelled()
        finally:
            await stop_tasks(work)  # So that a failure here leaves nothing running.

    asyncio.run(scenario())
