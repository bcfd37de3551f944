"""Group commit: hits arriving together share one round trip, each keeping its own number.

While one round trip is in flight, the hits that arrive join the next batch, sent as one
script call as soon as the wire is free; the first to join sends for everyone who joins
meanwhile. The script's INCRBY is atomic, so a batch owns the n numbers ending at the value
it returns and hands them out in arrival order. A lone hit is sent at once.

Every member waits for its batch until the batch's deadline, the first member's (a later
member has a little less of its wait), and never longer: waiting for the wire, for a
connection, for a reply, all end then. The counter puts the batch's apply-by time before
that deadline, so a member that gave up is never counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bookingapp_common._wire import Wire

# Does a batch's Redis work on the wire (the caller holds it): returns the service's and
# this instance's totals after the batch, or raises the group's `failure` saying why not.
Send = Callable[["Batch"], tuple[int, int]]


class Unanswered(Exception):
    """The batch was not answered by its deadline."""


class Batch:
    """Hits committed together in one round trip, and what Redis answered for them."""

    __slots__ = ("created", "deadline", "error", "gate", "hits", "instance_hits", "size")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # time.monotonic(): every member gives up then
        self.created = time.monotonic()
        self.size = 0
        # Held until the batch is answered. Members pass it on one to the next (see result):
        # cheaper than an Event, whose notify_all wakes everyone from the sender's thread.
        self.gate = threading.Lock()
        self.gate.acquire()
        self.hits: int | None = None  # the service's count after the whole batch
        self.instance_hits = 0  # this instance's count after the whole batch
        self.error: Exception | None = None  # why Redis could not count the batch

    def result(self, position: int, failure: type[Exception]) -> tuple[int, int]:
        """Wait for the answer; return the counts of the member at `position` (arrival order)."""
        if not self.gate.acquire(timeout=max(self.deadline - time.monotonic(), 0)):
            raise Unanswered
        self.gate.release()  # wake the next member waiting
        if isinstance(self.error, Unanswered):
            raise Unanswered
        if self.error is not None:
            # Each member raises its own (they may be raised in many threads at once).
            raise failure(*self.error.args) from self.error.__cause__
        if self.hits is None:
            # The sender hit a bug, not a Redis error; it raised it (and it is logged) there.
            raise RuntimeError("the round trip that carried this hit failed unexpectedly")
        # The batch owns the `size` numbers ending at the totals Redis returned.
        behind = max(self.size - 1 - position, 0)
        return self.hits - behind, self.instance_hits - behind


class GroupCommit:
    """Join hits into batches on the wire; or, with `together` off, send each on its own."""

    def __init__(
        self, wire: Wire, send: Send, failure: type[Exception], *, together: bool = True
    ) -> None:
        self.wire = wire
        self.send = send
        self.failure = failure  # what `send` raises when Redis could not count
        self.together = together
        self._lock = threading.Lock()  # guards _open and every open batch's size
        self._open: Batch | None = None  # the batch new hits join

    def hit(self, deadline: float) -> tuple[int, int]:
        """Count one hit by `deadline`; return the totals including it (raises Unanswered)."""
        with self._lock:
            batch = self._open
            if batch is None:
                batch = Batch(deadline)
                if self.together:
                    self._open = batch
            position = batch.size
            batch.size += 1
        if position == 0:
            self._commit(batch, self.send)  # the first to join sends for everyone
        return batch.result(position, self.failure)

    def alone(self, send: Send, deadline: float) -> tuple[int, int]:
        """Send an empty batch of its own with `send` (no hit joins it); return the totals."""
        batch = Batch(deadline)
        self._commit(batch, send)
        return batch.result(0, self.failure)

    def _commit(self, batch: Batch, send: Send) -> None:
        """Send the batch once the wire is free (until its deadline); wake its members."""
        try:
            if not self.wire.lock.acquire(timeout=max(batch.deadline - time.monotonic(), 0)):
                self._close(batch)
                batch.error = Unanswered()  # the wire stayed busy for the whole wait
                return
            try:
                self._close(batch)
                batch.hits, batch.instance_hits = send(batch)
            except self.failure as error:
                batch.error = error
            finally:
                self.wire.lock.release()
        finally:
            batch.gate.release()

    def _close(self, batch: Batch) -> None:
        """Take the batch out of joining: from now on its size is final."""
        with self._lock:
            if self._open is batch:
                self._open = None
