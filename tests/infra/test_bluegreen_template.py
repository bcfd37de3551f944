"""The service template asks ECS for its built-in blue/green deployment, and for alarms.

Each test resolves service.yaml with the parameters the CLI sends for a service whose
[deployment] says blue_green (or rolling), the way CloudFormation applies conditions.
What this proves: which properties and resources the template asks AWS for. What it does
not: that ECS accepts them (cfn-lint checks them against AWS's schema in test_cfn_lint.py) or
how a real deployment moves traffic (only an AWS account shows that).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bookingapp_infra.params import ServiceParams
from bookingapp_infra.stacks import service_parameters, service_stack
from tests.infra import cfn
from tests.support import app_services

# Every app of infra/services/*.toml: each is checked on its own.
APPS = tuple(app_services())
MANAGED_POLICY = "AmazonECSInfrastructureRolePolicyForLoadBalancers"


def with_deployment(p: ServiceParams, **settings: Any) -> ServiceParams:
    """Return p with its [deployment] table changed."""
    return dataclasses.replace(p, deployment=dataclasses.replace(p.deployment, **settings))


def resolved(templates: dict[str, Any], p: ServiceParams) -> dict[str, Any]:
    """Resolve the service template with the parameters the CLI sends when creating p."""
    values = {
        item["ParameterKey"]: item["ParameterValue"]
        for item in service_stack(p).cfn_parameters(creating=True)
    }
    return cfn.resolve(templates["service"], values)


def deployment_of(resources: dict[str, Any]) -> dict[str, Any]:
    """Return the ECS service's DeploymentConfiguration."""
    return resources["Service"]["Properties"]["DeploymentConfiguration"]


@pytest.fixture
def blue_green(services: dict[str, ServiceParams]) -> ServiceParams:
    """movie, deployed blue/green with a 5-minute bake and no approval pause."""
    return with_deployment(services["movie"], strategy="blue_green", bake_time_minutes=5)


