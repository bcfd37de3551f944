"""The deploy role docs/delivery.md documents allows exactly what CI's `release` calls.

deploy.yml runs `bookingapp-infra release SERVICE --image IMAGE` with an OIDC-assumed role.
These tests run that command, rolling and blue/green, against botocore's Stubber (every
request checked against the AWS API models), record each API operation it sends, turn them
into IAM actions, and hold the policy in docs/delivery.md to that set: a call the role
lacks fails here, not in the first real release; an action nobody calls fails too.
They also hold the deploy job's timeout to the longest wait a release can make.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from bookingapp_infra import aws, cli
from bookingapp_infra.params import TRAFFIC_SHIFTING, load_all
from tests.delivery.workflows import WORKFLOWS_DIR, load_workflow
from tests.infra.conftest import StubbedAws
from tests.infra.test_live import expect_cluster
from tests.infra.test_release import (
    CLUSTER,
    DEPLOYMENT,
    FAMILY,
    IMAGE,
    NEW,
    OLD,
    described,
    expect_stages,
    rollout,
    service,
    service_deployment,
)
from tests.support import ROOT

DELIVERY_DOC = ROOT / "docs" / "delivery.md"
DEPLOY_WORKFLOW = WORKFLOWS_DIR / "deploy.yml"
ROLE = "arn:aws:iam::123456789012:role/bookingapp-platform-ExecutionRole-ABC"
TAGS = [{"key": "project", "value": "bookingapp"}]
# Minutes the deploy job spends besides waiting: checkout, setup-uv, the CLI's install.
SETUP_MINUTES = 5


def recorded(stubs: StubbedAws) -> list[tuple[str, str, dict[str, Any]]]:
    """Start recording (IAM prefix, operation, params) of every call the session's clients make."""
    calls: list[tuple[str, str, dict[str, Any]]] = []
    for client in stubs.clients.values():
        prefix = client.meta.service_model.signing_name

        def record(params: dict[str, Any], model: Any, prefix: str = prefix, **_: Any) -> None:
            calls.append((prefix, model.name, dict(params)))

        client.meta.events.register("provide-client-params.*.*", record)
    return calls


def iam_actions(calls: list[tuple[str, str, dict[str, Any]]]) -> set[str]:
    """Return the IAM actions the calls need: one per operation, plus what they imply."""
    actions = {f"{prefix}:{operation}" for prefix, operation, _ in calls}
    for _, operation, params in calls:
        if operation == "RegisterTaskDefinition":
            if params.get("tags"):
                actions.add("ecs:TagResource")  # tagging on create needs its own permission
            if params.get("taskRoleArn") or params.get("executionRoleArn"):
                actions.add("iam:PassRole")  # a new revision passes the roles again
    return actions


def expect_start(stubs: StubbedAws, updated: dict[str, Any]) -> None:
    """Stub a release's start on a task definition with roles and tags, as the stacks make."""
    ecs = stubs["ecs"]
    old = rollout("ecs-svc/old", OLD, "COMPLETED", status="PRIMARY")
    ecs.add_response("describe_services", described(service(OLD, [old])))
    definition = {
        "family": FAMILY,
        "taskDefinitionArn": OLD,
        "taskRoleArn": ROLE,
        "executionRoleArn": ROLE,
        "containerDefinitions": [{"name": "movie", "image": "docker.io/x/movie:1"}],
    }
    ecs.add_response("describe_task_definition", {"taskDefinition": definition, "tags": TAGS})
    ecs.add_response("register_task_definition", {"taskDefinition": {"taskDefinitionArn": NEW}})
    ecs.add_response("update_service", {"service": updated})


