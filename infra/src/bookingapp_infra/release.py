"""The everyday deploy: run a new image in one service, and watch ECS until it is done.

A rolling service is watched through its deployment's rolloutState (COMPLETED, FAILED,
IN_PROGRESS): "one deployment at the desired count" can also be what a circuit-breaker
rollback looks like. A traffic-shifting service (blue/green, linear, canary) is watched
through its service deployment (ListServiceDeployments / DescribeServiceDeployments: status,
lifecycle stage, and the new revision's share of production at each step), which is also
what `approve` and `rollback` act on (ContinueServiceDeployment, StopServiceDeployment).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from botocore.exceptions import ClientError

from bookingapp_infra.aws import error_code
from bookingapp_infra.errors import InfraError, InputError

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


Say = Callable[[str], None]

# The header a traffic-shifting app's test listener rule matches (templates/service.yaml).
TEST_HEADER = "X-Bookingapp-Test: green"
# What each lifecycle stage of a traffic-shifting deployment means, as `release` prints it.
STAGES: Mapping[str, str] = MappingProxyType(
    {
        "RECONCILE_SERVICE": "reconciling the revisions already running",
        "PRE_SCALE_UP": "green not started; blue takes all traffic",
        "SCALE_UP": "starting green's tasks beside blue",
        "POST_SCALE_UP": "green is up; blue still takes all traffic",
        "TEST_TRAFFIC_SHIFT": f"moving test traffic ({TEST_HEADER}) to green",
        "POST_TEST_TRAFFIC_SHIFT": "green takes all test traffic; production stays on blue",
        "PRODUCTION_TRAFFIC_SHIFT": "moving production traffic to green",
        "POST_PRODUCTION_TRAFFIC_SHIFT": "green takes all production traffic",
        "BAKE_TIME": "baking: blue kept running so a rollback is instant",
        "CLEAN_UP": "stopping blue",
    }
)
# Service deployment statuses (ECS API ServiceDeploymentStatus).
SUCCEEDED = "SUCCESSFUL"
UNDER_WAY = ("PENDING", "IN_PROGRESS")
FAILED = ("STOPPED", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
ROLLED_BACK = ("ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
ROLLING = "ROLLING"
# ECS's strategies that run green beside blue and move the listener rules' weights.
TRAFFIC_SHIFTING = ("BLUE_GREEN", "LINEAR", "CANARY")


def release(
    ecs: Any,
    cluster: str,
    service: str,
    image: str,
    timeout: float,
    poll: float = 10.0,
    say: Say = print,
) -> str:
    """Register a copy of the service's task definition with a new image, roll it out, watch.

    desiredCount is never sent: the autoscaler (or the parameter file, for Redis) owns it.
    Returns only when ECS reports success; a failure or a rollback raises InfraError.
    """
    check_image(image)
    current = describe_service(ecs, cluster, service)
    new_arn = register_with_image(ecs, current["taskDefinition"], service, image)
    say(f"{service}: registered {new_arn}")
    answer = ecs.update_service(cluster=cluster, service=service, taskDefinition=new_arn)
    updated = answer["service"]
    clock = Clock(timeout, poll)
    if strategy(updated) in TRAFFIC_SHIFTING:
        arn = new_deployment(ecs, cluster, service, current, updated)
        watch_service_deployment(ecs, service, arn, clock, say)
    else:
        watch_rollout(ecs, cluster, service, new_arn, primary(updated), clock)
    say(f"{service}: stable on {image}")
    return new_arn


def strategy(service: dict[str, Any]) -> str:
    """Return the service's deployment strategy as ECS reports it (ROLLING when unset)."""
    return str(service.get("deploymentConfiguration", {}).get("strategy") or ROLLING)


class Clock:
    """The deadline of a watch and how often it polls."""

    def __init__(self, timeout: float, poll: float) -> None:
        self.timeout, self.poll = timeout, poll
        self.deadline = time.monotonic() + timeout

    def expired(self) -> bool:
        """Say whether the deadline has passed."""
        return time.monotonic() >= self.deadline

    def wait(self) -> None:
        """Sleep one polling interval."""
        time.sleep(self.poll)


def describe_service(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    """Return the ECS service, or raise a clear error if the cluster or service is missing."""
    try:
        answer = ecs.describe_services(cluster=cluster, services=[service])
    except ClientError as err:
        if error_code(err) == "ClusterNotFoundException":
            raise InfraError(f"cluster {cluster!r} not found: deploy the platform first") from err
        raise
    found: list[dict[str, Any]] = [
        s for s in answer.get("services", []) if s.get("status") == "ACTIVE"
    ]
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
    arn: str = ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]
    return arn


