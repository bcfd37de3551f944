"""Target tracking on CPU, decided the way Application Auto Scaling decides for an ECS service.

Pure: no Docker, no clock. The caller feeds CPU samples and the replica count; `decide`
returns what target tracking would do now and why. What AWS does, and where it says so:

- The metric is the service's average CPU utilisation: the tasks' CPU use relative to
  their CPU reservation, published by ECS to CloudWatch once a minute (ECS developer
  guide, "Amazon ECS service utilization metrics"). Locally: the containers' CPU relative
  to their compose CPU limit, averaged into datapoints of `period` seconds.
- A target tracking policy creates two CloudWatch alarms on it: AlarmHigh "metric > target
  for 3 datapoints within 3 minutes" and AlarmLow "metric < 90 % of target for 15 datapoints
  within 15 minutes", as the CloudWatch console shows them (e.g. an ECS service at target
  30 in AWS's Fargate workshop: "CPUUtilization > 30 for 3 datapoints within 3 minutes",
  "< 27 for 15 datapoints within 15 minutes"). AWS manages these alarms; they are not
  policy settings, so here they are `Timings` fields, overridden only to shorten tests.
- Scale out: desired = ceil(capacity * metric / target), capped at max. During the
  scale-out cooldown the capacity the last scale-out added counts as already there: only a
  larger scale-out happens (Application Auto Scaling API reference, ScaleOutCooldown).
- Scale in: blocked until the scale-in cooldown since the last scale-in has passed
  (ScaleInCooldown); never below min. One task at a time here (AWS may remove several),
  and never so many that the rest would be pushed above the target.
- Both cooldowns default to 300 s for ECS services (API reference,
  TargetTrackingScalingPolicyConfiguration) — see AutoscalingParams.
- During a deployment Application Auto Scaling turns scale-in off (ECS developer guide,
  "Troubleshooting service auto scaling"); locally a release also holds scale-out, because
  changing the replica count under the release command would fight it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypedDict, Unpack

from bookingapp_infra.params import ServiceParams

# CloudWatch's period for ECS service metrics: ECS sends them once a minute.
CLOUDWATCH_PERIOD = 60.0
# The datapoints the alarms that target tracking creates need before they fire.
ALARM_HIGH_DATAPOINTS = 3
ALARM_LOW_DATAPOINTS = 15
# AlarmLow's threshold as a fraction of the target: it fires below 90 % of it.
ALARM_LOW_FRACTION = 0.9


@dataclass(frozen=True)
class Timings:
    """How long the policy looks and waits, in seconds and datapoints."""

    period: float = CLOUDWATCH_PERIOD
    scale_out_datapoints: int = ALARM_HIGH_DATAPOINTS
    scale_in_datapoints: int = ALARM_LOW_DATAPOINTS
    scale_out_cooldown: float = 300.0
    scale_in_cooldown: float = 300.0

    def __post_init__(self) -> None:
        """Refuse timings no alarm could have."""
        if self.period <= 0:
            raise ValueError("the metric period must be more than 0 seconds")
        if self.scale_out_datapoints < 1 or self.scale_in_datapoints < 1:
            raise ValueError("an alarm needs at least 1 datapoint")
        if self.scale_out_cooldown < 0 or self.scale_in_cooldown < 0:
            raise ValueError("a cooldown cannot be negative")

    @property
    def history(self) -> int:
        """Return how many datapoints the longer of the two alarms looks at."""
        return max(self.scale_out_datapoints, self.scale_in_datapoints)


class TimingOverrides(TypedDict, total=False):
    """Timings to use instead of the parameter file's (the `autoscale` options, tests)."""

    period: float
    scale_out_datapoints: int
    scale_in_datapoints: int
    scale_out_cooldown: float
    scale_in_cooldown: float


