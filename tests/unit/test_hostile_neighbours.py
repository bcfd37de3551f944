"""Whatever a neighbour does, home answers 200 in time with that panel degraded."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bookingapp_common import neighbours
from bookingapp_common.neighbours import MAX_ANSWER_BYTES
from bookingapp_home import create_app
from tests.support import wait_until
from tests.unit.conftest import HOME_NEIGHBOURS, app_config

JSON = {"Accept": "application/json"}
TIMEOUT = 0.5  # NEIGHBOUR_TIMEOUT in these tests
READY = {"status": "ready", "hits": 7, "instance": "m-1"}


def answer(status: str, body: bytes, headers: str = "Content-Type: application/json\r\n") -> bytes:
    """Return a complete HTTP/1.1 answer."""
    head = f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


class Neighbour:
    """A fake neighbour on loopback whose behaviour a test sets; it records what it saw."""

    def __init__(self) -> None:
        self.behaviour: Callable[[socket.socket], None] = self.ready
        self.asked: list[str] = []
        self.gone_at: list[float] = []  # when a client hung up on a dripping answer

        neighbour = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = self.request.recv(4096)
                    if not data:
                        return
                    head += data
                neighbour.asked.append(head.split(b" ")[1].decode())
                neighbour.behaviour(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address) -> None:
                pass  # clients that give up on a hostile answer are the point

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ready(self, sock: socket.socket) -> None:
        """Answer like a healthy neighbour."""
        sock.sendall(answer("200 OK", json.dumps(READY).encode()))

    def drip(self, sock: socket.socket) -> None:
        """Send a valid answer a byte every 50 ms (5 s in all), noting when the client leaves."""
        try:
            for byte in answer("200 OK", json.dumps(READY).encode() + b" " * 40):
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            self.gone_at.append(time.monotonic())

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def neighbour() -> Iterator[Neighbour]:
    """A fake movie and bus, both on one port."""
    fake = Neighbour()
    yield fake
    fake.close()


def home_for(redis_port: int, neighbour: Neighbour, max_age: float = 60):
    """Return a test client of home whose neighbours are the fake."""
    template = f"http://127.0.0.1:{neighbour.port}/{{name}}/ready"
    config = app_config(
        redis_port,
        NEIGHBOUR_URL_TEMPLATE=template,
        NEIGHBOUR_TIMEOUT=TIMEOUT,
        NEIGHBOUR_MAX_AGE=max_age,
    )
    return create_app(config).test_client()


def page(client) -> tuple[int, float, dict]:
    """GET the JSON page; return status, seconds taken and the panels by name."""
    started = time.monotonic()
    response = client.get("/home", headers=JSON)
    elapsed = time.monotonic() - started
    panels = {n["name"]: n for n in response.get_json().get("neighbours", [])}
    return response.status_code, elapsed, panels


BODIES = {
    "a list": b"[1, 2, 3]",
    "a string": b'"ready"',
    "null": b"null",
    "a number": b"42",
    "deeply nested": b"[" * 5000 + b"]" * 5000,
    "nested in an object": b'{"hits": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "hits as a string": b'{"hits": "7", "instance": "m"}',
    "hits as a bool": b'{"hits": true, "instance": "m"}',
    "hits as a float": b'{"hits": 1e400, "instance": "m"}',
    "a huge integer": b'{"hits": ' + b"9" * 5000 + b', "instance": "m"}',
    "no instance": b'{"hits": 3}',
    "not JSON": b"<html>hello</html>",
    "invalid UTF-8": b'{"hits": 1, "instance": "\xff\xfe"}',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_any_json_shape_degrades_only_its_panel(redis_server, redis_client, neighbour, body):
    """A neighbour answering 200 with anything but a readiness document is shown as down."""
    neighbour.behaviour = lambda sock: sock.sendall(answer("200 OK", body))
    status, elapsed, panels = page(home_for(redis_server.port, neighbour))
    assert status == 200
    assert elapsed < TIMEOUT + 0.5
    assert panels["movie"]["up"] is False
    assert panels["movie"]["problem"].startswith("answered")


def test_a_huge_answer_is_cut_at_the_cap(redis_server, redis_client, neighbour):
    """A 100 MB answer is read no further than MAX_ANSWER_BYTES and said to be too large."""

    def flood(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
        chunk = b"[" * 65536
        try:
            for _ in range(100_000_000 // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass  # the client stopped reading, as it should

    neighbour.behaviour = flood
    status, elapsed, panels = page(home_for(redis_server.port, neighbour))
    assert status == 200
    assert elapsed < TIMEOUT + 0.5
    assert panels["movie"] == {
        "name": "movie",
        "up": False,
        "problem": f"answered more than {MAX_ANSWER_BYTES} bytes",
    }


def test_one_deadline_covers_the_whole_fetch_of_a_dripping_neighbour(
    redis_server, redis_client, neighbour
):
    """A byte every 50 ms never trips a per-read timeout; the one deadline ends the fetch."""
    neighbour.behaviour = neighbour.drip
    started = time.monotonic()
    status, _, panels = page(home_for(redis_server.port, neighbour))
    assert status == 200
    assert panels["movie"]["problem"] == f"no answer within {TIMEOUT:g} s"
    # The fetching threads hung up by the deadline, not after the 5 s drip: none is held.
    count = len(HOME_NEIGHBOURS)  # one fetch per other app
    wait_until(lambda: len(neighbour.gone_at) >= count, 3, "the fetches never hung up", 0.05)
    assert len(neighbour.gone_at) == count
    assert max(neighbour.gone_at) - started < TIMEOUT + 0.5


def test_a_neighbour_that_never_answers_degrades_its_panel_in_time(
    redis_server, redis_client, silent_port
):
    """Connections accepted and never answered: the page is 200 within the deadline."""
    template = f"http://127.0.0.1:{silent_port}/{{name}}/ready"
    config = app_config(
        redis_server.port, NEIGHBOUR_URL_TEMPLATE=template, NEIGHBOUR_TIMEOUT=TIMEOUT
    )
    started = time.monotonic()
    response = create_app(config).test_client().get("/home", headers=JSON)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < TIMEOUT + 0.5
    assert {n["problem"] for n in response.get_json()["neighbours"]} == {"no answer within 0.5 s"}


def test_redirects_are_not_followed(redis_server, redis_client, neighbour):
    """A 302 to anywhere is shown as such; its target is never asked."""

    def redirect(sock: socket.socket) -> None:
        if "/elsewhere" in neighbour.asked[-1]:
            neighbour.ready(sock)
        else:
            location = f"Location: http://127.0.0.1:{neighbour.port}/elsewhere\r\n"
            sock.sendall(answer("302 Found", b"", headers=location))

    neighbour.behaviour = redirect
    status, _, panels = page(home_for(redis_server.port, neighbour))
    assert status == 200
    assert panels["movie"]["problem"] == "answered 302"
    assert "/elsewhere" not in neighbour.asked


def test_a_failure_is_remembered_like_a_success(redis_server, redis_client, neighbour):
    """A broken neighbour is asked once per NEIGHBOUR_MAX_AGE, not on every page view."""
    neighbour.behaviour = lambda sock: sock.sendall(answer("200 OK", b"[]"))
    client = home_for(redis_server.port, neighbour, max_age=60)
    assert [page(client)[0] for _ in range(5)] == [200] * 5
    assert neighbour.asked.count("/movie/ready") == 1


def test_a_recovered_neighbour_shows_as_up_within_the_reuse_period(
    redis_server, redis_client, neighbour
):
    """After a dripping spell, the first refresh after NEIGHBOUR_MAX_AGE shows it up again."""
    neighbour.behaviour = neighbour.drip
    client = home_for(redis_server.port, neighbour, max_age=0.3)
    assert page(client)[2]["movie"]["up"] is False
    neighbour.behaviour = neighbour.ready  # recovered
    time.sleep(0.3)
    status, _, panels = page(client)
    assert status == 200
    assert panels["movie"] == {"name": "movie", "up": True, "hits": 7, "instance": "m-1"}


def test_the_overall_deadline_holds_when_no_socket_timeout_can(
    redis_server, redis_client, neighbour, monkeypatch
):
    """A fetch stuck where sockets have no timeout (a DNS lookup) still ends the page's wait."""

    def stuck_lookup(url: str, deadline: float, request_id: str | None = None) -> bytes:
        time.sleep(3)  # getaddrinfo honours no socket timeout
        raise OSError("name lookup failed")

    monkeypatch.setattr(neighbours, "_get", stuck_lookup)
    status, elapsed, panels = page(home_for(redis_server.port, neighbour))
    assert status == 200
    assert elapsed < TIMEOUT + 0.5
    assert panels["bus"]["problem"] == f"no answer within {TIMEOUT:g} s"
