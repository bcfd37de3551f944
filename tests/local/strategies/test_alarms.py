"""The unhealthy-hosts alarm of a local traffic-shifting release, from `docker inspect` states."""

from __future__ import annotations

import pytest

from bookingapp_infra.local.strategies.traffic_shift import UNHEALTHY_THRESHOLD, replica_alarm
from tests.local.fakes import container_state as state


def test_a_stopped_green_replica_fires_the_alarm_at_once():
    assert replica_alarm("p-movie-3", state("healthy", running=False)) == (
        "alarm: green replica p-movie-3 is not running"
    )


def test_a_replica_gone_from_docker_counts_as_not_running():
    assert replica_alarm("p-movie-3", {}) == "alarm: green replica p-movie-3 is not running"


def test_two_failed_checks_in_a_row_are_not_yet_an_unhealthy_target():
    """Docker calls it unhealthy after compose's 2 retries; the target group waits for 3."""
    assert replica_alarm("p-movie-3", state("unhealthy", failing_streak=2)) is None


def test_the_target_groups_threshold_of_failed_checks_fires_the_alarm():
    assert replica_alarm("p-movie-3", state("unhealthy", failing_streak=3)) == (
        "alarm: green replica p-movie-3 is unhealthy (3 failed health checks in a row)"
    )


@pytest.mark.parametrize(
    ("status", "streak"),
    [("healthy", 0), ("starting", 1), (None, 0)],
    ids=["healthy", "failed-once-while-starting", "no-health-check"],
)
def test_a_running_replica_that_is_not_unhealthy_passes(status, streak):
    assert replica_alarm("p-movie-3", state(status, streak)) is None


def test_the_threshold_is_the_target_groups_on_aws(services_template):
    """Both target groups of service.yaml call a target unhealthy after the same count."""
    groups = [
        r["Properties"]
        for r in services_template["Resources"].values()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"
    ]
    assert len(groups) == 2
    assert {g["UnhealthyThresholdCount"] for g in groups} == {UNHEALTHY_THRESHOLD}
