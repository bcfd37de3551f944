"""A traffic-shifting release's state machine: ECS's lifecycle stages, approval, rollback."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bookingapp_infra.local.strategies.state import (
    STAGES,
    Release,
    Shift,
    Stage,
    Status,
    TransitionError,
    advance,
    approve,
    check_shifts,
    finish_rollback,
    from_json,
    rollback,
    shift,
    to_json,
)
from tests.local.fakes import replica, traefik_labels

IN_PROGRESS, SUCCESSFUL = Status.IN_PROGRESS, Status.SUCCESSFUL
ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL = Status.ROLLBACK_IN_PROGRESS, Status.ROLLBACK_SUCCESSFUL
ROLLBACK_FAILED = Status.ROLLBACK_FAILED


def release(approval: bool = False, steps: tuple[int, ...] = (100,)) -> Release:
    """A fresh release of movie with one blue replica recorded."""
    return Release(
        service="movie",
        image="bookingapp/bookingapp-movie:2",
        project="bookingapp",
        bake_seconds=0.0,
        approval=approval,
        shifts=tuple(Shift(w, 0.0 if w == 100 else 3.0) for w in steps),
        blue=(replica("movie", labels=traefik_labels("movie")),),
    )


def walk_to(r: Release, stage: Stage) -> Release:
    """Advance (shifting through every step on the way) until the release is at stage."""
    while r.stage != stage:
        if r.stage == Stage.PRODUCTION_TRAFFIC_SHIFT:
            for step in r.shifts:
                r = shift(r, step.weight)
        r = approve(r) if r.paused else advance(r)
    return r


def test_a_release_walks_every_ecs_stage_in_order_then_succeeds() -> None:
    r, seen = release(), []
    while r.status == IN_PROGRESS:
        seen.append(r.stage)
        if r.stage == Stage.PRODUCTION_TRAFFIC_SHIFT:
            r = shift(r, 100)
        r = advance(r)
    assert seen == list(STAGES)
    assert r.status == SUCCESSFUL
    assert not r.active


def test_production_stays_on_blue_until_the_production_shift() -> None:
    r = walk_to(release(), Stage.PRODUCTION_TRAFFIC_SHIFT)
    assert r.green_weight == 0
    assert r.test_traffic


def test_test_traffic_starts_at_the_test_traffic_shift() -> None:
    assert not walk_to(release(), Stage.POST_SCALE_UP).test_traffic
    assert walk_to(release(), Stage.TEST_TRAFFIC_SHIFT).test_traffic


def test_after_the_shift_green_has_all_production_traffic() -> None:
    r = walk_to(release(), Stage.BAKE_TIME)
    assert r.green_weight == 100


def test_with_approval_the_release_pauses_after_test_traffic() -> None:
    r = walk_to(release(approval=True), Stage.POST_TEST_TRAFFIC_SHIFT)
    assert r.paused
    with pytest.raises(TransitionError, match="paused"):
        advance(r)
    assert not approve(r).paused


def test_without_approval_the_release_does_not_pause() -> None:
    assert not walk_to(release(approval=False), Stage.POST_TEST_TRAFFIC_SHIFT).paused


def test_approving_a_release_that_is_not_paused_is_refused() -> None:
    with pytest.raises(TransitionError, match="not waiting for approval"):
        approve(walk_to(release(), Stage.SCALE_UP))


@pytest.mark.parametrize("stage", [Stage.SCALE_UP, Stage.POST_TEST_TRAFFIC_SHIFT, Stage.BAKE_TIME])
def test_rollback_before_clean_up_sends_everything_back_to_blue(stage: Stage) -> None:
    r = rollback(walk_to(release(approval=True), stage), "asked for")
    assert r.status == ROLLBACK_IN_PROGRESS
    assert r.green_weight == 0
    assert not r.test_traffic
    assert not r.paused
    assert r.reason == "asked for"


def test_rollback_is_refused_once_blue_is_being_stopped() -> None:
    with pytest.raises(TransitionError, match="too late"):
        rollback(walk_to(release(), Stage.CLEAN_UP), "asked for")


def test_a_finished_release_can_neither_roll_back_nor_be_approved() -> None:
    done = advance(walk_to(release(), Stage.CLEAN_UP))
    with pytest.raises(TransitionError, match="no release"):
        rollback(done, "asked for")
    with pytest.raises(TransitionError, match="no release"):
        approve(done)


def test_a_rollback_ends_successful_or_failed() -> None:
    rolling = rollback(walk_to(release(), Stage.BAKE_TIME), "asked for")
    assert finish_rollback(rolling).status == ROLLBACK_SUCCESSFUL
    assert finish_rollback(rolling, ok=False).status == ROLLBACK_FAILED
    with pytest.raises(TransitionError):
        finish_rollback(release())


def test_weights_shift_only_through_the_declared_steps() -> None:
    r = walk_to(release(steps=(10, 50, 100)), Stage.PRODUCTION_TRAFFIC_SHIFT)
    assert shift(r, 10).green_weight == 10
    with pytest.raises(TransitionError, match="not one of the steps"):
        shift(r, 20)
    with pytest.raises(TransitionError, match="only in PRODUCTION_TRAFFIC_SHIFT"):
        shift(walk_to(release(), Stage.BAKE_TIME), 100)


@pytest.mark.parametrize(
    "steps", [(), (10, 50), (50, 10, 100), (0, 100), (10, 10, 100), (100, 150)]
)
def test_steps_must_rise_strictly_to_one_hundred(steps: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="steps"):
        check_shifts(tuple(Shift(w) for w in steps))


def test_steps_that_rise_to_one_hundred_are_kept() -> None:
    shifts = (Shift(10, 60.0), Shift(50, 60.0), Shift(100))
    assert check_shifts(shifts) == shifts


def test_a_step_cannot_bake_for_negative_time() -> None:
    with pytest.raises(ValueError, match="negative"):
        check_shifts((Shift(50, -1.0), Shift(100)))


def test_linear_and_canary_are_only_other_shifts() -> None:
    """What issue 22 adds is data: a canary share held, then the rest; the stages stay."""
    canary = (Shift(10, 300.0), Shift(100))
    r = walk_to(replace(release(), shifts=check_shifts(canary)), Stage.PRODUCTION_TRAFFIC_SHIFT)
    assert shift(r, 10).green_weight == 10
    assert walk_to(shift(shift(r, 10), 100), Stage.BAKE_TIME).green_weight == 100


def test_stages_know_their_order() -> None:
    assert STAGES[0] == Stage.PRE_SCALE_UP
    assert Stage.BAKE_TIME.reached(Stage.PRODUCTION_TRAFFIC_SHIFT)
    assert Stage.BAKE_TIME.reached(Stage.BAKE_TIME)
    assert not Stage.SCALE_UP.reached(Stage.TEST_TRAFFIC_SHIFT)
    assert str(Stage.CLEAN_UP) == "CLEAN_UP"  # what status prints, as ECS names it


def test_the_state_file_round_trips_every_field() -> None:
    r = walk_to(release(approval=True, steps=(25, 100)), Stage.POST_TEST_TRAFFIC_SHIFT)
    assert from_json(to_json(r)) == r


def test_history_keeps_one_line_per_transition() -> None:
    r = walk_to(release(), Stage.POST_SCALE_UP)
    assert r.history == (
        "IN_PROGRESS SCALE_UP green=0%",
        "IN_PROGRESS POST_SCALE_UP green=0%",
    )


def test_rollback_mid_way_through_linear_steps_takes_the_share_back_from_green() -> None:
    """A linear release held at 66.6 %: rollback (or an alarm) sends it all back to blue."""
    linear = (Shift(33.3, 60.0), Shift(66.6, 60.0), Shift(99.9, 60.0), Shift(100))
    r = walk_to(replace(release(), shifts=check_shifts(linear)), Stage.PRODUCTION_TRAFFIC_SHIFT)
    held = shift(shift(r, 33.3), 66.6)
    assert held.green_weight == 66.6
    rolled = rollback(held, "alarm: green answered 6 5xx within 60 s")
    assert (rolled.status, rolled.green_weight, rolled.test_traffic) == (
        ROLLBACK_IN_PROGRESS,
        0,
        False,
    )
    assert rolled.history[-2].endswith("green=66.6%")
