"""The target tracking policy decides as Application Auto Scaling does, without Docker.

What these cannot prove: that the CPU figures fed in are the ones ECS would publish, or that
a decision is carried out; tests/local/autoscale/test_scaler.py covers those on a real stack.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bookingapp_infra.local.autoscale.policy import (
    ALARM_HIGH_DATAPOINTS,
    ALARM_LOW_DATAPOINTS,
    CLOUDWATCH_PERIOD,
    History,
    MetricSeries,
    Policy,
    Timings,
    decide,
)
from bookingapp_infra.params import SERVICES_DIR, ParamsError, load_all
from bookingapp_infra.stacks import service_stack

FAST = Timings(
    period=1.0,
    scale_out_datapoints=3,
    scale_in_datapoints=5,
    scale_out_cooldown=60.0,
    scale_in_cooldown=120.0,
)
MOVIE = Policy("movie", target=60.0, min_capacity=2, max_capacity=6, timings=FAST)


def held(decision) -> bool:
    """Say whether a decision keeps the replica count."""
    return decision.desired == decision.current and not decision.changes


# --- the params the policy comes from ---------------------------------------------------


def copy_services(tmp_path: Path, movie_scaling: str) -> Path:
    """Copy the committed params into tmp_path, movie's [autoscaling] table replaced."""
    for path in SERVICES_DIR.glob("*.toml"):
        text = path.read_text()
        if path.stem == "movie":
            head, _, tail = text.partition("[autoscaling]")
            rest = tail[tail.index("[environment]") :]
            text = f"{head}{movie_scaling}\n{rest}"
        (tmp_path / path.name).write_text(text)
    return tmp_path


def test_a_policy_takes_target_and_bounds_from_the_services_params():
    """movie.toml's [autoscaling] becomes movie's policy: 2..6 replicas at 60 % CPU."""
    policy = Policy.from_params(load_all()["movie"])
    assert (policy.service, policy.target) == ("movie", 60.0)
    assert (policy.min_capacity, policy.max_capacity) == (2, 6)


def test_silent_params_get_application_auto_scalings_ecs_defaults(tmp_path):
    """No cooldowns in the file: 300 s each, 1-minute datapoints, alarms of 3 and 15."""
    table = "[autoscaling]\nmin_capacity = 2\nmax_capacity = 6\ncpu_target = 60\n"
    timings = Policy.from_params(load_all(copy_services(tmp_path, table))["movie"]).timings
    assert timings == Timings(
        period=CLOUDWATCH_PERIOD,
        scale_out_datapoints=ALARM_HIGH_DATAPOINTS,
        scale_in_datapoints=ALARM_LOW_DATAPOINTS,
        scale_out_cooldown=300.0,
        scale_in_cooldown=300.0,
    )
    assert (CLOUDWATCH_PERIOD, ALARM_HIGH_DATAPOINTS, ALARM_LOW_DATAPOINTS) == (60.0, 3, 15)


def test_cooldowns_in_the_params_reach_the_policy(tmp_path):
    """scale_out_cooldown / scale_in_cooldown in [autoscaling] replace the defaults."""
    table = (
        "[autoscaling]\nmin_capacity = 2\nmax_capacity = 4\ncpu_target = 20\n"
        "scale_out_cooldown = 45\nscale_in_cooldown = 90\n"
    )
    policy = Policy.from_params(load_all(copy_services(tmp_path, table))["movie"])
    assert (policy.timings.scale_out_cooldown, policy.timings.scale_in_cooldown) == (45.0, 90.0)
    assert (policy.max_capacity, policy.target) == (4, 20.0)


def test_a_negative_cooldown_is_refused_naming_the_file(tmp_path):
    table = "[autoscaling]\nmin_capacity = 2\nmax_capacity = 4\ncpu_target = 20\nscale_in_cooldown = -1\n"
    with pytest.raises(ParamsError, match=r"movie\.toml: autoscaling\.scale_in_cooldown"):
        load_all(copy_services(tmp_path, table))


