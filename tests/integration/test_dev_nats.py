"""`devserver.start_nats`, as `flowledger dev`, the tests and the benchmarks start NATS."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from services import devserver


def test_the_dev_nats_gets_its_environment_and_its_monitoring_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    port, monitor = devserver.free_port(), devserver.free_port()
    nats = devserver.start_nats(tmp_path / "nats", port, None, monitor_port=monitor)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/varz", timeout=10) as reply:
            varz = json.load(reply)
        assert varz["port"] == port
        assert varz["jetstream"]["config"]["store_dir"].startswith(str(tmp_path))
        assert varz["gomaxprocs"] == 1
    finally:
        nats.stop()
