"""The report: medians and ratios over rounds, and the markdown tables that show them."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bench.containers import StartTimes
from bench.load import Endpoints, Load, Target
from bench.redis_stats import RedisCounters

# GET is also what the benchmark itself reads, INFO and AUTH are its own readings.
BENCH_OWN_COMMANDS = ("info", "get", "auth")


def median(values: list[float]) -> float:
    """Return the median, the figure least moved by a noisy neighbour on shared cores."""
    return statistics.median(values)


@dataclass(frozen=True)
class Spread:
    """The median of per-round values, with the lowest and highest round."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        """Summarise per-round values."""
        return cls(median=median(values), low=min(values), high=max(values))

    def percent(self) -> str:
        """Say it as a percentage (values are fractions): '86 % (rounds 83-92)'."""
        return f"{100 * self.median:.0f} % (rounds {100 * self.low:.0f}-{100 * self.high:.0f})"

    def times(self, decimals: int = 1) -> str:
        """Say it as a factor: '2.7x (rounds 2.3-2.8)'."""
        d = decimals
        return f"{self.median:.{d}f}x (rounds {self.low:.{d}f}-{self.high:.{d}f})"


@dataclass(frozen=True)
class Figure:
    """One row of the derived figures: what it is, and its value as printed."""

    name: str
    value: str


@dataclass(frozen=True)
class ImageSizes:
    """Bytes each image adds on top of the base image."""

    home_added: int
    baseline_added: int


def throughput_ratios(numerators: list[Load], denominators: list[Load]) -> Spread:
    """Return the per-round throughput ratios of two endpoints loaded in the same rounds."""
    # Runs of one round are seconds apart, so a noisy neighbour on the shared cores moves
    # both sides of a ratio alike; the median then drops the rounds it hit unevenly.
    return Spread.of([a.wrk.rps / b.wrk.rps for a, b in zip(numerators, denominators, strict=True)])


def per_hit(loads: list[Load], pick: Callable[[RedisCounters], float]) -> float | None:
    """Return a Redis counter's median increase per counted hit, or None without hits."""
    ratios = [pick(load.redis) / load.counted for load in loads if load.counted]
    return median(ratios) if ratios else None


def cpu_ms_per_request(loads: list[Load]) -> float | None:
    """Return the median CPU milliseconds the container spent per answered request."""
    ratios = [
        1000 * load.cpu_s / load.wrk.requests for load in loads if load.cpu_s and load.wrk.requests
    ]
    return median(ratios) if ratios else None


def cpu_ratio(numerator: list[Load], denominator: list[Load]) -> float | None:
    """Return the ratio of the two endpoints' median CPU time per request."""
    a, b = cpu_ms_per_request(numerator), cpu_ms_per_request(denominator)
    return a / b if a and b else None


def fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    """Format a figure, or say it was not measured."""
    return "n/a" if value is None else pattern.format(value)


def load_row(label: str, loads: list[Load]) -> str:
    """Return one endpoint's markdown row: medians over its rounds."""
    counts = any(load.counted for load in loads)
    commands = per_hit(loads, lambda r: r.commands) if counts else 0.0
    trips = per_hit(loads, lambda r: r.writes) if counts else 0.0
    return (
        f"| {label} | {median([x.wrk.rps for x in loads]):.0f} "
        f"| {median([x.wrk.p50_ms for x in loads]):.1f} "
        f"| {median([x.wrk.p99_ms for x in loads]):.1f} "
        f"| {fmt(cpu_ms_per_request(loads))} | {sum(x.wrk.failed for x in loads)} "
        f"| {fmt(commands)} | {fmt(trips)} |"
    )


def load_table(targets: list[Target], results: Mapping[Target, list[Load]], cpus: str) -> list[str]:
    """Return the markdown lines of the load figures, one row per endpoint."""
    return [
        f"| endpoint (--cpus {cpus}) | req/s | p50 ms | p99 ms | CPU ms/req | failed "
        "| Redis cmds/hit | round trips/hit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(load_row(target.label, results[target]) for target in targets),
    ]


