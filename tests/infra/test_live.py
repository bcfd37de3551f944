"""What deploy reads from the running system: live colour, quiet alarms, a first pause.

Real boto3 clients answered by botocore's Stubber (tests/infra/conftest.py, StubbedAws):
every request is checked against the AWS API models, the answers are shaped the way the
API references document them. moto cannot play this part: it has no ServiceDeployments
API, keeps no alarm history and does not move listener weights. What this proves: which
calls AwsLive makes and how it reads the answers. What it does not: that ECS leaves the
weights or pauses as documented (only a real account shows that).
"""

from __future__ import annotations

from typing import Any

import pytest

from bookingapp_infra import live
from bookingapp_infra.errors import InfraError
from tests.infra.conftest import StubbedAws

CLUSTER = "bookingapp-cluster"
STACK = "bookingapp-movie"
RULE = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener-rule/app/a/b/c/d"
BLUE = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/blue/1"
GREEN = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/green/2"
DEPLOYMENT = "arn:aws:ecs:eu-central-1:123456789012:service-deployment/c/movie/abc"
ALARMS = ["bookingapp-movie-Target5xxAlarm-X", "bookingapp-movie-UnhealthyTargetsAlarm-Y"]


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        """Move the clock on instead of sleeping."""
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        """Return the fake time."""
        return self.now


@pytest.fixture
def time_() -> FakeTime:
    """A fake clock for AwsLive's waits."""
    return FakeTime()


@pytest.fixture
def aws_live(stubbed_aws: StubbedAws, time_: FakeTime) -> live.AwsLive:
    """AwsLive on the stubbed clients and the fake clock."""
    return live.AwsLive(stubbed_aws, "bookingapp", sleep=time_.sleep, clock=time_.monotonic)


def expect_cluster(stubs: StubbedAws, cluster: str = CLUSTER) -> None:
    """Answer the platform stack's outputs with the cluster's name."""
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "bookingapp-platform",
                    "StackStatus": "UPDATE_COMPLETE",
                    "CreationTime": "2020-01-01",
                    "Outputs": [{"OutputKey": "ClusterName", "OutputValue": cluster}],
                }
            ]
        },
        {"StackName": "bookingapp-platform"},
    )


# ---------------------------------------------------------------- live colour


def expect_rule(stubs: StubbedAws, blue: int, green: int) -> None:
    """Answer the stack's resources and its production rule with these weights."""
    resources = {"ListenerRule": RULE, "TargetGroup": BLUE, "GreenTargetGroup": GREEN}
    stubs["cloudformation"].add_response(
        "describe_stack_resources",
        {
            "StackResources": [
                {
                    "LogicalResourceId": logical,
                    "PhysicalResourceId": physical,
                    "ResourceType": "AWS::Any",
                    "Timestamp": "2020-01-01",
                    "ResourceStatus": "UPDATE_COMPLETE",
                }
                for logical, physical in resources.items()
            ]
        },
        {"StackName": STACK},
    )
    forward = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": BLUE, "Weight": blue},
                {"TargetGroupArn": GREEN, "Weight": green},
            ]
        },
    }
    stubs["elbv2"].add_response(
        "describe_rules", {"Rules": [{"RuleArn": RULE, "Actions": [forward]}]}, {"RuleArns": [RULE]}
    )


@pytest.mark.parametrize(("blue", "green", "colour"), [(100, 0, "blue"), (0, 100, "green")])
def test_the_live_colour_is_the_group_the_production_rule_sends_everything_to(
    stubbed_aws: StubbedAws, aws_live: live.AwsLive, blue: int, green: int, colour: str
) -> None:
    expect_rule(stubbed_aws, blue, green)
    assert aws_live.live_colour(STACK) == colour


