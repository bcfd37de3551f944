"""The rolling release: ECS's arithmetic on [deployment] bounds, and the release on a real stack.

The arithmetic is checked against numbers written down from ECS's own documentation, not
computed by the code under test: maximumPercent is "rounded down to the nearest integer",
minimumHealthyPercent "rounded up" (ECS API reference, DeploymentConfiguration), with its
examples of 4 tasks at 200 % (start 4 new before stopping the 4 old) and at 50 % minimum
healthy (stop 2 before starting 2), and the products that are not whole numbers.

The release itself runs against the whole compose.yaml under load through the listener: it
starts replicas from the new image, waits until Traefik's API has them UP, then drains and
stops the old ones, naming each step; clients see no failure and every hit is counted once;
afterwards only new instances answer. It refuses, in one line with exit 2, what cannot be
right.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from bookingapp_infra.errors import InputError
from bookingapp_infra.local import docker
from bookingapp_infra.local.cli import main
from bookingapp_infra.local.docker import image_id
from bookingapp_infra.local.strategies.rolling import Bounds, Step, plan
from bookingapp_infra.params import DeploymentParams
from tests.compose.edge import (
    Edge,
    Traffic,
    assert_nothing_lost,
    derived_image,
    edge_stack,
    relabelled_image,
)

STEADY = 100


def bounds(desired: int, minimum: int, maximum: int) -> Bounds:
    """Apply the bounds of a [deployment] table to a desired count."""
    return Bounds.of(desired, DeploymentParams(minimum, maximum))


@pytest.mark.parametrize(
    ("desired", "minimum", "maximum", "most", "fewest"),
    [
        (4, 100, 200, 8, 4),  # ECS's example: 4 new start before the 4 old stop
        (4, 50, 200, 8, 2),  # ECS's example: 2 may stop before 2 new start
        (3, 100, 150, 4, 3),  # 4.5 running at most: rounded down to 4
        (3, 50, 200, 6, 2),  # 1.5 healthy at least: rounded up to 2
        (3, 50, 150, 4, 2),  # both at once
        (5, 75, 110, 5, 4),  # 5.5 down to 5; 3.75 up to 4
        (7, 33, 125, 8, 3),  # 8.75 down to 8; 2.31 up to 3
        (1, 0, 100, 1, 0),  # Redis: stop the one task, then start the new one
        (2, 100, 200, 4, 2),  # the services' default
    ],
)
def test_bounds_round_as_ecs_documents(desired, minimum, maximum, most, fewest):
    """Maximum rounds down, minimum healthy rounds up: the literal figures, not a formula."""
    assert bounds(desired, minimum, maximum) == Bounds(desired, most, fewest)


def test_the_default_bounds_start_all_new_replicas_then_stop_all_old():
    """100 % healthy, 200 % max (the services' default): 2 new beside 2 old, then 2 old go."""
    assert plan(bounds(2, 100, 200)) == [Step(start=2, stop=2)]


def test_a_150_percent_maximum_replaces_one_replica_at_a_time():
    """Room for one extra replica: start one, stop one, twice."""
    assert plan(bounds(2, 100, 150)) == [Step(1, 1), Step(1, 1)]


def test_a_100_percent_maximum_stops_before_it_starts():
    """No room above the desired count: stop down to the minimum healthy first, as ECS does."""
    assert plan(bounds(2, 50, 100)) == [Step(0, 1), Step(1, 1), Step(1, 0)]


def test_three_replicas_at_50_and_150_percent_run_at_most_four_and_keep_two_healthy():
    """3 replicas, 150 % / 50 %: start 1 (4 run), stop 2 (2 healthy), start 2 (4), stop 1."""
    assert plan(bounds(3, 50, 150)) == [Step(start=1, stop=2), Step(start=2, stop=1)]


def test_ecs_documented_half_healthy_example_stops_two_before_starting_two():
    """4 replicas, 50 % minimum, 100 % maximum: stop 2, start 2, stop 2, start 2."""
    assert plan(bounds(4, 50, 100)) == [Step(0, 2), Step(2, 2), Step(2, 0)]


def ecs_bounds(desired: int, minimum: int, maximum: int) -> tuple[int, int]:
    """Return (most, fewest) by ECS's words, in integers: floor of max, ceiling of min."""
    most = (desired * maximum) // 100
    fewest = (desired * minimum + 99) // 100
    return most, fewest


def test_every_plan_ends_all_new_and_never_breaks_ecs_bounds():
    """For any accepted bounds: never more running than ECS allows, never fewer healthy."""
    for desired in range(1, 7):
        for minimum in range(0, 101, 25):
            for maximum in range(100, 201, 25):
                most, fewest = ecs_bounds(desired, minimum, maximum)
                try:
                    b = bounds(desired, minimum, maximum)
                except InputError:
                    assert most <= fewest, (desired, minimum, maximum)
                    continue
                old, new = desired, 0
                for step in plan(b):
                    assert old + new + step.start <= most
                    new += step.start
                    old -= step.stop
                    assert old + new >= fewest
                assert (old, new) == (0, desired)


def test_bounds_that_leave_no_room_are_refused_with_the_reason():
    """100 % / 100 %: nothing may stop and nothing may start; say which setting to change."""
    with pytest.raises(InputError, match=r"widen \[deployment\]"):
        bounds(2, 100, 100)


# --- the release on a real stack ------------------------------------------------------------


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


@pytest.mark.docker
@pytest.mark.traefik
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


@pytest.mark.docker
@pytest.mark.traefik
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


@pytest.mark.docker
@pytest.mark.traefik
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


@pytest.mark.docker
@pytest.mark.traefik
def test_a_release_whose_replicas_never_turn_healthy_stops_and_the_old_ones_serve(capsys, edge):
    """An image whose app cannot start: exit 1 after --timeout, old replicas untouched."""
    current = edge.replicas("home")[0].image
    tag = f"bookingapp-local-test/broken:{uuid.uuid4().hex[:8]}"
    broken = derived_image(current, tag, "ENV BOOKINGAPP_SERVICE=nosuchservice")  # cannot load
    old = [r.id for r in edge.replicas("home")]
    try:
        code, _, err = run(capsys, "release", "home", "--image", broken, "--timeout", "20",
                           "--project", edge.stack.project)  # fmt: skip
        assert code == 1
        [line] = err
        assert line.startswith("bookingapp-local: error: not healthy within 20 s")
        # The new replicas restart in a loop; each is named, with where to look.
        assert "; the old replicas still serve, the new ones are left running for you to " \
            "look at (" in line  # fmt: skip
        assert line.endswith(": bookingapp-local status, docker logs)")
        running = edge.replicas("home")
        assert {r.id for r in running if r.image != broken} == set(old)  # untouched
        served = set(edge.instances("/home", 10))
        assert served == {r.hostname for r in running if r.id in old}
    finally:
        leftovers = [r.id for r in edge.replicas("home") if r.id not in old]
        subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, check=False)
        subprocess.run(["docker", "rmi", broken], capture_output=True, check=False)


