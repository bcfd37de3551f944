"""Where a command's CPU goes: the stack's containers, Docker's daemons, the command itself.

    uv run python -m bench.cpu_split -- uv run pytest -n 0 tests/local/strategies/test_rolling.py

Runs the command and prints, over its run, the host's busy CPU (/proc/stat) and how much of
it the containers' cgroups, the Docker daemons (dockerd, containerd and the live shims, with
the runc they ran) and the command's own process tree (every process it waited for: pytest,
the `docker` and `bookingapp-local` calls) used; what is left is the kernel and the shims
that exited. docs/testing.md's "Where the CPU goes" was measured with it. Linux only.
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

DAEMONS = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Reading:
    """CPU seconds so far: the host busy, the containers, the daemons."""

    busy: float
    containers: float | None
    daemons: float


def host_busy_seconds(stat_line: str) -> float:
    """Return the busy CPU seconds of /proc/stat's first line (all but idle and iowait)."""
    fields = [int(f) for f in stat_line.split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS  # user..steal; guests are in user


def process_seconds(stat: str) -> float:
    """Return a /proc/PID/stat text's CPU time, its own and its waited-for children's (runc)."""
    fields = stat.rsplit(")", 1)[1].split()  # after the name, which may hold spaces
    return sum(int(f) for f in fields[11:15]) / TICKS  # utime stime cutime cstime


def daemons_seconds() -> float:
    """Return the CPU time the live Docker daemons and shims have used, runc's included."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() in DAEMONS:
                total += process_seconds((proc / "stat").read_text())
        except OSError:  # it exited meanwhile
            continue
    return total


def read() -> Reading:
    """Read the counters now."""
    first_line = Path("/proc/stat").read_text().splitlines()[0]
    return Reading(host_busy_seconds(first_line), all_containers_cpu_seconds(), daemons_seconds())


def split(before: Reading, after: Reading, command_tree: float, wall: float) -> str:
    """Return the one-line report of a run."""
    busy = after.busy - before.busy
    if before.containers is None or after.containers is None:
        containers = "n/a (no container cgroups on this host)"
    else:
        containers = f"{after.containers - before.containers:.1f}"
    return (
        f"wall {wall:.0f} s | host busy {busy:.1f} cpu-s ({busy / wall:.2f} of a core) | "
        f"containers {containers} | Docker daemons {after.daemons - before.daemons:.1f} | "
        f"the command's tree {command_tree:.1f}"
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
