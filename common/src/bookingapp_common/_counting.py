"""Counting: the Lua script that adds a batch of hits, and the accessor that names and sends it.

The script adds n to the service's count and to this instance's count together or not at
all, and remembers the batch it applied, so a batch sent again after a lost answer is
recognised and answered with the same numbers instead of being counted twice
(docs/pitfalls.md #16). It refuses a batch that reaches Redis after its apply-by time (on
Redis's clock), which the counter sets before the moment every visit in the batch gives up:
a visit answered 503 is not counted later behind its back.

Batches are numbered per process (a random token and a sequence): one record per process
and instance, rewritten by each batch and expiring after BATCH_MEMORY_MS. A record this
process cannot have written (a stray write: no expiry, a higher batch number, another type)
costs one batch at most: the script ignores what it cannot read, and a STALE answer to the
current batch makes the process take a new token, so a new record.

The script is named by its SHA-1 (EVALSHA) and sent whole (EVAL) once after NOSCRIPT (a
restarted or flushed Redis), on the wire's own connection. redis-py's register_script does
the same through a client's execute_command, whose reply wait is the whole socket timeout
rather than what is left of the visit's deadline, and whose retries are not bounded by it:
so the few lines below instead (docs/redis.md, "The wire").
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from typing import cast

import redis

from bookingapp_common._wire import Wire

# How long Redis remembers a process's last batch: far longer than any retry of it.
BATCH_MEMORY_MS = 10_000

# KEYS: the service's count, the per-instance hash, this process's last-batch record.
# ARGV: n, the instance's field, the batch id, the apply-by time (unix ms), BATCH_MEMORY_MS.
# Batch ids grow within a process and a batch is sent only after the one before it was
# answered or given up, so a copy older than the last applied batch is never counted.
# n = 0 counts nothing and answers the totals: the readiness probe, which so proves that
# this instance can count (Redis up, a primary, the keys usable), not only read.
# Returns {service count, instance count} after the batch, or an error reply having changed
# nothing. TIME in a writing script needs effects replication: Redis >= 5 (the default).
COUNT_SCRIPT = """
local last = redis.pcall('GET', KEYS[3])
if type(last) == 'string' then
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


def is_stale(error: redis.ResponseError) -> bool:
    """Tell whether the script refused a batch because the record holds a later one."""
    return str(error).startswith("STALE")


def is_late(error: redis.ResponseError) -> bool:
    """Tell whether the script refused a batch that arrived after its apply-by time."""
    return str(error).startswith("LATE")


class Counting:
    """The counting script for one service and instance: its keys, its batch names, its call."""

    def __init__(self, service: str, instance: str) -> None:
        self.instance = instance
        self.key = f"bookingapp:{service}:hits"
        self.instance_key = f"bookingapp:{service}:hits-by-instance"
        self._loaded = True  # EVALSHA first; the whole script once after NOSCRIPT
        self._lock = threading.Lock()  # guards the names below
        self._process = ("", 0)  # (random token, pid): names this process's batches in Redis
        self._sequence = 0

    def next_batch(self) -> tuple[str, str]:
        """Return (the key remembering this process's last batch, the next batch's id)."""
        with self._lock:
            if self._process[1] != os.getpid():
                # A forked worker must not share its parent's batch names.
                self._process = (secrets.token_hex(6), os.getpid())
            self._sequence += 1
            token, sequence = self._process[0], self._sequence
        return f"{self.key}:batches:{self.instance}:{token}", str(sequence)

    def forget_record(self) -> None:
        """Take a new token (so a new record): the current one holds what we did not write."""
        with self._lock:
            self._process = (secrets.token_hex(6), os.getpid())

    def count(self, wire: Wire, size: int, apply_by: float, deadline: float) -> tuple[int, int]:
        """Count `size` hits as the next batch; return the service's and this instance's totals.

        The caller holds the wire. `apply_by` (time.monotonic()) is put on Redis's clock at
        each attempt: a retry may reach another Redis (a failover) with another clock.
        """
        record, batch_id = self.next_batch()

        def build(connection: redis.connection.AbstractConnection) -> list[bytes]:
            keys = (self.key, self.instance_key, record)
            args = (size, self.instance, batch_id, wire.redis_ms(apply_by), BATCH_MEMORY_MS)
            script = ("EVALSHA", COUNT_SCRIPT_SHA) if self._loaded else ("EVAL", COUNT_SCRIPT)
            return cast("list[bytes]", connection.pack_command(*script, 3, *keys, *args))

        try:
            hits, mine = wire.call(build, deadline)
        except redis.exceptions.NoScriptError:
            self._loaded = False  # a restarted or flushed Redis: send the script itself once
            hits, mine = wire.call(build, deadline)
        self._loaded = True
        return int(hits), int(mine)
