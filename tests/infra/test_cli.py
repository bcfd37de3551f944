"""The CLI's AWS calls, against moto's server (a free port) through a localstack-client session.

What moto proves here: the CLI sends the right ECS API calls with the right arguments
(a new task definition revision copied from the running one with only the image changed,
UpdateService pointing at it, no desiredCount) and turns refusals into one-line errors.
What it does not prove: moto starts no containers, validates no load balancer or Cloud
Map wiring, makes no new deployment on UpdateService and reports runningCount from the
MOTO_ECS_SERVICE_RUNNING variable. So "stable" below means the count moto is told to
report, and nothing here shows a real rollout, health check or circuit breaker at work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from localstack_client.session import Session as LocalSession

from bookingapp_infra import aws, deploy
from bookingapp_infra.cli import main
from bookingapp_infra.params import SERVICES_DIR, ServiceParams, app_names, load_all
from bookingapp_infra.stacks import plan, service_parameters
from tests.infra.conftest import StubbedAws, app_stacks, stack_order

CLUSTER = "bookingapp-test"


def client(service: str) -> Any:
    """Return a client on the emulator, built the way the CLI builds its own."""
    return aws.make_session().client(service)


def seed_service(p: ServiceParams, *, running: int) -> dict[str, Any]:
    """Create the cluster, network and an ECS service shaped like service.yaml's for p."""
    account = client("sts").get_caller_identity()["Account"]
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.10.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="apps", Description="apps", VpcId=vpc)["GroupId"]
    ecs = client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    task = ecs.register_task_definition(
        family=f"bookingapp-platform-{p.name}",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu=str(p.cpu),
        memory=str(p.memory),
        executionRoleArn=f"arn:aws:iam::{account}:role/bookingapp-execution",
        taskRoleArn=f"arn:aws:iam::{account}:role/bookingapp-task",
        volumes=[{"name": "tmp"}],
        containerDefinitions=[
            {
                "name": p.name,
                "image": p.image,
                "essential": True,
                "user": p.user,
                "readonlyRootFilesystem": True,
                "portMappings": [{"containerPort": p.container_port, "protocol": "tcp"}],
                "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp"}],
                "environment": [{"name": k, "value": v} for k, v in p.environment.items()],
                "healthCheck": {"command": list(p.health_check_command), "interval": 10},
                "stopTimeout": 30,
            }
        ],
        tags=[{"key": "project", "value": "bookingapp"}],
    )["taskDefinition"]
    # moto reads MOTO_ECS_SERVICE_RUNNING when the service is created (same process).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=p.name,
            taskDefinition=task["taskDefinitionArn"],
            desiredCount=p.desired_count,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": [subnet],
                    "securityGroups": [group],
                    "assignPublicIp": "DISABLED",
                }
            },
        )
    return task


def service_state(name: str) -> dict[str, Any]:
    """Return the ECS service as the emulator describes it."""
    return client("ecs").describe_services(cluster=CLUSTER, services=[name])["services"][0]


