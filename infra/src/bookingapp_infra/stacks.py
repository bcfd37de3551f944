"""Which stacks make up the system, in which order, from which template and parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bookingapp_infra.params import (
    INFRA_DIR,
    MAX_ENVIRONMENT,
    ServiceParams,
    app_names,
    priority_of_test_rule,
)

TEMPLATES_DIR = INFRA_DIR / "templates"
DEFAULT_PREFIX = "bookingapp"
# The platform parameter naming the EFS file system to mount again (empty: a new one).
DATA_FILE_SYSTEM = "ExistingDataFileSystemId"


@dataclass(frozen=True)
class Stack:
    """One CloudFormation stack to deploy: its name, template and parameter values."""

    name: str
    template: Path
    parameters: Mapping[str, str]
    service: ServiceParams | None = None

    def cfn_parameters(self, *, creating: bool) -> list[dict[str, str]]:
        """Return the parameters as CloudFormation wants them, for a create or an update."""
        values = dict(self.parameters)
        if self.service is not None and not creating and self.service.autoscaling is not None:
            # An update must not reset the count the autoscaler chose (docs/pitfalls.md #8); an
            # empty DesiredCount makes the template omit the property.
            values["DesiredCount"] = ""
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def network_name(prefix: str) -> str:
    """Return the network stack's name."""
    return f"{prefix}-network"


def platform_name(prefix: str) -> str:
    """Return the platform stack's name."""
    return f"{prefix}-platform"


def data_volume_name(platform_stack: str) -> str:
    """Return the Name tag platform.yaml gives Redis' EFS file system."""
    return f"{platform_stack}-redis-data"


def service_name(prefix: str, service: str) -> str:
    """Return a service stack's name."""
    return f"{prefix}-{service}"


def plan(services: Mapping[str, ServiceParams], prefix: str = DEFAULT_PREFIX) -> list[Stack]:
    """Return every stack in deploy order: network, platform, backing services, then apps.

    A backing service on ElastiCache has no stack of its own: the platform stack builds it.
    """
    network = Stack(network_name(prefix), TEMPLATES_DIR / "network.yaml", {})
    platform = Stack(
        platform_name(prefix),
        TEMPLATES_DIR / "platform.yaml",
        platform_parameters(services, prefix),
    )
    # Backing services first: the apps' readiness depends on Redis answering.
    ordered = sorted(services.values(), key=lambda p: (p.is_app, p.name))
    managed = managed_redis(services)
    apps = app_names(services)
    return [
        network,
        platform,
        *(
            service_stack(p, prefix, managed_redis=managed, apps=apps)
            for p in ordered
            if not p.managed
        ),
    ]


def managed_redis(services: Mapping[str, ServiceParams]) -> bool:
    """Say whether the counter runs on ElastiCache ([elasticache] enabled in its file)."""
    return any(p.managed for p in services.values())


def platform_parameters(services: Mapping[str, ServiceParams], prefix: str) -> dict[str, str]:
    """Return the platform stack's parameters: ports, data owner, Redis, registry, exec."""
    values = {"NetworkStackName": network_name(prefix)}
    for p in services.values():
        values["AppPort" if p.is_app else "BackingPort"] = str(p.container_port)
        if p.data_path is not None:
            # The EFS access point acts as the service's own uid:gid (checked numeric).
            values["DataUid"], values["DataGid"] = p.user.split(":")
        if p.managed and p.elasticache is not None:
            values["RedisNodeType"] = p.elasticache.node_type
            values["RedisNodes"] = str(1 + p.elasticache.replicas)
    values["ManagedRedis"] = str(managed_redis(services)).lower()
    if not managed_redis(services):
        # A file system a destroy kept: `deploy` fills this in when it creates the platform.
        values[DATA_FILE_SYSTEM] = ""
    secret = next(
        (p.repository_credentials for p in services.values() if p.repository_credentials), ""
    )
    is_arn = secret.startswith("arn:")
    values["RepositoryCredentialsArn"] = secret if is_arn else ""
    values["RepositoryCredentialsName"] = "" if is_arn else secret
    exec_on = any(p.enable_execute_command for p in services.values())
    values["EnableExecuteCommand"] = str(exec_on).lower()
    values["CertificateArn"] = ""  # plain HTTP unless `deploy --certificate-arn` (with_https)
    return values


