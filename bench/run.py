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
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-" + secrets.token_hex(8)
# Inside the app container nothing listens on port 9: neighbours are refused at once.
REFUSING_NEIGHBOURS = "http://127.0.0.1:9/{name}/ready"
HOME_KEY = "bookingapp:home:hits"
BASELINE_KEY = "hits"
TO_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}  # wrk prints minutes on a starved host
REDIS_STATS = ("total_commands_processed", "total_reads_processed", "total_writes_processed")


@dataclass
class Load:
    """One wrk run: what it reports, and what it cost the app container and Redis."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int
    cpu_s: float | None = None
    counted: int = 0
    redis: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """An endpoint to load: which container, which path, which Accept header."""

    label: str
    container: str
    path: str
    accept: str
    key: str | None  # the Redis key its hits land in, if it counts


def run(*command: str, check: bool = True, timeout: float = 900) -> str:
    """Run a command and return its stdout; stop with its stderr when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:5])} ... failed:\n{result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def parse_wrk(output: str) -> Load:
    """Read requests, throughput, p50/p99 and failures from `wrk --latency` output."""

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)$", output, re.M).groups()
        return float(value) * TO_MS[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(non_2xx.group(1)) if non_2xx else 0
    failed += sum(int(n) for n in socket.groups()) if socket else 0
    return Load(
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        failed=failed,
    )


def cgroup_cpu_seconds(container_id: str) -> float | None:
    """Return the CPU time the container has used so far, from its cgroup (v1 or v2)."""
    v1 = [
        f"/sys/fs/cgroup/{d}/docker/{container_id}/cpuacct.usage"
        for d in ("cpuacct", "cpu,cpuacct")
    ]
    for path in map(Path, v1):
        if path.exists():
            return int(path.read_text()) / 1e9
    v2 = [f"system.slice/docker-{container_id}.scope", f"docker/{container_id}"]
    for path in (Path("/sys/fs/cgroup") / d / "cpu.stat" for d in v2):
        if path.exists():
            usage = re.search(r"^usage_usec (\d+)$", path.read_text(), re.M)
            return int(usage.group(1)) / 1e6
    return None


class Bench:
    """Everything one run creates, named with one random suffix, and its removal."""

    def __init__(self, python_image: str, redis_image: str, cpus: str) -> None:
        self.suffix = secrets.token_hex(3)
        self.python_image = python_image
        self.redis_image = redis_image
        self.cpus = cpus
        self.network = f"bench-{self.suffix}"
        self.containers: list[str] = []
        self.images: list[str] = []
        self.redis = f"bench-{self.suffix}-redis"
        self.idle_redis: dict[str, float] = {}

    def build(self, role: str, context: Path, *args: str) -> str:
        """Build an image from the context and return its tag."""
        tag = f"bench-{self.suffix}/{role}:local"
        self.images.append(tag)
        run(
            "docker",
            "build",
            "-q",
            "--build-arg",
            f"PYTHON_IMAGE={self.python_image}",
            *args,
            "-t",
            tag,
            str(context),
        )
        return tag

    def start(self, role: str, image: str, options: list[str], command: list[str]) -> str:
        """Start a detached container on the run's network and return its name."""
        name = f"bench-{self.suffix}-{role}"
        self.containers.append(name)
        # The engine discards the logs: shipping them costs the host, not the app, and on two
        # shared cores it would steal from the load generator. The app still writes each line.
        run(
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            self.network,
            "--log-driver",
            "none",
            *options,
            image,
            *command,
        )
        return name

    def start_redis(self) -> None:
        """Start Redis as compose.yaml does: a password, AOF on, the official image's uid."""
        self.start(
            "redis",
            self.redis_image,
            ["--user", "999", "--network-alias", "redis"],
            ["redis-server", "--requirepass", PASSWORD, "--appendonly", "yes"],
        )
        wait_for(lambda: self.redis_cli("PING") == "PONG", 20, "Redis did not answer PING")
        before = self.redis_info()
        self.idle_redis = delta(before, self.redis_info())  # what two INFO calls cost by themselves

    def start_app(self, role: str, image: str, env: dict[str, str], command: list[str]) -> str:
        """Start an app with the CPU limit, its port published on loopback for the start probe."""
        options = ["--cpus", self.cpus, "-p", "127.0.0.1::5000"]
        for key, value in env.items():
            options += ["-e", f"{key}={value}"]
        return self.start(role, image, options, command)

    def redis_cli(self, *args: str) -> str:
        """Run redis-cli inside the Redis container."""
        return run(
            "docker", "exec", "-e", f"REDISCLI_AUTH={PASSWORD}", self.redis, "redis-cli", *args
        )

    def redis_info(self) -> dict[str, float]:
        """Return Redis's command and network counters."""
        info = self.redis_cli("INFO", "stats")
        values = {k: float(v) for k, v in re.findall(r"^(\w+):([\d.]+)\r?$", info, re.M)}
        stats = {name: values[name] for name in REDIS_STATS}
        commands = self.redis_cli("INFO", "commandstats")
        for command, calls in re.findall(r"^cmdstat_(\S+):calls=(\d+)", commands, re.M):
            stats[f"cmd:{command}"] = float(calls)
        return stats

    def hits(self, key: str) -> int:
        """Return a counter's value in Redis."""
        return int(self.redis_cli("GET", key) or 0)

    def cleanup(self) -> None:
        """Remove the containers, network and images this run created."""
        if self.containers:
            run("docker", "rm", "-f", "-v", *self.containers, check=False)
        run("docker", "network", "rm", self.network, check=False)
        if self.images:
            run("docker", "rmi", *self.images, check=False)


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Return how much each counter moved."""
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


def wait_for(check: Callable[[], bool], timeout: float, message: str) -> float:
    """Poll until check() is true; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except (RuntimeError, OSError):
            pass  # not up yet
        time.sleep(0.05)
    raise RuntimeError(f"{message} within {timeout} s")


def answers_200(url: str) -> bool:
    """Tell whether a GET of the URL answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback URL
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def inspect(container: str, template: str) -> str:
    """Return one field of `docker inspect`."""
    return run("docker", "inspect", "-f", template, container)


def host_url(container: str, path: str) -> str:
    """Return the URL of the container's published port on loopback."""
    port = run("docker", "port", container, "5000").splitlines()[0].rsplit(":", 1)[1]
    return f"http://127.0.0.1:{port}{path}"


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


def measure(bench: Bench, target: Target, seconds: float, connections: int) -> Load:
    """Load one endpoint once; attribute the container's CPU and Redis's work to it."""
    container_id = inspect(target.container, "{{.Id}}")
    redis_before = bench.redis_info()
    counted_before = bench.hits(target.key) if target.key else 0
    cpu_before = cgroup_cpu_seconds(container_id)
    output = run(*wrk_command(target.container, target.path, target.accept, seconds, connections))
    cpu_after = cgroup_cpu_seconds(container_id)
    load = parse_wrk(output)
    load.counted = (bench.hits(target.key) - counted_before) if target.key else 0
    load.redis = {
        k: v - bench.idle_redis.get(k, 0)
        for k, v in delta(redis_before, bench.redis_info()).items()
    }
    if cpu_before is not None and cpu_after is not None:
        load.cpu_s = cpu_after - cpu_before
    return load


def start_timed(
    bench: Bench, role: str, image: str, env: dict[str, str], path: str
) -> tuple[float, float]:
    """Start an app; return seconds from `docker run` to its first 200 and to Docker's healthy."""
    started = time.monotonic()
    container = bench.start_app(role, image, env, [])
    url = host_url(container, path)
    wait_for(lambda: answers_200(url), 60, f"{role} did not serve {path}")
    serving = time.monotonic() - started
    status = "{{.State.Health.Status}}"
    wait_for(lambda: inspect(container, status) == "healthy", 90, f"{role} not healthy")
    return serving, time.monotonic() - started


def image_size(image: str) -> int:
    """Return an image's size in bytes."""
    return int(inspect(image, "{{.Size}}"))


def compose_up_seconds(bench: Bench) -> float | None:
    """Time `docker compose up --wait` of redis and the three apps (images prebuilt)."""
    if not (ROOT / "compose.yaml").exists():
        return None
    project = f"bench-{bench.suffix}-compose"
    env = {
        **os.environ,
        "DOCKERHUB_NAMESPACE": project,
        "TAG": "local",
        "PYTHON_IMAGE": bench.python_image,
        "REDIS_IMAGE": bench.redis_image,
    }
    compose = ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "-p", project]

    def call(*args: str) -> None:
        result = subprocess.run(
            [*compose, *args], capture_output=True, text=True, env=env, timeout=600, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"compose {args[0]} failed:\n{result.stderr[-2000:]}")

    services = ["redis", "home", "movie", "bus"]
    try:
        call("build", "home", "movie", "bus")  # not timed: building is not starting
        started = time.monotonic()
        call("up", "--detach", "--wait", "--wait-timeout", "120", *services)
        return time.monotonic() - started
    finally:
        subprocess.run(
            [
                *compose,
                "down",
                "--volumes",
                "--remove-orphans",
                "--rmi",
                "local",
                "--timeout",
                "10",
            ],
            capture_output=True,
            env=env,
            check=False,
        )
        images = [f"{project}/bookingapp-{s}:local" for s in ("home", "movie", "bus")]
        run("docker", "rmi", *images, check=False)


