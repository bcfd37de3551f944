"""The counter's wire: its retries and their deadline, failover and Redis's clock, on fakes.

The counter's tests (test_counter_*.py, test_failover.py) drive the wire against real
redis-servers and prove it works; these pin what those cannot without slow or flaky timing:
the deadline arithmetic of the retry loop, which errors are retried and on which connection,
that a node which cannot write is dropped and the name asked again, and the clock reading.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff

from bookingapp_common import _wire
from bookingapp_common._wire import CLOCK_READ_SECONDS, NotPrimary, Wire
from bookingapp_common.promises import RETRY_PAUSE_SECONDS


class Clock:
    """Stands in for the wire's `time` module: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Return the fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the pause and move the clock on by it."""
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Give the wire a fake clock (only the wire's own reference to `time` is replaced)."""
    fake = Clock()
    monkeypatch.setattr(_wire, "time", fake)
    return fake


class Silence:
    """A reply that never comes: can_read waits its whole timeout and says no."""


PRIMARY = [b"master", 0, []]
REPLICA = [b"slave", b"10.0.0.1", 6379, b"connected", 0]
# TIME's reply: Redis's clock at 1 000 000 s and 250 000 µs.
TIME = [b"1000000", b"250000"]


class FakeConnection:
    """A redis-py connection stand-in: ROLE and TIME at connect, then scripted replies."""

    def __init__(self, *replies: Any, role: Any = PRIMARY, refuse: BaseException | None = None):
        self.clock: Clock | None = None
        self.refuse = refuse
        self.replies: list[Any] = [role, TIME, *replies]
        self.commands: list[tuple[Any, ...]] = []
        self.waits: list[float] = []
        self.disconnects = 0

    def connect(self) -> None:
        """Connect, or raise what the script says (a refused password, a refused port)."""
        if self.refuse is not None:
            raise self.refuse

    def send_command(self, *args: Any, check_health: bool = True) -> None:
        """Record a command sent at connect (ROLE, TIME)."""
        assert check_health is False
        self.commands.append(args)

    def pack_command(self, *args: Any) -> list[Any]:
        """Pack a command: here, keep its words."""
        return [args]

    def send_packed_command(self, packed: list[Any], check_health: bool = True) -> None:
        """Record the command; never with a health-check PING first."""
        assert check_health is False
        self.commands.append(packed[0])

    def can_read(self, timeout: float = 0) -> bool:
        """Say whether a reply is there; a Silence waits out the timeout on the fake clock."""
        self.waits.append(timeout)
        if self.replies and isinstance(self.replies[0], Silence):
            self.replies.pop(0)
            if self.clock is not None:
                self.clock.now += timeout
            return False
        return True

    def read_response(self) -> Any:
        """Return the next scripted reply, or raise it if it is an exception."""
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def disconnect(self) -> None:
        """Count the disconnects."""
        self.disconnects += 1


def wire_with(clock: Clock, *connections: FakeConnection, timeout: float = 0.4) -> Wire:
    """Return a wire whose connections are the given fakes, made in turn."""
    wire = Wire(redis.Redis(host="redis.test", socket_timeout=timeout))
    made = list(connections)
    for connection in made:
        connection.clock = clock

    def connect(**settings: Any) -> FakeConnection:
        return made.pop(0)

    wire.connection_class = connect  # type: ignore[assignment]
    return wire


def get(connection: Any) -> list[Any]:
    """Build the test's command on the connection that carries it."""
    return connection.pack_command("GET", "hits")


def test_a_new_connection_is_checked_with_role_and_time_then_kept(clock):
    """ROLE and TIME in the first round trip; the command after, with no PING; then kept."""
    connection = FakeConnection(b"41", b"42")
    wire = wire_with(clock, connection)
    assert wire.call(get, clock.now + 1) == b"41"
    assert wire.call(get, clock.now + 1) == b"42"
    assert connection.commands == [("ROLE",), ("TIME",), ("GET", "hits"), ("GET", "hits")]
    assert connection.disconnects == 0


def test_an_error_reply_is_raised_as_it_is_and_the_connection_kept(clock):
    """An error reply was read in full: raised, not retried, the socket kept."""
    connection = FakeConnection(redis.ResponseError("WRONGTYPE"), b"ok")
    wire = wire_with(clock, connection)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        wire.call(get, clock.now + 1)
    assert (connection.disconnects, clock.sleeps) == (0, [])
    assert wire.call(get, clock.now + 1) == b"ok"


def test_a_refused_password_is_raised_at_once_and_never_retried(clock):
    """A wrong password: asking again with it cannot help; one connection was tried."""
    refused = FakeConnection(refuse=redis.AuthenticationError("WRONGPASS"))
    wire = wire_with(clock, refused, FakeConnection(b"never"))
    with pytest.raises(redis.AuthenticationError):
        wire.call(get, clock.now + 1)
    assert (refused.disconnects, clock.sleeps) == (1, [])


def test_a_lost_answer_drops_the_connection_and_is_sent_again_after_the_pause(clock):
    """No answer (silence, a reset): drop, pause RETRY_PAUSE_SECONDS, connect, send again."""
    first = FakeConnection(Silence())
    second = FakeConnection(redis.ConnectionError("reset"))
    third = FakeConnection(b"7")
    wire = wire_with(clock, first, second, third)
    assert wire.call(get, clock.now + 1) == b"7"
    assert (first.disconnects, second.disconnects, third.disconnects) == (1, 1, 0)
    assert clock.sleeps == [RETRY_PAUSE_SECONDS] * 2


@pytest.mark.parametrize(
    "refusal",
    [
        redis.ReadOnlyError("You can't write against a read only replica."),
        redis.ResponseError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data"),
        redis.BusyLoadingError("Redis is loading the dataset in memory"),
    ],
    ids=["readonly", "masterdown", "loading"],
)
def test_a_node_that_cannot_write_is_dropped_and_the_name_asked_again(clock, refusal):
    """A node that cannot write is dropped, and the command sent again through the name.

    After a failover the old primary says READONLY (or MASTERDOWN, LOADING): the command goes
    again on a new connection, made through the name, to whoever holds it now.
    """
    demoted = FakeConnection(b"1", refusal)
    promoted = FakeConnection(b"2")
    wire = wire_with(clock, demoted, promoted)
    assert wire.call(get, clock.now + 1) == b"1"
    assert wire.call(get, clock.now + 1) == b"2"
    assert demoted.disconnects == 1
    assert promoted.commands[:2] == [("ROLE",), ("TIME",)]


def test_a_connection_that_reaches_a_replica_is_never_used(clock):
    """A connection that reaches a replica is closed before any command is sent on it.

    The name still points at a replica: the next attempt connects again; past the deadline
    the caller hears NotPrimary.
    """
    replicas = [FakeConnection(b"never", role=REPLICA) for _ in range(30)]
    wire = wire_with(clock, *replicas)
    with pytest.raises(NotPrimary):
        wire.call(get, clock.now + 1)
    used = [c for c in replicas if c.commands]
    assert all(c.commands == [("ROLE",), ("TIME",)] for c in used)
    assert all(c.disconnects == 1 for c in used)
    assert len(used) == len(clock.sleeps) + 1 > 2


def test_a_replica_found_at_connect_then_the_primary_is_used(clock):
    """One connection reached a replica (the name not yet moved); the next reaches the primary."""
    wire = wire_with(clock, FakeConnection(role=REPLICA), FakeConnection(b"counted"))
    assert wire.call(get, clock.now + 1) == b"counted"
    assert clock.sleeps == [RETRY_PAUSE_SECONDS]


def test_no_attempt_starts_when_the_pause_would_pass_the_deadline(clock):
    """Less time left than the pause: the error is raised, nothing sent again."""
    first = FakeConnection(redis.ConnectionError("reset"))
    wire = wire_with(clock, first, FakeConnection(b"too late"))
    with pytest.raises(redis.ConnectionError, match="reset"):
        wire.call(get, clock.now + RETRY_PAUSE_SECONDS - 0.001)
    assert clock.sleeps == []


def test_a_reply_is_awaited_until_the_deadline_at_most(clock):
    """The socket timeout is 0.4 s, but with 0.25 s left the wait for a reply is 0.25 s."""
    connection = FakeConnection(Silence())
    wire = wire_with(clock, connection, timeout=0.4)
    started = clock.now
    with pytest.raises(redis.TimeoutError):
        wire.call(get, started + 0.25)
    assert connection.waits == [pytest.approx(0.25)]
    assert clock.now == pytest.approx(started + 0.25)


def test_silent_replies_are_retried_until_the_deadline_each_wait_bounded(clock):
    """Each silent reply costs one socket timeout at most; the last wait ends at the deadline.

    Attempts go on while a pause and some wait still fit.
    """
    silent = [FakeConnection(Silence()) for _ in range(3)]
    wire = wire_with(clock, *silent, timeout=0.4)
    started = clock.now
    with pytest.raises(redis.TimeoutError):
        wire.call(get, started + 1.0)
    waits = [wait for connection in silent for wait in connection.waits]
    assert waits == [pytest.approx(0.4), pytest.approx(0.4), pytest.approx(0.1)]
    assert clock.now == pytest.approx(started + 1.0)


def test_redis_ms_is_the_earliest_redis_time_the_reading_allows(clock):
    """TIME said 1 000 000.25 s when its answer arrived: 2 s later is 1 000 002.25 at most."""
    wire = wire_with(clock, FakeConnection(b"x"))
    arrived = clock.now
    wire.call(get, clock.now + 1)
    assert wire.redis_ms(arrived + 2.0) == 1_000_002_250
    wire.drop()
    with pytest.raises(redis.ConnectionError):
        wire.redis_ms(arrived)  # no reading without a connection


def test_redis_clock_is_read_again_after_clock_read_seconds(clock):
    """A kept connection reads TIME again once its reading is CLOCK_READ_SECONDS old."""
    connection = FakeConnection(b"1", [b"2000000", b"0"], b"2")
    wire = wire_with(clock, connection)
    wire.call(get, clock.now + 1)
    clock.now += CLOCK_READ_SECONDS + 0.001
    assert wire.call(get, clock.now + 1) == b"2"
    assert connection.commands[-2:] == [("TIME",), ("GET", "hits")]
    assert wire.redis_ms(clock.now) == 2_000_000_000


def test_a_wire_makes_a_new_connection_in_a_forked_process(clock, monkeypatch):
    """A connection made before a fork is not used by the child (the socket is shared)."""
    parent, child = FakeConnection(b"parent"), FakeConnection(b"child")
    wire = wire_with(clock, parent, child)
    assert wire.call(get, clock.now + 1) == b"parent"
    monkeypatch.setattr(_wire.os, "getpid", lambda: -1)
    assert wire.call(get, clock.now + 1) == b"child"


def test_drop_without_a_connection_does_nothing():
    """Dropping before the first call is harmless."""
    wire = Wire(redis.Redis())
    wire.drop()
    assert wire._connection is None


def test_a_wire_connects_with_the_clients_settings_and_none_of_its_retries():
    """Address, password, database and timeouts are the client's; retries and PINGs are off."""
    client = redis.Redis(host="redis.example", port=6380, db=3, password="pw", socket_timeout=0.3)
    wire = Wire(client)
    connection = wire.connection_class(**wire.settings)
    assert (connection.host, connection.port, connection.db) == ("redis.example", 6380, 3)
    assert (connection.password, connection.socket_timeout) == ("pw", 0.3)
    assert connection.health_check_interval == 0
    assert connection.retry._retries == 0  # get_retries() is redis-py >= 5.1
    assert isinstance(connection.retry._backoff, NoBackoff)
    assert wire.timeout == 0.3
