"""Create, update, inspect and delete the CloudFormation stacks, in order, waiting for each."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from bookingapp_infra.aws import InfraError, error_code
from bookingapp_infra.stacks import Stack

POLL_SECONDS = 10
# The roles in platform.yaml have generated names, so CAPABILITY_IAM (not _NAMED_IAM).
CAPABILITIES = ["CAPABILITY_IAM"]
# A stack whose first creation failed can only be deleted, never updated.
DEAD_STATES = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED")

DEPLOY_HINT = "bookingapp-infra deploy"

Say = Callable[[str], None]


def stack_status(cfn: Any, name: str) -> str | None:
    """Return a stack's status, or None when it does not exist."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        if error_code(err) == "ValidationError" and "does not exist" in str(err):
            return None
        raise
    return stacks[0]["StackStatus"] if stacks else None


def stack_outputs(cfn: Any, name: str) -> dict[str, str]:
    """Return a deployed stack's outputs by key, or raise if it is not deployed."""
    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as err:
        if error_code(err) == "ValidationError":
            raise InfraError(f"stack {name} is not deployed: run `{DEPLOY_HINT}`") from err
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def deploy_all(cfn: Any, stacks: Sequence[Stack], timeout: float, say: Say) -> None:
    """Create or update every stack in order; each must finish before the next starts."""
    for stack in stacks:
        say(f"{stack.name}: {deploy_stack(cfn, stack, timeout)}")


def deploy_stack(cfn: Any, stack: Stack, timeout: float) -> str:
    """Create the stack or update it, wait until done, and say which happened."""
    status = stack_status(cfn, stack.name)
    if status in DEAD_STATES:
        raise InfraError(
            f"stack {stack.name} is {status}: run `bookingapp-infra destroy`, then deploy again"
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


def destroy_all(cfn: Any, stacks: Sequence[Stack], timeout: float, say: Say) -> None:
    """Delete the stacks in reverse deploy order (services before what they import)."""
    for stack in reversed(stacks):
        if stack_status(cfn, stack.name) is None:
            say(f"{stack.name}: not deployed")
            continue
        cfn.delete_stack(StackName=stack.name)
        wait(cfn, "stack_delete_complete", stack.name, timeout)
        say(f"{stack.name}: deleted")


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
        raise InfraError(f"stack {name} failed: {failure_reason(cfn, name)}") from err


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
