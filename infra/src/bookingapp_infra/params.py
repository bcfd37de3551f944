"""Per-service parameters: one small TOML file per service, validated into frozen dataclasses.

These files (infra/services/*.toml) are the single source of truth for the deployment:
the CLI turns them into CloudFormation parameters, and the compose-consistency test holds
compose.yaml to them. Every problem is reported as a ParamsError naming the file and key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

INFRA_DIR = Path(__file__).resolve().parents[2]
SERVICES_DIR = INFRA_DIR / "services"
NAMESPACE = "internal-bookingapp.com"
# Every task gets a writable scratch volume here (its root filesystem is read-only).
TMP_PATH = "/tmp"  # noqa: S108 - a mount point inside the container, not a temp file here
KINDS = ("app", "backing")
# The service template has this many environment slots (EnvironmentName1..N): CloudFormation
# cannot turn one parameter into a list of name/value objects, so the slots are fixed.
MAX_ENVIRONMENT = 4
# Fargate's valid task sizes: CPU units -> allowed memory in MiB (AWS ECS developer guide,
# "Task CPU and memory"). cfn-lint checks literal pairs only; ours arrive as parameters.
FARGATE_SIZES: Mapping[int, tuple[int, ...]] = MappingProxyType(
    {
        256: (512, 1024, 2048),
        512: tuple(range(1024, 4097, 1024)),
        1024: tuple(range(2048, 8193, 1024)),
        2048: tuple(range(4096, 16385, 1024)),
        4096: tuple(range(8192, 30721, 1024)),
        8192: tuple(range(16384, 61441, 4096)),
        16384: tuple(range(32768, 122881, 8192)),
    }
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class ParamsError(ValueError):
    """A parameter file is missing, malformed or inconsistent with the others."""


@dataclass(frozen=True)
class AlbParams:
    """How the ALB routes to an app: listener rule path pattern and priority."""

    path_pattern: str
    priority: int


@dataclass(frozen=True)
class AutoscalingParams:
    """Target tracking on the service's average CPU, between min and max tasks."""

    min_capacity: int
    max_capacity: int
    cpu_target: int
    # Seconds after a scale-out (scale-in) before the next one. 300 is Application Auto
    # Scaling's default for ECS services when a policy is silent (API reference,
    # TargetTrackingScalingPolicyConfiguration: ScaleOutCooldown, ScaleInCooldown).
    scale_out_cooldown: int = 300
    scale_in_cooldown: int = 300


@dataclass(frozen=True)
class DeploymentParams:
    """Rolling deployment bounds, in percent of the desired count."""

    minimum_healthy_percent: int = 100
    maximum_percent: int = 200


@dataclass(frozen=True)
class ServiceParams:
    """One service's deployment parameters, as read from infra/services/<name>.toml."""

    name: str
    kind: str
    image: str
    container_port: int
    cpu: int
    memory: int
    desired_count: int
    user: str
    health_check_command: tuple[str, ...]
    discovery_name: str
    dns_ttl: int
    health_check_path: str | None = None
    command: tuple[str, ...] = ()
    data_path: str | None = None
    alb: AlbParams | None = None
    autoscaling: AutoscalingParams | None = None
    deployment: DeploymentParams = field(default_factory=DeploymentParams)
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_app(self) -> bool:
        """Say whether the service sits behind the ALB (an app) or is internal (backing)."""
        return self.kind == "app"

    @property
    def path_prefix(self) -> str | None:
        """Return the URL prefix the ALB routes on ("/home" for "/home*"), None if internal."""
        return self.alb.path_pattern.rstrip("*") if self.alb else None

    @property
    def dns_name(self) -> str:
        """Return the Cloud Map name other services reach this one by."""
        return f"{self.discovery_name}.{NAMESPACE}"


# key -> (expected type, required for app, required for backing, allowed for backing)
_TOP_LEVEL: Mapping[str, tuple[type, bool, bool, bool]] = MappingProxyType(
    {
        "name": (str, True, True, True),
        "kind": (str, True, True, True),
        "image": (str, True, True, True),
        "container_port": (int, True, True, True),
        "cpu": (int, True, True, True),
        "memory": (int, True, True, True),
        "desired_count": (int, True, True, True),
        "user": (str, True, True, True),
        "health_check_command": (list, True, True, True),
        "discovery_name": (str, True, True, True),
        "dns_ttl": (int, True, True, True),
        "health_check_path": (str, True, False, False),
        "command": (list, False, False, True),
        "data_path": (str, False, False, True),
        "alb": (dict, True, False, False),
        "autoscaling": (dict, True, False, False),
        "deployment": (dict, False, False, True),
        "environment": (dict, False, False, True),
    }
)
_TABLES: Mapping[str, type] = MappingProxyType(
    {"alb": AlbParams, "autoscaling": AutoscalingParams, "deployment": DeploymentParams}
)


def load_all(root: Path | None = None) -> dict[str, ServiceParams]:
    """Load and cross-check every <name>.toml in root (default infra/services), by name."""
    directory = root or SERVICES_DIR
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise ParamsError(f"{directory}: no service parameter files (*.toml)")
    services = {path.stem: load_service(path) for path in files}
    check_together(services)
    return services


