"""deploy and destroy drive CloudFormation in the right order with the right parameters.

A real boto3 CloudFormation client with botocore's Stubber answers in place of AWS: every
request is still checked against the CloudFormation API model, and the answers are the
ones AWS documents. What this proves: stack order, create vs update, the DesiredCount
rule for autoscaled services on update, and the error messages. What it does not: that
CloudFormation accepts the templates (cfn-lint) or that the stacks work (a real deploy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bookingapp_infra import deploy
from bookingapp_infra.errors import InfraError
from bookingapp_infra.params import ServiceParams
from bookingapp_infra.stacks import Stack, plan, service_stack
from tests.infra.conftest import StubbedAws, app_stacks, stack_order

UPDATED = "UPDATE_COMPLETE"

MISSING = "Stack with id {} does not exist"


@dataclasses.dataclass
class FakeLive:
    """deploy.Live with fixed answers; it records what deploy asked it to do."""

    images: dict[str, str] = dataclasses.field(default_factory=dict)
    colours: dict[str, str] = dataclasses.field(default_factory=dict)
    kept: list[str] = dataclasses.field(default_factory=list)
    asked: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def running_image(self, service: str) -> str | None:
        """Return the image a release put in place, if the test says there is one."""
        return self.images.get(service)

    def live_colour(self, stack_name: str) -> str:
        """Return the colour the test says production is on (blue unless told)."""
        self.asked.append(("live_colour", stack_name))
        return self.colours.get(stack_name, "blue")

    def wait_for_quiet_alarms(self, service: str, say: Any) -> None:
        """Record that deploy waited for the service's alarms."""
        self.asked.append(("quiet_alarms", service))

    def continue_first_pause(self, service: str, say: Any) -> None:
        """Record that deploy looked for a paused first deployment."""
        self.asked.append(("first_pause", service))

    def kept_file_systems(self, platform_stack: str) -> list[str]:
        """Return the file systems the test says a destroy kept."""
        self.asked.append(("kept_file_systems", platform_stack))
        return self.kept


@pytest.fixture
def cfn(region: str) -> Iterator[tuple[Any, Stubber, list[tuple[str, dict[str, Any]]]]]:
    """A CloudFormation client whose answers are stubbed; yields it, the stubber and a call log."""
    client = boto3.client(
        "cloudformation", region_name=region, aws_access_key_id="x", aws_secret_access_key="x"
    )
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.cloudformation.*", record)
    with Stubber(client) as stubber:
        yield client, stubber, calls
        stubber.assert_no_pending_responses()


def stack(name: str, status: str) -> dict[str, Any]:
    """Return a DescribeStacks answer for one stack."""
    return {"Stacks": [{"StackName": name, "StackStatus": status, "CreationTime": "2020-01-01"}]}


def expect_missing(stubber: Stubber, name: str) -> None:
    """Answer DescribeStacks for name as AWS does when there is no such stack."""
    stubber.add_client_error(
        "describe_stacks",
        "ValidationError",
        MISSING.format(name),
        expected_params={"StackName": name},
    )


def parameters(call: dict[str, Any]) -> dict[str, str]:
    """Return a Create/UpdateStack call's parameters as a dict."""
    return {p["ParameterKey"]: p["ParameterValue"] for p in call["Parameters"]}


