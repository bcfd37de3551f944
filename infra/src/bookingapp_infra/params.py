"""Per-service parameters: one small TOML file per service, validated into frozen dataclasses.

These files (infra/services/*.toml) are the single source of truth for the deployment:
the CLI turns them into CloudFormation parameters, and the compose-consistency test holds
compose.yaml to them. Every problem is reported as a ParamsError naming the file and key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_type_hints

from bookingapp_infra.errors import InputError

INFRA_DIR = Path(__file__).resolve().parents[2]
SERVICES_DIR = INFRA_DIR / "services"
NAMESPACE = "internal-bookingapp.com"
# Every task gets a writable scratch volume here (its root filesystem is read-only).
TMP_PATH = "/tmp"  # noqa: S108 - a mount point inside the container, not a temp file here
KINDS = ("app", "backing")
_PLURALS = MappingProxyType({"app": "apps", "backing": "backing services"})
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
# service.yaml's ServiceName AllowedPattern: CloudFormation refuses any other name, but only
# when the service's own stack is created, after the network and platform stacks are up.
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
# The literal part of an ALB path pattern: the characters a path-pattern condition allows
# (Elastic Load Balancing user guide, "Path conditions"), wildcards excepted.
_PATH_LITERAL = re.compile(r"^/[A-Za-z0-9_\-.$/~\"'@:+&]*$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
_SECRET_NAME = re.compile(r"^[\w/+=.@-]{1,512}$")
# Fargate's two CPU architectures (RuntimePlatform.CpuArchitecture); the images are built
# for both (publish.yml: linux/amd64 and linux/arm64).
CPU_ARCHITECTURES = ("X86_64", "ARM64")
# The namespace the committed parameter files name: a placeholder nobody can pull from, which
# `deploy` refuses (push the images under your own namespace first; docs/deploy.md).
PLACEHOLDER_NAMESPACE = "bookingapp"
_DOCKER_HUB_HOSTS = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


class ParamsError(InputError, ValueError):
    """A parameter file is missing, malformed or inconsistent with the others (exit 2)."""


Need = Literal["required", "optional", "forbidden"]
# Shorthand for a key that either kind may have or leave out.
OPTIONAL: Mapping[str, Need] = MappingProxyType({"app": "optional", "backing": "optional"})


@dataclass(frozen=True)
class Key:
    """How a top-level key of a parameter file is declared: its TOML type, who needs it.

    `app` and `backing` say, per kind of service, whether the key must be present, may be
    present, or must not be (a backing service has no ALB rule, for instance). `items` is
    the type of a list's items or of a free-form table's values. A table with fixed keys
    is declared by its dataclass as `toml_type`; its fields' annotations type its keys.
    """

    toml_type: type
    app: Need = "required"
    backing: Need = "required"
    items: type | None = None

    def need(self, kind: str) -> Need:
        """Return whether a service of this kind must, may or must not have the key."""
        return self.app if kind == "app" else self.backing


def key(
    toml_type: type, *, app: Need = "required", backing: Need = "required", items: Any = None
) -> Mapping[str, Key]:
    """Return field metadata declaring a ServiceParams field as a parameter-file key."""
    return MappingProxyType({"key": Key(toml_type, app, backing, items)})


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
    # Blue/green only: ALB requests per task per minute that request-count tracking aims for.
    # Derived, not measured on Fargate: 0.5 vCPU at 60 % CPU is 0.3 CPU-seconds a second; a
    # page costs about 1 CPU-ms (docs/benchmark.md, run B), so ~300 requests/s, 18,000/min.
    requests_per_target: int = 18000


# ECS's deployment strategies we offer, as written in the TOML files.
STRATEGIES = ("rolling", "blue_green", "linear", "canary")
# The ones that start a full green set beside blue and move the listener rules' weights:
# two target groups, a test rule, the bake time, the approval pause and the green alarms.
# ECS calls them blue/green, linear and canary; they differ only in how production moves.
TRAFFIC_SHIFTING = ("blue_green", "linear", "canary")
# ECS's bake time when a traffic-shifting deployment names none (AWS::ECS::Service
# DeploymentConfiguration.BakeTimeInMinutes: 15 for blue/green, linear and canary, 0..1440).
DEFAULT_BAKE_TIME_MINUTES = 15
MAX_BAKE_TIME_MINUTES = 1440
# What ECS accepts for the gradual strategies' shares (cfn-lint's bundled AWS::ECS::Service
# schema and the ECS API reference, LinearConfiguration.StepPercent: 3.0..100.0 and
# CanaryConfiguration.CanaryPercent: 0.1..100.0, both in multiples of 0.1).
STEP_PERCENT_RANGE = (3.0, 100.0)
CANARY_PERCENT_RANGE = (0.1, 100.0)
# CloudFormation refuses a linear or canary deployment whose bake times add up to more than
# 33 hours (its handler gives up after 36): BakeTimeInMinutes plus StepBakeTimeInMinutes per
# step held, or plus CanaryBakeTimeInMinutes (the schema's LinearConfiguration and
# CanaryConfiguration descriptions).
MAX_DEPLOYMENT_BAKE_MINUTES = 33 * 60
FULL = 100.0  # percent of production traffic


@dataclass(frozen=True)
class DeploymentParams:
    """How ECS replaces a service's tasks: rolling bounds, or shifting traffic to a green set.

    ECS's names and defaults: a blue/green deployment moves production at once; a linear one
    `step_percent` at a time, each step held `step_bake_time_minutes`; a canary one
    `canary_percent` first, held `canary_bake_time_minutes`, then the rest.
    """

    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    strategy: str = "rolling"
    # Traffic-shifting only: minutes blue keeps running after production moved to green.
    bake_time_minutes: int = DEFAULT_BAKE_TIME_MINUTES
    # Traffic-shifting only: pause after test traffic reaches green until `approve`.
    approval: bool = False
    # Linear only (LinearConfiguration; ECS's defaults 10 % and 6 minutes).
    step_percent: float = 10.0
    step_bake_time_minutes: int = 6
    # Canary only (CanaryConfiguration; ECS's defaults 5 % and 10 minutes).
    canary_percent: float = 5.0
    canary_bake_time_minutes: int = 10

    @property
    def shifts_traffic(self) -> bool:
        """Say whether ECS runs green beside blue and moves traffic (else it rolls tasks)."""
        return self.strategy in TRAFFIC_SHIFTING

    def production_steps(self) -> tuple[tuple[float, int], ...]:
        """Return how production moves to green: (its percent, minutes held) per step."""
        if self.strategy == "linear":
            weights, held = linear_weights(self.step_percent), self.step_bake_time_minutes
        elif self.strategy == "canary":
            weights, held = canary_weights(self.canary_percent), self.canary_bake_time_minutes
        else:
            weights, held = (FULL,), 0
        return tuple((w, 0 if w == FULL else held) for w in weights)

    def bake_minutes(self) -> int:
        """Return the minutes a deployment holds in total: each step's, then the bake time."""
        return sum(minutes for _, minutes in self.production_steps()) + self.bake_time_minutes