def test_overrides_shorten_the_timings_for_tests():
    """Overrides replace timings only; target and bounds stay the service's own."""
    policy = Policy.from_params(load_all()["movie"], period=2.0, scale_in_cooldown=5.0)
    assert (policy.timings.period, policy.timings.scale_in_cooldown) == (2.0, 5.0)
    assert policy.timings.scale_out_cooldown == 60.0  # movie.toml's
    assert policy.target == 60.0


@pytest.mark.parametrize(
    "bad",
    [{"period": 0.0}, {"scale_out_datapoints": 0}, {"scale_in_cooldown": -1.0}],
)
def test_impossible_timings_are_refused(bad):
    with pytest.raises(ValueError, match=r"period|datapoint|cooldown"):
        Timings(**bad)


# --- scale out ---------------------------------------------------------------------------


def test_sustained_cpu_above_target_scales_out_in_proportion():
    """2 replicas at 90 % against 60 %: ceil(2 * 90 / 60) = 3."""
    decision = decide(MOVIE, [90.0, 90.0, 90.0], current=2, history=History(), now=100.0)
    assert (decision.current, decision.desired) == (2, 3)
    assert "above target for 3 datapoints" in decision.reason


def test_far_above_target_adds_several_replicas_at_once():
    """2 replicas at 150 % of the limit against 60 %: ceil(5.0) = 5 in one step."""
    decision = decide(MOVIE, [150.0] * 3, current=2, history=History(), now=100.0)
    assert decision.desired == 5


def test_scale_out_is_capped_at_max_capacity():
    decision = decide(MOVIE, [400.0] * 3, current=2, history=History(), now=100.0)
    assert decision.desired == 6


def test_at_max_capacity_it_holds_and_says_so():
    decision = decide(MOVIE, [99.0] * 3, current=6, history=History(), now=100.0)
    assert held(decision)
    assert "at max_capacity" in decision.reason


def test_fewer_high_datapoints_than_the_alarm_needs_do_not_scale():
    """Two minutes above target is not AlarmHigh's three: hold."""
    decision = decide(MOVIE, [50.0, 95.0, 95.0], current=2, history=History(), now=100.0)
    assert held(decision)


def test_a_missing_datapoint_breaks_the_alarm():
    """A period without samples is missing data, not a breach."""
    decision = decide(MOVIE, [95.0, None, 95.0], current=2, history=History(), now=100.0)
    assert held(decision)


def test_exactly_on_target_does_not_scale_out():
    decision = decide(MOVIE, [60.0] * 3, current=2, history=History(), now=100.0)
    assert held(decision)
    assert decision.reason == "near target"


def test_in_the_scale_out_cooldown_the_last_scale_out_counts_as_done():
    """2 -> 3 at t=100; at t=120 the metric (still from 2 replicas' load) asks for 3: hold."""
    first = decide(MOVIE, [90.0] * 3, current=2, history=History(), now=100.0)
    history = History().after(first, now=100.0)
    again = decide(MOVIE, [90.0] * 3, current=3, history=history, now=120.0)
    assert held(again)
    assert "scale-out cooldown" in again.reason


def test_a_larger_scale_out_happens_inside_the_cooldown():
    """Load keeps rising: from the same base of 2, 150 % asks for 5 > 3, so it scales now."""
    first = decide(MOVIE, [90.0] * 3, current=2, history=History(), now=100.0)
    history = History().after(first, now=100.0)
    larger = decide(MOVIE, [150.0] * 3, current=3, history=history, now=120.0)
    assert (larger.current, larger.desired) == (3, 5)
    assert "cooldown" in larger.reason


def test_after_the_scale_out_cooldown_it_scales_from_the_current_count():
    first = decide(MOVIE, [90.0] * 3, current=2, history=History(), now=100.0)
    history = History().after(first, now=100.0)
    later = decide(MOVIE, [90.0] * 3, current=3, history=history, now=161.0)
    assert (later.current, later.desired) == (3, 5)


