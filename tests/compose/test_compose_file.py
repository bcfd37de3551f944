"""compose.yaml is valid and states the AWS behaviours it reproduces."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from bookingapp_infra.scaffold import entry_of
from tests.compose.stack import APP_SERVICES, COMPOSE_FILE, load_compose
from tests.support import ROOT, compose_config


@pytest.mark.docker  # runs `docker compose config`: the CLI and its Compose plugin
def test_compose_file_is_valid_on_its_own_and_with_the_override():
    """`docker compose config` accepts compose.yaml, and the development override on top."""
    alone = compose_config(ROOT / "compose.yaml")
    assert alone.returncode == 0, alone.stderr
    merged = compose_config(ROOT / "compose.yaml", ROOT / "compose.override.yaml")
    assert merged.returncode == 0, merged.stderr


@pytest.mark.docker  # runs `docker compose config`
def test_images_built_without_a_tag_are_named_after_their_compose_project():
    """Another checkout's build (another project) never re-tags this stack's images; TAG wins."""

    def images(project: str, **env: str) -> dict[str, str]:
        unset = ("TAG", "DOCKERHUB_NAMESPACE", "COMPOSE_PROJECT_NAME")
        clean = {k: v for k, v in os.environ.items() if k not in unset}
        rendered = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", project, "config", "--format",
             "json"], capture_output=True, text=True, timeout=60, check=True, env={**clean, **env},
        )  # fmt: skip
        return {n: s["image"] for n, s in json.loads(rendered.stdout)["services"].items()}

    for service in APP_SERVICES:
        assert images("one")[service] == f"bookingapp/bookingapp-{service}:one-latest"
        assert images("two")[service] == f"bookingapp/bookingapp-{service}:two-latest"
        assert images("two", TAG="v2")[service] == f"bookingapp/bookingapp-{service}:v2"


def test_a_fresh_clone_needs_no_env_file_or_secret_to_generate():
    """Every variable has a default and the development secret file is in the repo."""
    text = COMPOSE_FILE.read_text()
    required = re.findall(r"\$\{(\w+)(?::?\?)", text)
    assert required == []
    bare = re.findall(r"\$\{(\w+)\}", text)
    assert bare == []
    secret = load_compose()["secrets"]["redis_password"]["file"]
    default_path = re.fullmatch(r"\$\{\w+:-(.+)\}", secret).group(1)
    assert (ROOT / default_path).read_text().strip()


def test_redis_is_never_published_and_apps_only_through_traefik():
    """Only traefik has host ports; its dashboard is bound to 127.0.0.1."""
    services = load_compose()["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"traefik"}
    dashboard = [p for p in services["traefik"]["ports"] if p.endswith(":8080")]
    assert dashboard
    assert all(p.startswith("127.0.0.1:") for p in dashboard)


def test_every_setting_line_of_the_app_and_traefik_services_says_why():
    """Each Traefik flag and label carries a comment naming what it emulates (house style)."""
    lines = COMPOSE_FILE.read_text().splitlines()
    uncommented = [
        line.strip() for line in lines if re.match(r"\s+- (--|traefik\.)", line) and "#" not in line
    ]
    assert uncommented == []


def test_app_containers_are_locked_down_like_fargate_tasks():
    """Read-only root, tmpfs /tmp, no capabilities, no new privileges, 30 s stop timeout."""
    services = load_compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["read_only"] is True, name
        assert service["tmpfs"] == ["/tmp"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["stop_grace_period"] == "30s", name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_every_app_entry_is_the_same_few_lines_with_its_own_name():
    """What is shared lives in x-app; an entry says only what names it, line for line alike."""
    text = COMPOSE_FILE.read_text()
    first, *others = APP_SERVICES

    def shape(service: str) -> list[str]:
        """The entry's setting lines with the name and the rule priority blanked out."""
        entry, _ = entry_of(text, service, "compose.yaml")
        code = [line.split("#", 1)[0].rstrip() for line in entry.splitlines()]
        named = re.compile(rf"(?<![A-Za-z0-9]){re.escape(service)}(?![A-Za-z0-9])")
        return [re.sub(r"priority=\d+", "priority=N", named.sub("NAME", c)) for c in code]

    # A reader compares entries at a glance: its name and a dozen lines (20 before x-app took
    # the build args and listener)...
    assert len(shape(first)) <= 13, shape(first)
    # ...and they differ in nothing but the name and the priority (the rest is x-app's).
    for service in others:
        assert shape(service) == shape(first), service
