"""The local blue/green state machine: ECS's lifecycle stages, approval, rollback, no Docker."""

from __future__ import annotations

import pytest

from bookingapp_infra.local.bluegreen_state import (
    IN_PROGRESS,
    ROLLBACK_FAILED,
    ROLLBACK_IN_PROGRESS,
    ROLLBACK_SUCCESSFUL,
    STAGES,
    SUCCESSFUL,
    Release,
    Replica,
    TransitionError,
    advance,
    approve,
    check_steps,
    finish_rollback,
    from_json,
    rollback,
    shift,
    to_json,
)


def release(approval: bool = False, steps: tuple[int, ...] = (100,)) -> Release:
    """A fresh release of movie with one blue replica recorded."""
    return Release(
        service="movie",
        image="bookingapp/bookingapp-movie:2",
        project="bookingapp",
        bake_seconds=0.0,
        approval=approval,
        steps=steps,
        blue=(Replica(id="b1", name="bookingapp-movie-1", url="http://10.0.0.2:5000"),),
    )


def walk_to(r: Release, stage: str) -> Release:
    """Advance (shifting through every step on the way) until the release is at stage."""
    while r.stage != stage:
        if r.stage == "PRODUCTION_TRAFFIC_SHIFT":
            for weight in r.steps:
                r = shift(r, weight)
        r = approve(r) if r.paused else advance(r)
    return r


def test_a_release_walks_every_ecs_stage_in_order_then_succeeds() -> None:
    r, seen = release(), []
    while r.status == IN_PROGRESS:
        seen.append(r.stage)
        if r.stage == "PRODUCTION_TRAFFIC_SHIFT":
            r = shift(r, 100)
        r = advance(r)
    assert seen == list(STAGES)
    assert r.status == SUCCESSFUL
    assert not r.active


def test_production_stays_on_blue_until_the_production_shift() -> None:
    r = walk_to(release(), "PRODUCTION_TRAFFIC_SHIFT")
    assert r.green_weight == 0
    assert r.test_traffic


def test_test_traffic_starts_at_the_test_traffic_shift() -> None:
    assert not walk_to(release(), "POST_SCALE_UP").test_traffic
    assert walk_to(release(), "TEST_TRAFFIC_SHIFT").test_traffic


def test_after_the_shift_green_has_all_production_traffic() -> None:
    r = walk_to(release(), "BAKE_TIME")
    assert r.green_weight == 100


def test_with_approval_the_release_pauses_after_test_traffic() -> None:
    r = walk_to(release(approval=True), "POST_TEST_TRAFFIC_SHIFT")
    assert r.paused
    with pytest.raises(TransitionError, match="paused"):
        advance(r)
    assert not approve(r).paused


def test_without_approval_the_release_does_not_pause() -> None:
    assert not walk_to(release(approval=False), "POST_TEST_TRAFFIC_SHIFT").paused


def test_approving_a_release_that_is_not_paused_is_refused() -> None:
    with pytest.raises(TransitionError, match="not waiting for approval"):
        approve(walk_to(release(), "SCALE_UP"))


@pytest.mark.parametrize("stage", ["SCALE_UP", "POST_TEST_TRAFFIC_SHIFT", "BAKE_TIME"])
def test_rollback_before_clean_up_sends_everything_back_to_blue(stage: str) -> None:
    r = rollback(walk_to(release(approval=True), stage), "asked for")
    assert r.status == ROLLBACK_IN_PROGRESS
    assert r.green_weight == 0
    assert not r.test_traffic
    assert not r.paused
    assert r.reason == "asked for"


def test_rollback_is_refused_once_blue_is_being_stopped() -> None:
    with pytest.raises(TransitionError, match="too late"):
        rollback(walk_to(release(), "CLEAN_UP"), "asked for")


def test_a_finished_release_can_neither_roll_back_nor_be_approved() -> None:
    done = advance(walk_to(release(), "CLEAN_UP"))
    with pytest.raises(TransitionError, match="no release"):
        rollback(done, "asked for")
    with pytest.raises(TransitionError, match="no release"):
        approve(done)


def test_a_rollback_ends_successful_or_failed() -> None:
    rolling = rollback(walk_to(release(), "BAKE_TIME"), "asked for")
    assert finish_rollback(rolling).status == ROLLBACK_SUCCESSFUL
    assert finish_rollback(rolling, ok=False).status == ROLLBACK_FAILED
    with pytest.raises(TransitionError):
        finish_rollback(release())


def test_weights_shift_only_through_the_declared_steps() -> None:
    r = walk_to(release(steps=(10, 50, 100)), "PRODUCTION_TRAFFIC_SHIFT")
    assert shift(r, 10).green_weight == 10
    with pytest.raises(TransitionError, match="not one of the steps"):
        shift(r, 20)
    with pytest.raises(TransitionError, match="only in PRODUCTION_TRAFFIC_SHIFT"):
        shift(walk_to(release(), "BAKE_TIME"), 100)


@pytest.mark.parametrize(
    "steps", [(), (10, 50), (50, 10, 100), (0, 100), (10, 10, 100), (100, 150)]
)
def test_steps_must_rise_strictly_to_one_hundred(steps: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="steps"):
        check_steps(steps)


def test_steps_that_rise_to_one_hundred_are_kept() -> None:
    assert check_steps((10, 50, 100)) == (10, 50, 100)


def test_the_state_file_round_trips_every_field() -> None:
    r = walk_to(release(approval=True, steps=(25, 100)), "POST_TEST_TRAFFIC_SHIFT")
    assert from_json(to_json(r)) == r


def test_history_keeps_one_line_per_transition() -> None:
    r = walk_to(release(), "POST_SCALE_UP")
    assert r.history == (
        "IN_PROGRESS SCALE_UP green=0%",
        "IN_PROGRESS POST_SCALE_UP green=0%",
    )
