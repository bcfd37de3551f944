"""The state machine of a traffic-shifting release, named as ECS names its lifecycle stages.

ECS's blue/green deployment (and its linear and canary variants) walks PRE_SCALE_UP,
SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT,
POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME and CLEAN_UP; a PAUSE hook after test traffic waits
for ContinueServiceDeployment, and the bake time keeps blue running after production moved to
green, so a rollback stays instant. Production moves in `Shift`s: one to 100 % for blue/green,
equal steps for linear, a canary share and then the rest for canary, each held for its own
bake before the next. The local release keeps ECS's names and meanings, so `status` reads the
same on both sides. Pure: the state, its transitions, and the JSON it is kept in between
commands (`release` drives; `approve`/`rollback` ask).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, TypedDict, Unpack

from bookingapp_infra.local.docker import Replica

FULL = 100  # weights are percent of production traffic, in steps of 0.1 as on ECS
APPROVAL_TIMEOUT = 3600.0  # seconds a paused release waits for `approve` before rolling back


class Stage(StrEnum):
    """ECS's lifecycle stages of a blue/green (linear, canary) deployment, in order."""

    PRE_SCALE_UP = "PRE_SCALE_UP"
    SCALE_UP = "SCALE_UP"
    POST_SCALE_UP = "POST_SCALE_UP"
    TEST_TRAFFIC_SHIFT = "TEST_TRAFFIC_SHIFT"
    POST_TEST_TRAFFIC_SHIFT = "POST_TEST_TRAFFIC_SHIFT"
    PRODUCTION_TRAFFIC_SHIFT = "PRODUCTION_TRAFFIC_SHIFT"
    POST_PRODUCTION_TRAFFIC_SHIFT = "POST_PRODUCTION_TRAFFIC_SHIFT"
    BAKE_TIME = "BAKE_TIME"
    CLEAN_UP = "CLEAN_UP"

    def reached(self, other: Stage) -> bool:
        """Say whether this stage is `other` or comes after it."""
        return STAGES.index(self) >= STAGES.index(other)


class Status(StrEnum):
    """ECS ServiceDeployment statuses the local release uses."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCESSFUL = "SUCCESSFUL"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    ROLLBACK_SUCCESSFUL = "ROLLBACK_SUCCESSFUL"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"


STAGES = tuple(Stage)
ACTIVE = (Status.IN_PROGRESS, Status.ROLLBACK_IN_PROGRESS)
# What each stage means, as data: where test traffic starts, where approval pauses, the one
# stage production moves in, and the last stage from which blue can take everything back.
TEST_TRAFFIC_FROM = Stage.TEST_TRAFFIC_SHIFT
PAUSE_AT = Stage.POST_TEST_TRAFFIC_SHIFT
SHIFT_AT = Stage.PRODUCTION_TRAFFIC_SHIFT
LAST_ROLLBACK_AT = Stage.BAKE_TIME


class TransitionError(ValueError):
    """A request that the release's current state cannot honour."""


@dataclass(frozen=True)
class Shift:
    """One step of production traffic: green's weight, then how long it is held."""

    weight: float  # percent of production traffic green has from this step on
    bake_seconds: float = 0.0  # held this long (alarms watched) before the next step


@dataclass(frozen=True)
class Release:
    """One traffic-shifting release of one service, as kept between the CLI's commands."""

    service: str
    image: str
    project: str
    bake_seconds: float  # the deployment's bake time, after the last shift
    approval: bool
    strategy: str = "blue_green"  # deployment.strategy, for status
    shifts: tuple[Shift, ...] = (Shift(FULL),)
    approval_timeout: float = APPROVAL_TIMEOUT
    status: Status = Status.IN_PROGRESS
    stage: Stage = Stage.PRE_SCALE_UP
    green_weight: float = 0
    paused: bool = False
    blue: tuple[Replica, ...] = ()
    green: tuple[Replica, ...] = ()
    reason: str = ""
    controller_pid: int = 0
    history: tuple[str, ...] = field(default=())

    @property
    def active(self) -> bool:
        """Say whether the release is still running (forwards or backwards)."""
        return self.status in ACTIVE

    @property
    def test_traffic(self) -> bool:
        """Say whether the test rule sends header-carrying requests to green now."""
        return self.status == Status.IN_PROGRESS and self.stage.reached(TEST_TRAFFIC_FROM)


