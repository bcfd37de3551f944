"""Fake servers on loopback: one that accepts and never answers, and any HTTP handler."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
