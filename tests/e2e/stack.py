"""The real processes for end-to-end tests: NATS, command, projector, worker(s), query."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from services import devserver

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Stack:
    def __init__(self, home: Path, nats_url: str, event_store: str, read_store: str) -> None:
        self.home = home
        self.nats_url = nats_url
        self.env = {
            **os.environ,
            "FL_HOME": str(home),
            "FL_NATS_URL": nats_url,
            "FL_EVENT_STORE": event_store,
            "FL_READ_STORE": read_store,
            "FL_HTTP_PORT": "0",
            # Short enough that a task held by a killed worker comes back quickly.
            "FL_TASK_ACK_WAIT_SECONDS": "3",
        }
        self.log = open(home / "stack.log", "a")  # noqa: SIM115 — closed in stop()
        self.processes: dict[str, devserver.Process] = {}
        self.url = ""
        self._workers = 0

    def start(self) -> Stack:
        for service in ("command", "projector", "query"):
            self.start_service(service)
        self.start_worker()
        port = int((self.home / "run" / "query.ready").read_text())
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=30)
        return self

    def start_service(self, service: str, name: str | None = None) -> devserver.Process:
        name = name or service
        ready = self.home / "run" / f"{name}.ready"
        env = {**self.env, "FL_WORKER_ID": name}
        process = devserver.start_service(service, env, ready, self.log)
        devserver.wait_ready({ready: process})
        self.processes[name] = process
        return process

    def start_worker(self) -> devserver.Process:
        self._workers += 1
        return self.start_service("worker", f"worker-{self._workers}")

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.log.close()

    def logs(self) -> str:
        return (self.home / "stack.log").read_text()

    # ----- API helpers -------------------------------------------------------------

    def put_workflow(self, name: str, definition: dict[str, Any], **headers: str) -> Any:
        response = self.http.put(f"/v1/workflows/{name}", json=definition, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def start_run(self, workflow: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.post(f"/v1/workflows/{workflow}/runs", json=body or {})
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"/v1/runs/{run_id}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def wait_for_status(
        self, run_id: str, statuses: set[str], timeout: float = 30.0
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            run = self.get_run(run_id)
            return run if run and run["status"] in statuses else None

        return wait_until(probe, timeout, f"run {run_id} to be {statuses}")
