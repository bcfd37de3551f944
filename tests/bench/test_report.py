"""The report's arithmetic over rounds (medians, per-round ratios) and its markdown tables."""

from __future__ import annotations

import pytest

from bench.containers import StartTimes
from bench.load import Endpoints, Load, Target, WrkResult
from bench.redis_stats import RedisCounters
from bench.report import (
    Figure,
    ImageSizes,
    Spread,
    command_mix,
    cpu_ms_per_request,
    cpu_ratio,
    figure_table,
    figures,
    fmt,
    load_row,
    load_table,
    per_hit,
    throughput_ratios,
)


def load(
    rps: float,
    *,
    requests: int = 1000,
    cpu_s: float | None = None,
    counted: int = 0,
    redis: RedisCounters | None = None,
    p50: float = 5.0,
    p99: float = 40.0,
    failed: int = 0,
) -> Load:
    """Return one wrk run's record with the figures a test cares about."""
    wrk = WrkResult(requests=requests, rps=rps, p50_ms=p50, p99_ms=p99, failed=failed)
    return Load(wrk=wrk, cpu_s=cpu_s, counted=counted, redis=redis or RedisCounters())


def test_spread_takes_the_median_of_an_even_number_of_rounds_between_the_middle_two():
    assert Spread.of([0.5, 0.9, 0.7, 0.8]) == Spread(median=0.75, low=0.5, high=0.9)


def test_spread_prints_percentages_and_factors_with_the_rounds_range():
    spread = Spread(median=0.864, low=0.831, high=0.92)
    assert spread.percent() == "86 % (rounds 83-92)"
    assert Spread(median=2.66, low=2.31, high=2.84).times() == "2.7x (rounds 2.3-2.8)"
    assert Spread(median=1.094, low=0.931, high=1.571).times(2) == "1.09x (rounds 0.93-1.57)"


def test_throughput_ratio_pairs_runs_of_the_same_round_not_the_medians():
    # Round 1 is slow for both, round 2 fast for both: per round the page does 50 % then 80 %.
    page = [load(100), load(800), load(300)]
    health = [load(200), load(1000), load(500)]
    assert throughput_ratios(page, health) == Spread(median=0.6, low=0.5, high=0.8)


def test_throughput_ratio_refuses_endpoints_with_different_numbers_of_rounds():
    with pytest.raises(ValueError, match="shorter"):
        throughput_ratios([load(1), load(2)], [load(1)])


def test_per_hit_divides_by_each_runs_counted_hits_and_skips_runs_without_any():
    loads = [
        load(1, counted=100, redis=RedisCounters(commands=200, writes=40)),
        load(1, counted=0, redis=RedisCounters(commands=999, writes=999)),
        load(1, counted=50, redis=RedisCounters(commands=150, writes=30)),
    ]
    assert per_hit(loads, lambda r: r.commands) == pytest.approx(2.5)  # median of 2.0 and 3.0
    assert per_hit(loads, lambda r: r.writes) == pytest.approx(0.5)  # median of 0.4 and 0.6
    assert per_hit([load(1)], lambda r: r.commands) is None


def test_cpu_per_request_is_the_median_over_runs_whose_cpu_time_was_read():
    loads = [
        load(1, requests=1000, cpu_s=0.5),
        load(1, cpu_s=None),
        load(1, requests=2000, cpu_s=2),
    ]
    assert cpu_ms_per_request(loads) == pytest.approx(0.75)  # 0.5 and 1.0 ms per request
    assert cpu_ms_per_request([load(1)]) is None


def test_cpu_ratio_is_none_when_either_side_was_not_measured():
    measured = [load(1, requests=1000, cpu_s=1.0)]
    cheaper = [load(1, requests=1000, cpu_s=0.5)]
    assert cpu_ratio(cheaper, measured) == pytest.approx(0.5)
    assert cpu_ratio([load(1)], measured) is None


def test_fmt_says_n_a_for_a_figure_not_measured():
    assert fmt(None) == "n/a"
    assert fmt(0.4567) == "0.46"
    assert fmt(2.25, "{:.1f} s") == "2.2 s"


def test_load_row_prints_medians_total_failures_and_redis_work_per_hit():
    loads = [
        load(900, p50=6.0, p99=50.0, cpu_s=0.5, counted=100, failed=1,
             redis=RedisCounters(commands=220, writes=37)),
        load(1100, p50=7.0, p99=40.0, cpu_s=0.6, counted=100, failed=2,
             redis=RedisCounters(commands=200, writes=33)),
        load(1000, p50=5.0, p99=45.0, cpu_s=0.7, counted=100,
             redis=RedisCounters(commands=210, writes=35)),
    ]  # fmt: skip
    assert load_row("home `GET /home` (HTML page)", loads) == (
        "| home `GET /home` (HTML page) | 1000 | 6.0 | 45.0 | 0.60 | 3 | 2.10 | 0.35 |"
    )


