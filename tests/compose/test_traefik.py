"""Through Traefik, as through the ALB: path rules, spreading, health-aware targets, scaling.

These need a Traefik image. They run where one exists or can be pulled (a laptop, GitHub
Actions) and skip with the reason elsewhere: no test here pretends to be Traefik.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.compose.stack import APP_SERVICES, Stack, load_compose
from tests.support import docker_problem
from tests.unit.conftest import free_port


def traefik_image() -> str:
    """Return the Traefik image compose.yaml will use (TRAEFIK_IMAGE or its default)."""
    default = load_compose()["services"]["traefik"]["image"].split(":-", 1)[1].rstrip("}")
    return os.environ.get("TRAEFIK_IMAGE") or default


@functools.cache
def traefik_problem() -> str | None:
    """Say why no Traefik image can be used here, or None when one is present or pullable."""
    if docker_problem():
        return docker_problem()
    image = traefik_image()
    if (
        subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return None
    try:
        pull = subprocess.run(
            ["docker", "pull", image], capture_output=True, text=True, timeout=180, check=False
        )
    except subprocess.TimeoutExpired:
        return f"pulling {image} timed out"
    if pull.returncode == 0:
        return None
    reason = (pull.stderr.strip().splitlines() or ["unknown error"])[-1]
    return f"Traefik image {image} is not here and cannot be pulled ({reason}); set TRAEFIK_IMAGE to one that is"


# tests/conftest.py skips these, with the reason, where Docker or a Traefik image is missing.
pytestmark = [pytest.mark.docker, pytest.mark.traefik]


class Edge:
    """The listener: HTTP requests to Traefik's published port on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> tuple[int, str, dict | None]:
        """GET a path; return status, raw body and the JSON body when there is one."""
        request = urllib.request.Request(self.base + path, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status, body = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read().decode()
        try:
            return status, body, json.loads(body)
        except ValueError:
            return status, body, None

    def instances(self, path: str, count: int) -> list[str]:
        """Return the instance ids that served `count` requests to a page."""
        seen = []
        for _ in range(count):
            status, body, data = self.get(path)
            assert status == 200, body
            seen.append(data["instance"])
        return seen

    def wait_for(self, condition, timeout: float = 45) -> None:
        """Poll until condition() is true (Traefik picks up containers within seconds)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout} s: {condition.__doc__}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def edge_stack() -> Iterator[tuple[Stack, Edge]]:
    """The whole compose.yaml, traefik included, on free host ports."""
    port = free_port()
    stack = Stack(env={"HTTP_PORT": str(port), "DASHBOARD_PORT": str(free_port())})
    try:
        stack.up()
        edge = Edge(port)

        def all_routed() -> bool:
            """Every service answers through the listener."""
            return all(edge.get(f"/{s}")[0] == 200 for s in APP_SERVICES)

        edge.wait_for(all_routed)
        yield stack, edge
    finally:
        stack.down()


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_path_reaches_its_service_unstripped(edge_stack, service):
    """/S, /S/ and /S/health reach service S with the prefix intact (the app only serves under it)."""
    _, edge = edge_stack
    for path in (f"/{service}", f"/{service}/", f"/{service}/health"):
        status, body, data = edge.get(path)
        assert status == 200, (path, body)
        assert data["service"] == service


def test_prefix_matching_is_a_plain_string_prefix_like_the_alb(edge_stack):
    """/homepage matches /home* on the ALB and PathPrefix(`/home`) here: home answers its 404."""
    _, edge = edge_stack
    status, _, data = edge.get("/homepage")
    assert status == 404
    assert data == {"error": data["error"], "status": 404}


def test_unmatched_paths_get_the_listeners_404(edge_stack):
    """No rule matches /nope: 404 from the listener itself, like the ALB's fixed response."""
    _, edge = edge_stack
    status, body, data = edge.get("/nope")
    assert status == 404
    assert data is None
    assert "not found" in body.lower()


@pytest.mark.parametrize("service", APP_SERVICES)
def test_requests_spread_over_both_replicas(edge_stack, service):
    """Round robin over the two targets: 20 requests see both instance ids."""
    stack, edge = edge_stack
    expected = {c["Config"]["Hostname"] for c in stack.containers(service)}
    assert set(edge.instances(f"/{service}", 20)) == expected


def test_an_unhealthy_replica_stops_getting_traffic(edge_stack):
    """A replica that stops answering its health check is taken out; the other serves all."""
    stack, edge = edge_stack
    sick, well = stack.containers("movie")
    subprocess.run(["docker", "pause", sick["Id"]], check=True, capture_output=True)
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
        subprocess.run(["docker", "unpause", sick["Id"]], check=True, capture_output=True)


def test_scaling_up_is_picked_up_without_restarts(edge_stack):
    """`--scale home=4` adds two targets; the two existing containers keep running untouched."""
    stack, edge = edge_stack
    before = {c["Id"]: c["State"]["StartedAt"] for c in stack.containers("home")}
    stack.compose("up", "--detach", "--no-recreate", "--wait", "--scale", "home=4", "home")
    after = stack.containers("home")
    assert len(after) == 4
    assert {c["Id"]: c["State"]["StartedAt"] for c in after if c["Id"] in before} == before
    hostnames = {c["Config"]["Hostname"] for c in after}

    def all_four_serve() -> bool:
        """Requests reach all four replicas."""
        return set(edge.instances("/home", 24)) == hostnames

    edge.wait_for(all_four_serve, timeout=60)
