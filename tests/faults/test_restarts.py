"""Replacing replicas: one at a time under load, and SIGTERM in the middle of requests."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from bookingapp_common import drain
from tests.faults.stack import Load
from tests.support import JSON, Reply, http_get, wait_until

pytestmark = pytest.mark.docker

# SIGTERM first drains (health 503, still serving), then gunicorn stops gracefully; the
# two together stay below ECS's 30 s stopTimeout.
DRAIN_SECONDS = drain.DRAIN_SECONDS
STOP_SECONDS = DRAIN_SECONDS + 10  # + gunicorn's graceful_timeout


def replace(stack, load: Load, service: str, number: int) -> None:
    """Deregister one replica, stop it (SIGTERM), start it, wait healthy, register it again."""
    container = stack.containers(service)[number]
    address = stack.address(container)
    load.deregister(address)  # as the ALB deregisters a target before ECS stops it
    stack.docker("stop", "--time", "30", container["Id"])
    stack.docker("start", container["Id"])
    stack.wait_healthy(service)
    load.register(stack.address(stack.containers(service)[number]))  # a new published port


def test_a_rolling_restart_under_load_fails_no_request(stack):
    """Each movie replica in turn is stopped and started while the other carries the load.

    What this proves: with a balancer that deregisters a replica before stopping it (the
    ALB does; Traefik drops it when its health check fails), SIGTERM, restart and
    re-registration lose no request, and one replica alone serves everything meanwhile.
    It does not exercise Traefik itself (tests/compose/test_zero_downtime.py does), nor ECS
    starting the new task before stopping the old one (tests/local/strategies/test_rolling.py does).
    """
    with Load(stack.addresses("movie"), threads=8) as load:
        wait_until(lambda: len(load.answers) >= 100, 30, "no load")
        for number in range(2):
            replace(stack, load, "movie", number)
            back = time.monotonic()
            wait_until(
                lambda back=back: len(load.since(back)) >= 100, 30, "no load after the restart"
            )
    statuses = Counter((a.status, a.problem) for a in load.answers)
    # On failure, also show when a replica took Redis as down (the counter logs it once).
    assert statuses == {(200, None): len(load.answers)}, stack.log_lines("movie", "taken as down")
    # The restarted replicas served again after coming back.
    tail = load.answers[-100:]
    assert {a.replica for a in tail} == set(stack.addresses("movie"))


def test_sigterm_lets_in_flight_requests_finish_and_exits_0(stack):
    """Pages of home waiting ~2 s on the slow neighbour stub complete while the replica stops."""
    container = stack.containers("home")[0]
    address = stack.address(container)
    answers: list[Reply] = []

    def visit() -> None:
        answers.append(http_get(f"http://{address}/home", JSON, timeout=30))

    # A fresh replica has no neighbour state cached, so every page request asks the stub.
    visitors = [threading.Thread(target=visit) for _ in range(6)]
    for visitor in visitors:
        visitor.start()
    time.sleep(0.7)  # requests are in flight, waiting on the neighbour
    stopping = time.monotonic()
    stack.docker("stop", "--time", "30", container["Id"], timeout=60)
    stopped_after = time.monotonic() - stopping
    for visitor in visitors:
        visitor.join(timeout=30)
    exit_code = stack.docker("inspect", "-f", "{{.State.ExitCode}}", container["Id"])
    stack.docker("start", container["Id"])
    stack.wait_healthy("home")
    assert [answer.status for answer in answers] == [200] * 6
    assert all(answer.seconds > 1 for answer in answers)  # they really were in flight
    assert exit_code == "0"
    assert DRAIN_SECONDS <= stopped_after < STOP_SECONDS  # drained first, then no SIGKILL
