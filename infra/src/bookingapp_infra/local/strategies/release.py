"""`release`: the strategy the service's params name, after the checks every release makes.

The registry maps deployment.strategy (params.STRATEGIES) to its `Strategy`. Before any
strategy runs: the service is an app, its options fit its strategy, its replicas run, they
do not serve the development override's mounted sources, no traffic-shifting release of it
is in progress, and the image is on this machine. Each refusal is one line, exit 2. Then
it waits for a scaling activity of the service in flight to end (service_lock).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bookingapp_infra.errors import InputError
from bookingapp_infra.local import docker
from bookingapp_infra.local.docker import Replica
from bookingapp_infra.local.service_lock import ServiceLock
from bookingapp_infra.local.strategies import traffic_shift
from bookingapp_infra.local.strategies.blue_green import BlueGreen
from bookingapp_infra.local.strategies.rolling import Rolling
from bookingapp_infra.local.strategies.strategy import Overrides, Say, Strategy, flag
from bookingapp_infra.local.strategies.traffic_shift import Canary, Linear
from bookingapp_infra.params import ServiceParams, load_all

STRATEGIES: Mapping[str, type[Strategy]] = {s.name: s for s in (Rolling, BlueGreen, Linear, Canary)}


def release(
    project: str,
    service: str,
    image: str,
    overrides: Overrides,
    timeout: float,
    say: Say,
    services_dir: Path | None = None,
) -> None:
    """Release `image` by the service's strategy (or --strategy); refuse what can't be right."""
    params = app(service, services_dir)
    strategy = choose(params, overrides)
    running = docker.require_up(project, service)
    refuse_development_sources(running, project)
    traffic_shift.refuse_if_busy(project, service)
    docker.image_id(image)  # refuses when the image is not on this machine
    # Not beside a scaling activity (or another release): the replicas must hold still
    # while the release reads them and replaces every one (service_lock).
    lock = ServiceLock(project, service)
    lock.acquire(f"bookingapp-local release {service} --image {image}", timeout, say)
    try:
        strategy.release(project, image, timeout, say)
    finally:
        lock.release()


def app(service: str, services_dir: Path | None = None) -> ServiceParams:
    """Return an app service's parameters, or refuse an unknown or backing service."""
    services = load_all(services_dir)
    if service not in services:
        raise InputError(f"unknown service {service!r}: one of {', '.join(sorted(services))}")
    return services[service]


def choose(params: ServiceParams, overrides: Overrides) -> Strategy:
    """Set up the release the service's [deployment] (or --strategy) names, with the options."""
    name = overrides.strategy or params.deployment.strategy
    chosen = STRATEGIES[name]  # params.py accepts only the strategies it declares
    foreign = sorted(overrides.given() - chosen.options)
    if foreign:
        flags = ", ".join(flag(name) for name in foreign)
        owners = [s.name for s in STRATEGIES.values() if set(foreign) <= s.options]
        raise InputError(f"{flags}: only for {either(owners)} releases ({params.name} is {name})")
    strategy = chosen.configure(params, overrides)
    if not params.is_app:  # refused after configure, which says why a strategy can't be
        raise InputError(f"{params.name} is not behind the load balancer: nothing to roll")
    return strategy


def either(names: list[str]) -> str:
    """Return "a", "a or b", "a, b or c" ("other" for none)."""
    if len(names) < 2:
        return "".join(names) or "other"
    return f"{', '.join(names[:-1])} or {names[-1]}"


def refuse_development_sources(running: list[Replica], project: str) -> None:
    """Refuse to release replicas that run this checkout's files (compose.override.yaml).

    The development override mounts the sources ahead of the image's and reloads on change:
    old and new replicas would both serve the files on disk, so the release would show
    nothing (blue and green alike serve the new code).
    """
    mounted = [b for r in running for b in r.source_binds]
    if mounted:
        source, target = mounted[0]
        raise InputError(
            f"{running[0].service}'s replicas run bind-mounted sources ({source} at {target}, "
            "from the development override): whatever image they run, they serve the files "
            "on disk, so a release would change nothing you could see. Run the production "
            f"topology: docker compose -p {project} -f compose.yaml up -d --build"
        )
