"""The hit counter: exact, atomic, at most one Redis round trip per hit, fast to say "down".

The write is one Lua script (COUNT_SCRIPT): it adds n to the service's count and to this
instance's count together or not at all, and remembers the batch it applied, so a batch
sent again after a lost answer is recognised and answered with the same numbers instead of
being counted twice (docs/pitfalls.md #16). It refuses a batch that reaches Redis after its sender
gave up, so a visit answered 503 is not counted later behind its back.

Concurrent hits in one process are committed together (group commit): while one round trip
is in flight, the hits that arrive join the next batch, sent as one script call as soon as
the wire is free. The script's INCRBY is atomic, so a batch owns the n numbers ending at the
value it returns and hands them out in arrival order. A lone request is sent at once.

When Redis is known to be down (a round trip failed for want of an answer), hits and
readiness probes fail at once instead of each waiting out its own timeouts; one request at
a time is let through to find out whether Redis is back (Breaker). What nobody has asked
about for a while is forgotten: a worker idle since an outage takes its next burst whole.

What a visit sees: 200 means its hit is counted exactly once. 503 means it was not
counted: Redis was not asked (known down), refused (an error reply changes nothing), or got
the batch after the sender's deadline (the script refuses it). The one exception no client
can rule out: Redis applied the batch and every answer to it was lost; the visit was then
counted once, though answered 503.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from bookingapp_common._wire import Wire, pack, retry_until

EXTENSION = "bookingapp.counter"
log = logging.getLogger("bookingapp.counter")
# A request waits at most this long for Redis in all (plus one attempt already started):
# the page promises a 503 within 2 s, and a request may first queue for a worker thread.
BUDGET_SECONDS = 1.0
# While Redis is known down, one request this often is let through to see if it is back.
PROBE_INTERVAL_SECONDS = 0.5
# While a probe is out, other requests wait this long for its answer before failing fast:
# a Redis that is back answers in milliseconds (a reconnect included).
PROBE_WAIT_SECONDS = 0.25
# A worker waits this long at most for Redis before taking its first request (warm()).
WARM_SECONDS = 2.0
# How long Redis remembers a process's last batch: far longer than any retry of it.
BATCH_MEMORY_MS = 10_000

# KEYS: the service's count, the per-instance hash, this process's last-batch record.
# ARGV: n, the instance's field, the batch id, the apply-by time (unix ms), BATCH_MEMORY_MS.
# Batch ids grow within a process and a batch is sent only after the one before it was
# answered or given up, so a copy older than the last applied batch is never counted.
# Returns {service count, instance count} after the batch, or an error reply having changed
# nothing. TIME in a writing script needs effects replication: Redis >= 5 (the default).
COUNT_SCRIPT = """
local last = redis.call('GET', KEYS[3])
if last then
  local id, hits, mine = string.match(last, '^(%d+) (-?%d+) (-?%d+)$')
  if id == ARGV[3] then return {tonumber(hits), tonumber(mine)} end
  if id and tonumber(id) > tonumber(ARGV[3]) then
    return redis.error_reply('STALE a later batch was applied; this copy is not counted')
  end
end
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[4]) then
  return redis.error_reply('LATE the batch arrived after its sender gave up; not counted')
end
local hits = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(hits) == 'table' then return hits end
local mine = redis.pcall('HINCRBY', KEYS[2], ARGV[2], ARGV[1])
if type(mine) == 'table' then
  if hits == tonumber(ARGV[1]) then
    redis.call('DEL', KEYS[1])
  else
    redis.call('DECRBY', KEYS[1], ARGV[1])
  end
  return mine
