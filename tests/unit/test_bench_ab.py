"""`bench.ab`: what alternating trials of two revisions add up to."""

from __future__ import annotations

import pytest

from bench import ab


def test_an_ab_summary_counts_the_pairs_where_after_was_ahead() -> None:
    """Higher runs/s and lower CPU are ahead; a measure one trial lacks is left out."""

    def trial(rate: float, command_ms: float, **more: float) -> dict:
        return {"runs_per_s": rate, "cpu_ms_per_run": {"command": command_ms, **more}}

    before = [trial(500, 1.4, worker=0.2), trial(520, 1.3, worker=0.2), trial(480, 1.5)]
    after = [trial(550, 1.2, worker=0.2), trial(510, 1.25, worker=0.2), trial(530, 1.6)]
    summary = ab.summary(before, after)

    assert set(summary) == {"runs_per_s", "cpu_ms_per_run.command"}
    assert summary["runs_per_s"]["after_ahead_in_pairs"] == "2 of 3"
    assert summary["runs_per_s"]["change"] == pytest.approx(1590 / 1500 - 1, abs=1e-4)
    assert summary["cpu_ms_per_run.command"]["after_ahead_in_pairs"] == "2 of 3"
    assert summary["cpu_ms_per_run.command"]["before"] == [1.4, 1.3, 1.5]
