"""ECS's rolling update, run against the local stack.

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

import time
from dataclasses import dataclass, replace
from typing import ClassVar

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import PROG, docker
from bookingapp_infra.local.docker import Replica
from bookingapp_infra.local.strategies.strategy import Overrides, Say, Strategy
from bookingapp_infra.local.traefik import Traefik
from bookingapp_infra.params import DeploymentParams, ServiceParams, check_deployment


@dataclass(frozen=True)
class Bounds:
    """How many replicas may run and must stay healthy during the release."""

    desired: int
    most: int  # running at once, old and new together
    fewest: int  # healthy at any moment

    @classmethod
    def of(cls, desired: int, deployment: DeploymentParams) -> Bounds:
        """Apply ECS's arithmetic: maximum rounds down, minimum healthy rounds up."""
        most = desired * deployment.maximum_percent // 100
        fewest = -(-desired * deployment.minimum_healthy_percent // 100)
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


@dataclass(frozen=True)
class Rolling(Strategy):
    """ECS's ROLLING strategy: batches bounded by maximum_percent and minimum_healthy_percent."""

    name: ClassVar[str] = "rolling"
    service: str
    deployment: DeploymentParams

    @classmethod
    def configure(cls, params: ServiceParams, overrides: Overrides) -> Rolling:
        """Take the bounds from [deployment]; a rolling release has no approval to pause at."""
        rolling = replace(params.deployment, strategy=cls.name, approval=False)
        check_deployment(f"{params.name}.toml", replace(params, deployment=rolling))
        return cls(params.name, rolling)

    def release(self, project: str, image: str, timeout: float, say: Say) -> None:
        """Replace every replica of the service with one running `image`, batch by batch."""
        old = docker.require_up(project, self.service)
        traefik = Traefik.of(project)
        bounds = Bounds.of(len(old), self.deployment)
        began = time.monotonic()
        say(
            f"releasing {image} to {self.service} in {project}: {bounds.desired} replicas, "
            f"at most {bounds.most} running, at least {bounds.fewest} healthy "
            f"(maximum_percent {self.deployment.maximum_percent}, "
            f"minimum_healthy_percent {self.deployment.minimum_healthy_percent})"
        )
        new: list[Replica] = []
        release_id = f"{self.service}-{time.time_ns()}"  # labels the new replicas (docker.RELEASE)
        steps = plan(bounds)
        for number, step in enumerate(steps, 1):
            where = f"[{number}/{len(steps)}]"
            if step.start:
                total = len(old) + len(new) + step.start
                try:
                    new += self._start(
                        project, (image, release_id), total, where, traefik, say, timeout
                    )
                except InfraError as error:  # as ECS's circuit breaker: the old ones keep serving
                    raise InfraError(f"{error}; {self._left(project, old, new)}") from None
            if step.stop:
                leaving, old = old[: step.stop], old[step.stop :]
                say(
                    f"{where} draining and stopping {names(leaving)} "
                    "(SIGTERM: they leave the pool, then finish their requests)"
                )
                docker.stop(leaving)
        took = time.monotonic() - began
        say(f"done in {took:.1f} s: {self.service} runs {image} on {names(new)}")

    def _start(
        self,
        project: str,
        release: tuple[str, str],  # (image, release id)
        total: int,
        where: str,
        traefik: Traefik,
        say: Say,
        timeout: float,
    ) -> list[Replica]:
        """Start new replicas up to `total`, and wait until each is healthy and UP in the pool."""
        image, release_id = release
        say(f"{where} starting replicas of {self.service} from {image} ({total} running in all)")
        started = docker.scale(project, self.service, total, image, release_id, timeout=timeout)
        say(f"{where} waiting until {names(started)} are healthy")
        healthy = docker.wait_healthy([r.id for r in started], timeout=timeout)
        say(f"{where} waiting until {names(healthy)} are UP in Traefik's pool")
        traefik.wait_up(healthy, timeout=timeout)
        return healthy

    def _left(self, project: str, old: list[Replica], new: list[Replica]) -> str:
        """Say what a failed batch leaves: the old replicas serving, and any new ones running."""
        known = {r.id for r in (*old, *new)}
        everything = docker.replicas(project, self.service, stopped=True)
        started = [r for r in everything if r.id not in known]
        if not started:
            return "the old replicas still serve; no new replica was left running"
        return (
            f"the old replicas still serve, the new ones are left running for you to look at "
            f"({names(started)}: {PROG} status, docker logs)"
        )


def names(replicas: list[Replica]) -> str:
    """Return the replicas' container names, comma-separated."""
    return ", ".join(r.name for r in replicas) or "none"
