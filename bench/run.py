"""Benchmark the home service against its own health path and a classic Flask + Redis app.

Run by hand from the repo root (needs Docker, wrk, and root for nsenter; about 4 minutes):

    uv run python bench/run.py          # PYTHON_IMAGE / REDIS_IMAGE pick the base images

What it does, all on this machine, everything named bench-<random> and removed at the end:
- builds the home image (root Dockerfile) and the baseline image (bench/baseline);
- starts one Redis (password, AOF on) and the two apps on a private network, each app
  alone with `--cpus 1`; home's neighbours point at a port that refuses at once (their
  state is cached for NEIGHBOUR_MAX_AGE, so they are off the hot path either way);
- loads each endpoint with wrk run inside the app container's network namespace
  (nsenter: loopback, no docker-proxy or NAT between), endpoints alternating every round;
- reads the app container's CPU time from its cgroup and Redis's INFO before and after;
- times `docker run` -> serving/healthy and `docker compose up --wait` -> all healthy.
Figures are medians over the rounds and are relative: compare rows of one run.
The work is split by concern: bench/containers.py, bench/load.py, bench/redis_stats.py and
bench/report.py; this file is the command line that ties them together.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.containers import (
    PASSWORD,
    ROOT,
    Bench,
    compose_up_seconds,
    image_size,
)
from bench.load import Endpoints, Load, Target, WrkOutputError, idle_redis, run_loads
from bench.report import ImageSizes, figure_table, figures, load_table

# Inside the app container nothing listens on port 9: neighbours are refused at once.
REFUSING_NEIGHBOURS = "http://127.0.0.1:9/{name}/ready"
HOME_KEY = "bookingapp:home:hits"
BASELINE_KEY = "hits"
GUNICORN_CONFIG = "python:bookingapp_common.gunicorn_conf"  # the image's own (Dockerfile CMD)


# Home's environment in every run: the bench's Redis, neighbours that refuse at once.
HOME_ENV = {
    "REDIS_HOST": "redis",
    "REDIS_PASSWORD": PASSWORD,
    "NEIGHBOUR_URL_TEMPLATE": REFUSING_NEIGHBOURS,
}


def start_floor(bench: Bench, image: str, env: dict[str, str]) -> str:
    """Start the framework's floor; return its container's name.

    The same image, gunicorn config, CPU limit and environment as home, serving
    bench/floor.py instead of the service (the command line's app wins over wsgi_app).
    """
    return bench.start_serving(
        "floor",
        image,
        {**env, "PYTHONPATH": "/bench"},
        "/home/health",
        options=["-v", f"{ROOT / 'bench' / 'floor.py'}:/bench/bench_floor.py:ro"],
        command=["gunicorn", "--config", GUNICORN_CONFIG, "bench_floor:app"],
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="runs per endpoint (median)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--cpus", default="1", help="the app containers' CPU limit")
    parser.add_argument(
        "--app-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the home container (experiments)",
    )
    parser.add_argument(
        "--alt-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also run a second home with this extra environment, loaded in the same rounds",
    )
    parser.add_argument("--no-compose", action="store_true", help="skip the compose timing")
    parser.add_argument(
        "--source",
        type=Path,
        default=ROOT,
        help="build home from this checkout instead (before/after comparisons)",
    )
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"--source {args.source} is not a directory")
    for item in args.app_env + args.alt_env:
        if "=" not in item:
            parser.error(f"expected KEY=VALUE, got {item!r}")
    return args


def env_pairs(items: list[str]) -> dict[str, str]:
    """Turn KEY=VALUE arguments into an environment."""
    return dict(item.split("=", 1) for item in items)


def main() -> int:
    """Build, start, load, measure, clean up; print the figures as a markdown table."""
    args = parse_args()
    python_image = os.environ.get("PYTHON_IMAGE", "python:3.12.8-slim-bookworm")
    redis_image = os.environ.get("REDIS_IMAGE", "redis:7.4")
    bench = Bench(python_image, redis_image, args.cpus)
    try:
        return report(bench, args)
    except (RuntimeError, WrkOutputError) as error:  # a command failed: say which, and why
        print(f"benchmark stopped: {error}", file=sys.stderr)
        return 2
    finally:
        bench.cleanup()


def report(bench: Bench, args: argparse.Namespace) -> int:
    """Run every measurement and print the tables."""
    print(f"building images from {bench.python_image} ...", file=sys.stderr)
    home_image = bench.build_service(args.source, "home")
    baseline_image = bench.build("baseline", ROOT / "bench" / "baseline")
    bench.create_network()
    bench.start_redis()
    idle = idle_redis(bench)  # measured before any app talks to Redis
    home_env = {**HOME_ENV, **env_pairs(args.app_env)}
    times = bench.start_timed("home", home_image, home_env, "/home/health")
    base_env = {"REDIS_HOST": "redis", "REDIS_PASSWORD": PASSWORD}
    baseline = bench.start_serving("baseline", baseline_image, base_env, "/")
    home = bench.name("home")
    endpoints = Endpoints(
        health=Target(
            "home `GET /home/health` (no Redis)", home, "/home/health", "application/json", None
        ),
        page=Target("home `GET /home` (HTML page)", home, "/home", "text/html", HOME_KEY),
        page_json=Target("home `GET /home` (JSON)", home, "/home", "application/json", HOME_KEY),
        baseline=Target(
            "baseline `GET /` (Flask dev server, INCR+GET)", baseline, "/", "*/*", BASELINE_KEY
        ),
    )
    floor = start_floor(bench, home_image, home_env)
    endpoints = dataclasses.replace(
        endpoints,
        floor=Target("the framework's floor `GET /home/health` (bench/floor.py)", floor,
                     "/home/health", "application/json", None),
    )  # fmt: skip
    named = " ".join(args.alt_env)
    if args.alt_env:
        # The same image with other settings, in the same rounds: a fair A/B on shared cores.
        alt_env = {**home_env, **env_pairs(args.alt_env)}
        alt = bench.start_serving("home-alt", home_image, alt_env, "/home/health")
        endpoints = dataclasses.replace(
            endpoints,
            alt_page=Target(
                f"home with {named} `GET /home` (HTML page)", alt, "/home", "text/html", HOME_KEY
            ),
            alt_json=Target(
                f"home with {named} `GET /home` (JSON)", alt, "/home", "application/json", HOME_KEY
            ),
        )
    targets = endpoints.all()
    print(
        f"loading: {args.rounds} rounds x {len(targets)} endpoints x {args.duration:g} s",
        file=sys.stderr,
    )
    results = run_loads(bench, targets, args.rounds, args.duration, args.connections, idle)
    compose = None if args.no_compose else compose_up_seconds(bench)
    times = dataclasses.replace(times, compose_s=compose)
    sizes = added_sizes(bench, home_image, baseline_image)
    print("\n".join(load_table(targets, results, args.cpus)))
    print()
    print("\n".join(figure_table(figures(endpoints, results, times, sizes, named))))
    print(
        f"\n{args.rounds} rounds x {args.duration:g} s per endpoint, wrk -t1 -c{args.connections}, "
        f"medians (ratios: median of per-round ratios); base image {bench.python_image}, "
        f"Redis {bench.redis_image}."
    )
    return 0 if all_answered(results) else 1


def added_sizes(bench: Bench, home_image: str, baseline_image: str) -> ImageSizes:
    """Return what each image adds on top of the base image."""
    base = image_size(bench.python_image)
    return ImageSizes(
        home_added=image_size(home_image) - base,
        baseline_added=image_size(baseline_image) - base,
    )


def all_answered(results: dict[Target, list[Load]]) -> bool:
    """Tell whether every request of every run answered (no failures)."""
    return all(load.wrk.failed == 0 for loads in results.values() for load in loads)


if __name__ == "__main__":
    sys.exit(main())