def linear_weights(step_percent: float) -> tuple[float, ...]:
    """Return green's production share after each linear step: p, 2p, ... and then 100.

    Counted in tenths of a percent, as ECS takes them, so 33.3 gives 33.3, 66.6, 99.9, 100:
    CloudFormation counts a step held for each multiple below 100 (floor(100 / p), one
    fewer when p divides 100), and the last step to 100 is not held.
    """
    tenths = round(step_percent * 10)
    below = range(tenths, round(FULL * 10), tenths)
    return (*(t / 10 for t in below), FULL)


def canary_weights(canary_percent: float) -> tuple[float, ...]:
    """Return green's production share after each canary step: the canary's, then 100."""
    return (FULL,) if canary_percent >= FULL else (canary_percent, FULL)


@dataclass(frozen=True)
class ElastiCacheParams:
    """Backing only: run the counter on ElastiCache (Valkey) instead of an ECS task."""

    enabled: bool = False
    node_type: str = "cache.t4g.micro"
    # Read replicas beside the primary; at least 1 for Multi-AZ automatic failover.
    replicas: int = 1


@dataclass(frozen=True)
class ServiceParams:
    """One service's deployment parameters, as read from infra/services/<name>.toml.

    Each field is one key of the file, declared once: `key(...)` says its TOML type and
    which kinds of service need it. The checks below read the built dataclass.
    """

    name: str = field(metadata=key(str))
    kind: str = field(metadata=key(str))
    image: str = field(metadata=key(str))
    container_port: int = field(metadata=key(int))
    cpu: int = field(metadata=key(int))
    memory: int = field(metadata=key(int))
    desired_count: int = field(metadata=key(int))
    user: str = field(metadata=key(str))
    health_check_command: tuple[str, ...] = field(metadata=key(list, items=str))
    discovery_name: str = field(metadata=key(str))
    dns_ttl: int = field(metadata=key(int))
    health_check_path: str | None = field(default=None, metadata=key(str, backing="forbidden"))
    command: tuple[str, ...] = field(default=(), metadata=key(list, **OPTIONAL, items=str))
    # Mounted from the platform's one EFS access point, which belongs to the backing service.
    data_path: str | None = field(
        default=None, metadata=key(str, app="forbidden", backing="optional")
    )
    alb: AlbParams | None = field(default=None, metadata=key(AlbParams, backing="forbidden"))
    autoscaling: AutoscalingParams | None = field(
        default=None, metadata=key(AutoscalingParams, backing="forbidden")
    )
    deployment: DeploymentParams = field(
        default_factory=DeploymentParams, metadata=key(DeploymentParams, **OPTIONAL)
    )
    environment: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), metadata=key(dict, **OPTIONAL, items=str)
    )
    # A Secrets Manager secret (ARN or name) with {"username", "password"} for a private
    # registry; ECS pulls the image with it (RepositoryCredentials). None: anonymous pulls.
    repository_credentials: str | None = field(default=None, metadata=key(str, **OPTIONAL))
    # ECS Exec (a shell in a running task, for operators); off unless asked for.
    enable_execute_command: bool = field(default=False, metadata=key(bool, **OPTIONAL))
    # Backing only: the counter on ElastiCache instead of this ECS task (see the class).
    elasticache: ElastiCacheParams | None = field(
        default=None, metadata=key(ElastiCacheParams, app="forbidden", backing="optional")
    )
    # Fargate CPU architecture: X86_64 (default) or ARM64 (Graviton, about 20 % cheaper).
    cpu_architecture: str = field(default="X86_64", metadata=key(str, **OPTIONAL))

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

    @property
    def managed(self) -> bool:
        """Say whether this backing service runs on ElastiCache rather than as an ECS task."""
        return self.elasticache is not None and self.elasticache.enabled