end
redis.call('SET', KEYS[3], ARGV[3] .. ' ' .. hits .. ' ' .. mine, 'PX', ARGV[5])
return {hits, mine}
"""
COUNT_SCRIPT_SHA = hashlib.sha1(COUNT_SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1

# A Redis command, and a way to send one before a deadline (monotonic) and get its reply.
Command = tuple[str | int | bytes, ...]
Call = Callable[[Command, float], Any]


class CounterUnavailable(Exception):
    """Redis could not count (or read) the hits; the message says why, and where it looked."""


@dataclass(frozen=True)
class Hit:
    """The counts a request sees after its own hit was recorded."""

    hits: int
    instance_hits: int


class Breaker:
    """Fail fast while Redis is known down; let one request at a time find out if it is back.

    "Known" means recently: under steady traffic a probe goes out every probe_interval and
    keeps the knowledge fresh; after a quiet spell the breaker forgets and closes. While a
    probe is out, others wait briefly for its answer: a Redis that is back answers in
    milliseconds, so they go on with it instead of being refused on old news.
    """

    def __init__(self, probe_interval: float, probe_budget: float) -> None:
        self.probe_interval = probe_interval
        self.probe_budget = probe_budget  # how long a probe may take before another is let in
        self._changed = threading.Condition()  # notified when a probe's answer is known
        self._reason: str | None = None  # why Redis is taken to be down; None: closed
        self._probing = False  # a probe was let through and has not reported yet
        self._next_probe = 0.0

    def admit(self) -> None:
        """Return if the caller may ask Redis; raise CounterUnavailable while it is known down."""
        if self._reason is None:
            return  # the common case, without the lock
        with self._changed:
            if self._reason is None:
                return
            now = time.monotonic()
            if now >= self._next_probe + self.probe_interval:
                # A probe was due a whole interval ago and nobody came (a worker idle since an
                # outage): what we knew is old. Forget it, so this burst asks Redis (in one
                # batch) instead of one probe asking while the rest are refused.
                self._close("no request for a while")
                return
            if now >= self._next_probe:
                # This caller is the probe; the others fail fast until it reports.
                self._next_probe = now + self.probe_budget + self.probe_interval
                self._probing = True
                return
            if self._probing:
                # Bounded, so that while Redis is really down a 503 stays quick.
                self._changed.wait_for(lambda: not self._probing, timeout=PROBE_WAIT_SECONDS)
            reason = self._reason
            if reason is None:
                return  # the probe found Redis back
        raise CounterUnavailable(f"{reason}; Redis is asked again every {self.probe_interval:g} s")

    def succeeded(self) -> None:
        """Redis answered: let everyone through again."""
        if self._reason is None and not self._probing:
            return  # the common case, without the lock
        with self._changed:
            self._close("Redis answered")

    def failed(self, reason: str) -> None:
        """Redis did not answer: fail fast for a while, then let one probe through."""
        with self._changed:
            if self._reason is None:
                log.warning(
                    "Redis is taken as down: %s; failing fast, asking again every %g s",
                    reason,
                    self.probe_interval,
                )
            self._reason = reason
            self._probing = False
            self._next_probe = time.monotonic() + self.probe_interval
            self._changed.notify_all()

    def _close(self, why: str) -> None:
        """Let everyone through again (the caller holds the lock)."""
        if self._reason is not None:
            log.info("Redis is asked again by every request (%s)", why)
        self._reason = None
        self._probing = False
        self._changed.notify_all()


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

    def __init__(
        self,
        client: redis.Redis,
        service: str,
        instance: str,
        *,
        attempt_timeout: float = 0.4,
        group_commit: bool = True,
    ) -> None:
        self.client = client
        self.instance = instance
        self.key = f"bookingapp:{service}:hits"
        self.instance_key = f"bookingapp:{service}:hits-by-instance"
        self.where = _describe(client)
        self.group_commit = group_commit
        self.breaker = Breaker(PROBE_INTERVAL_SECONDS, BUDGET_SECONDS + attempt_timeout)
        self._wire = Wire(client, attempt_timeout)
        self._attempt_timeout = attempt_timeout
        self._lock = threading.Lock()  # guards _open and _sequence
        self._wire_lock = threading.Lock()  # one round trip in flight per process
        self._open: _Batch | None = None  # the batch new hits join
        self._last_problem: str | None = None  # why the latest round trip failed, if it did
        self._sequence = 0  # numbers this process's batches
        self._process = ("", 0)  # (random token, pid): names this process's batches in Redis
        self._script_loaded = True  # EVALSHA first; EVAL once after NOSCRIPT
        self._clock_offset: float | None = None  # Redis's clock minus ours, once measured

    def hit(self) -> Hit:
        """Record one hit and return the counts including it, in at most one round trip."""
        self.breaker.admit()
        if not self.group_commit:
            return self._hit_alone()
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
        waited = not self._wire_lock.acquire(blocking=False)
        if waited:
            self._wire_lock.acquire()
        try:
            with self._lock:
                self._open = None  # closed: hits from now on start the next batch
            if waited and self._last_problem is not None:
                # Redis just failed the round trip this batch queued behind (after its own
                # retries): answer now instead of adding a second wait (docs/pitfalls.md #7).
                batch.problem = self._last_problem
            else:
                self._commit(batch)
            self._last_problem = batch.problem
        finally:
            self._wire_lock.release()
            batch.gate.release()

    def _commit(self, batch: _Batch) -> None:
        """Add the batch's hits in one round trip and keep the totals."""
        record, batch_id = self._batch_name(shared=True)
        try:
            hits, instance_hits = self._count(batch.size, record, batch_id, self._call_on_wire)
        except redis.RedisError as error:
            batch.problem, batch.cause = self._failed(error), error
            return
        self.breaker.succeeded()
        batch.hits, batch.instance_hits = int(hits), int(instance_hits)

    def _hit_alone(self) -> Hit:
        """Count one hit with its own script call on a pooled connection (no group commit)."""
        record, batch_id = self._batch_name(shared=False)
        try:
            hits, mine = self._count(1, record, batch_id, self._call_on_pool)
        except redis.RedisError as error:
            raise CounterUnavailable(self._failed(error)) from error
        self.breaker.succeeded()
        return Hit(hits=int(hits), instance_hits=int(mine))

    def _batch_name(self, *, shared: bool) -> tuple[str, str]:
        """Return (the key remembering the batch, the batch's id), unique to this process."""
        with self._lock:
            if self._process[1] != os.getpid():
                # A forked worker must not share its parent's batch names.
                self._process = (secrets.token_hex(6), os.getpid())
            self._sequence += 1
            token, sequence = self._process[0], self._sequence
        # With group commit one batch is in flight per process: one record, rewritten.
        record = f"{self.key}:batches:{self.instance}:{token}"
        return (record if shared else f"{record}:{sequence}"), str(sequence)

    def _count(self, size: int, record: str, batch_id: str, call: Call) -> list[int]:
        """Run the counting script for `size` hits within the budget; return both counts."""
        deadline = time.monotonic() + BUDGET_SECONDS
        offset = self._offset(call, deadline)
        # Redis refuses the batch after the latest moment this process may still be waiting,
        # on Redis's clock: a skewed host clock must not make every batch late (or none).
        left = deadline - time.monotonic()
        apply_by = time.time() + offset + left + self._attempt_timeout
        args: tuple[str | int, ...] = (
            self.key,
            self.instance_key,
            record,
            size,
            self.instance,
            batch_id,
        )
        args += (int(apply_by * 1000), BATCH_MEMORY_MS)
        if self._script_loaded:
            try:
                # The script answers {hits, mine}, the service's and this instance's totals.
                return cast("list[int]", call(("EVALSHA", COUNT_SCRIPT_SHA, 3, *args), deadline))
            except redis.exceptions.NoScriptError:
                self._script_loaded = False  # a restarted or flushed Redis: load it again
        replies = call(("EVAL", COUNT_SCRIPT, 3, *args), deadline)
        self._script_loaded = True
        return cast("list[int]", replies)

    def warm(self, seconds: float = WARM_SECONDS) -> bool:
        """Connect and read Redis's clock before the first visit; say whether Redis answered.

        A new worker's first batch would otherwise pay for DNS, connect, AUTH and TIME inside
        one visit's budget while the task is still busy starting, and answer 503s in its
        first second (seen when a restarted replica took its share of load at once). A
        failure here is not remembered: visits then find out for themselves, as before.
        """
        deadline = time.monotonic() + seconds
        if not self._wire_lock.acquire(timeout=seconds):
            return False
        try:
            self._offset(self._call_on_wire, deadline)
        except redis.RedisError:
            return False
        finally:
            self._wire_lock.release()
        return True

    def _offset(self, call: Call, deadline: float) -> float:
        """Return Redis's clock minus ours, asked (TIME) at first and after each failure."""
        if self._clock_offset is None:
            before = time.time()
            seconds, micros = call(("TIME",), deadline)
            after = time.time()
            self._clock_offset = int(seconds) + int(micros) / 1e6 - (before + after) / 2
        return self._clock_offset

    def _call_on_wire(self, command: Command, deadline: float) -> Any:
        """Send a command on the counter's kept connection (the caller holds the wire)."""
        # The script is idempotent (it remembers the batch), so a resend is always safe.
        return self._wire.call(pack(*command), deadline, idempotent=True)

    def _call_on_pool(self, command: Command, deadline: float) -> Any:
        """Send a command through the client's pool, resent (it is idempotent) until deadline."""
        return retry_until(
            deadline, self._attempt_timeout, lambda: self.client.execute_command(*command)
        )

    def peek(self) -> int:
        """Return the service's hit count without counting a hit (a readiness probe)."""
        self.breaker.admit()
        deadline = time.monotonic() + BUDGET_SECONDS
        # Behind a round trip in flight, but never longer than half the budget.
        if not self._wire_lock.acquire(timeout=BUDGET_SECONDS / 2):
            raise CounterUnavailable(f"the hit counter at {self.where} is busy; try again")
        try:
            raw = self._wire.call(pack("GET", self.key), deadline, idempotent=True)
        except redis.RedisError as error:
            raise CounterUnavailable(self._failed(error)) from error
        finally:
            self._wire_lock.release()
        self.breaker.succeeded()
        return self._as_count(raw)

    def _as_count(self, raw: bytes | None) -> int:
        """Read a stored count; a value that is not one is a clear answer, never a crash."""
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError:
            shown = raw[:40].decode("utf-8", "replace")
            raise CounterUnavailable(
                f"the hit counter at {self.where} holds {shown!r} under {self.key}, not a count"
            ) from None

    def _failed(self, error: redis.RedisError) -> str:
        """Explain the error; when Redis did not answer, fail fast until it does again."""
        reason = self._explain(error)
        if isinstance(error, redis.ResponseError):
            self.breaker.succeeded()  # Redis answered: it is up, only this call failed
        else:
            self._clock_offset = None  # Redis may come back elsewhere: measure again
            self.breaker.failed(reason)
        return reason

    def _explain(self, error: redis.RedisError) -> str:
        """Turn a Redis error into a sentence a person can act on."""
        if isinstance(error, redis.AuthenticationError):
            return f"the hit counter at {self.where} refused our credentials (check REDIS_PASSWORD)"
        if isinstance(error, redis.ResponseError):
            text = str(error)
            if text.startswith("LATE"):
                return f"the hit counter at {self.where} answered too late (not counted)"
            return f"the hit counter at {self.where} answered with an error: {text[:200]}"
        return f"the hit counter at {self.where} is not answering ({type(error).__name__})"


