"""`bookingapp-local release`: ECS's rolling update, run against the local stack.

What ECS does with a service's deployment bounds (infra/services/S.toml, [deployment]):
never more than maximum_percent of the desired count running, never fewer than
minimum_healthy_percent healthy; new tasks take traffic once healthy and registered, old
ones are deregistered and drained before they stop. Here: new replicas are started by
compose from the new image, counted in once Docker says healthy *and* Traefik's API has
them UP; old replicas get SIGTERM, fail their health check, leave Traefik's pool while
still serving, and stop (bookingapp_common.drain). The desired count is what runs now, as
ECS keeps the count the autoscaler chose (docs/pitfalls.md #8).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import compose, traefik
from bookingapp_infra.local.compose import Replica
from bookingapp_infra.params import DeploymentParams, ParamsError, load_all

WAIT_SECONDS = 180.0  # per batch: a replica that is not healthy and UP by then fails the release


@dataclass(frozen=True)
class Bounds:
    """How many replicas may run and must stay healthy during the release."""

    desired: int
    most: int  # running at once, old and new together
    fewest: int  # healthy at any moment

    @classmethod
    def of(cls, desired: int, deployment: DeploymentParams) -> Bounds:
        """Apply ECS's arithmetic: max rounds down, min healthy rounds up."""
        most = math.floor(desired * deployment.maximum_percent / 100)
        fewest = math.ceil(desired * deployment.minimum_healthy_percent / 100)
        if most <= fewest:
            raise InputError(
                f"maximum_percent {deployment.maximum_percent} and minimum_healthy_percent "
                f"{deployment.minimum_healthy_percent} leave no room to replace any of "
                f"{desired} replicas: widen [deployment] in the service's toml"
            )
        return cls(desired, most, fewest)


@dataclass(frozen=True)
class Step:
    """One batch of the release: start this many new replicas, then stop this many old."""

    start: int
    stop: int


def plan(bounds: Bounds) -> list[Step]:
    """Return the batches ECS would run, from all-old to all-new."""
    old, new, steps = bounds.desired, 0, []
    while old > 0 or new < bounds.desired:
        start = min(bounds.most - old - new, bounds.desired - new)
        stop = min(old, old + new + start - bounds.fewest)
        if start <= 0 and stop <= 0:  # cannot happen once Bounds.of accepted the bounds
            raise InputError(f"no rolling order fits {bounds}")
        steps.append(Step(max(start, 0), max(stop, 0)))
        old, new = old - max(stop, 0), new + max(start, 0)
    return steps


def release(
    project: str,
    service: str,
    image: str,
    say: Callable[[str], None] = print,
    services_dir: Path | None = None,
    timeout: float = WAIT_SECONDS,
) -> list[Replica]:
    """Replace every replica of the service with one running `image`; return the new ones."""
    deployment = _deployment(service, services_dir)
    old = compose.require_up(project, service)
    compose.image_id(image)  # refuses when the image is not here
    api = traefik.api_url(project)
    bounds = Bounds.of(len(old), deployment)
    began = time.monotonic()
    say(
        f"releasing {image} to {service} in {project}: {bounds.desired} replicas, at most "
        f"{bounds.most} running, at least {bounds.fewest} healthy "
        f"(maximum_percent {deployment.maximum_percent}, "
        f"minimum_healthy_percent {deployment.minimum_healthy_percent})"
    )
    new: list[Replica] = []
    release_id = f"{service}-{time.time_ns()}"  # labels the new replicas (compose.RELEASE)
    steps = plan(bounds)
    for number, step in enumerate(steps, 1):
        where = f"[{number}/{len(steps)}]"
        if step.start:
            try:
                total = len(old) + len(new) + step.start
                new += _start(
                    project, service, (image, release_id), total, where, api, say, timeout
                )
            except InfraError as error:  # as ECS's circuit breaker: the old ones keep serving
                raise InfraError(
                    f"{error}; the old replicas still serve, the new ones are left running "
                    "for you to look at (bookingapp-local status, docker logs)"
                ) from None
        if step.stop:
            leaving, old = old[: step.stop], old[step.stop :]
            _stop(leaving, where, say)
    say(f"done in {time.monotonic() - began:.1f} s: {service} runs {image} on {_names(new)}")
    return new


def _deployment(service: str, services_dir: Path | None) -> DeploymentParams:
    """Return the service's [deployment] bounds; refuse services not behind the load balancer."""
    try:
        params = load_all(services_dir)
    except ParamsError as error:
        raise InputError(str(error)) from None
    if service not in params:
        raise InputError(f"unknown service {service!r}: one of {', '.join(sorted(params))}")
    if not params[service].is_app:
        raise InputError(f"{service} is not behind the load balancer: nothing to roll")
    return params[service].deployment


def _start(
    project: str,
    service: str,
    release: tuple[str, str],  # (image, release id)
    total: int,
    where: str,
    api: str,
    say: Callable[[str], None],
    timeout: float,
) -> list[Replica]:
    """Start new replicas up to `total`, and wait until each is healthy and UP in the pool."""
    image, release_id = release
    say(f"{where} starting replicas of {service} from {image} ({total} running in all)")
    started = compose.scale(project, service, total, image=image, release=release_id)
    say(f"{where} waiting until {_names(started)} are healthy")
    healthy = compose.wait_healthy(project, [r.id for r in started], timeout=timeout)
    say(f"{where} waiting until {_names(healthy)} are UP in Traefik's pool")
    traefik.wait_up(api, healthy, timeout=timeout)
    return healthy


def _stop(leaving: list[Replica], where: str, say: Callable[[str], None]) -> None:
    """Drain and stop old replicas: SIGTERM, health 503, out of the pool, in-flight done."""
    say(
        f"{where} draining and stopping {_names(leaving)} "
        "(SIGTERM: they leave the pool, then finish their requests)"
    )
    compose.stop(leaving)


def _names(replicas: list[Replica]) -> str:
    """Return the replicas' container names, comma-separated."""
    return ", ".join(r.name for r in replicas) or "none"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `release` verb."""
    verb = subparsers.add_parser(
        "release",
        help="roll a service onto a new image, as ECS does (no request fails)",
        description=__doc__.splitlines()[0],
    )
    verb.add_argument("service", metavar="SERVICE", help="home, movie or bus")
    verb.add_argument(
        "--image",
        required=True,
        help="an image on this machine, e.g. bookingapp/bookingapp-home:v2",
    )
    verb.add_argument(
        "--timeout", type=float, default=WAIT_SECONDS,
        help="seconds each batch may take to be healthy and UP (default: %(default)s)",
    )  # fmt: skip
    compose.add_project_option(verb)
    verb.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> None:
    """Handle `release`."""
    release(args.project, args.service, args.image, timeout=args.timeout)
