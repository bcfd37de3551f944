"""Local and AWS do not drift: compose.yaml agrees with infra/services/*.toml."""

from __future__ import annotations

import pytest

from bookingapp_infra.params import ServiceParams, load_all
from tests.compose.stack import listener_default_action, load_compose
from tests.support import ROOT, app_services

# Traefik picks the highest priority, the ALB the lowest: compose uses 1000 - ALB priority.
TRAEFIK_PRIORITY_BASE = 1000


@pytest.fixture(scope="module")
def params() -> dict[str, ServiceParams]:
    return load_all()


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


def labels(service: dict) -> dict[str, str]:
    """Return a compose service's labels as a mapping."""
    raw = service.get("labels", [])
    if isinstance(raw, dict):
        return raw
    return dict(item.split("=", 1) for item in raw)


def test_the_same_services_exist_in_code_infra_and_compose(params, compose):
    """Every app service has code, a parameter file and a compose entry; nothing extra."""
    code = set(app_services())
    infra_apps = {name for name, p in params.items() if p.kind == "app"}
    compose_apps = {
        name
        for name, s in compose["services"].items()
        if f"traefik.http.services.{name}.loadbalancer.server.port" in labels(s)
    }
    assert code == infra_apps == compose_apps
    backing = {name for name, p in params.items() if p.kind == "backing"}
    assert backing <= set(compose["services"])


@pytest.mark.parametrize("name", app_services())
def test_routing_matches_the_alb_listener_rule(name, params, compose):
    """Router rule, priority, port and health path are those of the ALB rule and target group."""
    p = params[name]
    got = labels(compose["services"][name])
    assert p.alb is not None
    assert got[f"traefik.http.routers.{name}.rule"] == f"PathPrefix(`{p.path_prefix}`)"
    assert (
        int(got[f"traefik.http.routers.{name}.priority"]) == TRAEFIK_PRIORITY_BASE - p.alb.priority
    )
    assert int(got[f"traefik.http.services.{name}.loadbalancer.server.port"]) == p.container_port
    assert got[f"traefik.http.services.{name}.loadbalancer.healthcheck.path"] == p.health_check_path
    assert not any("stripprefix" in key.lower() for key in got)


@pytest.mark.parametrize("name", app_services())
def test_size_count_and_discovery_name_match_the_ecs_service(name, params, compose):
    """Replicas = desired count, limits = task size, alias = Cloud Map name."""
    p = params[name]
    service = compose["services"][name]
    assert service["deploy"]["replicas"] == p.desired_count
    limits = service["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) == p.cpu / 1024
    assert limits["memory"] == f"{p.memory // 1024}g"
    assert p.dns_name in service["networks"]["vpc"]["aliases"]


def test_redis_is_reached_by_its_cloud_map_name(params, compose):
    """The redis alias is its discovery name, and apps point REDIS_HOST at it."""
    alias = params["redis"].dns_name
    assert alias in compose["services"]["redis"]["networks"]["vpc"]["aliases"]
    for name in app_services():
        assert compose["services"][name]["environment"]["REDIS_HOST"] == alias
        assert params[name].environment["REDIS_HOST"] == alias


def test_redis_image_default_is_the_one_deployed(params, compose):
    """Local Redis defaults to the same official image tag as the ECS task."""
    image = compose["services"]["redis"]["image"]
    default = image.split(":-", 1)[1].rstrip("}")
    assert params["redis"].image.removeprefix("docker.io/").removeprefix("library/") == default


@pytest.mark.parametrize("name", app_services())
def test_the_container_health_check_is_the_task_definitions(name, params, compose):
    """An app's compose health check runs the very command its ECS task definition runs."""
    assert compose["services"][name]["healthcheck"]["test"] == list(
        params[name].health_check_command
    )


def test_the_redis_health_check_pings_as_on_ecs(params, compose):
    """Redis's check is `redis-cli ping` expecting PONG on both sides (only the secret differs)."""
    local = compose["services"]["redis"]["healthcheck"]["test"]
    deployed = params["redis"].health_check_command
    assert local[0] == deployed[0] == "CMD-SHELL"
    for command in (local[1], deployed[1]):
        assert "redis-cli ping | grep -q PONG" in command


def test_apps_run_as_the_user_the_task_definition_names(params):
    """The image's USER (what compose runs) is the uid:gid the task definition sets."""
    users = {
        line.split(maxsplit=1)[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("USER ")
    }
    assert users == {params[name].user for name in app_services()}


def test_redis_runs_as_the_user_the_task_definition_names(params, compose):
    """Local Redis runs as the uid:gid of the ECS task (the official image's redis user)."""
    assert compose["services"]["redis"]["user"] == params["redis"].user


def test_unmatched_paths_get_the_alb_listeners_default_action(compose):
    """Traefik's catch-all answers what the ALB's default action answers, word for word."""
    expected = listener_default_action()
    got = labels(compose["services"]["traefik"])
    router = "traefik.http.routers.default-action"
    assert got[f"{router}.rule"] == "PathPrefix(`/`)"
    assert got[f"{router}.priority"] == "1"  # below every app rule (TRAEFIK_PRIORITY_BASE - n)
    plugin = "traefik.http.middlewares.default-action.plugin.fixedresponse"
    assert got[f"{plugin}.statusCode"] == expected["StatusCode"]
    assert got[f"{plugin}.contentType"] == expected["ContentType"]
    assert got[f"{plugin}.messageBody"] == expected["MessageBody"]
