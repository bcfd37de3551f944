"""What the traffic-shifting release tests share: the stack, its loads, and the checks.

Blue/green (test_blue_green.py) and linear and canary (test_traffic_shift.py) run on the
same kind of stack: redis, traefik and movie from compose.yaml, a rules directory of its own,
and a "new" image that is the running build under a new tag, so the instance ids in the
answers tell the colours apart. The fixture (`bluegreen`, in conftest.py) starts one per
test module.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.compose.edge import PACE, Background, Edge, HeaderTraffic, Traffic, edge_stack, local

SERVICE = "movie"
STEP_WAIT = "240"  # seconds the CLI may take per step on a busy 2-core machine
CLIENTS = 3  # production clients; one more sends the test header


def between(traffic: Traffic, start: float, end: float) -> set[str]:
    """Return the instances that answered requests started in [start, end)."""
    return {a.instance for a in traffic.since(start) if a.started < end and a.instance}


def assert_only(served: set[str], colour: set[str]) -> None:
    """Requests were answered in that window, every one by a replica of this colour."""
    assert served, "no answers in that window"
    assert served <= colour, f"answered by the other colour: {served - colour}"


@dataclass
class BlueGreenStack:
    """The stack under test, its listener and API, and the image the releases roll out."""

    edge: Edge
    image: str
    rules_dir: Path

    @property
    def project(self) -> str:
        """Return the compose project name."""
        return self.edge.stack.project

    def cli(self, verb: str, *args: str, project: str | None = None) -> subprocess.CompletedProcess:
        """Run one verb of bookingapp-local on this stack's project and return the result."""
        return local(verb, *args, "--project", project or self.project)

    def release(
        self, *args: str, image: str | None = None, strategy: str = "blue_green"
    ) -> Background:
        """Start a traffic-shifting release of movie to the test image, in the background."""
        return Background(
            "release", SERVICE, "--image", image or self.image, "--strategy", strategy,
            "--timeout", STEP_WAIT, "--project", self.project, *args,
        )  # fmt: skip

    def instances(self) -> set[str]:
        """Return the instance ids (hostnames) of movie's running replicas."""
        return {r.hostname for r in self.edge.replicas(SERVICE)}

    def load(self, pause: float = PACE) -> tuple[Traffic, HeaderTraffic]:
        """Return production clients and one test-header client on /movie (paced by pause)."""
        path = f"/{SERVICE}"
        return Traffic(self.edge.port, path, clients=CLIENTS, pause=pause), HeaderTraffic(
            self.edge.port, path, 1, pause=pause
        )


def assert_back_on_blue(
    bg: BlueGreenStack, production: Traffic, blue: set[str], done: float
) -> None:
    """After a rollback: blue alone runs and answers every request since `done`; no rules left."""
    assert {a.status for a in production.since(done)} == {200}
    assert_only(between(production, done, time.monotonic()), blue)
    assert bg.instances() == blue
    assert list(bg.rules_dir.glob("*.yml")) == []


def green_of(bg: BlueGreenStack, blue: set[str]) -> set[str]:
    """Return movie's replicas that are not blue: green, while a release runs."""
    green = bg.instances() - blue
    assert len(green) == len(blue), (blue, green)
    return green


@contextmanager
def shifting_stack(rules_dir: Path) -> Iterator[BlueGreenStack]:
    """redis, traefik and movie from compose.yaml on free ports, with their own rules directory."""
    with edge_stack((SERVICE,), rules_dir=rules_dir, prefix="bookingapp-bluegreen") as edge:
        built = edge.replicas(SERVICE)[0].image
        # The "new" image: the same build under a new tag; instance ids tell colours apart.
        image = f"{built.rsplit(':', 1)[0]}:green-{uuid.uuid4().hex[:8]}"
        subprocess.run(["docker", "tag", built, image], check=True, capture_output=True)
        try:
            yield BlueGreenStack(edge=edge, image=image, rules_dir=rules_dir)
        finally:
            edge.stack.down()  # no container may still use the image
            subprocess.run(["docker", "rmi", image], check=False, capture_output=True)
