"""The hit counter: at most one Redis round trip per hit, shared by every instance of a service.

Concurrent hits in one process are committed together (group commit): while one round trip
is in flight, the hits that arrive join the next batch, and that batch is sent as one
`INCRBY key n` + `HINCRBY instances me n` write as soon as the wire is free. Redis applies
each INCRBY atomically, so a batch owns the n numbers ending at the value it returns and each
request still gets its own exact number. A lone request is sent at once: nothing waits for
company. Under load this turns one round trip per hit into one per batch (see
docs/benchmark.md for what that is worth).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

EXTENSION = "bookingapp.counter"
# Batches are at most as large as a worker's thread count; keep the wire bytes of that many.
PACKED_SIZES_KEPT = 64


class CounterUnavailable(Exception):
    """Redis did not answer in time; the message says where it was looked for."""


@dataclass(frozen=True)
class Hit:
    """The counts a request sees after its own hit was recorded."""

    hits: int
    instance_hits: int


class _Batch:
    """Hits committed together in one round trip, and what Redis answered for them."""

    __slots__ = ("cause", "gate", "hits", "instance_hits", "problem", "size")

    def __init__(self) -> None:
        self.size = 0
        # Held until Redis answered. Members pass it on one to the next (see wait): cheaper
        # than an Event, whose notify_all wakes everyone from the sender's thread.
        self.gate = threading.Lock()
        self.gate.acquire()
        self.hits: int | None = None  # the service's count after the whole batch
        self.instance_hits = 0  # this instance's count after the whole batch
        self.problem: str | None = None  # why Redis could not count the batch
        self.cause: redis.RedisError | None = None

    def wait(self) -> None:
        """Block until the batch was answered (the sender always opens the gate)."""
        self.gate.acquire()
        self.gate.release()  # wake the next member waiting

    def result(self, position: int) -> Hit:
        """Return the counts of the batch member at `position` (0-based, in arrival order)."""
        if self.problem is not None:
            raise CounterUnavailable(self.problem) from self.cause
        if self.hits is None:
            # The sender hit a bug, not a Redis error; it raised it (and it is logged) there.
            raise RuntimeError("the round trip that carried this hit failed unexpectedly")
        # The batch owns the `size` numbers ending at the totals Redis returned.
        behind = self.size - 1 - position
        return Hit(hits=self.hits - behind, instance_hits=self.instance_hits - behind)


class HitCounter:
    """Count hits per service and per instance in Redis."""

    def __init__(self, client: redis.Redis, service: str, instance: str) -> None:
        self.client = client
        self.instance = instance
        self.key = f"bookingapp:{service}:hits"
        self.instance_key = f"bookingapp:{service}:hits-by-instance"
        self.where = _describe(client)
        self._lock = threading.Lock()  # guards _open
        self._wire = threading.Lock()  # one round trip in flight per process
        self._open: _Batch | None = None  # the batch new hits join
        self._last_problem: str | None = None  # why the latest round trip failed, if it did
        self._connection: redis.connection.Connection | None = None  # taken on the first hit
        self._packed: dict[int, list[bytes]] = {}  # the batch's commands on the wire, by size

    def hit(self) -> Hit:
        """Record one hit and return the counts including it, in at most one round trip."""
        with self._lock:
            batch = self._open
            if batch is None:
                batch = self._open = _Batch()
            position = batch.size
            batch.size += 1
        if position == 0:
            self._send(batch)  # the first to join sends for everyone who joins meanwhile
        else:
            batch.wait()
        return batch.result(position)

    def _send(self, batch: _Batch) -> None:
        """Commit the batch once the round trip in flight (if any) is over; wake its members."""
        waited = not self._wire.acquire(blocking=False)
        if waited:
            self._wire.acquire()
        try:
            with self._lock:
                self._open = None  # closed: hits from now on start the next batch
            if waited and self._last_problem is not None:
                # Redis just failed the round trip this batch queued behind (after its own
                # retries): answer now instead of adding a second ~1.5 s wait (docs/pitfalls.md #7).
                batch.problem = self._last_problem
            else:
                self._commit(batch)
            self._last_problem = batch.problem
        finally:
            self._wire.release()
            batch.gate.release()

    def _commit(self, batch: _Batch) -> None:
        """Add the batch's hits in one round trip and keep the totals."""
        try:
            hits, instance_hits = self._round_trip(batch.size)
        except redis.RedisError as error:
            batch.problem, batch.cause = self._explain(error), error
            return
        batch.hits, batch.instance_hits = int(hits), int(instance_hits)

    def _round_trip(self, size: int) -> tuple[int, int]:
        """Send INCRBY and HINCRBY together on the counter's own connection; return the replies."""
        # INCRBY returns the new value atomically, so there is no INCR-then-GET race; the
        # per-instance HINCRBY rides in the same write, hence the same round trip. Only the
        # holder of the wire uses this connection, so it is taken from the pool once and
        # kept: a pipeline object and a pool checkout per batch cost a third of the trip.
        if self._connection is None or self._connection.pid != os.getpid():
            # Taken in this process: a connection inherited through a fork shares its socket.
            self._connection = self.client.connection_pool.get_connection()
        connection = self._connection
        packed = self._packed.get(size)
        if packed is None:
            # Packing costs as much as parsing the answers; batch sizes repeat (1, 2, 3...).
            packed = connection.pack_commands(
                [("INCRBY", self.key, size), ("HINCRBY", self.instance_key, self.instance, size)]
            )
            if len(self._packed) < PACKED_SIZES_KEPT:
                self._packed[size] = packed

        def attempt() -> tuple[int, int]:
            connection.send_packed_command(packed)  # reconnects, re-auths, health-checks
            return connection.read_response(), connection.read_response()

        answered = False
        try:
            # The client's bounded retries and timeouts, as for any other call
            # (docs/pitfalls.md #7).
            replies = connection.retry.call_with_retry(attempt, lambda _: connection.disconnect())
            answered = True
            return replies
        finally:
            if not answered:
                connection.disconnect()  # never leave half an answer for the next batch to read

    def peek(self) -> int:
        """Return the service's hit count without counting a hit (a readiness probe)."""
        try:
            return int(self.client.get(self.key) or 0)
        except redis.RedisError as error:
            raise CounterUnavailable(self._explain(error)) from error

    def _explain(self, error: redis.RedisError) -> str:
        """Turn a Redis error into a sentence a person can act on."""
        if isinstance(error, redis.AuthenticationError):
            return f"the hit counter at {self.where} refused our credentials (check REDIS_PASSWORD)"
        return f"the hit counter at {self.where} is not answering ({type(error).__name__})"