def load_service(path: Path) -> ServiceParams:
    """Load one parameter file and validate it on its own."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ParamsError(f"{path}: cannot read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ParamsError(f"{path.name}: not valid TOML: {err}") from err
    params = _build(path.name, raw)
    if params.name != path.stem:
        raise ParamsError(f"{path.name}: name {params.name!r} must match the file name")
    _check_service(path.name, params)
    return params


def _build(where: str, raw: dict[str, Any]) -> ServiceParams:
    """Check keys and types, then build the dataclass."""
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ParamsError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    is_app = kind == "app"
    for key in raw:
        if key not in _TOP_LEVEL:
            raise ParamsError(f"{where}: unknown key {key!r} (known: {', '.join(_TOP_LEVEL)})")
    values: dict[str, Any] = {}
    for key, (expected, app_needs, backing_needs, backing_may) in _TOP_LEVEL.items():
        if key not in raw:
            if app_needs if is_app else backing_needs:
                raise ParamsError(f"{where}: missing key {key!r} (needed for kind {kind!r})")
            continue
        if not is_app and not backing_may:
            raise ParamsError(f"{where}: key {key!r} is for apps only, not kind {kind!r}")
        values[key] = _typed(where, key, raw[key], expected)
    for key, cls in _TABLES.items():
        if key in values:
            values[key] = _table(where, key, values[key], cls)
    for key in ("command", "health_check_command"):
        if key in values:
            values[key] = tuple(_typed(where, f"{key}[]", item, str) for item in values[key])
    env = values.get("environment", {})
    values["environment"] = MappingProxyType(
        {name: _typed(where, f"environment.{name}", value, str) for name, value in env.items()}
    )
    return ServiceParams(**values)


_TYPE_WORDS = {int: "an integer", str: "a string", list: "a list", dict: "a table"}


def _typed(where: str, key: str, value: Any, expected: type) -> Any:
    """Return value if it has the expected TOML type (a bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, expected):
        wanted = _TYPE_WORDS.get(expected, expected.__name__)
        raise ParamsError(f"{where}: {key} must be {wanted}, got {type(value).__name__} {value!r}")
    return value


def _table(where: str, key: str, raw: dict[str, Any], cls: type) -> Any:
    """Build a [table] dataclass whose fields are all integers except alb.path_pattern."""
    fields = cls.__dataclass_fields__
    for name in raw:
        if name not in fields:
            raise ParamsError(f"{where}: unknown key {key}.{name} (known: {', '.join(fields)})")
    typed = {}
    for name, spec in fields.items():
        if name not in raw:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise ParamsError(f"{where}: missing key {key}.{name}")
            continue
        expected = str if name == "path_pattern" else int
        typed[name] = _typed(where, f"{key}.{name}", raw[name], expected)
    return cls(**typed)


def _check_service(where: str, p: ServiceParams) -> None:
    """Check the rules one file must satisfy on its own."""
    _check_size(where, p)
    _check_container(where, p)
    _check_discovery(where, p)
    _check_deployment(where, p)
    if p.alb is not None:
        _check_alb(where, p, p.alb)
    if p.autoscaling is not None:
        _check_autoscaling(where, p, p.autoscaling)


def _check_size(where: str, p: ServiceParams) -> None:
    """Reject CPU/memory combinations Fargate does not offer, before AWS does."""
    if p.cpu not in FARGATE_SIZES:
        sizes = ", ".join(map(str, FARGATE_SIZES))
        raise ParamsError(f"{where}: cpu {p.cpu} is not a Fargate size (one of {sizes})")
    allowed = FARGATE_SIZES[p.cpu]
    if p.memory not in allowed:
        raise ParamsError(
            f"{where}: memory {p.memory} MiB is not valid with cpu {p.cpu} on Fargate "
            f"({allowed[0]}..{allowed[-1]} in steps of {allowed[1] - allowed[0]})"
        )


def _check_container(where: str, p: ServiceParams) -> None:
    """Check image, port, user, commands, data path and environment."""
    if not p.image.strip() or any(ch.isspace() for ch in p.image):
        raise ParamsError(f"{where}: image must be a non-empty reference without spaces")
    if not 1 <= p.container_port <= 65535:
        raise ParamsError(f"{where}: container_port {p.container_port} is not a TCP port")
    if p.user.split(":")[0] in ("", "0", "root"):
        raise ParamsError(f"{where}: user must be a non-root user, got {p.user!r}")
    if p.desired_count < 1:
        raise ParamsError(f"{where}: desired_count must be at least 1")
    if not p.health_check_command or p.health_check_command[0] not in ("CMD", "CMD-SHELL"):
        raise ParamsError(f"{where}: health_check_command must start with CMD or CMD-SHELL")
    for key, words in (("command", p.command), ("health_check_command", p.health_check_command)):
        # CloudFormation carries these as CommaDelimitedList parameters.
        if any("," in word for word in words):
            raise ParamsError(f"{where}: {key} items must not contain commas")
    if p.data_path is not None and (not p.data_path.startswith("/") or p.data_path == TMP_PATH):
        raise ParamsError(f"{where}: data_path must be an absolute path other than {TMP_PATH}")
    if len(p.environment) > MAX_ENVIRONMENT:
        raise ParamsError(
            f"{where}: {len(p.environment)} environment variables; the service template "
            f"has {MAX_ENVIRONMENT} slots"
        )
    for name in p.environment:
        if not _ENV_NAME.match(name):
            raise ParamsError(f"{where}: environment name {name!r} is not a valid variable name")


