"""Group commit against one script call per hit, in-process, with the page code.

Run by hand from the repo root (needs `redis-server` on PATH; about a minute):

    uv run python bench/counter_modes.py [--requests 4000] [--threads 8] [--rounds 5]

Starts a throwaway redis-server on loopback, builds the home app twice (COUNTER_GROUP_COMMIT
on and off), and sends the JSON page through Flask's test client from THREADS threads, the
two modes alternating every round. Reports, per mode, medians over rounds of: requests per
second (wall), this process's CPU time per request, and Redis round trips and commands per
hit (INFO stats). Flask's test client skips gunicorn and the network, so the counter's
share of a request is larger here than under gunicorn: read it with the container figures
in docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.redis_stats import RedisCounters
from bench.report import Spread, median
from bookingapp_home import create_app

PASSWORD = "bench-" + secrets.token_hex(8)


@dataclass(frozen=True)
class Round:
    """One mode's run: throughput, CPU per request, Redis work per hit."""

    rps: float
    cpu_us: float
    round_trips: float
    commands: float

    @classmethod
    def median_of(cls, rounds: list[Round]) -> Round:
        """Return each figure's median over the rounds."""
        return cls(
            rps=median([r.rps for r in rounds]),
            cpu_us=median([r.cpu_us for r in rounds]),
            round_trips=median([r.round_trips for r in rounds]),
            commands=median([r.commands for r in rounds]),
        )


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    """Start redis-server on loopback and wait until it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("needs redis-server on PATH (apt-get install redis-server)")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen([*command, "--requirepass", PASSWORD], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=PASSWORD)
    for _ in range(200):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def measure(app, admin: redis.Redis, requests: int, threads: int) -> Round:
    """Send `requests` JSON page views from `threads` threads; return what they cost."""
    client = app.test_client()
    headers = {"Accept": "application/json"}

    def view(_: int) -> int:
        return client.get("/home", headers=headers).status_code

    before = RedisCounters.from_stats(admin.info("stats"))
    hits_before = int(admin.get("bookingapp:home:hits") or 0)
    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = list(pool.map(view, range(requests)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    work = RedisCounters.from_stats(admin.info("stats")).minus(before)
    hits = int(admin.get("bookingapp:home:hits")) - hits_before
    if set(statuses) != {200} or hits != requests:
        raise SystemExit(f"not every view was counted: {set(statuses)}, {hits}/{requests}")
    # Two INFO calls between the snapshots count as one write and one command each.
    return Round(
        rps=requests / wall,
        cpu_us=1e6 * cpu / requests,
        round_trips=(work.writes - 1) / hits,
        commands=(work.commands - 1) / hits,
    )


def main() -> int:
    """Measure both modes, alternating, and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    port = free_port()
    server = start_redis(port)
    try:
        admin = redis.Redis(port=port, password=PASSWORD)
        config = {
            "INSTANCE_ID": "bench",
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": port,
            "REDIS_PASSWORD": PASSWORD,
            "NEIGHBOUR_URL_TEMPLATE": f"http://127.0.0.1:{free_port()}/{{name}}/ready",
        }
        modes = {"group commit": True, "one script call per hit": False}
        apps = {
            name: create_app({**config, "COUNTER_GROUP_COMMIT": on}) for name, on in modes.items()
        }
        logging.getLogger("bookingapp").setLevel(logging.WARNING)  # no access line per view
        results: dict[str, list[Round]] = {name: [] for name in modes}
        for app in apps.values():
            measure(app, admin, 200, args.threads)  # warm up: connections, script, page cache
        for number in range(args.rounds):
            order = list(apps) if number % 2 == 0 else list(reversed(apps))
            for name in order:
                results[name].append(measure(apps[name], admin, args.requests, args.threads))
                print(
                    f"  round {number + 1}: {name}: {results[name][-1].rps:.0f} req/s",
                    file=sys.stderr,
                )
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        "| counter (in-process, JSON page) | req/s | CPU µs/req | round trips/hit | commands/hit |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, rounds in results.items():
        med = Round.median_of(rounds)
        print(
            f"| {name} | {med.rps:.0f} | {med.cpu_us:.0f} | "
            f"{med.round_trips:.2f} | {med.commands:.2f} |"
        )
    group, alone = results["group commit"], results["one script call per hit"]
    ratios = Spread.of([g.rps / a.rps for g, a in zip(group, alone, strict=True)])
    print(
        f"\ngroup commit / per hit, throughput: {ratios.times(2)}; {args.rounds} rounds x "
        f"{args.requests} requests, {args.threads} threads"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
