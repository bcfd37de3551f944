"""The counter's edges without a Redis: the breaker's clock, peek's limits, its messages.

tests/unit/test_counter_*.py prove the counting against a real Redis. These pin, on a fake
clock and a fake wire, what those can show only slowly or not at all: when the breaker lets
a probe through, how long a readiness probe waits behind a round trip in flight, and the
exact sentence each failure becomes.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask import Flask
from redis.backoff import ExponentialBackoff

from bookingapp_common import counter
from bookingapp_common._wire import pack
from bookingapp_common.counter import Breaker, CounterUnavailable, HitCounter
from tests.support import free_port


class Clock:
    """Stands in for the counter module's `time`: a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        """Return the fake time."""
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Give the counter module a fake clock (only its own reference to `time`)."""
    fake = Clock()
    monkeypatch.setattr(counter, "time", fake)
    return fake


def refused(breaker: Breaker) -> str | None:
    """Return the refusal's message if the breaker refuses the caller, else None."""
    try:
        breaker.admit()
    except CounterUnavailable as error:
        return str(error)
    return None


def test_a_closed_breaker_admits_everyone(clock):
    """Before any failure, every caller may ask Redis."""
    breaker = Breaker(probe_interval=0.5, probe_budget=1.4)
    assert [refused(breaker) for _ in range(3)] == [None, None, None]


def test_an_open_breaker_refuses_with_the_reason_and_the_probe_interval(clock):
    """After a failure callers fail at once, told why and how often Redis is asked again."""
    breaker = Breaker(probe_interval=0.5, probe_budget=1.4)
    breaker.failed("the hit counter at h:1 is not answering (TimeoutError)")
    clock.now += 0.499
    assert refused(breaker) == (
        "the hit counter at h:1 is not answering (TimeoutError); Redis is asked again every 0.5 s"
    )


def test_one_probe_is_let_through_once_the_interval_has_passed(clock):
    """Exactly probe_interval after the failure, one caller goes through; the next does not."""
    breaker = Breaker(probe_interval=0.5, probe_budget=1.4)
    breaker.failed("down")
    clock.now += 0.5
    assert refused(breaker) is None
    assert refused(breaker) == "down; Redis is asked again every 0.5 s"


def test_the_next_probe_waits_for_the_probes_budget_and_the_interval(clock):
    """A probe that never reports blocks others for its budget plus one interval, no longer."""
    breaker = Breaker(probe_interval=0.5, probe_budget=1.4)
    breaker.failed("down")
    clock.now += 0.5
    assert refused(breaker) is None  # the probe, at t0 + 0.5
    clock.now += 1.4 + 0.5 - 0.001
    assert refused(breaker) is not None
    clock.now += 0.001
    assert refused(breaker) is None  # the next probe


def test_a_success_closes_the_breaker(clock):
    """Redis answered: everyone is let through again at once."""
    breaker = Breaker(probe_interval=0.5, probe_budget=1.4)
    breaker.failed("down")
    breaker.succeeded()
    assert [refused(breaker) for _ in range(2)] == [None, None]


def test_a_failure_during_a_probe_restarts_the_interval(clock):
    """The probe failing again means another full interval of failing fast."""
    breaker = Breaker(probe_interval=0.5, probe_budget=1.4)
    breaker.failed("down")
    clock.now += 0.5
    assert refused(breaker) is None
    breaker.failed("still down")
    clock.now += 0.499
    assert refused(breaker) == "still down; Redis is asked again every 0.5 s"
    clock.now += 0.001
    assert refused(breaker) is None


class FakeWire:
    """Stands in for the counter's wire: records each call, answers from a script."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[list[bytes], float, bool]] = []

    def call(self, packed: list[bytes], deadline: float, *, idempotent: bool) -> Any:
        """Record the call; return the next reply or raise it."""
        self.calls.append((packed, deadline, idempotent))
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class BusyLock:
    """A wire lock some other round trip holds for longer than anyone waits."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Record how long the caller was willing to wait; it never gets the lock."""
        self.timeouts.append(timeout)
        return False

    def release(self) -> None:
        """Never reached: the lock was not taken."""
        raise AssertionError("released a lock that was not taken")


def home_counter(wire: FakeWire | None = None) -> HitCounter:
    """Return home's counter for a Redis at redis.test:6390, on a fake wire."""
    hits = HitCounter(redis.Redis(host="redis.test", port=6390), "home", "i-1")
    if wire is not None:
        hits._wire = wire  # type: ignore[assignment]
    return hits


