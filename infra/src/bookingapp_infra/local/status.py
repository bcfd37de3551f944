"""`status`: what runs (each replica's image, health and place in Traefik's pool), and releases.

The local `bookingapp-infra status`. Without a service: one row per running replica under a
header, then a line for each traffic-shifting release in progress. With a service: its last
traffic-shifting release (stage, strategy, the colours' replicas still running, weights).
"""

from __future__ import annotations

from collections.abc import Sequence

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import PROG, docker, traefik
from bookingapp_infra.local.docker import Replica
from bookingapp_infra.local.strategies import routing, traffic_shift
from bookingapp_infra.local.strategies.state import FULL
from bookingapp_infra.local.strategies.strategy import Say
from bookingapp_infra.local.traefik import Traefik

HEADER = ("SERVICE", "REPLICA", "IMAGE", "HEALTH", "POOL")


def status(project: str, say: Say) -> None:
    """Print one row per running replica under a header, then the releases in progress."""
    running = docker.replicas(project)
    if not running:
        raise InputError(f"project {project!r} is not up: nothing runs under that name")
    try:
        api: Traefik | None = Traefik.of(project)
    except InfraError as error:
        api = None
        say(f"(no pool status: {error})")
    pools: dict[str, dict[str, str]] = {}
    rows = [
        (r.service, r.name, r.image, r.health or "-", pool_status(api, r, pools)) for r in running
    ]
    for line in table([HEADER, *rows]):
        say(line)
    if api is not None:
        for line in releases_in_progress(project, sorted({r.service for r in running})):
            say(line)


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Return the rows as lines of left-aligned columns, each as wide as its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def pool_status(api: Traefik | None, replica: Replica, pools: dict[str, dict[str, str]]) -> str:
    """Return UP, DOWN, "not in pool", or "-" for a replica not behind Traefik (or no API)."""
    if api is None or not traefik.behind_traefik(replica):
        return "-"
    service = traefik.lb_service(replica)
    if service not in pools:
        pools[service] = api.pool(service)
    if traefik.is_up(pools[service], replica):
        return "UP"
    return "DOWN" if traefik.is_listed(pools[service], replica) else "not in pool"


def releases_in_progress(project: str, services: list[str]) -> list[str]:
    """Return one line per service with a traffic-shifting release in progress."""
    try:
        found = [(s, traffic_shift.recorded(project, s)) for s in services]
    except InputError:
        return []  # a stack without a rules directory has no such release
    return [
        f"{s}: {r.strategy} release {r.status} {r.stage}, green has {r.green_weight:g}% of "
        f"production ({PROG} status {s})"
        for s, r in found
        if r is not None and r.active
    ]


def release_status(project: str, service: str, say: Say) -> None:
    """Print the service's last traffic-shifting release: stage, colours, weights."""
    current = traffic_shift.recorded(project, service)
    if current is None:
        say(f"{service}: no blue/green, linear or canary release recorded in {project!r}")
        return
    paused = " (paused for approval)" if current.paused else ""
    say(
        f"{service}: {current.strategy} {current.status} {current.stage}{paused}, "
        f"image {current.image}"
    )
    running = {r.id for r in docker.replicas(project, service)}
    for colour, replicas in (("blue", current.blue), ("green", current.green)):
        live = [r.name for r in replicas if r.id in running]
        gone = "removed" if replicas else "none"  # stopped by the release: not listed
        say(f"  {colour + ':':<6} {', '.join(live) or gone}")
    steps = ", ".join(
        f"{s.weight:g}%" + (f" (held {s.bake_seconds:g} s)" if s.bake_seconds else "")
        for s in current.shifts
    )
    test = "on" if current.test_traffic else "off"
    green = current.green_weight
    say(f"  production traffic: green {green:g}%, blue {FULL - green:g}% (steps {steps})")
    say(f"  test rule ({routing.TEST_HEADER}: {routing.TEST_VALUE} to green): {test}")
    if current.reason:
        say(f"  reason: {current.reason}")
