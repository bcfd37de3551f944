"""ECS's LINEAR: production moves to green in equal steps, each held before the next.

The release is traffic_shift.py's; linear says only how production moves: `step_percent`
(3..100 in steps of 0.1) at a time, each step held `step_bake_time_minutes` with the
rollback alarms watched, the last step (to 100 %) not held; then the deployment's bake
time as for every traffic-shifting release. `--step-percent` and
`--step-bake-time-minutes` override the toml for one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bookingapp_infra.local.strategies.traffic_shift import Gradual
from bookingapp_infra.params import STEP_PERCENT_RANGE, linear_weights


@dataclass(frozen=True)
class Linear(Gradual):
    """ECS's LINEAR: step_percent, 2 x step_percent, ... 100 %, each step but the last held."""

    name: ClassVar[str] = "linear"
    share: ClassVar[str] = "step_percent"
    held: ClassVar[str] = "step_bake_time_minutes"
    allowed: ClassVar[tuple[float, float]] = STEP_PERCENT_RANGE
    steps = staticmethod(linear_weights)
