"""The breaker: fail fast while Redis is known down; let one request at a time see if it is back.

"Known" means recently: under steady traffic a probe goes out every probe_interval and
keeps the knowledge fresh; after a quiet spell the breaker forgets and closes, so a worker
idle since an outage takes its next burst whole. While a probe is out, others wait briefly
for its answer: a Redis that is back answers in milliseconds, so they go on with it instead
of being refused on old news. "Down" includes "cannot write": a read-only replica after a
failover is no use to a counter.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("bookingapp.counter")
# While a probe is out, other requests wait this long for its answer before failing fast:
# a Redis that is back answers in milliseconds (a reconnect included).
PROBE_WAIT_SECONDS = 0.25


class Breaker:
    """Say who may ask Redis now; remember when and why it was last found down."""

    def __init__(self, probe_interval: float, probe_budget: float) -> None:
        self.probe_interval = probe_interval
        self.probe_budget = probe_budget  # how long a probe may take before another is let in
        self._changed = threading.Condition()  # notified when a probe's answer is known
        self._reason: str | None = None  # why Redis is taken to be down; None: closed
        self._probing = False  # a probe was let through and has not reported yet
        self._next_probe = 0.0
        self._failed_at = -1.0  # time.monotonic() of the last failure

    def admit(self) -> str | None:
        """Return None if the caller may ask Redis, else why not (Redis is known down)."""
        if self._reason is None:
            return None  # the common case, without the lock
        with self._changed:
            if self._reason is None:
                return None
            now = time.monotonic()
            if now >= self._next_probe + self.probe_interval:
                # A probe was due a whole interval ago and nobody came (a worker idle since an
                # outage): what we knew is old. Forget it, so this burst asks Redis (in one
                # batch) instead of one probe asking while the rest are refused.
                self._close("no request for a while")
                return None
            if now >= self._next_probe:
                # This caller is the probe; the others fail fast until it reports.
                self._next_probe = now + self.probe_budget + self.probe_interval
                self._probing = True
                return None
            if self._probing:
                # Bounded, so that while Redis is really down a 503 stays quick.
                self._changed.wait_for(lambda: not self._probing, timeout=PROBE_WAIT_SECONDS)
            reason = self._reason
        if reason is None:
            return None  # the probe found Redis back
        return f"{reason}; Redis is asked again every {self.probe_interval:g} s"

    def failed_since(self, moment: float) -> str | None:
        """Return why Redis was found down after `moment` (time.monotonic()), else None.

        A batch that waited behind a round trip that failed is answered with its reason at
        once, instead of making its visits wait out a second set of timeouts for the same
        dead Redis (docs/pitfalls.md #7).
        """
        reason = self._reason
        return reason if reason is not None and self._failed_at > moment else None

    def succeeded(self) -> None:
        """Redis answered: let everyone through again."""
        if self._reason is None and not self._probing:
            return  # the common case, without the lock
        with self._changed:
            self._close("Redis answered")

    def failed(self, reason: str) -> None:
        """Redis gave no usable answer: fail fast for a while, then let one probe through."""
        with self._changed:
            if self._reason is None:
                log.warning(
                    "Redis is taken as down: %s; failing fast, asking again every %g s",
                    reason,
                    self.probe_interval,
                )
            self._reason = reason
            self._probing = False
            self._failed_at = time.monotonic()
            self._next_probe = self._failed_at + self.probe_interval
            self._changed.notify_all()

    def _close(self, why: str) -> None:
        """Let everyone through again (the caller holds the lock)."""
        if self._reason is not None:
            log.info("Redis is asked again by every request (%s)", why)
        self._reason = None
        self._probing = False
        self._changed.notify_all()
