"""wrk's output read into a named record: figures, units, failures, and missing figures."""

from __future__ import annotations

import pytest

from bench.load import Endpoints, Target, WrkOutputError, parse_wrk

WRK = """\
Running 8s test @ http://127.0.0.1:5000/home
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.12ms    5.02ms  48.21ms   91.30%
    Req/Sec     2.14k   210.33     2.51k    78.75%
  Latency Distribution
     50%    6.51ms
     75%    7.89ms
     90%   10.12ms
     99%   44.80ms
  17056 requests in 8.00s, 5.21MB read
{failures}Requests/sec:   2131.93
Transfer/sec:    666.42KB
"""


def wrk_output(p50: str = "6.51ms", p99: str = "44.80ms", failures: str = "") -> str:
    """Return wrk --latency output with the given percentiles and failure lines."""
    return WRK.replace("6.51ms", p50, 1).replace("44.80ms", p99, 1).replace("{failures}", failures)


def test_parse_wrk_reads_requests_throughput_and_percentiles():
    result = parse_wrk(wrk_output())
    assert result.requests == 17056
    assert result.rps == pytest.approx(2131.93)
    assert result.p50_ms == pytest.approx(6.51)
    assert result.p99_ms == pytest.approx(44.80)
    assert result.failed == 0


@pytest.mark.parametrize(
    ("printed", "ms"),
    [("812.00us", 0.812), ("6.51ms", 6.51), ("1.20s", 1200.0), ("1.50m", 90_000.0)],
)
def test_parse_wrk_turns_every_latency_unit_into_milliseconds(printed, ms):
    assert parse_wrk(wrk_output(p99=printed)).p99_ms == pytest.approx(ms)


def test_parse_wrk_counts_non_2xx_answers_and_every_kind_of_socket_error_as_failed():
    failures = (
        "  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 5\n"
    )
    result = parse_wrk(wrk_output(failures=failures))
    assert result.failed == 15
    # Which failures, in wrk's words, for the round's line.
    assert result.failures == (
        "Non-2xx or 3xx responses: 5; Socket errors: connect 1, read 2, write 3, timeout 4"
    )


def test_parse_wrk_names_no_failures_when_there_are_none():
    assert parse_wrk(wrk_output()).failures == ""


def test_parse_wrk_does_not_take_the_p90_line_for_p50_or_p99():
    result = parse_wrk(wrk_output(p50="1.00ms", p99="9.00ms"))
    assert (result.p50_ms, result.p99_ms) == (pytest.approx(1.0), pytest.approx(9.0))


@pytest.mark.parametrize(
    ("cut", "named"),
    [("Requests/sec:", "Requests/sec"), (" 99% ", "p99"), ("requests in", "request count")],
)
def test_parse_wrk_names_the_figure_missing_from_its_output(cut, named):
    kept = [line for line in wrk_output().splitlines() if cut not in line]
    with pytest.raises(WrkOutputError, match=named):
        parse_wrk("\n".join(kept))


def target(label: str) -> Target:
    """Return a target that only its label tells apart."""
    return Target(label, "c", "/", "*/*", None)


def test_endpoints_list_the_second_home_after_the_four_fixed_rows_only_when_there_is_one():
    fixed = [target(n) for n in ("health", "page", "json", "baseline")]
    assert Endpoints(*fixed).all() == fixed
    alt = Endpoints(*fixed, alt_page=target("alt page"), alt_json=target("alt json"))
    assert [t.label for t in alt.all()] == [
        "health",
        "page",
        "json",
        "baseline",
        "alt page",
        "alt json",
    ]
