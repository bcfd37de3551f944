"""Group commit: concurrent hits share one round trip, and each still gets its own number."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from bookingapp_common.config import DEFAULTS
from bookingapp_common.counter import (
    PROBE_INTERVAL_SECONDS,
    CounterUnavailable,
    Hit,
    HitCounter,
    make_client,
)
from tests.support import wait_until
from tests.unit.conftest import PASSWORD


def counter_for(port: int, instance: str = "i-1", counter_class=HitCounter) -> HitCounter:
    """Return a counter for service `svc` on the Redis at the given loopback port."""
    config = {**DEFAULTS, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": port, "REDIS_PASSWORD": PASSWORD}
    return counter_class(make_client(config), "svc", instance)


def script_calls(client: redis.Redis) -> int:
    """Return how many counting round trips (script calls) Redis has executed so far."""
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))


class HeldFirstRoundTrip(HitCounter):
    """A counter whose first round trip waits until told to go, so others queue behind it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = threading.Event()
        self.go = threading.Event()
        self.batch_sizes: list[int] = []

    def _count(self, batch) -> tuple[int, int]:
        self.batch_sizes.append(batch.size)
        if len(self.batch_sizes) == 1:
            self.in_flight.set()
            self.go.wait(timeout=10)
        return super()._count(batch)


def test_a_lone_hit_is_one_incrby_sent_at_once(redis_server, redis_client):
    """Nothing waits for company: one hit, one script call, no added delay."""
    counter = counter_for(redis_server.port)
    counter.hit()  # connect first, so the timing below is the round trip only
    before = script_calls(redis_client)
    started = time.monotonic()
    hit = counter.hit()
    assert time.monotonic() - started < 0.1
    assert hit == Hit(hits=2, instance_hits=2)
    assert script_calls(redis_client) - before == 1


def open_batch_size(counter: HitCounter) -> int:
    """Return how many hits the batch now open for joining holds."""
    batch = counter._group._open
    return 0 if batch is None else batch.size


def test_hits_arriving_during_a_round_trip_share_the_next_one(redis_server, redis_client):
    """While one round trip is in flight, 7 more hits join one batch: 2 INCRBYs for 8 hits."""
    counter = counter_for(redis_server.port, counter_class=HeldFirstRoundTrip)
    before = script_calls(redis_client)
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = pool.submit(counter.hit)
        assert counter.in_flight.wait(timeout=5)
        rest = []
        for joined in range(1, 8):
            rest.append(pool.submit(counter.hit))
            # One at a time, so arrival order is known: each has joined before the next comes.
            wait_until(
                lambda joined=joined: open_batch_size(counter) == joined,
                5,
                f"hit {joined + 1} did not join the open batch",
                interval=0.005,
            )
        counter.go.set()
        hits = [first.result(), *(future.result() for future in rest)]
    assert counter.batch_sizes == [1, 7]
    assert script_calls(redis_client) - before == 2
    # Numbers are handed out in arrival order, not merely all of them once.
    assert [h.hits for h in hits] == list(range(1, 9))
    assert [h.instance_hits for h in hits] == list(range(1, 9))
    assert redis_client.get("bookingapp:svc:hits") == "8"


def test_numbers_stay_exact_across_instances_under_concurrency(redis_server, redis_client):
    """Two instances, 16 threads, 800 hits: every number once, each instance's own 1..n."""
    counters = [counter_for(redis_server.port, name) for name in ("a", "b")]

    def visit(number: int) -> tuple[str, Hit]:
        counter = counters[number % 2]
        return counter.instance, counter.hit()

    with ThreadPoolExecutor(max_workers=16) as pool:
        seen = list(pool.map(visit, range(800)))
    assert sorted(hit.hits for _, hit in seen) == list(range(1, 801))
    for name in ("a", "b"):
        own = sorted(hit.instance_hits for instance, hit in seen if instance == name)
        assert own == list(range(1, 401))
    assert redis_client.hgetall("bookingapp:svc:hits-by-instance") == {"a": "400", "b": "400"}


def test_hits_queued_behind_a_failing_round_trip_fail_with_it(silent_port):
    """A silent Redis: the first hit gives up in < 2 s, and those queued behind it too."""
    counter = counter_for(silent_port)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(counter.hit) for _ in range(6)]
        errors = [future.exception(timeout=10) for future in futures]
    assert time.monotonic() - started < 2
    assert all(isinstance(error, CounterUnavailable) for error in errors)
    assert all("127.0.0.1" in str(error) for error in errors)
    assert len({id(error) for error in errors}) == 6  # each request raises its own


