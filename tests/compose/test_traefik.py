"""Through Traefik, as through the ALB: path rules, spreading, health-aware targets, scaling.

These need a Traefik image: the stand-in script builds one where none can be pulled. The
image is checked when the stack fixture starts, never at import (tests/compose/edge.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from werkzeug.exceptions import NotFound

from tests.compose.edge import Edge, edge_stack
from tests.compose.stack import APP_SERVICES, listener_default_action
from tests.support import http_get, pause_container, unpause_container

# tests/conftest.py skips these, with the reason, where Docker or a Traefik image is missing.
pytestmark = [pytest.mark.docker, pytest.mark.traefik]


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    """The whole compose.yaml, traefik included, every replica UP in Traefik's pool."""
    with edge_stack() as running:
        yield running


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_path_reaches_its_service_unstripped(edge, service):
    """/S, /S/ and /S/health reach service S with the prefix intact (the app only serves under it)."""
    for path in (f"/{service}", f"/{service}/", f"/{service}/health"):
        status, body, data = edge.get(path)
        assert status == 200, (path, body)
        assert data["service"] == service


def test_prefix_matching_is_a_plain_string_prefix_like_the_alb(edge):
    """/homepage matches /home* on the ALB and PathPrefix(`/home`) here: home answers its 404."""
    status, _, data = edge.get("/homepage")
    assert status == 404
    assert data == {"error": NotFound.description, "status": 404}  # the app's, not Traefik's


@pytest.mark.parametrize("path", ["/", "/nope", "/Home", "/favicon.ico"])
def test_unmatched_paths_get_the_listeners_default_action(edge, path):
    """No rule matches: the ALB's fixed response (platform.yaml), status, type and body."""
    expected = listener_default_action()
    reply = http_get(edge.base + path)
    assert reply.status == int(expected["StatusCode"])
    assert reply.content_type == expected["ContentType"]
    assert reply.body == expected["MessageBody"]


@pytest.mark.parametrize("service", APP_SERVICES)
def test_requests_spread_over_both_replicas(edge, service):
    """Round robin over the two targets (both UP in Traefik's pool): 20 requests see both."""
    expected = {c["Config"]["Hostname"] for c in edge.stack.containers(service)}
    assert len(expected) == 2
    assert set(edge.instances(f"/{service}", 20)) == expected


def test_an_unhealthy_replica_stops_getting_traffic(edge):
    """A replica that stops answering its health check is taken out; the other serves all."""
    stack = edge.stack
    sick, well = stack.containers("movie")
    pause_container(sick["Id"])
    try:

        def only_the_well_one() -> bool:
            """Every request is served by the healthy replica."""
            try:
                return set(edge.instances("/movie", 6)) == {well["Config"]["Hostname"]}
            except (AssertionError, OSError):
                return False

        edge.wait_for(only_the_well_one, timeout=60)
        assert set(edge.instances("/movie", 20)) == {well["Config"]["Hostname"]}
    finally:
        unpause_container(sick["Id"])


def test_scaling_up_is_picked_up_without_restarts(edge):
    """`--scale home=4` adds two targets; the two existing containers keep running untouched."""
    stack = edge.stack
    before = {c["Id"]: c["State"]["StartedAt"] for c in stack.containers("home")}
    stack.compose("up", "--detach", "--no-recreate", "--wait", "--scale", "home=4", "home")
    after = stack.containers("home")
    assert len(after) == 4
    assert {c["Id"]: c["State"]["StartedAt"] for c in after if c["Id"] in before} == before
    in_pool = edge.wait_in_pool("home")
    assert len(in_pool) == 4
    assert set(edge.instances("/home", 24)) == {c["Config"]["Hostname"] for c in after}
