"""Side panels read at most every max_age: one request refreshes, the others reuse.

A page's side panels (the neighbours' state, how the hits split over the instances) cost
a network call each to learn. Per hit that would cost more than the hit (docs/benchmark.md),
so what was learnt is kept as a versioned snapshot for max_age seconds: renderers cache
what they derive from it by its version, and one request at a time pays for a refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """What one refresh learnt; `version` grows with every refresh."""

    version: int
    states: tuple[dict[str, Any], ...]


# What a renderer is given before anything was read (a panel with nothing in it).
EMPTY = Snapshot(0, ())


class Refreshed:
    """Keep what `read` returns for `max_age` seconds; one caller at a time refreshes it."""

    def __init__(
        self, read: Callable[[str | None], tuple[dict[str, Any], ...]], max_age: float
    ) -> None:
        self.read = read
        self.max_age = max_age
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._read_at = 0.0
        self._refreshing = False

    def snapshot(self, request_id: str | None = None) -> Snapshot:
        """Return the states, at most max_age old; `request_id` is the refreshing request's."""
        with self._lock:
            current = self._snapshot
            fresh = time.monotonic() - self._read_at < self.max_age
            if current is not None and (fresh or self._refreshing):
                # A panel must not put a network call on every page view, nor stall
                # concurrent requests while one refreshes: they get the last snapshot.
                return current
            self._refreshing = True
        try:
            states = self.read(request_id)
        finally:
            with self._lock:
                self._refreshing = False
        with self._lock:
            # A failed read is remembered like a good one (`read` turns failures into
            # states): a broken source costs one read per max_age, a recovered one shows
            # at the next refresh.
            version = (self._snapshot.version if self._snapshot else 0) + 1
            self._snapshot, self._read_at = Snapshot(version, states), time.monotonic()
            return self._snapshot
