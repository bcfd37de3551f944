"""A Redis failover under load: a primary/replica pair of Redis servers behind one name.

What ElastiCache Multi-AZ (or a Redis task replacement) looks like from the app: Redis's own
coordinated FAILOVER swaps the roles (writes paused, the replica caught up, then promoted;
the old primary becomes its replica and answers writes with READONLY), and a moment later
the name is pointed at the new primary. Connections already open stay with the node they
reached, as they do through DNS.

The bound stated in docs/redis.md: once the name points at a primary, visits are counted
again within RECOVERY_SECONDS (a breaker probe interval and a reconnect: about 0.6 s).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from testcontainers.core.network import Network

from bookingapp_common.counter import PROBE_INTERVAL_SECONDS
from bookingapp_home import create_app
from tests.stubs import Name
from tests.support import JSON, unit_redis_is_a_container, wait_until
from tests.unit.conftest import (
    PASSWORD,
    REDIS_IMAGE,
    RedisContainerServer,
    RedisServer,
    app_config,
)

# Visits are 200 again this long after the name points at the new primary, at most.
RECOVERY_SECONDS = 2.0
CLIENTS = 12
KEY = "bookingapp:home:hits"
Node = RedisServer | RedisContainerServer


def client_for(server: Node) -> redis.Redis:
    """Return a plain client on one node (not through the name)."""
    return redis.Redis(port=server.port, password=PASSWORD, decode_responses=True)


def role(server: Node) -> str:
    """Return what the node says it is: master or slave."""
    return str(client_for(server).execute_command("ROLE")[0])


@dataclass
class Pair:
    """A primary and its replica, and the name the app connects through."""

    primary: Node
    replica: Node
    name: Name

    def fail_over(self) -> None:
        """Promote the replica the way Redis's coordinated failover does; the name stays."""
        # No TO: the primary's one replica, by whatever address the primary knows it
        # (127.0.0.1 and its port for a process, its container address for a container).
        client_for(self.primary).execute_command("FAILOVER", "TIMEOUT", 5000)
        wait_until(lambda: role(self.replica) == "master", 10, "the replica was not promoted")
        wait_until(lambda: role(self.primary) == "slave", 10, "the old primary was not demoted")


@contextmanager
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    """Start a primary and a replica of it: redis-server processes, else containers.

    The containers share a network of their own, where the replica reaches the primary by
    its alias as a process reaches it on 127.0.0.1; each is published on loopback, so the
    test and the name reach both as they reach the processes.
    """
    if unit_redis_is_a_container():
        with Network() as network:
            primary = RedisContainerServer(
                REDIS_IMAGE, "--masterauth", PASSWORD, network=network, alias="primary"
            )
            replica = RedisContainerServer(
                REDIS_IMAGE, "--masterauth", PASSWORD, "--replicaof", "primary", "6379",
                network=network, alias="replica",
            )  # fmt: skip
            with started(primary, replica):
                yield primary, replica
        return
    binary = shutil.which("redis-server")
    if binary is None:  # BOOKINGAPP_TEST_REDIS=local on a machine without one
        pytest.skip("BOOKINGAPP_TEST_REDIS=local but no redis-server on PATH")
    # A full sync writes an RDB file: each node in a directory of its own, not the repo's.
    (tmp_path / "primary").mkdir()
    (tmp_path / "replica").mkdir()
    primary = RedisServer(binary, "--masterauth", PASSWORD, "--dir", str(tmp_path / "primary"))
    replica = RedisServer(
        binary, "--masterauth", PASSWORD, "--dir", str(tmp_path / "replica"),
        "--replicaof", "127.0.0.1", str(primary.port),
    )  # fmt: skip
    with started(primary, replica):
        yield primary, replica


@contextmanager
def started(*servers: Node) -> Iterator[None]:
    """Start the servers in order; remove those started, last first, whatever happens."""
    up: list[Node] = []
    try:
        for server in servers:
            server.start()
            up.append(server)
        yield
    finally:
        for server in reversed(up):
            server.remove()


@pytest.fixture
def redis_pair(tmp_path) -> Iterator[Pair]:
    """Start a primary, a replica of it in sync, and a name pointing at the primary."""
    with nodes(tmp_path) as (primary, replica):
        name = Name(primary.port)
        try:
            wait_until(
                lambda: client_for(replica).info("replication")["master_link_status"] == "up",
                30,
                "the replica did not sync with the primary",
            )
            yield Pair(primary, replica, name)
        finally:
            name.close()


@dataclass
class Visits:
    """Visitors asking for the home page until stopped; every answer kept with its time."""

    app: object
    answers: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, clients: int) -> list[threading.Thread]:
        """Start `clients` visitors, each with a test client of its own."""
        threads = [threading.Thread(target=self._visit, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        return threads

    def _visit(self) -> None:
        client = self.app.test_client()  # type: ignore[attr-defined]
        while not self.stop.is_set():
            status = client.get("/home", headers=JSON).status_code
            self.answers.append((time.monotonic(), status))
            time.sleep(0.005)

    def since(self, moment: float) -> list[int]:
        """Return the statuses answered after `moment` (time.monotonic())."""
        return [status for at, status in list(self.answers) if at > moment]


def test_after_a_failover_visits_count_again_within_the_bound_and_none_twice(redis_pair):
    """Promote the replica under load, point the name at it: 200s again within the bound.

    Meanwhile /ready says 503 (this instance cannot write), no answer is a 500, and the new
    primary's count is exactly the number of 200 answers: nothing counted twice, nothing
    answered 200 and lost.
    """
    pair = redis_pair
    app = create_app(app_config(pair.name.port))
    visits = Visits(app)
    threads = visits.run(CLIENTS)
    try:
        wait_until(lambda: visits.since(0).count(200) >= 50, 10, "no visits counted at first")
        pair.fail_over()
        # The name still points at the demoted node: it answers, but cannot write.
        time.sleep(PROBE_INTERVAL_SECONDS + 0.5)
        ready = app.test_client().get("/home/ready")
        assert ready.status_code == 503, ready.get_json()
        assert visits.since(time.monotonic() - 0.3).count(200) == 0
        pair.name.point_at(pair.replica.port)
        switched = time.monotonic()
        wait_until(
            lambda: visits.since(switched).count(200) > 0,
            RECOVERY_SECONDS,
            "no visit was counted within the bound after the name moved",
            interval=0.01,
        )
        first_200 = min(
            at for at, status in list(visits.answers) if at > switched and status == 200
        )
        time.sleep(1.0)
        settled = visits.since(first_200 + 0.5)
        assert settled
        assert set(settled) == {200}, "visits failed again after counting resumed"
        assert app.test_client().get("/home/ready").status_code == 200
    finally:
        visits.stop.set()
        for thread in threads:
            thread.join(timeout=10)
    statuses = [status for _, status in visits.answers]
    assert set(statuses) <= {200, 503}, "a failover must never be a 500"
    assert int(client_for(pair.replica).get(KEY)) == statuses.count(200)
    print(f"recovered {first_200 - switched:.3f} s after the name moved; {len(statuses)} visits")