# Every top-level key, in the order the dataclass declares them.
_KEYS: Mapping[str, Key] = MappingProxyType(
    {f.name: f.metadata["key"] for f in fields(ServiceParams)}
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
    except UnicodeDecodeError as err:
        raise ParamsError(
            f"{path.name}: not UTF-8 text (byte {err.start}): TOML files must be UTF-8"
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise ParamsError(f"{path.name}: not valid TOML: {err}") from err
    params = _build(path.name, raw)
    if params.name != path.stem:
        raise ParamsError(f"{path.name}: name {params.name!r} must match the file name")
    _check_service(path.name, params)
    return params


def _build(where: str, raw: dict[str, Any]) -> ServiceParams:
    """Check keys and types against the declaration, then build the dataclass."""
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ParamsError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    for name in raw:
        if name not in _KEYS:
            raise ParamsError(f"{where}: unknown key {name!r} (known: {', '.join(_KEYS)})")
    values: dict[str, Any] = {}
    for name, declared in _KEYS.items():
        need = declared.need(kind)
        if name not in raw:
            if need == "required":
                raise ParamsError(f"{where}: missing key {name!r} (needed for kind {kind!r})")
            continue
        if need == "forbidden":
            other = next(k for k in KINDS if k != kind)
            raise ParamsError(
                f"{where}: key {name!r} is for {_PLURALS[other]} only, not kind {kind!r}"
            )
        values[name] = _convert(where, name, raw[name], declared)
    return ServiceParams(**values)


def _convert(where: str, name: str, value: Any, declared: Key) -> Any:
    """Type-check one top-level value and turn it into what the dataclass holds."""
    if is_dataclass(declared.toml_type):
        return _table(where, name, _typed(where, name, value, dict), declared.toml_type)
    value = _typed(where, name, value, declared.toml_type)
    if declared.toml_type is list:
        return tuple(_typed(where, f"{name}[]", item, declared.items) for item in value)
    if declared.toml_type is dict:
        return MappingProxyType(
            {k: _typed(where, f"{name}.{k}", v, declared.items) for k, v in value.items()}
        )
    return value


_TYPE_WORDS = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def _typed(where: str, key: str, value: Any, expected: Any) -> Any:
    """Return value if it has the expected TOML type (a bool is not an int here).

    Where a number is expected an integer will do (`step_percent = 10`), as a float.
    """
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) is not (expected is bool) or not isinstance(value, expected):
        wanted = _TYPE_WORDS.get(expected, expected.__name__)
        raise ParamsError(f"{where}: {key} must be {wanted}, got {type(value).__name__} {value!r}")
    return value


def _table(where: str, key: str, raw: dict[str, Any], cls: Any) -> Any:
    """Build a [table] dataclass; each key's type is its field's annotation."""
    types = get_type_hints(cls)
    declared = {f.name: f for f in fields(cls)}
    for name in raw:
        if name not in declared:
            known = ", ".join(declared)
            raise ParamsError(f"{where}: unknown key {key}.{name} (known: {known})")
    typed = {}
    for name, spec in declared.items():
        if name not in raw:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise ParamsError(f"{where}: missing key {key}.{name}")
            continue
        typed[name] = _typed(where, f"{key}.{name}", raw[name], types[name])
    return cls(**typed)


def _check_service(where: str, p: ServiceParams) -> None:
    """Check the rules one file must satisfy on its own."""
    _check_name(where, p.name)
    _check_size(where, p)
    _check_container(where, p)
    _check_discovery(where, p)
    check_deployment(where, p)
    _check_unused_settings(where, p.deployment)
    if p.alb is not None:
        _check_alb(where, p, p.alb)
    if p.autoscaling is not None:
        _check_autoscaling(where, p, p.autoscaling)
    _check_registry(where, p)
    if p.elasticache is not None:
        _check_elasticache(where, p.elasticache)
    _check_architecture(where, p)


def _check_name(where: str, name: str) -> None:
    """Refuse a name service.yaml's ServiceName would refuse, or one too long for a DNS label.

    The name is also the compose service, its Traefik router and, by default, its Cloud Map
    name: a DNS label (at most 63 characters, no trailing hyphen). Target group names (at
    most 32) do not limit it: service.yaml names none, so CloudFormation generates them.
    """
    if not SERVICE_NAME.match(name) or not _DNS_LABEL.match(name):
        raise ParamsError(
            f"{where}: name {name!r} is not a service name CloudFormation accepts: lowercase "
            "letters, digits and hyphens, starting with a letter, not ending with a hyphen, "
            "at most 63 characters (service.yaml: ServiceName AllowedPattern)"
        )


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
    _check_user(where, p.user)
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


def _check_user(where: str, user: str) -> None:
    """Require a non-root uid:gid: a bare uid in a task definition runs with gid 0."""
    uid, _, gid = user.partition(":")
    if uid in ("", "root") or (uid.isdigit() and int(uid) == 0):
        raise ParamsError(f"{where}: user must be a non-root user, got {user!r}")
    if not (uid.isdigit() and gid.isdigit()):
        # ECS's `user` overrides the image's USER 10001:10001 whole: "10001" alone means
        # gid 0 (root's group), which can write what group root may write.
        raise ParamsError(
            f'{where}: user must be numeric uid:gid such as "10001:10001" '
            f"(a uid alone runs with gid 0), got {user!r}"
        )
    if int(gid) == 0:
        raise ParamsError(f"{where}: user's gid must not be 0 (root's group), got {user!r}")


def _check_discovery(where: str, p: ServiceParams) -> None:
    """Check the Cloud Map name and the A record TTL."""
    if not _DNS_LABEL.match(p.discovery_name):
        raise ParamsError(f"{where}: discovery_name {p.discovery_name!r} is not a DNS label")
    if not 1 <= p.dns_ttl <= 300:
        # Long TTLs keep clients on stopped tasks' addresses (docs/pitfalls.md #5).
        raise ParamsError(f"{where}: dns_ttl {p.dns_ttl} must be between 1 and 300 seconds")


def check_deployment(where: str, p: ServiceParams) -> None:
    """Check the rolling deployment bounds ECS accepts, and the strategy's own settings.

    Public: bookingapp-local holds a release's command-line overrides to the same rules.
    """
    d = p.deployment
    if not 0 <= d.minimum_healthy_percent <= 100:
        raise ParamsError(f"{where}: deployment.minimum_healthy_percent must be 0..100")
    if not 100 <= d.maximum_percent <= 200:
        raise ParamsError(f"{where}: deployment.maximum_percent must be 100..200")
    _check_strategy(where, p)


def _check_strategy(where: str, p: ServiceParams) -> None:
    """Check the deployment strategy fits the service and its traffic-shifting settings."""
    d = p.deployment
    if d.strategy not in STRATEGIES:
        raise ParamsError(
            f"{where}: deployment.strategy must be one of {', '.join(STRATEGIES)}, "
            f"got {d.strategy!r}"
        )
    if d.shifts_traffic and not p.is_app:
        # These run the old and the new tasks side by side: two Redis servers would each
        # count their own hits, and nothing routes a "test" share to a backing service.
        raise ParamsError(
            f"{where}: deployment.strategy {d.strategy!r} is for apps behind the ALB; "
            f"kind {p.kind!r} stays rolling (two Redis tasks at once would split the counter)"
        )
    check_bake_time_minutes(where, d.bake_time_minutes)
    if d.approval and not d.shifts_traffic:
        raise ParamsError(
            f"{where}: deployment.approval pauses a traffic-shifting deployment after test "
            f"traffic; set deployment.strategy to one of {', '.join(TRAFFIC_SHIFTING)} "
            "or drop approval"
        )
    if d.shifts_traffic and p.alb is not None and p.alb.priority < 2:
        raise ParamsError(
            f"{where}: alb.priority must be at least 2 with {d.strategy}: the test rule "
            "takes the number just below it"
        )
    check_percent(where, "step_percent", d.step_percent, STEP_PERCENT_RANGE)
    check_bake_time_minutes(where, d.step_bake_time_minutes, "step_bake_time_minutes")
    check_percent(where, "canary_percent", d.canary_percent, CANARY_PERCENT_RANGE)
    check_bake_time_minutes(where, d.canary_bake_time_minutes, "canary_bake_time_minutes")
    if d.strategy in ("linear", "canary") and d.bake_minutes() > MAX_DEPLOYMENT_BAKE_MINUTES:
        raise ParamsError(
            f"{where}: a {d.strategy} deployment here holds {d.bake_minutes()} minutes "
            f"(its steps' bake times plus bake_time_minutes); CloudFormation refuses more "
            f"than {MAX_DEPLOYMENT_BAKE_MINUTES} (33 hours)"
        )


def check_bake_time_minutes(where: str, minutes: float, key: str = "bake_time_minutes") -> None:
    """Refuse a bake time ECS would refuse (BakeTimeInMinutes and the steps': 0..1440)."""
    if not 0 <= minutes <= MAX_BAKE_TIME_MINUTES:
        raise ParamsError(f"{where}: deployment.{key} must be 0..{MAX_BAKE_TIME_MINUTES}")


def check_percent(where: str, key: str, percent: float, allowed: tuple[float, float]) -> None:
    """Refuse a step or canary share ECS would refuse: out of range, or finer than 0.1 %."""
    low, high = allowed
    tenths = percent * 10
    if not low <= percent <= high or abs(tenths - round(tenths)) > 1e-6:
        raise ParamsError(
            f"{where}: deployment.{key} must be {low:g}..{high:g} in steps of 0.1, got {percent:g}"
        )


# The [deployment] keys only one strategy reads: in a file naming another they do nothing.
_OWN_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "linear": ("step_percent", "step_bake_time_minutes"),
        "canary": ("canary_percent", "canary_bake_time_minutes"),
    }
)


