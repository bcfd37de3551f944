"""What every release strategy is: one interface, so `release` can follow the service's params.

A strategy is one of ECS's deployment strategies acted out on the local stack. Each says its
name (deployment.strategy in infra/services/S.toml, declared in params.STRATEGIES), which
of the `release` command's options it reads, how it is set up from the service's parameters
and those options (`configure`, where it refuses what cannot be right before Docker is
asked anything), and how it releases an image (`release`). The registry of strategies and
the checks every release makes first are in strategies/__init__.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar

from bookingapp_infra.params import ServiceParams

Say = Callable[[str], None]  # prints one progress line


@dataclass(frozen=True)
class Overrides:
    """`release` options that change the service's [deployment] for one run (None: not given)."""

    strategy: str | None = None
    bake_time_minutes: float | None = None
    approval: bool | None = None
    approval_timeout: float | None = None
    traffic_steps: str | None = None  # blue_green
    step_seconds: float | None = None  # blue_green
    step_percent: float | None = None  # linear
    step_bake_time_minutes: float | None = None  # linear
    canary_percent: float | None = None  # canary
    canary_bake_time_minutes: float | None = None  # canary

    def given(self) -> set[str]:
        """Return the names of the options given, the strategy itself left out."""
        return {
            f.name
            for f in fields(self)
            if f.name != "strategy" and getattr(self, f.name) is not None
        }


def flag(field: str) -> str:
    """Return the `release` option that sets an Overrides field (step_percent: --step-percent)."""
    return f"--{field.replace('_', '-')}"


class Strategy(ABC):
    """One way to replace a service's replicas with replicas of a new image."""

    name: ClassVar[str]  # as deployment.strategy says it
    options: ClassVar[frozenset[str]] = frozenset()  # the Overrides fields it reads

    @classmethod
    @abstractmethod
    def configure(cls, params: ServiceParams, overrides: Overrides) -> Strategy:
        """Return this strategy's release of the service, or refuse its settings (InputError)."""

    @abstractmethod
    def release(self, project: str, image: str, timeout: float, say: Say) -> None:
        """Replace the service's replicas in the project with ones running `image`.

        `timeout` bounds each step (replicas healthy and UP, a rule live); a failure raises
        InfraError with one line saying what happened and what still serves.
        """
