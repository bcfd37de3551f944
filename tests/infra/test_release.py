"""release watches ECS to the end; approve, rollback and status act on the deployment.

A real boto3 ECS client with botocore's Stubber answers in place of AWS: every request and
every answer is checked against the ECS API model that the locked botocore ships (1.44),
so an operation or field ECS does not have fails the test. moto cannot play this part: it
has no ServiceDeployments API at all (ListServiceDeployments, DescribeServiceDeployments,
ContinueServiceDeployment, StopServiceDeployment), and its UpdateService makes no new
deployment. The answers below are shaped the way the ECS API reference documents them.

What this proves: which calls the CLI makes, in which order, with which arguments, and
how it reads ECS's answers (rollout states, lifecycle stages, paused hooks, rollbacks).
What it does not: how long real deployments take or that ECS moves traffic as documented.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bookingapp_infra import aws, cli, release
from bookingapp_infra.errors import InfraError, InputError

CLUSTER = "bookingapp-test"
FAMILY = "bookingapp-platform-movie"
OLD = f"arn:aws:ecs:eu-central-1:123456789012:task-definition/{FAMILY}:4"
NEW = f"arn:aws:ecs:eu-central-1:123456789012:task-definition/{FAMILY}:5"
IMAGE = "docker.io/someone/bookingapp-movie:2.0"
DEPLOYMENT = "arn:aws:ecs:eu-central-1:123456789012:service-deployment/bookingapp-test/movie/abc"
HOOK = "hook-1"


@pytest.fixture
def ecs(region: str) -> Iterator[tuple[Any, Stubber]]:
    """An ECS client whose answers are stubbed; fails if an expected call was not made."""
    client = boto3.client(
        "ecs", region_name=region, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def service(
    task_definition: str,
    deployments: list[dict[str, Any]],
    *,
    strategy: str = "ROLLING",
    running: int = 2,
    current: str | None = None,
) -> dict[str, Any]:
    """Return an ECS service as DescribeServices and UpdateService describe it."""
    svc = {
        "serviceName": "movie",
        "status": "ACTIVE",
        "taskDefinition": task_definition,
        "desiredCount": 2,
        "runningCount": running,
        "deploymentConfiguration": {"strategy": strategy},
        "deployments": deployments,
    }
    if current is not None:
        svc["currentServiceDeployment"] = current
    return svc


def rollout(ident: str, task_definition: str, state: str, **extra: Any) -> dict[str, Any]:
    """Return one entry of a service's deployments list."""
    return {"id": ident, "taskDefinition": task_definition, "rolloutState": state, **extra}


def expect_release_start(stubber: Stubber, updated: dict[str, Any]) -> None:
    """Stub the calls every release makes before it starts watching."""
    stubber.add_response(
        "describe_services",
        {"services": [service(OLD, [rollout("ecs-svc/old", OLD, "COMPLETED", status="PRIMARY")])]},
        {"cluster": CLUSTER, "services": ["movie"]},
    )
    stubber.add_response(
        "describe_task_definition",
        {
            "taskDefinition": {
                "family": FAMILY,
                "taskDefinitionArn": OLD,
                "containerDefinitions": [{"name": "movie", "image": "docker.io/x/movie:1"}],
                "cpu": "512",
                "memory": "1024",
            }
        },
        {"taskDefinition": OLD, "include": ["TAGS"]},
    )
    stubber.add_response(
        "register_task_definition",
        {"taskDefinition": {"taskDefinitionArn": NEW}},
        {
            "family": FAMILY,
            "containerDefinitions": [{"name": "movie", "image": IMAGE}],
            "cpu": "512",
            "memory": "1024",
        },
    )
    # No desiredCount: the autoscaler owns it.
    stubber.add_response(
        "update_service",
        {"service": updated},
        {"cluster": CLUSTER, "service": "movie", "taskDefinition": NEW},
    )


def described(ecs_service: dict[str, Any]) -> dict[str, Any]:
    """Return a DescribeServices answer holding one service."""
    return {"services": [ecs_service]}


