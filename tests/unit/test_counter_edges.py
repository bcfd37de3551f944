"""The counter's edges without a Redis: the breaker's clock, readiness's limits, its messages.

tests/unit/test_counter_*.py prove the counting against a real Redis. These pin, on a fake
clock and a fake wire, what those can show only slowly or not at all: when the breaker lets
a probe through, how long a readiness probe waits behind a round trip in flight, the
apply-by time each batch carries, and the exact sentence each failure becomes.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import redis
from flask import Flask

from bookingapp_common import _breaker, _group_commit, counter
from bookingapp_common._breaker import Breaker
from bookingapp_common._counting import BATCH_MEMORY_MS, COUNT_SCRIPT_SHA
from bookingapp_common._group_commit import Batch
from bookingapp_common._wire import NotPrimary
from bookingapp_common.counter import LATE_MARGIN_SECONDS, CounterUnavailable, HitCounter
from tests.stubs import FakeClock
from tests.support import free_port


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """Give the counter, its breaker and its group commit one fake clock (their own `time`)."""
    fake = FakeClock()
    for module in (counter, _breaker, _group_commit):
        monkeypatch.setattr(module, "time", fake)
    return fake


def refused(breaker: Breaker) -> str | None:
    """Return the refusal's message if the breaker refuses the caller, else None."""
    return breaker.admit()


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


class Packer:
    """Stands in for the connection a command is built on: packing keeps the words."""

    @staticmethod
    def pack_command(*args: Any) -> list[Any]:
        """Return the command's words as they are."""
        return list(args)


class FakeWire:
    """Stands in for the counter's wire: records each command, answers from a script.

    Redis's clock reads as ours plus 5 000 s, so a test sees the apply-by time moved.
    """

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[list[Any], float]] = []
        self.lock: Any = threading.Lock()
        self.timeout = 0.4

    def redis_ms(self, instant: float) -> int:
        """Return the instant on Redis's clock, in ms."""
        return int((instant + 5000) * 1000)

    def call(self, build: Any, deadline: float) -> Any:
        """Record the command built for this attempt; return the next reply or raise it."""
        self.calls.append((build(Packer()), deadline))
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
        hits._wire = hits._group.wire = wire  # type: ignore[assignment]
    return hits


def test_ready_runs_the_script_for_zero_hits_by_the_budget(clock):
    """A readiness probe counts nothing: the script with n = 0, its deadline now + 1 s."""
    wire = FakeWire([41, 7])
    assert home_counter(wire).ready() == 41
    [(command, deadline)] = wire.calls
    assert command[:6] == [
        "EVALSHA",
        COUNT_SCRIPT_SHA,
        3,
        "bookingapp:home:hits",
        "bookingapp:home:hits-by-instance",
        command[5],
    ]
    assert command[5].startswith("bookingapp:home:hits:batches:i-1:")
    assert command[6:8] == [0, "i-1"]
    assert deadline == clock.now + 1.0


def test_a_batch_is_refused_by_redis_from_before_the_moment_its_visits_give_up(clock):
    """The apply-by time sent is the batch's deadline less LATE_MARGIN_SECONDS, on Redis's clock.

    A batch that reaches Redis later than that is refused (LATE), never counted.
    """
    wire = FakeWire([1, 1])
    home_counter(wire).hit()
    [(command, deadline)] = wire.calls
    apply_by, memory = command[-2:]
    assert apply_by == int((deadline - LATE_MARGIN_SECONDS + 5000) * 1000)
    assert apply_by < int((deadline + 5000) * 1000)
    assert memory == BATCH_MEMORY_MS


def test_ready_waits_the_budget_behind_a_round_trip_then_says_not_answering(clock):
    """Behind a round trip that does not end, a probe gives up at its deadline, saying why.

    The breaker opens: the wire is stuck, so Redis is not answering this process.
    """
    wire = FakeWire([1, 1])
    hits = home_counter(wire)
    wire.lock = BusyLock()
    with pytest.raises(CounterUnavailable) as busy:
        hits.ready()
    reason = "the hit counter at redis.test:6390 is not answering (nothing within 1 s)"
    assert str(busy.value) == reason
    assert wire.lock.timeouts == [1.0]
    assert wire.calls == []
    assert refused(hits.breaker) == f"{reason}; Redis is asked again every 0.5 s"


