"""The state of other services, fetched concurrently through their discovery names.

A neighbour is another team's service, so it is treated as untrusted input: one deadline
covers each whole fetch (connect, request, every read), the answer is read up to a size cap,
redirects are not followed, and anything but a small readiness document is a "down" panel.
What was learnt, failures included, is reused for NEIGHBOUR_MAX_AGE (snapshots.py).
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from flask import Flask, current_app

from bookingapp_common.logs import TRACE_HEADER
from bookingapp_common.snapshots import Refreshed, Snapshot

EXTENSION = "bookingapp.neighbours"
# A readiness document is ~100 bytes with headers ~300: anything past this is not one,
# and must not cost a worker memory (a Fargate task has 1 GB for two workers).
MAX_ANSWER_BYTES = 16 * 1024
# What of a neighbour's instance id is shown; ECS task ids are 32 characters.
MAX_INSTANCE_CHARS = 64


@dataclass(frozen=True)
class NeighbourState:
    """What one neighbour said, or why it said nothing."""

    name: str
    up: bool
    hits: int | None = None
    instance: str | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the state as JSON-ready data."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


class _AnswerTooLarge(Exception):
    """The neighbour sent more than MAX_ANSWER_BYTES."""


class _Recorded:
    """A socket stand-in holding an answer already read, for http.client to parse."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        """Return the recorded bytes as the file http.client reads from."""
        return io.BytesIO(self.data)


class Neighbours:
    """Ask each neighbour's readiness endpoint, all at once, within one overall deadline."""

    def __init__(self, urls: dict[str, str], timeout: float, max_age: float):
        self.urls = urls
        self.timeout = timeout
        # One small pool per process, created with the app, not per request. Every fetch
        # ends by its deadline, so threads come back even from neighbours that never answer.
        self.pool = ThreadPoolExecutor(max_workers=max(len(urls), 1) * 4, thread_name_prefix="nb")
        self._refreshed = Refreshed(self._states, max_age)

    def snapshot(self, request_id: str | None = None) -> Snapshot:
        """Return the neighbours' states, at most max_age old; one request refreshes them.

        A refresh carries the refreshing request's id, so the neighbours log it too.
        """
        return self._refreshed.snapshot(request_id)

    def _states(self, request_id: str | None) -> tuple[dict[str, Any], ...]:
        """Ask every neighbour now, as JSON-ready states (failures included)."""
        return tuple(state.as_dict() for state in self.fetch(request_id))

    def fetch(self, request_id: str | None = None) -> list[NeighbourState]:
        """Ask every neighbour now; a slow or dead one degrades only its own entry."""
        deadline = time.monotonic() + self.timeout
        futures = {
            name: self.pool.submit(self._ask, name, url, deadline, request_id)
            for name, url in self.urls.items()
        }
        # wait() bounds what a socket deadline cannot: a DNS lookup, a busy pool.
        wait(futures.values(), timeout=self.timeout)
        return [self._result(name, future) for name, future in futures.items()]

    def _result(self, name: str, future: Future[NeighbourState]) -> NeighbourState:
        """Return the finished answer, or say the neighbour did not answer in time."""
        if not future.done():
            future.cancel()
            return self._late(name)
        return future.result()

    def _late(self, name: str) -> NeighbourState:
        """Say a neighbour did not answer within the deadline."""
        return NeighbourState(name, up=False, problem=f"no answer within {self.timeout:g} s")

    def _ask(
        self, name: str, url: str, deadline: float, request_id: str | None = None
    ) -> NeighbourState:
        """Fetch one neighbour's readiness document, all of it before `deadline`."""
        try:
            raw = _get(url, deadline, request_id)
        except TimeoutError:
            return self._late(name)
        except _AnswerTooLarge:
            too_large = f"answered more than {MAX_ANSWER_BYTES} bytes"
            return NeighbourState(name, up=False, problem=too_large)
        except OSError as error:
            return NeighbourState(name, up=False, problem=f"unreachable ({_reason(error)})")
        except UnicodeError:
            # A name IDNA cannot encode (config.py refuses such templates at start-up).
            return NeighbourState(
                name, up=False, problem="unreachable (a name that cannot be looked up)"
            )
        return _read_answer(name, raw)


def _get(url: str, deadline: float, request_id: str | None = None) -> bytes:
    """Send GET and return the raw answer, read until the server closes, the cap or deadline."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The neighbour takes the id from the header the ALB would set (logs.request_id), so
    # one id follows a visit into the neighbours' logs. It was checked when it came in
    # (printable ASCII, no spaces): it cannot break the request line.
    trace = f"{TRACE_HEADER}: {request_id}\r\n" if request_id else ""
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n"
        f"{trace}Connection: close\r\n\r\n"
    ).encode()
    address = (parts.hostname, parts.port or 80)
    with socket.create_connection(address, timeout=_left(deadline)) as sock:
        sock.sendall(request)
        received: list[bytes] = []
        size = 0
        while True:
            # Each read may wait only for what is left of the one deadline: a neighbour
            # dripping a byte at a time cannot stretch the fetch.
            sock.settimeout(_left(deadline))
            data = sock.recv(min(65536, MAX_ANSWER_BYTES + 1 - size))
            if not data:
                return b"".join(received)
            received.append(data)
            size += len(data)
            if size > MAX_ANSWER_BYTES:
                raise _AnswerTooLarge


def _left(deadline: float) -> float:
    """Return the seconds left before `deadline`; none left is a timeout."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _read_answer(name: str, raw: bytes) -> NeighbourState:
    """Turn an HTTP answer into a state; anything but a 200 readiness document is 'down'."""
    response = http.client.HTTPResponse(_Recorded(raw))  # type: ignore[arg-type]
    try:
        response.begin()
        body = response.read()
    except http.client.HTTPException:
        return NeighbourState(name, up=False, problem="answered something that is not HTTP")
    if response.status != 200:
        # 3xx included: a redirect is not followed (it could point anywhere).
        return NeighbourState(name, up=False, problem=f"answered {response.status}")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
        return NeighbourState(name, up=False, problem="answered something that is not JSON")
    hits = document.get("hits") if isinstance(document, dict) else None
    instance = document.get("instance") if isinstance(document, dict) else None
    if type(hits) is not int or hits < 0 or not isinstance(instance, str):
        return NeighbourState(name, up=False, problem="answered without a hit count and instance")
    return NeighbourState(name, up=True, hits=hits, instance=instance[:MAX_INSTANCE_CHARS])


def _reason(error: OSError) -> str:
    """Say briefly why a neighbour could not be reached."""
    return error.strerror or type(error).__name__


def init_app(app: Flask, names: tuple[str, ...]) -> None:
    """Attach the neighbour client for the given service names."""
    template = app.config["NEIGHBOUR_URL_TEMPLATE"]
    urls = {name: template.format(name=name) for name in names}
    app.extensions[EXTENSION] = Neighbours(
        urls, app.config["NEIGHBOUR_TIMEOUT"], app.config["NEIGHBOUR_MAX_AGE"]
    )


def get_neighbours() -> Neighbours:
    """Return the current app's neighbour client."""
    return cast(Neighbours, current_app.extensions[EXTENSION])