def with_image(containers: list[dict[str, Any]], service: str, image: str) -> list[dict[str, Any]]:
    """Return the container definitions with the service's container on the new image."""
    names = [c["name"] for c in containers]
    target = service if service in names else names[0] if len(names) == 1 else None
    if target is None:
        raise InfraError(f"no container named {service!r} in the task definition ({names})")
    return [{**c, "image": image} if c["name"] == target else c for c in containers]


def new_deployment(
    ecs: Any, cluster: str, service: str, before: dict[str, Any], after: dict[str, Any]
) -> str:
    """Return the ARN of the service deployment UpdateService started.

    UpdateService's answer names the current service deployment; should it still name the
    one from before the update (or none), the newest deployment under way is the one:
    watching the previous, finished deployment would report success for nothing.
    """
    previous = before.get("currentServiceDeployment")
    arn = after.get("currentServiceDeployment")
    if arn and arn != previous:
        return str(arn)
    return in_progress(ecs, cluster, service)


def primary(service: dict[str, Any]) -> dict[str, Any]:
    """Return the PRIMARY deployment UpdateService just made (the one to watch)."""
    deployments: list[dict[str, Any]] = service.get("deployments", [])
    for deployment in deployments:
        if deployment.get("status") == "PRIMARY":
            return deployment
    raise InfraError(f"{service.get('serviceName')}: ECS reports no primary deployment")


def watch_rollout(
    ecs: Any, cluster: str, service: str, new_arn: str, started: dict[str, Any], clock: Clock
) -> None:
    """Poll until the rolling deployment's rolloutState is COMPLETED; fail on FAILED."""
    while True:
        current = describe_service(ecs, cluster, service)
        deployment = next(
            (d for d in current.get("deployments", []) if d.get("id") == started["id"]), None
        )
        if deployment is None or current["taskDefinition"] != new_arn:
            # The circuit breaker (or an alarm) replaced our deployment with a rollback.
            raise InfraError(
                f"{service}: ECS rolled back to {current['taskDefinition']}: the new tasks did "
                "not become healthy; see the service's events and logs"
            )
        state = deployment.get("rolloutState")
        if state == "COMPLETED":
            return
        if state == "FAILED":
            raise InfraError(
                f"{service}: deployment {deployment['id']} FAILED "
                f"({deployment.get('rolloutStateReason', 'no reason given')}); ECS rolls back"
            )
        if state is None:
            # ECS reports it for every service with its own (ECS) deployment controller.
            raise InfraError(
                f"{service}: ECS reports no rollout state; is it a CodeDeploy service?"
            )
        if clock.expired():
            raise InfraError(
                f"{service}: not stable after {clock.timeout:.0f} s "
                f"(rollout {state}, running {current['runningCount']} of "
                f"{current['desiredCount']}); ECS keeps rolling: check `bookingapp-infra status`"
            )
        clock.wait()


def watch_service_deployment(ecs: Any, service: str, arn: str, clock: Clock, say: Say) -> None:
    """Poll a service deployment until it succeeds, saying each stage and traffic step once."""
    seen: set[str] = set()
    share = 0.0  # the new revision's production weight last said
    while True:
        deployment = describe_deployment(ecs, arn)
        stage = deployment.get("lifecycleStage")
        if stage and stage not in seen:
            seen.add(stage)
            say(f"{service}: {stage}: {STAGES.get(stage, 'stage reached')}")
        weight = production_share(deployment)
        if weight is not None and weight != share:
            share = weight
            say(f"{service}: production traffic: {traffic_split(weight)}")
        hook = paused_hook(deployment)
        if hook is not None and hook["hookId"] not in seen:
            seen.add(hook["hookId"])
            say(pause_hint(service))
        status = deployment.get("status", "")
        if status == SUCCEEDED:
            return
        if status in FAILED or status in ROLLED_BACK:
            raise InfraError(failure(service, deployment))
        if clock.expired():
            waiting = "waiting for approval" if hook is not None else f"at {stage or status}"
            raise InfraError(
                f"{service}: deployment not finished after {clock.timeout:.0f} s ({waiting}); "
                f"it goes on: `bookingapp-infra status {service}`"
            )
        clock.wait()


def production_share(deployment: dict[str, Any]) -> float | None:
    """Return the new revision's requested share of production traffic, if ECS reports one.

    ECS calls it a snapshot that may lag the listener rule by a poll; a linear deployment
    shows each step here, a canary its canary share, a blue/green one 0 then 100.
    """
    weight = deployment.get("targetServiceRevision", {}).get("requestedProductionTrafficWeight")
    return None if weight is None else float(weight)


def traffic_split(new: float) -> str:
    """Say how production is split between the new and the previous revision."""
    return f"new revision {new:g} %, previous {100 - new:g} %"


