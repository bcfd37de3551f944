"""Count what clients see through the listener while replicas come and go (docs/benchmark.md).

    uv run python -m tests.compose.events            # this checkout's code and compose.yaml
    uv run python -m tests.compose.events --drain 3  # only the drain's timeline, 3 times

The same events as tests/compose/test_zero_downtime.py and tests/local/strategies/test_rolling.py,
counted instead of asserted: 8 clients on GET /home through Traefik's published port
during each event, then the non-200 answers and the answers in all. Run it from an older
checkout (with this file and bookingapp_infra/local copied in) for the "before" figures.

`--drain N` times what the drain relies on instead (common/src/bookingapp_common/drain.py):
from SIGTERM to one replica under that load, until Traefik's check says DOWN, until Docker
says unhealthy, until the replica is out of Traefik's configuration for good, and until it
has exited; the third must come before the drain ends.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Callable

from bookingapp_common.drain import DRAIN_SECONDS
from bookingapp_infra.local.docker import Replica, docker, inspect
from tests.compose.edge import Edge, Traffic, edge_stack, relabelled_image

STEADY = 100
NAMESPACE = "bookingapp-events"


def restart_one_by_one(edge: Edge) -> None:
    """`docker restart` each home replica, the next once the last is back in the pool."""
    for replica in edge.replicas("home"):
        docker("restart", replica.id)
        edge.wait_in_pool("home")


def sigterm_one(edge: Edge) -> None:
    """SIGTERM to one replica; once it has exited, start it again (ECS's replacement)."""
    target = edge.replicas("home")[0]
    docker("kill", "--signal", "TERM", target.id)
    deadline = time.monotonic() + 40
    while inspect([target.id])[0]["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    docker("start", target.id)
    edge.wait_in_pool("home")


def drain_timeline(edge: Edge) -> dict[str, float]:
    """SIGTERM one home replica; return seconds from it to each step of leaving, then restart it."""
    target = edge.replicas("home")[0]
    steps = {
        "DOWN in Traefik": lambda: edge.status_in_pool(target) != "UP",
        "unhealthy in Docker": lambda: health(target) == "unhealthy",
        "out of Traefik": lambda: edge.status_in_pool(target) is None,
        "exited": lambda: health(target) is None,
    }
    began = time.monotonic()
    docker("kill", "--signal", "TERM", target.id)
    seen: dict[str, float] = {}
    while len(seen) < len(steps) and time.monotonic() < began + 60:
        for step, happened in steps.items():
            if step not in seen and happened():
                seen[step] = time.monotonic() - began
        time.sleep(0.1)
    docker("start", target.id)
    edge.wait_in_pool("home")
    return seen


def health(replica: Replica) -> str | None:
    """Return Docker's health status of a running replica, or None once it has stopped."""
    [container] = inspect([replica.id])
    if not container["State"]["Running"]:
        return None
    return container["State"]["Health"]["Status"]


def scale_out_and_in(edge: Edge) -> None:
    """`--scale home=4`, all in the pool, then `--scale home=2`."""
    edge.stack.compose("up", "--detach", "--no-recreate", "--scale", "home=4", "home")
    edge.wait_in_pool("home")
    time.sleep(3)
    edge.stack.compose("up", "--detach", "--no-recreate", "--scale", "home=2", "home")
    edge.wait_in_pool("home")


def new_image(edge: Edge) -> str:
    """Build an image that differs from the running one by a label; return its tag."""
    return relabelled_image(edge, NAMESPACE, "bookingapp.events")


def compose_up_new_image(edge: Edge, image: str) -> None:
    """The release without this work: `docker compose up -d` recreates every replica at once."""
    namespace, tag = NAMESPACE, image.rsplit(":", 1)[1]
    docker("tag", image, f"{namespace}/bookingapp-home:{tag}")  # the name compose.yaml builds
    edge.stack.env.update({"DOCKERHUB_NAMESPACE": namespace, "TAG": tag})
    edge.stack.compose("up", "--detach", "--no-deps", "--no-build", "home")
    edge.wait_in_pool("home")


def local_release(edge: Edge, image: str) -> None:
    """`bookingapp-local release home --image IMAGE`."""
    from bookingapp_infra.local.strategies.release import release
    from bookingapp_infra.local.strategies.strategy import Overrides
    from bookingapp_infra.local.wait import STEP_TIMEOUT

    release(
        edge.stack.project,
        "home",
        image,
        Overrides(),
        STEP_TIMEOUT,
        lambda line: print("   ", line),
    )


def measure(edge: Edge, name: str, event: Callable[[Edge], None]) -> None:
    """Run one event under steady load; print failed / all requests and how long it took."""
    # Unpaced, as the figures in docs/benchmark.md were taken: as many requests as answered.
    with Traffic(edge.port, "/home", pause=0) as traffic:
        traffic.wait_for(STEADY)
        began = time.monotonic()
        event(edge)
        took = time.monotonic() - began
        traffic.wait_for(STEADY, since=time.monotonic())
    failed = sum(traffic.failures().values())
    kinds = dict(traffic.failures())
    print(f"{name:<26} {failed:>6} failed of {len(traffic.answers):>6} ({took:.1f} s) {kinds}")


def measure_drain(edge: Edge, times: int) -> None:
    """Print the drain's timeline `times` times, each under steady load."""
    print(f"seconds after SIGTERM (the drain lasts {DRAIN_SECONDS:g} s):")
    for _ in range(times):
        with Traffic(edge.port, "/home", pause=0) as traffic:
            traffic.wait_for(STEADY)
            seen = drain_timeline(edge)
        failed = sum(traffic.failures().values())
        line = ", ".join(f"{step} {at:.1f}" for step, at in seen.items())
        print(f"  {line}; {failed} failed of {len(traffic.answers)}")


def main() -> None:
    """Bring up a stack, run each event once, print a line per event."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--drain", type=int, metavar="N", help="only time the drain, N times")
    drain = parser.parse_args().drain
    with edge_stack() as edge:
        if drain:
            measure_drain(edge, drain)
            return
        measure(edge, "restart one by one", restart_one_by_one)
        measure(edge, "SIGTERM to one replica", sigterm_one)
        measure(edge, "scale 2 -> 4 -> 2", scale_out_and_in)
        image = new_image(edge)
        try:
            measure(edge, "bookingapp-local release", lambda e: local_release(e, image))
            measure(edge, "compose up -d, new image", lambda e: compose_up_new_image(e, image))
        finally:
            edge.stack.down()
            tagged = f"{NAMESPACE}/bookingapp-home:{image.rsplit(':', 1)[1]}"
            subprocess.run(["docker", "rmi", image, tagged], capture_output=True, check=False)


if __name__ == "__main__":
    main()
