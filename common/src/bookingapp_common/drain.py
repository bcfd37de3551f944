"""Deregister, then stop: on SIGTERM fail the health check, keep serving, then shut down.

On AWS the ALB deregisters a target and waits its deregistration delay *before* ECS sends
SIGTERM, so no request reaches a task that is stopping. Locally nothing does that: Docker
sends SIGTERM straight away, and Traefik learns of it only from its next health check or
the container's `die` event. gunicorn alone closes its listener at SIGTERM, and the requests
Traefik still sends meanwhile get 502 (measured: 1664 of 14090 during a rolling restart;
docs/pitfalls.md #15, traefik#7373).

Why this mechanism, on the evidence (docs/benchmark.md, "Replicas coming and going"):
- The app is the only party that knows a stop is coming, so it tells the load balancer the
  way every load balancer understands: its health path answers 503 ("draining") while it
  keeps serving for DRAIN_SECONDS. Traefik's own check (every 2 s, compose.yaml) marks it
  DOWN within ~2 s; then gunicorn's graceful stop finishes the requests in flight.
- Why 15 s and not 2: Traefik forgets its checks' verdicts whenever a service's server
  list changes (traefik#6096). When replicas drain together (a scale-down, a release) and
  one of them leaves, the others still listed are UP again until their next check; that
  is harmless while they still serve, and 502s once their listener is closed. A replica
  is out of Traefik's configuration for good (no reset can bring it back) once Docker has
  marked it unhealthy: 2 failed checks 4 s apart, measured at 5.5-8 s after SIGTERM, on a
  quiet host and beside 3 CPU hogs alike (`python -m tests.compose.events --drain N`,
  docs/benchmark.md), and it leaves Traefik's configuration with it. So the drain outlasts that.
- Traefik's retry middleware is not used: it retries whenever the server "does not reply",
  which includes a connection reset after the request was sent, so a hit could be counted
  twice (docs/pitfalls.md #16). With the drain nothing is refused, so there is nothing to retry.
- On ECS the ALB has already drained the task: the drain only delays the stop by 15 s
  (BOOKINGAPP_DRAIN_SECONDS=0 in the task definition would skip it), and DRAIN_SECONDS +
  gunicorn's graceful timeout (15 + 10 s) stays inside the 30 s stopTimeout.

The flag is one byte of memory shared by the master and its workers: an anonymous shared
mapping made when this module is imported, which gunicorn_conf.py does in the master before
any worker forks, so every worker reads the byte the master writes. It belongs to that one
server (no name two servers could share) and dies with it (nothing to clean up), and
reading it makes no system call: the health path asked the file system once per probe,
which cost more than the rest of the view (docs/benchmark.md).
"""

from __future__ import annotations

import mmap
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

# Until Docker has marked the replica unhealthy and Traefik dropped it (see above); short
# enough that drain + graceful timeout (10 s) stays inside ECS's 30 s stopTimeout.
# gunicorn_conf.py reads BOOKINGAPP_DRAIN_SECONDS to change it (0: no drain).
DRAIN_SECONDS = 15.0


def new_flag() -> mmap.mmap:
    """Return a flag of its own, down, shared with the processes forked after this call."""
    # MAP_SHARED (mmap's default): a fork inherits the same byte, not a copy.
    return mmap.mmap(-1, 1)


# The server's flag: 1 while draining. A test makes one of its own with new_flag().
SHARED = new_flag()


def draining(flag: mmap.mmap = SHARED) -> bool:
    """Say whether this server is draining (asked by the health view, per request)."""
    return flag[0] == 1


def begin(flag: mmap.mmap = SHARED) -> None:
    """Mark the server draining: from now on its health path answers 503."""
    flag[0] = 1


def clear(flag: mmap.mmap = SHARED) -> None:
    """Mark the server serving again (a test that began a drain puts the flag back)."""
    flag[0] = 0


def install(
    arbiter: Any,
    seconds: float = DRAIN_SECONDS,
    flag: mmap.mmap = SHARED,
    kill: Callable[[int, int], None] = os.kill,
) -> None:
    """Make the gunicorn arbiter drain on its first SIGTERM, then stop gracefully on a second.

    The first SIGTERM sets the flag and arms a timer that sends the master SIGTERM again
    after `seconds`; that one (or any further SIGTERM, e.g. an impatient operator) goes to
    gunicorn's own graceful stop. SIGINT and SIGQUIT still stop at once.
    """
    graceful_stop = arbiter.handle_term
    pid = os.getpid()
    started = threading.Event()

    def handle_term() -> None:
        """Drain first; stop gracefully when the drain is over."""
        if started.is_set() or seconds <= 0:
            graceful_stop()
            return
        started.set()
        begin(flag)
        arbiter.log.info("SIGTERM: draining %.1f s (health answers 503), then stopping", seconds)
        timer = threading.Timer(seconds, kill, (pid, signal.SIGTERM))
        timer.daemon = True
        timer.start()

    arbiter.handle_term = handle_term
