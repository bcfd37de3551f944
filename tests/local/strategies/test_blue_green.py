"""Blue/green releases: set up from the params (no Docker), then through the real Traefik.

The Docker tests send traffic only to the listener's published port on 127.0.0.1 (as on a
laptop with Docker Desktop), never to container addresses. Each response names the instance
(container hostname) that served it, so the tests can say which colour answered; the page's
hit count is read before and after, so a lost or doubled hit shows. Only redis, traefik and
movie run: movie is nobody's neighbour here, so every hit it counts is one these tests sent.

What these can't prove: timings (the machine is shared) and the ALB's own behaviour; they
prove the local emulation keeps its promises.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from dataclasses import replace

import pytest

from bookingapp_infra.errors import InputError
from bookingapp_infra.local.strategies.blue_green import BlueGreen
from bookingapp_infra.local.strategies.state import Shift
from bookingapp_infra.local.strategies.strategy import Overrides
from bookingapp_infra.params import DeploymentParams, ParamsError, load_all
from tests.compose.edge import assert_nothing_lost, derived_image
from tests.local.strategies.shifting import (
    SERVICE,
    STEP_WAIT,
    assert_back_on_blue,
    assert_only,
    between,
    green_of,
)


def movie(**deployment) -> object:
    """Return movie's committed params with these [deployment] values."""
    params = load_all()["movie"]
    return replace(params, deployment=replace(params.deployment, **deployment))


def test_a_blue_green_release_takes_bake_time_and_approval_from_the_params():
    """The toml's [deployment] (ECS's names), production moving at once as on ECS."""
    release = BlueGreen.configure(
        movie(strategy="blue_green", bake_time_minutes=5, approval=True), Overrides()
    )
    assert (release.bake_seconds, release.approval, release.shifts) == (300.0, True, (Shift(100),))


def test_without_a_bake_time_it_is_ecs_default_of_fifteen_minutes():
    assert DeploymentParams().bake_time_minutes == 15
    assert BlueGreen.configure(movie(), Overrides()).bake_seconds == 15 * 60


def test_options_override_the_params_for_one_release():
    """Fractions of a minute are taken on the command line, for trying it out."""
    given = Overrides(bake_time_minutes=0.05, approval=True, traffic_steps="10,50,100",
                      step_seconds=3, approval_timeout=60)  # fmt: skip
    release = BlueGreen.configure(movie(), given)
    assert release.bake_seconds == pytest.approx(3.0)
    assert release.approval
    assert release.shifts == (Shift(10, 3.0), Shift(50, 3.0), Shift(100, 0.0))
    assert release.approval_timeout == 60


@pytest.mark.parametrize("steps", ["50", "50,20,100", "0,100", "ten", "10,,100"])
def test_traffic_steps_must_rise_to_one_hundred(steps):
    with pytest.raises(InputError, match=r"^--traffic-steps"):
        BlueGreen.configure(movie(), Overrides(traffic_steps=steps))


def test_a_bake_time_override_is_held_to_ecs_range():
    with pytest.raises(ParamsError, match=r"^--bake-time-minutes: .*0\.\.1440"):
        BlueGreen.configure(movie(), Overrides(bake_time_minutes=2000))


def test_a_backing_service_cannot_be_released_blue_green():
    """Two Redis tasks at once would each count their own hits: params.py says so."""
    with pytest.raises(ParamsError, match=r"^redis.toml: .*stays rolling"):
        BlueGreen.configure(load_all()["redis"], Overrides())


# --- through the real Traefik -----------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.traefik
def test_release_shifts_production_to_green_in_steps_and_stops_blue(bluegreen):
    """The test header reaches green only; after approval production moves; 0 requests fail."""
    blue = bluegreen.instances()
    before = bluegreen.edge.hits(SERVICE)
    production, test = bluegreen.load()
    release = bluegreen.release(
        "--approval", "--traffic-steps", "50,100", "--step-seconds", "3",
        "--bake-time-minutes", "0.05",
    )  # fmt: skip
    try:
        with production, test:
            start = time.monotonic()
            release.wait_for_line("waiting for approval")
            paused = time.monotonic()
            green = green_of(bluegreen, blue)
            test.wait_for(20, since=paused)

            approved = time.monotonic()
            answer = bluegreen.cli("approve", SERVICE)
            assert answer.returncode == 0, answer
            assert release.finish() == 0, release.seen
            done = time.monotonic()
            production.wait_for(30, since=done)
        after = bluegreen.edge.hits(SERVICE)
    finally:
        release.kill()

    assert_only(between(production, start, approved), blue)
    assert_only(between(test, paused, time.monotonic()), green)
    half = between(production, release.when("green 50%"), release.when("green 100%"))
    assert half & blue, "the 50 % step sent no production request to blue"
    assert half & green, "the 50 % step sent no production request to green"
    assert_only(between(production, done, time.monotonic()), green)
    assert bluegreen.instances() == green
    assert_nothing_lost(before, after, production, test)
    assert list(bluegreen.rules_dir.glob("*.yml")) == []
    output = "\n".join(release.seen)
    for stage in ("PRODUCTION_TRAFFIC_SHIFT", "green 50%", "BAKE_TIME", "CLEAN_UP", "SUCCESSFUL"):
        assert stage in output


