"""`flowledger dev` as a user runs it: ready file, the README example, a clean stop, a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.stack import wait_until
from tests.support.builders import diamond


def start_dev(home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FL_HOME": str(home), "FL_HTTP_PORT": "0"}
    log = open(home.parent / f"{home.name}.log", "ab")  # noqa: SIM115 — the child owns it
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "dev"], env=env, stdout=log, stderr=log
    )


def dev_info(home: Path, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        assert process.poll() is None, "flowledger dev exited early"
        path = home / "dev.json"
        return json.loads(path.read_text()) if path.exists() else None

    return wait_until(ready, timeout=60, what="dev.json")


def stop_dev(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)  # Ctrl-C
    return process.wait(timeout=60)


def test_dev_runs_the_example_and_keeps_runs_across_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = start_dev(home)
    try:
        info = dev_info(home, process)
        assert info["nats_url"].startswith("nats://") and info["api_key"] is None
        http = httpx.Client(base_url=info["url"], timeout=30)
        assert http.put("/v1/workflows/hello", json=diamond(0.2)).status_code == 201
        run_id = http.post("/v1/workflows/hello/runs", json={"input": {"n": 1}}).json()["id"]
        wait_until(
            lambda: http.get(f"/v1/runs/{run_id}").json().get("status") == "completed",
            what="the example run to complete",
        )
    finally:
        code = stop_dev(process)
    assert code == 0
    assert not (home / "dev.json").exists()

    process = start_dev(home)
    try:
        info = dev_info(home, process)
        http = httpx.Client(base_url=info["url"], timeout=30)
        again = http.get(f"/v1/runs/{run_id}")
        assert again.status_code == 200 and again.json()["status"] == "completed"
        second = http.post("/v1/workflows/hello/runs", json={"input": {"n": 2}}).json()["id"]
        wait_until(
            lambda: http.get(f"/v1/runs/{second}").json().get("status") == "completed",
            what="a run after the restart to complete",
        )
    finally:
        assert stop_dev(process) == 0
