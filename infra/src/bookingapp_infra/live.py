"""What `deploy` reads from the running system, and does to it, around each stack change.

A stack's parameters come from the parameter files, but some things only the running
system knows: the image a `release` put in place, which target group production traffic
is on after traffic-shifting releases, whether the apps' rollback alarms are quiet, whether a
new service's first deployment waits at an approval pause, and which EFS file system a
`destroy` kept. AwsLive asks AWS; the tests in
tests/infra/test_live.py answer with botocore's Stubber.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from bookingapp_infra import release
from bookingapp_infra.aws import ClientFactory, error_code
from bookingapp_infra.deploy import Say, stack_outputs
from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.stacks import data_volume_name, platform_name

# The rollback alarms evaluate 2 of 3 one-minute periods: staying out of ALARM for three
# minutes means the errors before (a Redis deploy's 503s) no longer count.
QUIET_SECONDS = 180.0
# Longest deploy waits for them before it gives up on the app's update.
QUIET_LIMIT = 900.0
ALARM_POLL = 15.0
# The template's logical ids of what a traffic-shifting app's traffic runs through.
PRODUCTION_RULE, BLUE_GROUP, GREEN_GROUP = "ListenerRule", "TargetGroup", "GreenTargetGroup"
# ECS answers these while the service does not exist yet (a create still under way).
NOT_YET = ("ServiceNotFoundException", "ClusterNotFoundException")


class AwsLive:
    """deploy.Live against AWS (or the emulator the environment names)."""

    def __init__(
        self,
        session: ClientFactory,
        prefix: str,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session, self.prefix = session, prefix
        self.sleep, self.clock = sleep, clock
        self._clients: dict[str, Any] = {}
        self._paused_once: set[str] = set()
        self._cluster: str | None = None  # read once: the cluster's name never changes

    def client(self, name: str) -> Any:
        """Return one AWS client, made once."""
        if name not in self._clients:
            self._clients[name] = self.session.client(name)
        return self._clients[name]

    def cluster(self) -> str:
        """Return the platform stack's ECS cluster (asked only once the platform exists)."""
        if self._cluster is None:
            name = platform_name(self.prefix)
            outputs = stack_outputs(self.client("cloudformation"), name)
            if "ClusterName" not in outputs:
                raise InfraError(f"stack {name} has no output ClusterName: redeploy the platform")
            self._cluster = outputs["ClusterName"]
        return self._cluster

    def running_image(self, service: str) -> str | None:
        """Return the image the service's ECS service runs, None if there is none yet."""
        return release.running_image(self.client("ecs"), self.cluster(), service)

    def live_colour(self, stack_name: str) -> str:
        """Return blue or green: the group the production rule sends everything to now."""
        ids = stack_resources(self.client("cloudformation"), stack_name)
        rule = ids.get(PRODUCTION_RULE)
        if rule is None:
            return "blue"  # an app without its rule yet: nothing is live anywhere
        answer = self.client("elbv2").describe_rules(RuleArns=[rule])
        weights = forward_weights(answer["Rules"][0])
        return colour_of(stack_name, weights, ids.get(BLUE_GROUP), ids.get(GREEN_GROUP))

    def wait_for_quiet_alarms(self, service: str, say: Say) -> None:
        """Wait until the service's rollback alarms have stayed out of ALARM a while."""
        names = alarm_names(release.describe_service(self.client("ecs"), self.cluster(), service))
        if not names:
            return
        say(
            f"{service}: waiting until its rollback alarms stay quiet for "
            f"{QUIET_SECONDS:.0f} s: the Redis task was replaced, and its 503s count as "
            "target 5xx that would roll this update back"
        )
        start = quiet_since = self.clock()
        while True:
            firing = alarms_firing(self.client("cloudwatch"), names)
            now = self.clock()
            if firing:
                quiet_since = now
            elif now - quiet_since >= QUIET_SECONDS:
                return
            if now - start >= QUIET_LIMIT:
                raise InfraError(
                    f"{service}: rollback alarms {', '.join(firing)} still in ALARM after "
                    f"{QUIET_LIMIT:.0f} s; an update now would be rolled back: find what "
                    "answers 5xx (`bookingapp-infra status`, the service's logs), then "
                    "deploy again"
                )
            self.sleep(ALARM_POLL)

    def continue_first_pause(self, service: str, say: Say) -> None:
        """Continue the service's first deployment if it waits at an approval pause."""
        ecs = self.client("ecs")
        try:
            arn = release.in_progress(ecs, self.cluster(), service)
            hook = release.paused_hook(release.describe_deployment(ecs, arn))
        except InputError:
            return  # no deployment under way yet
        except ClientError as err:
            if error_code(err) in NOT_YET:
                return
            raise
        if hook is None or hook["hookId"] in self._paused_once:
            return
        self._paused_once.add(hook["hookId"])
        ecs.continue_service_deployment(
            serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE"
        )
        say(
            f"{service}: its first deployment paused for approval (ECS pauses a first "
            "deployment too); nothing runs yet to compare it with, so deploy continued it. "
            "Releases from now on wait for `bookingapp-infra approve`"
        )

    def kept_file_systems(self, platform_stack: str) -> list[str]:
        """Return the ids of Redis' file systems a destroy kept, newest first."""
        name = data_volume_name(platform_stack)
        found = []
        for page in self.client("efs").get_paginator("describe_file_systems").paginate():
            for fs in page["FileSystems"]:
                tags = {t["Key"]: t["Value"] for t in fs.get("Tags", [])}
                if tags.get("Name") == name and fs["LifeCycleState"] == "available":
                    found.append(fs)
        found.sort(key=lambda fs: fs["CreationTime"], reverse=True)
        return [fs["FileSystemId"] for fs in found]


def stack_resources(cfn: Any, stack_name: str) -> dict[str, str]:
    """Return a stack's physical resource ids by logical id."""
    answer = cfn.describe_stack_resources(StackName=stack_name)
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in answer["StackResources"]}


def forward_weights(rule: dict[str, Any]) -> dict[str, int]:
    """Return the weight per target group ARN of a listener rule's forward action."""
    (action,) = [a for a in rule["Actions"] if a["Type"] == "forward"]
    groups = action.get("ForwardConfig", {}).get("TargetGroups")
    if not groups:  # a plain forward to one group
        return {action["TargetGroupArn"]: 1}
    return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}


def colour_of(stack_name: str, weights: dict[str, int], blue: str | None, green: str | None) -> str:
    """Return the colour that takes all production traffic; refuse while ECS is shifting."""
    live = [arn for arn, weight in weights.items() if weight > 0]
    if live == [green] and green is not None:
        return "green"
    if live == [blue] and blue is not None:
        return "blue"
    raise InfraError(
        f"{stack_name}: production traffic is split between target groups ({weights}): a "
        "traffic-shifting deployment (blue/green, linear, canary) is moving it; wait until it "
        "ends (`bookingapp-infra status SERVICE` shows it), then deploy again"
    )


def alarm_names(service: dict[str, Any]) -> list[str]:
    """Return the CloudWatch alarms an ECS service's deployments roll back on."""
    alarms = service.get("deploymentConfiguration", {}).get("alarms", {})
    names: list[str] = alarms.get("alarmNames", []) if alarms.get("enable") else []
    return names


def alarms_firing(cloudwatch: Any, names: list[str]) -> list[str]:
    """Return those of the alarms that are in ALARM now."""
    answer = cloudwatch.describe_alarms(AlarmNames=names)
    return [a["AlarmName"] for a in answer.get("MetricAlarms", []) if a["StateValue"] == "ALARM"]
