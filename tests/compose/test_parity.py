"""Local and AWS do not drift: compose.yaml agrees with infra/services/*.toml."""

from __future__ import annotations

import pytest
import yaml

from bookingapp_infra.params import ServiceParams, app_names, load_all
from tests.compose.stack import listener_default_action, load_compose
from tests.support import ROOT, app_services, workspace_apps

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


def compose_apps(compose: dict) -> set[str]:
    """Return the compose services behind the listener: each has its own Traefik service."""
    return {
        name
        for name, service in compose["services"].items()
        if f"traefik.http.services.{name}.loadbalancer.server.port" in labels(service)
    }


def missing_parts(code: set[str], infra: set[str], compose: set[str]) -> list[str]:
    """Say, per service, which of its three parts is missing and where to add it."""
    fix = "(`uv run bookingapp-infra add-service NAME` writes all three for a new service)"
    lines = []
    for name in sorted(code | infra | compose):
        if name not in code:
            lines.append(
                f"{name}: pyproject.toml's [tool.uv.workspace] members lack {name!r} (or "
                f"{name}/pyproject.toml does not depend on bookingapp-common), yet "
                f"{'infra/services/' + name + '.toml' if name in infra else 'compose.yaml'} "
                "has it: add the member, its [tool.uv.sources] entry and the dev group's"
            )
        if name not in infra:
            lines.append(
                f'{name}: no infra/services/{name}.toml with kind = "app", yet '
                f"{'the workspace' if name in code else 'compose.yaml'} has it: copy "
                "another app's file and change its name, paths and priority"
            )
        if name not in compose:
            lines.append(
                f"{name}: compose.yaml has no service {name!r} behind Traefik, yet "
                f"{'infra/services/' + name + '.toml' if name in infra else 'the workspace'} "
                "has it: add an entry like the other apps' (<<: *app, build arg, alias, labels)"
            )
    return [*lines, fix] if lines else []


def test_the_same_services_exist_in_code_infra_and_compose(params, compose):
    """Every app service has code, a parameter file and a compose entry; nothing extra."""
    code = set(workspace_apps())
    infra_apps = {name for name, p in params.items() if p.kind == "app"}
    problems = missing_parts(code, infra_apps, compose_apps(compose))
    assert not problems, "\n".join(problems)
    backing = {name for name, p in params.items() if p.kind == "backing"}
    assert backing <= set(compose["services"]), (
        f"compose.yaml lacks the backing services {sorted(backing - set(compose['services']))} "
        "that infra/services/ deploys"
    )


def test_a_missing_part_is_named_with_the_file_to_change():
    """A service in infra and compose but not the workspace names pyproject.toml and the fix."""
    (line, fix) = missing_parts({"home"}, {"home", "train"}, {"home", "train"})
    assert line.startswith("train: pyproject.toml's [tool.uv.workspace] members lack 'train'")
    assert "infra/services/train.toml has it" in line
    assert "add-service" in fix
    (line, _) = missing_parts({"home", "train"}, {"home"}, {"home", "train"})
    assert line.startswith('train: no infra/services/train.toml with kind = "app"')
    (line, _) = missing_parts({"home", "train"}, {"home", "train"}, {"home"})
    assert line.startswith("train: compose.yaml has no service 'train'")
    assert missing_parts({"home"}, {"home"}, {"home"}) == []


def test_every_app_is_told_the_apps_the_task_definition_names(params, compose):
    """The BOOKINGAPP_APPS compose sets is what deploy passes (params.app_names), in order."""
    wanted = ",".join(app_names(params))
    for name in app_services():
        got = compose["services"][name]["environment"].get("BOOKINGAPP_APPS")
        assert got == wanted, (
            f"compose.yaml: {name}'s BOOKINGAPP_APPS is {got!r} but infra/services/*.toml "
            f"make it {wanted!r}: set BOOKINGAPP_APPS: {wanted} in the x-app block"
        )


def test_every_app_reloads_its_own_and_the_shared_code_in_development():
    """compose.override.yaml mounts common/src and the app's src and reloads, for every app."""
    override = yaml.safe_load((ROOT / "compose.override.yaml").read_text())["services"]
    for name in app_services():
        entry = override.get(name)
        assert entry is not None, (
            f"compose.override.yaml has no {name!r} service: add `{name}: {{<<: *dev, ...}}` "
            "like the other apps' (live reload of its code and common/)"
        )
        mounts = {volume.split(":")[0] for volume in entry["volumes"]}
        assert {"./common/src", f"./{name}/src"} <= mounts, (name, mounts)
        assert f"/dev-src/{name}/src" in entry["environment"]["PYTHONPATH"].split(":"), name


@pytest.mark.parametrize("name", app_services())
def test_routing_matches_the_alb_listener_rule(name, params, compose):
    """Router rule, priority, port and health path are those of the ALB rule and target group."""
    p = params[name]
    got = labels(compose["services"][name])
    assert p.alb is not None
    wanted = {
        f"traefik.http.routers.{name}.rule": f"PathPrefix(`{p.path_prefix}`)",
        f"traefik.http.routers.{name}.priority": str(TRAEFIK_PRIORITY_BASE - p.alb.priority),
        f"traefik.http.services.{name}.loadbalancer.server.port": str(p.container_port),
        f"traefik.http.services.{name}.loadbalancer.healthcheck.path": p.health_check_path,
    }
    drift = [
        f"{label}={got.get(label)!r} in compose.yaml, {value!r} from infra/services/{name}.toml"
        for label, value in wanted.items()
        if got.get(label) != value
    ]
    assert not drift, f"{name}: set these labels in compose.yaml: " + "; ".join(drift)
    assert not any("stripprefix" in key.lower() for key in got), "the ALB strips no prefix"


@pytest.mark.parametrize("name", app_services())
def test_size_count_and_discovery_name_match_the_ecs_service(name, params, compose):
    """Replicas = desired count, limits = task size, alias = Cloud Map name."""
    p = params[name]
    service = compose["services"][name]
    where = f"compose.yaml's {name} (or the x-app block) against infra/services/{name}.toml"
    assert service["deploy"]["replicas"] == p.desired_count, f"replicas: {where}"
    limits = service["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) == p.cpu / 1024, f"cpus: {where}"
    assert limits["memory"] == f"{p.memory // 1024}g", f"memory: {where}"
    assert p.dns_name in service["networks"]["vpc"]["aliases"], f"alias {p.dns_name}: {where}"


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
