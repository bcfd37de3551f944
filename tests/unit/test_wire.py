"""The counter's wire: RESP packing, the retry loops and their deadline, on a fake clock.

The counter's tests (test_counter_*.py) drive the wire against a real Redis and prove it
works; these pin what those cannot without slow or flaky timing: the exact deadline
arithmetic of both retry loops (an attempt starts only if it can end in time), which errors
are retried, and that a connection is dropped whenever its reply may be half read.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff

from bookingapp_common import _wire
from bookingapp_common._wire import BACKOFF_SECONDS, Wire, pack, retry_until


class Clock:
    """Stands in for the wire's `time` module: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
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


class Failing:
    """A send() that raises the given errors in turn, then answers "OK"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        """Raise the next error, or answer once they are used up."""
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "OK"


def test_pack_encodes_a_command_as_one_resp_buffer():
    """Strings, integers and bytes become one RESP array, each argument with its length."""
    assert pack("EVALSHA", "ab", 1, b"k\xff") == [
        b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$2\r\nk\xff\r\n"
    ]


def test_pack_counts_bytes_not_characters():
    """A non-ASCII argument's length is its UTF-8 length, as Redis reads it."""
    assert pack("é") == [b"*1\r\n$2\r\n\xc3\xa9\r\n"]


def test_retry_until_returns_the_first_answer_without_waiting(clock):
    """An answer at the first attempt comes back as it is, with no pause."""
    send = Failing()
    assert retry_until(10.0, 0.4, send) == "OK"
    assert (send.calls, clock.sleeps) == (1, [])


def test_retry_until_retries_lost_connections_and_timeouts_after_the_backoff(clock):
    """A refused connection and a timeout are each retried after BACKOFF_SECONDS."""
    send = Failing(redis.ConnectionError("refused"), redis.TimeoutError("slow"))
    assert retry_until(10.0, 0.4, send) == "OK"
    assert send.calls == 3
    assert clock.sleeps == [BACKOFF_SECONDS, BACKOFF_SECONDS] == [0.05, 0.05]


def test_retry_until_never_retries_a_refused_password(clock):
    """A wrong password fails at once: asking again with it cannot help."""
    send = Failing(redis.AuthenticationError("wrong password"))
    with pytest.raises(redis.AuthenticationError):
        retry_until(10.0, 0.4, send)
    assert (send.calls, clock.sleeps) == (1, [])


def test_retry_until_starts_an_attempt_that_ends_exactly_at_the_deadline(clock):
    """After the backoff an attempt that can end by the deadline is made; the next is not."""
    attempt = 0.4
    deadline = clock.now + BACKOFF_SECONDS + attempt  # the second attempt ends just in time
    send = Failing(*(redis.TimeoutError(f"attempt {n}") for n in range(5)))
    with pytest.raises(redis.TimeoutError, match="attempt 1"):
        retry_until(deadline, attempt, send)
    assert send.calls == 2
    assert clock.sleeps == [BACKOFF_SECONDS]


def test_retry_until_gives_up_at_once_when_no_attempt_fits(clock):
    """With less time left than a backoff and one attempt, the first error is raised."""
    clock.now = 100.0
    send = Failing(redis.ConnectionError("first"), redis.ConnectionError("second"))
    with pytest.raises(redis.ConnectionError, match="first"):
        retry_until(100.0 + BACKOFF_SECONDS + 0.4 - 0.001, 0.4, send)
    assert (send.calls, clock.sleeps) == (1, [])


def test_retry_until_counts_the_attempt_time_into_the_deadline(clock):
    """Attempts that each take 0.35 s of a 1 s budget: two fit, the third does not start."""
    calls: list[float] = []

    def slow() -> str:
        """Spend 0.35 s, then time out."""
        calls.append(clock.now)
        clock.now += 0.35
        raise redis.TimeoutError("slow")

    with pytest.raises(redis.TimeoutError):
        retry_until(1.0, 0.3, slow)
    # At 0.35: 0.35 + 0.05 + 0.3 = 0.7 fits. At 0.75: 0.75 + 0.05 + 0.3 = 1.1 does not.
    assert calls == [0.0, pytest.approx(0.4)]