# --- scale in ------------------------------------------------------------------------------


def test_scale_in_needs_the_whole_low_alarm_period_below_90_percent_of_target():
    """Four of five datapoints below 54 % (90 % of 60) is not enough; five is."""
    almost = decide(MOVIE, [70.0, 10.0, 10.0, 10.0, 10.0], current=4, history=History(), now=500.0)
    assert held(almost)
    enough = decide(MOVIE, [10.0] * 5, current=4, history=History(), now=500.0)
    assert (enough.current, enough.desired) == (4, 3)
    assert "below 90% of target for 5 datapoints" in enough.reason


def test_just_under_target_but_above_the_low_alarm_holds():
    """55 % against 60 %: above AlarmLow's 54 % threshold, so no scale-in."""
    decision = decide(MOVIE, [55.0] * 5, current=4, history=History(), now=500.0)
    assert held(decision)


def test_scale_in_removes_one_replica_at_a_time():
    """Even at 0 % CPU with 6 replicas, one goes: 6 -> 5."""
    decision = decide(MOVIE, [0.0] * 5, current=6, history=History(), now=500.0)
    assert decision.desired == 5


def test_scale_in_never_goes_below_min_capacity():
    decision = decide(MOVIE, [0.0] * 5, current=2, history=History(), now=500.0)
    assert held(decision)
    assert "at min_capacity" in decision.reason


def test_scale_in_waits_for_its_cooldown_after_the_last_scale_in():
    """4 -> 3 at t=500; at t=560 the 120 s cooldown holds it; at t=620 3 -> 2."""
    first = decide(MOVIE, [0.0] * 5, current=4, history=History(), now=500.0)
    history = History().after(first, now=500.0)
    waiting = decide(MOVIE, [0.0] * 5, current=3, history=history, now=560.0)
    assert held(waiting)
    assert "scale-in cooldown 60 s" in waiting.reason
    after = decide(MOVIE, [0.0] * 5, current=3, history=history, now=620.0)
    assert (after.current, after.desired) == (3, 2)


def test_scale_in_does_not_push_the_rest_above_target():
    """3 replicas at 50 % (< 54 %): 2 would carry 75 % > 60 %, so all 3 stay."""
    decision = decide(MOVIE, [50.0] * 5, current=3, history=History(), now=500.0)
    assert held(decision)
    assert "fewer would exceed it" in decision.reason


def test_a_scale_out_during_the_scale_in_cooldown_happens_at_once():
    """Load returns right after a scale-in: the scale-in cooldown does not block scale-out."""
    first = decide(MOVIE, [0.0] * 5, current=4, history=History(), now=500.0)
    history = History().after(first, now=500.0)
    burst = decide(MOVIE, [0.0, 0.0, 90.0, 90.0, 90.0], current=3, history=history, now=510.0)
    assert (burst.current, burst.desired) == (3, 5)


# --- releases and bounds ---------------------------------------------------------------------


@pytest.mark.parametrize("points", [[150.0] * 5, [0.0] * 5])
def test_a_service_being_released_is_not_scaled(points):
    decision = decide(MOVIE, points, current=4, history=History(), now=500.0, releasing=True)
    assert held(decision)
    assert decision.reason == "a release is in progress"


def test_below_min_capacity_it_comes_back_to_min():
    """Someone ran --scale movie=1: the policy brings it back to 2, whatever the CPU."""
    decision = decide(MOVIE, [], current=1, history=History(), now=0.0)
    assert (decision.desired, decision.reason) == (2, "back within min_capacity")


def test_above_max_capacity_it_comes_back_to_max():
    decision = decide(MOVIE, [0.0] * 5, current=9, history=History(), now=0.0)
    assert (decision.desired, decision.reason) == (6, "back within max_capacity")


