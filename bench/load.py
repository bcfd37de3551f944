"""Driving load: wrk aimed at an endpoint, its output read into a record, and what it cost."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

from bench.containers import Bench, cgroup_cpu_seconds, host_url, inspect, run
from bench.redis_stats import RedisCounters, read_counters

TO_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}  # wrk prints minutes on a starved host


class WrkOutputError(ValueError):
    """wrk's output lacks a figure the benchmark reads."""


@dataclass(frozen=True)
class WrkResult:
    """What one `wrk --latency` run reports."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int  # non-2xx/3xx answers plus socket errors of every kind
    failures: str = ""  # wrk's own lines saying which, when any failed


@dataclass(frozen=True)
class Load:
    """One wrk run and what it cost the app container and Redis."""

    wrk: WrkResult
    cpu_s: float | None = None  # the container's CPU time during the run, where readable
    counted: int = 0  # hits the counter recorded during the run
    redis: RedisCounters = field(default_factory=RedisCounters)


@dataclass(frozen=True)
class Target:
    """An endpoint to load: which container, which path, which Accept header."""

    label: str
    container: str
    path: str
    accept: str
    key: str | None  # the Redis key its hits land in, if it counts


def _search(pattern: str, output: str, what: str) -> re.Match[str]:
    """Find a figure in wrk's output, or say which one is missing."""
    found = re.search(pattern, output, re.M)
    if found is None:
        raise WrkOutputError(f"wrk output has no {what}:\n{output[-2000:]}")
    return found


def parse_wrk(output: str) -> WrkResult:
    """Read requests, throughput, p50/p99 and failures from `wrk --latency` output."""

    def latency(percent: str) -> float:
        found = _search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)$", output, f"p{percent}")
        return float(found.group(1)) * TO_MS[found.group(2)]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(non_2xx.group(1)) if non_2xx else 0
    failed += sum(int(n) for n in socket.groups()) if socket else 0
    return WrkResult(
        requests=int(_search(r"(\d+) requests in", output, "request count").group(1)),
        rps=float(_search(r"Requests/sec:\s+([\d.]+)", output, "Requests/sec").group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        failed=failed,
        failures="; ".join(m.group(0) for m in (non_2xx, socket) if m and failed),
    )


def wrk_command(
    container: str, path: str, accept: str, seconds: float, connections: int
) -> list[str]:
    """Return wrk aimed at the app over loopback inside its own network namespace."""
    load = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "-H",
        f"Accept: {accept}",
    ]
    if os.geteuid() == 0:
        pid = inspect(container, "{{.State.Pid}}")
        return ["nsenter", "-t", pid, "-n", *load, f"http://127.0.0.1:5000{path}"]
    return [*load, host_url(container, path)]  # through docker-proxy: slower, says the table


def idle_redis(bench: Bench) -> RedisCounters:
    """Return what two back-to-back readings of Redis's counters cost by themselves."""
    before = read_counters(bench.redis_cli)
    return read_counters(bench.redis_cli).minus(before)


def measure(
    bench: Bench, target: Target, seconds: float, connections: int, idle: RedisCounters
) -> Load:
    """Load one endpoint once; attribute the container's CPU and Redis's work to it."""
    container_id = inspect(target.container, "{{.Id}}")
    redis_before = read_counters(bench.redis_cli)
    counted_before = bench.hits(target.key) if target.key else 0
    cpu_before = cgroup_cpu_seconds(container_id)
    output = run(*wrk_command(target.container, target.path, target.accept, seconds, connections))
    cpu_after = cgroup_cpu_seconds(container_id)
    wrk = parse_wrk(output)
    counted = (bench.hits(target.key) - counted_before) if target.key else 0
    redis = read_counters(bench.redis_cli).minus(redis_before).minus(idle)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Load(wrk=wrk, cpu_s=cpu, counted=counted, redis=redis)


def run_loads(
    bench: Bench,
    targets: list[Target],
    rounds: int,
    seconds: float,
    connections: int,
    idle: RedisCounters,
) -> dict[Target, list[Load]]:
    """Load every target `rounds` times, rotating the order so no endpoint always goes first."""
    results: dict[Target, list[Load]] = {t: [] for t in targets}
    for target in targets:  # warm-up: imports, pools, branch caches
        measure(bench, target, 2, connections, idle)
    for round_number in range(rounds):
        shift = round_number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            load = measure(bench, target, seconds, connections, idle)
            results[target].append(load)
            print(
                f"  round {round_number + 1}: {target.label}: {load.wrk.rps:.0f} req/s"
                + (f" ({load.wrk.failures})" if load.wrk.failed else ""),
                file=sys.stderr,
            )
    return results


@dataclass(frozen=True)
class Endpoints:
    """The endpoints one run loads, each by its role in the report."""

    health: Target
    page: Target
    page_json: Target
    baseline: Target
    alt_page: Target | None = None  # the second home (--alt-env), when there is one
    alt_json: Target | None = None
    floor: Target | None = None  # the framework's floor (bench/floor.py), when it runs

    def all(self) -> list[Target]:
        """Return every endpoint, in the order of the table's rows."""
        targets = [self.health, self.page, self.page_json, self.baseline]
        extra = (self.floor, self.alt_page, self.alt_json)
        return targets + [t for t in extra if t is not None]
