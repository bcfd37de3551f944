"""Fixtures for the infra tests: parsed templates, the parameter files, moto on a free port."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from bookingapp_infra.params import ServiceParams, load_all
from tests.infra import cfn


def stack_order(services: dict[str, ServiceParams]) -> list[str]:
    """Return the stacks deploy builds, as README and docs state the order, without the prefix.

    network, platform, then the backing services, then the apps, each group by name.
    """
    backing = sorted(n for n, p in services.items() if not p.is_app and not p.managed)
    return ["network", "platform", *backing, *app_stacks(services)]


def app_stacks(services: dict[str, ServiceParams]) -> list[str]:
    """Return the apps' stack names without the prefix, in deploy order (by name)."""
    return sorted(n for n, p in services.items() if p.is_app)


@pytest.fixture(scope="session")
def services() -> dict[str, ServiceParams]:
    """The committed parameter files, loaded and validated."""
    return load_all()


@pytest.fixture(scope="session")
def templates() -> dict[str, dict[str, Any]]:
    """Every template, parsed, by name (network, platform, service)."""
    return {name: cfn.load(name) for name in cfn.TEMPLATES}


@pytest.fixture(scope="session")
def region() -> str:
    """The region the emulated account lives in; any region must do."""
    return os.environ.get("BOOKINGAPP_TEST_REGION", "eu-central-1")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto's server on a port the OS picks, for the whole session; yield its URL."""
    # Not LocalStack's 4566: a LocalStack (or another test run) on the same machine holds it.
    # The CLI finds the emulator through AWS_ENDPOINT_URL, whatever the port.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def emulator(moto_server: str, region: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the CLI at a freshly reset moto through AWS_ENDPOINT_URL; yield the region."""
    # S310: a fixed http:// URL to the local moto server, no user input.
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10) as answer:
        assert answer.status == 200
    for name in ("AWS_PROFILE", "LOCALSTACK_HOST", "AWS_SESSION_TOKEN", "MOTO_ECS_SERVICE_RUNNING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    return region


class StubbedAws:
    """A session whose clients are real boto3 clients answered by botocore's Stubber.

    Every request is checked against the service's API model and every expected call must
    be made; a client for a service the test did not ask for is a test error.
    """

    def __init__(self, region: str, services: tuple[str, ...]) -> None:
        self.clients = {
            name: boto3.client(
                name, region_name=region, aws_access_key_id="x", aws_secret_access_key="x"
            )
            for name in services
        }
        self.stubbers = {name: Stubber(client) for name, client in self.clients.items()}

    def client(self, service_name: str, **_: Any) -> Any:
        """Return the stubbed client for one service."""
        assert service_name in self.clients, f"unexpected {service_name} client"
        return self.clients[service_name]

    def __getitem__(self, service_name: str) -> Stubber:
        """Return the stubber of one service's client."""
        return self.stubbers[service_name]


@pytest.fixture
def stubbed_aws(region: str) -> Iterator[StubbedAws]:
    """Stubbed CloudFormation, ECS, ELBv2, CloudWatch, IAM and EFS clients in one session."""
    stubs = StubbedAws(region, ("cloudformation", "ecs", "elbv2", "cloudwatch", "iam", "efs"))
    for stubber in stubs.stubbers.values():
        stubber.activate()
    yield stubs
    for stubber in stubs.stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()
