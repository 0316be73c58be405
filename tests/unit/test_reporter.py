"""The worker's reporter: a result alone when nothing is in flight; the results that came
due meanwhile together, in one `run.report_blocks`; each answered with its own item."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contracts.commands import (
    COMMANDS,
    Command,
    CompleteBlock,
    FailBlock,
    ReportBlocks,
    StartBlock,
    StartBlocks,
)
from contracts.errors import ErrorBody, ErrorType
from contracts.replies import Accepted, Reply
from services.worker.reporter import Reporter

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Refused(Exception):
    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.error.message)
        self.body = body


class CommandService:
    """Answers each command once the test lets it; records what it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Command]] = []
        self.gate = asyncio.Event()
        self.fail_with: Exception | None = None
        self.knows_report_blocks = True

    async def send(self, tenant: str, aggregate: str, name: str, body: bytes) -> Reply:
        # Parsed as the command service parses it: the body must be the command named.
        command = COMMANDS[(aggregate, name)].model_validate_json(body)
        self.sent.append((tenant, command))
        await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        if isinstance(command, ReportBlocks):
            if not self.knows_report_blocks:
                return ErrorBody.of(ErrorType.NOT_FOUND, "no such command subject")
            items = [self._answer(report) for report in command.reports]
            return Accepted(result={"items": [self._item(a) for a in items]})
        if isinstance(command, StartBlocks):
            items = [self._answer(claim) for claim in command.claims]
            return Accepted(result={"items": [self._item(a) for a in items]})
        answer = self._answer(command)
        return answer if isinstance(answer, ErrorBody) else Accepted(result=answer)

    @staticmethod
    def _answer(report: Command) -> dict[str, Any] | ErrorBody:
        assert isinstance(report, StartBlock | CompleteBlock | FailBlock)
        if report.run_id == "gone":
            return ErrorBody.of(ErrorType.RUN_NOT_FOUND, "no run 'gone'")
        if isinstance(report, StartBlock):
            return {"claimed": report.attempt == 1}
        return {"accepted": report.attempt == 1}

    @staticmethod
    def _item(answer: dict[str, Any] | ErrorBody) -> dict[str, Any]:
        return answer.model_dump(mode="json") if isinstance(answer, ErrorBody) else answer


def done(run_id: str, attempt: int = 1) -> CompleteBlock:
    return CompleteBlock(run_id=run_id, block="b", attempt=attempt, output=run_id)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_result_goes_alone_and_those_due_meanwhile_go_together() -> None:
    service = CommandService()
    reporter = Reporter(service.send, Refused, max_bytes=1 << 20)
    first = asyncio.create_task(reporter.report("t1", done("r1")))
    await settle()
    later = [asyncio.create_task(reporter.report("t1", done(f"r{i}"))) for i in (2, 3, 4)]
    failed = asyncio.create_task(
        reporter.report("t1", FailBlock(run_id="r5", block="b", attempt=2, message="x"))
    )
    await settle()
    assert [command for _, command in service.sent] == [done("r1")]  # The rest wait.

    service.gate.set()
    assert await first == {"accepted": True}
    assert [await task for task in later] == [{"accepted": True}] * 3
    assert await failed == {"accepted": False}
    assert len(service.sent) == 2
    tenant, batch = service.sent[1]
    assert tenant == "t1" and isinstance(batch, ReportBlocks)
    assert [report.run_id for report in batch.reports] == ["r2", "r3", "r4", "r5"]


async def test_a_refused_report_raises_for_its_own_reporter_only() -> None:
    service = CommandService()
    reporter = Reporter(service.send, Refused, max_bytes=1 << 20)
    blocker = asyncio.create_task(reporter.report("t1", done("r0")))
    await settle()
    good = asyncio.create_task(reporter.report("t1", done("r1")))
    gone = asyncio.create_task(reporter.report("t1", done("gone")))
    service.gate.set()
    await blocker
    assert await good == {"accepted": True}
    with pytest.raises(Refused) as refused:
        await gone
    assert refused.value.body.error.type is ErrorType.RUN_NOT_FOUND


async def test_a_refused_one_alone_raises_too() -> None:
    service = CommandService()
    service.gate.set()
    reporter = Reporter(service.send, Refused, max_bytes=1 << 20)
    with pytest.raises(Refused) as refused:
        await reporter.report("t1", done("gone"))
    assert refused.value.body.error.type is ErrorType.RUN_NOT_FOUND


