"""The dev NATS server's environment: one Go scheduler thread unless the user says otherwise."""

from __future__ import annotations

import pytest

from services import devserver


def test_nats_runs_on_one_scheduler_thread_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    monkeypatch.setenv("FL_SOMETHING", "kept")
    env = devserver.nats_environment()
    assert env["GOMAXPROCS"] == "1"
    assert env["FL_SOMETHING"] == "kept"


def test_a_gomaxprocs_the_user_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOMAXPROCS", "4")
    assert devserver.nats_environment()["GOMAXPROCS"] == "4"
