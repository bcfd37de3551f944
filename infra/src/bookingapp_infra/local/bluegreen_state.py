"""The state machine of a local blue/green release, named as ECS names its lifecycle stages.

ECS's blue/green deployment walks PRE_SCALE_UP, SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT,
POST_TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME and
CLEAN_UP; a PAUSE hook after test traffic waits for ContinueServiceDeployment, and the bake
time keeps blue running after production moved to green, so a rollback stays instant.
The local release keeps the same names and meanings, so `status` reads the same on both
sides. This module is pure: the state, its transitions, what traffic each stage routes, and
the JSON it is kept in between the commands (`release` drives; `approve`/`rollback` ask).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import TypedDict, Unpack

from bookingapp_infra.local.bluegreen_rules import FULL

STAGES = (
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)
# ECS ServiceDeployment statuses the local release uses.
IN_PROGRESS = "IN_PROGRESS"
SUCCESSFUL = "SUCCESSFUL"
ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
ROLLBACK_SUCCESSFUL = "ROLLBACK_SUCCESSFUL"
ROLLBACK_FAILED = "ROLLBACK_FAILED"
ACTIVE = (IN_PROGRESS, ROLLBACK_IN_PROGRESS)
# Until CLEAN_UP starts stopping blue, blue can take all traffic back at once.
LAST_ROLLBACK_STAGE = "BAKE_TIME"
PAUSE_STAGE = "POST_TEST_TRAFFIC_SHIFT"


class TransitionError(ValueError):
    """A request that the release's current state cannot honour."""


@dataclass(frozen=True)
class Replica:
    """One container of the service: its id, name and URL on the compose network."""

    id: str
    name: str
    url: str


@dataclass(frozen=True)
class Release:
    """One blue/green release of one service, as kept between the CLI's commands."""

    service: str
    image: str
    project: str
    bake_seconds: float
    approval: bool
    steps: tuple[int, ...] = (FULL,)  # production weights of green, the last one 100
    step_seconds: float = 0.0
    status: str = IN_PROGRESS
    stage: str = STAGES[0]
    green_weight: int = 0
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
        return self.status == IN_PROGRESS and STAGES.index(self.stage) >= STAGES.index(
            "TEST_TRAFFIC_SHIFT"
        )


def check_steps(steps: tuple[int, ...]) -> tuple[int, ...]:
    """Return the weight steps if they rise strictly to 100, else raise ValueError."""
    if not steps or steps[-1] != FULL:
        raise ValueError(f"traffic steps must end at {FULL}")
    if any(not 0 < s <= FULL for s in steps) or list(steps) != sorted(set(steps)):
        raise ValueError(f"traffic steps must rise strictly within 1..{FULL}")
    return steps


def advance(release: Release) -> Release:
    """Move to the next lifecycle stage, or to SUCCESSFUL after CLEAN_UP."""
    if release.status != IN_PROGRESS:
        raise TransitionError(f"release is {release.status}, it cannot advance")
    if release.paused:
        raise TransitionError("release is paused for approval")
    if release.stage == STAGES[-1]:
        return _at(release, release.stage, status=SUCCESSFUL)
    stage = STAGES[STAGES.index(release.stage) + 1]
    weight = FULL if STAGES.index(stage) > STAGES.index("PRODUCTION_TRAFFIC_SHIFT") else 0
    weight = max(weight, release.green_weight)
    paused = stage == PAUSE_STAGE and release.approval
    return _at(release, stage, green_weight=weight, paused=paused)


def shift(release: Release, weight: int) -> Release:
    """Record one production traffic step (only during PRODUCTION_TRAFFIC_SHIFT)."""
    if release.stage != "PRODUCTION_TRAFFIC_SHIFT" or release.status != IN_PROGRESS:
        raise TransitionError(
            f"traffic shifts only in PRODUCTION_TRAFFIC_SHIFT, not {release.stage}"
        )
    if weight not in release.steps:
        raise TransitionError(f"{weight} is not one of the steps {release.steps}")
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
    if release.status == ROLLBACK_IN_PROGRESS:
        return release
    if STAGES.index(release.stage) > STAGES.index(LAST_ROLLBACK_STAGE):
        raise TransitionError(
            f"{release.service} is at {release.stage}: blue is being stopped, too late to roll "
            "back; release the previous image instead"
        )
    return _at(
        release,
        release.stage,
        status=ROLLBACK_IN_PROGRESS,
        green_weight=0,
        paused=False,
        reason=reason,
    )


def finish_rollback(release: Release, ok: bool = True) -> Release:
    """Record that blue has everything again and green is gone (or that this failed)."""
    if release.status != ROLLBACK_IN_PROGRESS:
        raise TransitionError(f"release is {release.status}, not rolling back")
    return _at(release, release.stage, status=ROLLBACK_SUCCESSFUL if ok else ROLLBACK_FAILED)


class Changes(TypedDict, total=False):
    """The fields a transition may change besides the stage (and the history it extends)."""

    status: str
    green_weight: int
    paused: bool
    reason: str


def _at(release: Release, stage: str, **changes: Unpack[Changes]) -> Release:
    """Return the release at a stage with changes, its history extended by one line."""
    new = replace(release, stage=stage, **changes)
    line = f"{new.status} {new.stage} green={new.green_weight}%" + (" paused" if new.paused else "")
    return replace(new, history=(*release.history, line))


def to_json(release: Release) -> str:
    """Serialise the release for the state file."""
    return json.dumps(asdict(release), indent=2)


def from_json(text: str) -> Release:
    """Read a release back from its state file."""
    raw = json.loads(text)
    for colour in ("blue", "green"):
        raw[colour] = tuple(Replica(**r) for r in raw[colour])
    raw["steps"] = tuple(raw["steps"])
    raw["history"] = tuple(raw["history"])
    return Release(**raw)
