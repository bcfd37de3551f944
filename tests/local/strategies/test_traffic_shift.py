"""Linear and canary releases through the real Traefik, under steady load on the listener.

Clients keep GETting /movie on the listener's published port the whole time; each answer
names the replica that served it, so the share green answered at each step can be counted.

How close a share must be: Traefik's weighted round robin is deterministic, but nothing
promises which request of the window comes first, and a test must not be tuned to one
scheduler. So each step's share is held to a binomial bound: with n answers in the window and
the step's weight p, the count from green is Binomial(n, p) if each request picked a colour
at random, and |share - p| <= 4 sqrt(p (1 - p) / n) fails a correct split about 6 times in
100,000 (4 sigma). n >= MIN_SAMPLE (150) keeps that bound below 17 points at p = 0.5 and
below 10 at p = 0.1, tight enough to tell every step from its neighbours. Measured here
(2 cores, paced load of ~50 requests a second, 9 s steps): 24.9/50.0/75.2 % on
n = 418/406/411 (bounds 8.5/9.9/8.5 points), the canary 9.9 % on n = 415 (bound 5.9); with
15 s steps, 25.0/50.0/75.0 % on n = 689/624/725; unpaced, with n of 10,000-13,000, exactly
25.0/50.0/75.0 and 10.0 %.

A green that loses Redis at the 50 % step: the rollback began 0.97-1.54 s later, with 11-17
requests failed (allowance 50) and 1-18 more while Traefik switched back (docs/releases.md).

What these can't prove: timings (the machine is shared), CloudWatch's own datapoints, or
anything about the ALB; they prove the local release moves production in ECS's steps, rolls
back on green's 5xx at the next check, and loses no request when green is healthy.
"""

from __future__ import annotations

import math
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator

import pytest

from bookingapp_infra.local.strategies.traffic_shift import ERROR_LIMIT, POLL
from tests.compose.edge import Traffic, assert_nothing_lost, derived_image
from tests.local.strategies.shifting import (
    CLIENTS,
    SERVICE,
    BlueGreenStack,
    assert_back_on_blue,
    green_of,
)

pytestmark = [pytest.mark.docker, pytest.mark.traefik]

MIN_SAMPLE = 150  # answers per step window, at least (see the module docstring)
SIGMAS = 4
# Each step held 9 s: its 8 s window gets ~350 answers at the paced load's ~45 a second,
# more than twice MIN_SAMPLE, so a host half as fast still passes on the share, not the count.
HOLD_MINUTES = "0.15"
HOLD_SECONDS = 9.0
# The rollback test's steps: the 25 % step is only waited through; the 50 % step must outlast
# the alarm (ERROR_LIMIT answers, then CHECK_SECONDS) so that "green 75%" never comes: 15 s is
# ten times CHECK_SECONDS.
ROLLBACK_HOLD_MINUTES = "0.25"
# Requests started this close to a step's end may meet the next step's weights: left out.
EDGE_SECONDS = 1.0
# How long after green's 6th 5xx the alarm may take to fire: up to one POLL until the
# release looks again, and up to two more for that look itself (Docker's inspect and
# Traefik's metrics on a busy 2-core machine).
CHECK_SECONDS = 3 * POLL
# Steady load: each client waits this long after each answer, about 15-20 requests a second
# per client here. Unpaced, 3 clients made ~700 a second; green then fails ~150 requests
# in the half second between two looks, and the allowance says little.
PAUSE = 0.05


def tolerance(p: float, n: int) -> float:
    """Return the 4-sigma binomial bound on a share of n answers whose expected share is p."""
    return SIGMAS * math.sqrt(p * (1 - p) / n)


def green_share(traffic: Traffic, green: set[str], start: float, end: float) -> tuple[float, int]:
    """Return the share of 200 answers green gave to requests started in [start, end), and n."""
    window = [a for a in traffic.since(start) if a.started < end and a.status == 200]
    n = len(window)
    return (sum(a.instance in green for a in window) / n if n else 0.0), n


def assert_steps(release, traffic: Traffic, green: set[str], weights: list[float]) -> list[str]:
    """Each held step's green share is its weight within tolerance; return what was measured."""
    measured = []
    for weight in weights:
        start = release.when(f"green {weight:g}%,")
        share, n = green_share(traffic, green, start, start + HOLD_SECONDS - EDGE_SECONDS)
        bound = tolerance(weight / 100, n)
        measured.append(f"{weight:g} %: {100 * share:.1f} % of {n} (bound {100 * bound:.1f})")
        assert n >= MIN_SAMPLE, measured
        assert abs(share - weight / 100) <= bound, measured
    return measured


def test_linear_steps_split_production_as_weighted_and_no_request_fails(bluegreen):
    """25 % steps: at 25, 50 and 75 % green answers that share; status shows the weights."""
    blue = bluegreen.instances()
    before = bluegreen.edge.hits(SERVICE)
    production, _ = bluegreen.load(PAUSE)
    release = bluegreen.release(
        "--step-percent", "25", "--step-bake-time-minutes", HOLD_MINUTES,
        "--bake-time-minutes", "0", strategy="linear",
    )  # fmt: skip
    try:
        with production:
            release.wait_for_line("green 25%,")
            green = green_of(bluegreen, blue)
            shown = bluegreen.cli("status", SERVICE)
            assert release.finish() == 0, release.seen
            done = time.monotonic()
            production.wait_for(30, since=done)
        after = bluegreen.edge.hits(SERVICE)
    finally:
        release.kill()

    assert shown.returncode == 0, shown
    assert "linear IN_PROGRESS PRODUCTION_TRAFFIC_SHIFT" in shown.stdout
    assert "production traffic: green 25%, blue 75%" in shown.stdout
    print(assert_steps(release, production, green, [25, 50, 75]))
    assert_nothing_lost(before, after, production)
    assert bluegreen.instances() == green
    output = "\n".join(release.seen)
    for stage in ("TEST_TRAFFIC_SHIFT", "green 100%, blue 0%", "CLEAN_UP", "SUCCESSFUL"):
        assert stage in output


