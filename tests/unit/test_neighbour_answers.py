"""How one neighbour's answer becomes its panel, checked piece by piece without a server.

tests/unit/test_hostile_neighbours.py proves the whole fetch against misbehaving servers;
these call the parts directly (the answer reader, the request sent, the deadline, the
size cap) so every message and bound is pinned where a page test would only see "down".
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from bookingapp_common import neighbours
from bookingapp_common.neighbours import (
    MAX_ANSWER_BYTES,
    MAX_INSTANCE_CHARS,
    Neighbours,
    NeighbourState,
    _read_answer,
)
from bookingapp_common.snapshots import Snapshot
from tests.stubs import FakeClock


def http(status: str, body: bytes) -> bytes:
    """Return a complete HTTP/1.1 answer with this status line and body."""
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def ready(**document: Any) -> bytes:
    """Return a 200 answer carrying this readiness document."""
    return http("200 OK", json.dumps(document).encode())


def test_a_ready_neighbour_is_up_with_its_hits_and_instance():
    """A 200 readiness document gives an up panel with the count and the instance."""
    state = _read_answer("movie", ready(status="ready", hits=7, instance="m-1"))
    assert state == NeighbourState("movie", up=True, hits=7, instance="m-1")


def test_a_neighbour_reporting_no_hits_yet_is_up():
    """Zero is a count (a service nobody visited yet), not a malformed answer."""
    assert _read_answer("bus", ready(hits=0, instance="b-1")) == NeighbourState(
        "bus", up=True, hits=0, instance="b-1"
    )


def test_a_long_instance_id_is_cut_to_the_shown_length():
    """At most MAX_INSTANCE_CHARS of a neighbour's instance id reach the page."""
    state = _read_answer("bus", ready(hits=1, instance="i" * 65 + "j"))
    assert MAX_INSTANCE_CHARS == 64
    assert state.instance == "i" * 64


@pytest.mark.parametrize(
    "raw",
    [b"", b"garbage\r\n\r\n", b"HTTP/1.1 abc Broken\r\n\r\n"],
    ids=["nothing", "garbage", "bad-status"],
)
def test_an_answer_that_is_not_http_is_down_and_says_so(raw):
    """No status line, or a broken one: down, with the reason, whatever the body held."""
    assert _read_answer("movie", raw) == NeighbourState(
        "movie", up=False, problem="answered something that is not HTTP"
    )


@pytest.mark.parametrize("status", ["201 Created", "302 Found", "404 Not Found", "503 Busy"])
def test_an_answer_other_than_200_is_down_with_its_status(status):
    """Even with a perfect readiness document, only a 200 counts (a redirect is not followed)."""
    body = json.dumps({"hits": 3, "instance": "m-1"}).encode()
    assert _read_answer("movie", http(status, body)) == NeighbourState(
        "movie", up=False, problem=f"answered {status.split()[0]}"
    )


@pytest.mark.parametrize("body", [b"<html>", b"[" * 100_000 + b"]" * 100_000])
def test_a_body_that_is_not_json_is_down_and_says_so(body):
    """Not JSON, or JSON nested past the parser's depth: down, with the reason."""
    assert _read_answer("bus", http("200 OK", body)) == NeighbourState(
        "bus", up=False, problem="answered something that is not JSON"
    )


@pytest.mark.parametrize(
    "document",
    [
        {"hits": -1, "instance": "m-1"},
        {"hits": True, "instance": "m-1"},
        {"hits": 1.0, "instance": "m-1"},
        {"hits": "7", "instance": "m-1"},
        {"hits": 7},
        {"hits": 7, "instance": 7},
        {"instance": "m-1"},
        [7, "m-1"],
    ],
    ids=["negative", "bool", "float", "string", "no-instance", "int-instance", "no-hits", "list"],
)
def test_a_document_without_a_count_and_an_instance_is_down(document):
    """A count must be a whole number from 0, the instance a string: else down, saying so."""
    assert _read_answer("movie", http("200 OK", json.dumps(document).encode())) == NeighbourState(
        "movie", up=False, problem="answered without a hit count and instance"
    )


def test_a_state_as_data_leaves_out_what_is_unknown():
    """A down panel has no hits or instance keys; an up one has no problem key."""
    assert NeighbourState("bus", up=False, problem="x").as_dict() == {
        "name": "bus",
        "up": False,
        "problem": "x",
    }
    assert NeighbourState("bus", up=True, hits=0, instance="b").as_dict() == {
        "name": "bus",
        "up": True,
        "hits": 0,
        "instance": "b",
    }


