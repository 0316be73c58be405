"""Schedules end to end: NATS message schedules start runs; overlap, enable/disable, trigger."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.stack import Stack, wait_until

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def runs_of(stack: Stack, schedule_id: str) -> list[dict[str, object]]:
    page = stack.http.get(
        "/v1/runs", params={"metadata.schedule": schedule_id, "limit": 1000}
    ).json()
    return page["items"]  # type: ignore[no-any-return]


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["type"]


def test_an_interval_schedule_starts_runs_until_disabled(stack: Stack) -> None:
    name = unique("scheduled")
    stack.put_workflow(
        name, {"blocks": [{"id": "only", "type": "set", "config": {"values": {"x": "${input.x}"}}}]}
    )
    created = stack.http.post(
        "/v1/schedules",
        json={"workflow": name, "interval_seconds": 1, "input": {"x": 7}, "overlap": "allow"},
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    wait_until(lambda: len(runs_of(stack, schedule_id)) >= 2, timeout=20, what="two fires")
    view = stack.http.get(f"/v1/schedules/{schedule_id}").json()
    assert view["enabled"] is True and len(view["next_fire_times"]) == 5
    assert view["fires"] >= 2 and view["last_action"] == "started"
    first = runs_of(stack, schedule_id)[-1]
    done = stack.wait_for_status(str(first["id"]), {"completed"})
    assert done["output"] == {"only": {"x": 7}}

    assert stack.http.post(f"/v1/schedules/{schedule_id}/disable").status_code == 200
    settled = wait_until(
        lambda: (
            (v := stack.http.get(f"/v1/schedules/{schedule_id}").json()) and not v["enabled"] and v
        ),
        what="the schedule to be disabled",
    )
    assert settled["next_fire_times"] == []
    count = len(runs_of(stack, schedule_id))
    # Disabled: a trigger still starts one run, and the timer starts no more.
    triggered = stack.http.post(f"/v1/schedules/{schedule_id}/trigger")
    assert triggered.status_code == 200 and triggered.json()["action"] == "started"
    wait_until(lambda: len(runs_of(stack, schedule_id)) == count + 1, what="the triggered run")
    with pytest.raises(AssertionError):  # Nothing more within 3 fire intervals.
        wait_until(lambda: len(runs_of(stack, schedule_id)) > count + 1, timeout=3)

    deleted = stack.http.delete(f"/v1/schedules/{schedule_id}")
    assert deleted.status_code == 200
    assert error(
        stack.http.get(
            f"/v1/schedules/{schedule_id}",
            headers={"X-Flowledger-Min-Position": deleted.headers["X-Flowledger-Position"]},
        )
    ) == (
        404,
        "SCHEDULE_NOT_FOUND",
    )


def test_overlap_skip_starts_nothing_while_the_last_run_is_active(stack: Stack) -> None:
    name = unique("long")
    stack.put_workflow(
        name,
        {"blocks": [{"id": "wait", "type": "wait_for_event", "config": {"event_type": "done"}}]},
    )
    created = stack.http.post(
        "/v1/schedules", json={"workflow": name, "cron": "* * * * * *", "overlap": "skip"}
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    seen = {"X-Flowledger-Min-Position": created.headers["X-Flowledger-Position"]}

    def fires() -> int:
        return int(stack.http.get(f"/v1/schedules/{schedule_id}", headers=seen).json()["fires"])

    wait_until(lambda: fires() >= 3, timeout=30, what="three fires")
    view = stack.http.get(f"/v1/schedules/{schedule_id}").json()
    assert view["last_action"] == "skipped"
    assert len(runs_of(stack, schedule_id)) == 1
    stack.http.post(f"/v1/schedules/{schedule_id}/disable")


def test_bad_schedules_are_refused(stack: Stack) -> None:
    name = unique("wf")
    stack.put_workflow(name, {"blocks": [{"id": "only", "type": "noop"}]})
    cases = [
        ({"workflow": "no-such-workflow", "interval_seconds": 5}, (404, "WORKFLOW_NOT_FOUND")),
        ({"workflow": name, "cron": "not a cron"}, (422, "VALIDATION_ERROR")),
        (
            {"workflow": name, "cron": "0 9 * * *", "timezone": "Mars/Olympus"},
            (422, "VALIDATION_ERROR"),
        ),
        ({"workflow": name, "cron": "0 9 * * *", "interval_seconds": 5}, (422, "VALIDATION_ERROR")),
        (
            {"workflow": name, "interval_seconds": 5, "overlap": "sometimes"},
            (422, "VALIDATION_ERROR"),
        ),
    ]
    for body, expected in cases:
        assert error(stack.http.post("/v1/schedules", json=body)) == expected, body
    assert error(stack.http.post("/v1/schedules/nope/trigger")) == (404, "SCHEDULE_NOT_FOUND")