class FakeConnection:
    """A redis-py connection stand-in: replies from a script, records what it was told."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.sent: list[tuple[list[bytes], bool]] = []
        self.disconnects = 0

    def send_packed_command(self, packed: list[bytes], check_health: bool = True) -> None:
        """Record the command; raise if the script says the send fails."""
        self.sent.append((packed, check_health))

    def read_response(self) -> Any:
        """Return the next scripted reply, or raise it if it is an exception."""
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def disconnect(self) -> None:
        """Count the disconnects."""
        self.disconnects += 1


def wire_with(*connections: FakeConnection, attempt_timeout: float = 0.4) -> Wire:
    """Return a wire whose connections are the given fakes, made in turn."""
    wire = Wire(redis.Redis(), attempt_timeout)
    made = list(connections)
    wire.make = lambda: made.pop(0)
    return wire


COMMAND = pack("GET", "hits")


def test_call_sends_without_a_health_check_ping_and_returns_the_reply(clock):
    """One send (no PING first) and one read: the reply comes back, the connection is kept."""
    connection = FakeConnection(b"41", b"42")
    wire = wire_with(connection)
    assert wire.call(COMMAND, 10.0, idempotent=False) == b"41"
    assert wire.call(COMMAND, 10.0, idempotent=False) == b"42"
    assert connection.sent == [(COMMAND, False), (COMMAND, False)]
    assert connection.disconnects == 0


def test_call_raises_a_redis_error_reply_and_keeps_the_connection(clock):
    """An error reply was read in full: raised as it is, not retried, the socket kept."""
    connection = FakeConnection(redis.ResponseError("NOSCRIPT"), b"ok")
    wire = wire_with(connection)
    with pytest.raises(redis.ResponseError, match="NOSCRIPT"):
        wire.call(COMMAND, 10.0, idempotent=True)
    assert (len(connection.sent), connection.disconnects, clock.sleeps) == (1, 0, [])
    assert wire.call(COMMAND, 10.0, idempotent=True) == b"ok"


def test_call_drops_the_connection_and_never_retries_a_refused_password(clock):
    """A wrong password: the connection is closed and the error raised after one attempt."""
    connection = FakeConnection(redis.AuthenticationError("wrong password"))
    wire = wire_with(connection)
    with pytest.raises(redis.AuthenticationError):
        wire.call(COMMAND, 10.0, idempotent=True)
    assert (len(connection.sent), connection.disconnects, clock.sleeps) == (1, 1, [])


def test_call_sends_a_command_that_is_not_idempotent_once(clock):
    """A lost answer to a non-idempotent command is raised, with plenty of time left."""
    connection = FakeConnection(redis.ConnectionError("lost"), b"never read")
    wire = wire_with(connection)
    with pytest.raises(redis.ConnectionError, match="lost"):
        wire.call(COMMAND, 10.0, idempotent=False)
    assert (len(connection.sent), connection.disconnects, clock.sleeps) == (1, 1, [])


def test_call_retries_an_idempotent_command_after_the_backoff(clock):
    """A lost answer to an idempotent command: drop, pause BACKOFF_SECONDS, send again."""
    connection = FakeConnection(redis.TimeoutError("slow"), redis.ConnectionError("reset"), b"7")
    wire = wire_with(connection)
    assert wire.call(COMMAND, 10.0, idempotent=True) == b"7"
    assert len(connection.sent) == 3
    assert connection.disconnects == 2
    assert clock.sleeps == [0.05, 0.05]


def test_call_starts_an_attempt_that_ends_exactly_at_the_deadline(clock):
    """Another attempt is made when it can end by the deadline, and not a moment later."""
    connection = FakeConnection(*(redis.TimeoutError(f"attempt {n}") for n in range(5)))
    wire = wire_with(connection, attempt_timeout=0.4)
    deadline = clock.now + BACKOFF_SECONDS + 0.4
    with pytest.raises(redis.TimeoutError, match="attempt 1"):
        wire.call(COMMAND, deadline, idempotent=True)
    assert len(connection.sent) == 2
    assert clock.sleeps == [BACKOFF_SECONDS]


def test_call_does_not_start_an_attempt_that_would_end_after_the_deadline(clock):
    """A millisecond short of room for the backoff and one attempt: no retry."""
    connection = FakeConnection(redis.TimeoutError("first"), b"too late")
    wire = wire_with(connection, attempt_timeout=0.4)
    with pytest.raises(redis.TimeoutError, match="first"):
        wire.call(COMMAND, BACKOFF_SECONDS + 0.4 - 0.001, idempotent=True)
    assert (len(connection.sent), clock.sleeps) == (1, [])


def test_call_drops_the_connection_on_any_other_interruption(clock):
    """Interrupted mid-read (a signal, a bug): the half-read socket is never reused."""

    class Interrupted(BaseException):
        """Stands in for KeyboardInterrupt or a gevent timeout."""

    connection = FakeConnection(Interrupted())
    wire = wire_with(connection)
    with pytest.raises(Interrupted):
        wire.call(COMMAND, 10.0, idempotent=True)
    assert connection.disconnects == 1


def test_a_wire_makes_a_new_connection_in_a_forked_process(clock, monkeypatch):
    """A connection made before a fork is not used by the child (the socket is shared)."""
    parent, child = FakeConnection(b"parent"), FakeConnection(b"child")
    wire = wire_with(parent, child)
    assert wire.call(COMMAND, 10.0, idempotent=True) == b"parent"

    class Forked:
        @staticmethod
        def getpid() -> int:
            """Return a pid that is not this process's."""
            return -1

    monkeypatch.setattr(_wire, "os", Forked)
    assert wire.call(COMMAND, 10.0, idempotent=True) == b"child"


def test_drop_without_a_connection_does_nothing():
    """Dropping before the first call is harmless."""
    wire = Wire(redis.Redis(), 0.4)
    wire.drop()
    assert wire._connection is None


def test_a_wire_connects_with_the_clients_settings_and_none_of_its_retries():
    """Address, password, database and timeouts are the client's; retries and PINGs are off."""
    client = redis.Redis(host="redis.example", port=6380, db=3, password="pw", socket_timeout=0.3)
    connection = Wire(client, 0.4).make()
    assert (connection.host, connection.port, connection.db) == ("redis.example", 6380, 3)
    assert (connection.password, connection.socket_timeout) == ("pw", 0.3)
    assert connection.health_check_interval == 0
    assert connection.retry.get_retries() == 0
    assert isinstance(connection.retry._backoff, NoBackoff)