def _check_discovery(where: str, p: ServiceParams) -> None:
    """Check the Cloud Map name and the A record TTL."""
    if not _DNS_LABEL.match(p.discovery_name):
        raise ParamsError(f"{where}: discovery_name {p.discovery_name!r} is not a DNS label")
    if not 1 <= p.dns_ttl <= 300:
        # Long TTLs keep clients on stopped tasks' addresses (PITFALLS #5).
        raise ParamsError(f"{where}: dns_ttl {p.dns_ttl} must be between 1 and 300 seconds")


def _check_deployment(where: str, p: ServiceParams) -> None:
    """Check the rolling deployment bounds ECS accepts."""
    d = p.deployment
    if not 0 <= d.minimum_healthy_percent <= 100:
        raise ParamsError(f"{where}: deployment.minimum_healthy_percent must be 0..100")
    if not 100 <= d.maximum_percent <= 200:
        raise ParamsError(f"{where}: deployment.maximum_percent must be 100..200")


def _check_alb(where: str, p: ServiceParams, alb: AlbParams) -> None:
    """Check the path rule covers the health check path and the priority is valid."""
    health = p.health_check_path or ""
    if not health.startswith("/"):
        raise ParamsError(f"{where}: health_check_path must start with '/', got {health!r}")
    if not alb.path_pattern.startswith("/") or len(alb.path_pattern) > 128:
        raise ParamsError(f"{where}: alb.path_pattern must start with '/' (at most 128 chars)")
    if not alb_path_matches(alb.path_pattern, health):
        # The ALB does not strip prefixes: a health path outside the rule would be checked
        # by the target group yet never routed to this app by the listener (PITFALLS #1, #2).
        raise ParamsError(
            f"{where}: health_check_path {health!r} does not match alb.path_pattern "
            f"{alb.path_pattern!r}; the health path must live under the service's prefix"
        )
    if not 1 <= alb.priority <= 50000:
        raise ParamsError(f"{where}: alb.priority {alb.priority} must be between 1 and 50000")


def _check_autoscaling(where: str, p: ServiceParams, scaling: AutoscalingParams) -> None:
    """Check the scaling bounds contain the desired count and the CPU target is a percent."""
    if not 1 <= scaling.min_capacity <= scaling.max_capacity:
        raise ParamsError(
            f"{where}: autoscaling needs 1 <= min_capacity <= max_capacity, got "
            f"{scaling.min_capacity}..{scaling.max_capacity}"
        )
    if not scaling.min_capacity <= p.desired_count <= scaling.max_capacity:
        raise ParamsError(
            f"{where}: desired_count {p.desired_count} is outside autoscaling "
            f"{scaling.min_capacity}..{scaling.max_capacity}"
        )
    if not 1 <= scaling.cpu_target <= 99:
        raise ParamsError(f"{where}: autoscaling.cpu_target {scaling.cpu_target} must be 1..99")
    for key in ("scale_out_cooldown", "scale_in_cooldown"):
        if getattr(scaling, key) < 0:
            raise ParamsError(f"{where}: autoscaling.{key} must be 0 or more seconds")


def check_together(services: Mapping[str, ServiceParams]) -> None:
    """Check the rules that span services: unique names, priorities, shared ports."""
    _unique(services, "discovery_name", lambda p: p.discovery_name)
    _unique(services, "alb.priority", lambda p: p.alb.priority if p.alb else None)
    _unique(services, "alb.path_pattern", lambda p: p.alb.path_pattern if p.alb else None)
    for kind in KINDS:
        ports = {p.container_port for p in services.values() if p.kind == kind}
        if len(ports) > 1:
            # One security group rule per kind opens one port (see platform.yaml).
            raise ParamsError(
                f"all {kind} services must share one container_port, got {sorted(ports)}"
            )


def _unique(services: Mapping[str, ServiceParams], label: str, key: Any) -> None:
    """Raise if two services share a value of key (None values are ignored)."""
    seen: dict[Any, str] = {}
    for name, params in sorted(services.items()):
        value = key(params)
        if value is None:
            continue
        if value in seen:
            raise ParamsError(f"{name}.toml: {label} {value!r} is already used by {seen[value]}")
        seen[value] = f"{name}.toml"


def alb_path_matches(pattern: str, path: str) -> bool:
    """Match a path as an ALB path-pattern condition does: case-sensitive, * and ? wildcards."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, path) is not None
