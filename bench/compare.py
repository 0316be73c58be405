"""`python -m bench.compare BEFORE AFTER`: two sets of results, metric by metric.

BEFORE and AFTER are each a results folder (what `FL_BENCH_RESULTS` pointed a run at) or
a git revision whose `bench/results/` is read (`HEAD~3`, `03f5668`). Every metric that
both hold with a value is printed with its change, judged by the record's own `better`;
`--only TEXT` keeps the metrics whose name contains TEXT. The records say which machine
each set ran on: across hosts only ratios taken in one run (the DBOS one) compare, so the
header says when the two differ.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness as h

# Within this much of each other, two values are reported as the same.
SAME_WITHIN = 0.01

Records = dict[str, dict[str, Any]]


def load(source: str) -> Records:
    """The records of a results folder, or of `bench/results/` at a git revision."""
    folder = Path(source)
    if folder.is_dir():
        texts = [path.read_text() for path in sorted(folder.glob("*.json"))]
    else:
        texts = _files_at_revision(source)
    records: Records = {}
    for text in texts:
        for row in json.loads(text):
            records[stable_name(row["metric"])] = row
    return records


_RATE_IN_NAME = re.compile(r"\.at_(\d+)_per_s\.")


def stable_name(metric: str) -> str:
    """Results recorded before 2026-12-03 named a fixed-rate phase by its rate, which
    follows the saturated one (`…at_329_per_s.p50`): under today's names the same phase
    compares across runs (`…fixed_rate.p50`; a run start's second open loop `at_half_best`)."""
    if metric.startswith("run_starts."):
        return _RATE_IN_NAME.sub(
            lambda m: m.group(0) if m.group(1) == "1000" else ".at_half_best.", metric
        )
    return _RATE_IN_NAME.sub(".fixed_rate.", metric)


def _files_at_revision(revision: str) -> list[str]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=h.ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{revision!r} is neither a folder nor a git revision: {done.stderr}")
        return done.stdout

    names = git("ls-tree", "--name-only", f"{revision}:bench/results").split()
    return [git("show", f"{revision}:bench/results/{n}") for n in names if n.endswith(".json")]


@dataclass(frozen=True)
class Change:
    metric: str
    unit: str
    before: float
    after: float
    better: str  # "higher" or "lower", as the records say
    # A fixed-rate phase's offered rates, before and after, when they differ.
    offered: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.before == 0 else self.after / self.before - 1

    @property
    def verdict(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return "same" if self.after == 0 else "new"
        if abs(ratio) < SAME_WITHIN:
            return "same"
        improved = ratio > 0 if self.better == "higher" else ratio < 0
        return "better" if improved else "worse"


def changes(before: Records, after: Records, only: str = "") -> list[Change]:
    found = []
    for metric, row in after.items():
        old = before.get(metric)
        if only not in metric or old is None or old["value"] is None or row["value"] is None:
            continue
        rates = (old["config"].get("offered_rate"), row["config"].get("offered_rate"))
        offered = rates if None not in rates and rates[0] != rates[1] else None
        found.append(
            Change(metric, row["unit"], old["value"], row["value"], row["better"], offered)
        )
    return found


def _machine(records: Records) -> str:
    if not records:
        return "no records"
    machine = next(iter(records.values()))["machine"]
    return f"{machine['commit']} on {machine['cpus']} x {machine['cpu']}"


def markdown(before: Records, after: Records, only: str = "") -> str:
    lines = [f"before: {_machine(before)}; after: {_machine(after)}"]
    if before and after:
        cpus = {next(iter(r.values()))["machine"]["cpu"] for r in (before, after)}
        if len(cpus) > 1:
            lines.append("Different CPUs: only ratios taken within one run compare.")
    lines += ["", "| metric | unit | before | after | change | |", "|---|---|---:|---:|---:|---|"]
    for change in changes(before, after, only):
        ratio = "n/a" if change.ratio is None else f"{100 * change.ratio:+.1f} %"
        note = ""
        if change.offered:
            note = f" (offered {change.offered[0]:.0f}/s, then {change.offered[1]:.0f}/s)"
        lines.append(
            f"| `{change.metric}` | {change.unit} | {change.before:g} | {change.after:g}"
            f" | {ratio} | {change.verdict}{note} |"
        )
    missing = sorted(m for m in before if only in m and m not in after)
    if missing:
        lines += ["", f"Only before: {', '.join(missing)}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("before", help="a results folder or a git revision")
    parser.add_argument("after", help="a results folder or a git revision")
    parser.add_argument("--only", default="", help="metrics whose name contains this")
    args = parser.parse_args(argv)
    print(markdown(load(args.before), load(args.after), args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