def with_https(stacks: Sequence[Stack], certificate_arn: str) -> list[Stack]:
    """Return the stacks serving HTTPS with this ACM certificate ("" keeps plain HTTP).

    The platform gets the certificate (a 443 listener, :80 redirecting); every app's path
    rules join the 443 listener instead of :80.
    """
    https = "true" if certificate_arn else "false"
    changed = []
    for stack in stacks:
        if stack.service is None and "CertificateArn" in stack.parameters:
            stack = replace(
                stack, parameters={**stack.parameters, "CertificateArn": certificate_arn}
            )
        elif stack.service is not None and stack.service.is_app:
            stack = replace(stack, parameters={**stack.parameters, "Https": https})
        changed.append(stack)
    return changed


def service_stack(
    p: ServiceParams,
    prefix: str = DEFAULT_PREFIX,
    *,
    managed_redis: bool = False,
    apps: Sequence[str] = (),
) -> Stack:
    """Return the stack for one service, built from the service template."""
    return Stack(
        service_name(prefix, p.name),
        TEMPLATES_DIR / "service.yaml",
        service_parameters(p, prefix, managed_redis=managed_redis, apps=apps),
        service=p,
    )


def service_parameters(
    p: ServiceParams,
    prefix: str = DEFAULT_PREFIX,
    *,
    managed_redis: bool = False,
    apps: Sequence[str] = (),
) -> dict[str, str]:
    """Map one service's parameters onto the service template's parameters.

    `apps` is every app service (params.app_names): an app's container gets the list.
    """
    values = {
        "NetworkStackName": network_name(prefix),
        "PlatformStackName": platform_name(prefix),
        "ServiceName": p.name,
        "Kind": p.kind,
        "Image": p.image,
        # What the file said, kept by the stack: `deploy` compares it with a released image.
        "FileImage": p.image,
        "ContainerPort": str(p.container_port),
        "Cpu": str(p.cpu),
        "Memory": str(p.memory),
        "CpuArchitecture": p.cpu_architecture,
        "DesiredCount": str(p.desired_count),
        "User": p.user,
        "Command": ",".join(p.command),
        "HealthCheckCommand": ",".join(p.health_check_command),
        "DataPath": p.data_path or "",
        "DiscoveryName": p.discovery_name,
        "DnsTtl": str(p.dns_ttl),
        "MinimumHealthyPercent": str(p.deployment.minimum_healthy_percent),
        "MaximumPercent": str(p.deployment.maximum_percent),
        "RepositoryCredentials": p.repository_credentials or "",
        "EnableExecuteCommand": str(p.enable_execute_command).lower(),
    }
    if p.health_check_path is not None:
        values["HealthCheckPath"] = p.health_check_path
    if p.alb is not None:
        values |= {"PathPattern": p.alb.path_pattern, "Priority": str(p.alb.priority)}
        values["Https"] = "false"  # the :80 listener unless with_https says otherwise
        values["Apps"] = ",".join(apps)
    values |= deployment_parameters(p)
    if p.autoscaling is not None:
        values |= {
            "MinCapacity": str(p.autoscaling.min_capacity),
            "MaxCapacity": str(p.autoscaling.max_capacity),
            "CpuTarget": str(p.autoscaling.cpu_target),
            "RequestsPerTarget": str(p.autoscaling.requests_per_target),
            "ScaleOutCooldown": str(p.autoscaling.scale_out_cooldown),
            "ScaleInCooldown": str(p.autoscaling.scale_in_cooldown),
        }
    names = list(p.environment)
    if managed_redis and p.is_app:
        # The template sets REDIS_HOST (ElastiCache's endpoint) and REDIS_TLS itself.
        values["ManagedRedis"] = "true"
        names = [n for n in names if n not in ("REDIS_HOST", "REDIS_TLS")]
    for slot in range(1, MAX_ENVIRONMENT + 1):
        name = names[slot - 1] if slot <= len(names) else ""
        values[f"EnvironmentName{slot}"] = name
        values[f"EnvironmentValue{slot}"] = p.environment.get(name, "")
    return values


def deployment_parameters(p: ServiceParams) -> dict[str, str]:
    """Map the [deployment] strategy settings onto the service template's parameters."""
    d = p.deployment
    values = {
        "DeploymentStrategy": d.strategy,
        "BakeTimeInMinutes": str(d.bake_time_minutes),
        "ApprovalPause": "true" if d.approval else "false",
        # Read by the template for its own strategy only; ECS takes tenths of a percent.
        "StepPercent": f"{d.step_percent:g}",
        "StepBakeTimeInMinutes": str(d.step_bake_time_minutes),
        "CanaryPercent": f"{d.canary_percent:g}",
        "CanaryBakeTimeInMinutes": str(d.canary_bake_time_minutes),
    }
    if p.alb is not None:
        values["TestPriority"] = str(priority_of_test_rule(p))
        # What the file cannot know: `deploy` replaces it with the colour that is live now.
        values["LiveColour"] = "blue"
    return values