async def test_a_batch_refused_whole_is_sent_again_one_result_at_a_time() -> None:
    # A command service older than run.report_blocks (a rolling upgrade) has no such command.
    service = CommandService()
    service.knows_report_blocks = False
    reporter = Reporter(service.send, Refused, max_bytes=1 << 20)
    tasks = [asyncio.create_task(reporter.report("t1", done(f"r{i}"))) for i in range(3)]
    tasks.append(asyncio.create_task(reporter.report("t1", done("gone"))))
    service.gate.set()
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    assert answers[:3] == [{"accepted": True}] * 3
    assert isinstance(answers[3], Refused)
    assert [type(command).__name__ for _, command in service.sent] == ["ReportBlocks"] + [
        "CompleteBlock"
    ] * 4


async def test_a_request_that_fails_whole_raises_for_every_report_in_it() -> None:
    service = CommandService()
    service.fail_with = TimeoutError()
    reporter = Reporter(service.send, Refused, max_bytes=1 << 20)
    tasks = [asyncio.create_task(reporter.report("t1", done(f"r{i}"))) for i in range(3)]
    service.gate.set()
    for task in tasks:
        with pytest.raises(TimeoutError):
            await task
    # Nothing is left behind: the next result goes out as before.
    service.fail_with = None
    assert await reporter.report("t1", done("r9")) == {"accepted": True}


async def test_tenants_are_reported_apart_and_a_batch_holds_at_most_max_batch() -> None:
    service = CommandService()
    reporter = Reporter(service.send, Refused, max_bytes=1 << 20, max_batch=2)
    tasks = [
        asyncio.create_task(reporter.report(tenant, done(f"{tenant}-{i}")))
        for i in range(5)
        for tenant in ("t1", "t2")
    ]
    service.gate.set()
    await asyncio.gather(*tasks)
    sizes: dict[str, list[int]] = {}
    for tenant, command in service.sent:
        size = len(command.reports) if isinstance(command, ReportBlocks) else 1
        sizes.setdefault(tenant, []).append(size)
        reports = command.reports if isinstance(command, ReportBlocks) else [command]
        assert all(r.run_id.startswith(tenant) for r in reports)  # type: ignore[attr-defined]
    # All ten came due before the first request went out.
    assert sizes == {"t1": [2, 2, 1], "t2": [2, 2, 1]}


async def test_a_batch_stays_within_the_body_limit_and_a_result_too_large_goes_alone() -> None:
    service = CommandService()
    size = len(done("r0").model_dump_json())
    # Room for two results of this size in one batch, not three.
    reporter = Reporter(service.send, Refused, max_bytes=2 * size + 20)
    huge = CompleteBlock(run_id="big", block="b", attempt=1, output="x" * (3 * size))
    results = [done("r0"), done("r1"), huge, done("r2"), done("r3"), done("r4")]
    tasks = [asyncio.create_task(reporter.report("t1", result)) for result in results]
    service.gate.set()
    await asyncio.gather(*tasks)
    sent = [
        [r.run_id for r in command.reports]
        if isinstance(command, ReportBlocks)
        else [command.run_id]  # type: ignore[attr-defined]
        for _, command in service.sent
    ]
    assert sent == [["r0", "r1"], ["big"], ["r2", "r3"], ["r4"]]


async def test_claims_due_together_go_together_apart_from_results() -> None:
    service = CommandService()
    reporter = Reporter(service.send, Refused, max_bytes=1 << 20)

    def claim(run_id: str, attempt: int = 1) -> StartBlock:
        return StartBlock(run_id=run_id, block="b", attempt=attempt, worker="w1")

    tasks = [
        asyncio.create_task(reporter.report("t1", command))
        for command in (claim("r1"), done("r2"), claim("r3", attempt=2), done("r4"), claim("r5"))
    ]
    service.gate.set()
    answers = await asyncio.gather(*tasks)
    assert answers == [
        {"claimed": True},
        {"accepted": True},
        {"claimed": False},
        {"accepted": True},
        {"claimed": True},
    ]
    batches = {type(command).__name__: command for _, command in service.sent}
    assert set(batches) == {"StartBlocks", "ReportBlocks"}
    assert [c.run_id for c in batches["StartBlocks"].claims] == ["r1", "r3", "r5"]  # type: ignore[attr-defined]
    assert [r.run_id for r in batches["ReportBlocks"].reports] == ["r2", "r4"]  # type: ignore[attr-defined]