def run_release(client: Any, timeout: float = 60) -> list[str]:
    """Release IMAGE to movie without waiting between polls; return what it said."""
    said: list[str] = []
    release.release(client, CLUSTER, "movie", IMAGE, timeout, poll=0, say=said.append)
    return said


# ---------------------------------------------------------------- rolling


NEW_PRIMARY = rollout("ecs-svc/new", NEW, "IN_PROGRESS", status="PRIMARY")
OLD_ACTIVE = rollout("ecs-svc/old", OLD, "COMPLETED", status="ACTIVE")


def test_a_rolling_release_ends_only_when_its_rollout_completes(ecs: Any) -> None:
    client, stubber = ecs
    expect_release_start(stubber, service(NEW, [NEW_PRIMARY, OLD_ACTIVE]))
    stubber.add_response("describe_services", described(service(NEW, [NEW_PRIMARY, OLD_ACTIVE])))
    stubber.add_response("describe_services", described(service(NEW, [NEW_PRIMARY])))
    done = {**NEW_PRIMARY, "rolloutState": "COMPLETED"}
    stubber.add_response("describe_services", described(service(NEW, [done])))

    said = run_release(client)

    assert said == [f"movie: registered {NEW}", f"movie: stable on {IMAGE}"]


def test_a_rollout_that_fails_after_looking_stable_is_a_failure(ecs: Any) -> None:
    """One deployment at the desired count is what the old check called stable.

    Here ECS still reports the rollout IN_PROGRESS at that moment, then FAILED: the
    release must fail, never print "stable".
    """
    client, stubber = ecs
    expect_release_start(stubber, service(NEW, [NEW_PRIMARY, OLD_ACTIVE]))
    stubber.add_response("describe_services", described(service(NEW, [NEW_PRIMARY])))
    failed = {
        **NEW_PRIMARY,
        "rolloutState": "FAILED",
        "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
    }
    stubber.add_response("describe_services", described(service(NEW, [failed])))

    with pytest.raises(InfraError) as caught:
        run_release(client)

    assert str(caught.value) == (
        "movie: deployment ecs-svc/new FAILED (ECS deployment circuit breaker: tasks failed "
        "to start.); ECS rolls back"
    )


def test_a_circuit_breaker_rollback_is_reported_as_a_failure(ecs: Any) -> None:
    """After the rollback the service runs the old revision at full count: not "stable"."""
    client, stubber = ecs
    expect_release_start(stubber, service(NEW, [NEW_PRIMARY, OLD_ACTIVE]))
    back = rollout("ecs-svc/rollback", OLD, "COMPLETED", status="PRIMARY")
    failed = {**NEW_PRIMARY, "status": "ACTIVE", "rolloutState": "FAILED"}
    stubber.add_response("describe_services", described(service(OLD, [back, failed])))

    with pytest.raises(InfraError, match=f"movie: ECS rolled back to {OLD}"):
        run_release(client)


def test_a_rollout_still_in_progress_at_the_deadline_says_so(ecs: Any) -> None:
    client, stubber = ecs
    expect_release_start(stubber, service(NEW, [NEW_PRIMARY, OLD_ACTIVE]))
    stubber.add_response(
        "describe_services", described(service(NEW, [NEW_PRIMARY, OLD_ACTIVE], running=1))
    )

    with pytest.raises(InfraError) as caught:
        run_release(client, timeout=0)

    assert "movie: not stable after 0 s (rollout IN_PROGRESS, running 1 of 2)" in str(caught.value)


# ---------------------------------------------------------------- blue/green


def service_deployment(
    status: str, stage: str, strategy: str = "BLUE_GREEN", **extra: Any
) -> dict[str, Any]:
    """Return a DescribeServiceDeployments answer for the one deployment."""
    return {
        "serviceDeployments": [
            {
                "serviceDeploymentArn": DEPLOYMENT,
                "status": status,
                "lifecycleStage": stage,
                "deploymentConfiguration": {"strategy": strategy},
                **extra,
            }
        ],
        "failures": [],
    }


PAUSED = {
    "lifecycleHookDetails": [
        {
            "hookId": HOOK,
            "targetType": "PAUSE",
            "status": "AWAITING_ACTION",
            "timeoutAction": "ROLLBACK",
        }
    ]
}


