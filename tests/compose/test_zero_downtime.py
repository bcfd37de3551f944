"""Replicas coming and going under steady load through the listener: no request fails.

On AWS the ALB deregisters and drains a target before ECS stops it; locally the replica
drains itself (bookingapp_common.drain: health 503, keep serving, then stop). Each test
keeps 8 paced clients on GET /home through Traefik's published port during one event, then
checks that every answer was a 200 and that the counter moved by exactly the number of
requests (each answer carries its own hit number, none missing, none twice).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bookingapp_infra.local.docker import Replica, docker, inspect
from tests.compose.edge import Edge, Traffic, assert_nothing_lost, edge_stack
from tests.support import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.traefik]

STEADY = 100  # answers before and after each event: the load is running on both sides


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    """The whole compose.yaml, traefik included, every replica UP in Traefik's pool."""
    with edge_stack() as running:
        yield running


@contextmanager
def steady_load(edge: Edge, service: str = "home") -> Iterator[Traffic]:
    """Keep 8 clients on the service's page around the event; then check nothing was lost."""
    before = edge.hits(service)
    with Traffic(edge.port, f"/{service}") as traffic:
        traffic.wait_for(STEADY)
        yield traffic
        traffic.wait_for(STEADY, since=time.monotonic())
    assert_nothing_lost(before, edge.hits(service), traffic)


def test_restarting_replicas_one_by_one_fails_no_request(edge):
    """`docker restart` of each home replica in turn, the next once the last is back in the pool."""
    with steady_load(edge) as traffic:
        for replica in edge.replicas("home"):
            docker("restart", replica.id)  # SIGTERM, the container's 30 s stop timeout, start
            edge.wait_in_pool("home")
    served = {a.instance for a in traffic.answers[-STEADY:]}
    assert served == {r.hostname for r in edge.replicas("home")}


def test_sigterm_to_one_replica_takes_it_out_of_the_pool_before_it_stops(edge):
    """SIGTERM: the replica leaves Traefik's pool while it still runs, then exits 0; none fails."""
    target = edge.replicas("home")[0]
    with steady_load(edge):
        docker("kill", "--signal", "TERM", target.id)
        wait_until(
            lambda: edge.status_in_pool(target) != "UP", 10, "still UP in the pool after SIGTERM"
        )
        assert state(target)["Running"], "it stopped before it left the pool"
        wait_until(lambda: not state(target)["Running"], 40, "still running after SIGTERM", 0.2)
        assert state(target)["ExitCode"] == 0  # a clean stop, not the SIGKILL after 30 s
        docker("start", target.id)  # what ECS does next: a replacement task
        edge.wait_in_pool("home")


def state(replica: Replica) -> dict:
    """Return the replica's container state (running, started at, exit code)."""
    [container] = inspect([replica.id])
    return container["State"]


def test_scaling_to_four_and_back_to_two_fails_no_request(edge):
    """`--scale home=4`, all four in the pool, then `--scale home=2` (two drain and stop)."""
    with steady_load(edge) as traffic:
        edge.stack.compose("up", "--detach", "--no-recreate", "--scale", "home=4", "home")
        assert len(edge.wait_in_pool("home")) == 4
        middle = time.monotonic()
        traffic.wait_for(STEADY, since=middle)
        four = {a.instance for a in traffic.since(middle)}
        edge.stack.compose("up", "--detach", "--no-recreate", "--scale", "home=2", "home")
        assert len(edge.wait_in_pool("home")) == 2
    assert len(four) == 4
