"""The templates contain every seed requirement, resolved for each service's parameters.

These tests read the YAML and resolve conditions the way CloudFormation would; they prove
what the templates ask AWS for, not that AWS accepts it (cfn-lint checks the schemas,
only a real deploy proves the rest).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bookingapp_infra.params import NAMESPACE, TMP_PATH, ServiceParams
from bookingapp_infra.stacks import platform_parameters, service_parameters, service_stack
from tests.infra import cfn

APPS = ("home", "movie", "bus")
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


def test_platform_outputs_the_alb_url(templates: dict[str, Any]) -> None:
    outputs = templates["platform"]["Outputs"]
    assert outputs["AlbUrl"]["Value"] == {"Fn::Sub": "http://${LoadBalancer.DNSName}"}


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
