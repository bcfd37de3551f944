"""The everyday deploy: run a new image in one service without touching anything else."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from bookingapp_infra.aws import InfraError, InputError, error_code

# The fields RegisterTaskDefinition accepts; DescribeTaskDefinition returns these plus
# read-only ones (revision, status, registeredAt, ...) that registering would reject.
REGISTERABLE = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)
# [registry[:port]/]path[:tag][@sha256:digest], lower-case path as Docker requires.
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)


def check_image(image: str) -> str:
    """Return the image reference if it is well-formed, else raise saying why."""
    if not _IMAGE.match(image):
        raise InputError(
            f"invalid image reference {image!r}: expected [registry/]name[:tag][@sha256:digest]"
        )
    return image


def release(
    ecs: Any,
    cluster: str,
    service: str,
    image: str,
    timeout: float,
    poll: float = 10.0,
    say: Callable[[str], None] = print,
) -> str:
    """Register a copy of the service's task definition with a new image, roll it out, wait.

    desiredCount is never sent: the autoscaler (or the parameter file, for Redis) owns it.
    """
    check_image(image)
    current = describe_service(ecs, cluster, service)
    new_arn = register_with_image(ecs, current["taskDefinition"], service, image)
    say(f"{service}: registered {new_arn}")
    ecs.update_service(cluster=cluster, service=service, taskDefinition=new_arn)
    wait_stable(ecs, cluster, service, new_arn, timeout, poll)
    say(f"{service}: stable on {image}")
    return new_arn


def describe_service(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    """Return the ECS service, or raise a clear error if the cluster or service is missing."""
    try:
        answer = ecs.describe_services(cluster=cluster, services=[service])
    except ClientError as err:
        if error_code(err) == "ClusterNotFoundException":
            raise InfraError(f"cluster {cluster!r} not found: deploy the platform first") from err
        raise
    found = [s for s in answer.get("services", []) if s.get("status") == "ACTIVE"]
    if not found:
        raise InfraError(
            f"service {service!r} not found in cluster {cluster!r}: "
            f"deploy it first (`bookingapp-infra deploy`)"
        )
    return found[0]


def register_with_image(ecs: Any, task_definition: str, service: str, image: str) -> str:
    """Register a new revision identical to task_definition except for the service's image."""
    answer = ecs.describe_task_definition(taskDefinition=task_definition, include=["TAGS"])
    current = answer["taskDefinition"]
    request = {key: current[key] for key in REGISTERABLE if current.get(key)}
    request["containerDefinitions"] = with_image(current["containerDefinitions"], service, image)
    if answer.get("tags"):
        request["tags"] = answer["tags"]
    return ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]


def with_image(containers: list[dict[str, Any]], service: str, image: str) -> list[dict[str, Any]]:
    """Return the container definitions with the service's container on the new image."""
    names = [c["name"] for c in containers]
    target = service if service in names else names[0] if len(names) == 1 else None
    if target is None:
        raise InfraError(f"no container named {service!r} in the task definition ({names})")
    return [{**c, "image": image} if c["name"] == target else c for c in containers]


def wait_stable(
    ecs: Any, cluster: str, service: str, new_arn: str, timeout: float, poll: float
) -> None:
    """Poll until the service runs only new_arn at its desired count; fail fast on rollback."""
    deadline = time.monotonic() + timeout
    while True:
        current = describe_service(ecs, cluster, service)
        if current["taskDefinition"] != new_arn:
            # The circuit breaker rolled back to the previous revision.
            raise InfraError(
                f"{service}: ECS rolled back to {current['taskDefinition']}: the new tasks did "
                "not become healthy; see the service's events and logs"
            )
        if is_stable(current):
            return
        if time.monotonic() >= deadline:
            raise InfraError(
                f"{service}: not stable after {timeout:.0f} s "
                f"(running {current['runningCount']} of {current['desiredCount']}); "
                "ECS keeps rolling: check `bookingapp-infra status`"
            )
        time.sleep(poll)


def is_stable(service: dict[str, Any]) -> bool:
    """Say whether one deployment remains and it runs the desired number of tasks."""
    deployments = service.get("deployments", [])
    return len(deployments) == 1 and service["runningCount"] == service["desiredCount"]