def command_mix(loads: list[Load]) -> str:
    """Say which Redis commands a counted hit caused, per hit."""
    mix = {}
    for name in sorted({n for load in loads for n in load.redis.calls}):
        share = per_hit(loads, lambda r, name=name: r.calls.get(name, 0))
        if share and share > 0.005 and name not in BENCH_OWN_COMMANDS:
            mix[name.upper()] = share
    # The benchmark reads the counter with GET once per run: count GET only for the baseline.
    get = per_hit(loads, lambda r: r.calls.get("get", 0))
    if get and get > 0.5:
        mix["GET"] = get
    return ", ".join(f"{name} {share:.2f}" for name, share in mix.items())


def figures(
    endpoints: Endpoints,
    results: Mapping[Target, list[Load]],
    times: StartTimes,
    sizes: ImageSizes,
    alt_named: str,
) -> list[Figure]:
    """Return the derived figures: ratios between endpoints, sizes, start times."""
    health, baseline = results[endpoints.health], results[endpoints.baseline]
    page, page_json = results[endpoints.page], results[endpoints.page_json]
    health_cpu = cpu_ratio(health, page)
    rows = [
        Figure(
            "`GET /home` / `GET /home/health` throughput, HTML page",
            throughput_ratios(page, health).percent(),
        ),
        Figure(
            "`GET /home` / `GET /home/health` throughput, JSON page",
            throughput_ratios(page_json, health).percent(),
        ),
        Figure(
            "health / page CPU time per request, HTML page",
            fmt(None if health_cpu is None else 100 * health_cpu, "{:.0f} %"),
        ),
        Figure(
            "page throughput vs baseline, same CPU limit (throughput per CPU)",
            throughput_ratios(page, baseline).times(),
        ),
        Figure(
            "page requests per CPU-second vs baseline",
            fmt(cpu_ratio(baseline, page), "{:.1f}x"),
        ),
        Figure("Redis commands per hit, home page", command_mix(page + page_json)),
        Figure("Redis commands per hit, baseline", command_mix(baseline)),
        Figure("home image: added on top of the base image", f"{sizes.home_added / 1e6:.0f} MB"),
        Figure(
            "baseline image: added on top of the base image",
            f"{sizes.baseline_added / 1e6:.0f} MB",
        ),
        Figure("`docker run` -> first 200 on /home/health", f"{times.serving_s:.1f} s"),
        Figure(
            "`docker run` -> Docker says healthy (image HEALTHCHECK: first check at 10 s)",
            f"{times.healthy_s:.1f} s",
        ),
        Figure(
            "`docker compose up --wait` of every service but traefik -> all healthy",
            fmt(times.compose_s, "{:.1f} s"),
        ),
    ]
    if endpoints.floor is not None:
        rows.insert(
            0,
            Figure(
                "`GET /home/health` / the framework's floor throughput (bench/floor.py)",
                throughput_ratios(health, results[endpoints.floor]).percent(),
            ),
        )
    if endpoints.alt_page is not None and endpoints.alt_json is not None:
        alt_page, alt_json = results[endpoints.alt_page], results[endpoints.alt_json]
        rows += [
            Figure(
                f"`GET /home` throughput, default / {alt_named}, HTML page",
                throughput_ratios(page, alt_page).times(),
            ),
            Figure(
                f"`GET /home` throughput, default / {alt_named}, JSON page",
                throughput_ratios(page_json, alt_json).times(),
            ),
            Figure(
                f"{alt_named}: `GET /home` / `GET /home/health` throughput, HTML page",
                throughput_ratios(alt_page, health).percent(),
            ),
        ]
    return rows


def figure_table(rows: list[Figure]) -> list[str]:
    """Return the markdown lines of the derived figures."""
    return [
        "| figure | value |",
        "|---|---:|",
        *(f"| {row.name} | {row.value} |" for row in rows),
    ]
