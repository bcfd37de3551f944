"""The release's batches follow ECS's arithmetic on [deployment] bounds (no Docker needed)."""

from __future__ import annotations

import pytest

from bookingapp_infra.errors import InputError
from bookingapp_infra.local.rolling import Bounds, Step, plan
from bookingapp_infra.params import DeploymentParams


def bounds(desired: int, minimum: int, maximum: int) -> Bounds:
    """Apply the bounds of a [deployment] table to a desired count."""
    return Bounds.of(desired, DeploymentParams(minimum, maximum))


def test_the_default_bounds_start_all_new_replicas_then_stop_all_old():
    """100 % healthy, 200 % max (the services' default): 2 new beside 2 old, then 2 old go."""
    assert bounds(2, 100, 200) == Bounds(desired=2, most=4, fewest=2)
    assert plan(bounds(2, 100, 200)) == [Step(start=2, stop=2)]


def test_a_150_percent_maximum_replaces_one_replica_at_a_time():
    """Room for one extra replica: start one, stop one, twice."""
    assert plan(bounds(2, 100, 150)) == [Step(1, 1), Step(1, 1)]


def test_a_100_percent_maximum_stops_before_it_starts():
    """No room above the desired count: stop down to the minimum healthy first, as ECS does."""
    assert plan(bounds(2, 50, 100)) == [Step(0, 1), Step(1, 1), Step(1, 0)]


def test_every_plan_ends_all_new_and_never_breaks_its_bounds():
    """For any accepted bounds: never more than `most` running, never fewer than `fewest`."""
    for desired in range(1, 7):
        for minimum in range(0, 101, 25):
            for maximum in range(100, 201, 25):
                try:
                    b = bounds(desired, minimum, maximum)
                except InputError:
                    continue
                old, new = desired, 0
                for step in plan(b):
                    assert old + new + step.start <= b.most
                    new += step.start
                    old -= step.stop
                    assert old + new >= b.fewest
                assert (old, new) == (0, desired)


def test_bounds_that_leave_no_room_are_refused_with_the_reason():
    """100 % / 100 %: nothing may stop and nothing may start; say which setting to change."""
    with pytest.raises(InputError, match=r"widen \[deployment\]"):
        bounds(2, 100, 100)
