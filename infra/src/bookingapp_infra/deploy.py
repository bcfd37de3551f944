"""Create, update, inspect and delete the CloudFormation stacks, in order, waiting for each."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from botocore.exceptions import ClientError

from bookingapp_infra.aws import error_code
from bookingapp_infra.errors import InfraError
from bookingapp_infra.params import TRAFFIC_SHIFTING
from bookingapp_infra.stacks import DATA_FILE_SYSTEM, Stack

POLL_SECONDS = 10
# The roles in platform.yaml have generated names, so CAPABILITY_IAM (not _NAMED_IAM).
CAPABILITIES = ["CAPABILITY_IAM"]
# A stack whose first creation failed can only be deleted, never updated.
DEAD_STATES = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED")
# CloudFormation refuses any operation on a stack it is still working on (a bare
# ValidationError "... is in UPDATE_IN_PROGRESS state and can not be updated").
BUSY_SUFFIX = "_IN_PROGRESS"
# A change set created the stack and was never executed: it holds no resources yet.
UNEXECUTED = "REVIEW_IN_PROGRESS"
# An update failed and so did its rollback: only ContinueUpdateRollback gets it out.
STUCK_ROLLBACK = "UPDATE_ROLLBACK_FAILED"
# What a finished create, update or delete ends in when it went well.
CREATED, UPDATED = "CREATE_COMPLETE", "UPDATE_COMPLETE"

DEPLOY_HINT = "bookingapp-infra deploy"
# The service-linked roles a first deploy needs, by the service principal they are for. In
# an account that never used ECS, creating the cluster makes ECS create its role and
# assume it at once, which fails ("Unable to assume the service linked role",
# cloudformation-coverage-roadmap#818) and rolls the platform back; the scalable target
# needs Application Auto Scaling's role for ECS (its user guide, "Service-linked roles").
SERVICE_LINKED_ROLES = (
    ("ecs.amazonaws.com", "AWSServiceRoleForECS"),
    (
        "ecs.application-autoscaling.amazonaws.com",
        "AWSServiceRoleForApplicationAutoScaling_ECSService",
    ),
)

Say = Callable[[str], None]
# service name -> the image its ECS service runs now (None: no such service yet).
RunningImage = Callable[[str], str | None]
# Called once per poll while a stack operation runs.
OnPoll = Callable[[], None]


class Live(Protocol):
    """What deploy reads from, and does to, the running system around a stack change.

    `live.AwsLive` answers from AWS; tests answer with fakes.
    """

    def running_image(self, service: str) -> str | None:
        """Return the image the service's ECS service runs, None if there is none yet."""

    def live_colour(self, stack_name: str) -> str:
        """Return which target group (blue or green) production traffic is on now."""

    def wait_for_quiet_alarms(self, service: str, say: Say) -> None:
        """Wait until the service's rollback alarms have stayed out of ALARM a while."""

    def continue_first_pause(self, service: str, say: Say) -> None:
        """Continue the service's first deployment if it waits at an approval pause."""

    def kept_file_systems(self, platform_stack: str) -> list[str]:
        """Return the ids of Redis' file systems a destroy kept, newest first."""


def _quiet(_: str) -> None:
    """Say nothing (the default for callers that only want the result)."""


def describe_stack(cfn: Any, name: str) -> dict[str, Any] | None:
    """Return a stack's description, or None when it does not exist."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        if error_code(err) == "ValidationError" and "does not exist" in str(err):
            return None
        raise
    return stacks[0] if stacks else None


def stack_status(cfn: Any, name: str) -> str | None:
    """Return a stack's status, or None when it does not exist."""
    described = describe_stack(cfn, name)
    return described["StackStatus"] if described else None


def remove_hint(name: str) -> str:
    """Return how to remove just one failed stack, leaving the others alone."""
    return f"`bookingapp-infra destroy --stack {name} --yes` removes just this stack"