def revisions(family: str) -> list[str]:
    """Return the ARNs of every registered revision of a task definition family."""
    return client("ecs").list_task_definitions(familyPrefix=family)["taskDefinitionArns"]


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """Return the CLI's stderr, checking it is exactly one error line without a traceback."""
    err = capsys.readouterr().err
    assert err.startswith("bookingapp-infra: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    return err


def release(*args: str) -> int:
    """Run `bookingapp-infra release` with a short poll, as a user would."""
    return main(["release", *args, "--cluster", CLUSTER, "--poll", "0.2"])


def test_a_localstack_client_session_is_used_when_an_endpoint_is_set(emulator: str) -> None:
    session = aws.make_session()
    assert isinstance(session, LocalSession)
    assert session.client("ecs").meta.region_name == emulator


def test_plain_boto3_is_used_without_an_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("LOCALSTACK_HOST", raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    session = aws.make_session()
    assert isinstance(session, boto3.session.Session)
    assert session.region_name == "ap-south-1"


def test_release_registers_a_revision_with_only_the_image_changed(
    emulator: str, services: dict[str, ServiceParams], capsys: pytest.CaptureFixture[str]
) -> None:
    home = services["home"]
    old = seed_service(home, running=home.desired_count)
    new_image = "docker.io/someone/bookingapp-home:1.2.3"

    assert release("home", "--image", new_image, "--timeout", "5") == 0

    new_arn = service_state("home")["taskDefinition"]
    assert new_arn != old["taskDefinitionArn"]
    assert revisions(old["family"]) == [old["taskDefinitionArn"], new_arn]
    new = client("ecs").describe_task_definition(taskDefinition=new_arn, include=["TAGS"])
    assert new["taskDefinition"]["revision"] == old["revision"] + 1
    (before,) = old["containerDefinitions"]
    (after,) = new["taskDefinition"]["containerDefinitions"]
    assert after == {**before, "image": new_image}
    for key in ("cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn", "volumes"):
        assert new["taskDefinition"][key] == old[key]
    assert new["tags"] == [{"key": "project", "value": "bookingapp"}]
    assert f"stable on {new_image}" in capsys.readouterr().out


def test_release_keeps_the_count_the_autoscaler_chose(
    emulator: str, services: dict[str, ServiceParams]
) -> None:
    home = services["home"]
    seed_service(home, running=home.desired_count)
    scaled = home.autoscaling.max_capacity  # as if the target tracking policy had scaled out
    client("ecs").update_service(cluster=CLUSTER, service="home", desiredCount=scaled)

    assert release("home", "--image", "docker.io/someone/bookingapp-home:2", "--timeout", "5") == 0

    assert service_state("home")["desiredCount"] == scaled != home.desired_count


def test_release_of_an_unknown_service_is_refused_before_any_call(
    emulator: str, services: dict[str, ServiceParams], capsys: pytest.CaptureFixture[str]
) -> None:
    old = seed_service(services["home"], running=2)

    assert release("homepage", "--image", "docker.io/someone/x:1") == 2

    known = ", ".join(services)
    assert f"unknown service 'homepage' (known: {known})" in one_line_error(capsys)
    assert revisions(old["family"]) == [old["taskDefinitionArn"]]


@pytest.mark.parametrize("image", ["", "Docker.io/UPPER/Case:1", "with space:1", "x:tag:two"])
def test_release_of_a_malformed_image_is_refused_before_any_call(
    emulator: str,
    services: dict[str, ServiceParams],
    capsys: pytest.CaptureFixture[str],
    image: str,
) -> None:
    old = seed_service(services["home"], running=2)

    assert release("home", "--image", image) == 2

    assert "invalid image reference" in one_line_error(capsys)
    assert revisions(old["family"]) == [old["taskDefinitionArn"]]


def test_release_of_a_service_not_deployed_says_so(
    emulator: str, services: dict[str, ServiceParams], capsys: pytest.CaptureFixture[str]
) -> None:
    seed_service(services["home"], running=2)

    assert release("movie", "--image", "docker.io/someone/bookingapp-movie:1") == 1

    assert f"service 'movie' not found in cluster '{CLUSTER}'" in one_line_error(capsys)


def test_release_without_a_deployed_platform_says_what_to_do(
    emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["release", "home", "--image", "docker.io/someone/bookingapp-home:1"]) == 1

    assert "stack bookingapp-platform is not deployed" in one_line_error(capsys)


def test_release_that_never_becomes_stable_times_out_clearly(
    emulator: str, services: dict[str, ServiceParams], capsys: pytest.CaptureFixture[str]
) -> None:
    """Moto reports no running task here, as ECS would while new tasks keep failing."""
    home = services["home"]
    seed_service(home, running=0)

    assert release("home", "--image", "docker.io/someone/bookingapp-home:3", "--timeout", "1") == 1

    err = one_line_error(capsys)
    assert "home: not stable after 1 s" in err
    assert f"running 0 of {home.desired_count}" in err


def test_status_lists_every_stack_as_not_deployed_on_an_empty_account(
    emulator: str, services: dict[str, ServiceParams], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"bookingapp-{name}: not deployed" for name in stack_order(services)]
    assert {f"bookingapp-{n}" for n in services} <= {line.split(":")[0] for line in lines}


def test_missing_credentials_are_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "AWS_ENDPOINT_URL",
        "LOCALSTACK_HOST",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup

    assert main(["status"]) == 1

    assert "Unable to locate credentials" in one_line_error(capsys)


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Leave no region anywhere: not in the environment, not in an AWS config file."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


@pytest.mark.usefixtures("no_region")
def test_a_missing_region_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:1")

    assert main(["status"]) == 1

    assert "no AWS region" in one_line_error(capsys)


@pytest.mark.usefixtures("no_region")
def test_destroy_without_confirmation_stops_before_any_aws_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No region is configured: reaching AWS would fail with "no AWS region" instead."""
    assert main(["destroy"]) == 2

    assert "destroy deletes every bookingapp stack and its data; add --yes" in one_line_error(
        capsys
    )


def rendered(directory: Path, *flags: str) -> dict[str, Any]:
    """Run `render --out directory` and return the written documents by stack name."""
    assert main(["render", "--out", str(directory), *flags]) == 0
    return {p.stem: json.loads(p.read_text()) for p in directory.glob("*.json")}


def sent(document: dict[str, Any]) -> dict[str, str]:
    """Return a rendered document's parameters as a dict."""
    return {p["ParameterKey"]: p["ParameterValue"] for p in document["Parameters"]}


def test_render_create_writes_the_parameters_a_first_deploy_sends(
    tmp_path: Any, services: dict[str, ServiceParams]
) -> None:
    written = rendered(tmp_path, "--create")

    assert sorted(written) == sorted(s.name for s in plan(services))
    home = written["bookingapp-home"]
    assert Path(home["TemplateFile"]).name == "service.yaml"
    assert sent(home) == service_parameters(services["home"], apps=app_names(services))


def test_render_by_default_leaves_the_autoscaled_count_alone(
    tmp_path: Any, services: dict[str, ServiceParams]
) -> None:
    """Fed to `aws cloudformation deploy` on a running stack, it must not reset the count."""
    written = rendered(tmp_path)

    for name, p in services.items():
        expected = "" if p.autoscaling is not None else str(p.desired_count)
        assert sent(written[f"bookingapp-{name}"])["DesiredCount"] == expected
    assert "LiveColour it reads from AWS" in written["bookingapp-home"]["Note"]


def test_plan_shows_each_route_and_dns_name(
    services: dict[str, ServiceParams], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan"]) == 0

    out = capsys.readouterr().out
    for p in services.values():
        assert p.dns_name in out
        if p.alb:
            assert f"route {p.alb.path_pattern} (priority {p.alb.priority})" in out


@pytest.mark.usefixtures("no_region")
def test_destroying_an_unknown_stack_is_refused_before_any_aws_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["destroy", "--stack", "bookingapp-homepage", "--yes"]) == 2

    assert "unknown stack 'bookingapp-homepage' (known: bookingapp-network" in one_line_error(
        capsys
    )


@pytest.mark.usefixtures("no_region")
def test_destroying_one_stack_needs_confirmation_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["destroy", "--stack", "bookingapp-home"]) == 2

    assert "destroy deletes stack bookingapp-home; add --yes" in one_line_error(capsys)


def test_destroy_of_one_stack_deletes_only_that_stack(emulator: str) -> None:
    """Two stacks exist in moto's CloudFormation; only the one named goes."""
    cfn = client("cloudformation")
    body = '{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}'
    for name in ("bookingapp-network", "bookingapp-home"):
        cfn.create_stack(StackName=name, TemplateBody=body)

    assert main(["destroy", "--stack", "bookingapp-home", "--yes", "--timeout", "30"]) == 0

    alive = {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}
    assert alive == {"bookingapp-network"}


@pytest.mark.usefixtures("no_region")
def test_bad_parameter_files_exit_2_through_the_error_family(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "home.toml").write_text('name = "home"\nkind = "web"\n')

    assert main(["--services-dir", str(tmp_path), "plan"]) == 2

    assert "home.toml: kind must be one of app, backing" in one_line_error(capsys)


def test_plan_says_how_each_service_deploys(
    services: dict[str, ServiceParams], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan"]) == 0

    out = capsys.readouterr().out
    assert out.count("deploys rolling 100/200 %") == len(app_stacks(services))
    assert "deploys rolling 0/100 %" in out  # redis


def test_plan_says_which_cpu_architecture_each_service_runs_on(
    services: dict[str, ServiceParams], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan"]) == 0

    out = capsys.readouterr().out
    assert out.count("512 CPU units / 1024 MiB on X86_64, ") == len(services)


def test_deploy_with_the_placeholder_images_refuses_in_one_line_with_exit_2(
    emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The committed files name docker.io/bookingapp/...: nothing is created in the account."""
    assert main(["deploy"]) == 2

    err = one_line_error(capsys)
    assert "bus.toml: image docker.io/bookingapp/bookingapp-bus:latest is the repository's " in err
    assert "push your images and set image in infra/services/bus.toml" in err
    assert client("cloudformation").describe_stacks()["Stacks"] == []


def own_images(directory: Path) -> Path:
    """Copy the committed parameter files into directory with images under a real namespace."""
    for source in SERVICES_DIR.glob("*.toml"):
        text = source.read_text().replace("docker.io/bookingapp/", "docker.io/someone/")
        (directory / source.name).write_text(text)
    return directory


def described_stack(name: str, status: str, **parameters: str) -> dict[str, Any]:
    """Return a DescribeStacks answer for one stack deployed with these parameters."""
    stack: dict[str, Any] = {"StackName": name, "StackStatus": status, "CreationTime": "2020-01-01"}
    stack["Parameters"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    return {"Stacks": [stack]}


def expect_platform(stubs: StubbedAws, **parameters: str) -> None:
    """Answer deploy's first look at the platform stack: absent, or deployed like this."""
    if parameters:
        answer = described_stack("bookingapp-platform", "UPDATE_COMPLETE", **parameters)
        stubs["cloudformation"].add_response(
            "describe_stacks", answer, {"StackName": "bookingapp-platform"}
        )
    else:
        stubs["cloudformation"].add_client_error(
            "describe_stacks", "ValidationError", "Stack with id bookingapp-platform does not exist"
        )


def test_deploy_creates_the_service_linked_roles_before_touching_any_stack(
    stubbed_aws: StubbedAws,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(aws, "make_session", lambda: stubbed_aws)
    expect_platform(stubbed_aws)
    for principal in ("ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com"):
        stubbed_aws["iam"].add_client_error(
            "create_service_linked_role",
            "InvalidInput",
            "Service role name X has been taken in this account, please try a different suffix.",
            expected_params={"AWSServiceName": principal},
        )
    # The network stack is busy: deploy stops there, after the roles and before any change.
    stubbed_aws["cloudformation"].add_response(
        "describe_stacks",
        described_stack("bookingapp-network", "UPDATE_IN_PROGRESS"),
        {"StackName": "bookingapp-network"},
    )

    assert main(["--services-dir", str(own_images(tmp_path)), "deploy"]) == 1

    assert "stack bookingapp-network is UPDATE_IN_PROGRESS" in one_line_error(capsys)


# ---------------------------------------------------------------- HTTPS through deploy


CERT = "arn:aws:acm:{}:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


@pytest.fixture
def planned(stubbed_aws: StubbedAws, monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Run deploy on the stubbed session, recording the stacks it would deploy, in order."""
    monkeypatch.setattr(aws, "make_session", lambda: stubbed_aws)
    monkeypatch.setattr(deploy, "ensure_service_linked_roles", lambda iam, say: None)
    seen: list[list[Any]] = []
    monkeypatch.setattr(deploy, "deploy_all", lambda cfn, stacks, *_: seen.append(list(stacks)))
    monkeypatch.setattr(deploy, "stack_outputs", lambda cfn, name: {"AlbUrl": "https://x"})
    return seen


def deploy_with(tmp_path: Path, *flags: str) -> int:
    """Run `deploy` with own images and these flags."""
    return main(["--services-dir", str(own_images(tmp_path)), "deploy", *flags])


def test_deploy_with_a_certificate_moves_every_app_rule_to_https(
    stubbed_aws: StubbedAws, planned: list[list[Any]], tmp_path: Path, region: str
) -> None:
    expect_platform(stubbed_aws)

    assert deploy_with(tmp_path, "--certificate-arn", CERT.format(region)) == 0

    (stacks,) = planned
    assert stacks[1].parameters["CertificateArn"] == CERT.format(region)
    apps = [s for s in stacks if s.service is not None and s.service.is_app]
    assert [s.service.name for s in apps] == app_stacks(load_all(tmp_path))
    assert {s.parameters["Https"] for s in apps} == {"true"}


def test_a_later_deploy_keeps_the_certificate_without_being_told_again(
    stubbed_aws: StubbedAws, planned: list[list[Any]], tmp_path: Path, region: str
) -> None:
    expect_platform(stubbed_aws, CertificateArn=CERT.format(region))

    assert deploy_with(tmp_path) == 0

    (stacks,) = planned
    assert [s.name for s in stacks][:2] == ["bookingapp-network", "bookingapp-platform"]
    assert stacks[1].parameters["CertificateArn"] == CERT.format(region)


def test_dropping_https_moves_the_apps_back_before_the_platform_removes_443(
    stubbed_aws: StubbedAws, planned: list[list[Any]], tmp_path: Path, region: str
) -> None:
    """CloudFormation refuses to drop an export while the apps' rules still import it."""
    expect_platform(stubbed_aws, CertificateArn=CERT.format(region))

    assert deploy_with(tmp_path, "--no-https") == 0

    (stacks,) = planned
    assert stacks[0].name == "bookingapp-network"
    assert stacks[-1].name == "bookingapp-platform"
    assert stacks[-1].parameters["CertificateArn"] == ""
    assert {s.parameters.get("Https", "false") for s in stacks[1:-1]} == {"false"}


@pytest.mark.usefixtures("no_region")
def test_a_malformed_certificate_is_refused_before_any_aws_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy_with(tmp_path, "--certificate-arn", "my-cert") == 2

    assert "--certificate-arn 'my-cert' is not an ACM certificate ARN" in one_line_error(capsys)


def test_a_certificate_from_another_region_is_refused(
    emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An ALB can only use a certificate of its own region (moto answers the rest)."""
    other = "us-east-1" if emulator != "us-east-1" else "eu-west-1"

    assert deploy_with(tmp_path, "--certificate-arn", CERT.format(other)) == 2

    assert f"the certificate is in {other} but the stacks are in {emulator}" in one_line_error(
        capsys
    )
    assert client("cloudformation").describe_stacks()["Stacks"] == []


def test_deploy_warns_when_tasks_pull_from_docker_hub_anonymously(
    stubbed_aws: StubbedAws,
    planned: list[list[Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expect_platform(stubbed_aws)

    assert deploy_with(tmp_path) == 0

    out = capsys.readouterr().out
    tasks = sum(p.desired_count for p in load_all(tmp_path).values())
    assert out.startswith(f"note: {tasks} tasks pull from Docker Hub anonymously through one NAT ")
    assert "set repository_credentials" in out