def test_peek_reads_the_count_with_one_retried_get_within_the_budget(clock):
    """A readiness probe sends GET of the service's key, resendable, by now + 1 s."""
    wire = FakeWire(b"41")
    assert home_counter(wire).peek() == 41
    assert wire.calls == [(pack("GET", "bookingapp:home:hits"), clock.now + 1.0, True)]


def test_peek_of_a_counter_never_written_is_zero(clock):
    """No key yet (nobody visited): the count is 0."""
    assert home_counter(FakeWire(None)).peek() == 0


def test_peek_waits_half_the_budget_behind_a_round_trip_then_says_busy(clock):
    """Behind a round trip that does not end, a probe gives up after 0.5 s, saying why."""
    wire = FakeWire(b"1")
    hits = home_counter(wire)
    hits._wire_lock = BusyLock()  # type: ignore[assignment]
    with pytest.raises(CounterUnavailable) as busy:
        hits.peek()
    assert str(busy.value) == "the hit counter at redis.test:6390 is busy; try again"
    assert hits._wire_lock.timeouts == [0.5]
    assert wire.calls == []


def test_peek_turns_a_lost_connection_into_a_clear_answer_and_opens_the_breaker(clock):
    """Redis not answering: the probe says so, and the next caller fails at once."""
    hits = home_counter(FakeWire(redis.ConnectionError("refused"), b"2"))
    with pytest.raises(CounterUnavailable) as down:
        hits.peek()
    reason = "the hit counter at redis.test:6390 is not answering (ConnectionError)"
    assert str(down.value) == reason
    assert isinstance(down.value.__cause__, redis.ConnectionError)
    assert refused(hits.breaker) == f"{reason}; Redis is asked again every 0.5 s"
    # The wire is free again: the probe let through later reads the count.
    clock.now += 0.5
    assert hits.peek() == 2
    assert refused(hits.breaker) is None


def test_peek_while_redis_is_known_down_does_not_ask_it(clock):
    """The breaker is asked first: a known-down Redis costs a probe nothing."""
    wire = FakeWire(b"1")
    hits = home_counter(wire)
    hits.breaker.failed("down")
    with pytest.raises(CounterUnavailable, match=r"^down; Redis is asked again every 0\.5 s$"):
        hits.peek()
    assert wire.calls == []


def test_an_error_reply_closes_the_breaker(clock):
    """Redis answered, with an error: it is up, so nobody is made to fail fast."""
    hits = home_counter(FakeWire(redis.ResponseError("WRONGTYPE not a string")))
    hits.breaker.failed("earlier")
    clock.now += 0.5
    with pytest.raises(CounterUnavailable) as failed:
        hits.peek()
    assert str(failed.value) == (
        "the hit counter at redis.test:6390 answered with an error: WRONGTYPE not a string"
    )
    assert refused(hits.breaker) is None


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"twelve", "'twelve'"),
        (b"x" * 50, repr("x" * 40)),
        (b"\xff\xfe1", repr("\ufffd\ufffd1")),
    ],
    ids=["word", "long", "not-utf8"],
)
def test_a_stored_value_that_is_not_a_count_is_a_clear_answer(raw, shown):
    """Not a number under the key: a sentence with where, what (40 bytes at most) and which key."""
    with pytest.raises(CounterUnavailable) as refused_value:
        home_counter()._as_count(raw)
    assert str(refused_value.value) == (
        f"the hit counter at redis.test:6390 holds {shown} under bookingapp:home:hits, not a count"
    )
    assert refused_value.value.__cause__ is None
    assert refused_value.value.__suppress_context__


@pytest.mark.parametrize(("raw", "count"), [(None, 0), (b"0", 0), (b"12", 12), (b"-3", -3)])
def test_a_stored_count_is_read_as_an_integer(raw, count):
    """The stored number as it is; no key is 0."""
    assert home_counter()._as_count(raw) == count


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (
            redis.AuthenticationError("WRONGPASS"),
            "refused our credentials (check REDIS_PASSWORD)",
        ),
        (
            redis.ResponseError("LATE the batch arrived after its sender gave up; not counted"),
            "answered too late (not counted)",
        ),
        (
            redis.ResponseError("STALE a later batch was applied"),
            "answered with an error: STALE a later batch was applied",
        ),
        (redis.ResponseError("E" * 250), "answered with an error: " + "E" * 200),
        (redis.TimeoutError("Timeout reading"), "is not answering (TimeoutError)"),
        (redis.ConnectionError("refused"), "is not answering (ConnectionError)"),
    ],
    ids=["credentials", "late", "error-reply", "long-reply", "timeout", "connection"],
)
def test_each_redis_failure_becomes_a_sentence_naming_where(error, sentence):
    """Each failure says where the counter is and what to make of it (a reply cut at 200)."""
    assert home_counter()._explain(error) == f"the hit counter at redis.test:6390 {sentence}"


