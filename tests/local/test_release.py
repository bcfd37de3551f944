"""`bookingapp-local release` on the real stack, under load through the listener.

What this proves: the release starts replicas from the new image, waits until Traefik's
API has them UP, then drains and stops the old ones, naming each step; clients through the
listener see no failure and every hit is counted once; afterwards only new instances
answer. It also refuses, in one line with exit 2, what cannot be right.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from bookingapp_infra.local import compose
from bookingapp_infra.local.cli import main
from bookingapp_infra.local.compose import image_id
from tests.compose.edge import Edge, Traffic, assert_nothing_lost, edge_stack, relabelled_image

pytestmark = [pytest.mark.docker, pytest.mark.traefik]

STEADY = 100


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    """The whole compose.yaml, traefik included, every replica UP in Traefik's pool."""
    with edge_stack() as running:
        yield running


@pytest.fixture(scope="module")
def new_image(edge) -> Iterator[str]:
    """An image that differs from the running one (one more label), removed afterwards."""
    tag = relabelled_image(edge, "bookingapp-local-test", "bookingapp.release-test")
    try:
        yield tag
    finally:
        edge.stack.down()  # no container may still use it
        subprocess.run(["docker", "rmi", tag], capture_output=True, check=False)


def run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    """Run bookingapp-local in-process; return its exit code, stdout and stderr lines."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_release_refuses_when_the_stack_is_not_up(capsys, edge):
    """A project with nothing running: exit 2 and one line saying to start the stack."""
    image = edge.replicas("home")[0].image
    code, out, err = run(capsys, "release", "home", "--image", image, "--project", "nothing-here")
    assert code == 2
    assert out == []
    assert err == [
        "bookingapp-local: error: project 'nothing-here' has no running home containers: "
        "start the stack first (docker compose -p nothing-here up -d), or name it with --project"
    ]


def test_release_refuses_an_image_that_is_not_here_and_touches_nothing(capsys, edge):
    """An image this machine does not have: exit 2, one line, the replicas left as they were."""
    before = [r.id for r in edge.replicas("home")]
    missing = f"bookingapp-local-test/none:{uuid.uuid4().hex[:8]}"
    code, _, err = run(
        capsys, "release", "home", "--image", missing, "--project", edge.stack.project
    )
    assert code == 2
    assert err == [
        f"bookingapp-local: error: image '{missing}' is not on this machine: build or pull it first"
    ]
    assert [r.id for r in edge.replicas("home")] == before


def test_release_refuses_a_service_that_is_not_behind_the_load_balancer(capsys, edge):
    """Redis has no target group: nothing to roll, exit 2."""
    image = edge.replicas("redis")[0].image
    code, _, err = run(
        capsys, "release", "redis", "--image", image, "--project", edge.stack.project
    )
    assert code == 2
    assert err == [
        "bookingapp-local: error: redis is not behind the load balancer: nothing to roll"
    ]


def test_a_release_whose_replicas_never_turn_healthy_stops_and_the_old_ones_serve(capsys, edge):
    """An image whose app cannot start: exit 1 after --timeout, old replicas untouched."""
    current = edge.replicas("home")[0].image
    broken = f"bookingapp-local-test/broken:{uuid.uuid4().hex[:8]}"
    recipe = f"FROM {current}\nENV BOOKINGAPP_SERVICE=nosuchservice\n"  # gunicorn cannot load it
    subprocess.run(
        ["docker", "build", "-q", "-t", broken, "-"],
        input=recipe, text=True, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    old = [r.id for r in edge.replicas("home")]
    try:
        code, _, err = run(capsys, "release", "home", "--image", broken, "--timeout", "20",
                           "--project", edge.stack.project)  # fmt: skip
        assert code == 1
        [line] = err
        assert line.startswith("bookingapp-local: error: not healthy within 20 s")
        assert line.endswith("the old replicas still serve, the new ones are left running "
                             "for you to look at (bookingapp-local status, docker logs)")  # fmt: skip
        running = edge.replicas("home")
        assert {r.id for r in running if r.image != broken} == set(old)  # untouched
        served = set(edge.instances("/home", 10))
        assert served == {r.hostname for r in running if r.id in old}
    finally:
        leftovers = [r.id for r in edge.replicas("home") if r.id not in old]
        subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, check=False)
        subprocess.run(["docker", "rmi", broken], capture_output=True, check=False)


def test_a_release_under_load_fails_no_request_and_leaves_only_new_instances(
    capsys, edge, new_image
):
    """8 clients through the listener during the release: all 200, every hit counted once."""
    old = {r.hostname for r in edge.replicas("home")}
    old_releases = {r.labels.get(compose.RELEASE, "") for r in edge.replicas("home")}
    before = edge.hits("home")
    with Traffic(edge.port, "/home") as traffic:
        traffic.wait_for(STEADY)
        code, out, err = run(
            capsys, "release", "home", "--image", new_image, "--project", edge.stack.project
        )
        done = time.monotonic()
        traffic.wait_for(STEADY, since=done)
    assert (code, err) == (0, [])
    assert_nothing_lost(traffic, before, edge.hits("home"))
    new = edge.replicas("home")
    assert len(new) == 2
    assert {r.image_id for r in new} == {image_id(new_image)}
    assert not old & {r.hostname for r in new}
    # One new release label on the new replicas: what tells the autoscaler a release runs.
    [release] = {r.labels.get(compose.RELEASE, "") for r in new}
    assert release.startswith("home-")
    assert release not in old_releases
    assert {a.instance for a in traffic.since(done)} == {r.hostname for r in new}
    # Each step is named as it happens, in ECS's order: start, healthy, in the pool, drain.
    steps = [line.split(" ", 1)[1].split(" ", 2)[:2] for line in out if line.startswith("[")]
    assert steps == [["starting", "replicas"], ["waiting", "until"], ["waiting", "until"],
                     ["draining", "and"]]  # fmt: skip
    assert "UP in Traefik's pool" in out[3]
    assert out[-1].startswith("done in ")


def test_status_shows_every_replica_with_its_image_and_pool_state(capsys, edge):
    """`status`: one line per replica; the apps' replicas are UP in Traefik's pool."""
    code, out, _ = run(capsys, "status", "--project", edge.stack.project)
    assert code == 0
    home = [line.split() for line in out if line.startswith("home ")]
    assert len(home) == 2
    assert {fields[-1] for fields in home} == {"UP"}
    assert {fields[1] for fields in home} == {r.name for r in edge.replicas("home")}