def _describe(client: redis.Redis) -> str:
    """Return host:port of the client's Redis, for messages."""
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def make_client(config: Mapping[str, Any]) -> redis.Redis:
    """Build a Redis client whose every call gives up within about 2 seconds."""
    timeout = config["REDIS_SOCKET_TIMEOUT"]
    # Lazy: redis-py connects on first use, so start-up never waits for DNS or Redis
    # (docs/pitfalls.md #6). Timeouts + bounded retries make a dead Redis fail fast; the
    # health check interval re-validates idle pooled connections after Redis moved
    # (docs/pitfalls.md #7). The counter's own writes do not use this Retry: they are
    # retried only as idempotent script calls, within BUDGET_SECONDS (see _wire).
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
    app.extensions[EXTENSION] = HitCounter(
        make_client(app.config),
        service,
        instance,
        attempt_timeout=app.config["REDIS_SOCKET_TIMEOUT"],
        group_commit=app.config["COUNTER_GROUP_COMMIT"],
    )


def warm_up(app: Flask) -> bool:
    """Open the app's counter connection before its worker serves; False if Redis did not answer."""
    counter = app.extensions.get(EXTENSION)
    return counter.warm() if isinstance(counter, HitCounter) else False


def get_counter() -> HitCounter:
    """Return the current app's hit counter."""
    return cast(HitCounter, current_app.extensions[EXTENSION])