def test_the_time_left_is_the_deadline_minus_now(monkeypatch):
    """Half a second before the deadline, half a second is left."""
    monkeypatch.setattr(neighbours, "time", FakeClock(100.0))
    assert neighbours._left(100.5) == 0.5


@pytest.mark.parametrize("deadline", [100.0, 99.0])
def test_no_time_left_is_a_timeout(monkeypatch, deadline):
    """At or past the deadline there is nothing left to wait: TimeoutError."""
    monkeypatch.setattr(neighbours, "time", FakeClock(100.0))
    with pytest.raises(TimeoutError):
        neighbours._left(deadline)


class FakeSocket:
    """A connected socket stand-in: records what is sent and each timeout, replays chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.sent = b""
        self.timeouts: list[float] = []
        self.asked_sizes: list[int] = []

    def __enter__(self) -> FakeSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing to close."""

    def sendall(self, data: bytes) -> None:
        """Record the request."""
        self.sent += data

    def settimeout(self, seconds: float) -> None:
        """Record each read's timeout."""
        self.timeouts.append(seconds)

    def recv(self, size: int) -> bytes:
        """Return the next chunk (at most `size` of it), or b"" when the server closed."""
        self.asked_sizes.append(size)
        return self.chunks.pop(0)[:size] if self.chunks else b""


@pytest.fixture
def connect(monkeypatch):
    """Replace the neighbours module's connect; return what was asked and the socket given."""
    calls: list[tuple[tuple[str, int], float]] = []
    sock = FakeSocket([])

    def create_connection(address: tuple[str, int], timeout: float) -> FakeSocket:
        calls.append((address, timeout))
        return sock

    monkeypatch.setattr(neighbours.socket, "create_connection", create_connection)
    monkeypatch.setattr(neighbours, "time", FakeClock(100.0))
    return calls, sock


def test_get_sends_one_closing_get_for_json_to_the_url(connect):
    """The request line keeps path and query; Host, Accept and Connection: close go with it."""
    calls, sock = connect
    sock.chunks = [b"HTTP/1.1 200 OK\r\n", b"\r\n{}"]
    assert neighbours._get("http://movie.internal:5000/movie/ready?x=1", 100.75) == (
        b"HTTP/1.1 200 OK\r\n\r\n{}"
    )
    assert calls == [(("movie.internal", 5000), 0.75)]
    assert sock.sent == (
        b"GET /movie/ready?x=1 HTTP/1.1\r\nHost: movie.internal:5000\r\n"
        b"Accept: application/json\r\nConnection: close\r\n\r\n"
    )
    # Every read waits only for what is left of the one deadline.
    assert sock.timeouts == [0.75, 0.75, 0.75]


def test_get_asks_for_the_root_on_port_80_when_the_url_says_neither(connect):
    """A URL with no path and no port asks for / on port 80, as HTTP does."""
    calls, sock = connect
    neighbours._get("http://bus.internal", 101.0)
    assert calls == [(("bus.internal", 80), 1.0)]
    assert sock.sent.startswith(b"GET / HTTP/1.1\r\nHost: bus.internal\r\n")


def test_get_reads_an_answer_of_exactly_the_cap(connect):
    """MAX_ANSWER_BYTES in all is accepted; each read asks for no more than one past the cap."""
    _, sock = connect
    sock.chunks = [b"a" * 10_000, b"b" * (MAX_ANSWER_BYTES - 10_000)]
    assert len(neighbours._get("http://bus.internal/", 101.0)) == MAX_ANSWER_BYTES
    assert sock.asked_sizes == [MAX_ANSWER_BYTES + 1, MAX_ANSWER_BYTES + 1 - 10_000, 1]


def test_get_refuses_an_answer_one_byte_over_the_cap(connect):
    """One byte past MAX_ANSWER_BYTES and the answer is refused as too large."""
    _, sock = connect
    sock.chunks = [b"a" * 10_000, b"b" * (MAX_ANSWER_BYTES - 10_000 + 1)]
    with pytest.raises(neighbours._AnswerTooLarge):
        neighbours._get("http://bus.internal/", 101.0)