def failure(service: str, deployment: dict[str, Any]) -> str:
    """Return one line saying how and why a service deployment failed."""
    reason = deployment.get("statusReason") or deployment.get("rollback", {}).get("reason")
    alarms = deployment.get("alarms", {}).get("triggeredAlarmNames") or []
    line = f"{service}: deployment {deployment.get('status')}"
    if reason:
        line += f": {reason}"
    if alarms:
        line += f" (alarms: {', '.join(alarms)})"
    return line + "; production stays on the previous revision"


def pause_hint(service: str) -> str:
    """Return what to do while a deployment waits for approval after test traffic."""
    return (
        f"{service}: paused for approval: green takes requests carrying '{TEST_HEADER}'; "
        f"try it, then `bookingapp-infra approve {service}` or `bookingapp-infra rollback "
        f"{service}`"
    )


def describe_deployment(ecs: Any, arn: str) -> dict[str, Any]:
    """Return one service deployment, or raise saying ECS does not know it."""
    answer = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    found: list[dict[str, Any]] = answer.get("serviceDeployments", [])
    if not found:
        reasons = "; ".join(f.get("reason", "?") for f in answer.get("failures", []))
        raise InfraError(f"service deployment {arn} not found ({reasons or 'no reason given'})")
    return found[0]


def in_progress(ecs: Any, cluster: str, service: str) -> str:
    """Return the ARN of the service's newest deployment under way, or raise if none is."""
    answer = ecs.list_service_deployments(cluster=cluster, service=service, status=list(UNDER_WAY))
    found = sorted(answer.get("serviceDeployments", []), key=created)
    if not found:
        raise InputError(f"{service}: no deployment in progress")
    return str(found[-1]["serviceDeploymentArn"])


def created(deployment: dict[str, Any]) -> tuple[bool, Any]:
    """Sort key: deployments without a creation time first, then oldest to newest."""
    when = deployment.get("createdAt")
    return (when is not None, when or 0)


def paused_hook(deployment: dict[str, Any]) -> dict[str, Any] | None:
    """Return the PAUSE lifecycle hook the deployment waits on, if it waits on one."""
    hooks: list[dict[str, Any]] = deployment.get("lifecycleHookDetails", [])
    for hook in hooks:
        if hook.get("targetType") == "PAUSE" and hook.get("status") == "AWAITING_ACTION":
            return hook
    return None


def approve(ecs: Any, cluster: str, service: str, say: Say = print) -> str:
    """Continue a deployment paused for approval; return its ARN."""
    arn = in_progress(ecs, cluster, service)
    hook = paused_hook(describe_deployment(ecs, arn))
    if hook is None:
        raise InputError(f"{service}: the deployment in progress is not waiting for approval")
    ecs.continue_service_deployment(
        serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE"
    )
    say(f"{service}: approved; production traffic moves to green")
    return arn


def rollback(ecs: Any, cluster: str, service: str, say: Say = print) -> str:
    """Roll back the deployment in progress: answer its pause, or stop it with ROLLBACK."""
    arn = in_progress(ecs, cluster, service)
    hook = paused_hook(describe_deployment(ecs, arn))
    if hook is not None:
        ecs.continue_service_deployment(
            serviceDeploymentArn=arn, hookId=hook["hookId"], action="ROLLBACK"
        )
    else:
        ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    say(f"{service}: rolling back; production returns to the previous revision")
    return arn


def deployment_summary(ecs: Any, cluster: str, service: str) -> list[str]:
    """Return lines describing the deployment in progress (none: one line saying so)."""
    try:
        arn = in_progress(ecs, cluster, service)
    except InputError:
        return [f"{service}: no deployment in progress"]
    d = describe_deployment(ecs, arn)
    lines = [
        f"{service}: {d.get('deploymentConfiguration', {}).get('strategy', ROLLING)} deployment "
        f"{d.get('status')} at {d.get('lifecycleStage', '?')}",
        f"  {arn}",
    ]
    target = d.get("targetServiceRevision", {})
    for label, revision in [
        ("new", target),
        *(("old", r) for r in d.get("sourceServiceRevisions", [])),
    ]:
        if revision:
            lines.append(
                f"  {label} {revision.get('arn')}: running {revision.get('runningTaskCount', 0)}"
                f"/{revision.get('requestedTaskCount', 0)}, production "
                f"{revision.get('requestedProductionTrafficWeight', 0):g} %, test "
                f"{revision.get('requestedTestTrafficWeight', 0):g} %"
            )
    if paused_hook(d) is not None:
        lines.append("  " + pause_hint(service))
    return lines


def running_image(ecs: Any, cluster: str, service: str) -> str | None:
    """Return the image the service's current task definition runs, None if no service."""
    try:
        current = describe_service(ecs, cluster, service)
    except InfraError:
        return None
    containers = ecs.describe_task_definition(taskDefinition=current["taskDefinition"])[
        "taskDefinition"
    ]["containerDefinitions"]
    named = [c for c in containers if c["name"] == service] or containers[:1]
    return str(named[0]["image"])
