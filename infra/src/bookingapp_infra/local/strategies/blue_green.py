"""ECS's BLUE_GREEN: green beside blue, then all production traffic at once.

The release itself (stages, routing, alarms, approve and rollback) is traffic_shift.py's;
blue/green says only how production moves: in one shift to 100 %, as ECS does, or locally
in the weights --traffic-steps lists, each held --step-seconds, for trying a split out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bookingapp_infra.errors import InputError
from bookingapp_infra.local.strategies import state as st
from bookingapp_infra.local.strategies.state import FULL, Shift
from bookingapp_infra.local.strategies.strategy import Overrides
from bookingapp_infra.local.strategies.traffic_shift import TrafficShift
from bookingapp_infra.params import ServiceParams

STEP_SECONDS = 10.0  # --traffic-steps: how long each step but the last is held by default


@dataclass(frozen=True)
class BlueGreen(TrafficShift):
    """ECS's BLUE_GREEN: production moves at once (locally also in --traffic-steps)."""

    name: ClassVar[str] = "blue_green"
    options: ClassVar[frozenset[str]] = TrafficShift.options | {"traffic_steps", "step_seconds"}

    @classmethod
    def shifts_for(cls, params: ServiceParams, overrides: Overrides) -> tuple[Shift, ...]:
        """All at once, as ECS does; or the weights --traffic-steps lists, each held a while."""
        text = overrides.traffic_steps or str(FULL)
        hold = STEP_SECONDS if overrides.step_seconds is None else overrides.step_seconds
        try:
            weights = [int(w) for w in text.split(",")]
            return st.check_shifts(tuple(Shift(w, 0.0 if w == FULL else hold) for w in weights))
        except ValueError as err:
            raise InputError(f"--traffic-steps {text!r}: {err}") from None