def test_without_enough_datapoints_it_says_it_is_collecting():
    decision = decide(MOVIE, [None, 80.0], current=2, history=History(), now=0.0)
    assert held(decision)
    assert decision.reason == "collecting datapoints (1 of 3)"


# --- the printed line ---------------------------------------------------------------------


def test_a_decision_prints_service_metric_target_counts_and_why():
    decision = decide(MOVIE, [90.0] * 3, current=2, history=History(), now=100.0)
    assert decision.describe() == (
        "movie: cpu 90.0% (target 60%) 2 replicas: 2 -> 3 (scale out): "
        "above target for 3 datapoints"
    )


def test_a_hold_prints_as_a_hold():
    decision = decide(MOVIE, [], current=2, history=History(), now=0.0)
    assert decision.describe() == (
        "movie: cpu no data (target 60%) 2 replicas: hold: collecting datapoints (0 of 3)"
    )


# --- datapoints from samples ---------------------------------------------------------------


def test_samples_average_into_one_datapoint_per_period():
    series = MetricSeries(period=10.0, keep=5, start=0.0)
    for at, value in ((1.0, 20.0), (4.0, 40.0), (12.0, 90.0), (19.0, 70.0)):
        series.add(at, value)
    assert series.datapoints(now=20.0) == [30.0, 80.0]


def test_the_period_still_being_measured_is_not_a_datapoint():
    series = MetricSeries(period=10.0, keep=5, start=0.0)
    series.add(1.0, 50.0)
    series.add(11.0, 99.0)
    assert series.datapoints(now=15.0) == [50.0]


def test_a_period_without_samples_is_missing_data():
    series = MetricSeries(period=10.0, keep=5, start=0.0)
    series.add(1.0, 50.0)
    series.add(25.0, 60.0)
    assert series.datapoints(now=30.0) == [50.0, None, 60.0]


def test_only_the_last_keep_datapoints_are_kept():
    series = MetricSeries(period=1.0, keep=3, start=0.0)
    for second in range(10):
        series.add(second + 0.5, float(second))
    assert series.datapoints(now=10.0) == [7.0, 8.0, 9.0]


def test_history_after_a_hold_is_unchanged():
    decision = decide(MOVIE, [60.0] * 3, current=2, history=History(), now=100.0)
    assert History().after(decision, now=100.0) == History()


def test_history_remembers_the_base_of_a_scale_out():
    decision = decide(MOVIE, [90.0] * 3, current=2, history=History(), now=100.0)
    history = History().after(decision, now=100.0)
    assert dataclasses.astuple(history) == (100.0, 2, None)


def test_a_hold_says_how_far_the_high_alarm_has_got():
    """One datapoint above target of the three AlarmHigh needs: it says 1 of 3."""
    decision = decide(MOVIE, [50.0, 50.0, 80.0], current=2, history=History(), now=0.0)
    assert held(decision)
    assert decision.reason == "above target for 1 of 3 datapoints"


def test_a_hold_says_how_far_the_low_alarm_has_got():
    decision = decide(MOVIE, [60.0, 10.0, 10.0], current=3, history=History(), now=0.0)
    assert held(decision)
    assert decision.reason == "below 90% of target for 2 of 5 datapoints"


def test_the_local_cooldowns_are_the_ones_the_service_template_deploys(services_template):
    """Local and AWS act out one policy: the template's cooldowns are the params' numbers."""
    policy = services_template["Resources"]["CpuScalingPolicy"]["Properties"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["ScaleOutCooldown"] == {"Ref": "ScaleOutCooldown"}
    assert tracking["ScaleInCooldown"] == {"Ref": "ScaleInCooldown"}
    for params in (p for p in load_all().values() if p.is_app):
        sent = {
            item["ParameterKey"]: item["ParameterValue"]
            for item in service_stack(params).cfn_parameters(creating=True)
        }
        timings = Policy.from_params(params).timings
        assert timings.scale_out_cooldown == float(sent["ScaleOutCooldown"])
        assert timings.scale_in_cooldown == float(sent["ScaleInCooldown"])