@pytest.mark.docker
@pytest.mark.traefik
def test_rollback_sends_everything_back_to_blue_and_removes_green(bluegreen):
    """Before the shift green gets test traffic only; rollback leaves blue alone; nothing lost.

    Runs after the release test: blue here is what that release left, so a second release
    starting from a first one's replicas is covered too.
    """
    blue = bluegreen.instances()
    before = bluegreen.edge.hits(SERVICE)
    production, test = bluegreen.load()
    release = bluegreen.release("--approval")
    try:
        with production, test:
            start = time.monotonic()
            release.wait_for_line("waiting for approval")
            paused = time.monotonic()
            green = green_of(bluegreen, blue)
            test.wait_for(20, since=paused)

            second = bluegreen.cli(
                "release", SERVICE, "--image", bluegreen.image, "--strategy", "blue_green"
            )
            assert second.returncode == 2, second
            assert "already in progress" in second.stderr
            assert len(second.stderr.strip().splitlines()) == 1

            asked = time.monotonic()
            rolled = bluegreen.cli("rollback", SERVICE, "--timeout", STEP_WAIT)
            assert rolled.returncode == 0, rolled
            assert release.finish() == 1, release.seen
            done = time.monotonic()
            production.wait_for(30, since=done)
            test.wait_for(10, since=done)
        after = bluegreen.edge.hits(SERVICE)
    finally:
        release.kill()

    assert_only(between(production, start, asked), blue)
    assert_only(between(test, paused, asked), green)
    assert_only(between(production, done, time.monotonic()), blue)
    assert_only(between(test, done, time.monotonic()), blue)
    assert bluegreen.instances() == blue
    assert_nothing_lost(before, after, production, test)
    assert "ROLLBACK_SUCCESSFUL" in "\n".join(release.seen)
    assert list(bluegreen.rules_dir.glob("*.yml")) == []


@pytest.mark.docker
@pytest.mark.traefik
def test_a_green_replica_that_dies_while_baking_rolls_the_release_back(bluegreen):
    """The unhealthy-hosts alarm, locally: green loses a replica, everything goes back to blue.

    Production runs on green through the bake, then stops just before the replica is
    killed: the requests Traefik would still send the dead replica are refused (502s) and
    trip the 5xx alarm about as often as Docker's report of the exit trips this one,
    whichever the release reads first (seen in a CI run under load), and the 5xx alarm has
    its own test below. After the rollback new production traffic is all blue's.
    """
    blue = bluegreen.instances()
    production, _ = bluegreen.load()
    release = bluegreen.release("--bake-time-minutes", "2")
    try:
        with production:
            release.wait_for_line("baking")
            green = green_of(bluegreen, blue)
            baking = time.monotonic()
            production.wait_for(5, since=baking)
        assert_only(between(production, baking, time.monotonic()), green)
        victim = next(r for r in bluegreen.edge.replicas(SERVICE) if r.hostname in green)
        subprocess.run(["docker", "kill", victim.id], check=True, capture_output=True)
        assert release.finish() == 1, release.seen
    finally:
        release.kill()
    assert {a.status for a in production.answers} == {200}

    output = "\n".join(release.seen)
    assert f"alarm: green replica {victim.name} is not running" in output
    assert "ROLLBACK_SUCCESSFUL" in output
    after, _ = bluegreen.load()
    with after:
        done = time.monotonic()
        after.wait_for(30, since=done)
    assert_back_on_blue(bluegreen, after, blue, done)


# The image's health check, wrapped: it fails once /tmp/sick exists (the app is untouched).
SICK_HEALTHCHECK = (
    "USER root",
    "RUN mv /usr/local/bin/bookingapp-healthcheck /usr/local/bin/healthcheck-real"
    " && printf '%s\\n' '#!/bin/bash'"
    " '[[ -e /tmp/sick ]] && { echo \"sick: /tmp/sick exists\" >&2; exit 1; }'"
    " 'exec /usr/local/bin/healthcheck-real' > /usr/local/bin/bookingapp-healthcheck"
    " && chmod 0755 /usr/local/bin/bookingapp-healthcheck",
    "USER 10001:10001",
)