def test_a_rule_split_between_groups_mid_deployment_is_refused(
    stubbed_aws: StubbedAws, aws_live: live.AwsLive
) -> None:
    expect_rule(stubbed_aws, 50, 50)
    with pytest.raises(
        InfraError,
        match=r"a traffic-shifting deployment \(blue/green, linear, canary\) is moving it; wait",
    ):
        aws_live.live_colour(STACK)


# ---------------------------------------------------------------- quiet alarms


def expect_service_alarms(stubs: StubbedAws, names: list[str]) -> None:
    """Answer the app's ECS service with the deployment alarms it rolls back on."""
    expect_cluster(stubs)
    stubs["ecs"].add_response(
        "describe_services",
        {
            "services": [
                {
                    "serviceName": "movie",
                    "status": "ACTIVE",
                    "deploymentConfiguration": {
                        "alarms": {"alarmNames": names, "enable": True, "rollback": True}
                    },
                }
            ]
        },
        {"cluster": CLUSTER, "services": ["movie"]},
    )


def expect_alarm_states(stubs: StubbedAws, *states: str) -> None:
    """Answer one DescribeAlarms per poll: the first alarm in this state, the other OK."""
    for state in states:
        stubs["cloudwatch"].add_response(
            "describe_alarms",
            {
                "MetricAlarms": [
                    {"AlarmName": ALARMS[0], "StateValue": state},
                    {"AlarmName": ALARMS[1], "StateValue": "OK"},
                ]
            },
            {"AlarmNames": ALARMS},
        )


def test_quiet_alarms_wait_until_they_stay_out_of_alarm_for_the_evaluation_window(
    stubbed_aws: StubbedAws, aws_live: live.AwsLive, time_: FakeTime
) -> None:
    expect_service_alarms(stubbed_aws, ALARMS)
    # In ALARM at 0 s and 15 s, then OK: the 180 s count from the last ALARM seen.
    quiet_polls = int(live.QUIET_SECONDS / live.ALARM_POLL)
    expect_alarm_states(stubbed_aws, "ALARM", "ALARM", *["OK"] * quiet_polls)
    said: list[str] = []

    aws_live.wait_for_quiet_alarms("movie", said.append)

    assert time_.now == live.ALARM_POLL + live.QUIET_SECONDS
    assert len(said) == 1
    assert said[0].startswith("movie: waiting until its rollback alarms stay quiet for 180 s")


def test_alarms_that_never_clear_fail_the_deploy_of_that_app(
    stubbed_aws: StubbedAws, aws_live: live.AwsLive
) -> None:
    expect_service_alarms(stubbed_aws, ALARMS)
    expect_alarm_states(stubbed_aws, *["ALARM"] * (int(live.QUIET_LIMIT / live.ALARM_POLL) + 1))

    with pytest.raises(InfraError) as caught:
        aws_live.wait_for_quiet_alarms("movie", lambda _: None)

    assert str(caught.value).startswith(
        f"movie: rollback alarms {ALARMS[0]} still in ALARM after 900 s; an update now would "
        "be rolled back"
    )


def test_a_service_without_deployment_alarms_does_not_wait(
    stubbed_aws: StubbedAws, aws_live: live.AwsLive, time_: FakeTime
) -> None:
    expect_service_alarms(stubbed_aws, [])
    aws_live.wait_for_quiet_alarms("movie", lambda _: None)
    assert time_.slept == []


# ---------------------------------------------------------------- first pause


def expect_deployment(stubs: StubbedAws, hook_status: str) -> None:
    """Answer the service's deployment in progress, at a PAUSE hook in this status."""
    stubs["ecs"].add_response(
        "list_service_deployments",
        {"serviceDeployments": [{"serviceDeploymentArn": DEPLOYMENT, "status": "IN_PROGRESS"}]},
        {"cluster": CLUSTER, "service": "movie", "status": ["PENDING", "IN_PROGRESS"]},
    )
    hook = {"hookId": "hook-1", "targetType": "PAUSE", "status": hook_status}
    stubs["ecs"].add_response(
        "describe_service_deployments",
        {
            "serviceDeployments": [
                {
                    "serviceDeploymentArn": DEPLOYMENT,
                    "status": "IN_PROGRESS",
                    "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
                    "lifecycleHookDetails": [hook],
                }
            ]
        },
        {"serviceDeploymentArns": [DEPLOYMENT]},
    )


