"""Fakes: servers on loopback (one that accepts and never answers, any HTTP handler, a name), a clock.

Standard library only: tests/name_switch.py runs Name inside a container of the stack.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def silent_server(backlog: int = 128) -> Iterator[int]:
    """Yield the port of a socket that accepts connections and never answers (a hung peer)."""
    # The kernel completes the handshake for up to `backlog` clients; nobody reads a byte.
    with socket.create_server(("127.0.0.1", 0), backlog=backlog) as silent:
        yield silent.getsockname()[1]


class StubHandler(BaseHTTPRequestHandler):
    """A request handler for fakes: one call answers, nothing is logged."""

    def answer(self, status: int, body: bytes) -> None:
        """Send a complete JSON answer with its length."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that never blocks exit and stays quiet about clients gone."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Ignore clients that hang up: a test that gives up on a slow answer means to."""


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve the handler on a free loopback port in a thread; yield its base URL."""
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


LOOPBACK = ("127.0.0.1", 0)  # a free port on loopback


class Name:
    """A TCP name on loopback that a test can point at another port, as DNS is re-pointed.

    What a Redis failover looks like from an app (an ElastiCache primary endpoint, a Cloud
    Map record after a task replacement): new connections through the name reach whoever
    holds it now; a connection already open stays with the node it reached.
    """

    def __init__(self, target: int | tuple[str, int], listen: tuple[str, int] = LOOPBACK) -> None:
        self.target = _address(target)
        self.flowing = threading.Event()  # cleared while requests are held (hold())
        self.flowing.set()
        self._listener = socket.create_server(listen, backlog=256)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="name-accept", daemon=True).start()

    def point_at(self, target: int | tuple[str, int]) -> None:
        """Send new connections to `target` (a loopback port, or host and port) from now on.

        Connections already open keep the node they reached.
        """
        self.target = _address(target)

    def hold(self, seconds: float) -> None:
        """Hold every request on the way to Redis for `seconds` (a stall); answers still flow.

        What is sent meanwhile reaches Redis when the stall ends, in order: as a paused
        Redis or a congested link would deliver it.
        """
        self.flowing.clear()
        try:
            time.sleep(seconds)
        finally:
            self.flowing.set()

    def close(self) -> None:
        """Stop taking connections (open ones end when either side closes)."""
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for source, sink, gate in ((client, upstream, self.flowing), (upstream, client, None)):
                threading.Thread(target=_pipe, args=(source, sink, gate), daemon=True).start()


def _address(target: int | tuple[str, int]) -> tuple[str, int]:
    """Return (host, port): a bare port is one on loopback."""
    return ("127.0.0.1", target) if isinstance(target, int) else target


def _pipe(source: socket.socket, sink: socket.socket, gate: threading.Event | None) -> None:
    """Copy bytes one way (waiting for `gate` before each write) until a side is gone."""
    try:
        while data := source.recv(65536):
            if gate is not None:
                gate.wait()
            sink.sendall(data)
    except OSError:
        pass  # either side gone: close both below
    finally:
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


class FakeClock:
    """Stands in for a module's `time`: a monotonic clock the test moves."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        """Return the fake time."""
        return self.now
