"""`python -m bench.table`: the last results (bench/results/*.json) as Markdown tables.

`--all` prints every record as one row instead (metric, value, unit, goal).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench import harness as h
from bench.compare import stable_name

ORDER = ("run_starts", "runs_completed", "parked_runs", "cost_per_block", "dbos_peer")


def _fmt(value: Any, digits: int = 3) -> str:
    if not isinstance(value, (int, float)):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}" if abs(value) < 10 else f"{value:.1f}"


def _load(name: str) -> dict[str, dict[str, Any]]:
    path = h.RESULTS / f"{name}.json"
    if not path.exists():
        return {}
    # Under today's names, also when the file was written before them.
    return {stable_name(row["metric"]): row for row in json.loads(path.read_text())}


def _v(rows: dict[str, dict[str, Any]], metric: str) -> Any:
    row = rows.get(metric)
    return None if row is None else row["value"]


def _goal(rows: dict[str, dict[str, Any]], metric: str) -> str:
    row = rows.get(metric)
    if not row or not isinstance(row.get("goal"), (int, float)) or row["value"] is None:
        return _fmt(_v(rows, metric))
    met = row["value"] >= row["goal"] if row["better"] == "higher" else row["value"] <= row["goal"]
    return f"{_fmt(row['value'])} {'✅' if met else '❌'}"


def run_starts() -> list[str]:
    rows = _load("run_starts")
    if not rows:
        return []
    out = [
        "**Run starts** (item 1; goal ≥ 5,000/s bus, ≥ 3,000/s REST, p99 ≤ 25 ms at 1,000/s)",
        "",
        "| store | transport | 1 in flight: /s (p50/p99 ms) | 16 in flight | 64 in flight |"
        " offered 1,000/s: answered /s, p99 ms | at half the best rate: p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in ("sqlite", "postgres"):
        for transport in ("bus", "rest"):
            base = f"run_starts.{transport}.{kind}"
            if f"{base}.inflight_1.rate" not in rows:
                continue
            cells = [
                f"{_goal(rows, f'{base}.inflight_{n}.rate')}"
                f" ({_fmt(_v(rows, f'{base}.inflight_{n}.p50'))}/"
                f"{_fmt(_v(rows, f'{base}.inflight_{n}.p99'))})"
                for n in (1, 16, 64)
            ]
            at = f"{base}.at_1000_per_s"
            cells.append(f"{_fmt(_v(rows, f'{at}.rate'))}, {_goal(rows, f'{at}.p99')}")
            half = rows.get(f"{base}.at_half_best.p99")
            offered = half["config"]["offered_rate"] if half else None
            cells.append(f"{_fmt(half['value'])} at {offered:.0f}/s" if half else "n/a")
            out.append(f"| {kind} | {transport} | " + " | ".join(cells) + " |")
    return out


def runs_completed() -> list[str]:
    rows = _load("runs_completed")
    if not rows:
        return []
    out = [
        "**Runs completed and lag** (items 2 and 3; set → transform → noop; goal ≥ 1,000 runs/s,"
        " lag p99 ≤ 100 ms at 1,000 runs/s)",
        "",
        "| store | workers | saturated: runs/s | start→completed p50/p99 ms | lag p50/p99 ms |"
        " fixed rate: runs/s | start→completed p50/p99 ms | lag p50/p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("sqlite", "postgres"):
        for workers in (1, 2):
            base = f"runs_completed.{kind}.workers_{workers}"
            lag = f"lag.{kind}.workers_{workers}"
            if f"{base}.rate" not in rows:
                continue
            fixed = "fixed_rate"
            offered = rows.get(f"{base}.{fixed}.p50", {}).get("config", {}).get("offered_rate")
            rate = _fmt(offered)
            out.append(
                f"| {kind} | {workers} | {_goal(rows, f'{base}.rate')} |"
                f" {_fmt(_v(rows, f'{base}.p50'))}/{_fmt(_v(rows, f'{base}.p99'))} |"
                f" {_fmt(_v(rows, f'{lag}.saturated.p50'))}/{_goal(rows, f'{lag}.saturated.p99')} |"
                f" {rate} | {_fmt(_v(rows, f'{base}.{fixed}.p50'))}/"
                f"{_fmt(_v(rows, f'{base}.{fixed}.p99'))} |"
                f" {_fmt(_v(rows, f'{lag}.{fixed}.p50'))}/{_goal(rows, f'{lag}.{fixed}.p99')} |"
            )
    return out + _cpu_per_run(rows)


def _cpu_per_run(rows: dict[str, dict[str, Any]]) -> list[str]:
    """CPU per completed run of each process, saturated (item 5's overheads, in time)."""
    costs = [m for m in rows if m.startswith("cost.cpu_ms_per_run.")]
    if not costs:
        return []
    configs = sorted({m.split(".")[2] + "." + m.split(".")[3] for m in costs})
    processes = sorted({m.split(".", 4)[4] for m in costs})
    out = [
        "",
        "CPU per completed run, saturated (ms; every process shares the 2 cores; a"
        " PostgreSQL server's own processes are not counted):",
        "",
        "| store | workers | " + " | ".join(processes) + " | all |",
        "|---|---|" + "---|" * (len(processes) + 1),
    ]
    for config in configs:
        kind, workers = config.split(".")
        values = [_v(rows, f"cost.cpu_ms_per_run.{config}.{p}") for p in processes]
        total = sum(v for v in values if v is not None)
        cells = " | ".join(_fmt(v) for v in values)
        out.append(f"| {kind} | {workers.removeprefix('workers_')} | {cells} | {_fmt(total)} |")
    return out


def parked_runs() -> list[str]:
    rows = _load("parked_runs")
    if not rows:
        return []
    out: list[str] = []
    for record in rows.values():
        c = record["config"]
        if c.get("variant", "sleep") != "sleep":
            continue
        kind = c["store"]
        out += [
            f"**Parked runs** (item 4; {c['started']:,} runs in a {c['sleep_seconds']} s sleep,"
            f" {kind}): started at {_fmt(_v(rows, f'parked_runs.{kind}.start_rate'))} runs/s;"
            f" all {c['completed']:,} completed"
            f" {_fmt(_v(rows, f'parked_runs.{kind}.drain_seconds'))} s"
            f" after the command service came back with every timer due"
            f" ({_fmt(_v(rows, f'parked_runs.{kind}.drain_rate'))} runs/s);"
            f" {c['completed_before_timers_fired']} completed early.",
            "",
            *_rss_table(rows, f"parked_runs.{kind}", c),
        ]
        break
    for record in rows.values():
        c = record["config"]
        if c.get("variant") != "events":
            continue
        base = f"parked_runs.{c['store']}.events"
        out += [
            "",
            f"**Parked on events** ({c['started']:,} runs in `wait_for_event`, {c['store']}):"
            f" started at {_fmt(_v(rows, f'{base}.start_rate'))} runs/s; one event each, sent"
            f" in {c['send_seconds']} s, and all {c['completed']:,} completed"
            f" {_fmt(_v(rows, f'{base}.drain_seconds'))} s after the first was sent"
            f" ({_fmt(_v(rows, f'{base}.drain_rate'))} runs/s);"
            f" {c['completed_before_events']} completed early.",
            "",
            *_rss_table(rows, base, c),
        ]
        break
    return out


def _rss_table(rows: dict[str, Any], base: str, c: dict[str, Any]) -> list[str]:
    out = [
        "| process | RSS idle MiB | parked MiB | completed MiB | growth per 1,000 parked MiB |",
        "|---|---|---|---|---|",
    ]
    for name in c["rss_mib_idle"]:
        out.append(
            f"| {name} | {_fmt(c['rss_mib_idle'].get(name))} |"
            f" {_fmt(c['rss_mib_parked'].get(name))} | {_fmt(c['rss_mib_completed'].get(name))} |"
            f" {_fmt(_v(rows, f'{base}.rss_growth_per_1000_parked.{name}'))} |"
        )
    return out


def cost_per_block() -> list[str]:
    rows = _load("cost_per_block")
    if not rows:
        return []
    keys = (
        "events",
        "transactions",
        "commands",
        "js_FL_EVENTS",
        "js_FL_TASKS",
        "js_FL_TIMERS",
        "nats_in_msgs",
        "nats_out_msgs",
    )
    out = [
        "**Cost** (item 5; PostgreSQL; per run, per block in brackets)",
        "",
        "| workflow | regime | " + " | ".join(k.removeprefix("js_") for k in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    plans = sorted(
        {(m.split(".")[1], m.split(".")[2]) for m in rows},
        key=lambda p: (p[1] != "serial", ("noop", "set").index(p[0]) if len(p[0]) < 5 else 2),
    )
    for workflow, regime in plans:
        base = f"cost.{workflow}.{regime}"
        cells = [
            f"{_fmt(_v(rows, f'{base}.{k}_per_run'))} ({_fmt(_v(rows, f'{base}.{k}_per_block'))})"
            for k in keys
        ]
        out.append(f"| {workflow} | {regime} | " + " | ".join(cells) + " |")
    return out


def dbos_peer() -> list[str]:
    rows = _load("dbos_peer")
    if not rows:
        return []
    out = [
        "**DBOS side by side** (item 6; the same 3-step workflow; goal Flowledger ≥ 10 x DBOS)",
        "",
        "| store | Flowledger runs/s (1 worker) | DBOS workflows/s, best (threads) |"
        " DBOS by threads | ratio |",
        "|---|---|---|---|---|",
    ]
    for kind in ("sqlite", "postgres"):
        ratio = rows.get(f"peer.{kind}.ratio")
        if ratio is None:
            continue
        dbos = ratio["config"]["dbos"]
        # Recorded before DBOS was measured at several thread counts: 16 threads alone.
        by_threads = dbos.get("by_threads", {str(dbos["threads"]): dbos})
        sweep = ", ".join(f"{t}: {_fmt(trial['rate'])}" for t, trial in by_threads.items())
        out.append(
            f"| {kind} | {_fmt(_v(rows, f'peer.{kind}.flowledger.rate'))} |"
            f" {_fmt(_v(rows, f'peer.{kind}.dbos.rate'))} ({dbos['threads']}) | {sweep} |"
            f" {_goal(rows, f'peer.{kind}.ratio')} |"
        )
    return out


def markdown() -> str:
    parts = [run_starts(), runs_completed(), parked_runs(), cost_per_block(), dbos_peer()]
    machine = next(
        (next(iter(_load(n).values()))["machine"] for n in ORDER if _load(n)),
        None,
    )
    head = []
    if machine:
        head = [
            f"Commit {machine['commit']}; {machine['cpus']} x {machine['cpu']},"
            f" {machine['mem_gib']} GiB, Linux {machine['kernel']}, Python {machine['python']},"
            f" nats-server {machine['nats_server']}. ✅ goal met, ❌ missed.",
            "",
        ]
    return "\n".join([*head, "\n\n".join("\n".join(p) for p in parts if p)])


def every_record() -> str:
    lines = ["| metric | value | unit | goal |", "|---|---:|---|---|"]
    for name in ORDER:
        for row in _load(name).values():
            goal = (
                ""
                if row["goal"] is None
                else f"{'≥' if row['better'] == 'higher' else '≤'} {row['goal']}"
            )
            lines.append(f"| `{row['metric']}` | {_fmt(row['value'])} | {row['unit']} | {goal} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(every_record() if "--all" in sys.argv else markdown())
