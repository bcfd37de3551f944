"""The parameter-file keys and checks that only the AWS deploy reads (issue 21).

cpu_architecture (Graviton), autoscaling.requests_per_target (blue/green request-count
scaling) and the refusal of images still in the placeholder namespace. Kept apart from
test_params.py so the general loader's tests read on their own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bookingapp_infra.params import (
    ParamsError,
    ServiceParams,
    anonymous_docker_hub_tasks,
    check_images_pullable,
    is_docker_hub_image,
    is_placeholder_image,
    load_all,
)
from tests.infra.test_params import committed, set_key, write


def test_the_committed_services_run_on_x86_unless_told_otherwise(
    services: dict[str, ServiceParams],
) -> None:
    assert {p.cpu_architecture for p in services.values()} == {"X86_64"}


def test_arm64_is_accepted_per_service(tmp_path: Path) -> None:
    files = committed()
    set_key("movie", "cpu_architecture", "ARM64")(files)
    loaded = load_all(write(tmp_path, files))
    assert loaded["movie"].cpu_architecture == "ARM64"
    assert loaded["home"].cpu_architecture == "X86_64"


@pytest.mark.parametrize("value", ["arm64", "AMD64", "ARM"])
def test_an_architecture_fargate_lacks_is_refused(tmp_path: Path, value: str) -> None:
    files = committed()
    set_key("home", "cpu_architecture", value)(files)
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert str(caught.value) == (
        f"home.toml: cpu_architecture must be one of X86_64, ARM64, got {value!r}"
    )


def test_requests_per_target_has_a_derived_default_and_must_be_positive(tmp_path: Path) -> None:
    assert load_all()["home"].autoscaling.requests_per_target == 18000
    files = committed()
    set_key("home", "autoscaling.requests_per_target", 0)(files)
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert "home.toml: autoscaling.requests_per_target must be at least 1" in str(caught.value)


@pytest.mark.parametrize(
    ("image", "placeholder"),
    [
        ("docker.io/bookingapp/bookingapp-home:latest", True),
        ("bookingapp/bookingapp-home:1.0", True),
        ("index.docker.io/bookingapp/bookingapp-home:1.0", True),
        ("docker.io/someone/bookingapp-home:1.0", False),
        ("docker.io/library/redis:7.4", False),
        ("docker.io/bookingapps/bookingapp-home:1.0", False),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/bookingapp/bookingapp-home:1", False),
    ],
)
def test_the_placeholder_namespace_is_recognised_however_docker_hub_is_spelt(
    image: str, placeholder: bool
) -> None:
    assert is_placeholder_image(image) is placeholder


def test_the_committed_placeholders_are_refused_in_one_line_naming_the_first_file(
    services: dict[str, ServiceParams],
) -> None:
    with pytest.raises(ParamsError) as caught:
        check_images_pullable(services)
    first, *others = sorted(n for n, p in services.items() if p.is_app)  # redis is library/
    assert str(caught.value) == (
        f"{first}.toml: image docker.io/bookingapp/bookingapp-{first}:latest is the "
        "repository's placeholder, which no registry serves; push your images and set image in "
        f"infra/services/{first}.toml (and {', '.join(f'{n}.toml' for n in others)}) "
        "(docs/deploy.md, deploy checklist)"
    )
    assert caught.value.exit_code == 2


def test_own_images_pass_the_placeholder_check(tmp_path: Path) -> None:
    files = committed()
    for name in (n for n, raw in files.items() if raw["kind"] == "app"):
        set_key(name, "image", f"docker.io/someone/bookingapp-{name}:1.0")(files)
    check_images_pullable(load_all(write(tmp_path, files)))  # no error: redis is library/


@pytest.mark.parametrize(
    ("image", "docker_hub"),
    [
        ("docker.io/someone/x:1", True),
        ("redis:7.4", True),
        ("someone/x:1", True),
        ("ghcr.io/someone/x:1", False),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/redis:7.4", False),
        ("localhost:5000/x:1", False),
    ],
)
def test_docker_hub_images_are_told_apart_from_other_registries(
    image: str, docker_hub: bool
) -> None:
    assert is_docker_hub_image(image) is docker_hub


def test_every_committed_task_pulls_from_docker_hub_anonymously(
    services: dict[str, ServiceParams],
) -> None:
    """Every task (seven for the three apps and Redis) leaves through one NAT address."""
    assert anonymous_docker_hub_tasks(services) == sum(p.desired_count for p in services.values())


def test_tasks_with_registry_credentials_are_not_anonymous(tmp_path: Path) -> None:
    files = committed()
    for name in files:
        set_key(name, "repository_credentials", "dockerhub")(files)
    assert anonymous_docker_hub_tasks(load_all(write(tmp_path, files))) == 0