def stack_outputs(cfn: Any, name: str) -> dict[str, str]:
    """Return a deployed stack's outputs by key, or raise if it is not deployed."""
    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as err:
        if error_code(err) == "ValidationError":
            raise InfraError(f"stack {name} is not deployed: run `{DEPLOY_HINT}`") from err
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def services_before_platform(stacks: Sequence[Stack]) -> list[Stack]:
    """Return the stacks with the service stacks moved ahead of the platform's.

    Used when the platform drops its HTTPS listener: CloudFormation refuses to remove an
    export another stack imports, so the apps' rules move back to :80 first.
    """
    services = [s for s in stacks if s.service is not None]
    infrastructure = [s for s in stacks if s.service is None]
    return [*infrastructure[:-1], *services, infrastructure[-1]]


def ensure_service_linked_roles(iam: Any, say: Say) -> None:
    """Create the service-linked roles a first deploy needs, if missing (idempotent)."""
    for service, role in SERVICE_LINKED_ROLES:
        try:
            iam.create_service_linked_role(AWSServiceName=service)
        except ClientError as err:
            if error_code(err) == "InvalidInput" and "has been taken" in str(err):
                continue  # IAM's answer when the role exists already
            if error_code(err) != "AccessDenied" or not role_exists(iam, role, service):
                raise
            continue
        say(f"created the service-linked role {role} (the first use of {service} here)")


def role_exists(iam: Any, role: str, service: str) -> bool:
    """Say whether a role exists; refuse clearly if nobody here may create it when missing."""
    try:
        iam.get_role(RoleName=role)
    except ClientError as err:
        if error_code(err) not in ("NoSuchEntity", "AccessDenied"):
            raise
        raise InfraError(
            f"the service-linked role {role} is missing (or not visible) and this identity "
            f"may not create it: an administrator runs `aws iam create-service-linked-role "
            f"--aws-service-name {service}` once for the account"
        ) from err
    return True


def deploy_all(
    cfn: Any,
    stacks: Sequence[Stack],
    timeout: float,
    say: Say,
    live: Live | None = None,
) -> None:
    """Create or update every stack in order; each must finish before the next starts.

    After an update that replaced a backing service's task (a Redis deploy: a minute or
    two of 503s from every app), each existing app waits until its rollback alarms are
    quiet again before its own update, which those 503s would otherwise roll back.
    """
    backing_replaced = False
    for stack in stacks:
        app = stack.service if stack.service is not None and stack.service.is_app else None
        # Only an app that runs already has a deployment to roll back.
        if backing_replaced and live and app and stack_status(cfn, stack.name) is not None:
            live.wait_for_quiet_alarms(app.name, say)
        result, replaced = apply(cfn, stack, timeout, say, live)
        backing_replaced |= replaced and stack.service is not None and app is None
        say(f"{stack.name}: {result}")


def deploy_stack(
    cfn: Any,
    stack: Stack,
    timeout: float,
    say: Say = _quiet,
    live: Live | None = None,
) -> str:
    """Create the stack or update it, wait until done, and say which happened."""
    return apply(cfn, stack, timeout, say, live)[0]


def apply(cfn: Any, stack: Stack, timeout: float, say: Say, live: Live | None) -> tuple[str, bool]:
    """Create or update one stack; return what happened and whether its task was replaced."""
    described = describe_stack(cfn, stack.name)
    status = described["StackStatus"] if described else None
    check_status(stack.name, status)
    if described is not None and live is not None:
        stack = keep_released_image(stack, described, live.running_image, say)
        stack = keep_live_colour(stack, described, live)
    stack = keep_data_volume(stack, described, live, say)
    pauses = stack.service is not None and stack.service.deployment.approval
    request = {
        "StackName": stack.name,
        "TemplateBody": stack.template.read_text(encoding="utf-8"),
        "Parameters": stack.cfn_parameters(creating=status is None),
        "Capabilities": CAPABILITIES,
    }
    if status is None:
        on_poll = None
        if pauses and live is not None and stack.service is not None:
            on_poll = first_pause_handler(stack.service.name, live, say)
        cfn.create_stack(**request)
        wait(cfn, stack.name, CREATED, timeout, on_poll)
        return "created", False
    if pauses and stack.service is not None:
        # CloudFormation waits for ECS's deployment, which waits for a person.
        say(
            f"{stack.name}: a task definition change is a {stack.service.deployment.strategy} "
            "deployment and pauses after test traffic: `bookingapp-infra approve "
            f"{stack.service.name}` from another terminal lets it finish"
        )
    try:
        cfn.update_stack(**request)
    except ClientError as err:
        if "No updates are to be performed" in str(err):
            return "unchanged", False
        raise
    after = wait(cfn, stack.name, UPDATED, timeout)
    return "updated", task_definition(after) != task_definition(described)