def _check_unused_settings(where: str, d: DeploymentParams) -> None:
    """Refuse a file that sets another strategy's keys (a value left from a switch, say).

    A key holding ECS's default is let through: it changes nothing either way.
    """
    defaults = DeploymentParams()
    for owner, keys in _OWN_KEYS.items():
        for key in keys:
            if owner != d.strategy and getattr(d, key) != getattr(defaults, key):
                raise ParamsError(
                    f"{where}: deployment.{key} is for strategy {owner!r}, and this file says "
                    f"{d.strategy!r}: drop it, or set deployment.strategy = {owner!r}"
                )


def priority_of_test_rule(p: ServiceParams) -> int:
    """Return the test listener rule's priority: just ahead of the production rule."""
    return p.alb.priority - 1 if p.alb is not None else 0


def _check_alb(where: str, p: ServiceParams, alb: AlbParams) -> None:
    """Check the path rule covers the health check path and the priority is valid."""
    health = p.health_check_path or ""
    if not health.startswith("/"):
        raise ParamsError(f"{where}: health_check_path must start with '/', got {health!r}")
    if not alb.path_pattern.startswith("/") or len(alb.path_pattern) > 128:
        raise ParamsError(f"{where}: alb.path_pattern must start with '/' (at most 128 chars)")
    literal = alb.path_pattern.rstrip("*")
    if literal == alb.path_pattern or not _PATH_LITERAL.match(literal):
        # compose.yaml mirrors the rule as Traefik's PathPrefix(`<prefix>`), and the prefix
        # overlap check below compares prefixes: only a plain prefix and a '*' can be both.
        raise ParamsError(
            f"{where}: alb.path_pattern {alb.path_pattern!r} must be a path prefix then '*' "
            "(such as '/movie*'), the prefix made of letters, digits and _-.$/~\"'@:+&"
        )
    if not alb_path_matches(alb.path_pattern, health):
        # The ALB does not strip prefixes: a health path outside the rule would be checked
        # by the target group yet never routed to this app by the listener
        # (docs/pitfalls.md #1, #2).
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
    if scaling.requests_per_target < 1:
        raise ParamsError(f"{where}: autoscaling.requests_per_target must be at least 1")
    for key in ("scale_out_cooldown", "scale_in_cooldown"):
        if getattr(scaling, key) < 0:
            raise ParamsError(f"{where}: autoscaling.{key} must be 0 or more seconds")


