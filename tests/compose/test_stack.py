"""The stack without traefik: discovery, replicas, a shared counter that survives restarts."""

from __future__ import annotations

import pytest

from tests.compose.stack import APP_SERVICES, fetch_inside

pytestmark = pytest.mark.docker

RESOLVE = """
import json, socket
names = {names!r}
print(json.dumps({{n: sorted(socket.gethostbyname_ex(n)[2]) for n in names}}))
"""


def test_every_cloud_map_name_resolves_on_the_network(stack):
    """redis.* and each S.internal-bookingapp.com resolve; each app name to both replicas."""
    names = [f"{s}.internal-bookingapp.com" for s in ("redis", *APP_SERVICES)]
    resolved = stack.probe(RESOLVE.format(names=names))
    assert len(resolved["redis.internal-bookingapp.com"]) == 1
    for service in APP_SERVICES:
        replicas = sorted(stack.address(c) for c in stack.containers(service))
        assert len(replicas) == 2
        assert resolved[f"{service}.internal-bookingapp.com"] == replicas


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_replica_answers_with_its_own_instance_id(stack, service):
    """Two replicas, two instance ids: the container ids, as the hostname says."""
    containers = stack.containers(service)
    urls = [f"http://{stack.address(c)}:5000/{service}" for c in containers]
    answers = fetch_inside(stack, urls)
    assert [status for status, _ in answers] == [200, 200]
    instances = [body["instance"] for _, body in answers]
    assert instances == [c["Config"]["Hostname"] for c in containers]
    assert len(set(instances)) == 2


def test_hits_on_one_replica_are_seen_by_the_other(stack):
    """The count is shared through Redis: replica 2 continues where replica 1 stopped."""
    first, second = (stack.address(c) for c in stack.containers("movie"))
    answers = fetch_inside(
        stack,
        [f"http://{first}:5000/movie", f"http://{first}:5000/movie", f"http://{second}:5000/movie"],
    )
    hits = [body["hits"] for _, body in answers]
    assert hits[1] == hits[0] + 1
    assert hits[2] == hits[1] + 1
    assert answers[2][1]["instance_hits"] < hits[2]


def test_home_shows_movie_and_bus_through_discovery(stack):
    """Home asks movie.internal-bookingapp.com and bus.internal-bookingapp.com: both up."""
    [(status, body)] = fetch_inside(stack, ["http://home.internal-bookingapp.com:5000/home"])
    assert status == 200
    panels = {n["name"]: n for n in body["neighbours"]}
    assert set(panels) == {"movie", "bus"}
    assert all(panel["up"] for panel in panels.values()), panels
    movie_instances = {c["Config"]["Hostname"] for c in stack.containers("movie")}
    assert panels["movie"]["instance"] in movie_instances


def test_restarting_redis_loses_no_hit(stack):
    """AOF on the named volume: the count after a restart is the count before it."""
    url = "http://bus.internal-bookingapp.com:5000/bus"
    for _ in range(5):
        fetch_inside(stack, [url])
    [(_, before)] = fetch_inside(stack, ["http://bus.internal-bookingapp.com:5000/bus/ready"])
    assert before["hits"] >= 5
    stack.compose("restart", "redis")
    stack.wait_healthy("redis")
    [(status, after)] = fetch_inside(stack, ["http://bus.internal-bookingapp.com:5000/bus/ready"])
    assert status == 200
    assert after["hits"] == before["hits"]
    [(status, page)] = fetch_inside(stack, [url])
    assert (status, page["hits"]) == (200, before["hits"] + 1)


def test_redis_requires_the_password_from_the_secret(stack):
    """Without the password Redis refuses to answer (NOAUTH)."""
    out = stack.compose("exec", "-T", "redis", "redis-cli", "ping", check=False)
    assert "NOAUTH" in out