def release(stubs: StubbedAws, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run CI's command, `release movie --image IMAGE`, on the stubbed session."""
    monkeypatch.setattr(aws, "make_session", lambda: stubs)
    return cli.main(["release", "movie", "--image", IMAGE, "--poll", "0"])


def rolling_release(stubs: StubbedAws, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Release a rolling service to the end; return the IAM actions it needed."""
    calls = recorded(stubs)
    expect_cluster(stubs, CLUSTER)
    new = rollout("ecs-svc/new", NEW, "IN_PROGRESS", status="PRIMARY")
    expect_start(stubs, service(NEW, [new]))
    done = {**new, "rolloutState": "COMPLETED"}
    stubs["ecs"].add_response("describe_services", described(service(NEW, [done])))
    assert release(stubs, monkeypatch) == 0
    return iam_actions(calls)


def blue_green_release(stubs: StubbedAws, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Release a blue/green service whose answer names no deployment; return its actions."""
    calls = recorded(stubs)
    expect_cluster(stubs, CLUSTER)
    expect_start(stubs, service(NEW, [], strategy="BLUE_GREEN"))
    stubs["ecs"].add_response(
        "list_service_deployments",
        {"serviceDeployments": [{"serviceDeploymentArn": DEPLOYMENT, "status": "IN_PROGRESS"}]},
    )
    expect_stages(stubs["ecs"], service_deployment("SUCCESSFUL", "CLEAN_UP"))
    assert release(stubs, monkeypatch) == 0
    return iam_actions(calls)


def documented_policy() -> dict[str, Any]:
    """Return the deploy role's policy as docs/delivery.md shows it (the block after its marker)."""
    text = DELIVERY_DOC.read_text(encoding="utf-8")
    (block,) = re.findall(r"<!-- deploy-role-policy -->\n```json\n(.*?)\n```", text, re.DOTALL)
    policy: dict[str, Any] = json.loads(block)
    return policy


def documented_actions() -> set[str]:
    """Return every action the documented policy allows."""
    statements = documented_policy()["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    return {action for s in statements for action in s["Action"]}


def test_the_documented_role_allows_exactly_what_a_release_calls(
    stubbed_aws: StubbedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both strategies' calls, together: the role must serve any service's release."""
    needed = rolling_release(stubbed_aws, monkeypatch)
    needed |= blue_green_release(stubbed_aws, monkeypatch)
    assert {"ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments"} <= needed
    assert documented_actions() == needed


def test_a_rolling_release_alone_needs_no_service_deployment_calls(
    stubbed_aws: StubbedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a role written from the rolling path alone would lack: the recording can tell."""
    needed = rolling_release(stubbed_aws, monkeypatch)
    assert "ecs:DescribeServiceDeployments" not in needed
    assert needed < documented_actions()


def test_passing_the_roles_is_limited_to_ecs_tasks() -> None:
    (passing,) = [s for s in documented_policy()["Statement"] if "iam:PassRole" in s["Action"]]
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    assert passing["Resource"].endswith(":role/bookingapp-platform-*")


# ---------------------------------------------------------------- the job's timeout


def image_wait_minutes(step_script: str) -> float:
    """Return how long deploy.yml's wait-for-the-image loop can take, in minutes."""
    (attempts,) = re.findall(r"seq 1 (\d+)", step_script)
    (pause,) = re.findall(r"sleep (\d+)", step_script)
    return int(attempts) * int(pause) / 60


def test_the_deploy_job_outlasts_the_longest_release_any_app_can_ask_for() -> None:
    """Each app as committed, and switched to each traffic-shifting strategy with approval.

    At ECS's defaults and the app's bake time: linear's nine 6-minute steps are the longest.
    The job is killed at timeout-minutes; a release still watching then leaves ECS going
    and CI saying nothing. The CLI's own default watch (release_timeout) is the wait. (A
    file may ask for up to 33 hours, past GitHub's 6-hour limit: docs/releases.md says so.)
    """
    job = load_workflow(DEPLOY_WORKFLOW)["jobs"]["release"]
    (wait_step,) = [s for s in job["steps"] if s.get("name") == "wait for the image on Docker Hub"]
    waited = image_wait_minutes(wait_step["run"])
    longest = 0.0
    for p in load_all().values():
        if not p.is_app:
            continue
        longest = max(longest, cli.release_timeout(p))
        for strategy in TRAFFIC_SHIFTING:
            approving = dataclasses.replace(
                p, deployment=dataclasses.replace(p.deployment, strategy=strategy, approval=True)
            )
            longest = max(longest, cli.release_timeout(approving))
    assert job["timeout-minutes"] > waited + longest / 60 + SETUP_MINUTES
    assert job["timeout-minutes"] <= 360  # GitHub-hosted runners stop any job at 6 hours