def first_pause_handler(service: str, live: Live, say: Say) -> OnPoll:
    """Return what to do on each poll of a create whose deployments pause for approval.

    ECS runs the PAUSE hook on a service's first deployment too. There is nothing live to
    compare the new tasks with, so deploy continues that one pause itself and says so;
    unanswered, the create would fail after a day and end in ROLLBACK_COMPLETE.
    """
    return lambda: live.continue_first_pause(service, say)


def keep_data_volume(
    stack: Stack, described: dict[str, Any] | None, live: Live | None, say: Say
) -> Stack:
    """Return the platform stack mounting Redis' kept file system, if there is one.

    `destroy` keeps the EFS file system (the counts); without this the next deploy would
    create an empty one beside it. An existing stack keeps whatever it has: changing the
    parameter later would swap the file system under a running Redis.
    """
    if DATA_FILE_SYSTEM not in stack.parameters:
        return stack
    if described is not None:
        kept = deployed_parameters(described).get(DATA_FILE_SYSTEM) or ""
    elif live is not None and (found := live.kept_file_systems(stack.name)):
        kept = found[0]
        older = f" ({len(found) - 1} older left alone: {', '.join(found[1:])})" if found[1:] else ""
        say(f"{stack.name}: mounting {kept} again, Redis' data kept by the last destroy{older}")
    else:
        return stack
    return dataclasses.replace(stack, parameters={**stack.parameters, DATA_FILE_SYSTEM: kept})


def check_status(name: str, status: str | None) -> None:
    """Refuse, in one line that says what to do, a stack no create or update can touch."""
    if status is None:
        return
    if status in DEAD_STATES or status == UNEXECUTED:
        raise InfraError(
            f"stack {name} is {status}: a failed stack can only be deleted; "
            f"{remove_hint(name)}, then deploy again"
        )
    if status.endswith(BUSY_SUFFIX):
        raise InfraError(
            f"stack {name} is {status}: CloudFormation is still working on it; wait until "
            "it ends (`bookingapp-infra status`), then deploy again"
        )
    if status == STUCK_ROLLBACK:
        raise InfraError(
            f"stack {name} is {status}: its last update failed and so did the rollback; "
            f"`aws cloudformation continue-update-rollback --stack-name {name}` (add "
            "--resources-to-skip for a resource that cannot go back), wait for "
            "UPDATE_ROLLBACK_COMPLETE, then deploy again"
        )


def task_definition(described: dict[str, Any] | None) -> str | None:
    """Return the TaskDefinitionArn output of a service stack's description, if any."""
    outputs = (described or {}).get("Outputs", [])
    return next((o["OutputValue"] for o in outputs if o["OutputKey"] == "TaskDefinitionArn"), None)


def deployed_parameters(described: dict[str, Any]) -> dict[str, str | None]:
    """Return the parameter values a stack was last deployed with, by key."""
    return {p["ParameterKey"]: p.get("ParameterValue") for p in described.get("Parameters", [])}


def keep_live_colour(stack: Stack, described: dict[str, Any], live: Live) -> Stack:
    """Return the stack with LiveColour set to the target group production is on now.

    After an odd number of traffic-shifting releases (blue/green, linear or canary)
    production runs on green; a template that always said blue 100 would move it to the
    empty group on any update of the rule.
    """
    p = stack.service
    if p is None or not p.is_app:
        return stack
    if deployed_parameters(described).get("DeploymentStrategy") not in TRAFFIC_SHIFTING:
        return stack  # rolling uses blue's group only: that is where production is
    colour = live.live_colour(stack.name)
    if not p.deployment.shifts_traffic and colour != "blue":
        raise InfraError(
            f"{stack.name}: production runs on the {colour} target group (after an odd "
            "number of traffic-shifting releases); rolling serves from the blue group only, "
            f"which has no tasks: `bookingapp-infra release {p.name} --image ...` once more "
            "while still traffic-shifting (that moves production back to blue), then deploy "
            'with strategy = "rolling"'
        )
    return dataclasses.replace(stack, parameters={**stack.parameters, "LiveColour": colour})


