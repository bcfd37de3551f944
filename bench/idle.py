"""What an idle stack costs: CPU of every container of `compose.yaml`, no traffic at all.

    uv run python -m bench.idle [--seconds 30] [--settle 10]

Brings the whole stack up (Traefik included) under a throwaway project on free ports, waits
until every container is healthy (Traefik: running) and a little more, then reads each
container's cgroup CPU time twice, `--seconds` apart, and prints the share of one core each
used and the total; then the host's busy CPU over the same window, which also holds what
Docker spends outside the containers to run their checks (dockerd, containerd, the shims and
the runc they start for every check): what a laptop's fan hears.
What an idle stack spends is its health checks: Docker's container checks, Traefik's target
group checks, Redis's ping (issue 23's target: under 5 % of one core in all).
Base images come from PYTHON_IMAGE / REDIS_IMAGE / TRAEFIK_IMAGE, as for compose.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid

from bench import cpu_split
from bench.containers import ROOT, cgroup_cpu_seconds, cpu_stat_seconds, run


def free_port() -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(container: str) -> float:
    """Return the container's CPU time so far: from the host's cgroup, else from inside it."""
    on_host = cgroup_cpu_seconds(container)
    if on_host is not None:
        return on_host
    # Docker Desktop: the cgroups live in its VM. One `cat` inside costs ~1 ms of the figure.
    inside = cpu_stat_seconds(run("docker", "exec", container, "cat", "/sys/fs/cgroup/cpu.stat"))
    if inside is None:
        raise RuntimeError(f"no usage_usec in {container}'s cpu.stat")
    return inside


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30, help="measuring window (30)")
    parser.add_argument("--settle", type=float, default=10, help="wait after healthy (10)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Bring the stack up, measure it idle, print the figures, take it down."""
    args = parse_args(argv)
    project = f"bench-idle-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "HTTP_PORT": str(free_port()),
        "DASHBOARD_PORT": str(free_port()),
        "TRAEFIK_DYNAMIC_DIR": str(ROOT / "compose" / "traefik-dynamic"),
        "TAG": os.environ.get("TAG", "bench-idle"),  # one tag for every run, not one per project
    }
    compose = ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "-p", project]
    try:
        subprocess.run([*compose, "up", "--build", "--detach", "--wait"], env=env, check=True)
        time.sleep(args.settle)
        ids = run(*compose, "ps", "--quiet").split()
        names = {c: run("docker", "inspect", "--format", "{{.Name}}", c).lstrip("/") for c in ids}
        host_before, before = cpu_split.read(), {c: cpu_seconds(c) for c in ids}
        started = time.monotonic()
        time.sleep(args.seconds)
        after, host_after = {c: cpu_seconds(c) for c in ids}, cpu_split.read()
        elapsed = time.monotonic() - started
    finally:
        subprocess.run([*compose, "down", "--volumes", "--timeout", "10"], env=env, check=False)
    shares = {names[c]: (after[c] - before[c]) / elapsed * 100 for c in ids}
    print(f"idle CPU over {elapsed:.0f} s, % of one core:")
    for name, share in sorted(shares.items()):
        print(f"  {name.removeprefix(project + '-'):<14} {share:6.2f}")
    print(f"  {'all':<14} {sum(shares.values()):6.2f}")
    busy = (host_after.busy - host_before.busy) / elapsed * 100
    outside = busy - sum(shares.values())
    print(f"  {'the host, busy':<14} {busy:6.2f}  ({outside:.2f} outside the containers: Docker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