def test_ready_turns_a_lost_connection_into_a_clear_answer_and_opens_the_breaker(clock):
    """Redis not answering: the probe says so, and the next caller fails at once."""
    hits = home_counter(FakeWire(redis.ConnectionError("refused"), [2, 1]))
    with pytest.raises(CounterUnavailable) as down:
        hits.ready()
    reason = "the hit counter at redis.test:6390 is not answering (ConnectionError)"
    assert str(down.value) == reason
    assert isinstance(down.value.__cause__, redis.ConnectionError)
    assert refused(hits.breaker) == f"{reason}; Redis is asked again every 0.5 s"
    # The wire is free again: the probe let through later reads the count.
    clock.now += 0.5
    assert hits.ready() == 2
    assert refused(hits.breaker) is None


def test_ready_while_redis_is_known_down_does_not_ask_it(clock):
    """The breaker is asked first: a known-down Redis costs a probe nothing."""
    wire = FakeWire([1, 1])
    hits = home_counter(wire)
    hits.breaker.failed("down")
    with pytest.raises(CounterUnavailable, match=r"^down; Redis is asked again every 0\.5 s$"):
        hits.ready()
    assert wire.calls == []


def test_ready_on_a_node_that_cannot_write_is_503_and_opens_the_breaker(clock):
    """A read-only replica (a failover) cannot count: readiness says so, as pages would."""
    hits = home_counter(FakeWire(NotPrimary("the connection reached a read-only replica")))
    with pytest.raises(CounterUnavailable, match="read-only replica"):
        hits.ready()
    assert refused(hits.breaker) is not None


def test_an_error_reply_closes_the_breaker(clock):
    """Redis answered, with an error: it is up, so nobody is made to fail fast."""
    hits = home_counter(FakeWire(redis.ResponseError("WRONGTYPE not a string")))
    hits.breaker.failed("earlier")
    clock.now += 0.5
    with pytest.raises(CounterUnavailable) as failed:
        hits.ready()
    assert str(failed.value) == (
        "the hit counter at redis.test:6390 answered with an error: WRONGTYPE not a string "
        "(counting bookingapp:home:hits)"
    )
    assert refused(hits.breaker) is None


def test_a_stale_answer_makes_the_process_take_a_new_batch_record(clock):
    """A record this process did not write costs one batch; the next goes to a new record.

    A stray write, a higher batch number: the batch is refused once (STALE), and the process
    takes a new token, so a record of a new name.
    """
    wire = FakeWire(redis.ResponseError("STALE a later batch was applied"), [1, 1])
    hits = home_counter(wire)
    with pytest.raises(CounterUnavailable, match="STALE"):
        hits.hit()
    assert hits.hit() == counter.Hit(hits=1, instance_hits=1)
    first, second = (command[5] for command, _ in wire.calls)
    assert first != second
    assert refused(hits.breaker) is None


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
            "answered with an error: STALE a later batch was applied (counting bookingapp:home:hits)",
        ),
        (
            redis.ResponseError("E" * 250),
            "answered with an error: " + "E" * 200 + " (counting bookingapp:home:hits)",
        ),
        (
            NotPrimary("the connection reached a read-only replica"),
            "is a read-only replica (a failover?); reconnecting through the name",
        ),
        (
            redis.ReadOnlyError("You can't write against a read only replica."),
            "cannot take writes now (You can't write against a read only replica.); "
            "reconnecting through the name",
        ),
        (
            redis.ResponseError("MASTERDOWN Link with MASTER is down"),
            "cannot take writes now (MASTERDOWN Link with MASTER is down); "
            "reconnecting through the name",
        ),
        (
            redis.BusyLoadingError(),
            "cannot take writes now (BusyLoadingError); reconnecting through the name",
        ),
        (redis.TimeoutError("Timeout reading"), "is not answering (TimeoutError)"),
        (redis.ConnectionError("refused"), "is not answering (ConnectionError)"),
    ],
    ids=[
        "credentials",
        "late",
        "error-reply",
        "long-reply",
        "replica",
        "readonly",
        "masterdown",
        "loading",
        "timeout",
        "connection",
    ],
)
def test_each_redis_failure_becomes_a_sentence_naming_where(error, sentence):
    """Each failure says where the counter is and what to make of it (a reply cut at 200)."""
    assert home_counter()._explain(error) == f"the hit counter at redis.test:6390 {sentence}"