class CountedCommits(HitCounter):
    """A counter that counts the batches it sends to Redis (script calls attempted)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.commits = 0
        self.in_flight = threading.Event()

    def _count(self, batch) -> tuple[int, int]:
        self.commits += 1
        self.in_flight.set()
        return super()._count(batch)


def test_a_batch_queued_behind_a_failed_round_trip_fails_with_it_without_asking_again(
    silent_port,
):
    """Redis just failed the round trip ahead: the batch behind it is answered, not sent.

    Sending it would make its visits wait out a second set of timeouts for the same dead
    Redis (docs/pitfalls.md #7).
    """
    counter = counter_for(silent_port, counter_class=CountedCommits)
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(counter.hit)
        assert counter.in_flight.wait(timeout=5)
        behind = [pool.submit(counter.hit) for _ in range(5)]
        wait_until(
            lambda: counter._group._open is not None and counter._group._open.size == 5,
            5,
            "the five hits did not queue behind the first round trip",
        )
        errors = [f.exception(timeout=10) for f in [first, *behind]]
    assert all(isinstance(error, CounterUnavailable) for error in errors)
    assert counter.commits == 1


def fail_while_stopped(counter: HitCounter, redis_server) -> None:
    """Stop Redis (connections refused), see a hit fail, start Redis again."""
    redis_server.stop()
    try:
        with pytest.raises(CounterUnavailable):
            counter.hit()
    finally:
        redis_server.start()


def test_the_counter_counts_again_once_redis_is_back(redis_server, redis_client):
    """A failed round trip does not fail later ones: within a probe interval hits count again."""
    counter = counter_for(redis_server.port)
    counter.hit()
    fail_while_stopped(counter, redis_server)

    def counts() -> Hit | None:
        try:
            return counter.hit()
        except CounterUnavailable:
            return None  # known down until the next probe

    started = time.monotonic()
    wait_until(lambda: counts() is not None, 3, "no hit counted after Redis came back", 0.005)
    assert time.monotonic() - started < PROBE_INTERVAL_SECONDS + 0.5
    hit = counter.hit()
    assert hit.hits == int(redis_client.get("bookingapp:svc:hits"))
    assert hit.instance_hits == int(redis_client.hget("bookingapp:svc:hits-by-instance", "i-1"))


class HeldWhenAsked(HitCounter):
    """A counter whose round trips, while `hold` is set, wait until `go` is set."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hold = threading.Event()
        self.in_flight = threading.Event()
        self.go = threading.Event()

    def _count(self, batch) -> tuple[int, int]:
        if self.hold.is_set():
            self.in_flight.set()
            self.go.wait(timeout=10)
        return super()._count(batch)


def test_a_burst_after_a_quiet_spell_since_an_outage_is_counted_in_full(redis_server, redis_client):
    """A worker idle since Redis came back does not refuse the burst that wakes it.

    Seen through the fault suite: a worker whose last round trip had failed kept "Redis is
    down" until its next visit; the first burst then sent one probe and refused the rest.
    """
    counter = counter_for(redis_server.port, counter_class=HeldWhenAsked)
    fail_while_stopped(counter, redis_server)
    time.sleep(2 * PROBE_INTERVAL_SECONDS + 0.2)  # idle: no visit, so nobody probed
    counter.hold.set()
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(counter.hit)
        assert counter.in_flight.wait(timeout=5)
        # The rest of the burst arrives while the first round trip is in flight.
        rest = [pool.submit(counter.hit) for _ in range(5)]
        wait_until(
            lambda: (
                any(f.done() for f in rest)
                or (counter._group._open and counter._group._open.size == 5)
            ),
            5,
            "the burst neither joined a batch nor was answered",
        )
        counter.go.set()
        hits = sorted(f.result(timeout=10).hits for f in [first, *rest])
    assert hits == [1, 2, 3, 4, 5, 6]
    assert redis_client.get("bookingapp:svc:hits") == "6"


def test_a_wrong_type_service_key_moves_neither_count(redis_server, redis_client):
    """The two updates happen together or not at all: a refused INCRBY leaves HINCRBY undone."""
    counter = counter_for(redis_server.port)
    redis_client.hset("bookingapp:svc:hits", "not", "a counter")  # INCRBY now fails
    redis_client.hset("bookingapp:svc:hits-by-instance", "i-1", "41")
    for _ in range(3):
        with pytest.raises(CounterUnavailable, match="answered with an error: WRONGTYPE"):
            counter.hit()
    assert redis_client.hget("bookingapp:svc:hits-by-instance", "i-1") == "41"
    redis_client.delete("bookingapp:svc:hits")
    assert counter.hit() == Hit(hits=1, instance_hits=42)


def test_a_broken_instance_count_moves_neither_count(redis_server, redis_client):
    """A refused HINCRBY undoes the INCRBY in the same script: the service count stays."""
    counter = counter_for(redis_server.port)
    redis_client.set("bookingapp:svc:hits", "10")
    redis_client.hset("bookingapp:svc:hits-by-instance", "i-1", "not a number")
    with pytest.raises(CounterUnavailable, match="answered with an error"):
        counter.hit()
    assert redis_client.get("bookingapp:svc:hits") == "10"