def check_shifts(shifts: tuple[Shift, ...]) -> tuple[Shift, ...]:
    """Return the shifts if their weights rise strictly to 100 and no bake is negative."""
    weights = [s.weight for s in shifts]
    if not weights or weights[-1] != FULL:
        raise ValueError(f"traffic steps must end at {FULL}")
    if any(not 0 < w <= FULL for w in weights) or weights != sorted(set(weights)):
        raise ValueError(f"traffic steps must rise strictly within 1..{FULL}")
    if any(s.bake_seconds < 0 for s in shifts):
        raise ValueError("a step's bake time cannot be negative")
    return shifts


def advance(release: Release) -> Release:
    """Move to the next lifecycle stage, or to SUCCESSFUL after CLEAN_UP."""
    if release.status != Status.IN_PROGRESS:
        raise TransitionError(f"release is {release.status}, it cannot advance")
    if release.paused:
        raise TransitionError("release is paused for approval")
    if release.stage == STAGES[-1]:
        return _at(release, release.stage, status=Status.SUCCESSFUL)
    stage = STAGES[STAGES.index(release.stage) + 1]
    # Past the production shift green has everything, however the steps went.
    weight = FULL if stage.reached(Stage.POST_PRODUCTION_TRAFFIC_SHIFT) else release.green_weight
    return _at(release, stage, green_weight=weight, paused=stage == PAUSE_AT and release.approval)


def shift(release: Release, weight: float) -> Release:
    """Record one production traffic step (only during PRODUCTION_TRAFFIC_SHIFT)."""
    if release.stage != SHIFT_AT or release.status != Status.IN_PROGRESS:
        raise TransitionError(f"traffic shifts only in {SHIFT_AT}, not {release.stage}")
    if weight not in {s.weight for s in release.shifts}:
        raise TransitionError(
            f"{weight:g} is not one of the steps {[s.weight for s in release.shifts]}"
        )
    return _at(release, release.stage, green_weight=weight)


def approve(release: Release) -> Release:
    """Continue a release paused after test traffic (ECS: ContinueServiceDeployment)."""
    if not release.active:
        raise TransitionError(f"no release of {release.service} is in progress")
    if not release.paused:
        raise TransitionError(f"{release.service} is at {release.stage}, not waiting for approval")
    return _at(release, release.stage, paused=False)


def rollback(release: Release, reason: str) -> Release:
    """Start sending everything back to blue; allowed until blue starts being stopped."""
    if not release.active:
        raise TransitionError(f"no release of {release.service} is in progress")
    if release.status == Status.ROLLBACK_IN_PROGRESS:
        return release
    if not LAST_ROLLBACK_AT.reached(release.stage):
        raise TransitionError(
            f"{release.service} is at {release.stage}: blue is being stopped, too late to roll "
            "back; release the previous image instead"
        )
    return _at(
        release,
        release.stage,
        status=Status.ROLLBACK_IN_PROGRESS,
        green_weight=0,
        paused=False,
        reason=reason,
    )


def finish_rollback(release: Release, ok: bool = True) -> Release:
    """Record that blue has everything again and green is gone (or that this failed)."""
    if release.status != Status.ROLLBACK_IN_PROGRESS:
        raise TransitionError(f"release is {release.status}, not rolling back")
    done = Status.ROLLBACK_SUCCESSFUL if ok else Status.ROLLBACK_FAILED
    return _at(release, release.stage, status=done)


class Changes(TypedDict, total=False):
    """The fields a transition may change besides the stage (and the history it extends)."""

    status: Status
    green_weight: float
    paused: bool
    reason: str


def _at(release: Release, stage: Stage, **changes: Unpack[Changes]) -> Release:
    """Return the release at a stage with changes, its history extended by one line."""
    new = replace(release, stage=stage, **changes)
    paused = " paused" if new.paused else ""
    line = f"{new.status} {new.stage} green={new.green_weight:g}%{paused}"
    return replace(new, history=(*release.history, line))


def to_json(release: Release) -> str:
    """Serialise the release for the state file."""
    data = asdict(release)
    data["blue"] = [r.to_json() for r in release.blue]
    data["green"] = [r.to_json() for r in release.green]
    return json.dumps(data, indent=2)


def from_json(text: str) -> Release:
    """Read a release back from its state file (ValueError, KeyError or TypeError if malformed)."""
    raw: dict[str, Any] = json.loads(text)
    return Release(
        **{
            **raw,
            "status": Status(raw["status"]),
            "stage": Stage(raw["stage"]),
            "shifts": tuple(Shift(**s) for s in raw["shifts"]),
            "blue": tuple(Replica.from_json(r) for r in raw["blue"]),
            "green": tuple(Replica.from_json(r) for r in raw["green"]),
            "history": tuple(raw["history"]),
        }
    )
