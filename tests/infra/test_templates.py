"""The templates contain every seed requirement, resolved for each service's parameters.

These tests read the YAML and resolve conditions the way CloudFormation would; they prove
what the templates ask AWS for, not that AWS accepts it (cfn-lint checks the schemas,
only a real deploy proves the rest).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from bookingapp_infra.params import (
    NAMESPACE,
    TMP_PATH,
    ElastiCacheParams,
    ServiceParams,
    app_names,
)
from bookingapp_infra.stacks import (
    plan,
    platform_parameters,
    service_parameters,
    service_stack,
)
from tests.infra import cfn
from tests.infra.conftest import app_stacks, stack_order
from tests.support import ROOT, app_services

# Every app of infra/services/*.toml: each is checked on its own.
APPS = tuple(app_services())
# CloudFormation's TemplateBody limit; bigger templates would need an S3 URL.
TEMPLATE_BODY_LIMIT = 51_200


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Return the resources of one type, by logical id."""
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """Return one resource's properties."""
    return resources[logical_id]["Properties"]


def resolved_service(
    templates: dict[str, Any], p: ServiceParams, *, creating: bool = True
) -> dict[str, Any]:
    """Resolve the service template with the parameters the CLI sends for p."""
    values = {
        item["ParameterKey"]: item["ParameterValue"]
        for item in service_stack(p).cfn_parameters(creating=creating)
    }
    return cfn.resolve(templates["service"], values)


def container(resources: dict[str, Any]) -> dict[str, Any]:
    """Return the task definition's only container."""
    (definition,) = props(resources, "TaskDefinition")["ContainerDefinitions"]
    return definition


# ---------------------------------------------------------------- every template


@pytest.mark.parametrize("name", cfn.TEMPLATES)
def test_every_parameter_has_a_description_and_a_default(
    templates: dict[str, Any], name: str
) -> None:
    parameters = templates[name].get("Parameters", {})
    lacking = [k for k, spec in parameters.items() if not spec.get("Description")]
    lacking += [k for k, spec in parameters.items() if "Default" not in spec]
    assert lacking == []