@pytest.mark.docker
@pytest.mark.traefik
def test_a_green_replica_that_keeps_failing_its_health_check_rolls_the_release_back(bluegreen):
    """Running, serving, but failing its container health check: rolled back at the third.

    The other half of the unhealthy-hosts alarm: the replica stays up and its pages answer
    (Traefik's own HTTP check keeps it in the pool), only the container health check fails.
    The alarm waits for 3 failures in a row, the target group's UnhealthyThresholdCount, not
    Docker's `unhealthy` after compose's 2. Production traffic runs through the rollback, so
    every request must be a 200 and counted once.
    """
    repository = bluegreen.image.rsplit(":", 1)[0]
    tag = f"{repository}:sick-{uuid.uuid4().hex[:8]}"
    sick = derived_image(bluegreen.image, tag, *SICK_HEALTHCHECK)
    blue = bluegreen.instances()
    before = bluegreen.edge.hits(SERVICE)
    production, _ = bluegreen.load()
    release = bluegreen.release("--bake-time-minutes", "2", image=sick)
    try:
        with production:
            release.wait_for_line("baking")
            green = green_of(bluegreen, blue)
            victim = next(r for r in bluegreen.edge.replicas(SERVICE) if r.hostname in green)
            subprocess.run(
                ["docker", "exec", victim.id, "touch", "/tmp/sick"], check=True, capture_output=True
            )
            assert release.finish() == 1, release.seen
            done = time.monotonic()
            production.wait_for(30, since=done)
        after = bluegreen.edge.hits(SERVICE)
    finally:
        release.kill()
        subprocess.run(["docker", "rmi", sick], check=False, capture_output=True)

    output = "\n".join(release.seen)
    alarm = re.search(
        rf"alarm: green replica {re.escape(victim.name)} is unhealthy \((\d+) failed", output
    )
    assert alarm, output
    assert int(alarm[1]) >= 3, output  # not at Docker's `unhealthy` after 2
    assert "is not running" not in output  # it was up all along
    assert "ROLLBACK_SUCCESSFUL" in output
    assert_nothing_lost(before, after, production)  # every answer a 200, counted once
    assert_back_on_blue(bluegreen, production, blue, done)


@pytest.mark.docker
@pytest.mark.traefik
def test_a_green_that_answers_5xx_is_rolled_back_by_the_error_alarm(bluegreen):
    """Green passes its health check but cannot reach Redis, so its pages are 503s: rollback.

    The case the 5xx alarm exists for on AWS: a revision healthy by its health check that
    fails its users. The requests green answered before the rollback are 503s (not counted,
    as promised); afterwards blue serves every request.
    """
    repository = bluegreen.image.rsplit(":", 1)[0]
    tag = f"{repository}:no-redis-{uuid.uuid4().hex[:8]}"
    broken = derived_image(bluegreen.image, tag, "ENV REDIS_PORT=6390")  # nothing listens there
    blue = bluegreen.instances()
    production, _ = bluegreen.load()
    release = bluegreen.release("--bake-time-minutes", "2", image=broken)
    try:
        with production:
            assert release.finish() == 1, release.seen
            done = time.monotonic()
            production.wait_for(30, since=done)
    finally:
        release.kill()
        subprocess.run(["docker", "rmi", broken], check=False, capture_output=True)

    output = "\n".join(release.seen)
    assert "alarm: green answered" in output
    assert "5xx within 60 s" in output
    assert "ROLLBACK_SUCCESSFUL" in output
    assert {a.status for a in production.answers} <= {200, 503}  # never a 500 or a drop
    assert_back_on_blue(bluegreen, production, blue, done)


@pytest.mark.docker
@pytest.mark.traefik
def test_rollback_takes_over_when_the_release_process_is_gone(bluegreen):
    """Ctrl-C or a closed terminal: `rollback` finishes the job itself; nothing is lost."""
    blue = bluegreen.instances()
    before = bluegreen.edge.hits(SERVICE)
    production, _ = bluegreen.load()
    release = bluegreen.release("--approval")
    try:
        with production:
            release.wait_for_line("waiting for approval")
            green_of(bluegreen, blue)
            release.kill()
            rolled = bluegreen.cli("rollback", SERVICE, "--timeout", STEP_WAIT)
            assert rolled.returncode == 0, rolled
            assert "controller is gone; rolling back here" in rolled.stdout
            done = time.monotonic()
            production.wait_for(30, since=done)
        after = bluegreen.edge.hits(SERVICE)
    finally:
        release.kill()

    assert_only(between(production, done, time.monotonic()), blue)
    assert bluegreen.instances() == blue
    assert_nothing_lost(before, after, production)


@pytest.mark.docker
@pytest.mark.traefik
def test_release_refuses_an_image_that_does_not_exist(bluegreen):
    result = bluegreen.cli(
        "release", SERVICE, "--image", "bookingapp/nothing-here:missing", "--strategy", "blue_green"
    )
    assert result.returncode == 2
    assert "not on this machine" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.docker
@pytest.mark.traefik
def test_release_refuses_when_the_stack_is_not_up(bluegreen):
    absent = f"bookingapp-absent-{uuid.uuid4().hex[:8]}"
    result = bluegreen.cli(
        "release", SERVICE, "--image", bluegreen.image, "--strategy", "blue_green", project=absent
    )
    assert result.returncode == 2
    assert "start the stack first" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("verb", ["approve", "rollback"])
@pytest.mark.docker
@pytest.mark.traefik
def test_approve_and_rollback_refuse_when_nothing_is_in_progress(bluegreen, verb):
    result = bluegreen.cli(verb, SERVICE)
    assert result.returncode == 2, result
    assert "no release of movie is in progress" in result.stderr
