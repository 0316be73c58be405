"""`make bench` = `python -m bench [--full]`: every benchmark, one at a time, then a table.

Each script runs in its own process, prints its JSON to stdout and writes it under
bench/results/; this prints the table of all results (as in bench/README.md) at the end.
"""

from __future__ import annotations

import subprocess
import sys

from bench import harness as h
from bench.table import markdown

SCRIPTS = ("run_starts", "runs_completed", "parked_runs", "cost_per_block", "dbos_peer")


def main() -> int:
    args = sys.argv[1:]
    only = [a for a in args if a in SCRIPTS]
    flags = [a for a in args if a not in SCRIPTS]
    failed = []
    for name in only or SCRIPTS:
        h.log(f"=== bench.{name} {' '.join(flags)}")
        h.wait_until_quiet()
        child = subprocess.Popen([sys.executable, "-m", f"bench.{name}", *flags], cwd=h.ROOT)
        try:
            child.wait()
        finally:
            h.terminate(child)  # On Ctrl-C or SIGTERM: let it stop its own stack first.
        if child.returncode != 0:
            failed.append(name)
    print(markdown(), flush=True)
    if failed:
        h.log(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
