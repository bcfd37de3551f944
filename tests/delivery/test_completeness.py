"""Every app service is wired end to end: published, composed locally and deployable.

Adding a service directory can't be half done: it needs a publish matrix entry (the
changed-services script lists it), a compose service that builds the image CI publishes,
and an infra parameter file naming that image's repository. Removing one can't be either.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tomllib
from typing import Any

import pytest
import yaml

from tests.delivery.workflows import SCRIPT
from tests.support import ROOT, app_services

SERVICES = app_services()
COMPOSE = ROOT / "compose.yaml"
INFRA_SERVICES = ROOT / "infra" / "services"


def published_image(service: str) -> str:
    """Return the image compose builds for a service: the name publish.yml pushes.

    Without TAG the tag names the compose project, so one checkout's build never re-tags
    the images another project runs (issue 18); publishing always sets TAG.
    """
    tag = "${TAG:-${COMPOSE_PROJECT_NAME:-bookingapp}-latest}"
    return f"${{DOCKERHUB_NAMESPACE:-bookingapp}}/bookingapp-{service}:{tag}"


@functools.cache
def compose_services() -> dict[str, Any]:
    """Return compose.yaml's services, failing (not skipping) when the file is missing."""
    if not COMPOSE.exists():
        pytest.fail("compose.yaml is missing: every app service needs a compose service")
    return yaml.safe_load(COMPOSE.read_text())["services"]


def build_args(compose_service: dict[str, Any]) -> dict[str, str]:
    """Return a compose service's build args, written as a mapping or as KEY=VALUE items."""
    args = (compose_service.get("build") or {}).get("args") or {}
    if isinstance(args, list):
        return dict(item.split("=", 1) for item in args)
    return {key: str(value) for key, value in args.items()}


def infra_params(service: str) -> dict[str, Any]:
    """Return infra/services/<service>.toml, failing when it is missing."""
    path = INFRA_SERVICES / f"{service}.toml"
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: the service can't be deployed")
    return tomllib.loads(path.read_text())


def test_the_repository_has_app_services() -> None:
    """Guards the tests below: parametrised over nothing, they would pass by not running."""
    assert SERVICES


def test_the_publish_matrix_is_exactly_the_app_services() -> None:
    """The script, run as CI runs it, prints the services every test here is parametrised by."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--all"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    matrix = json.loads(result.stdout)
    # The same services, each once; the matrix keeps workspace order, SERVICES rule order.
    assert sorted(matrix) == sorted(SERVICES)
    assert len(set(matrix)) == len(matrix)


@pytest.mark.parametrize("service", SERVICES)
def test_service_has_a_compose_service_named_after_it(service: str) -> None:
    assert service in compose_services(), f"compose.yaml has no service {service!r}"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_builds_and_pushes_the_image_ci_publishes(service: str) -> None:
    """`docker compose build && docker compose push` must produce the same tags as CI."""
    composed = compose_services().get(service, {})
    assert composed.get("image") == published_image(service)
    assert build_args(composed).get("SERVICE") == service


@pytest.mark.parametrize("service", SERVICES)
def test_service_has_an_infra_parameter_file_for_its_published_image(service: str) -> None:
    params = infra_params(service)
    assert params.get("name") == service
    assert params.get("kind") == "app"
    repository = str(params.get("image", "")).rsplit(":", 1)[0]
    assert repository.endswith(f"/bookingapp-{service}"), params.get("image")


def test_every_app_parameter_file_belongs_to_an_app_service() -> None:
    """A removed service leaves no orphan ECS service parameters behind."""
    apps = {
        path.stem
        for path in INFRA_SERVICES.glob("*.toml")
        if tomllib.loads(path.read_text()).get("kind") == "app"
    }
    assert apps <= set(SERVICES), (
        f"parameter files without a service: {sorted(apps - set(SERVICES))}"
    )


def test_every_compose_service_built_for_a_service_is_an_app_service() -> None:
    """A removed service leaves no compose service building an image that no longer exists."""
    built = {
        name: build_args(spec)["SERVICE"]
        for name, spec in compose_services().items()
        if "SERVICE" in build_args(spec)
    }
    assert set(built.values()) <= set(SERVICES), built