def expect_blue_green_start(stubber: Stubber) -> None:
    """Stub a release's start on a blue/green service whose new deployment is DEPLOYMENT."""
    updated = service(NEW, [], strategy="BLUE_GREEN", current=DEPLOYMENT)
    expect_release_start(stubber, updated)


def expect_stages(stubber: Stubber, *answers: dict[str, Any]) -> None:
    """Stub one DescribeServiceDeployments answer per poll, each for DEPLOYMENT."""
    for answer in answers:
        stubber.add_response(
            "describe_service_deployments", answer, {"serviceDeploymentArns": [DEPLOYMENT]}
        )


def test_a_blue_green_release_prints_each_stage_once_and_ends_on_success(ecs: Any) -> None:
    client, stubber = ecs
    expect_blue_green_start(stubber)
    expect_stages(
        stubber,
        service_deployment("PENDING", "RECONCILE_SERVICE"),
        service_deployment("IN_PROGRESS", "SCALE_UP"),
        service_deployment("IN_PROGRESS", "SCALE_UP"),
        service_deployment("IN_PROGRESS", "TEST_TRAFFIC_SHIFT"),
        service_deployment("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT"),
        service_deployment("IN_PROGRESS", "BAKE_TIME"),
        service_deployment("IN_PROGRESS", "BAKE_TIME"),
        service_deployment("SUCCESSFUL", "CLEAN_UP"),
    )

    said = run_release(client)

    assert said == [
        f"movie: registered {NEW}",
        "movie: RECONCILE_SERVICE: reconciling the revisions already running",
        "movie: SCALE_UP: starting green's tasks beside blue",
        "movie: TEST_TRAFFIC_SHIFT: moving test traffic (X-Bookingapp-Test: green) to green",
        "movie: PRODUCTION_TRAFFIC_SHIFT: moving production traffic to green",
        "movie: BAKE_TIME: baking: blue kept running so a rollback is instant",
        "movie: CLEAN_UP: stopping blue",
        f"movie: stable on {IMAGE}",
    ]


def test_a_blue_green_rollback_by_alarm_is_a_failure_naming_the_alarm(ecs: Any) -> None:
    client, stubber = ecs
    expect_blue_green_start(stubber)
    expect_stages(
        stubber,
        service_deployment("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT"),
        service_deployment(
            "ROLLBACK_IN_PROGRESS",
            "BAKE_TIME",
            statusReason="Deployment alarm triggered",
            alarms={"status": "TRIGGERED", "triggeredAlarmNames": ["movie-Target5xxAlarm"]},
        ),
    )

    with pytest.raises(InfraError) as caught:
        run_release(client)

    assert str(caught.value) == (
        "movie: deployment ROLLBACK_IN_PROGRESS: Deployment alarm triggered "
        "(alarms: movie-Target5xxAlarm); production stays on the previous revision"
    )


def test_a_deployment_that_rolled_back_before_the_first_poll_is_a_failure(ecs: Any) -> None:
    client, stubber = ecs
    expect_blue_green_start(stubber)
    expect_stages(
        stubber,
        service_deployment(
            "ROLLBACK_SUCCESSFUL", "CLEAN_UP", rollback={"reason": "green never became healthy"}
        ),
    )

    with pytest.raises(InfraError, match="ROLLBACK_SUCCESSFUL: green never became healthy"):
        run_release(client)


def test_a_paused_release_says_how_to_approve_once_and_goes_on_watching(ecs: Any) -> None:
    client, stubber = ecs
    expect_blue_green_start(stubber)
    expect_stages(
        stubber,
        service_deployment("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", **PAUSED),
        service_deployment("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", **PAUSED),
        service_deployment("SUCCESSFUL", "CLEAN_UP"),
    )

    said = run_release(client)

    hints = [line for line in said if "paused for approval" in line]
    assert hints == [
        "movie: paused for approval: green takes requests carrying 'X-Bookingapp-Test: "
        "green'; try it, then `bookingapp-infra approve movie` or `bookingapp-infra "
        "rollback movie`"
    ]
    assert said[-1] == f"movie: stable on {IMAGE}"


