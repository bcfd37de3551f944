"""Journeys: what a user chains on one local stack, under steady load through the listener.

Each feature of `bookingapp-local` has its own tests; these chain them the way a user does,
on one stack (redis, traefik, movie), one after another or side by side as from two
terminals, with clients on /movie through Traefik's published port the whole time. Every
command must exit as its docs promise, replica counts must move as promised, and no
request may fail (every hit counted once).

The autoscaler decides from movie's policy in a copy of the parameter files whose bounds
force the decision (min_capacity above the running count scales out to it, max_capacity
below scales in to it, as Application Auto Scaling does): what it decides does not depend
on how busy this shared machine's CPU is, and the scaling itself is the real one (compose,
Traefik's pool). test_autoscale's stack run drives the CPU target instead.
What these can't prove: timings, or anything about AWS.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bookingapp_infra.params import SERVICES_DIR
from tests.compose.edge import (
    Background,
    Edge,
    Traffic,
    app_log,
    assert_nothing_lost,
    edge_stack,
    local,
    relabelled_image,
)

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.timeout(1800)]

SERVICE = "movie"
STEP_TIMEOUT = "300"  # seconds a release step may take here (shared 2-core machine)
NAMESPACE = "bookingapp-journey"
# Decide at once: one datapoint of one second is all either alarm needs.
ONCE = ("autoscale", "--once", "--period", "1", "--scale-out-datapoints", "1",
        "--scale-in-datapoints", "1", "--sample-interval", "0.5")  # fmt: skip


@dataclass
class Journey:
    """One stack, the directory its parameter copies go to, and the images made for it."""

    edge: Edge
    scratch: Path
    images: list[str]
    log: Path  # movie's log, every replica's, kept to explain a failed answer

    def assert_nothing_lost(self, hits_before: int, *loads: Traffic) -> None:
        """Every answer a 200, each counted once; a failure shows movie's lines for it."""
        assert_nothing_lost(hits_before, self.edge.hits(SERVICE), *loads, log=self.log)

    @property
    def project(self) -> str:
        """Return the compose project name."""
        return self.edge.stack.project

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        """Run one bookingapp-local command against this stack; fail unless it exits 0."""
        done = local(*argv, "--project", self.project)
        assert done.returncode == 0, (
            f"{argv[0]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        return done

    def image(self) -> str:
        """Build a new image of movie (one more label than the running one) and remember it."""
        tag = relabelled_image(self.edge, NAMESPACE, "bookingapp.journey", SERVICE)
        self.images.append(tag)
        return tag

    def release(self, count: int) -> str:
        """`release movie --image NEW` (movie's own strategy: rolling); it runs `count` of NEW."""
        image = self.image()
        self.run("release", SERVICE, "--image", image, "--timeout", STEP_TIMEOUT)
        self.assert_runs(count, image)
        return image

    def autoscale_once(self, minimum: int, maximum: int) -> subprocess.CompletedProcess:
        """`autoscale --once` with movie's bounds set to minimum..maximum in a params copy."""
        return self.run(*ONCE, "--services-dir", str(self.bounds(minimum, maximum)))

    def bounds(self, minimum: int, maximum: int) -> Path:
        """Copy the parameter files with movie's capacity bounds (and desired count) replaced."""
        directory = self.scratch / f"params-{minimum}-{maximum}"
        directory.mkdir(exist_ok=True)
        for path in SERVICES_DIR.glob("*.toml"):
            text = path.read_text()
            if path.stem == SERVICE:
                text = re.sub(r"(?m)^desired_count = \d+", f"desired_count = {minimum}", text)
                text = re.sub(r"(?m)^min_capacity = \d+", f"min_capacity = {minimum}", text)
                text = re.sub(r"(?m)^max_capacity = \d+", f"max_capacity = {maximum}", text)
            (directory / path.name).write_text(text)
        return directory

    def movie(self) -> list:
        """Return movie's running replicas."""
        return self.edge.replicas(SERVICE)

    def assert_runs(self, count: int, image: str | None = None) -> None:
        """Movie runs `count` replicas (of `image`), every one UP in Traefik's pool."""
        running = self.movie()
        assert len(running) == count, [r.name for r in running]
        if image is not None:
            assert {r.image for r in running} == {image}
        pool = self.edge.pool(SERVICE)
        assert sorted(pool.values()) == ["UP"] * count, pool


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    """redis, traefik and movie from compose.yaml, with their own rules directory."""
    scratch = tmp_path_factory.mktemp("journey")
    rules = scratch / "rules"
    rules.mkdir()
    with (
        edge_stack((SERVICE,), rules_dir=rules, prefix="bookingapp-journey") as edge,
        app_log(edge, SERVICE, scratch / "movie.log") as log,
    ):
        trip = Journey(edge, scratch, [], log)
        try:
            yield trip
        finally:
            edge.stack.down()  # no container may still use the images
            subprocess.run(["docker", "rmi", *trip.images], capture_output=True, check=False)


def test_autoscaled_replicas_alone_can_be_released(journey):
    """Autoscale out, the original replicas go (stopped by hand: they drain), then release.

    The replicas left are the autoscaler's own: their compose labels name the overlay file
    it started them with, gone since. A release must still start new replicas beside them.
    (Compose's own scale-in removes the highest-numbered replicas, the autoscaler's, first.)
    """
    originals = [r.id for r in journey.movie()]
    before = journey.edge.hits(SERVICE)
    with Traffic(journey.edge.port, f"/{SERVICE}", clients=3) as traffic:
        traffic.wait_for(50)
        journey.autoscale_once(4, 6)
        journey.assert_runs(4)
        subprocess.run(["docker", "stop", *originals], check=True, capture_output=True)
        subprocess.run(["docker", "rm", *originals], check=True, capture_output=True)
        journey.assert_runs(2)
        journey.release(2)
        traffic.wait_for(50, since=time.monotonic())
    journey.assert_nothing_lost(before, traffic)


def test_release_autoscale_release_blue_green_rollback_autoscale_release(journey):
    """The features one after the other on one stack, as a user chains them: 0 requests fail.

    release -> autoscale out (replicas a release started) -> release of all four ->
    blue/green with approval, approved, rolled back while baking (the release exits 1, as
    documented) -> autoscale in -> release.
    """
    before = journey.edge.hits(SERVICE)
    with Traffic(journey.edge.port, f"/{SERVICE}", clients=3) as traffic:
        traffic.wait_for(50)
        first = journey.release(2)
        journey.autoscale_once(4, 6)
        journey.assert_runs(4, first)
        second = journey.release(4)

        green = journey.image()
        blue = {r.id for r in journey.movie()}
        release = Background(
            "release", SERVICE, "--image", green, "--strategy", "blue_green", "--approval",
            "--bake-time-minutes", "10", "--timeout", STEP_TIMEOUT, "--project", journey.project,
        )  # fmt: skip
        try:
            release.wait_for_line("waiting for approval")
            journey.run("approve", SERVICE, "--timeout", STEP_TIMEOUT)
            release.wait_for_line("baking")
            journey.run("rollback", SERVICE, "--timeout", STEP_TIMEOUT)
            assert release.finish() == 1, release.seen  # a rolled-back release exits 1
        finally:
            release.kill()
        assert "ROLLBACK_SUCCESSFUL" in "\n".join(release.seen)
        assert {r.id for r in journey.movie()} == blue
        journey.assert_runs(4, second)

        journey.autoscale_once(2, 2)
        journey.assert_runs(2, second)
        last = journey.release(2)
        traffic.wait_for(50, since=time.monotonic())
    journey.assert_nothing_lost(before, traffic)

    shown = journey.run("status").stdout.splitlines()
    assert shown[0].split() == ["SERVICE", "REPLICA", "IMAGE", "HEALTH", "POOL"]
    rows = [line.split() for line in shown if line.startswith(f"{SERVICE} ")]
    assert [(row[2], row[-1]) for row in rows] == [(last, "UP")] * 2


def test_a_release_begun_while_the_autoscaler_scales_out_replaces_every_replica(journey):
    """Side by side, as from two terminals: the scaler is adding replicas when a release starts.

    On ECS both act on one service: the deployment replaces every task, those the scaling
    activity added included, and ends at the count the policy chose. Locally the release
    must not snapshot the replicas while compose is still adding some.
    """
    image = journey.image()  # built first: the release must start while the scaling runs
    before = journey.edge.hits(SERVICE)
    with Traffic(journey.edge.port, f"/{SERVICE}", clients=3) as traffic:
        traffic.wait_for(50)
        scaler = Background(*ONCE, "--services-dir", str(journey.bounds(4, 6)),
                            "--project", journey.project)  # fmt: skip
        try:
            scaler.wait_for_line("(scale out)")  # printed once compose has been started
            done = journey.run("release", SERVICE, "--image", image, "--timeout", STEP_TIMEOUT)
            assert scaler.finish() == 0, scaler.seen
        finally:
            scaler.kill()
        traffic.wait_for(50, since=time.monotonic())
    journey.assert_nothing_lost(before, traffic)
    # It overlapped, and waited: the scaling activity was still in flight when it began.
    waited = "waiting for the change to movie in progress to end: bookingapp-local autoscale"
    assert waited in done.stdout, done.stdout
    journey.assert_runs(4, image)