@pytest.mark.parametrize("name", cfn.TEMPLATES)
def test_no_account_region_bucket_or_date_is_hard_coded(name: str) -> None:
    text = cfn.template_path(name).read_text()
    allowed_dates = {"2010-09-09", "2012-10-17"}  # the template and IAM policy language versions
    assert re.findall(r"\b\d{12}\b", text) == []
    assert re.findall(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d\b", text) == []
    assert re.findall(r"s3://|\.s3[.-]|amazonaws\.com/", text) == []
    assert set(re.findall(r"\b\d{4}-\d{2}-\d{2}\b", text)) <= allowed_dates


@pytest.mark.parametrize("name", cfn.TEMPLATES)
def test_every_resource_has_a_comment_above_it(name: str) -> None:
    lines = cfn.template_path(name).read_text().splitlines()
    start = lines.index("Resources:")
    end = next(i for i in range(start + 1, len(lines)) if re.match(r"^\S", lines[i]))
    missing = [
        line.strip()
        for i, line in enumerate(lines[start:end], start)
        if re.match(r"^  [A-Za-z0-9]+:$", line) and not lines[i - 1].startswith("  #")
    ]
    assert missing == []


@pytest.mark.parametrize("name", cfn.TEMPLATES)
def test_template_fits_in_a_create_stack_call(name: str) -> None:
    assert len(cfn.template_path(name).read_bytes()) < TEMPLATE_BODY_LIMIT


# ---------------------------------------------------------------- network


def test_vpc_has_dns_hostnames_and_support(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["network"], {})
    (vpc,) = of_type(resources, "AWS::EC2::VPC").values()
    assert vpc["Properties"]["EnableDnsHostnames"] is True
    assert vpc["Properties"]["EnableDnsSupport"] is True


def routes_by_subnet(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Map each subnet to the default route of the route table it is associated with."""
    default_routes = {
        r["Properties"]["RouteTableId"]["Ref"]: r["Properties"]
        for r in of_type(resources, "AWS::EC2::Route").values()
        if r["Properties"]["DestinationCidrBlock"] == "0.0.0.0/0"
    }
    return {
        a["Properties"]["SubnetId"]["Ref"]: default_routes[a["Properties"]["RouteTableId"]["Ref"]]
        for a in of_type(resources, "AWS::EC2::SubnetRouteTableAssociation").values()
    }


def test_two_public_and_two_private_subnets_span_two_azs(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["network"], {})
    routes = routes_by_subnet(resources)
    subnets = of_type(resources, "AWS::EC2::Subnet")
    public = sorted(s for s in subnets if "GatewayId" in routes[s])
    private = sorted(s for s in subnets if "NatGatewayId" in routes[s])
    assert (len(public), len(private)) == (2, 2)
    for group in (public, private):
        azs = [subnets[s]["Properties"]["AvailabilityZone"] for s in group]
        assert azs == [
            {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
            {"Fn::Select": [1, {"Fn::GetAZs": ""}]},
        ]


def test_no_subnet_hands_out_public_ips(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["network"], {})
    subnets = of_type(resources, "AWS::EC2::Subnet").values()
    assert [s["Properties"]["MapPublicIpOnLaunch"] for s in subnets] == [False] * 4


def test_private_subnets_leave_only_through_the_nat(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["network"], {})
    (nat_id,) = of_type(resources, "AWS::EC2::NatGateway")
    nat = props(resources, nat_id)
    routes = routes_by_subnet(resources)
    assert routes["PrivateSubnet1"] == routes["PrivateSubnet2"]
    assert routes["PrivateSubnet1"]["NatGatewayId"] == {"Ref": nat_id}
    assert nat["SubnetId"]["Ref"] in {s for s, r in routes.items() if "GatewayId" in r}


# ---------------------------------------------------------------- platform


def test_cluster_has_container_insights(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["platform"], {})
    (cluster,) = of_type(resources, "AWS::ECS::Cluster").values()
    settings = cluster["Properties"]["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enabled"} in settings


def test_alb_is_internet_facing_in_the_public_subnets(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["platform"], {})
    (alb,) = of_type(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert alb["Properties"]["Scheme"] == "internet-facing"
    assert alb["Properties"]["Subnets"] == {
        "Fn::Split": [",", {"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-PublicSubnets"}}]
    }


def test_listener_on_80_answers_unmatched_paths_with_404(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["platform"], {})
    (listener,) = of_type(resources, "AWS::ElasticLoadBalancingV2::Listener").values()
    assert (listener["Properties"]["Port"], listener["Properties"]["Protocol"]) == (80, "HTTP")
    (action,) = listener["Properties"]["DefaultActions"]
    assert action["Type"] == "fixed-response"
    assert action["FixedResponseConfig"]["StatusCode"] == "404"


def ingress_rules(resources: dict[str, Any], group: str) -> list[dict[str, Any]]:
    """Return every ingress rule of a security group, inline or standalone."""
    rules = list(props(resources, group).get("SecurityGroupIngress", []))
    rules += [
        r["Properties"]
        for r in of_type(resources, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Ref": group}
    ]
    return rules


def test_alb_accepts_only_http_from_the_internet(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["platform"], {})
    rules = ingress_rules(resources, "AlbSecurityGroup")
    assert [(r["FromPort"], r["ToPort"], r["CidrIp"]) for r in rules] == [(80, 80, "0.0.0.0/0")]


def test_apps_accept_only_the_alb_and_each_other_on_the_app_port(
    templates: dict[str, Any],
) -> None:
    """The ALB's traffic, plus the apps' neighbour calls through Cloud Map; no address range."""
    resources = cfn.resolve(templates["platform"], {"AppPort": "5000"})
    rules = ingress_rules(resources, "AppSecurityGroup")
    assert sorted(
        (r["SourceSecurityGroupId"]["Ref"], r["FromPort"], r["ToPort"]) for r in rules
    ) == [
        ("AlbSecurityGroup", "5000", "5000"),
        ("AppSecurityGroup", "5000", "5000"),
    ]
    assert all("CidrIp" not in r for r in rules)


def test_redis_accepts_only_the_apps_group(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["platform"], {"BackingPort": "6379"})
    rules = ingress_rules(resources, "BackingSecurityGroup")
    assert [(r["SourceSecurityGroupId"], r["FromPort"]) for r in rules] == [
        ({"Ref": "AppSecurityGroup"}, "6379")
    ]


def test_no_group_keeps_the_default_allow_all_egress(templates: dict[str, Any]) -> None:
    """A group without inline egress keeps AWS's allow-all rule; standalone rules only add."""
    resources = cfn.resolve(templates["platform"], {"AppPort": "5000"})
    groups = of_type(resources, "AWS::EC2::SecurityGroup")
    assert sorted(g for g in groups if not groups[g]["Properties"].get("SecurityGroupEgress")) == []
    (alb_out,) = props(resources, "AlbSecurityGroup")["SecurityGroupEgress"]
    assert (alb_out["DestinationSecurityGroupId"], alb_out["FromPort"]) == (
        {"Ref": "AppSecurityGroup"},
        "5000",
    )


def test_platform_ports_come_from_the_parameter_files(services: dict[str, ServiceParams]) -> None:
    values = platform_parameters(services, "bookingapp")
    assert values["AppPort"] == str(services["home"].container_port)
    assert values["BackingPort"] == str(services["redis"].container_port)


def test_namespace_is_the_one_the_apps_resolve(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["platform"], {})
    (namespace,) = of_type(resources, "AWS::ServiceDiscovery::PrivateDnsNamespace").values()
    assert namespace["Properties"]["Name"] == NAMESPACE == "internal-bookingapp.com"


def test_a_missing_name_is_cached_seconds_not_minutes(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    """The SOA TTL bounds negative caching: no A record while Redis is replaced stop-first."""
    resources = cfn.resolve(templates["platform"], {})
    (namespace,) = of_type(resources, "AWS::ServiceDiscovery::PrivateDnsNamespace").values()
    ttl = int(namespace["Properties"]["Properties"]["DnsProperties"]["SOA"]["TTL"])
    assert 0 < ttl <= 15
    assert ttl < services["redis"].dns_ttl  # never longer than a positive answer is kept


def test_execution_role_reaches_only_its_log_group_and_secret(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["platform"], {})
    role = props(resources, "ExecutionRole")
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert {str(s["Resource"]) for s in statements} == {
        str({"Fn::GetAtt": ["LogGroup", "Arn"]}),
        str({"Ref": "RedisPassword"}),
    }
    assert "ManagedPolicyArns" not in role
    assert "Policies" not in props(resources, "TaskRole")


def test_redis_password_is_generated_by_cloudformation(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["platform"], {})
    (secret,) = of_type(resources, "AWS::SecretsManager::Secret").values()
    assert "SecretString" not in secret["Properties"]
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 20


def test_logs_expire(templates: dict[str, Any]) -> None:
    resources = cfn.resolve(templates["platform"], {})
    (logs,) = of_type(resources, "AWS::Logs::LogGroup").values()
    assert int(logs["Properties"]["RetentionInDays"]) > 0


def test_platform_outputs_the_alb_url_https_once_there_is_a_certificate(
    templates: dict[str, Any],
) -> None:
    outputs = templates["platform"]["Outputs"]
    assert outputs["AlbUrl"]["Value"] == {
        "Fn::If": [
            "HasCertificate",
            {"Fn::Sub": "https://${LoadBalancer.DNSName}"},
            {"Fn::Sub": "http://${LoadBalancer.DNSName}"},
        ]
    }


# ---------------------------------------------------------------- service: apps


@pytest.mark.parametrize("name", APPS)
def test_listener_rule_routes_the_path_pattern_from_params(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    p = services[name]
    rule = props(resolved_service(templates, p), "ListenerRule")
    (condition,) = rule["Conditions"]
    assert condition["PathPatternConfig"]["Values"] == [p.alb.path_pattern]
    assert rule["Priority"] == str(p.alb.priority)
    assert rule["Actions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]


@pytest.mark.parametrize("name", APPS)
def test_target_group_checks_the_health_path_under_the_prefix(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    p = services[name]
    group = props(resolved_service(templates, p), "TargetGroup")
    assert group["TargetType"] == "ip"
    assert group["HealthCheckPath"] == p.health_check_path == f"/{name}/health"
    delay = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
    assert int(delay["deregistration_delay.timeout_seconds"]) <= 30


@pytest.mark.parametrize("name", APPS)
def test_apps_scale_on_average_cpu(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    p = services[name]
    resources = resolved_service(templates, p)
    target = props(resources, "ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        str(p.autoscaling.min_capacity),
        str(p.autoscaling.max_capacity),
    )
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    policy = props(resources, "CpuScalingPolicy")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
    }
    assert tracking["TargetValue"] == str(p.autoscaling.cpu_target)
    # The cooldowns come from the toml, the same numbers `bookingapp-local autoscale` uses.
    assert (tracking["ScaleOutCooldown"], tracking["ScaleInCooldown"]) == (
        str(p.autoscaling.scale_out_cooldown),
        str(p.autoscaling.scale_in_cooldown),
    )


@pytest.mark.parametrize("name", APPS)
def test_apps_join_the_alb_with_a_grace_period_and_roll_100_200(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    service = props(resolved_service(templates, services[name]), "Service")
    assert service["LoadBalancers"][0]["TargetGroupArn"] == {"Ref": "TargetGroup"}
    assert int(service["HealthCheckGracePeriodSeconds"]) >= 30
    deployment = service["DeploymentConfiguration"]
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == ("100", "200")


@pytest.mark.parametrize("name", APPS)
def test_updates_leave_the_autoscalers_count_alone(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    p = services[name]
    created = props(resolved_service(templates, p, creating=True), "Service")
    updated = props(resolved_service(templates, p, creating=False), "Service")
    assert created["DesiredCount"] == str(p.desired_count)
    assert "DesiredCount" not in updated


# ---------------------------------------------------------------- service: redis


def test_redis_has_no_alb_and_no_autoscaling(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    resources = resolved_service(templates, services["redis"], creating=False)
    assert set(resources) == {"TaskDefinition", "DiscoveryService", "ListenerRuleReady", "Service"}
    service = props(resources, "Service")
    assert "LoadBalancers" not in service
    assert "HealthCheckGracePeriodSeconds" not in service
    # No autoscaler owns Redis' count, so every deploy sets it from the parameter file.
    assert service["DesiredCount"] == str(services["redis"].desired_count)
    (group,) = service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    assert group == {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-BackingSecurityGroupId"}}


def test_redis_writes_its_aof_to_a_data_volume(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    resources = resolved_service(templates, services["redis"])
    mounts = {m["ContainerPath"]: m["SourceVolume"] for m in container(resources)["MountPoints"]}
    assert mounts == {TMP_PATH: "tmp", services["redis"].data_path: "data"}
    assert "--appendonly yes" in " ".join(container(resources)["Command"])


# ---------------------------------------------------------------- service: every service


@pytest.mark.parametrize("name", [*APPS, "redis"])
def test_cloud_map_a_records_with_ttl_30_and_ecs_health(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    p = services[name]
    resources = resolved_service(templates, p)
    discovery = props(resources, "DiscoveryService")
    assert discovery["Name"] == p.discovery_name
    assert discovery["DnsConfig"]["DnsRecords"] == [{"Type": "A", "TTL": "30"}]
    assert p.dns_ttl == 30
    assert "HealthCheckCustomConfig" in discovery
    registries = props(resources, "Service")["ServiceRegistries"]
    assert registries == [{"RegistryArn": {"Fn::GetAtt": ["DiscoveryService", "Arn"]}}]


@pytest.mark.parametrize("name", [*APPS, "redis"])
def test_tasks_run_in_private_subnets_without_public_ip(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    service = props(resolved_service(templates, services[name]), "Service")
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert network["Subnets"] == {
        "Fn::Split": [",", {"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-PrivateSubnets"}}]
    }
    assert service["LaunchType"] == "FARGATE"


@pytest.mark.parametrize("name", [*APPS, "redis"])
def test_failed_deployments_roll_back(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    service = props(resolved_service(templates, services[name]), "Service")
    breaker = service["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker == {"Enable": True, "Rollback": True}


@pytest.mark.parametrize("name", [*APPS, "redis"])
def test_container_runs_hardened_as_in_the_parameter_file(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    p = services[name]
    resources = resolved_service(templates, p)
    task = props(resources, "TaskDefinition")
    c = container(resources)
    assert task["NetworkMode"] == "awsvpc"
    assert (task["Cpu"], task["Memory"]) == (str(p.cpu), str(p.memory))
    assert (c["Image"], c["User"]) == (p.image, p.user)
    assert c["User"] not in ("0", "root")
    assert c["ReadonlyRootFilesystem"] is True
    assert {"SourceVolume": "tmp", "ContainerPath": TMP_PATH, "ReadOnly": False} in c["MountPoints"]
    assert c["HealthCheck"]["Command"] == list(p.health_check_command)
    assert c["StopTimeout"] == 30
    assert c["LogConfiguration"]["LogDriver"] == "awslogs"
    assert c["PortMappings"] == [{"ContainerPort": str(p.container_port), "Protocol": "tcp"}]


@pytest.mark.parametrize("name", [*APPS, "redis"])
def test_environment_and_redis_password_reach_the_container(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    p = services[name]
    c = container(resolved_service(templates, p))
    assert {e["Name"]: e["Value"] for e in c["Environment"]} == dict(p.environment)
    assert [s["Name"] for s in c["Secrets"]] == ["REDIS_PASSWORD"]


def test_every_app_is_told_every_app_in_rule_order_and_redis_nothing(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    """BOOKINGAPP_APPS (the nav, home's panels) is the parameter files' apps, none left out."""
    for stack in plan(services):
        if stack.service is None:
            continue
        values = {
            i["ParameterKey"]: i["ParameterValue"] for i in stack.cfn_parameters(creating=True)
        }
        env = container(cfn.resolve(templates["service"], values))["Environment"]
        told = {e["Name"]: e["Value"] for e in env}.get("BOOKINGAPP_APPS")
        assert told == (",".join(app_names(services)) if stack.service.is_app else None)


def test_service_template_defaults_match_the_home_parameters(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    """Deploying the template by hand with its defaults gives what home.toml says.

    Except DesiredCount, empty by default so a hand-run update never resets the scaler's
    count, and the environment slots, which default to unused.
    """
    defaults = {k: str(v["Default"]) for k, v in templates["service"]["Parameters"].items()}
    sent = service_parameters(services["home"])
    differing = {
        k: (defaults[k], v)
        for k, v in sent.items()
        if defaults[k] != v and k != "DesiredCount" and not k.startswith("Environment")
    }
    assert differing == {}


# ---------------------------------------------------------------- issue 11: first deploy


def platform_for(services: dict[str, ServiceParams], **overrides: str) -> dict[str, Any]:
    """Resolve the platform template with the parameters the CLI sends, plus overrides."""
    values = platform_parameters(services, "bookingapp") | overrides
    return cfn.resolve(cfn.load("platform"), values)


def test_redis_data_lives_on_an_encrypted_efs_file_system_that_outlives_the_stack(
    services: dict[str, ServiceParams],
) -> None:
    resources = platform_for(services)
    (fs_id,) = of_type(resources, "AWS::EFS::FileSystem")
    fs = resources[fs_id]
    assert fs["Properties"]["Encrypted"] is True
    assert (fs["DeletionPolicy"], fs["UpdateReplacePolicy"]) == ("Retain", "Retain")
    (deny,) = fs["Properties"]["FileSystemPolicy"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_access_point_acts_as_redis_uid_and_gid_from_its_parameter_file(
    services: dict[str, ServiceParams],
) -> None:
    uid, gid = services["redis"].user.split(":")
    assert (uid, gid) == ("999", "999")
    resources = platform_for(services)
    (point,) = of_type(resources, "AWS::EFS::AccessPoint").values()
    assert point["Properties"]["PosixUser"] == {"Uid": uid, "Gid": gid}
    root = point["Properties"]["RootDirectory"]
    assert root["Path"] == "/redis"
    assert root["CreationInfo"] == {"OwnerUid": uid, "OwnerGid": gid, "Permissions": "0750"}


def test_efs_is_reachable_only_by_nfs_from_the_redis_task_in_both_private_subnets(
    services: dict[str, ServiceParams],
) -> None:
    resources = platform_for(services)
    targets = of_type(resources, "AWS::EFS::MountTarget").values()
    assert sorted(t["Properties"]["SubnetId"]["Fn::Select"][0] for t in targets) == [0, 1]
    assert all(t["Properties"]["SecurityGroups"] == [{"Ref": "DataSecurityGroup"}] for t in targets)
    rules = ingress_rules(resources, "DataSecurityGroup")
    assert [(r["SourceSecurityGroupId"], r["FromPort"], r["ToPort"]) for r in rules] == [
        ({"Ref": "BackingSecurityGroup"}, 2049, 2049)
    ]
    (placeholder,) = props(resources, "DataSecurityGroup")["SecurityGroupEgress"]
    assert placeholder["CidrIp"] == "127.0.0.1/32"


def test_only_the_redis_task_role_may_mount_and_only_through_the_access_point(
    services: dict[str, ServiceParams],
) -> None:
    resources = platform_for(services)
    policies = of_type(resources, "AWS::IAM::Policy")
    (efs_policy,) = [
        p
        for p in policies.values()
        if "elasticfilesystem" in str(p["Properties"]["PolicyDocument"])
    ]
    assert efs_policy["Properties"]["Roles"] == [{"Ref": "BackingTaskRole"}]
    (statement,) = efs_policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == [
        "elasticfilesystem:ClientMount",
        "elasticfilesystem:ClientWrite",
    ]
    assert statement["Resource"] == {"Fn::GetAtt": ["DataFileSystem", "Arn"]}
    assert statement["Condition"] == {
        "StringEquals": {
            "elasticfilesystem:AccessPointArn": {"Fn::GetAtt": ["DataAccessPoint", "Arn"]}
        }
    }


def test_redis_mounts_its_efs_access_point_at_data_over_tls_with_iam(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    resources = resolved_service(templates, services["redis"])
    task = props(resources, "TaskDefinition")
    volumes = {v["Name"]: v for v in task["Volumes"]}
    efs = volumes["data"]["EFSVolumeConfiguration"]
    assert efs["TransitEncryption"] == "ENABLED"
    assert efs["AuthorizationConfig"]["IAM"] == "ENABLED"
    assert efs["AuthorizationConfig"]["AccessPointId"] == {
        "Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-DataAccessPointId"}
    }
    assert efs["FilesystemId"] == {
        "Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-DataFileSystemId"}
    }
    assert "EFSVolumeConfiguration" not in volumes["tmp"]
    mounts = {m["ContainerPath"]: m["SourceVolume"] for m in container(resources)["MountPoints"]}
    assert mounts["/data"] == "data"
    assert task["TaskRoleArn"] == {
        "Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-BackingTaskRoleArn"}
    }


@pytest.mark.parametrize("name", APPS)
def test_apps_run_with_the_role_that_cannot_mount_redis_data(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    task = props(resolved_service(templates, services[name]), "TaskDefinition")
    assert task["TaskRoleArn"] == {
        "Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-TaskRoleArn"}
    }
    assert [v["Name"] for v in task["Volumes"]] == ["tmp"]


def managed(services: dict[str, ServiceParams]) -> dict[str, ServiceParams]:
    """Return the services with Redis switched to ElastiCache, as [elasticache] enabled does."""
    cache = ElastiCacheParams(enabled=True, node_type="cache.t4g.small", replicas=2)
    return services | {"redis": replace(services["redis"], elasticache=cache)}


def test_the_committed_redis_runs_as_an_ecs_task_not_on_elasticache(
    services: dict[str, ServiceParams],
) -> None:
    assert not services["redis"].managed
    assert platform_parameters(services, "bookingapp")["ManagedRedis"] == "false"
    resources = platform_for(services)
    assert of_type(resources, "AWS::ElastiCache::ReplicationGroup") == {}


def test_managed_redis_is_a_multi_az_encrypted_valkey_group_using_the_same_secret(
    services: dict[str, ServiceParams],
) -> None:
    values = platform_parameters(managed(services), "bookingapp")
    assert (values["ManagedRedis"], values["RedisNodeType"], values["RedisNodes"]) == (
        "true",
        "cache.t4g.small",
        "3",
    )
    resources = platform_for(managed(services))
    (group_id,) = of_type(resources, "AWS::ElastiCache::ReplicationGroup")
    group = resources[group_id]
    p = group["Properties"]
    assert p["Engine"] == "valkey"
    assert (p["AutomaticFailoverEnabled"], p["MultiAZEnabled"]) == (True, True)
    assert (p["TransitEncryptionEnabled"], p["AtRestEncryptionEnabled"]) == (True, True)
    assert p["AuthToken"] == {"Fn::Sub": "{{resolve:secretsmanager:${RedisPassword}:SecretString}}"}
    assert p["SecurityGroupIds"] == [{"Ref": "BackingSecurityGroup"}]
    assert (p["NumCacheClusters"], p["CacheNodeType"]) == ("3", "cache.t4g.small")
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    # No ECS Redis, so no EFS for it.
    assert of_type(resources, "AWS::EFS::FileSystem") == {}


def test_with_managed_redis_the_apps_take_host_and_tls_from_the_platform(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    stacks = plan(managed(services))
    # No Redis stack: the platform builds ElastiCache.
    assert [s.name for s in stacks] == [
        f"bookingapp-{n}" for n in ("network", "platform", *app_stacks(services))
    ]
    home = next(s for s in stacks if s.service and s.service.name == "home")
    values = {i["ParameterKey"]: i["ParameterValue"] for i in home.cfn_parameters(creating=True)}
    assert values["ManagedRedis"] == "true"
    env = {
        e["Name"]: e["Value"]
        for e in container(cfn.resolve(templates["service"], values))["Environment"]
    }
    assert env["REDIS_HOST"] == {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-RedisHost"}}
    assert env["REDIS_TLS"] == {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-RedisTls"}}
    assert env["REDIS_PORT"] == "6379"
    outputs = templates["platform"]["Outputs"]
    assert outputs["RedisHost"]["Value"]["Fn::If"][1] == {
        "Fn::GetAtt": ["CacheReplicationGroup", "PrimaryEndPoint.Address"]
    }


@pytest.mark.parametrize("name", [*APPS, "redis"])
def test_without_managed_redis_the_parameter_files_environment_is_all_there_is(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    env = container(resolved_service(templates, services[name]))["Environment"]
    assert "REDIS_TLS" not in {e["Name"] for e in env}


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dockerhub-AbCdEf"


def with_credentials(services: dict[str, ServiceParams], secret: str) -> dict[str, ServiceParams]:
    """Return the services with every app pulling with registry credentials."""
    return {
        n: replace(p, repository_credentials=secret) if p.is_app else p for n, p in services.items()
    }


def execution_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the execution role's policy statements."""
    role = props(resources, "ExecutionRole")
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_without_registry_credentials_pulls_are_anonymous(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    for p in services.values():
        assert "RepositoryCredentials" not in container(resolved_service(templates, p))
    assert len(execution_statements(platform_for(services))) == 2


@pytest.mark.parametrize(
    ("secret", "resource"),
    [
        (SECRET_ARN, SECRET_ARN),
        (
            "dockerhub",
            # The name plus the 6-character suffix Secrets Manager appends to it.
            {
                "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                "${AWS::AccountId}:secret:${RepositoryCredentialsName}-??????"
            },
        ),
    ],
    ids=["by ARN", "by name"],
)
def test_registry_credentials_reach_the_container_and_only_the_execution_role_reads_them(
    templates: dict[str, Any], services: dict[str, ServiceParams], secret: str, resource: Any
) -> None:
    changed = with_credentials(services, secret)
    for p in changed.values():
        c = container(resolved_service(templates, p))
        if p.is_app:
            assert c["RepositoryCredentials"] == {"CredentialsParameter": secret}
        else:
            assert "RepositoryCredentials" not in c
    values = platform_parameters(changed, "bookingapp")
    given = (values["RepositoryCredentialsArn"], values["RepositoryCredentialsName"])
    assert given == ((secret, "") if secret.startswith("arn:") else ("", secret))
    resources = platform_for(changed)
    registry = [s for s in execution_statements(resources) if s["Resource"] == resource]
    assert [s["Action"] for s in registry] == ["secretsmanager:GetSecretValue"]
    for role in ("TaskRole", "BackingTaskRole"):
        assert "Policies" not in props(resources, role)
    assert "secretsmanager" not in str(of_type(resources, "AWS::IAM::Policy"))


@pytest.mark.parametrize("name", [*APPS, "redis"])
def test_every_service_runs_as_uid_and_gid_never_a_bare_uid(
    templates: dict[str, Any], services: dict[str, ServiceParams], name: str
) -> None:
    user = container(resolved_service(templates, services[name]))["User"]
    uid, gid = user.split(":")
    assert int(uid) > 0
    assert int(gid) > 0
    pattern = templates["service"]["Parameters"]["User"]["AllowedPattern"]
    assert re.fullmatch(pattern, user)
    assert re.fullmatch(pattern, uid) is None


STATEFUL = {
    # resource type: (DeletionPolicy, UpdateReplacePolicy), the reasons beside each in
    # platform.yaml.
    "AWS::SecretsManager::Secret": ("Delete", "Retain"),
    "AWS::Logs::LogGroup": ("Retain", "Retain"),
    "AWS::EFS::FileSystem": ("Retain", "Retain"),
    "AWS::ElastiCache::ReplicationGroup": ("Snapshot", "Snapshot"),
}


def test_state_that_must_survive_a_replacement_has_explicit_policies(
    templates: dict[str, Any],
) -> None:
    resources = templates["platform"]["Resources"]
    found = {
        r["Type"]: (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy"))
        for r in resources.values()
        if r["Type"] in STATEFUL
    }
    assert found == STATEFUL


@pytest.mark.parametrize("name", cfn.TEMPLATES)
def test_cfn_lint_informational_checks_find_nothing(name: str) -> None:
    """Including I3011 (stateful resources without policies): none is kept, none justified."""
    config = ManualArgs(regions=["us-east-1"], include_checks=["I"])
    matches = lint_file(cfn.template_path(name), config=config)
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


@pytest.mark.parametrize("name", cfn.TEMPLATES)
def test_egress_rules_are_all_inline_and_ingress_rules_all_standalone(
    templates: dict[str, Any], name: str
) -> None:
    """One convention, so no group mixes both kinds in one direction (rules lost on update)."""
    resources = templates[name]["Resources"]
    groups = of_type(resources, "AWS::EC2::SecurityGroup").values()
    assert [g for g in groups if "SecurityGroupIngress" in g["Properties"]] == []
    assert of_type(resources, "AWS::EC2::SecurityGroupEgress") == {}


def test_ecs_exec_is_off_by_default_and_grants_nothing(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    assert not any(p.enable_execute_command for p in services.values())
    for p in services.values():
        resources = resolved_service(templates, p)
        assert props(resources, "Service")["EnableExecuteCommand"] is False
        assert container(resources)["ReadonlyRootFilesystem"] is True
    resources = platform_for(services)
    assert "ssmmessages" not in str(resources)


def test_ecs_exec_opt_in_turns_on_exec_and_the_ssm_channels_for_the_task_roles(
    templates: dict[str, Any], services: dict[str, ServiceParams]
) -> None:
    home = replace(services["home"], enable_execute_command=True)
    resources = resolved_service(templates, home)
    assert props(resources, "Service")["EnableExecuteCommand"] is True
    c = container(resources)
    assert c["LinuxParameters"] == {"InitProcessEnabled": True}
    # The exec agent writes to the container's filesystem; AWS supports no read-only root.
    assert c["ReadonlyRootFilesystem"] is False
    platform = platform_for(services | {"home": home})
    (policy,) = [
        p for p in of_type(platform, "AWS::IAM::Policy").values() if "ssmmessages" in str(p)
    ]
    assert policy["Properties"]["Roles"] == [{"Ref": "TaskRole"}, {"Ref": "BackingTaskRole"}]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    ]
    # Other services keep a read-only root.
    assert container(resolved_service(templates, services["movie"]))["ReadonlyRootFilesystem"]


# README's words for the order stack_order() spells out.
README_STACK_ORDER = "network, platform, redis, then each app by name: stacks in order"


def test_readme_states_the_stack_order_deploy_uses(services: dict[str, ServiceParams]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [s.name.removeprefix("bookingapp-") for s in plan(services)] == stack_order(services)
    assert [n for n, p in services.items() if not p.is_app] == ["redis"]  # as README says
    assert README_STACK_ORDER in readme


@pytest.mark.parametrize("name", APPS)
def test_the_image_user_and_its_writable_tmp_match_the_task_user(
    services: dict[str, ServiceParams], name: str
) -> None:
    """Fargate copies a VOLUME's owner and mode into the task's /tmp bind mount, else root 0755.

    So the image must declare /tmp a VOLUME, owned by the same uid:gid the task runs as.
    """
    final_stage = (ROOT / "Dockerfile").read_text(encoding="utf-8").rsplit("\nFROM ", 1)[1]
    user = services[name].user
    assert f"\nUSER {user}\n" in final_stage
    assert f"chown {user} /tmp" in final_stage
    assert '\nVOLUME ["/tmp"]\n' in final_stage


# ---------------------------------------------------------------- Graviton (issue 21)


@pytest.mark.parametrize("architecture", ["X86_64", "ARM64"])
def test_the_task_runs_on_the_cpu_architecture_its_parameter_file_names(
    templates: dict[str, Any], services: dict[str, ServiceParams], architecture: str
) -> None:
    p = replace(services["movie"], cpu_architecture=architecture)
    runtime = props(resolved_service(templates, p), "TaskDefinition")["RuntimePlatform"]
    assert runtime == {"CpuArchitecture": architecture, "OperatingSystemFamily": "LINUX"}


# ---------------------------------------------------------------- kept Redis data (issue 21)


def test_a_kept_file_system_is_mounted_again_instead_of_a_new_one(
    templates: dict[str, Any],
) -> None:
    kept = "fs-0123456789abcdef0"
    resources = cfn.resolve(templates["platform"], {"ExistingDataFileSystemId": kept})
    assert "DataFileSystem" not in resources
    for mounted in ("DataAccessPoint", "DataMountTarget1", "DataMountTarget2"):
        assert props(resources, mounted)["FileSystemId"] == kept
    (statement,) = props(resources, "BackingDataPolicy")["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}"
        ":file-system/${ExistingDataFileSystemId}"
    }
    fresh = cfn.resolve(templates["platform"], {})
    assert props(fresh, "DataAccessPoint")["FileSystemId"] == {"Ref": "DataFileSystem"}


# ---------------------------------------------------------------- HTTPS (issue 21)


CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def test_without_a_certificate_the_alb_serves_plain_http_as_before(
    templates: dict[str, Any],
) -> None:
    resources = cfn.resolve(templates["platform"], {})
    assert "HttpsListener" not in resources
    assert "AlbHttpsFromInternetIngress" not in resources
    (action,) = props(resources, "HttpListener")["DefaultActions"]
    assert action["Type"] == "fixed-response"


def test_with_a_certificate_443_serves_tls_and_80_redirects_there_permanently(
    templates: dict[str, Any],
) -> None:
    resources = cfn.resolve(templates["platform"], {"CertificateArn": CERTIFICATE})
    https = props(resources, "HttpsListener")
    assert (https["Port"], https["Protocol"]) == (443, "HTTPS")
    assert https["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")  # TLS 1.2 and 1.3
    (default,) = https["DefaultActions"]
    assert default["FixedResponseConfig"]["StatusCode"] == "404"  # unclaimed paths, as on :80
    (redirect,) = props(resources, "HttpListener")["DefaultActions"]
    assert redirect == {
        "Type": "redirect",
        "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
    }
    ingress = props(resources, "AlbHttpsFromInternetIngress")
    assert (ingress["FromPort"], ingress["ToPort"], ingress["CidrIp"]) == (443, 443, "0.0.0.0/0")


@pytest.mark.parametrize(
    ("https", "export"), [("true", "HttpsListenerArn"), ("false", "ListenerArn")]
)
def test_app_rules_join_the_https_listener_when_there_is_a_certificate(
    templates: dict[str, Any], services: dict[str, ServiceParams], https: str, export: str
) -> None:
    p = replace(
        services["movie"], deployment=replace(services["movie"].deployment, strategy="blue_green")
    )
    values = {
        i["ParameterKey"]: i["ParameterValue"]
        for i in service_stack(p).cfn_parameters(creating=True)
    }
    resources = cfn.resolve(templates["service"], {**values, "Https": https})
    for rule in ("ListenerRule", "TestListenerRule"):
        assert props(resources, rule)["ListenerArn"] == {
            "Fn::ImportValue": {"Fn::Sub": f"${{PlatformStackName}}-{export}"}
        }