def _check_registry(where: str, p: ServiceParams) -> None:
    """Check the registry credentials name a Secrets Manager secret by ARN or by name."""
    secret = p.repository_credentials
    if secret is not None and not (_SECRET_ARN.match(secret) or _SECRET_NAME.match(secret)):
        raise ParamsError(
            f"{where}: repository_credentials must be a Secrets Manager secret ARN or name, "
            f"got {secret!r}"
        )


def _check_architecture(where: str, p: ServiceParams) -> None:
    """Check the CPU architecture is one Fargate runs."""
    if p.cpu_architecture not in CPU_ARCHITECTURES:
        raise ParamsError(
            f"{where}: cpu_architecture must be one of {', '.join(CPU_ARCHITECTURES)}, "
            f"got {p.cpu_architecture!r}"
        )


def _check_elasticache(where: str, cache: ElastiCacheParams) -> None:
    """Check the node type looks like one and Multi-AZ failover has a replica to fail to."""
    if not cache.node_type.startswith("cache."):
        raise ParamsError(f"{where}: elasticache.node_type {cache.node_type!r} is not cache.*")
    if not 1 <= cache.replicas <= 5:
        # Multi-AZ automatic failover needs a replica; a node group holds at most 5.
        raise ParamsError(f"{where}: elasticache.replicas {cache.replicas} must be 1..5")