def test_a_release_still_paused_at_the_deadline_fails_saying_it_waits(ecs: Any) -> None:
    client, stubber = ecs
    expect_blue_green_start(stubber)
    expect_stages(stubber, service_deployment("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", **PAUSED))

    with pytest.raises(InfraError) as caught:
        run_release(client, timeout=0)

    assert str(caught.value) == (
        "movie: deployment not finished after 0 s (waiting for approval); it goes on: "
        "`bookingapp-infra status movie`"
    )


def test_without_a_current_deployment_arn_the_newest_one_in_progress_is_watched(
    ecs: Any,
) -> None:
    client, stubber = ecs
    expect_release_start(stubber, service(NEW, [], strategy="BLUE_GREEN"))
    older = DEPLOYMENT.replace("abc", "older")
    stubber.add_response(
        "list_service_deployments",
        {
            "serviceDeployments": [
                {"serviceDeploymentArn": DEPLOYMENT, "status": "PENDING", "createdAt": 200},
                {"serviceDeploymentArn": older, "status": "IN_PROGRESS", "createdAt": 100},
            ]
        },
        {"cluster": CLUSTER, "service": "movie", "status": ["PENDING", "IN_PROGRESS"]},
    )
    expect_stages(stubber, service_deployment("SUCCESSFUL", "CLEAN_UP"))

    assert run_release(client)[-1] == f"movie: stable on {IMAGE}"


def test_an_update_answer_naming_the_previous_deployment_is_not_watched(ecs: Any) -> None:
    """Watching the finished deployment from before would report success for nothing."""
    client, stubber = ecs
    previous = DEPLOYMENT.replace("abc", "previous")
    before = service(OLD, [], strategy="BLUE_GREEN", current=previous)
    stubber.add_response(
        "describe_services", described(before), {"cluster": CLUSTER, "services": ["movie"]}
    )
    stubber.add_response(
        "describe_task_definition",
        {
            "taskDefinition": {
                "family": FAMILY,
                "containerDefinitions": [{"name": "movie", "image": "x"}],
            }
        },
    )
    stubber.add_response("register_task_definition", {"taskDefinition": {"taskDefinitionArn": NEW}})
    stubber.add_response("update_service", {"service": {**before, "taskDefinition": NEW}})
    stubber.add_response(
        "list_service_deployments",
        {"serviceDeployments": [{"serviceDeploymentArn": DEPLOYMENT, "status": "PENDING"}]},
    )
    expect_stages(stubber, service_deployment("SUCCESSFUL", "CLEAN_UP"))

    assert run_release(client)[-1] == f"movie: stable on {IMAGE}"


# ---------------------------------------------------------------- linear and canary (issue 22)


def at_weight(
    status: str, stage: str, strategy: str, weight: float, **extra: Any
) -> dict[str, Any]:
    """Return a DescribeServiceDeployments answer whose new revision has this production share."""
    revision = {"arn": "rev/new", "requestedProductionTrafficWeight": weight}
    return service_deployment(status, stage, strategy, targetServiceRevision=revision, **extra)


def expect_gradual_start(stubber: Stubber, strategy: str) -> None:
    """Stub a release's start on a linear or canary service whose new deployment is DEPLOYMENT."""
    expect_release_start(stubber, service(NEW, [], strategy=strategy, current=DEPLOYMENT))


def test_a_linear_release_says_each_step_of_production_traffic_once(ecs: Any) -> None:
    """ECS reports the new revision's requested weight; each new one is said once, in order."""
    client, stubber = ecs
    expect_gradual_start(stubber, "LINEAR")
    shift = "PRODUCTION_TRAFFIC_SHIFT"
    expect_stages(
        stubber,
        at_weight("IN_PROGRESS", "TEST_TRAFFIC_SHIFT", "LINEAR", 0.0),
        at_weight("IN_PROGRESS", shift, "LINEAR", 25.0),
        at_weight("IN_PROGRESS", shift, "LINEAR", 25.0),  # held: said once
        at_weight("IN_PROGRESS", shift, "LINEAR", 50.0),
        at_weight("IN_PROGRESS", shift, "LINEAR", 75.0),
        at_weight("IN_PROGRESS", "BAKE_TIME", "LINEAR", 100.0),
        at_weight("SUCCESSFUL", "CLEAN_UP", "LINEAR", 100.0),
    )

    said = run_release(client)

    assert said == [
        f"movie: registered {NEW}",
        "movie: TEST_TRAFFIC_SHIFT: moving test traffic (X-Bookingapp-Test: green) to green",
        "movie: PRODUCTION_TRAFFIC_SHIFT: moving production traffic to green",
        "movie: production traffic: new revision 25 %, previous 75 %",
        "movie: production traffic: new revision 50 %, previous 50 %",
        "movie: production traffic: new revision 75 %, previous 25 %",
        "movie: BAKE_TIME: baking: blue kept running so a rollback is instant",
        "movie: production traffic: new revision 100 %, previous 0 %",
        "movie: CLEAN_UP: stopping blue",
        f"movie: stable on {IMAGE}",
    ]


