"""The counter's wire: one redis-py connection of this process's own, one caller at a time.

The counter sends one command per round trip and never has two in flight (the caller holds
`Wire.lock`), so one connection made once and kept is all it needs: no pool checkout per
batch, no thread per batch (docs/redis.md, "The wire"). Every wait is bounded by the
caller's deadline, never by the socket timeout alone: a reply is waited for with
`can_read(timeout)` until the deadline at most, and a new
connection (TCP, TLS, AUTH, CLIENT SETINFO, the checks below: several round trips) is made
by a thread of its own that the caller waits for until its deadline. An answer that does
not come by then drops the connection, so a late reply is never read as the next one's.

Failover, the way production clients handle it (docs/pitfalls.md #27): every new connection
checks that it reached the primary (ROLE) before any command uses it, and an answer that
says this node cannot take writes (READONLY, MASTERDOWN, LOADING, or that check) drops the
connection, so the next attempt resolves the name again and connects to whoever holds it.

Redis's clock: the same first round trip reads TIME, and again every CLOCK_READ_SECONDS.
`redis_ms(instant)` turns one of our time.monotonic() instants into the earliest Redis time
that reading allows (Redis read its clock no later than its answer arrived), so a deadline
put on Redis's clock can come early, by at most that round trip, never late, whatever the
two clocks say (docs/pitfalls.md #16).

What this uses of redis-py: a pool's `connection_class` and `connection_kwargs`, and a
connection's `connect`, `pack_command`, `send_packed_command(check_health=False)`,
`can_read(timeout)`, `read_response` and `disconnect`; the error classes ReadOnlyError,
BusyLoadingError, and MasterDownError where it exists (redis-py >= 6; before, a plain
ResponseError). The version floor is stated once, in common/pyproject.toml.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection
from redis.retry import Retry

from bookingapp_common.promises import RETRY_PAUSE_SECONDS

T = TypeVar("T")
log = logging.getLogger("bookingapp.counter")
# How often Redis's clock is read again on a kept connection: both hosts' clocks are kept by
# NTP within 500 ppm of the truth, so they drift apart by at most 10 ms between readings.
CLOCK_READ_SECONDS = 10.0
# A command for one attempt, built on the connection that will carry it.
Build = Callable[[AbstractConnection], list[bytes]]


class NotPrimary(redis.ReadOnlyError):
    """The connection reached a replica (ROLE): this node cannot take the counter's writes."""


def cannot_write(error: redis.RedisError) -> bool:
    """Tell whether an error says this node cannot take writes now (a failover, a restart)."""
    if isinstance(error, redis.ReadOnlyError | redis.BusyLoadingError):
        return True
    # redis-py >= 6 raises MasterDownError; older versions a plain ResponseError.
    return isinstance(error, redis.exceptions.MasterDownError) or str(error).startswith(
        "MASTERDOWN"
    )


def no_answer(error: redis.RedisError) -> bool:
    """Tell whether an error means Redis gave no usable answer (so it is down for us)."""
    if isinstance(error, redis.AuthenticationError):
        return False  # an answer: asking again with the same password cannot help
    return isinstance(error, redis.ConnectionError | redis.TimeoutError) or cannot_write(error)


