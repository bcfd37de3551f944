"""The state of other services, fetched concurrently through their discovery names."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from flask import Flask, current_app

EXTENSION = "bookingapp.neighbours"


@dataclass(frozen=True)
class NeighbourState:
    """What one neighbour said, or why it said nothing."""

    name: str
    up: bool
    hits: int | None = None
    instance: str | None = None
    problem: str | None = None

    def as_dict(self) -> dict:
        """Return the state as JSON-ready data."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


class Neighbours:
    """Ask each neighbour's readiness endpoint, all at once, within one overall deadline."""

    def __init__(self, urls: dict[str, str], timeout: float, max_age: float):
        self.urls = urls
        self.timeout = timeout
        self.max_age = max_age
        # One small pool per process, created with the app, not per request.
        self.pool = ThreadPoolExecutor(max_workers=max(len(urls), 1) * 4, thread_name_prefix="nb")
        self._lock = threading.Lock()
        self._cached: list[dict] | None = None
        self._fetched_at = 0.0
        self._refreshing = False

    def states(self) -> list[dict]:
        """Return the neighbours' states as data, at most max_age old; one request refreshes.

        The same list object is returned until the next refresh, so callers may cache what
        they derive from it by identity.
        """
        with self._lock:
            fresh = time.monotonic() - self._fetched_at < self.max_age
            if self._cached is not None and (fresh or self._refreshing):
                # Neighbours' state is a side panel: it must not put two HTTP calls on
                # every page view, nor stall concurrent requests while one refreshes.
                return self._cached
            self._refreshing = True
        try:
            states = [state.as_dict() for state in self.fetch()]
        finally:
            with self._lock:
                self._refreshing = False
        with self._lock:
            self._cached, self._fetched_at = states, time.monotonic()
        return states

    def fetch(self) -> list[NeighbourState]:
        """Ask every neighbour now; a slow or dead one degrades only its own entry."""
        futures = {name: self.pool.submit(self._ask, name, url) for name, url in self.urls.items()}
        # One deadline for all: DNS lookups are not covered by socket timeouts, wait() is.
        wait(futures.values(), timeout=self.timeout)
        return [self._result(name, future) for name, future in futures.items()]

    def _result(self, name: str, future: Future) -> NeighbourState:
        """Return the finished answer, or say the neighbour did not answer in time."""
        if not future.done():
            future.cancel()
            return NeighbourState(name, up=False, problem=f"no answer within {self.timeout:g} s")
        return future.result()

    def _ask(self, name: str, url: str) -> NeighbourState:
        """Fetch one neighbour's readiness document."""
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - fixed http URL
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = json.load(response)
        except urllib.error.HTTPError as error:
            return NeighbourState(name, up=False, problem=f"answered {error.code}")
        except (OSError, ValueError) as error:
            return NeighbourState(name, up=False, problem=_reason(error))
        return NeighbourState(name, up=True, hits=body.get("hits"), instance=body.get("instance"))


def _reason(error: Exception) -> str:
    """Say briefly why a neighbour could not be reached."""
    reason = getattr(error, "reason", error)
    return f"unreachable ({reason})"


def init_app(app: Flask, names: tuple[str, ...]) -> None:
    """Attach the neighbour client for the given service names."""
    template = app.config["NEIGHBOUR_URL_TEMPLATE"]
    urls = {name: template.format(name=name) for name in names}
    app.extensions[EXTENSION] = Neighbours(
        urls, app.config["NEIGHBOUR_TIMEOUT"], app.config["NEIGHBOUR_MAX_AGE"]
    )


def get_neighbours() -> Neighbours:
    """Return the current app's neighbour client."""
    return current_app.extensions[EXTENSION]