def test_a_canary_takes_its_share_then_everything_and_no_request_fails(bluegreen):
    """10 % to green for the canary's hold, then all of it; every hit counted once."""
    blue = bluegreen.instances()
    before = bluegreen.edge.hits(SERVICE)
    production, _ = bluegreen.load(PAUSE)
    release = bluegreen.release(
        "--canary-percent", "10", "--canary-bake-time-minutes", HOLD_MINUTES,
        "--bake-time-minutes", "0", strategy="canary",
    )  # fmt: skip
    try:
        with production:
            release.wait_for_line("green 10%,")
            green = green_of(bluegreen, blue)
            assert release.finish() == 0, release.seen
            done = time.monotonic()
            production.wait_for(30, since=done)
        after = bluegreen.edge.hits(SERVICE)
    finally:
        release.kill()

    print(assert_steps(release, production, green, [10]))
    assert_nothing_lost(before, after, production)
    assert bluegreen.instances() == green
    assert "green 100%, blue 0%" in "\n".join(release.seen)


@pytest.fixture
def redis_relay(bluegreen: BlueGreenStack) -> Iterator[str]:
    """A TCP relay to Redis on port RELAY_PORT in the Redis container's network namespace.

    Green, built to use that port, reaches the same Redis (and the same counter) through it
    while it runs; stopping it makes green alone fail its pages (503), healthy by its health
    check, which does not ask Redis: the case the 5xx alarm exists for. Yields the relay's
    container id.
    """
    (redis,) = bluegreen.edge.replicas("redis")
    # The app image has Python; compose labelled it a movie of this project when it built it,
    # so the relay overrides those labels: it is nobody's replica.
    relay = subprocess.run(
        ["docker", "run", "-d", "--rm", "--no-healthcheck", f"--network=container:{redis.id}",
         "--label", "com.docker.compose.project=bookingapp-test-relay",
         "--label", "com.docker.compose.service=relay",
         bluegreen.image, "python", "-c", RELAY],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    try:
        yield relay
    finally:
        subprocess.run(["docker", "rm", "-f", relay], check=False, capture_output=True)


RELAY_PORT = 6390
RELAY = textwrap.dedent(f"""
    import asyncio

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def relay(client_reader, client_writer):
        redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1", 6379)
        await asyncio.gather(pipe(client_reader, redis_writer), pipe(redis_reader, client_writer))

    async def main():
        server = await asyncio.start_server(relay, "0.0.0.0", {RELAY_PORT})
        await server.serve_forever()

    asyncio.run(main())
""")


def test_a_green_that_starts_failing_mid_way_rolls_back_at_the_next_check(bluegreen, redis_relay):
    """Green loses Redis at the 50 % step: the 5xx alarm fires at the next look, all to blue.

    Allowed before the rollback begins: the alarm's ERROR_LIMIT (5) plus what green can fail
    in CHECK_SECONDS. The paced load sends at most CLIENTS / PAUSE requests a second (each
    client waits PAUSE after every answer, however fast), green's half of them at the 50 %
    step: a bound that holds however fast green's 503s come back. After it begins, Traefik needs a moment to route by
    the rules that send everything back to blue; green's share of those requests fails too
    (counted, reported, not held to the allowance: the ALB has the same moment).
    """
    repository = bluegreen.image.rsplit(":", 1)[0]
    relayed = derived_image(
        bluegreen.image,
        f"{repository}:via-relay-{uuid.uuid4().hex[:8]}",
        f"ENV REDIS_PORT={RELAY_PORT}",
    )
    blue = bluegreen.instances()
    production, _ = bluegreen.load(PAUSE)
    release = bluegreen.release(
        "--step-percent", "25", "--step-bake-time-minutes", ROLLBACK_HOLD_MINUTES,
        "--bake-time-minutes", "0", strategy="linear", image=relayed,
    )  # fmt: skip
    try:
        with production:
            release.wait_for_line("green 50%,")
            subprocess.run(["docker", "kill", redis_relay], check=True, capture_output=True)
            killed = time.monotonic()
            assert release.finish() == 1, release.seen
            done = time.monotonic()
            production.wait_for(30, since=done)
    finally:
        release.kill()
        subprocess.run(["docker", "rmi", relayed], check=False, capture_output=True)

    output = "\n".join(release.seen)
    assert "alarm: green answered" in output, output
    assert "ROLLBACK_SUCCESSFUL" in output
    assert "green 75%" not in output  # rolled back during the 50 % step, not after it
    failed = [a for a in production.answers if a.status != 200]
    assert {a.status for a in failed} == {503}, failed  # green's own answers: never a drop
    began = release.when("rolling back")
    before_alarm = [a for a in failed if a.started < began]
    most = CLIENTS / PAUSE * 0.5  # green's share of the most the load can send, a second
    allowance = ERROR_LIMIT + math.ceil(most * CHECK_SECONDS)
    print(
        f"rollback began {began - killed:.2f} s after green lost Redis; failed before it: "
        f"{len(before_alarm)} (allowance {allowance}: {ERROR_LIMIT} + {most:g}/s x "
        f"{CHECK_SECONDS:g} s); during the switch back: {len(failed) - len(before_alarm)}"
    )
    assert ERROR_LIMIT < len(before_alarm) <= allowance
    assert_back_on_blue(bluegreen, production, blue, done)
