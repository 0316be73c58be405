"""`bench.compare`: two sets of results, metric by metric, judged by each record's `better`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import compare


def _record(metric: str, value: float | None, better: str = "higher", **config: Any) -> dict:
    return {
        "metric": metric,
        "value": value,
        "unit": "runs/s" if better == "higher" else "ms",
        "goal": None,
        "better": better,
        "config": config,
        "machine": {"commit": "abc1234", "cpus": 2, "cpu": "Some CPU"},
        "at": "2026-12-03T00:00:00Z",
    }


def _results(folder: Path, **rows_by_script: list[dict]) -> str:
    """A results folder holding one file per script, as `FL_BENCH_RESULTS` gets."""
    folder.mkdir(parents=True, exist_ok=True)
    for script, rows in rows_by_script.items():
        (folder / f"{script}.json").write_text(json.dumps(rows))
    return str(folder)


def _changes(before: str, after: str) -> dict[str, compare.Change]:
    return {c.metric: c for c in compare.changes(compare.load(before), compare.load(after))}


def test_each_metric_in_both_is_judged_by_its_own_direction(tmp_path: Path) -> None:
    before = _results(
        tmp_path / "before",
        runs_completed=[
            _record("runs_completed.sqlite.workers_1.rate", 500),
            _record("runs_completed.sqlite.workers_1.p99", 100, "lower"),
            _record("runs_completed.sqlite.workers_1.p50", 50, "lower"),
            _record("gone.metric", 1),
        ],
    )
    after = _results(
        tmp_path / "after",
        runs_completed=[
            _record("runs_completed.sqlite.workers_1.rate", 600),
            _record("runs_completed.sqlite.workers_1.p99", 120, "lower"),
            _record("runs_completed.sqlite.workers_1.p50", 50.2, "lower"),
            _record("new.metric", 1),
        ],
    )
    found = _changes(before, after)

    assert set(found) == {
        "runs_completed.sqlite.workers_1.rate",
        "runs_completed.sqlite.workers_1.p99",
        "runs_completed.sqlite.workers_1.p50",
    }
    assert found["runs_completed.sqlite.workers_1.rate"].ratio == pytest.approx(0.2)
    assert found["runs_completed.sqlite.workers_1.rate"].verdict == "better"
    assert found["runs_completed.sqlite.workers_1.p99"].verdict == "worse"
    assert found["runs_completed.sqlite.workers_1.p50"].verdict == "same"  # within 1 %

    text = compare.markdown(compare.load(before), compare.load(after))
    row = "| `runs_completed.sqlite.workers_1.rate` | runs/s | 500 | 600 | +20.0 % | better |"
    assert row in text
    assert "Only before: gone.metric" in text
    assert "Different CPUs" not in text


def test_a_fixed_rate_phase_named_by_its_rate_compares_under_its_stable_name(
    tmp_path: Path,
) -> None:
    """Results recorded before the names were made stable named the phase by its rate."""
    old = _results(
        tmp_path / "old",
        runs_completed=[
            _record("lag.sqlite.workers_1.at_329_per_s.p99", 63, "lower", offered_rate=329)
        ],
        run_starts=[
            _record("run_starts.bus.sqlite.at_1000_per_s.p99", 20, "lower", offered_rate=1000),
            _record("run_starts.bus.sqlite.at_533_per_s.p99", 70, "lower", offered_rate=533),
        ],
    )
    new = _results(
        tmp_path / "new",
        runs_completed=[
            _record("lag.sqlite.workers_1.fixed_rate.p99", 40, "lower", offered_rate=249)
        ],
        run_starts=[
            _record("run_starts.bus.sqlite.at_1000_per_s.p99", 24, "lower", offered_rate=1000),
            _record("run_starts.bus.sqlite.at_half_best.p99", 60, "lower", offered_rate=501),
        ],
    )
    found = _changes(old, new)

    assert set(found) == {
        "lag.sqlite.workers_1.fixed_rate.p99",
        "run_starts.bus.sqlite.at_1000_per_s.p99",
        "run_starts.bus.sqlite.at_half_best.p99",
    }
    assert found["lag.sqlite.workers_1.fixed_rate.p99"].offered == (329, 249)
    assert found["run_starts.bus.sqlite.at_1000_per_s.p99"].offered is None
    text = compare.markdown(compare.load(old), compare.load(new))
    assert "better (offered 329/s, then 249/s)" in text


def test_results_on_different_cpus_are_flagged(tmp_path: Path) -> None:
    row = _record("m.rate", 1)
    other = {**row, "machine": {**row["machine"], "cpu": "Another CPU"}}
    before = compare.load(_results(tmp_path / "a", x=[row]))
    after = compare.load(_results(tmp_path / "b", x=[other]))
    assert "Different CPUs: only ratios taken within one run compare." in compare.markdown(
        before, after
    )


def test_a_source_that_is_neither_a_folder_nor_a_revision_is_refused() -> None:
    with pytest.raises(SystemExit, match="neither a folder nor a git revision"):
        compare.load("no-such-folder-or-revision")


def test_a_git_revision_is_read_from_its_bench_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    _results(tmp_path / "bench" / "results", runs_completed=[_record("m.rate", 400)])
    git("add", ".")
    git("commit", "-qm", "first")
    _results(tmp_path / "bench" / "results", runs_completed=[_record("m.rate", 500)])
    git("commit", "-qam", "second")
    monkeypatch.setattr(compare.h, "ROOT", tmp_path)

    assert _changes("HEAD~1", "HEAD")["m.rate"].ratio == pytest.approx(0.25)
