"""Fixtures for the unit tests: a real redis-server on loopback, apps built from config."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from bookingapp_home import create_app

PASSWORD = "unit-test-password"


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A throwaway redis-server process that tests can stop and start again."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                PASSWORD,
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, password=PASSWORD)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start within 10 s")

    def stop(self) -> None:
        """Stop the server (the port then refuses connections)."""
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Run one redis-server for the session (installed by .ci/run from Debian)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server on PATH (apt-get install redis-server; .ci/run does)")
    server = RedisServer(binary)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """Give a client on an empty database, and empty it again afterwards."""
    client = redis.Redis(port=redis_server.port, password=PASSWORD, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def app_config(port: int, **overrides) -> dict:
    """Return config for an app talking to the test Redis; its neighbours refuse at once."""
    return {
        "INSTANCE_ID": "test-instance",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": port,
        "REDIS_PASSWORD": PASSWORD,
        # Not the discovery names: resolving those here may wait for DNS timeouts.
        "NEIGHBOUR_URL_TEMPLATE": f"http://127.0.0.1:{free_port()}/{{name}}/ready",
        **overrides,
    }


@pytest.fixture
def app(redis_server: RedisServer, redis_client: redis.Redis):
    """Create the home app against the test Redis."""
    return create_app(app_config(redis_server.port))


@pytest.fixture
def client(app):
    """Give a test client for the app."""
    return app.test_client()


@pytest.fixture
def access_log() -> Iterator[list[logging.LogRecord]]:
    """Collect the records the access logger emits."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    logger = logging.getLogger("bookingapp.access")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