def check_together(services: Mapping[str, ServiceParams]) -> None:
    """Check the rules that span services: unique names, priorities, shared ports."""
    _unique(services, "discovery_name", lambda p: p.discovery_name)
    _unique(services, "alb.priority", lambda p: p.alb.priority if p.alb else None)
    _unique(services, "alb.path_pattern", lambda p: p.alb.path_pattern if p.alb else None)
    check_prefixes_apart(services)
    _check_test_rule_priorities(services)
    secrets = {c for p in services.values() if (c := p.repository_credentials) is not None}
    if len(secrets) > 1:
        # The execution role may read exactly one registry secret (platform.yaml).
        raise ParamsError(
            f"services name different repository_credentials {sorted(secrets)}; use one secret"
        )
    with_data = sorted(p.name for p in services.values() if p.data_path is not None)
    if len(with_data) > 1:
        # The platform has one EFS access point, owned by one uid:gid.
        raise ParamsError(f"only one service can have a data_path, got {with_data}")
    managed = [p.name for p in services.values() if p.managed]
    if len(managed) > 1:
        raise ParamsError(f"only one backing service can run on ElastiCache, got {managed}")
    for kind in KINDS:
        ports = {p.container_port for p in services.values() if p.kind == kind}
        if len(ports) > 1:
            # One security group rule per kind opens one port (see platform.yaml).
            raise ParamsError(
                f"all {kind} services must share one container_port, got {sorted(ports)}"
            )