@dataclass(frozen=True)
class Policy:
    """One service's target tracking policy: its target, its bounds and its timings."""

    service: str
    target: float
    min_capacity: int
    max_capacity: int
    timings: Timings = Timings()

    @classmethod
    def from_params(cls, params: ServiceParams, **overrides: Unpack[TimingOverrides]) -> Policy:
        """Build the policy from a service's [autoscaling] table; overrides replace timings."""
        scaling = params.autoscaling
        if scaling is None:
            raise ValueError(f"{params.name} has no [autoscaling] table")
        timings = Timings(
            scale_out_cooldown=float(scaling.scale_out_cooldown),
            scale_in_cooldown=float(scaling.scale_in_cooldown),
        )
        return cls(
            service=params.name,
            target=float(scaling.cpu_target),
            min_capacity=scaling.min_capacity,
            max_capacity=scaling.max_capacity,
            timings=replace(timings, **overrides),
        )


class MetricSeries:
    """CPU samples grouped into datapoints of one period each, as CloudWatch aggregates them."""

    def __init__(self, period: float, keep: int, start: float) -> None:
        self.period = period
        self.keep = keep
        self.start = start
        self._sums: dict[int, tuple[float, int]] = {}

    def add(self, at: float, value: float) -> None:
        """Record one sample (percent of the CPU limit) taken at time `at`."""
        index = int((at - self.start) // self.period)
        total, count = self._sums.get(index, (0.0, 0))
        self._sums[index] = (total + value, count + 1)
        for old in [i for i in self._sums if i <= index - self.keep - 1]:
            del self._sums[old]

    def datapoints(self, now: float) -> list[float | None]:
        """Return the last `keep` complete periods' averages, oldest first; None where empty."""
        current = int((now - self.start) // self.period)
        first = max(0, current - self.keep)
        return [self._average(i) for i in range(first, current)]

    def _average(self, index: int) -> float | None:
        """Return the mean of one period's samples, None when it has none."""
        if index not in self._sums:
            return None
        total, count = self._sums[index]
        return total / count


@dataclass(frozen=True)
class History:
    """What the policy remembers between evaluations: its last scaling activities."""

    last_scale_out: float | None = None
    scaled_out_from: int = 0
    last_scale_in: float | None = None

    def after(self, decision: Decision, now: float) -> History:
        """Return the history once `decision` has been carried out at time `now`."""
        if decision.desired > decision.current:
            if self.in_scale_out_cooldown(decision.policy, now):
                # A larger scale-out during the cooldown extends it from the same base.
                return replace(self, last_scale_out=now)
            return replace(self, last_scale_out=now, scaled_out_from=decision.current)
        if decision.desired < decision.current:
            return replace(self, last_scale_in=now)
        return self

    def in_scale_out_cooldown(self, policy: Policy, now: float) -> bool:
        """Say whether the last scale-out's cooldown is still running."""
        last = self.last_scale_out
        return last is not None and now - last < policy.timings.scale_out_cooldown

    def scale_in_wait(self, policy: Policy, now: float) -> float:
        """Return the seconds left in the scale-in cooldown (0 when it is over)."""
        if self.last_scale_in is None:
            return 0.0
        return max(0.0, self.last_scale_in + policy.timings.scale_in_cooldown - now)


@dataclass(frozen=True)
class Decision:
    """What the policy decided for one service at one evaluation, and why."""

    policy: Policy
    metric: float | None
    current: int
    desired: int
    reason: str

    @property
    def changes(self) -> bool:
        """Say whether the replica count is to change."""
        return self.desired != self.current

    def describe(self) -> str:
        """Return the one-line account printed as the decision is made."""
        metric = "no data" if self.metric is None else f"{self.metric:.1f}%"
        verb = "scale out" if self.desired > self.current else "scale in"
        action = f"{self.current} -> {self.desired} ({verb})" if self.changes else "hold"
        return (
            f"{self.policy.service}: cpu {metric} (target {self.policy.target:g}%) "
            f"{self.current} replicas: {action}: {self.reason}"
        )


# Why a policy holds while its service is being released, whatever the metric says.
RELEASE_IN_PROGRESS = "a release is in progress"


def decide(
    policy: Policy,
    datapoints: Sequence[float | None],
    current: int,
    history: History,
    now: float,
    releasing: bool = False,
) -> Decision:
    """Decide, as target tracking would at time `now`, the replica count for one service."""
    latest = datapoints[-1] if datapoints else None
    if releasing:
        return Decision(policy, latest, current, current, RELEASE_IN_PROGRESS)
    if current < policy.min_capacity or current > policy.max_capacity:
        bounded = min(max(current, policy.min_capacity), policy.max_capacity)
        bound = "min" if current < policy.min_capacity else "max"
        return Decision(policy, latest, current, bounded, f"back within {bound}_capacity")
    high = _breaching(datapoints, policy.timings.scale_out_datapoints, lambda v: v > policy.target)
    if high and latest is not None:  # always so: a firing alarm has its latest datapoint
        return _scale_out(policy, latest, current, history, now)
    low_line = policy.target * ALARM_LOW_FRACTION
    low = _breaching(datapoints, policy.timings.scale_in_datapoints, lambda v: v < low_line)
    if low and latest is not None:
        return _scale_in(policy, latest, current, history, now)
    return Decision(policy, latest, current, current, _why_no_alarm(policy, datapoints))


def _breaching(
    datapoints: Sequence[float | None], needed: int, breaches: Callable[[float], bool]
) -> bool:
    """Say whether the last `needed` datapoints all exist and all breach (the alarm fires)."""
    recent = list(datapoints[-needed:])
    return len(recent) == needed and all(v is not None and breaches(v) for v in recent)


def _scale_out(
    policy: Policy, metric: float, current: int, history: History, now: float
) -> Decision:
    """Add capacity in proportion to how far the metric is above the target."""
    n = policy.timings.scale_out_datapoints
    cooling = history.in_scale_out_cooldown(policy, now)
    # During the cooldown the metric still reflects the capacity before the last scale-out.
    base = history.scaled_out_from if cooling else current
    wanted = math.ceil(round(base * metric / policy.target, 9))
    desired = min(policy.max_capacity, max(current, wanted))
    above = f"above target for {n} datapoint{'s' * (n > 1)}"
    if desired > current:
        extra = ", more than the last scale-out in its cooldown" if cooling else ""
        return Decision(policy, metric, current, desired, above + extra)
    if current >= policy.max_capacity:
        return Decision(policy, metric, current, current, f"{above}, at max_capacity")
    return Decision(policy, metric, current, current, f"{above}, in the scale-out cooldown")


def _scale_in(
    policy: Policy, metric: float, current: int, history: History, now: float
) -> Decision:
    """Remove one replica once the cooldown allows and the rest stay at or below target."""
    n = policy.timings.scale_in_datapoints
    below = f"below {ALARM_LOW_FRACTION:.0%} of target for {n} datapoint{'s' * (n > 1)}"
    if current <= policy.min_capacity:
        return Decision(policy, metric, current, current, f"{below}, at min_capacity")
    wait = history.scale_in_wait(policy, now)
    if wait > 0:
        return Decision(
            policy, metric, current, current, f"{below}, scale-in cooldown {wait:.0f} s"
        )
    # The load the service has now, spread over one replica fewer, must stay under target.
    needed = math.ceil(round(current * metric / policy.target, 9))
    desired = max(policy.min_capacity, current - 1, needed)
    if desired < current:
        return Decision(policy, metric, current, desired, below)
    return Decision(policy, metric, current, current, f"{below}, but fewer would exceed it")


def _why_no_alarm(policy: Policy, datapoints: Sequence[float | None]) -> str:
    """Say why neither alarm fires: too few datapoints yet, or how far each alarm has got."""
    have = sum(1 for v in datapoints if v is not None)
    t = policy.timings
    if have < t.scale_out_datapoints:
        return f"collecting datapoints ({have} of {t.scale_out_datapoints})"
    high = _streak(datapoints, lambda v: v > policy.target)
    if high:
        return f"above target for {high} of {t.scale_out_datapoints} datapoints"
    low = _streak(datapoints, lambda v: v < policy.target * ALARM_LOW_FRACTION)
    if low:
        low_line = f"below {ALARM_LOW_FRACTION:.0%} of target"
        return f"{low_line} for {low} of {t.scale_in_datapoints} datapoints"
    return "near target"


def _streak(datapoints: Sequence[float | None], breaches: Callable[[float], bool]) -> int:
    """Return how many of the latest datapoints in a row breach."""
    count = 0
    for value in reversed(datapoints):
        if value is None or not breaches(value):
            break
        count += 1
    return count