def keep_released_image(
    stack: Stack, described: dict[str, Any], running_image: RunningImage, say: Say
) -> Stack:
    """Return the stack with the image a `release` put in place, if the file did not move on.

    Without this, any change to the task definition would register a revision with the
    parameter file's image, silently undoing the release. The stack remembers the file's
    image at each deploy (FileImage): when the file still says the same, the running image
    is kept; when the file changed and nothing was released since, the file wins; when
    both changed, nobody can tell which is meant, so deploy refuses and says how on.
    """
    if stack.service is None:
        return stack
    name = stack.service.name
    running = running_image(name)
    wanted = stack.parameters["Image"]
    if running is None or running == wanted:
        return stack
    deployed = deployed_parameters(described)
    last = deployed.get("Image")
    file_then = deployed.get("FileImage") or last  # stacks from before FileImage existed
    if wanted == file_then:
        say(
            f"{stack.name}: keeping the released image {running} ({name}.toml still says "
            f"{wanted}; put the released image there to make it permanent)"
        )
        return dataclasses.replace(stack, parameters={**stack.parameters, "Image": running})
    if running == last:
        return stack  # the file names a new image and nothing was released since: deploy it
    raise InfraError(
        f"{stack.name}: the service runs {running} (released after the last deploy) but "
        f'{name}.toml now says {wanted}; to keep the release, set image = "{running}" in '
        f"infra/services/{name}.toml; to run the file's image, "
        f"`bookingapp-infra release {name} --image {wanted}` first; then deploy again"
    )


def destroy_all(cfn: Any, stacks: Sequence[Stack], timeout: float, say: Say) -> None:
    """Delete the stacks in reverse deploy order (services before what they import)."""
    for stack in reversed(stacks):
        destroy_stack(cfn, stack.name, timeout, say)


def destroy_stack(cfn: Any, name: str, timeout: float, say: Say) -> None:
    """Delete one stack if it exists and wait until it is gone."""
    if stack_status(cfn, name) is None:
        say(f"{name}: not deployed")
        return
    cfn.delete_stack(StackName=name)
    wait(cfn, name, None, timeout)
    say(f"{name}: deleted")


def wait(
    cfn: Any, name: str, wanted: str | None, timeout: float, on_poll: OnPoll | None = None
) -> dict[str, Any] | None:
    """Poll a stack until its operation ends; return its last description (None: deleted).

    wanted is the status a good ending has (None: the stack is gone). A bad ending raises
    with the first failed resource's reason; so does running out of time.
    """
    deadline = time.monotonic() + timeout
    while True:
        described = describe_stack(cfn, name)
        status = described["StackStatus"] if described else None
        if status is None or not status.endswith(BUSY_SUFFIX):
            break
        if time.monotonic() >= deadline:
            raise InfraError(
                f"stack {name} did not finish within {timeout:.0f} s; it is still running: "
                "watch it with `bookingapp-infra status`"
            )
        if on_poll is not None:
            on_poll()
        time.sleep(POLL_SECONDS)
    if status == wanted:
        return described
    message = f"stack {name} failed: {failure_reason(cfn, name)}"
    if status in DEAD_STATES:
        message += f"; {remove_hint(name)} (then deploy again)"
    raise InfraError(message)


def failure_reason(cfn: Any, name: str) -> str:
    """Return the earliest failed resource of the stack's latest operation, as one line."""
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return "no events to read (the stack is gone); see the CloudFormation console"
    failed = []
    for event in events:  # newest first, back to the event that started the operation
        reason = event.get("ResourceStatusReason", "")
        if event["ResourceStatus"].endswith("FAILED") and event["LogicalResourceId"] != name:
            failed.append(f"{event['LogicalResourceId']}: {reason}")
        if event["LogicalResourceId"] == name and reason == "User Initiated":
            break
    return failed[-1] if failed else "see the stack's events"
