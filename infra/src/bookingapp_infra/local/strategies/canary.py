"""ECS's CANARY: a share of production to green first, held, then all the rest at once.

The release is traffic_shift.py's; canary says only how production moves: `canary_percent`
(0.1..100 in steps of 0.1) for `canary_bake_time_minutes` with the rollback alarms
watched, then 100 %; then the deployment's bake time as for every traffic-shifting
release. `--canary-percent` and `--canary-bake-time-minutes` override the toml for one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bookingapp_infra.local.strategies.traffic_shift import Gradual
from bookingapp_infra.params import CANARY_PERCENT_RANGE, canary_weights


@dataclass(frozen=True)
class Canary(Gradual):
    """ECS's CANARY: canary_percent, held canary_bake_time_minutes, then 100 %."""

    name: ClassVar[str] = "canary"
    share: ClassVar[str] = "canary_percent"
    held: ClassVar[str] = "canary_bake_time_minutes"
    allowed: ClassVar[tuple[float, float]] = CANARY_PERCENT_RANGE
    steps = staticmethod(canary_weights)