@pytest.mark.parametrize("name", APPS)
def test_the_committed_apps_deploy_rolling_with_their_circuit_breaker(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    deployment = deployment_of(resolved(templates, services[name]))
    assert deployment["Strategy"] == "ROLLING"
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert "BakeTimeInMinutes" not in deployment  # would stretch CloudFormation's wait to 36 h
    assert "LifecycleHooks" not in deployment


def test_blue_green_asks_ecs_for_its_own_strategy_and_bake_time(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    resources = resolved(templates, blue_green)
    deployment = deployment_of(resources)
    assert deployment["Strategy"] == "BLUE_GREEN"
    assert deployment["BakeTimeInMinutes"] == "5"
    # ECS's deployment failure detection covers blue/green too: green tasks that never
    # start (a pull error, exit 78) fail the deployment and roll it back.
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert "DeploymentController" not in resources["Service"]["Properties"]  # ECS, not CodeDeploy
    assert "LifecycleHooks" not in deployment  # no approval asked for


def test_the_default_bake_time_is_ecs_own_fifteen_minutes(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    p = with_deployment(services["home"], strategy="blue_green")
    assert deployment_of(resolved(templates, p))["BakeTimeInMinutes"] == "15"


def test_green_target_group_checks_health_exactly_like_blue(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    resources = resolved(templates, blue_green)
    blue = resources["TargetGroup"]["Properties"]
    green = resources["GreenTargetGroup"]["Properties"]
    assert green == blue
    assert green["HealthCheckPath"] == "/movie/health"


def test_production_rule_forwards_to_both_groups_blue_weighted_fully(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    rule = resolved(templates, blue_green)["ListenerRule"]["Properties"]
    assert rule["Priority"] == str(blue_green.alb.priority)
    (action,) = rule["Actions"]
    assert action["Type"] == "forward"
    assert "TargetGroupArn" not in action
    assert action["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": {"Ref": "TargetGroup"}, "Weight": 100},
        {"TargetGroupArn": {"Ref": "GreenTargetGroup"}, "Weight": 0},
    ]


def test_test_rule_matches_the_same_path_plus_the_header_and_is_evaluated_first(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    resources = resolved(templates, blue_green)
    test_rule = resources["TestListenerRule"]["Properties"]
    production = resources["ListenerRule"]["Properties"]
    assert int(test_rule["Priority"]) < int(production["Priority"])  # lower number wins
    assert test_rule["ListenerArn"] == production["ListenerArn"]
    path, header = test_rule["Conditions"]
    assert path == production["Conditions"][0]
    assert header == {
        "Field": "http-header",
        "HttpHeaderConfig": {"HttpHeaderName": "X-Bookingapp-Test", "Values": ["green"]},
    }
    (action,) = test_rule["Actions"]
    assert {g["TargetGroupArn"]["Ref"] for g in action["ForwardConfig"]["TargetGroups"]} == {
        "TargetGroup",
        "GreenTargetGroup",
    }


def test_the_service_names_green_both_rules_and_the_role_for_ecs(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    """These Refs also make CloudFormation create both rules and green before the service."""
    (balancer,) = resolved(templates, blue_green)["Service"]["Properties"]["LoadBalancers"]
    assert balancer["TargetGroupArn"] == {"Ref": "TargetGroup"}
    assert balancer["AdvancedConfiguration"] == {
        "AlternateTargetGroupArn": {"Ref": "GreenTargetGroup"},
        "ProductionListenerRule": {"Ref": "ListenerRule"},
        "TestListenerRule": {"Ref": "TestListenerRule"},
        "RoleArn": {"Fn::GetAtt": ["InfrastructureRole", "Arn"]},
    }


def test_the_infrastructure_role_is_for_ecs_with_aws_managed_policy_only(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    role = resolved(templates, blue_green)["InfrastructureRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "ecs.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{MANAGED_POLICY}"}
    ]
    assert "Policies" not in role


def test_approval_pauses_after_test_traffic_and_rolls_back_if_nobody_answers(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    p = with_deployment(blue_green, approval=True)
    (hook,) = deployment_of(resolved(templates, p))["LifecycleHooks"]
    assert hook == {
        "TargetType": "PAUSE",
        "LifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        "TimeoutConfiguration": {"TimeoutInMinutes": 1440, "Action": "ROLLBACK"},
    }


@pytest.mark.parametrize("name", APPS)
def test_rolling_apps_roll_back_on_5xx_or_unhealthy_target_alarms(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    resources = resolved(templates, services[name])
    alarms = deployment_of(resources)["Alarms"]
    assert (alarms["Enable"], alarms["Rollback"]) == (True, True)
    assert alarms["AlarmNames"] == [{"Ref": "Target5xxAlarm"}, {"Ref": "UnhealthyTargetsAlarm"}]
    assert "GreenTarget5xxAlarm" not in resources


def test_blue_green_alarms_watch_both_target_groups(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    resources = resolved(templates, blue_green)
    names = [a["Ref"] for a in deployment_of(resources)["Alarms"]["AlarmNames"]]
    groups = {
        resources[n]["Properties"]["MetricName"]: set()
        for n in names  # metric -> the target groups it is watched on
    }
    for n in names:
        alarm = resources[n]["Properties"]
        (group,) = [d["Value"] for d in alarm["Dimensions"] if d["Name"] == "TargetGroup"]
        groups[alarm["MetricName"]].add(group["Fn::GetAtt"][0])
    assert groups == {
        "HTTPCode_Target_5XX_Count": {"TargetGroup", "GreenTargetGroup"},
        "UnHealthyHostCount": {"TargetGroup", "GreenTargetGroup"},
    }


def test_alarms_fire_on_target_errors_not_on_silence(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    resources = resolved(templates, blue_green)
    for name in deployment_of(resources)["Alarms"]["AlarmNames"]:
        alarm = resources[name["Ref"]]["Properties"]
        assert alarm["Namespace"] == "AWS/ApplicationELB"
        assert alarm["TreatMissingData"] == "notBreaching"  # an idle service is no failure
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert {d["Name"] for d in alarm["Dimensions"]} == {"LoadBalancer", "TargetGroup"}
        assert int(alarm["Period"]) * int(alarm["EvaluationPeriods"]) <= 300


def test_redis_has_no_blue_green_resources_and_no_target_alarms(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    resources = resolved(templates, services["redis"])
    deployment = deployment_of(resources)
    assert deployment["Strategy"] == "ROLLING"
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == ("0", "100")
    assert "Alarms" not in deployment  # no target group to watch; the breaker stays
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    blue_green_only = {"GreenTargetGroup", "TestListenerRule", "InfrastructureRole"}
    assert blue_green_only.isdisjoint(resources)


def test_a_hand_run_redis_stack_asking_blue_green_stays_rolling(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    """The loader refuses it; the template's condition also needs Kind=app."""
    values = {**service_parameters(services["redis"]), "DeploymentStrategy": "blue_green"}
    resources = cfn.resolve(templates["service"], values)
    assert deployment_of(resources)["Strategy"] == "ROLLING"
    assert "GreenTargetGroup" not in resources


LISTENER_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
    "listener/app/bookingapp-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
)


def evaluate(node: Any, imported: str) -> Any:
    """Evaluate Fn::Join/Select/Split over an ImportValue that yields `imported`."""
    if isinstance(node, list):
        return [evaluate(item, imported) for item in node]
    if not isinstance(node, dict):
        return node
    ((fn, args),) = node.items()
    if fn == "Fn::ImportValue":
        assert args == {"Fn::Sub": "${PlatformStackName}-ListenerArn"}
        return imported
    if fn == "Fn::Split":
        return evaluate(args[1], imported).split(args[0])
    if fn == "Fn::Select":
        return evaluate(args[1], imported)[int(args[0])]
    if fn == "Fn::Join":
        return args[0].join(evaluate(args[1], imported))
    raise AssertionError(f"unexpected {fn}")


def test_alarms_name_the_load_balancer_as_cloudwatch_does(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    """CloudWatch's LoadBalancer dimension is app/<name>/<id>, cut from the listener ARN."""
    resources = resolved(templates, blue_green)
    for name in deployment_of(resources)["Alarms"]["AlarmNames"]:
        (dimension,) = [
            d["Value"]
            for d in resources[name["Ref"]]["Properties"]["Dimensions"]
            if d["Name"] == "LoadBalancer"
        ]
        assert evaluate(dimension, LISTENER_ARN) == "app/bookingapp-alb/50dc6c495c0c9188"


@pytest.mark.parametrize(("live", "blue", "green"), [("blue", 100, 0), ("green", 0, 100)])
def test_both_rules_send_everything_to_the_colour_that_is_live(
    templates: dict[str, Any], blue_green: ServiceParams, live: str, blue: int, green: int
) -> None:
    """After an odd number of releases green is live: an update must not say blue 100."""
    values = {
        item["ParameterKey"]: item["ParameterValue"]
        for item in service_stack(blue_green).cfn_parameters(creating=False)
    }
    resources = cfn.resolve(templates["service"], {**values, "LiveColour": live})
    for rule in ("ListenerRule", "TestListenerRule"):
        (action,) = resources[rule]["Properties"]["Actions"]
        assert action["ForwardConfig"]["TargetGroups"] == [
            {"TargetGroupArn": {"Ref": "TargetGroup"}, "Weight": blue},
            {"TargetGroupArn": {"Ref": "GreenTargetGroup"}, "Weight": green},
        ]


def test_blue_green_scales_out_on_each_colours_request_count_not_only_on_cpu(
    templates: dict[str, Any], blue_green: ServiceParams
) -> None:
    """CPU averages in the idle colour during a deployment; requests per target do not."""
    resources = resolved(templates, blue_green)
    groups = {
        "BlueRequestScalingPolicy": "TargetGroup",
        "GreenRequestScalingPolicy": "GreenTargetGroup",
    }
    for policy, group in groups.items():
        tracking = resources[policy]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        metric = tracking["PredefinedMetricSpecification"]
        assert metric["PredefinedMetricType"] == "ALBRequestCountPerTarget"
        assert metric["ResourceLabel"]["Fn::Join"][1][-1] == {
            "Fn::GetAtt": [group, "TargetGroupFullName"]
        }
        assert tracking["TargetValue"] == str(blue_green.autoscaling.requests_per_target)
        # The idle group has no data: with scale-in it would veto every scale-in.
        assert tracking["DisableScaleIn"] is True
        assert resources[policy]["Properties"]["ScalingTargetId"] == {"Ref": "ScalableTarget"}
    assert "CpuScalingPolicy" in resources  # CPU still decides scale-in


def test_rolling_apps_scale_on_cpu_alone(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    """Every task serves under rolling: the service's CPU average is the real one."""
    resources = resolved(templates, services["movie"])
    assert {"BlueRequestScalingPolicy", "GreenRequestScalingPolicy"}.isdisjoint(resources)
    assert "CpuScalingPolicy" in resources