@pytest.mark.parametrize("group_commit", [True, False])
def test_the_apps_counter_takes_its_settings_from_the_config(group_commit):
    """init_app gives the counter the service, instance, attempt timeout and group commit."""
    app = Flask("counter-settings")
    app.config.update(
        REDIS_HOST="redis.test",
        REDIS_PORT=6390,
        REDIS_DB=0,
        REDIS_PASSWORD=None,
        REDIS_TLS=False,
        REDIS_SOCKET_TIMEOUT=0.3,
        REDIS_RETRIES=2,
        COUNTER_GROUP_COMMIT=group_commit,
    )
    counter.init_app(app, "movie", "i-7")
    hits = app.extensions[counter.EXTENSION]
    assert (hits.key, hits.instance, hits.where) == (
        "bookingapp:movie:hits",
        "i-7",
        "redis.test:6390",
    )
    assert hits.group_commit is group_commit
    assert hits._attempt_timeout == 0.3


def test_without_group_commit_a_dead_redis_is_the_same_clear_answer():
    """One script call per hit (group commit off): Redis refusing gives the usual sentence."""
    port = free_port()
    hits = HitCounter(redis.Redis(host="127.0.0.1", port=port), "home", "i-1", group_commit=False)
    reason = f"the hit counter at 127.0.0.1:{port} is not answering (ConnectionError)"
    with pytest.raises(CounterUnavailable) as down:
        hits.hit()
    assert str(down.value) == reason
    assert isinstance(down.value.__cause__, redis.ConnectionError)
    # Known down now: the next hit fails at once with the same reason, Redis not asked.
    assert refused(hits.breaker) == f"{reason}; Redis is asked again every 0.5 s"


def test_a_batch_hands_out_its_numbers_in_arrival_order():
    """A batch of three answered 10 / 4 owns 8, 9, 10 (instance 2, 3, 4), first come first."""
    batch = counter._Batch()
    batch.size, batch.hits, batch.instance_hits = 3, 10, 4
    assert [batch.result(p) for p in range(3)] == [
        counter.Hit(hits=8, instance_hits=2),
        counter.Hit(hits=9, instance_hits=3),
        counter.Hit(hits=10, instance_hits=4),
    ]


def test_a_batch_that_redis_could_not_count_gives_each_member_the_reason():
    """Every member of a failed batch gets the sentence, with the Redis error as its cause."""
    batch = counter._Batch()
    batch.size, batch.problem, batch.cause = 2, "not answering", redis.TimeoutError("slow")
    for position in range(2):
        with pytest.raises(CounterUnavailable, match=r"^not answering$") as failed:
            batch.result(position)
        assert failed.value.__cause__ is batch.cause


def test_a_batch_whose_sender_hit_a_bug_says_so_to_its_members():
    """No counts and no Redis problem: the sender raised something else; members are told."""
    batch = counter._Batch()
    batch.size = 2
    with pytest.raises(RuntimeError) as failed:
        batch.result(1)
    assert str(failed.value) == "the round trip that carried this hit failed unexpectedly"


def test_the_redis_client_gives_up_fast_and_keeps_its_connections_checked():
    """Address, database and password from the config; short timeouts, keepalive, 15 s checks."""
    client = counter.make_client(
        {
            "REDIS_HOST": "redis.test",
            "REDIS_PORT": 6390,
            "REDIS_DB": 3,
            "REDIS_PASSWORD": "pw",
            "REDIS_TLS": False,
            "REDIS_SOCKET_TIMEOUT": 0.3,
            "REDIS_RETRIES": 2,
        }
    )
    kwargs = client.connection_pool.connection_kwargs
    assert {k: kwargs[k] for k in ("host", "port", "db", "password")} == {
        "host": "redis.test",
        "port": 6390,
        "db": 3,
        "password": "pw",
    }
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (0.3, 0.3)
    assert kwargs["socket_keepalive"] is True
    assert kwargs["health_check_interval"] == 15
    assert kwargs["retry"].get_retries() == 2
    # Retries back off from 50 ms, never past 200 ms: both fit in a request's 2 s promise.
    backoff = kwargs["retry"]._backoff
    assert isinstance(backoff, ExponentialBackoff)
    assert (backoff._base, backoff._cap) == (0.05, 0.2)


def test_a_probe_may_take_a_whole_visits_budget_and_one_attempt_before_another_is_let_in():
    """The breaker's probe budget: a probe started late in its budget may still be reading."""
    hits = home_counter()
    assert hits.breaker.probe_budget == counter.BUDGET_SECONDS + 0.4  # the attempt timeout