def asker(monkeypatch, error: BaseException) -> NeighbourState:
    """Ask one neighbour whose fetch fails with `error`; return its state."""

    def fail(url: str, deadline: float, request_id: str | None = None) -> bytes:
        raise error

    monkeypatch.setattr(neighbours, "_get", fail)
    client = Neighbours({"bus": "http://bus.internal/bus/ready"}, 0.5, 2.0)
    try:
        return client._ask("bus", "http://bus.internal/bus/ready", 0.0)
    finally:
        client.pool.shutdown()


def test_a_timed_out_fetch_says_how_long_it_waited(monkeypatch):
    """Out of time: down, 'no answer within 0.5 s'."""
    assert asker(monkeypatch, TimeoutError()) == NeighbourState(
        "bus", up=False, problem="no answer within 0.5 s"
    )


def test_a_too_large_answer_says_the_cap(monkeypatch):
    """Over the cap: down, with the cap in bytes."""
    assert asker(monkeypatch, neighbours._AnswerTooLarge()) == NeighbourState(
        "bus", up=False, problem="answered more than 16384 bytes"
    )


def test_an_unreachable_neighbour_says_the_systems_reason(monkeypatch):
    """A refused connection: down, 'unreachable (Connection refused)'."""
    error = ConnectionRefusedError(111, "Connection refused")
    assert asker(monkeypatch, error) == NeighbourState(
        "bus", up=False, problem="unreachable (Connection refused)"
    )


def test_an_unreachable_neighbour_without_a_reason_is_named_by_the_error(monkeypatch):
    """An OSError with no system reason (a DNS failure in some resolvers) gives its class."""
    assert asker(monkeypatch, ConnectionResetError()) == NeighbourState(
        "bus", up=False, problem="unreachable (ConnectionResetError)"
    )


def test_a_fetched_answer_is_read_into_a_state(monkeypatch):
    """What the fetch returned is read as the neighbour's answer."""
    monkeypatch.setattr(
        neighbours, "_get", lambda url, deadline, request_id=None: ready(hits=2, instance="b")
    )
    client = Neighbours({"bus": "http://bus.internal/bus/ready"}, 0.5, 2.0)
    try:
        assert client.fetch() == [NeighbourState("bus", up=True, hits=2, instance="b")]
    finally:
        client.pool.shutdown()


class Counted(Neighbours):
    """A neighbour client whose fetch is counted and answers from the test, not the network."""

    def __init__(self, max_age: float) -> None:
        super().__init__({}, timeout=0.5, max_age=max_age)
        self.fetches = 0
        self.during_fetch: list[Any] = []
        self.answer: list[NeighbourState] = [NeighbourState("bus", up=True, hits=1, instance="b")]

    def fetch(self, request_id: str | None = None) -> list[NeighbourState]:
        """Count the fetch; run what the test asked to run meanwhile."""
        self.fetches += 1
        for action in self.during_fetch:
            action()
        return self.answer


def test_each_refresh_gets_the_next_version_from_1(panel_clock):
    """The first snapshot is version 1; every refresh after max_age fetches again and adds one."""
    client = Counted(max_age=2.0)
    assert client.snapshot().version == 1
    panel_clock.now += 2.0
    assert client.snapshot().version == 2
    panel_clock.now += 2.0
    assert client.snapshot() == Snapshot(
        3, ({"name": "bus", "up": True, "hits": 1, "instance": "b"},)
    )
    assert client.fetches == 3


@pytest.mark.parametrize(("count", "threads"), [(0, 4), (1, 4), (2, 8)])
def test_the_pool_has_four_threads_per_neighbour(count, threads):
    """Four fetches per neighbour may be in flight (each ends by its deadline), at least four."""
    client = Neighbours({f"n{i}": "http://x/" for i in range(count)}, timeout=0.5, max_age=2.0)
    try:
        assert client.pool._max_workers == threads
    finally:
        client.pool.shutdown()


def test_the_pools_threads_are_named_for_thread_dumps():
    """A thread dump shows which threads are neighbour fetches: their names start with nb_."""
    client = Neighbours({"bus": "http://x/"}, timeout=0.5, max_age=2.0)
    try:
        name = client.pool.submit(lambda: threading.current_thread().name).result(timeout=5)
    finally:
        client.pool.shutdown()
    assert name.startswith("nb_")
