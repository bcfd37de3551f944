"""Create, update, inspect and delete the CloudFormation stacks, in order, waiting for each."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from bookingapp_infra.aws import error_code
from bookingapp_infra.errors import InfraError
from bookingapp_infra.stacks import Stack

POLL_SECONDS = 10
# The roles in platform.yaml have generated names, so CAPABILITY_IAM (not _NAMED_IAM).
CAPABILITIES = ["CAPABILITY_IAM"]
# A stack whose first creation failed can only be deleted, never updated.
DEAD_STATES = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED")

DEPLOY_HINT = "bookingapp-infra deploy"

Say = Callable[[str], None]
# service name -> the image its ECS service runs now (None: no such service yet).
RunningImage = Callable[[str], str | None]


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


def deploy_all(
    cfn: Any,
    stacks: Sequence[Stack],
    timeout: float,
    say: Say,
    running_image: RunningImage | None = None,
) -> None:
    """Create or update every stack in order; each must finish before the next starts."""
    for stack in stacks:
        say(f"{stack.name}: {deploy_stack(cfn, stack, timeout, say, running_image)}")


def deploy_stack(
    cfn: Any,
    stack: Stack,
    timeout: float,
    say: Say = _quiet,
    running_image: RunningImage | None = None,
) -> str:
    """Create the stack or update it, wait until done, and say which happened."""
    described = describe_stack(cfn, stack.name)
    status = described["StackStatus"] if described else None
    if status in DEAD_STATES:
        raise InfraError(
            f"stack {stack.name} is {status}: a failed stack can only be deleted; "
            f"{remove_hint(stack.name)}, then deploy again"
        )
    if described is not None and running_image is not None:
        stack = keep_released_image(stack, described, running_image, say)
    if described is not None and stack.service is not None and stack.service.deployment.approval:
        # CloudFormation waits for ECS's deployment, which waits for a person.
        say(
            f"{stack.name}: a task definition change deploys blue/green and pauses after "
            f"test traffic: `bookingapp-infra approve {stack.service.name}` from another "
            "terminal lets it finish"
        )
    request = {
        "StackName": stack.name,
        "TemplateBody": stack.template.read_text(encoding="utf-8"),
        "Parameters": stack.cfn_parameters(creating=status is None),
        "Capabilities": CAPABILITIES,
    }
    if status is None:
        cfn.create_stack(**request)
        wait(cfn, "stack_create_complete", stack.name, timeout)
        return "created"
    try:
        cfn.update_stack(**request)
    except ClientError as err:
        if "No updates are to be performed" in str(err):
            return "unchanged"
        raise
    wait(cfn, "stack_update_complete", stack.name, timeout)
    return "updated"


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
    deployed = {p["ParameterKey"]: p.get("ParameterValue") for p in described.get("Parameters", [])}
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
    wait(cfn, "stack_delete_complete", name, timeout)
    say(f"{name}: deleted")


def wait(cfn: Any, waiter_name: str, name: str, timeout: float) -> None:
    """Wait for a stack operation; on failure, raise with the first failed resource's reason."""
    attempts = max(1, math.ceil(timeout / POLL_SECONDS))
    try:
        cfn.get_waiter(waiter_name).wait(
            StackName=name, WaiterConfig={"Delay": POLL_SECONDS, "MaxAttempts": attempts}
        )
    except WaiterError as err:
        if "Max attempts exceeded" in str(err):
            raise InfraError(
                f"stack {name} did not finish within {timeout:.0f} s; it is still running: "
                "watch it with `bookingapp-infra status`"
            ) from err
        message = f"stack {name} failed: {failure_reason(cfn, name)}"
        if last_status(err) in DEAD_STATES:
            message += f"; {remove_hint(name)} (then deploy again)"
        raise InfraError(message) from err


def last_status(err: WaiterError) -> str | None:
    """Return the stack status the waiter saw last, if its answer had one."""
    stacks = (err.last_response or {}).get("Stacks") or [{}]
    status: str | None = stacks[0].get("StackStatus")
    return status


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