def median(values: list[float]) -> float:
    """Return the median, the figure least moved by a noisy neighbour on shared cores."""
    return statistics.median(values)


def per_hit(loads: list[Load], counter: str) -> float | None:
    """Return a Redis counter's median increase per counted hit, or None without hits."""
    ratios = [load.redis.get(counter, 0) / load.counted for load in loads if load.counted]
    return median(ratios) if ratios else None


def cpu_ms_per_request(loads: list[Load]) -> float | None:
    """Return the median CPU milliseconds the container spent per answered request."""
    ratios = [1000 * load.cpu_s / load.requests for load in loads if load.cpu_s and load.requests]
    return median(ratios) if ratios else None


def fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    """Format a figure, or say it was not measured."""
    return "n/a" if value is None else pattern.format(value)


def load_table(results: dict[str, list[Load]], cpus: str) -> list[str]:
    """Return the markdown rows of the load figures, one per endpoint."""
    lines = [
        f"| endpoint (--cpus {cpus}) | req/s | p50 ms | p99 ms | CPU ms/req | failed "
        "| Redis cmds/hit | round trips/hit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, loads in results.items():
        counts = any(load.counted for load in loads)
        commands = per_hit(loads, "total_commands_processed") if counts else 0.0
        trips = per_hit(loads, "total_writes_processed") if counts else 0.0
        lines.append(
            f"| {label} | {median([x.rps for x in loads]):.0f} "
            f"| {median([x.p50_ms for x in loads]):.1f} | {median([x.p99_ms for x in loads]):.1f} "
            f"| {fmt(cpu_ms_per_request(loads))} | {sum(x.failed for x in loads)} "
            f"| {fmt(commands)} | {fmt(trips)} |"
        )
    return lines


def command_mix(loads: list[Load]) -> str:
    """Say which Redis commands a counted hit caused, per hit."""
    mix = {}
    for key in sorted({k for load in loads for k in load.redis if k.startswith("cmd:")}):
        share = per_hit(loads, key)
        if share and share > 0.005 and key not in ("cmd:info", "cmd:get", "cmd:auth"):
            mix[key[4:].upper()] = share
    # GET is also what the benchmark itself reads, once per run: count it only for the baseline.
    get = per_hit(loads, "cmd:get")
    if get and get > 0.5:
        mix["GET"] = get
    return ", ".join(f"{name} {share:.2f}" for name, share in mix.items())


def run_loads(
    bench: Bench, targets: list[Target], args: argparse.Namespace
) -> dict[str, list[Load]]:
    """Load every target `rounds` times, rotating the order so no endpoint always goes first."""
    results: dict[str, list[Load]] = {t.label: [] for t in targets}
    for target in targets:  # warm-up: imports, pools, branch caches
        measure(bench, target, 2, args.connections)
    for round_number in range(args.rounds):
        shift = round_number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            load = measure(bench, target, args.duration, args.connections)
            results[target.label].append(load)
            print(
                f"  round {round_number + 1}: {target.label}: {load.rps:.0f} req/s", file=sys.stderr
            )
    return results


def main() -> int:
    """Build, start, load, measure, clean up; print the figures as a markdown table."""
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
    args = parser.parse_args()
    python_image = os.environ.get("PYTHON_IMAGE", "python:3.12.8-slim-bookworm")
    redis_image = os.environ.get("REDIS_IMAGE", "redis:7.4")
    bench = Bench(python_image, redis_image, args.cpus)
    try:
        return report(bench, args)
    finally:
        bench.cleanup()


def report(bench: Bench, args: argparse.Namespace) -> int:
    """Run every measurement and print the table."""
    print(f"building images from {bench.python_image} ...", file=sys.stderr)
    home_image = bench.build("home", args.source, "--build-arg", "SERVICE=home")
    baseline_image = bench.build("baseline", ROOT / "bench" / "baseline")
    run("docker", "network", "create", bench.network)
    bench.start_redis()
    home_env = {
        "REDIS_HOST": "redis",
        "REDIS_PASSWORD": PASSWORD,
        "NEIGHBOUR_URL_TEMPLATE": REFUSING_NEIGHBOURS,
    }
    home_env.update(item.split("=", 1) for item in args.app_env)
    serving, healthy = start_timed(bench, "home", home_image, home_env, "/home/health")
    base_env = {"REDIS_HOST": "redis", "REDIS_PASSWORD": PASSWORD}
    bench.start_app("baseline", baseline_image, base_env, [])
    wait_for(lambda: answers_200(host_url(bench.containers[-1], "/")), 60, "baseline not serving")
    home, baseline = f"bench-{bench.suffix}-home", f"bench-{bench.suffix}-baseline"
    targets = [
        Target(
            "home `GET /home/health` (no Redis)", home, "/home/health", "application/json", None
        ),
        Target("home `GET /home` (HTML page)", home, "/home", "text/html", HOME_KEY),
        Target("home `GET /home` (JSON)", home, "/home", "application/json", HOME_KEY),
        Target("baseline `GET /` (Flask dev server, INCR+GET)", baseline, "/", "*/*", BASELINE_KEY),
    ]
    if args.alt_env:
        # The same image with other settings, in the same rounds: a fair A/B on shared cores.
        alt = bench.start_app(
            "home-alt",
            home_image,
            {**home_env, **dict(item.split("=", 1) for item in args.alt_env)},
            [],
        )
        wait_for(lambda: answers_200(host_url(alt, "/home/health")), 60, "home-alt not serving")
        named = " ".join(args.alt_env)
        targets += [
            Target(
                f"home with {named} `GET /home` (HTML page)", alt, "/home", "text/html", HOME_KEY
            ),
            Target(
                f"home with {named} `GET /home` (JSON)", alt, "/home", "application/json", HOME_KEY
            ),
        ]
    print(
        f"loading: {args.rounds} rounds x {len(targets)} endpoints x {args.duration:g} s",
        file=sys.stderr,
    )
    results = run_loads(bench, targets, args)
    compose = None if args.no_compose else compose_up_seconds(bench)
    print_report(bench, args, results, (serving, healthy, compose), (home_image, baseline_image))
    return 0 if all(x.failed == 0 for loads in results.values() for x in loads) else 1


def ratio(numerators: list[Load], denominators: list[Load], unit: str = "%") -> str:
    """Return the median of the per-round throughput ratios, with their spread."""
    # Runs of one round are seconds apart, so a noisy neighbour on the shared cores moves
    # both sides of a ratio alike; the median then drops the rounds it hit unevenly.
    ratios = [a.rps / b.rps for a, b in zip(numerators, denominators, strict=True)]
    if unit == "%":
        ratios = [100 * r for r in ratios]
        return f"{median(ratios):.0f} % (rounds {min(ratios):.0f}-{max(ratios):.0f})"
    return f"{median(ratios):.1f}x (rounds {min(ratios):.1f}-{max(ratios):.1f})"


def cpu_ratio(numerator: list[Load], denominator: list[Load]) -> float | None:
    """Return the ratio of the two endpoints' median CPU time per request."""
    a, b = cpu_ms_per_request(numerator), cpu_ms_per_request(denominator)
    return a / b if a and b else None


def print_report(bench: Bench, args: argparse.Namespace, results, times, images) -> None:
    """Print the load table and the derived figures."""
    health, page, page_json, baseline, *alt = results.values()
    base_size = image_size(bench.python_image)
    per_cpu = cpu_ratio(baseline, page)
    rows = [
        ("`GET /home` / `GET /home/health` throughput, HTML page",
         ratio(page, health)),
        ("`GET /home` / `GET /home/health` throughput, JSON page",
         ratio(page_json, health)),
        ("health / page CPU time per request, HTML page",
         fmt(cpu_ratio(health, page) and 100 * cpu_ratio(health, page), "{:.0f} %")),
        ("page throughput vs baseline, same CPU limit (throughput per CPU)",
         ratio(page, baseline, "x")),
        ("page requests per CPU-second vs baseline", fmt(per_cpu, "{:.1f}x")),
        ("Redis commands per hit, home page", command_mix(page + page_json)),
        ("Redis commands per hit, baseline", command_mix(baseline)),
        ("home image: added on top of the base image",
         f"{(image_size(images[0]) - base_size) / 1e6:.0f} MB"),
        ("baseline image: added on top of the base image",
         f"{(image_size(images[1]) - base_size) / 1e6:.0f} MB"),
        ("`docker run` -> first 200 on /home/health", f"{times[0]:.1f} s"),
        ("`docker run` -> Docker says healthy (image HEALTHCHECK: first check at 10 s)",
         f"{times[1]:.1f} s"),
        ("`docker compose up --wait redis home movie bus` -> all healthy",
         fmt(times[2], "{:.1f} s")),
    ]  # fmt: skip
    if alt:
        named = " ".join(args.alt_env)
        rows += [
            (f"`GET /home` throughput, default / {named}, HTML page", ratio(page, alt[0], "x")),
            (
                f"`GET /home` throughput, default / {named}, JSON page",
                ratio(page_json, alt[1], "x"),
            ),
            (
                f"{named}: `GET /home` / `GET /home/health` throughput, HTML page",
                ratio(alt[0], health),
            ),
        ]
    print("\n".join(load_table(results, args.cpus)))
    print("\n| figure | value |\n|---|---:|")
    print("\n".join(f"| {name} | {value} |" for name, value in rows))
    print(
        f"\n{args.rounds} rounds x {args.duration:g} s per endpoint, wrk -t1 -c{args.connections}, "
        f"medians (ratios: median of per-round ratios); base image {bench.python_image}, "
        f"Redis {bench.redis_image}."
    )


if __name__ == "__main__":
    sys.exit(main())
