"""One redis-py connection of its own, driven directly: the counter's wire, and nothing else.

The counter sends one command per round trip and never has two in flight (its own lock
sees to that), so one connection made once and kept is cheaper than a pool checkout and a
pipeline per batch (docs/benchmark.md).

Retries, timeouts and the overall deadline are decided here, not inside redis-py: the
connection is made without redis-py's retries and health-check PINGs, which nest (a failed
PING reconnects, and reconnecting retries) and made one call on a silent Redis take 4.8 s.
A caller says how long it may wait in all, and whether its command is safe to send twice.

What this uses of redis-py: a pool's `connection_class` and `connection_kwargs`, the
`retry` and `health_check_interval` connection arguments, and a connection's
`send_packed_command(check_health=False)`, `read_response` and `disconnect`. The floor
that tests/unit/test_counter_*.py pass on is in common/pyproject.toml.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

T = TypeVar("T")

# Between attempts: long enough for a restarting Redis to take connections again.
BACKOFF_SECONDS = 0.05


def pack(*args: str | int | bytes) -> list[bytes]:
    """Encode one command in RESP, the way redis-py's packer would, as one buffer."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return [b"".join(parts)]


def retry_until(deadline: float, attempt_timeout: float, send: Callable[[], T]) -> T:
    """Call `send()` (an idempotent command) until it answers or no attempt fits the deadline."""
    while True:
        try:
            return send()
        except redis.AuthenticationError:
            raise  # asking again with the same password cannot help
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() + BACKOFF_SECONDS + attempt_timeout > deadline:
                raise
            time.sleep(BACKOFF_SECONDS)


class Wire:
    """A connection of `client`'s pool kept for one caller at a time (the caller serialises)."""

    def __init__(self, client: redis.Redis, attempt_timeout: float) -> None:
        pool = client.connection_pool
        # The client's address, credentials, database and timeouts; none of its retries.
        self.make: Callable[[], redis.connection.Connection] = lambda: pool.connection_class(
            **{**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}
        )
        # One attempt can take a connect and a read timeout; start one only if it may finish.
        self.attempt_timeout = attempt_timeout
        self._connection: redis.connection.Connection | None = None
        self._pid = 0

    def _take(self) -> redis.connection.Connection:
        """Return the kept connection, making a new one after a fork (a shared socket)."""
        if self._connection is None or self._pid != os.getpid():
            self._connection = self.make()  # connects lazily, on the first send
            self._pid = os.getpid()
        return self._connection

    # Any: a Redis reply's shape depends on the command sent.
    def call(self, packed: list[bytes], deadline: float, *, idempotent: bool) -> Any:
        """Send one command and return its reply, retrying until `deadline` when `idempotent`.

        `deadline` is a time.monotonic() value. A command that is not idempotent is sent at
        most once: after a lost answer nobody can tell whether Redis executed it.
        Redis error replies are raised as redis.ResponseError (no retry: Redis answered).
        """
        while True:
            connection = self._take()
            try:
                # No health-check PING first: it would be a second round trip, with its own
                # timeout; a stale socket fails the send or the read and the retry reconnects.
                connection.send_packed_command(packed, check_health=False)
                return connection.read_response()
            except redis.ResponseError:
                raise  # the reply was read in full: the connection is still in step
            except redis.AuthenticationError:
                self.drop()
                raise  # asking again with the same password cannot help
            except (redis.ConnectionError, redis.TimeoutError):
                self.drop()
                if not idempotent or not self._time_for_another(deadline):
                    raise
                time.sleep(BACKOFF_SECONDS)
            except BaseException:
                self.drop()  # never leave half an answer for the next caller to read
                raise

    def _time_for_another(self, deadline: float) -> bool:
        """Tell whether one more attempt, after the backoff, can finish before the deadline."""
        return time.monotonic() + BACKOFF_SECONDS + self.attempt_timeout <= deadline

    def drop(self) -> None:
        """Close the kept connection; the next call connects again."""
        if self._connection is not None:
            self._connection.disconnect()
