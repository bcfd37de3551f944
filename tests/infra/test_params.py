"""The parameter files load, and every kind of mistake in them is a clear one-line error."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bookingapp_infra.cli import main
from bookingapp_infra.params import (
    SERVICES_DIR,
    ParamsError,
    ServiceParams,
    alb_path_matches,
    load_all,
)
from tests.support import app_services, workspace_apps

Raw = dict[str, Any]


def committed() -> dict[str, Raw]:
    """Return the committed parameter files as raw TOML dicts, by service name."""
    return {p.stem: tomllib.loads(p.read_text()) for p in sorted(SERVICES_DIR.glob("*.toml"))}


def to_toml(raw: Raw) -> str:
    """Write a parameter dict back as TOML (JSON strings and lists are valid TOML)."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for table, values in ((k, v) for k, v in raw.items() if isinstance(v, dict)):
        lines += [f"[{table}]", *(f"{k} = {json.dumps(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def write(directory: Path, files: dict[str, Raw]) -> Path:
    """Write parameter files into directory and return it."""
    for name, raw in files.items():
        (directory / f"{name}.toml").write_text(to_toml(raw))
    return directory


def test_the_committed_files_describe_apps_and_redis_behind_them(
    services: dict[str, ServiceParams],
) -> None:
    """Apps behind the ALB (the walk-through's three, and any added since) and one Redis."""
    assert [n for n, p in services.items() if not p.is_app] == ["redis"]
    assert len([p for p in services.values() if p.is_app]) >= 3


def test_every_app_in_the_workspace_has_a_parameter_file_and_back(
    services: dict[str, ServiceParams],
) -> None:
    """Adding a service means its code and its parameter file; one without the other fails."""
    assert sorted(workspace_apps()) == sorted(n for n, p in services.items() if p.is_app)


def test_the_walkthrough_sizes_and_counts_hold(services: dict[str, ServiceParams]) -> None:
    for p in services.values():
        assert (p.cpu, p.memory, p.dns_ttl) == (512, 1024, 30)
    for name in app_services():
        assert services[name].desired_count == 2
        assert services[name].path_prefix == f"/{name}"
        assert services[name].dns_name == f"{name}.internal-bookingapp.com"


def test_round_trip_of_the_committed_files_loads_the_same(tmp_path: Path) -> None:
    """The helper that writes broken variants below writes faithful copies."""
    assert load_all(write(tmp_path, committed())) == load_all()


def set_key(service: str, key: str, value: Any) -> Callable[[dict[str, Raw]], None]:
    """Return a change that sets key (dotted for tables) in one service's file."""

    def change(files: dict[str, Raw]) -> None:
        target = files[service]
        *tables, last = key.split(".")
        for table in tables:
            target = target.setdefault(table, {})
        target[last] = value

    return change


def drop_key(service: str, key: str) -> Callable[[dict[str, Raw]], None]:
    """Return a change that removes a top-level key from one service's file."""
    return lambda files: files[service].pop(key)


BROKEN = {
    "unknown key": (set_key("home", "replicas", 3), "home.toml: unknown key 'replicas'"),
    "unknown table key": (set_key("home", "alb.host", "x"), "unknown key alb.host"),
    "missing key": (drop_key("movie", "image"), "movie.toml: missing key 'image'"),
    "missing table": (drop_key("bus", "autoscaling"), "missing key 'autoscaling'"),
    "missing table key": (
        lambda files: files["home"]["alb"].pop("priority"),
        "home.toml: missing key alb.priority",
    ),
    "text for a number": (set_key("home", "cpu", "512"), "cpu must be an integer, got str"),
    "bool for a number": (set_key("home", "dns_ttl", True), "dns_ttl must be an integer, got bool"),
    "no such Fargate cpu": (set_key("home", "cpu", 300), "cpu 300 is not a Fargate size"),
    "memory not allowed for the cpu": (
        set_key("home", "memory", 512),
        "memory 512 MiB is not valid with cpu 512",
    ),
    "health path outside the rule": (
        set_key("home", "health_check_path", "/health"),
        "health_check_path '/health' does not match alb.path_pattern '/home*'",
    ),
    "duplicate priority": (
        set_key("movie", "alb.priority", 10),
        "alb.priority 10 is already used by home.toml",
    ),
    "duplicate discovery name": (
        set_key("bus", "discovery_name", "redis"),
        "discovery_name 'redis' is already used",
    ),
    "app key on redis": (
        set_key("redis", "alb", {"path_pattern": "/r*", "priority": 5}),
        "apps only",
    ),
    "unknown kind": (set_key("redis", "kind", "database"), "kind must be one of app, backing"),
    "name differs from file": (set_key("home", "name", "homepage"), "must match the file name"),
    "root user": (set_key("home", "user", "0"), "non-root user"),
    "too many variables": (
        set_key("home", "environment", {f"V{i}": "x" for i in range(5)}),
        "5 environment variables; the service template has 4 slots",
    ),
    "comma in a command": (
        set_key("redis", "command", ["sh", "-c", "a,b"]),
        "command items must not contain commas",
    ),
    "desired count outside scaling": (
        set_key("home", "desired_count", 9),
        "desired_count 9 is outside autoscaling 2..6",
    ),
    "health check without CMD": (
        set_key("home", "health_check_command", ["python", "x"]),
        "must start with CMD or CMD-SHELL",
    ),
    "apps on different ports": (
        set_key("bus", "container_port", 8000),
        "all app services must share one container_port, got [5000, 8000]",
    ),
    "long DNS TTL": (set_key("home", "dns_ttl", 3600), "dns_ttl 3600 must be between 1 and 300"),
    "image with a space": (
        set_key("home", "image", "docker.io/bookingapp/home :1"),
        "home.toml: image must be a non-empty reference without spaces",
    ),
    "blank image": (set_key("home", "image", "  "), "image must be a non-empty reference"),
    "port 0": (set_key("redis", "container_port", 0), "container_port 0 is not a TCP port"),
    "port above 65535": (
        set_key("redis", "container_port", 65536),
        "container_port 65536 is not a TCP port",
    ),
    "no tasks": (set_key("redis", "desired_count", 0), "desired_count must be at least 1"),
    "relative data path": (
        set_key("redis", "data_path", "data"),
        "data_path must be an absolute path other than /tmp",
    ),
    "data path on the scratch volume": (
        set_key("redis", "data_path", "/tmp"),
        "data_path must be an absolute path other than /tmp",
    ),
    "bad variable name": (
        set_key("home", "environment.REDIS-HOST", "x"),
        "environment name 'REDIS-HOST' is not a valid variable name",
    ),
    "discovery name not a DNS label": (
        set_key("bus", "discovery_name", "Bus_1"),
        "discovery_name 'Bus_1' is not a DNS label",
    ),
    "discovery name ending in a hyphen": (
        set_key("bus", "discovery_name", "bus-"),
        "discovery_name 'bus-' is not a DNS label",
    ),
    "minimum healthy above 100": (
        set_key("redis", "deployment.minimum_healthy_percent", 101),
        "deployment.minimum_healthy_percent must be 0..100",
    ),
    "minimum healthy below 0": (
        set_key("redis", "deployment.minimum_healthy_percent", -1),
        "deployment.minimum_healthy_percent must be 0..100",
    ),
    "maximum below 100": (
        set_key("home", "deployment.maximum_percent", 99),
        "deployment.maximum_percent must be 100..200",
    ),
    "maximum above 200": (
        set_key("home", "deployment.maximum_percent", 201),
        "deployment.maximum_percent must be 100..200",
    ),
    "health path without a slash": (
        set_key("movie", "health_check_path", "movie/health"),
        "health_check_path must start with '/', got 'movie/health'",
    ),
    "path pattern without a slash": (
        set_key("movie", "alb.path_pattern", "movie*"),
        "alb.path_pattern must start with '/' (at most 128 chars)",
    ),
    "path pattern over 128 characters": (
        set_key("movie", "alb.path_pattern", "/movie" + "*" * 123),
        "alb.path_pattern must start with '/' (at most 128 chars)",
    ),
    "priority 0": (
        set_key("home", "alb.priority", 0),
        "alb.priority 0 must be between 1 and 50000",
    ),
    "priority above 50000": (
        set_key("home", "alb.priority", 50001),
        "alb.priority 50001 must be between 1 and 50000",
    ),
    "min capacity above max": (
        set_key("home", "autoscaling.min_capacity", 7),
        "autoscaling needs 1 <= min_capacity <= max_capacity, got 7..6",
    ),
    "min capacity 0": (
        set_key("home", "autoscaling.min_capacity", 0),
        "autoscaling needs 1 <= min_capacity <= max_capacity, got 0..6",
    ),
    "cpu target 0": (set_key("bus", "autoscaling.cpu_target", 0), "cpu_target 0 must be 1..99"),
    "cpu target 100": (
        set_key("bus", "autoscaling.cpu_target", 100),
        "cpu_target 100 must be 1..99",
    ),
    "uid without gid": (
        set_key("home", "user", "10001"),
        'user must be numeric uid:gid such as "10001:10001" (a uid alone runs with gid 0)',
    ),
    "user by name": (set_key("redis", "user", "redis:redis"), "user must be numeric uid:gid"),
    "root group": (set_key("home", "user", "10001:0"), "user's gid must not be 0"),
    "root uid with a group": (set_key("home", "user", "0:10001"), "non-root user"),
    "unknown strategy": (
        set_key("home", "deployment.strategy", "shadow"),
        "deployment.strategy must be one of rolling, blue_green, linear, canary, got 'shadow'",
    ),
    "blue/green for redis": (
        set_key("redis", "deployment.strategy", "blue_green"),
        "redis.toml: deployment.strategy 'blue_green' is for apps behind the ALB",
    ),
    "bake time over a day": (
        set_key("home", "deployment.bake_time_minutes", 1441),
        "deployment.bake_time_minutes must be 0..1440",
    ),
    "approval as text": (
        set_key("home", "deployment.approval", "yes"),
        "deployment.approval must be true or false, got str 'yes'",
    ),
    "exec as a number": (
        set_key("home", "enable_execute_command", 1),
        "enable_execute_command must be true or false, got int 1",
    ),
    "registry secret that is neither ARN nor name": (
        set_key("home", "repository_credentials", "my secret"),
        "repository_credentials must be a Secrets Manager secret ARN or name",
    ),
    "two registry secrets": (
        lambda files: (
            files["home"].update(repository_credentials="dockerhub-a"),
            files["bus"].update(repository_credentials="dockerhub-b"),
        ),
        "services name different repository_credentials ['dockerhub-a', 'dockerhub-b']",
    ),
    "elasticache on an app": (
        set_key("home", "elasticache", {"enabled": True}),
        "key 'elasticache' is for backing services only, not kind 'app'",
    ),
    "elasticache without a replica": (
        set_key("redis", "elasticache.replicas", 0),
        "elasticache.replicas 0 must be 1..5",
    ),
    "data path on an app": (
        set_key("home", "data_path", "/data"),
        "home.toml: key 'data_path' is for backing services only, not kind 'app'",
    ),
    "two services with data": (
        lambda files: files.update(
            cache={**files["redis"], "name": "cache", "discovery_name": "cache"}
        ),
        "only one service can have a data_path, got ['cache', 'redis']",
    ),
    "elasticache node type": (
        set_key("redis", "elasticache.node_type", "t4g.micro"),
        "elasticache.node_type 't4g.micro' is not cache.*",
    ),
    "DNS TTL 0": (set_key("home", "dns_ttl", 0), "dns_ttl 0 must be between 1 and 300"),
    "DNS TTL 301": (set_key("home", "dns_ttl", 301), "dns_ttl 301 must be between 1 and 300"),
    "six ElastiCache replicas": (
        set_key("redis", "elasticache.replicas", 6),
        "elasticache.replicas 6 must be 1..5",
    ),
    "two backing services on ElastiCache": (
        lambda files: (
            files["redis"]["elasticache"].update(enabled=True),
            files.update(cache={**files["redis"], "name": "cache", "discovery_name": "cache"}),
            files["cache"].pop("data_path"),
        ),
        "only one backing service can run on ElastiCache, got ['cache', 'redis']",
    ),
    "comma in a health check": (
        set_key("home", "health_check_command", ["CMD-SHELL", "a,b"]),
        "home.toml: health_check_command items must not contain commas",
    ),
    "root by name": (set_key("home", "user", "root:root"), "non-root user, got 'root:root'"),
    "no uid": (set_key("home", "user", ":10001"), "non-root user, got ':10001'"),
}

# Values at the edges of each range: they load. With BROKEN, this pins both ends.
ACCEPTED = {
    "lowest port": set_key("redis", "container_port", 1),
    "highest port": set_key("redis", "container_port", 65535),
    "minimum healthy 0 on an app": set_key("home", "deployment.minimum_healthy_percent", 0),
    "maximum 200 on redis": set_key("redis", "deployment.maximum_percent", 200),
    "minimum healthy 100": set_key("redis", "deployment.minimum_healthy_percent", 100),
    "maximum 100": set_key("home", "deployment.maximum_percent", 100),
    "priority 1": set_key("home", "alb.priority", 1),
    "priority 50000": set_key("home", "alb.priority", 50000),
    "min capacity equal to max": lambda files: files["bus"]["autoscaling"].update(
        min_capacity=2, max_capacity=2
    ),
    "cpu target 1": set_key("bus", "autoscaling.cpu_target", 1),
    "cpu target 99": set_key("bus", "autoscaling.cpu_target", 99),
    "path pattern of 128 characters": set_key("movie", "alb.path_pattern", "/movie" + "*" * 122),
    "underscore in a variable name": set_key("home", "environment._X_1", "x"),
    "one-letter DNS label": set_key("bus", "discovery_name", "b"),
    "registry secret by ARN": set_key(
        "home",
        "repository_credentials",
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dockerhub-AbCdEf",
    ),
    "blue/green app with approval": lambda files: files["home"].update(
        deployment={"strategy": "blue_green", "bake_time_minutes": 0, "approval": True}
    ),
    "DNS TTL 1": set_key("home", "dns_ttl", 1),
    "DNS TTL 300": set_key("home", "dns_ttl", 300),
    "min capacity 1": set_key("bus", "autoscaling.min_capacity", 1),
    "five ElastiCache replicas": set_key("redis", "elasticache.replicas", 5),
    "redis on ElastiCache": set_key("redis", "elasticache.enabled", True),
    "as many variables as the template has slots": set_key(
        "home", "environment", {f"V{i}": "x" for i in range(4)}
    ),
    "bake time of a day": lambda files: files["home"].update(
        deployment={"strategy": "blue_green", "bake_time_minutes": 1440}
    ),
    "blue/green at priority 2": lambda files: (
        files["home"].update(deployment={"strategy": "blue_green"}),
        files["home"]["alb"].update(priority=2),
    ),
    # Only blue/green takes the number below its priority for a test rule.
    "rolling apps at adjacent priorities": set_key("movie", "alb.priority", 11),
}


@pytest.mark.parametrize("change", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_values_at_the_edge_of_each_range_are_accepted(
    tmp_path: Path, change: Callable[[dict[str, Raw]], None]
) -> None:
    files = committed()
    change(files)
    loaded = load_all(write(tmp_path, files))
    assert loaded != load_all()


@pytest.mark.parametrize(("change", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_file_is_refused_with_a_message_naming_the_problem(
    tmp_path: Path, change: Callable[[dict[str, Raw]], None], message: str
) -> None:
    files = committed()
    change(files)
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_duplicate_path_pattern_is_refused(tmp_path: Path) -> None:
    files = committed()
    files["bus"]["alb"]["path_pattern"] = "/movie*"
    files["bus"]["health_check_path"] = "/movie/bus-health"
    with pytest.raises(ParamsError, match=r"alb.path_pattern '/movie\*' is already used"):
        load_all(write(tmp_path, files))


def test_invalid_toml_is_a_params_error(tmp_path: Path) -> None:
    (tmp_path / "home.toml").write_text("name = \n")
    with pytest.raises(ParamsError, match=r"home.toml: not valid TOML"):
        load_all(tmp_path)


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="no service parameter files"):
        load_all(tmp_path)


def test_the_cli_reports_bad_parameters_in_one_line_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = committed()
    files["home"]["memory"] = 100
    code = main(["--services-dir", str(write(tmp_path, files)), "plan"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("bookingapp-infra: error: home.toml: memory 100 MiB")
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("/home", True),
        ("/home/health", True),
        ("/homepage", True),  # a plain prefix, as on the ALB and in Traefik's PathPrefix
        ("/Home/health", False),  # case-sensitive
        ("/x/home", False),
    ],
)
def test_alb_path_patterns_match_like_the_alb(path: str, matches: bool) -> None:
    assert alb_path_matches("/home*", path) is matches
    assert alb_path_matches("/h?me/*", "/hxme/a") is True


# One case per check: the refusal opens with the file, then the key, as the module promises.
FILE_AND_KEY = {
    "user": (set_key("home", "user", "10001"), "home.toml: user must be numeric"),
    "discovery name": (set_key("bus", "discovery_name", "Bus"), "bus.toml: discovery_name"),
    "alb rule": (set_key("movie", "alb.priority", 0), "movie.toml: alb.priority 0"),
    "autoscaling": (set_key("home", "autoscaling.cpu_target", 0), "home.toml: autoscaling"),
    "registry secret": (
        set_key("home", "repository_credentials", "a b"),
        "home.toml: repository_credentials",
    ),
    "elasticache": (set_key("redis", "elasticache.replicas", 0), "redis.toml: elasticache"),
    "a table given as text": (
        set_key("home", "alb", "x"),
        "home.toml: alb must be a table, got str 'x'",
    ),
    "a number given as text": (
        set_key("home", "cpu", "512"),
        "home.toml: cpu must be an integer, got str '512'",
    ),
    "a table value of the wrong type": (
        set_key("home", "alb.priority", "10"),
        "home.toml: alb.priority must be an integer, got str '10'",
    ),
    "a list item of the wrong type": (
        set_key("home", "health_check_command", ["CMD", 1]),
        "home.toml: health_check_command[] must be a string, got int 1",
    ),
    "a variable that is not text": (
        set_key("home", "environment.PORT", 5000),
        "home.toml: environment.PORT must be a string, got int 5000",
    ),
}


@pytest.mark.parametrize(("change", "opening"), FILE_AND_KEY.values(), ids=FILE_AND_KEY.keys())
def test_a_refusal_opens_with_the_file_and_the_key_it_is_about(
    tmp_path: Path, change: Callable[[dict[str, Raw]], None], opening: str
) -> None:
    files = committed()
    change(files)
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert str(caught.value).startswith(opening)


def test_an_unknown_key_is_refused_with_the_keys_that_are_known(tmp_path: Path) -> None:
    files = committed()
    files["home"]["replicas"] = 3
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert "(known: name, kind, image, container_port, cpu, memory," in str(caught.value)


def test_an_unknown_table_key_is_refused_with_the_table_keys_that_are_known(
    tmp_path: Path,
) -> None:
    files = committed()
    files["home"]["alb"]["host"] = "x"
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert str(caught.value).endswith("unknown key alb.host (known: path_pattern, priority)")


def test_a_size_fargate_lacks_is_refused_with_the_sizes_it_offers(tmp_path: Path) -> None:
    """The message is the user's guide to a valid size, so its figures must be right."""
    files = committed()
    files["home"]["cpu"] = 300
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert str(caught.value).endswith(
        "cpu 300 is not a Fargate size (one of 256, 512, 1024, 2048, 4096, 8192, 16384)"
    )
    files["home"].update(cpu=512, memory=512)
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert str(caught.value).endswith(
        "memory 512 MiB is not valid with cpu 512 on Fargate (1024..4096 in steps of 1024)"
    )


def test_blue_green_refusals_say_how_to_fix_them(tmp_path: Path) -> None:
    files = committed()
    files["home"]["deployment"] = {"approval": True}
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert str(caught.value).endswith(
        "deployment.approval pauses a traffic-shifting deployment after test traffic; "
        "set deployment.strategy to one of blue_green, linear, canary or drop approval"
    )
    files["home"]["deployment"] = {"strategy": "blue_green"}
    files["home"]["alb"]["priority"] = 1
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert str(caught.value).endswith(
        "alb.priority must be at least 2 with blue_green: the test rule "
        "takes the number just below it"
    )


def test_a_duplicate_priority_is_found_after_a_service_without_a_rule(tmp_path: Path) -> None:
    """A backing service (no ALB rule) that sorts first must not end the duplicate search."""
    files = committed()
    cache = files.pop("redis")
    files["cache"] = {**cache, "name": "cache"}
    files["movie"]["alb"]["priority"] = 10
    with pytest.raises(ParamsError, match=r"alb.priority 10 is already used by home.toml"):
        load_all(write(tmp_path, files))


def test_a_parameter_file_that_cannot_be_read_is_named_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "home.toml").mkdir()
    with pytest.raises(ParamsError) as caught:
        load_all(tmp_path)
    # The reason is the OS's own words ("Is a directory" on Linux), so only its presence.
    opening = f"{tmp_path / 'home.toml'}: cannot read: "
    assert str(caught.value).startswith(opening)
    assert len(str(caught.value)) > len(opening)


@pytest.mark.parametrize(
    ("service", "prefix", "says"),
    [
        # /home* already takes /homepage, and /ho* takes /home: either direction.
        (
            "bus",
            "/homepage",
            "bus.toml: alb.path_pattern '/homepage*' overlaps '/home*' of home.toml",
        ),
        ("bus", "/ho", "bus.toml: alb.path_pattern '/ho*' overlaps '/home*' of home.toml"),
        # The file named is the later rule (higher alb.priority), whatever changed.
        (
            "home",
            "/movies",
            "movie.toml: alb.path_pattern '/movie*' overlaps '/movies*' of home.toml",
        ),
    ],
)
def test_overlapping_prefixes_are_refused_naming_the_later_rule(
    tmp_path: Path, service: str, prefix: str, says: str
) -> None:
    """The ALB and Traefik match plain prefixes: one prefix starting another is a shadow."""
    files = committed()
    files[service]["alb"]["path_pattern"] = f"{prefix}*"
    files[service]["health_check_path"] = f"{prefix}/health"
    with pytest.raises(ParamsError) as caught:
        load_all(write(tmp_path, files))
    assert str(caught.value).startswith(f"{says}: the ALB and Traefik match plain prefixes")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["Shop", "shop_1", "-shop", "shop-", "s" * 64])
def test_a_name_cloudformation_would_refuse_is_refused_by_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Before any stack exists, not when the service's stack is created after the platform."""
    files = committed()
    raw = files.pop("bus")
    raw["name"] = name
    files[name] = raw
    assert main(["--services-dir", str(write(tmp_path, files)), "plan"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bookingapp-infra: error: {name}.toml: name {name!r} is not a service")
    assert "AllowedPattern" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("pattern", ["/bus", "/b*s*", "/bus?*", "/bus /x*"])
def test_a_path_pattern_compose_cannot_mirror_as_a_prefix_is_refused(
    tmp_path: Path, pattern: str
) -> None:
    files = committed()
    files["bus"]["alb"]["path_pattern"] = pattern
    files["bus"]["health_check_path"] = "/bus"
    with pytest.raises(ParamsError, match=r"^bus.toml: alb.path_pattern .* must be a path prefix"):
        load_all(write(tmp_path, files))


def test_a_file_that_is_not_utf8_is_one_line_exit_2_for_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, committed())
    (tmp_path / "bus.toml").write_bytes(b'# caf\xe9\nname = "bus"\n')
    assert main(["--services-dir", str(tmp_path), "plan"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "bookingapp-infra: error: bus.toml: not UTF-8 text (byte 5): TOML files must be UTF-8\n"
    )