class _Connecting:
    """A new connection being made, checked and its clock read, in a thread of its own."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.done = threading.Event()
        self.connection: AbstractConnection | None = None
        self.reading: tuple[float, float] | None = None
        self.error: redis.RedisError | None = None
        threading.Thread(target=self._connect, name="bookingapp-connect", daemon=True).start()

    def _connect(self) -> None:
        """Connect as redis-py does (AUTH, SELECT), then ROLE and TIME in one round trip."""
        connection = self.wire.connection_class(**self.wire.settings)
        try:
            connection.connect()
            connection.send_command("ROLE", check_health=False)
            connection.send_command("TIME", check_health=False)
            try:
                role = connection.read_response()
            except redis.ResponseError as error:
                # A managed Redis that refuses ROLE: its READONLY answers still tell us.
                log.warning("Redis refused ROLE (%s); relying on its READONLY answers", error)
                role = [b"master"]
            self.reading = clock_reading(connection.read_response())
            if role[0] != b"master":
                raise NotPrimary("the connection reached a read-only replica")
        except redis.RedisError as error:
            connection.disconnect()
            self.error = error
        else:
            self.connection = connection
        finally:
            self.done.set()


def clock_reading(time_reply: Any) -> tuple[float, float]:
    """Return (Redis's clock in seconds, our time.monotonic() now) from TIME's reply."""
    seconds, micros = time_reply
    return int(seconds) + int(micros) / 1e6, time.monotonic()


class Wire:
    """A connection of its own for the counter, made from `template`'s settings.

    `template` says where Redis is and how to talk to it (its pool's connection class and
    settings, the socket timeout included); it is never used to connect.
    """

    def __init__(self, template: redis.Redis) -> None:
        pool = template.connection_pool
        self.connection_class = pool.connection_class
        # The template's address, credentials, database, TLS and timeouts; none of its
        # retries or health-check PINGs: they nest (a failed PING reconnects, and
        # reconnecting retries) and made one call on a silent Redis take 4.8 s. Retries are
        # ours, below, bounded by the caller's deadline.
        self.settings = {
            **pool.connection_kwargs,
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 0,
        }
        self.timeout: float = self.settings.get("socket_timeout") or 1.0
        self.lock = threading.Lock()  # held by the caller using the wire
        self._pid = 0
        self._connection: AbstractConnection | None = None
        self._reading: tuple[float, float] | None = None  # see clock_reading()
        self._connecting: _Connecting | None = None

    def call(self, build: Build, deadline: float) -> Any:
        """Send an idempotent command, again after a lost answer, until `deadline` (monotonic).

        The caller holds `lock`. `build` makes the command for each attempt, on the
        connection that carries it (it may read `redis_ms`, which a new connection moves).
        Error replies are raised as they are, except those saying this node cannot write:
        those drop the connection and are retried like a lost answer, through the name again.
        """
        while True:
            try:
                connection = self._ready(deadline)
                return self._round_trip(connection, build(connection), deadline)
            except redis.RedisError as error:
                if not no_answer(error):
                    raise  # Redis answered: the connection is in step, and asking again is no use
                self.drop()
                if time.monotonic() + RETRY_PAUSE_SECONDS >= deadline:
                    raise
            time.sleep(RETRY_PAUSE_SECONDS)

    def redis_ms(self, instant: float) -> int:
        """Return the earliest Redis time (unix ms) at our monotonic `instant` the reading allows.

        Raises ConnectionError when no reading was made on this connection.
        """
        if self._reading is None:
            raise redis.ConnectionError("Redis's clock was not read on this connection")
        seconds, arrived = self._reading
        return int((seconds + instant - arrived) * 1000)

    def drop(self) -> None:
        """Close the connection; the next call resolves the name and connects again."""
        connection, self._connection, self._reading = self._connection, None, None
        if connection is not None:
            connection.disconnect()

    def _round_trip(
        self, connection: AbstractConnection, packed: list[bytes], deadline: float
    ) -> Any:
        """Send one command and read its reply, waiting no longer than the deadline allows."""
        # No health-check PING first: it would be a second round trip, with its own wait;
        # a stale socket fails the send or the read and the retry reconnects.
        connection.send_packed_command(packed, check_health=False)
        wait = min(self.timeout, deadline - time.monotonic())
        if not connection.can_read(timeout=max(wait, 0)):
            raise redis.TimeoutError(f"no answer within {max(wait, 0):.3g} s")
        return connection.read_response()

    def _ready(self, deadline: float) -> AbstractConnection:
        """Return the connection, made (and checked) if needed, its clock read when due."""
        if self._pid != os.getpid():
            # A forked child must not use its parent's socket, nor wait for its threads.
            self._connection, self._reading, self._connecting = None, None, None
            self._pid = os.getpid()
        connection = self._connection
        if connection is None:
            return self._connect(deadline)
        if self._reading is None or time.monotonic() - self._reading[1] > CLOCK_READ_SECONDS:
            self._reading = clock_reading(
                self._round_trip(connection, connection.pack_command("TIME"), deadline)
            )
        return connection

    def _connect(self, deadline: float) -> AbstractConnection:
        """Wait (until the deadline) for a connection being made; start one if none is."""
        connecting = self._connecting
        if connecting is None or (connecting.done.is_set() and connecting.connection is None):
            # None, or one that failed with nobody waiting: its news is old, try afresh.
            connecting = self._connecting = _Connecting(self)
        if not connecting.done.wait(timeout=max(deadline - time.monotonic(), 0)):
            raise redis.TimeoutError("connecting to Redis took longer than the caller may wait")
        self._connecting = None
        if connecting.connection is None:
            raise connecting.error or redis.ConnectionError("no connection was made")
        self._connection, self._reading = connecting.connection, connecting.reading
        return connecting.connection