def test_load_row_of_an_endpoint_that_counts_nothing_shows_no_redis_work():
    # The health path's runs still see Redis move (the benchmark's own reads): not its work.
    loads = [load(2000, cpu_s=None, redis=RedisCounters(commands=9, writes=9))]
    assert load_row("health", loads) == "| health | 2000 | 5.0 | 40.0 | n/a | 0 | 0.00 | 0.00 |"


def target(label: str) -> Target:
    """Return a target that only its label tells apart."""
    return Target(label, "c", "/", "*/*", None)


def test_load_table_has_a_header_naming_the_cpu_limit_and_one_row_per_target_in_order():
    second, first = target("second"), target("first")
    lines = load_table([first, second], {second: [load(2)], first: [load(1)]}, "0.5")
    assert lines[0].startswith("| endpoint (--cpus 0.5) | req/s | p50 ms | p99 ms |")
    assert lines[1] == "|---|---:|---:|---:|---:|---:|---:|---:|"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| first", "| second"]


def test_command_mix_leaves_out_the_benchmarks_own_commands_and_counts_get_only_above_half():
    page = [
        load(1, counted=100, redis=RedisCounters(calls={"evalsha": 35, "info": 4, "get": 1})),
    ]
    assert command_mix(page) == "EVALSHA 0.35"
    baseline = [load(1, counted=100, redis=RedisCounters(calls={"incrby": 100, "get": 101}))]
    assert command_mix(baseline) == "INCRBY 1.00, GET 1.01"


def endpoints(with_alt: bool) -> Endpoints:
    """Return the run's endpoints, with or without the second home."""
    alt = {"alt_page": target("alt page"), "alt_json": target("alt json")} if with_alt else {}
    return Endpoints(target("health"), target("page"), target("json"), target("baseline"), **alt)


def results_for(chosen: Endpoints) -> dict[Target, list[Load]]:
    """Return one round per endpoint: health 1000 req/s, pages 900, baseline 400, alt 600."""
    rps = {"health": 1000, "page": 900, "json": 900, "baseline": 400}
    return {
        t: [load(rps.get(t.label, 600), cpu_s=0.5 if t.label == "health" else 0.6)]
        for t in chosen.all()
    }


def test_figures_name_each_ratio_by_its_endpoints_not_by_the_order_of_the_results():
    chosen = endpoints(with_alt=False)
    results = results_for(chosen)
    shuffled = dict(reversed(results.items()))  # rows are looked up by role, not position
    rows = figures(chosen, shuffled, StartTimes(0.64, 10.7), ImageSizes(13e6, 32e6), "")
    values = {row.name: row.value for row in rows}
    assert values["`GET /home` / `GET /home/health` throughput, HTML page"] == (
        "90 % (rounds 90-90)"
    )
    assert values["page throughput vs baseline, same CPU limit (throughput per CPU)"] == (
        "2.2x (rounds 2.2-2.2)"
    )
    assert values["health / page CPU time per request, HTML page"] == "83 %"
    assert values["home image: added on top of the base image"] == "13 MB"
    assert values["`docker run` -> first 200 on /home/health"] == "0.6 s"
    assert values["`docker compose up --wait` of every service but traefik -> all healthy"] == "n/a"
    assert not any("default /" in name for name in values)


def test_figures_compare_the_second_home_only_when_it_ran():
    chosen = endpoints(with_alt=True)
    rows = figures(
        chosen, results_for(chosen), StartTimes(1, 11, 6.6), ImageSizes(1, 1), "COUNTER=0"
    )
    values = {row.name: row.value for row in rows}
    assert values["`GET /home` throughput, default / COUNTER=0, HTML page"] == (
        "1.5x (rounds 1.5-1.5)"
    )
    assert values["COUNTER=0: `GET /home` / `GET /home/health` throughput, HTML page"] == (
        "60 % (rounds 60-60)"
    )
    assert (
        values["`docker compose up --wait` of every service but traefik -> all healthy"] == "6.6 s"
    )


def test_figure_table_is_a_two_column_markdown_table():
    assert figure_table([Figure("a", "1 %"), Figure("b", "2x")]) == [
        "| figure | value |",
        "|---|---:|",
        "| a | 1 % |",
        "| b | 2x |",
    ]