@pytest.mark.docker
@pytest.mark.traefik
def test_a_release_under_load_fails_no_request_and_leaves_only_new_instances(
    capsys, edge, new_image
):
    """8 clients through the listener during the release: all 200, every hit counted once."""
    old = {r.hostname for r in edge.replicas("home")}
    old_releases = {r.labels.get(docker.RELEASE, "") for r in edge.replicas("home")}
    before = edge.hits("home")
    with Traffic(edge.port, "/home") as traffic:
        traffic.wait_for(STEADY)
        code, out, err = run(
            capsys, "release", "home", "--image", new_image, "--project", edge.stack.project
        )
        done = time.monotonic()
        traffic.wait_for(STEADY, since=done)
    assert (code, err) == (0, [])
    assert_nothing_lost(before, edge.hits("home"), traffic)
    new = edge.replicas("home")
    assert len(new) == 2
    assert {r.image_id for r in new} == {image_id(new_image)}
    assert not old & {r.hostname for r in new}
    # One new release label on the new replicas: what tells the autoscaler a release runs.
    [release] = {r.labels.get(docker.RELEASE, "") for r in new}
    assert release.startswith("home-")
    assert release not in old_releases
    assert {a.instance for a in traffic.since(done)} == {r.hostname for r in new}
    # Each step is named as it happens, in ECS's order: start, healthy, in the pool, drain.
    steps = [line.split(" ", 1)[1].split(" ", 2)[:2] for line in out if line.startswith("[")]
    assert steps == [["starting", "replicas"], ["waiting", "until"], ["waiting", "until"],
                     ["draining", "and"]]  # fmt: skip
    assert "UP in Traefik's pool" in out[3]
    assert out[-1].startswith("done in ")