def _describe(client: redis.Redis) -> str:
    """Return host:port of the client's Redis, for messages."""
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def make_client(config: dict) -> redis.Redis:
    """Build a Redis client whose every call gives up within about 2 seconds."""
    timeout = config["REDIS_SOCKET_TIMEOUT"]
    # Lazy: redis-py connects on first use, so start-up never waits for DNS or Redis
    # (docs/pitfalls.md #6). Timeouts + bounded retries make a dead Redis fail fast; the
    # health check interval re-validates idle pooled connections after Redis moved
    # (docs/pitfalls.md #7).
    return redis.Redis(
        host=config["REDIS_HOST"],
        port=config["REDIS_PORT"],
        db=config["REDIS_DB"],
        password=config["REDIS_PASSWORD"],
        # TLS with certificate and host name checks (ElastiCache's endpoint name).
        ssl=config["REDIS_TLS"],
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        socket_keepalive=True,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), config["REDIS_RETRIES"]),
    )


def init_app(app: Flask, service: str, instance: str) -> None:
    """Attach a hit counter for this service to the app."""
    app.extensions[EXTENSION] = HitCounter(make_client(app.config), service, instance)


def get_counter() -> HitCounter:
    """Return the current app's hit counter."""
    return current_app.extensions[EXTENSION]