def test_a_canary_release_says_the_canary_share_then_all(ecs: Any) -> None:
    client, stubber = ecs
    expect_gradual_start(stubber, "CANARY")
    expect_stages(
        stubber,
        at_weight("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", "CANARY", 5.0),
        at_weight("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", "CANARY", 5.0),
        at_weight("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", "CANARY", 100.0),
        at_weight("SUCCESSFUL", "CLEAN_UP", "CANARY", 100.0),
    )

    said = run_release(client)

    traffic = [line for line in said if "production traffic:" in line]
    assert traffic == [
        "movie: production traffic: new revision 5 %, previous 95 %",
        "movie: production traffic: new revision 100 %, previous 0 %",
    ]
    assert said[-1] == f"movie: stable on {IMAGE}"


def test_a_linear_step_rolled_back_by_its_alarm_fails_where_traffic_stood(ecs: Any) -> None:
    """The 5xx alarm fires while 30 % is held: the release fails naming it; the step was said."""
    client, stubber = ecs
    expect_gradual_start(stubber, "LINEAR")
    expect_stages(
        stubber,
        at_weight("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", "LINEAR", 30.0),
        at_weight(
            "ROLLBACK_IN_PROGRESS",
            "PRODUCTION_TRAFFIC_SHIFT",
            "LINEAR",
            0.0,
            statusReason="Deployment alarm triggered",
            alarms={"status": "TRIGGERED", "triggeredAlarmNames": ["movie-GreenTarget5xxAlarm"]},
        ),
    )
    said: list[str] = []

    with pytest.raises(InfraError) as caught:
        release.release(client, CLUSTER, "movie", IMAGE, 60, poll=0, say=said.append)

    assert "movie: production traffic: new revision 30 %, previous 70 %" in said
    assert str(caught.value) == (
        "movie: deployment ROLLBACK_IN_PROGRESS: Deployment alarm triggered "
        "(alarms: movie-GreenTarget5xxAlarm); production stays on the previous revision"
    )


def test_a_paused_canary_says_how_to_approve_like_blue_green(ecs: Any) -> None:
    client, stubber = ecs
    expect_gradual_start(stubber, "CANARY")
    expect_stages(
        stubber,
        at_weight("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", "CANARY", 0.0, **PAUSED),
        at_weight("SUCCESSFUL", "CLEAN_UP", "CANARY", 100.0),
    )

    said = run_release(client)

    assert any("paused for approval" in line and "approve movie" in line for line in said)


@pytest.mark.parametrize("strategy", ["LINEAR", "CANARY"])
def test_rollback_mid_way_through_production_steps_stops_the_deployment(
    ecs: Any, strategy: str
) -> None:
    """Between steps nothing is paused: rollback stops the deployment with ROLLBACK."""
    client, stubber = ecs
    expect_in_progress(
        stubber, at_weight("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", strategy, 20.0)
    )
    stubber.add_response(
        "stop_service_deployment",
        {"serviceDeploymentArn": DEPLOYMENT},
        {"serviceDeploymentArn": DEPLOYMENT, "stopType": "ROLLBACK"},
    )

    release.rollback(client, CLUSTER, "movie", say=lambda _: None)