@pytest.mark.parametrize("group_commit", [True, False])
def test_the_apps_counter_takes_its_settings_from_the_config(group_commit):
    """init_app gives the counter the service, instance, reply timeout and group commit."""
    app = Flask("counter-settings")
    app.config.update(
        REDIS_HOST="redis.test",
        REDIS_PORT=6390,
        REDIS_DB=0,
        REDIS_PASSWORD=None,
        REDIS_TLS=False,
        REDIS_SOCKET_TIMEOUT=0.3,
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
    assert hits._wire.timeout == 0.3


def test_without_group_commit_a_dead_redis_is_the_same_clear_answer():
    """One script call per hit (group commit off): Redis refusing gives the usual sentence.

    Refused connections are tried again until the deadline; the last attempt's connect may
    still be under way then (a busy host), so the sentence names a timeout instead.
    """
    port = free_port()
    hits = HitCounter(redis.Redis(host="127.0.0.1", port=port), "home", "i-1", group_commit=False)
    with pytest.raises(CounterUnavailable) as down:
        hits.hit()
    reason = str(down.value)
    assert re.fullmatch(
        rf"the hit counter at 127\.0\.0\.1:{port} is not answering \((ConnectionError|TimeoutError)\)",
        reason,
    )
    assert isinstance(down.value.__cause__, redis.ConnectionError | redis.TimeoutError)
    # Known down now: the next hit fails at once with the same reason, Redis not asked.
    assert refused(hits.breaker) == f"{reason}; Redis is asked again every 0.5 s"


def answered(size: int, hits: int | None, instance_hits: int = 0) -> Batch:
    """Return a batch of `size` members, answered with the given totals."""
    batch = Batch(deadline=_group_commit.time.monotonic() + 60)
    batch.size, batch.hits, batch.instance_hits = size, hits, instance_hits
    batch.gate.release()
    return batch


def test_a_batch_hands_out_its_numbers_in_arrival_order():
    """A batch of three answered 10 / 4 owns 8, 9, 10 (instance 2, 3, 4), first come first."""
    batch = answered(3, 10, 4)
    assert [batch.result(p, CounterUnavailable) for p in range(3)] == [(8, 2), (9, 3), (10, 4)]


def test_a_batch_that_redis_could_not_count_gives_each_member_the_reason():
    """Every member of a failed batch raises its own error, with the Redis error as cause."""
    cause = redis.TimeoutError("slow")
    batch = answered(2, None)
    try:
        raise CounterUnavailable("not answering") from cause
    except CounterUnavailable as error:
        batch.error = error
    raised = []
    for position in range(2):
        with pytest.raises(CounterUnavailable, match=r"^not answering$") as failed:
            batch.result(position, CounterUnavailable)
        assert failed.value.__cause__ is cause
        raised.append(failed.value)
    assert raised[0] is not raised[1]


def test_a_batch_not_answered_by_its_deadline_says_so(clock):
    """A member whose batch is not answered in time gives up at the deadline."""
    batch = Batch(deadline=clock.now)
    with pytest.raises(_group_commit.Unanswered):
        batch.result(0, CounterUnavailable)


def test_a_batch_whose_sender_hit_a_bug_says_so_to_its_members():
    """No counts and no Redis problem: the sender raised something else; members are told."""
    batch = answered(2, None)
    with pytest.raises(RuntimeError) as failed:
        batch.result(1, CounterUnavailable)
    assert str(failed.value) == "the round trip that carried this hit failed unexpectedly"


def test_the_redis_client_gives_up_fast_and_checks_the_name_on_tls():
    """Address, database and password from the config; short timeouts, keepalive, TLS names."""
    client = counter.make_client(
        {
            "REDIS_HOST": "redis.test",
            "REDIS_PORT": 6390,
            "REDIS_DB": 3,
            "REDIS_PASSWORD": "pw",
            "REDIS_TLS": False,
            "REDIS_SOCKET_TIMEOUT": 0.3,
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


def test_a_probe_may_take_a_whole_visits_budget_before_another_is_let_in():
    """The breaker's probe budget: a probe waits at most a visit's budget for Redis."""
    hits = home_counter()
    assert hits.breaker.probe_budget == counter.BUDGET_SECONDS
