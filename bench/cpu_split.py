"""Where a command's CPU goes: the stack's containers, the command itself, and the rest.

    uv run python -m bench.cpu_split -- uv run pytest -n 0 tests/local/strategies/test_rolling.py

Runs the command and prints, over its run, the host's busy CPU (/proc/stat) and how much of
it the containers' cgroups and the command's own process tree (every process it waited for:
pytest, the `docker` and `bookingapp-local` calls) used. The rest is Docker's own work
(dockerd, containerd, the shims and the runc they start for every container check and
exec) and the kernel's. docs/testing.md's "Where the CPU goes" was measured with it; bench.idle
reads the host the same way. Linux only.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.containers import all_containers_cpu_seconds

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Reading:
    """CPU seconds so far: the host busy, and the containers (None: no cgroups to read)."""

    busy: float
    containers: float | None


def host_busy_seconds(stat_line: str) -> float:
    """Return the busy CPU seconds of /proc/stat's first line (all but idle and iowait)."""
    fields = [int(f) for f in stat_line.split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS  # user..steal; guests are in user


def read() -> Reading:
    """Read the counters now."""
    first_line = Path("/proc/stat").read_text().splitlines()[0]
    return Reading(host_busy_seconds(first_line), all_containers_cpu_seconds())


def split(before: Reading, after: Reading, command_tree: float, wall: float) -> str:
    """Return the one-line report of a run."""
    busy = after.busy - before.busy
    report = f"wall {wall:.0f} s | host busy {busy:.1f} cpu-s ({busy / wall:.2f} of a core) | "
    if before.containers is None or after.containers is None:
        containers = "n/a (no container cgroups on this host)"
        rest = busy - command_tree
    else:
        used = after.containers - before.containers
        containers, rest = f"{used:.1f}", busy - command_tree - used
    return (
        f"{report}containers {containers} | the command's tree {command_tree:.1f} | "
        f"the rest (Docker's daemons and runc, the kernel) {rest:.1f}"
    )


def main(argv: list[str]) -> int:
    """Run the command after `--`, print where its CPU went, exit as it did."""
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    before, started = read(), time.monotonic()
    done = subprocess.run(command, check=False)
    wall, after = time.monotonic() - started, read()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(split(before, after, children.ru_utime + children.ru_stime, wall), file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
