"""The hit counter: exact, atomic, at most one Redis round trip per hit, fast to say "down".

What a visit sees: 200 means its hit is counted exactly once. 503 means it was not counted:
Redis was not asked (known down), refused (an error reply changes nothing, and a read-only
replica takes no write), or got the batch after the moment the visit gave up (the script
refuses it, LATE_MARGIN_SECONDS early on Redis's clock). The one exception no client can
rule out: Redis applied the batch and its answer did not reach the visit in time (lost, or
held up for longer than that margin); the visit was then counted once, though answered 503.

A visit waits at most BUDGET_SECONDS for Redis in all (promises.py), whatever the socket
timeout or the wire is doing. When Redis is known down (a round trip got no usable answer,
or it cannot write), hits and readiness probes fail at once instead of each waiting out the
budget; one request at a time is let through to find out whether Redis is back.

Where each part is, one concern a module:
- _counting.py: the script, and the accessor that names batches and sends the script;
- _group_commit.py: hits joining batches, each member waiting until its deadline;
- _breaker.py: failing fast while Redis is known down;
- _wire.py: the one connection, its retries, failover, Redis's clock, every wait bounded.
This module ties them together and says what each failure means, in words for the log.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from bookingapp_common._breaker import Breaker
from bookingapp_common._counting import Counting, is_late, is_stale
from bookingapp_common._group_commit import Batch, GroupCommit, Unanswered
from bookingapp_common._wire import NotPrimary, Wire, cannot_write, no_answer
from bookingapp_common.promises import REDIS_WAIT_SECONDS

EXTENSION = "bookingapp.counter"
# A visit waits at most this long for Redis in all: the page promises a 503 within 2 s, and
# a request may first queue for a worker thread.
BUDGET_SECONDS = REDIS_WAIT_SECONDS
# While Redis is known down, one request this often is let through to see if it is back.
PROBE_INTERVAL_SECONDS = 0.5
# A worker waits this long at most for Redis before taking its first request (warm()).
WARM_SECONDS = 2.0
# The script refuses a batch from this long before its members give up, on Redis's clock:
# room for the answer to reach them (the network, a busy interpreter) and for the clocks'
# drift between two readings (_wire.CLOCK_READ_SECONDS). docs/pitfalls.md #16.
LATE_MARGIN_SECONDS = 0.1


class CounterUnavailable(Exception):
    """Redis could not count (or read) the hits: the message says why and where, for the log."""


@dataclass(frozen=True)
class Hit:
    """The counts a request sees after its own hit was recorded."""

    hits: int
    instance_hits: int


class HitCounter:
    """Count hits per service and per instance in Redis, on the Redis `client` points at.

    `client` is never used to connect: it says where Redis is and how to talk to it (its
    pool's connection class and settings, the socket timeout included); the wire makes its
    own connection from those.
    """

    def __init__(
        self,
        client: redis.Redis,
        service: str,
        instance: str,
        *,
        group_commit: bool = True,
    ) -> None:
        self.counting = Counting(service, instance)
        self.instance = instance
        self.key = self.counting.key
        self.where = _describe(client)
        self.group_commit = group_commit
        self.breaker = Breaker(PROBE_INTERVAL_SECONDS, BUDGET_SECONDS)
        self._wire = Wire(client)
        self._group = GroupCommit(self._wire, self._send, CounterUnavailable, together=group_commit)

    def hit(self) -> Hit:
        """Record one hit and return the counts including it, in at most one round trip."""
        deadline = time.monotonic() + BUDGET_SECONDS
        refusal = self.breaker.admit()
        if refusal is not None:
            raise CounterUnavailable(refusal)
        try:
            hits, mine = self._group.hit(deadline)
        except Unanswered:
            raise CounterUnavailable(self._unanswered()) from None
        return Hit(hits=hits, instance_hits=mine)

    def ready(self) -> int:
        """Return the service's count if this instance can count now (a readiness probe).

        It runs the counting script for zero hits: Redis answers, is the primary, and the
        keys can be counted on; a replica, a broken record or a wrong-type key is a 503
        here too, not only on the page.
        """
        deadline = time.monotonic() + BUDGET_SECONDS
        refusal = self.breaker.admit()
        if refusal is not None:
            raise CounterUnavailable(refusal)
        try:
            hits, _ = self._group.alone(self._send, deadline)
        except Unanswered:
            raise CounterUnavailable(self._unanswered()) from None
        return hits

    def warm(self, seconds: float = WARM_SECONDS) -> bool:
        """Connect, read Redis's clock and load the script before the first visit.

        A new worker's first batch would otherwise pay for DNS, connect, AUTH and the
        checks inside one visit's budget while the task is still busy starting, and answer
        503s in its first second (seen when a restarted replica took its share of load at
        once). A failure here is not remembered: visits then find out for themselves.
        """
        try:
            self._group.alone(self._send_quietly, time.monotonic() + seconds)
        except (Unanswered, CounterUnavailable):
            return False
        return True

    def _send(self, batch: Batch) -> tuple[int, int]:
        """Count the batch (the caller holds the wire); tell the breaker what Redis did."""
        earlier = self.breaker.failed_since(batch.created)
        if earlier is not None:
            raise CounterUnavailable(earlier)
        try:
            totals = self._count(batch)
        except redis.RedisError as error:
            raise CounterUnavailable(self._failed(error)) from error
        self.breaker.succeeded()
        return totals

    def _send_quietly(self, batch: Batch) -> tuple[int, int]:
        """Count the (empty) batch without telling the breaker: warm-up only."""
        try:
            return self._count(batch)
        except redis.RedisError as error:
            raise CounterUnavailable(self._explain(error)) from error

    def _count(self, batch: Batch) -> tuple[int, int]:
        """Count the batch: the script, sent again after a lost answer until the deadline."""
        apply_by = batch.deadline - LATE_MARGIN_SECONDS
        return self.counting.count(self._wire, batch.size, apply_by, batch.deadline)

    def _unanswered(self) -> str:
        """Say that a visit gave up waiting, and fail fast until Redis answers again."""
        waited = f"nothing within {BUDGET_SECONDS:g} s"
        reason = f"the hit counter at {self.where} is not answering ({waited})"
        self.breaker.failed(reason)
        return reason

    def _failed(self, error: redis.RedisError) -> str:
        """Explain the error; when Redis gave no usable answer, fail fast until it does."""
        reason = self._explain(error)
        if no_answer(error):
            self.breaker.failed(reason)
            return reason
        self.breaker.succeeded()  # Redis answered: it is up, only this call failed
        if isinstance(error, redis.ResponseError) and is_stale(error):
            # Our current batch cannot be older than the record: someone else wrote it.
            self.counting.forget_record()
        return reason

    def _explain(self, error: redis.RedisError) -> str:
        """Turn a Redis error into a sentence an operator can act on."""
        where = f"the hit counter at {self.where}"
        if isinstance(error, redis.AuthenticationError):
            return f"{where} refused our credentials (check REDIS_PASSWORD)"
        if isinstance(error, NotPrimary):
            return f"{where} is a read-only replica (a failover?); reconnecting through the name"
        if cannot_write(error):
            said = type(error).__name__ if str(error) == "" else str(error)[:200]
            return f"{where} cannot take writes now ({said}); reconnecting through the name"
        if isinstance(error, redis.ResponseError):
            if is_late(error):
                return f"{where} answered too late (not counted)"
            return f"{where} answered with an error: {str(error)[:200]} (counting {self.key})"
        return f"{where} is not answering ({type(error).__name__})"


def _describe(client: redis.Redis) -> str:
    """Return host:port of the client's Redis, for messages."""
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def make_client(config: Mapping[str, Any]) -> redis.Redis:
    """Build a Redis client for the configured Redis: lazy, each wait bounded by the timeout."""
    timeout = config["REDIS_SOCKET_TIMEOUT"]
    # Lazy: redis-py connects on first use, so start-up never waits for DNS or Redis
    # (docs/pitfalls.md #6). None of redis-py's retries: they made one call on a silent
    # Redis take 6 s at a 0.2 s timeout. A direct call (the split over instances) ends
    # within its timeouts; the counter's wire retries the idempotent script itself, within
    # the visit's budget (_wire.py).
    return redis.Redis(
        host=config["REDIS_HOST"],
        port=config["REDIS_PORT"],
        db=config["REDIS_DB"],
        password=config["REDIS_PASSWORD"],
        # TLS with certificate and host name checks (ElastiCache's endpoint name); the
        # name check said outright: redis-py 5.0 did not check it by default.
        ssl=config["REDIS_TLS"],
        ssl_check_hostname=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
    )


def init_app(app: Flask, service: str, instance: str) -> None:
    """Attach a hit counter for this service to the app."""
    app.extensions[EXTENSION] = HitCounter(
        make_client(app.config),
        service,
        instance,
        group_commit=app.config["COUNTER_GROUP_COMMIT"],
    )


def instance_key(app: Flask) -> str:
    """Return the key of the app's per-instance counts (a hash: instance id -> hits)."""
    return cast(HitCounter, app.extensions[EXTENSION]).counting.instance_key


def warm_up(app: Flask) -> bool:
    """Open the app's counter connection before its worker serves; False if Redis did not answer."""
    counter = app.extensions.get(EXTENSION)
    return counter.warm() if isinstance(counter, HitCounter) else False


def get_counter() -> HitCounter:
    """Return the current app's hit counter."""
    return cast(HitCounter, current_app.extensions[EXTENSION])