def test_a_first_deployment_paused_for_approval_is_continued_once_and_said(
    stubbed_aws: StubbedAws, aws_live: live.AwsLive
) -> None:
    expect_cluster(stubbed_aws)
    expect_deployment(stubbed_aws, "AWAITING_ACTION")
    stubbed_aws["ecs"].add_response(
        "continue_service_deployment",
        {"serviceDeploymentArn": DEPLOYMENT},
        {"serviceDeploymentArn": DEPLOYMENT, "hookId": "hook-1", "action": "CONTINUE"},
    )
    expect_deployment(stubbed_aws, "AWAITING_ACTION")  # ECS has not moved on yet
    said: list[str] = []

    aws_live.continue_first_pause("movie", said.append)
    aws_live.continue_first_pause("movie", said.append)

    assert said == [
        "movie: its first deployment paused for approval (ECS pauses a first deployment "
        "too); nothing runs yet to compare it with, so deploy continued it. Releases from now "
        "on wait for `bookingapp-infra approve`"
    ]


@pytest.mark.parametrize("code", ["ServiceNotFoundException", "ClusterNotFoundException"])
def test_before_the_service_exists_there_is_nothing_to_continue(
    stubbed_aws: StubbedAws, aws_live: live.AwsLive, code: str
) -> None:
    expect_cluster(stubbed_aws)
    stubbed_aws["ecs"].add_client_error("list_service_deployments", code, "not yet")
    aws_live.continue_first_pause("movie", lambda _: None)


def test_a_deployment_not_paused_is_left_alone(
    stubbed_aws: StubbedAws, aws_live: live.AwsLive
) -> None:
    expect_cluster(stubbed_aws)
    expect_deployment(stubbed_aws, "SUCCEEDED")
    aws_live.continue_first_pause("movie", lambda _: None)


def test_quiet_alarms_read_only_enabled_deployment_alarms() -> None:
    off: dict[str, Any] = {"deploymentConfiguration": {"alarms": {"alarmNames": ALARMS}}}
    on: dict[str, Any] = {
        "deploymentConfiguration": {"alarms": {"alarmNames": ALARMS, "enable": True}}
    }
    assert live.alarm_names(off) == []
    assert live.alarm_names(on) == ALARMS


# ---------------------------------------------------------------- kept file systems


def file_system(ident: str, name: str, state: str, created: str) -> dict[str, Any]:
    """Return one DescribeFileSystems entry."""
    return {
        "OwnerId": "123456789012",
        "CreationToken": ident,
        "FileSystemId": ident,
        "CreationTime": created,
        "LifeCycleState": state,
        "NumberOfMountTargets": 0,
        "SizeInBytes": {"Value": 6144},
        "PerformanceMode": "generalPurpose",
        "Tags": [{"Key": "Name", "Value": name}],
    }


def test_the_kept_file_systems_are_redis_data_of_this_platform_newest_first(
    stubbed_aws: StubbedAws, aws_live: live.AwsLive
) -> None:
    mine = "bookingapp-platform-redis-data"
    stubbed_aws["efs"].add_response(
        "describe_file_systems",
        {
            "FileSystems": [
                file_system("fs-00000000000000001", mine, "available", "2026-01-01"),
                file_system(
                    "fs-00000000000000002", "other-platform-redis-data", "available", "2026-03-01"
                ),
                file_system("fs-00000000000000003", mine, "deleting", "2026-04-01"),
                file_system("fs-00000000000000004", mine, "available", "2026-02-01"),
            ]
        },
    )

    assert aws_live.kept_file_systems("bookingapp-platform") == [
        "fs-00000000000000004",
        "fs-00000000000000001",
    ]