@pytest.mark.parametrize("strategy", ["LINEAR", "CANARY"])
def test_approve_continues_a_paused_gradual_deployment(ecs: Any, strategy: str) -> None:
    client, stubber = ecs
    expect_in_progress(
        stubber, at_weight("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", strategy, 0.0, **PAUSED)
    )
    stubber.add_response(
        "continue_service_deployment",
        {"serviceDeploymentArn": DEPLOYMENT},
        {"serviceDeploymentArn": DEPLOYMENT, "hookId": HOOK, "action": "CONTINUE"},
    )

    assert release.approve(client, CLUSTER, "movie", say=lambda _: None) == DEPLOYMENT


def test_a_release_is_watched_through_every_step_and_bake_by_default(
    services: dict[str, Any],
) -> None:
    """The default watch covers 10 % steps held 6 minutes (54 min) and the 15-minute bake."""
    movie = services["movie"]
    linear = dataclasses.replace(
        movie, deployment=dataclasses.replace(movie.deployment, strategy="linear")
    )
    assert cli.release_timeout(linear) == cli.RELEASE_TIMEOUT + 60 * (9 * 6 + 15)
    canary = dataclasses.replace(
        movie, deployment=dataclasses.replace(movie.deployment, strategy="canary", approval=True)
    )
    assert cli.release_timeout(canary) == cli.RELEASE_TIMEOUT + 60 * (10 + 15) + cli.APPROVAL_WAIT


# ---------------------------------------------------------------- approve, rollback, status


def expect_in_progress(stubber: Stubber, answer: dict[str, Any]) -> None:
    """Stub finding DEPLOYMENT in progress and describing it as answer."""
    stubber.add_response(
        "list_service_deployments",
        {"serviceDeployments": [{"serviceDeploymentArn": DEPLOYMENT, "status": "IN_PROGRESS"}]},
        {"cluster": CLUSTER, "service": "movie", "status": ["PENDING", "IN_PROGRESS"]},
    )
    expect_stages(stubber, answer)


def test_approve_continues_the_paused_hook(ecs: Any) -> None:
    client, stubber = ecs
    expect_in_progress(
        stubber, service_deployment("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", **PAUSED)
    )
    stubber.add_response(
        "continue_service_deployment",
        {"serviceDeploymentArn": DEPLOYMENT},
        {"serviceDeploymentArn": DEPLOYMENT, "hookId": HOOK, "action": "CONTINUE"},
    )

    assert release.approve(client, CLUSTER, "movie", say=lambda _: None) == DEPLOYMENT


def test_approve_refuses_a_deployment_that_is_not_paused(ecs: Any) -> None:
    client, stubber = ecs
    expect_in_progress(stubber, service_deployment("IN_PROGRESS", "SCALE_UP"))

    with pytest.raises(InputError, match="movie: the deployment in progress is not waiting"):
        release.approve(client, CLUSTER, "movie")


def test_rollback_of_a_paused_deployment_answers_its_hook_with_rollback(ecs: Any) -> None:
    client, stubber = ecs
    expect_in_progress(
        stubber, service_deployment("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", **PAUSED)
    )
    stubber.add_response(
        "continue_service_deployment",
        {"serviceDeploymentArn": DEPLOYMENT},
        {"serviceDeploymentArn": DEPLOYMENT, "hookId": HOOK, "action": "ROLLBACK"},
    )

    release.rollback(client, CLUSTER, "movie", say=lambda _: None)


def test_rollback_of_a_running_deployment_stops_it_with_rollback(ecs: Any) -> None:
    client, stubber = ecs
    expect_in_progress(stubber, service_deployment("IN_PROGRESS", "BAKE_TIME"))
    stubber.add_response(
        "stop_service_deployment",
        {"serviceDeploymentArn": DEPLOYMENT},
        {"serviceDeploymentArn": DEPLOYMENT, "stopType": "ROLLBACK"},
    )

    release.rollback(client, CLUSTER, "movie", say=lambda _: None)


# ---------------------------------------------------------------- through the CLI


class StubbedSession:
    """Hands the CLI the stubbed ECS client, as aws.make_session would hand a real one."""

    def __init__(self, ecs_client: Any) -> None:
        self.ecs = ecs_client

    def client(self, service_name: str, **_: Any) -> Any:
        """Return the stubbed ECS client; any other service is a test error."""
        assert service_name == "ecs", f"unexpected {service_name} client"
        return self.ecs