def check_prefixes_apart(services: Mapping[str, ServiceParams]) -> None:
    """Refuse two apps whose path prefixes overlap: one prefix starts the other.

    The ALB's `/home*` and Traefik's PathPrefix(`/home`) both match /homepage, so a
    `/homepage*` app gets only what the rule ahead of it leaves. The file named is the one
    whose rule comes later (the higher alb.priority), whose requests the other takes.
    """
    rules = sorted(
        (p.alb.priority, p.path_prefix, f"{name}.toml")
        for name, p in services.items()
        if p.alb is not None and p.path_prefix is not None
    )
    for index, (_, prefix, where) in enumerate(rules):
        for _, earlier, other in rules[:index]:
            if prefix.startswith(earlier) or earlier.startswith(prefix):
                raise ParamsError(
                    f"{where}: alb.path_pattern '{prefix}*' overlaps '{earlier}*' of {other}: "
                    f"the ALB and Traefik match plain prefixes, so a path such as "
                    f"{max(prefix, earlier, key=len)} matches both; choose a prefix that "
                    "neither starts nor is started by another app's"
                )


def app_names(services: Mapping[str, ServiceParams]) -> list[str]:
    """Return the apps' names in ALB rule order (alb.priority): the nav the apps show."""
    apps = [p for p in services.values() if p.alb is not None]
    return [p.name for p in sorted(apps, key=lambda p: p.alb.priority if p.alb else 0)]


def _check_test_rule_priorities(services: Mapping[str, ServiceParams]) -> None:
    """Refuse a test rule (traffic-shifting apps) whose priority another rule holds.

    Two test rules never collide: production priorities are unique, so are they minus one.
    """
    taken = {p.alb.priority: f"{n}.toml" for n, p in services.items() if p.alb is not None}
    for name, p in sorted(services.items()):
        if not p.deployment.shifts_traffic or p.alb is None:
            continue
        number = priority_of_test_rule(p)
        if number in taken:
            raise ParamsError(
                f"{name}.toml: {p.deployment.strategy} needs listener priority {number} for its "
                f"test rule (alb.priority - 1), but {taken[number]} uses it; leave a gap below "
                f"{p.alb.priority}"
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


def is_placeholder_image(image: str) -> bool:
    """Say whether an image lies in the placeholder namespace the committed files name."""
    name = image
    for host in _DOCKER_HUB_HOSTS:
        name = name.removeprefix(host)
    return name.startswith(f"{PLACEHOLDER_NAMESPACE}/")


def check_images_pullable(services: Mapping[str, ServiceParams]) -> None:
    """Refuse, in one line naming the file, images still in the placeholder namespace.

    A deploy with them creates every stack, then ECS fails to pull and the service stacks
    roll back after many minutes: say so before any AWS call.
    """
    names = [name for name, p in sorted(services.items()) if is_placeholder_image(p.image)]
    if not names:
        return
    files = [f"{name}.toml" for name in names]
    first = services[names[0]]
    others = f" (and {', '.join(files[1:])})" if files[1:] else ""
    raise ParamsError(
        f"{files[0]}: image {first.image} is the repository's placeholder, which no registry "
        f"serves; push your images and set image in infra/services/{files[0]}{others} "
        "(docs/deploy.md, deploy checklist)"
    )


def is_docker_hub_image(image: str) -> bool:
    """Say whether an image is pulled from Docker Hub (a bare name means Docker Hub too)."""
    first = image.split("/", 1)[0]
    on_other_registry = "/" in image and ("." in first or ":" in first or first == "localhost")
    return image.startswith(_DOCKER_HUB_HOSTS) or not on_other_registry


def anonymous_docker_hub_tasks(services: Mapping[str, ServiceParams]) -> int:
    """Return how many tasks a first deploy starts that pull from Docker Hub anonymously.

    All of them leave through the one NAT address, and Docker Hub allows only a handful of
    anonymous pulls per address per hour (docker/docs#22134): a release, a scale-out or a
    breaker retry soon after gets `toomanyrequests`.
    """
    return sum(
        p.desired_count
        for p in services.values()
        if not p.managed and p.repository_credentials is None and is_docker_hub_image(p.image)
    )
