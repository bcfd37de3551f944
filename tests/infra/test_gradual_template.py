"""The service template asks ECS for its LINEAR and CANARY deployments (issue 22).

Resolved with the parameters the CLI sends, as test_bluegreen_template.py does for
blue/green. What this proves: that a linear or canary app gets ECS's strategy with its own
configuration and everything blue/green has (green's group, both rules, the role, the
alarms on both groups, the breaker, approval). What it does not: that ECS moves the
weights as asked (only an AWS account shows that); cfn-lint checks the rendered values
against AWS's schema in test_cfn_lint.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from bookingapp_infra.params import STRATEGIES, ServiceParams
from bookingapp_infra.stacks import service_parameters
from tests.infra import cfn
from tests.infra.test_bluegreen_template import deployment_of, resolved, with_deployment

SHIFTING = {"blue_green": "BLUE_GREEN", "linear": "LINEAR", "canary": "CANARY"}
# What every traffic-shifting app needs beside blue's group and rule.
SHARED = {
    "GreenTargetGroup",
    "TestListenerRule",
    "InfrastructureRole",
    "GreenTarget5xxAlarm",
    "GreenUnhealthyTargetsAlarm",
    "BlueRequestScalingPolicy",
    "GreenRequestScalingPolicy",
}


@pytest.fixture
def linear(services: dict[str, ServiceParams]) -> ServiceParams:
    """movie, linear in 25 % steps held 2 minutes, bake 5."""
    return with_deployment(
        services["movie"],
        strategy="linear",
        step_percent=25.0,
        step_bake_time_minutes=2,
        bake_time_minutes=5,
    )


@pytest.fixture
def canary(services: dict[str, ServiceParams]) -> ServiceParams:
    """movie, canary 12.5 % held 3 minutes, bake 5."""
    return with_deployment(
        services["movie"],
        strategy="canary",
        canary_percent=12.5,
        canary_bake_time_minutes=3,
        bake_time_minutes=5,
    )


def test_linear_asks_ecs_for_its_steps_and_their_bake_time(
    templates: dict[str, Any], linear: ServiceParams
) -> None:
    deployment = deployment_of(resolved(templates, linear))
    assert deployment["Strategy"] == "LINEAR"
    assert deployment["LinearConfiguration"] == {
        "StepPercent": "25",
        "StepBakeTimeInMinutes": "2",
    }
    assert "CanaryConfiguration" not in deployment
    assert deployment["BakeTimeInMinutes"] == "5"


def test_canary_asks_ecs_for_its_share_and_how_long_it_is_held(
    templates: dict[str, Any], canary: ServiceParams
) -> None:
    deployment = deployment_of(resolved(templates, canary))
    assert deployment["Strategy"] == "CANARY"
    assert deployment["CanaryConfiguration"] == {
        "CanaryPercent": "12.5",
        "CanaryBakeTimeInMinutes": "3",
    }
    assert "LinearConfiguration" not in deployment
    assert deployment["BakeTimeInMinutes"] == "5"


@pytest.mark.parametrize("strategy", ["rolling", "blue_green"])
def test_rolling_and_blue_green_carry_no_gradual_configuration(
    templates: dict[str, Any], services: dict[str, ServiceParams], strategy: str
) -> None:
    p = with_deployment(services["movie"], strategy=strategy)
    deployment = deployment_of(resolved(templates, p))
    assert {"LinearConfiguration", "CanaryConfiguration"}.isdisjoint(deployment)


@pytest.mark.parametrize(("strategy", "ecs"), SHIFTING.items())
def test_every_traffic_shifting_app_gets_green_both_rules_the_role_and_both_alarm_pairs(
    templates: dict[str, Any], services: dict[str, ServiceParams], strategy: str, ecs: str
) -> None:
    resources = resolved(templates, with_deployment(services["movie"], strategy=strategy))
    deployment = deployment_of(resources)
    assert deployment["Strategy"] == ecs
    assert resources.keys() >= SHARED
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert [a["Ref"] for a in deployment["Alarms"]["AlarmNames"]] == [
        "Target5xxAlarm",
        "UnhealthyTargetsAlarm",
        "GreenTarget5xxAlarm",
        "GreenUnhealthyTargetsAlarm",
    ]
    (balancer,) = resources["Service"]["Properties"]["LoadBalancers"]
    assert balancer["AdvancedConfiguration"]["TestListenerRule"] == {"Ref": "TestListenerRule"}
    (action,) = resources["ListenerRule"]["Properties"]["Actions"]
    assert len(action["ForwardConfig"]["TargetGroups"]) == 2  # weights ECS can move


@pytest.mark.parametrize("strategy", ["linear", "canary"])
def test_approval_pauses_a_gradual_deployment_after_test_traffic(
    templates: dict[str, Any], services: dict[str, ServiceParams], strategy: str
) -> None:
    p = with_deployment(services["movie"], strategy=strategy, approval=True)
    (hook,) = deployment_of(resolved(templates, p))["LifecycleHooks"]
    assert hook["LifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT"]


@pytest.mark.parametrize("strategy", ["linear", "canary"])
def test_a_hand_run_redis_stack_asking_a_gradual_strategy_stays_rolling(
    templates: dict[str, Any], services: dict[str, ServiceParams], strategy: str
) -> None:
    """The loader refuses it; the template's ShiftsTraffic condition also needs Kind=app."""
    values = {**service_parameters(services["redis"]), "DeploymentStrategy": strategy}
    resources = cfn.resolve(templates["service"], values)
    deployment = deployment_of(resources)
    assert deployment["Strategy"] == "ROLLING"
    assert SHARED.isdisjoint(resources)
    assert {"LinearConfiguration", "CanaryConfiguration"}.isdisjoint(deployment)


def test_the_template_offers_exactly_the_strategies_params_declares(
    templates: dict[str, Any],
) -> None:
    allowed = templates["service"]["Parameters"]["DeploymentStrategy"]["AllowedValues"]
    assert sorted(allowed) == sorted(STRATEGIES)


@pytest.mark.parametrize(
    ("parameter", "low", "high", "default"),
    [
        ("StepPercent", "3", "100", "10"),
        ("StepBakeTimeInMinutes", "0", "1440", "6"),
        ("CanaryPercent", "0.1", "100", "5"),
        ("CanaryBakeTimeInMinutes", "0", "1440", "10"),
    ],
)
def test_the_gradual_parameters_hold_ecs_ranges_and_defaults(
    templates: dict[str, Any], parameter: str, low: str, high: str, default: str
) -> None:
    """A hand-run stack is held to what ECS accepts, and defaults to what ECS would pick."""
    spec = templates["service"]["Parameters"][parameter]
    assert (str(spec["MinValue"]), str(spec["MaxValue"]), str(spec["Default"])) == (
        low,
        high,
        default,
    )
    assert spec["Description"]