def test_first_deploy_creates_every_stack_in_order_with_desired_counts(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    client, stubber, calls = cfn
    stacks = plan(services)
    for s in stacks:
        expect_missing(stubber, s.name)
        stubber.add_response("create_stack", {"StackId": f"id-{s.name}"})
        stubber.add_response("describe_stacks", stack(s.name, "CREATE_COMPLETE"))
    said: list[str] = []

    deploy.deploy_all(client, stacks, timeout=60, say=said.append)

    created = [c for op, c in calls if op == "CreateStack"]
    assert [c["StackName"] for c in created] == [f"bookingapp-{n}" for n in stack_order(services)]
    for call in created[2:]:
        name = call["StackName"].removeprefix("bookingapp-")
        assert parameters(call)["DesiredCount"] == str(services[name].desired_count)
    assert all(c["Capabilities"] == ["CAPABILITY_IAM"] for c in created)
    assert said == [f"{s.name}: created" for s in stacks]


def test_redeploy_leaves_autoscaled_counts_alone_but_sets_redis(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    client, stubber, calls = cfn
    stacks = plan(services)[2:]  # the service stacks
    for s in stacks:
        stubber.add_response("describe_stacks", stack(s.name, "UPDATE_COMPLETE"))
        stubber.add_response("update_stack", {"StackId": f"id-{s.name}"})
        stubber.add_response("describe_stacks", stack(s.name, "UPDATE_COMPLETE"))

    deploy.deploy_all(client, stacks, timeout=60, say=lambda _: None)

    counts = {
        c["StackName"].removeprefix("bookingapp-"): parameters(c)["DesiredCount"]
        for op, c in calls
        if op == "UpdateStack"
    }
    # Redis has no autoscaler: its count is the file's; every app's is left to its scaler.
    assert counts == {"redis": "1"} | dict.fromkeys(app_stacks(services), "")


def test_a_stack_without_changes_is_reported_unchanged(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    client, stubber, _ = cfn
    network = plan(services)[0]
    stubber.add_response("describe_stacks", stack(network.name, "CREATE_COMPLETE"))
    stubber.add_client_error("update_stack", "ValidationError", "No updates are to be performed.")

    assert deploy.deploy_stack(client, network, timeout=60) == "unchanged"


def test_a_stack_whose_creation_failed_is_removed_alone_before_deploying_again(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    """The hint names the one stack; the old hint's bare `destroy` deleted every stack."""
    client, stubber, _ = cfn
    platform = plan(services)[1]
    stubber.add_response("describe_stacks", stack(platform.name, "ROLLBACK_COMPLETE"))

    with pytest.raises(InfraError) as caught:
        deploy.deploy_stack(client, platform, timeout=60)

    assert str(caught.value) == (
        "stack bookingapp-platform is ROLLBACK_COMPLETE: a failed stack can only be deleted; "
        "`bookingapp-infra destroy --stack bookingapp-platform --yes` removes just this "
        "stack, then deploy again"
    )


def test_a_failed_stack_names_the_resource_and_reason(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    client, stubber, _ = cfn
    home: Stack = plan(services)[4]
    expect_missing(stubber, home.name)
    stubber.add_response("create_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(home.name, "ROLLBACK_COMPLETE"))
    event = {"StackId": "id", "EventId": "e", "StackName": home.name, "Timestamp": "2020-01-01"}
    stubber.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                {**event, "LogicalResourceId": "TaskDefinition", "ResourceStatus": "DELETE_FAILED"},
                {
                    **event,
                    "LogicalResourceId": "Service",
                    "ResourceStatus": "CREATE_FAILED",
                    "ResourceStatusReason": "Invalid request provided: no such image",
                },
                {
                    **event,
                    "LogicalResourceId": home.name,
                    "ResourceStatus": "CREATE_IN_PROGRESS",
                    "ResourceStatusReason": "User Initiated",
                },
            ]
        },
    )

    with pytest.raises(InfraError) as caught:
        deploy.deploy_stack(client, home, timeout=60)

    assert str(caught.value) == (
        "stack bookingapp-home failed: Service: Invalid request provided: no such image; "
        "`bookingapp-infra destroy --stack bookingapp-home --yes` removes just this stack "
        "(then deploy again)"
    )


def test_destroy_deletes_services_before_what_they_import(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    client, stubber, calls = cfn
    stacks = plan(services)
    for s in reversed(stacks):
        if s.name == "bookingapp-bus":
            expect_missing(stubber, s.name)
            continue
        stubber.add_response("describe_stacks", stack(s.name, "CREATE_COMPLETE"))
        stubber.add_response("delete_stack", {})
        stubber.add_client_error("describe_stacks", "ValidationError", MISSING.format(s.name))
    said: list[str] = []

    deploy.destroy_all(client, stacks, timeout=60, say=said.append)

    deleted = [c["StackName"] for op, c in calls if op == "DeleteStack"]
    # Newest first; bus was never deployed, so there is nothing to delete for it.
    newest_first = [f"bookingapp-{n}" for n in reversed(stack_order(services))]
    assert deleted == [name for name in newest_first if name != "bookingapp-bus"]
    assert "bookingapp-bus: not deployed" in said


# ---------------------------------------------------------------- a release survives a deploy


def deployed(name: str, image: str, file_image: str | None = None) -> dict[str, Any]:
    """Return a DescribeStacks answer for a service stack last deployed with image."""
    answer = stack(name, "UPDATE_COMPLETE")
    answer["Stacks"][0]["Parameters"] = [
        {"ParameterKey": "Image", "ParameterValue": image},
        {"ParameterKey": "FileImage", "ParameterValue": file_image or image},
    ]
    return answer


RELEASED = "docker.io/someone/bookingapp-home:9.9"


def test_a_redeploy_keeps_the_image_a_release_put_in_place(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    """The toml still names the image of the last deploy; the service runs a released one."""
    client, stubber, calls = cfn
    home = plan(services)[4]
    toml_image = services["home"].image
    stubber.add_response("describe_stacks", deployed(home.name, toml_image))
    stubber.add_response("update_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(home.name, "UPDATE_COMPLETE"))
    said: list[str] = []

    deploy.deploy_all(client, [home], 60, said.append, live=FakeLive(images={"home": RELEASED}))

    (update,) = [c for op, c in calls if op == "UpdateStack"]
    assert parameters(update)["Image"] == RELEASED != toml_image
    assert said == [
        f"bookingapp-home: keeping the released image {RELEASED} (home.toml still says "
        f"{toml_image}; put the released image there to make it permanent)",
        "bookingapp-home: updated",
    ]


def test_a_redeploy_refuses_when_both_the_toml_and_the_running_image_changed(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    client, stubber, calls = cfn
    home = plan(services)[4]
    stubber.add_response("describe_stacks", deployed(home.name, "docker.io/someone/home:older"))

    with pytest.raises(InfraError) as caught:
        deploy.deploy_stack(client, home, 60, live=FakeLive(images={"home": RELEASED}))

    message = str(caught.value)
    assert f"the service runs {RELEASED} (released after the last deploy)" in message
    assert f'set image = "{RELEASED}" in infra/services/home.toml' in message
    assert f"`bookingapp-infra release home --image {services['home'].image}` first" in message
    assert not [c for op, c in calls if op == "UpdateStack"]


@pytest.mark.parametrize(
    ("last", "running"),
    [
        pytest.param(
            "docker.io/someone/home:older", "docker.io/someone/home:older", id="toml-changed"
        ),
        pytest.param("docker.io/someone/home:older", None, id="no-ecs-service"),
    ],
)
def test_a_redeploy_sends_the_toml_image_when_no_release_happened(
    cfn: Any, services: dict[str, ServiceParams], last: str, running: str | None
) -> None:
    client, stubber, calls = cfn
    home = plan(services)[4]
    stubber.add_response("describe_stacks", deployed(home.name, last))
    stubber.add_response("update_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(home.name, "UPDATE_COMPLETE"))

    deploy.deploy_stack(
        client, home, 60, live=FakeLive(images={"home": running} if running else {})
    )

    (update,) = [c for op, c in calls if op == "UpdateStack"]
    assert parameters(update)["Image"] == services["home"].image


def test_destroying_one_stack_leaves_the_others(cfn: Any) -> None:
    client, stubber, calls = cfn
    stubber.add_response("describe_stacks", stack("bookingapp-home", "ROLLBACK_COMPLETE"))
    stubber.add_response("delete_stack", {}, {"StackName": "bookingapp-home"})
    stubber.add_client_error("describe_stacks", "ValidationError", MISSING.format("x"))
    said: list[str] = []

    deploy.destroy_stack(client, "bookingapp-home", 60, said.append)

    assert [c["StackName"] for op, c in calls if op == "DeleteStack"] == ["bookingapp-home"]
    assert said == ["bookingapp-home: deleted"]


def test_a_second_redeploy_still_keeps_the_release(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    """The last deploy already kept the release: the stack's Image is the released one."""
    client, stubber, calls = cfn
    home = plan(services)[4]
    toml_image = services["home"].image
    stubber.add_response("describe_stacks", deployed(home.name, RELEASED, file_image=toml_image))
    stubber.add_response("update_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(home.name, "UPDATE_COMPLETE"))

    deploy.deploy_stack(client, home, 60, live=FakeLive(images={"home": RELEASED}))

    (update,) = [c for op, c in calls if op == "UpdateStack"]
    assert parameters(update)["Image"] == RELEASED
    assert parameters(update)["FileImage"] == toml_image


def test_a_new_image_in_the_toml_after_a_kept_release_is_deployed(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    """The file moved on from what it said at the kept release: the file wins."""
    client, stubber, calls = cfn
    home = plan(services)[4]
    stubber.add_response(
        "describe_stacks", deployed(home.name, RELEASED, file_image="docker.io/x/home:0.1")
    )
    stubber.add_response("update_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(home.name, "UPDATE_COMPLETE"))

    deploy.deploy_stack(client, home, 60, live=FakeLive(images={"home": RELEASED}))

    (update,) = [c for op, c in calls if op == "UpdateStack"]
    assert parameters(update)["Image"] == services["home"].image


def test_updating_a_service_that_pauses_for_approval_says_how_to_let_it_finish(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    client, stubber, _ = cfn
    movie = services["movie"]
    paused = dataclasses.replace(
        movie,
        deployment=dataclasses.replace(movie.deployment, strategy="blue_green", approval=True),
    )
    target = service_stack(paused)
    stubber.add_response("describe_stacks", stack(target.name, "UPDATE_COMPLETE"))
    stubber.add_client_error("update_stack", "ValidationError", "No updates are to be performed.")
    said: list[str] = []

    assert deploy.deploy_stack(client, target, 60, said.append) == "unchanged"

    assert said == [
        "bookingapp-movie: a task definition change is a blue_green deployment and pauses after "
        "test traffic: `bookingapp-infra approve movie` from another terminal lets it finish"
    ]


# ---------------------------------------------------------------- issue 21: the first real deploy


def blue_green(p: ServiceParams, **settings: Any) -> ServiceParams:
    """Return p deployed blue/green, with more [deployment] settings if given."""
    return dataclasses.replace(
        p, deployment=dataclasses.replace(p.deployment, strategy="blue_green", **settings)
    )


def with_parameters(answer: dict[str, Any], **values: str) -> dict[str, Any]:
    """Return a DescribeStacks answer whose stack was deployed with these parameters."""
    answer["Stacks"][0]["Parameters"] = [
        {"ParameterKey": k, "ParameterValue": v} for k, v in values.items()
    ]
    return answer


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        ("UPDATE_IN_PROGRESS", "CloudFormation is still working on it; wait until it ends"),
        ("CREATE_IN_PROGRESS", "CloudFormation is still working on it; wait until it ends"),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "CloudFormation is still working on it"),
        ("UPDATE_ROLLBACK_IN_PROGRESS", "CloudFormation is still working on it"),
        ("DELETE_IN_PROGRESS", "CloudFormation is still working on it"),
        (
            "UPDATE_ROLLBACK_FAILED",
            "`aws cloudformation continue-update-rollback --stack-name bookingapp-home`",
        ),
        ("REVIEW_IN_PROGRESS", "`bookingapp-infra destroy --stack bookingapp-home --yes`"),
    ],
)
def test_a_stack_no_update_can_touch_is_refused_in_one_line_saying_what_to_do(
    cfn: Any, services: dict[str, ServiceParams], status: str, advice: str
) -> None:
    """Sending the update anyway gets CloudFormation's bare ValidationError instead."""
    client, stubber, calls = cfn
    home = plan(services)[4]
    stubber.add_response("describe_stacks", stack(home.name, status))

    with pytest.raises(InfraError) as caught:
        deploy.deploy_stack(client, home, timeout=60)

    message = str(caught.value)
    assert message.startswith(f"stack bookingapp-home is {status}: ")
    assert advice in message
    assert "then deploy again" in message
    assert "\n" not in message
    assert [op for op, _ in calls] == ["DescribeStacks"]


def test_a_redeploy_keeps_production_on_green_after_an_odd_number_of_releases(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    client, stubber, calls = cfn
    target = service_stack(blue_green(services["movie"]))
    stubber.add_response(
        "describe_stacks",
        with_parameters(stack(target.name, "UPDATE_COMPLETE"), DeploymentStrategy="blue_green"),
    )
    stubber.add_response("update_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(target.name, "UPDATE_COMPLETE"))
    live = FakeLive(colours={target.name: "green"})

    deploy.deploy_stack(client, target, 60, live=live)

    (update,) = [c for op, c in calls if op == "UpdateStack"]
    assert parameters(update)["LiveColour"] == "green"
    assert ("live_colour", target.name) in live.asked


def test_switching_to_rolling_while_green_is_live_is_refused(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    """Rolling forwards to blue's group only: with green live that group has no tasks."""
    client, stubber, calls = cfn
    target = service_stack(services["movie"])  # the file says rolling again
    stubber.add_response(
        "describe_stacks",
        with_parameters(stack(target.name, "UPDATE_COMPLETE"), DeploymentStrategy="blue_green"),
    )

    with pytest.raises(InfraError) as caught:
        deploy.deploy_stack(client, target, 60, live=FakeLive(colours={target.name: "green"}))

    assert "production runs on the green target group" in str(caught.value)
    assert "`bookingapp-infra release movie --image ...` once more" in str(caught.value)
    assert not [c for op, c in calls if op == "UpdateStack"]


def test_a_rolling_stack_is_not_asked_for_its_colour(
    cfn: Any, services: dict[str, ServiceParams]
) -> None:
    client, stubber, calls = cfn
    target = service_stack(blue_green(services["movie"]))  # switching rolling -> blue/green
    stubber.add_response(
        "describe_stacks",
        with_parameters(stack(target.name, "UPDATE_COMPLETE"), DeploymentStrategy="rolling"),
    )
    stubber.add_response("update_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(target.name, "UPDATE_COMPLETE"))
    live = FakeLive()

    deploy.deploy_stack(client, target, 60, live=live)

    (update,) = [c for op, c in calls if op == "UpdateStack"]
    assert parameters(update)["LiveColour"] == "blue"
    assert live.asked == []


def test_creating_a_service_that_pauses_for_approval_answers_its_first_pause(
    cfn: Any, services: dict[str, ServiceParams], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ECS pauses a first deployment too; unanswered, the create fails after a day."""
    monkeypatch.setattr(deploy, "POLL_SECONDS", 0)
    client, stubber, _ = cfn
    target = service_stack(blue_green(services["movie"], approval=True))
    expect_missing(stubber, target.name)
    stubber.add_response("create_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(target.name, "CREATE_IN_PROGRESS"))
    stubber.add_response("describe_stacks", stack(target.name, "CREATE_IN_PROGRESS"))
    stubber.add_response("describe_stacks", stack(target.name, "CREATE_COMPLETE"))
    live = FakeLive()

    assert deploy.deploy_stack(client, target, 60, live=live) == "created"

    assert live.asked == [("first_pause", "movie"), ("first_pause", "movie")]


def test_creating_a_service_without_approval_never_looks_for_a_pause(
    cfn: Any, services: dict[str, ServiceParams], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deploy, "POLL_SECONDS", 0)
    client, stubber, _ = cfn
    target = service_stack(blue_green(services["movie"]))
    expect_missing(stubber, target.name)
    stubber.add_response("create_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(target.name, "CREATE_IN_PROGRESS"))
    stubber.add_response("describe_stacks", stack(target.name, "CREATE_COMPLETE"))
    live = FakeLive()

    deploy.deploy_stack(client, target, 60, live=live)

    assert live.asked == []


def with_task(answer: dict[str, Any], arn: str) -> dict[str, Any]:
    """Return a DescribeStacks answer whose service stack outputs this task definition."""
    answer["Stacks"][0]["Outputs"] = [{"OutputKey": "TaskDefinitionArn", "OutputValue": arn}]
    return answer


@pytest.mark.parametrize(("new_task", "waits"), [("td/redis:2", True), ("td/redis:1", False)])
def test_apps_wait_for_quiet_alarms_only_after_the_redis_task_was_replaced(
    cfn: Any, services: dict[str, ServiceParams], new_task: str, waits: bool
) -> None:
    """A replaced Redis task means a minute or two of 503s, which the 5xx alarms count."""
    client, stubber, _ = cfn
    redis, home = plan(services)[2], plan(services)[4]
    stubber.add_response("describe_stacks", with_task(stack(redis.name, UPDATED), "td/redis:1"))
    stubber.add_response("update_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", with_task(stack(redis.name, UPDATED), new_task))
    if waits:
        stubber.add_response("describe_stacks", stack(home.name, UPDATED))  # it exists
    stubber.add_response("describe_stacks", stack(home.name, UPDATED))
    stubber.add_client_error("update_stack", "ValidationError", "No updates are to be performed.")
    live = FakeLive()

    deploy.deploy_all(client, [redis, home], 60, lambda _: None, live)

    assert (("quiet_alarms", "home") in live.asked) is waits


# ---------------------------------------------------------------- service-linked roles


@pytest.fixture
def iam(stubbed_aws: StubbedAws) -> tuple[Any, Stubber]:
    """The stubbed IAM client and its stubber (tests/infra/conftest.py)."""
    return stubbed_aws.client("iam"), stubbed_aws["iam"]


ECS_PRINCIPAL, SCALING_PRINCIPAL = "ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com"
ECS_ROLE, SCALING_ROLE = (
    "AWSServiceRoleForECS",
    "AWSServiceRoleForApplicationAutoScaling_ECSService",
)


def created_role(name: str, principal: str) -> dict[str, Any]:
    """Return IAM's CreateServiceLinkedRole answer."""
    return {
        "Role": {
            "Path": f"/aws-service-role/{principal}/",
            "RoleName": name,
            "RoleId": "AROAEXAMPLE1234567890",
            "Arn": f"arn:aws:iam::123456789012:role/aws-service-role/{principal}/{name}",
            "CreateDate": "2020-01-01",
        }
    }


def taken(name: str) -> str:
    """Return IAM's message when a service-linked role exists already."""
    return (
        f"Service role name {name} has been taken in this account, please try a different suffix."
    )


def test_a_fresh_account_gets_both_service_linked_roles_before_the_first_stack(iam: Any) -> None:
    client, stubber = iam
    for principal, name in ((ECS_PRINCIPAL, ECS_ROLE), (SCALING_PRINCIPAL, SCALING_ROLE)):
        stubber.add_response(
            "create_service_linked_role",
            created_role(name, principal),
            {"AWSServiceName": principal},
        )
    said: list[str] = []

    deploy.ensure_service_linked_roles(client, said.append)

    assert said == [
        f"created the service-linked role {ECS_ROLE} (the first use of {ECS_PRINCIPAL} here)",
        f"created the service-linked role {SCALING_ROLE} (the first use of {SCALING_PRINCIPAL} "
        "here)",
    ]


def test_roles_that_exist_already_are_left_alone_and_nothing_is_said(iam: Any) -> None:
    client, stubber = iam
    for name in (ECS_ROLE, SCALING_ROLE):
        stubber.add_client_error("create_service_linked_role", "InvalidInput", taken(name))
    said: list[str] = []

    deploy.ensure_service_linked_roles(client, said.append)

    assert said == []


def test_an_identity_that_may_not_create_roles_goes_on_when_they_exist(iam: Any) -> None:
    client, stubber = iam
    for principal, name in ((ECS_PRINCIPAL, ECS_ROLE), (SCALING_PRINCIPAL, SCALING_ROLE)):
        stubber.add_client_error("create_service_linked_role", "AccessDenied", "not allowed")
        stubber.add_response("get_role", created_role(name, principal), {"RoleName": name})

    deploy.ensure_service_linked_roles(client, lambda _: None)


def test_a_missing_role_nobody_here_may_create_is_one_line_naming_the_command(iam: Any) -> None:
    client, stubber = iam
    stubber.add_client_error("create_service_linked_role", "AccessDenied", "not allowed")
    stubber.add_client_error("get_role", "NoSuchEntity", f"The role {ECS_ROLE} cannot be found.")

    with pytest.raises(InfraError) as caught:
        deploy.ensure_service_linked_roles(client, lambda _: None)

    assert str(caught.value) == (
        f"the service-linked role {ECS_ROLE} is missing (or not visible) and this identity may "
        "not create it: an administrator runs `aws iam create-service-linked-role "
        f"--aws-service-name {ECS_PRINCIPAL}` once for the account"
    )


# ---------------------------------------------------------------- the data a destroy kept


@pytest.mark.parametrize(
    ("kept", "mounted", "said"),
    [
        pytest.param(
            ["fs-0123456789abcdef0", "fs-00000000000000001"],
            "fs-0123456789abcdef0",
            [
                "bookingapp-platform: mounting fs-0123456789abcdef0 again, Redis' data kept by "
                "the last destroy (1 older left alone: fs-00000000000000001)"
            ],
            id="kept",
        ),
        pytest.param([], "", [], id="none-kept"),
    ],
)
def test_a_new_platform_mounts_the_file_system_the_last_destroy_kept(
    cfn: Any, services: dict[str, ServiceParams], kept: list[str], mounted: str, said: list[str]
) -> None:
    """Empty: the template creates a new file system, as on a first deploy."""
    client, stubber, calls = cfn
    platform = plan(services)[1]
    expect_missing(stubber, platform.name)
    stubber.add_response("create_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(platform.name, "CREATE_COMPLETE"))
    lines: list[str] = []

    deploy.deploy_stack(client, platform, 60, lines.append, FakeLive(kept=kept))

    (create,) = [c for op, c in calls if op == "CreateStack"]
    assert parameters(create)["ExistingDataFileSystemId"] == mounted
    assert lines == said


@pytest.mark.parametrize("deployed_with", ["", "fs-0123456789abcdef0"])
def test_an_existing_platform_keeps_its_file_system_whatever_else_was_kept(
    cfn: Any, services: dict[str, ServiceParams], deployed_with: str
) -> None:
    """Changing it on an update would swap the file system under a running Redis."""
    client, stubber, calls = cfn
    platform = plan(services)[1]
    answer = with_parameters(stack(platform.name, UPDATED), ExistingDataFileSystemId=deployed_with)
    stubber.add_response("describe_stacks", answer)
    stubber.add_response("update_stack", {"StackId": "id"})
    stubber.add_response("describe_stacks", stack(platform.name, UPDATED))
    live = FakeLive(kept=["fs-11111111111111111"])

    deploy.deploy_stack(client, platform, 60, live=live)

    (update,) = [c for op, c in calls if op == "UpdateStack"]
    assert parameters(update)["ExistingDataFileSystemId"] == deployed_with
    assert ("kept_file_systems", platform.name) not in live.asked
