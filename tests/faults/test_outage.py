"""A Redis outage under load: liveness stays up, the page says 503 fast, nothing restarts."""

from __future__ import annotations

import time

import pytest

from tests.faults.stack import Load, latency
from tests.support import JSON, http_get, pause_container, unpause_container, wait_until

pytestmark = pytest.mark.docker

OUTAGE_SECONDS = 5
# The counter gives up within ~1.5 s (0.4 s per attempt, 2 retries, backoff); 503 must be
# quicker than this, even for a request that queued behind a failing round trip.
FAST_503 = 2.5


def identity(stack, service: str) -> list[tuple[str, int, str]]:
    """Return (id, restart count, start time) of each replica: unchanged means not restarted."""
    return [
        (c["Id"], c["RestartCount"], c["State"]["StartedAt"]) for c in stack.containers(service)
    ]


def test_a_silent_redis_gives_fast_503s_live_health_and_recovery_in_seconds(stack):
    """Redis frozen (docker pause: connections hang) for 5 s while both replicas serve."""
    replicas = stack.addresses("movie")
    redis = stack.containers("redis")[0]["Id"]
    before = identity(stack, "movie")
    health: list[int] = []
    with Load(replicas, threads=8) as load:
        wait_until(lambda: sum(a.status == 200 for a in load.answers) >= 100, 30, "no load")
        pause_container(redis)
        paused = time.monotonic()
        try:
            while time.monotonic() - paused < OUTAGE_SECONDS:
                health += [
                    http_get(f"http://{replica}/movie/health", JSON, timeout=10).status
                    for replica in replicas
                ]
                time.sleep(0.2)
        finally:
            unpausing = time.monotonic()  # Redis answers again before `docker unpause` returns
            unpause_container(redis)
        resumed = time.monotonic()
        recovered = wait_until(
            lambda: any(a.status == 200 for a in load.since(resumed)),
            10,
            "no 200 after Redis returned",
        )
    during = [a for a in load.answers if paused + FAST_503 < a.started and a.ended < unpausing]
    assert during, "no request fell inside the outage"
    assert {a.status for a in during} == {503}
    assert max(latency(a) for a in during) < FAST_503
    assert set(health) == {200}
    assert recovered < 5
    # The page never failed any other way (no 500, no dropped connection) before or after.
    assert {a.status for a in load.answers} == {200, 503}
    assert identity(stack, "movie") == before
    assert {c["State"]["Health"]["Status"] for c in stack.containers("movie")} == {"healthy"}
