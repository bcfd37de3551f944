"""What the access line's stdout pipe costs: home as shipped, and home writing to /dev/null.

Both from the same image, beside the framework's floor (bench/floor.py), loaded in the same
rounds (wrk inside each container's network namespace, as bench/run.py does), so that a
noisy neighbour moves every side of a ratio alike. The engine discards every container's
logs in both cases (bench/containers.py); what differs is only whether each access line's
write(2) goes to a pipe the engine reads or to /dev/null.

    uv run python bench/stdout_pipe.py [ROUNDS]   # ~4 minutes with the default 5
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.containers import ROOT, Bench
from bench.load import Target, idle_redis, run_loads
from bench.report import throughput_ratios
from bench.run import GUNICORN_CONFIG, HOME_ENV, HOME_KEY, start_floor

SECONDS = 8  # per wrk run, as bench/run.py
CONNECTIONS = 16
# (numerator, denominator) of each printed ratio
RATIOS = (
    ("health, pipe", "floor"),
    ("health, /dev/null", "floor"),
    ("health, /dev/null", "health, pipe"),
    ("page, pipe", "health, pipe"),
    ("page, /dev/null", "health, /dev/null"),
)


def main() -> int:
    """Start the three apps, load them in rounds, print each one's req/s and the ratios."""
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    python_image = os.environ.get("PYTHON_IMAGE", "python:3.12.8-slim-bookworm")
    bench = Bench(python_image, os.environ.get("REDIS_IMAGE", "redis:7.4"), "1")
    try:
        image = bench.build_service(ROOT, "home")
        bench.create_network()
        bench.start_redis()
        idle = idle_redis(bench)
        piped = bench.start_serving("home", image, HOME_ENV, "/home/health")
        quiet = bench.start_serving(
            "home-devnull", image, HOME_ENV, "/home/health",
            command=["sh", "-c", f"exec gunicorn --config {GUNICORN_CONFIG} > /dev/null"],
        )  # fmt: skip
        floor = start_floor(bench, image, HOME_ENV)
        targets = {
            "health, pipe": Target("health, pipe", piped, "/home/health", "application/json", None),
            "health, /dev/null": Target(
                "health, /dev/null", quiet, "/home/health", "application/json", None
            ),
            "floor": Target("floor", floor, "/home/health", "application/json", None),
            "page, pipe": Target("page, pipe", piped, "/home", "text/html", HOME_KEY),
            "page, /dev/null": Target("page, /dev/null", quiet, "/home", "text/html", HOME_KEY),
        }
        results = run_loads(bench, list(targets.values()), rounds, SECONDS, CONNECTIONS, idle)
        loads = {name: results[target] for name, target in targets.items()}
        for name, runs in loads.items():
            print(f"{name}: req/s {sorted(round(r.wrk.rps) for r in runs)}")
        for top, bottom in RATIOS:
            print(f"{top} / {bottom}: {throughput_ratios(loads[top], loads[bottom]).percent()}")
    finally:
        bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
