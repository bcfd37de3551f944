"""The real image, built once, run against a real Redis container (testcontainers)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from testcontainers.community.redis import RedisContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from bookingapp_infra.params import app_names, load_all
from tests.support import ROOT, http_status, wait_until

PYTHON_IMAGE = os.environ.get("PYTHON_IMAGE", "python:3.12.8-slim-bookworm")
REDIS_IMAGE = os.environ.get("REDIS_IMAGE", "redis:7.4")
PASSWORD = "image-test-password"
REDIS_ALIAS = "redis.internal-bookingapp.com"


@pytest.fixture(scope="session")
def home_image() -> str:
    """Build the home image from the repo root with the configured base image, as compose does."""
    # Through `docker compose build`: it builds with BuildKit (the Dockerfile's uv cache
    # mounts need it) even where the buildx plugin is missing; docker-py, which
    # testcontainers' DockerImage uses, only has the legacy builder and refuses RUN --mount.
    # TAG (compose's image tag variable) keeps checkouts built side by side apart.
    namespace, tag = "bookingapp-pytest", os.environ.get("TAG", "latest")
    env = {**os.environ, "DOCKERHUB_NAMESPACE": namespace, "TAG": tag, "PYTHON_IMAGE": PYTHON_IMAGE}
    build = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "build", "home"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return f"{namespace}/bookingapp-home:{tag}"


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    """A private network, like the VPC the tasks share."""
    with Network() as net:
        yield net


@pytest.fixture(scope="module")
def redis_container(network) -> Iterator[RedisContainer]:
    """Redis with a password, reachable on the network by its Cloud Map name."""
    container = RedisContainer(image=REDIS_IMAGE, password=PASSWORD)
    container.with_network(network).with_network_aliases(REDIS_ALIAS)
    with container:
        yield container


def wait_until_healthy(base: str, service: str, timeout: float = 60) -> None:
    """Poll the liveness endpoint until it answers 200."""
    health = f"{base}/{service}/health"
    wait_until(lambda: http_status(health, timeout=2) == 200, timeout, f"{health} not 200", 0.3)


def run_app(image: str, network, **env: str) -> DockerContainer:
    """Start the app like a Fargate task: read-only root, tmpfs /tmp, no capabilities."""
    # The app list the task definition passes (service.yaml's Apps, from infra/services):
    # without it an app has no nav and home asks no neighbours.
    apps = ",".join(app_names(load_all()))
    container = (
        DockerContainer(image)
        .with_network(network)
        .with_exposed_ports(5000)
        .with_envs(REDIS_PASSWORD=PASSWORD, BOOKINGAPP_APPS=apps, **env)
        .with_tmpfs_mount("/tmp")
        .with_kwargs(
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
    )
    container.start()
    return container


def base_url(container: DockerContainer) -> str:
    """Return the host URL of the container's port 5000."""
    return f"http://{container.get_container_host_ip()}:{container.get_exposed_port(5000)}"


@pytest.fixture(scope="module")
def home(home_image, network, redis_container) -> Iterator[tuple[DockerContainer, str]]:
    """The home service container and its base URL, once healthy."""
    container = run_app(home_image, network)
    try:
        url = base_url(container)
        wait_until_healthy(url, "home")
        yield container, url
    finally:
        container.stop()