@pytest.fixture
def cli_ecs(ecs: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Stubber]:
    """The stubbed ECS client, wired in as the CLI's session."""
    monkeypatch.setattr(aws, "make_session", lambda: StubbedSession(ecs[0]))
    return ecs


def test_the_cli_refuses_approving_with_nothing_in_progress_with_exit_2(
    cli_ecs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, stubber = cli_ecs
    stubber.add_response(
        "list_service_deployments",
        {"serviceDeployments": []},
        {"cluster": CLUSTER, "service": "movie", "status": ["PENDING", "IN_PROGRESS"]},
    )

    assert cli.main(["approve", "movie", "--cluster", CLUSTER]) == 2

    assert capsys.readouterr().err == "bookingapp-infra: error: movie: no deployment in progress\n"


def test_the_cli_exits_1_when_the_release_rolls_back(
    cli_ecs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, stubber = cli_ecs
    expect_blue_green_start(stubber)
    expect_stages(stubber, service_deployment("ROLLBACK_SUCCESSFUL", "CLEAN_UP"))

    code = cli.main(["release", "movie", "--image", IMAGE, "--cluster", CLUSTER, "--poll", "0"])

    assert code == 1
    captured = capsys.readouterr()
    assert "stable" not in captured.out
    assert captured.err.startswith("bookingapp-infra: error: movie: deployment ROLLBACK_SUCCESSFUL")


def test_status_of_one_service_shows_its_deployment_in_progress(
    cli_ecs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, stubber = cli_ecs
    svc = service(NEW, [rollout("ecs-svc/new", NEW, "IN_PROGRESS", status="PRIMARY")], running=4)
    stubber.add_response("describe_services", described(svc))
    stubber.add_response(
        "describe_task_definition",
        {"taskDefinition": {"containerDefinitions": [{"name": "movie", "image": IMAGE}]}},
        {"taskDefinition": NEW},
    )
    revision = {"requestedTaskCount": 2, "runningTaskCount": 2}
    expect_in_progress(
        stubber,
        service_deployment(
            "IN_PROGRESS",
            "POST_TEST_TRAFFIC_SHIFT",
            targetServiceRevision={
                "arn": "rev/new",
                **revision,
                "requestedProductionTrafficWeight": 0.0,
                "requestedTestTrafficWeight": 100.0,
            },
            sourceServiceRevisions=[
                {
                    "arn": "rev/old",
                    **revision,
                    "requestedProductionTrafficWeight": 100.0,
                    "requestedTestTrafficWeight": 0.0,
                }
            ],
            **PAUSED,
        ),
    )

    assert cli.main(["status", "movie", "--cluster", CLUSTER]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == [
        f"movie: running 4/2, deployments 1 (IN_PROGRESS), image {IMAGE}",
        "movie: BLUE_GREEN deployment IN_PROGRESS at POST_TEST_TRAFFIC_SHIFT",
        f"  {DEPLOYMENT}",
        "  new rev/new: running 2/2, production 0 %, test 100 %",
        "  old rev/old: running 2/2, production 100 %, test 0 %",
    ]
    assert "approve movie" in lines[5]


def test_the_ecs_model_knows_every_blue_green_call_the_cli_makes(ecs: Any) -> None:
    """The locked botocore is new enough: an older one fails here, not in front of a user."""
    client, _ = ecs
    operations = set(client.meta.service_model.operation_names)
    assert {
        "ListServiceDeployments",
        "DescribeServiceDeployments",
        "ContinueServiceDeployment",
        "StopServiceDeployment",
    } <= operations
    hook = client.meta.service_model.shape_for("DeploymentLifecycleHookTargetType")
    assert "PAUSE" in hook.enum


def test_status_of_a_service_not_deployed_says_so_without_more_calls(
    cli_ecs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, stubber = cli_ecs
    stubber.add_response("describe_services", {"services": [], "failures": []})

    assert cli.main(["status", "movie", "--cluster", CLUSTER]) == 0

    assert capsys.readouterr().out == "movie: (no ECS service)\n"
