"""`python -m bench.ab BEFORE AFTER`: alternating saturated trials of two revisions.

This host's speed drifts by ±20 % from one trial to the next, more than most changes
move the numbers, so a change is measured as the README's items are: trials of the two
revisions taken back to back, in pairs, alternating which goes first, on one host. Each
revision runs from a git worktree of its own (its services, its harness); every trial is
a fresh stack keeping 64 runs of set → transform → noop open (`bench/ab_trial.py`). On
PostgreSQL each trial starts after a `CHECKPOINT`, so one trial's dirty pages are not
written during the next.

Prints one JSON object: each trial (runs/s, CPU per completed run by process), and per
measure both sides' means, the change, and in how many pairs AFTER was ahead. Within one
pair the two sides saw about the same host, so "ahead in every pair" says more than the
means do. Two different commits of the same code (an A/A) show the noise floor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from statistics import mean
from typing import Any

import psycopg

from bench import harness as h

TRIAL = Path(__file__).resolve().parent / "ab_trial.py"
Trial = dict[str, Any]


@contextlib.contextmanager
def worktree(revision: str, parent: Path) -> Iterator[Path]:
    """A detached checkout of `revision`, removed afterwards."""
    path = parent / revision.replace("/", "_")
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--force", str(path), revision],
        cwd=h.ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=h.ROOT, capture_output=True
        )


def checkpoint() -> None:
    """Best effort: a role that may not checkpoint just gets noisier PostgreSQL trials."""
    try:
        with psycopg.connect(h.POSTGRES_URL, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error as exc:
        h.log(f"[ab] CHECKPOINT refused ({exc}); trials go on without it")


def run_trial(tree: Path, args: argparse.Namespace) -> Trial:
    if args.store == "postgres":
        checkpoint()
    h.wait_until_quiet()
    command = [sys.executable, str(TRIAL), args.store, str(args.workers), str(args.seconds)]
    command += [str(args.warmup), str(args.window), str(args.commands)]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"trial in {tree} failed:\n{done.stderr[-3000:]}")
    result: Trial = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summary(before: list[Trial], after: list[Trial]) -> dict[str, Any]:
    """Per measure: both sides' means, the change, and the pairs where AFTER was ahead
    (higher runs/s, lower CPU)."""

    def measures(trial: Trial) -> dict[str, float]:
        cpu = {f"cpu_ms_per_run.{k}": v for k, v in trial["cpu_ms_per_run"].items()}
        return {"runs_per_s": trial["runs_per_s"], **cpu}

    pairs = [(measures(b), measures(a)) for b, a in zip(before, after, strict=True)]
    names = [n for n in pairs[0][0] if all(n in b and n in a for b, a in pairs)]
    out: dict[str, Any] = {}
    for name in names:
        b_values = [b[name] for b, _ in pairs]
        a_values = [a[name] for _, a in pairs]
        higher_is_better = name == "runs_per_s"
        ahead = sum(
            (a > b) if higher_is_better else (a < b)
            for b, a in zip(b_values, a_values, strict=True)
        )
        b_mean, a_mean = mean(b_values), mean(a_values)
        out[name] = {
            "before": b_values,
            "after": a_values,
            "before_mean": round(b_mean, 3),
            "after_mean": round(a_mean, 3),
            "change": round(a_mean / b_mean - 1, 4) if b_mean else None,
            "after_ahead_in_pairs": f"{ahead} of {len(pairs)}",
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("before", help="a git revision")
    parser.add_argument("after", help="a git revision (HEAD, a branch, a commit)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=4, help="even: each side goes first as often")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured, per trial")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=int, default=64, help="runs kept open")
    parser.add_argument(
        "--commands", type=int, default=1, help="command services side by side (replicas)"
    )
    args = parser.parse_args(argv)

    trials: dict[str, list[Trial]] = {"before": [], "after": []}
    with (
        tempfile.TemporaryDirectory(prefix="fl-ab-") as tmp,
        worktree(args.before, Path(tmp)) as old,
        worktree(args.after, Path(tmp)) as new,
    ):
        trees = {"before": old, "after": new}
        for pair in range(args.pairs):
            # Alternate which goes first, so a host slowing down mid-pair favours neither.
            order = ("before", "after") if pair % 2 == 0 else ("after", "before")
            for side in order:
                result = run_trial(trees[side], args)
                trials[side].append(result)
                h.log(f"[ab] pair {pair + 1} {side}: {json.dumps(result)}")
    report = {
        "before": args.before,
        "after": args.after,
        "store": args.store,
        "workers": args.workers,
        "commands": args.commands,
        "window": args.window,
        "seconds_per_trial": args.seconds,
        "machine": h.MACHINE,
        "trials": trials,
        "summary": summary(trials["before"], trials["after"]),
    }
    print(json.dumps(report, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
