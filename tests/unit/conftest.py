"""Fixtures for the unit tests: a real Redis on loopback, apps built from config."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from bookingapp_common import snapshots
from bookingapp_home import create_app
from bookingapp_infra.params import app_names, load_all
from tests.stubs import FakeClock, silent_server
from tests.support import (
    free_port,
    pause_container,
    unit_redis_is_a_container,
    unpause_container,
    wait_until,
)

PASSWORD = "unit-test-password"
# Every app service, in the nav's order, as the deploy reads them (params.app_names).
APPS = tuple(app_names(load_all()))
# What home shows: every other app.
HOME_NEIGHBOURS = tuple(name for name in APPS if name != "home")
# Where there is no redis-server binary: the image tests/docker uses (stand-ins set it too).
REDIS_IMAGE = os.environ.get("REDIS_IMAGE", "redis:7.4")


class RedisServer:
    """A throwaway redis-server process on loopback that tests can stop and start again."""

    def __init__(self, binary: str, *options: str) -> None:
        self.binary = binary
        self.options = options  # more redis-server options (e.g. --replicaof for a replica)
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
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for_redis(self.port)

    def stop(self) -> None:
        """Stop the server (the port then refuses connections)."""
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        """Freeze the server: connections stay open and nothing is answered (a stalled Redis)."""
        assert self.process, "pause() needs a started server"
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on answering what it was sent meanwhile."""
        assert self.process, "resume() needs a started server"
        os.kill(self.process.pid, signal.SIGCONT)

    def remove(self) -> None:
        """Stop for good at the end of the session."""
        self.stop()


class RedisContainerServer:
    """The same, as a Redis container published on a fixed loopback port (no local binary).

    The port stays the same across stop() and start(), as with the process above, so an app
    built before a restart finds Redis again at the address it was given.
    """

    def __init__(
        self, image: str, *options: str, network: Network | None = None, alias: str = ""
    ) -> None:
        self.port = free_port()
        self.options = options  # as the process's (a replica's --replicaof names an alias)
        self.container = DockerContainer(image).with_command(
            " ".join(
                ["redis-server", "--save", "''", "--appendonly", "no", "--requirepass", PASSWORD]
                + [shlex.quote(option) for option in options]
            )
        )
        if network is not None:  # nodes that must reach each other (a primary and its replica)
            self.container.with_network(network).with_network_aliases(alias or "redis")
        # Loopback only, so a throwaway password is never reachable from the network.
        # with_bind_ports() takes no host address; docker-py's `ports` mapping does.
        self.container.ports[6379] = ("127.0.0.1", self.port)
        self.started = False

    def start(self) -> None:
        """Start the container (first time: create it) and wait until Redis answers."""
        if self.started:
            self.container.get_wrapped_container().start()
        else:
            self.container.start()
            self.started = True
        wait_for_redis(self.port, timeout=60)

    def stop(self) -> None:
        """Stop the container (the port then refuses connections); it can start again."""
        self.container.get_wrapped_container().stop(timeout=5)

    def pause(self) -> None:
        """Freeze the container (the cgroup freezer: SIGSTOP for every process in it)."""
        pause_container(self.container.get_wrapped_container().id)

    def resume(self) -> None:
        """Thaw the container; Redis answers what it was sent while frozen."""
        unpause_container(self.container.get_wrapped_container().id)

    def remove(self) -> None:
        """Remove the container at the end of the session."""
        self.container.stop()


def pings(client: redis.Redis) -> bool:
    """Say whether the Redis answers PING (False while it refuses or is not up yet)."""
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def wait_for_redis(port: int, timeout: float = 10) -> None:
    """Wait until a Redis on loopback answers PING with the test password."""
    client = redis.Redis(port=port, password=PASSWORD, socket_timeout=2)
    wait_until(lambda: pings(client), timeout, f"Redis on 127.0.0.1:{port} did not answer", 0.05)


def local_or_container_redis() -> RedisServer | RedisContainerServer:
    """Pick a local redis-server when there is one, else a Redis container.

    BOOKINGAPP_TEST_REDIS=container takes the container even where redis-server is installed
    (to try that path), =local never does. Tests that get the container are marked `docker`
    at collection (tests/conftest.py), so they skip with the reason where Docker is missing.
    """
    if unit_redis_is_a_container():
        return RedisContainerServer(REDIS_IMAGE)
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("BOOKINGAPP_TEST_REDIS=local but no redis-server on PATH")
    return RedisServer(binary)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | RedisContainerServer]:
    """Run one Redis for the session: redis-server if installed, else a Redis container."""
    server = local_or_container_redis()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a paused or partitioned Redis)."""
    with silent_server() as port:
        yield port


@pytest.fixture
def redis_client(redis_server: RedisServer | RedisContainerServer) -> Iterator[redis.Redis]:
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
        # What the deploy passes as BOOKINGAPP_APPS: the apps of infra/services/*.toml.
        "SERVICE_LINKS": APPS,
        **overrides,
    }


@pytest.fixture
def app(redis_server: RedisServer | RedisContainerServer, redis_client: redis.Redis):
    """Create the home app against the test Redis."""
    return create_app(app_config(redis_server.port))


@pytest.fixture
def client(app):
    """Give a test client for the app."""
    return app.test_client()


class AccessLines:
    """The access lines the app wrote to stdout while a test ran, each parsed as JSON.

    AccessLog (bookingapp_common.logs) writes them to sys.stdout itself, not through a
    logger; each line is read here as a whole, so a line that is not JSON fails the test.
    """

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.written = ""

    def lines(self) -> list[dict]:
        """Return every access line written so far, parsed, in order."""
        self.written += self.capsys.readouterr().out
        parsed = [json.loads(line) for line in self.written.splitlines()]
        return [line for line in parsed if line.get("logger") == "bookingapp.access"]

    def __iter__(self) -> Iterator[SimpleNamespace]:
        """Give each line as an object whose attributes are its fields."""
        return iter([SimpleNamespace(**line) for line in self.lines()])

    def __len__(self) -> int:
        return len(self.lines())

    def __getitem__(self, index: int) -> SimpleNamespace:
        return list(self)[index]


@pytest.fixture
def access_log(capsys: pytest.CaptureFixture[str]) -> AccessLines:
    """Collect the access lines the app writes to stdout."""
    return AccessLines(capsys)


@pytest.fixture
def panel_clock(monkeypatch) -> FakeClock:
    """Give the side panels' snapshots (bookingapp_common.snapshots) a clock the test moves."""
    fake = FakeClock(100.0)
    monkeypatch.setattr(snapshots, "time", fake)
    return fake
