"""Every docker and docker compose call bookingapp-local makes (kamal's one builder per tool).

Replicas are found by the labels compose puts on every container (`com.docker.compose.project`,
`...service`, `...container-number`), so this works on any project started from compose.yaml,
whatever directory or variables it was started with. New replicas are started by compose
itself, with the project's own files (recorded on its containers), so they get the same
network, aliases, limits, secrets and Traefik labels; `compose_command` is the one place that
command line is made, for releases and the autoscaler alike. What new replicas run differently
(their image, their release) goes into a temporary overlay file made by `overlay`, the one
way such a file is named; compose records it on the containers it starts, so the builder
leaves every such file out when it reads the project's files back.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import PROG
from bookingapp_infra.local.wait import STEP_TIMEOUT, poll, wait_until

DEFAULT_PROJECT = "bookingapp"  # compose.yaml's `name:`
PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
# Which release started a replica (ECS: the deployment a task belongs to). Replicas of one
# service with different values mean a release is under way, even of the very same image.
RELEASE = "bookingapp.release"
# The directory every overlay file lives in starts so; the autoscaler before issue 18 wrote
# its own prefix, still recognised so that replicas it started can be released.
OVERLAY_PREFIX = "bookingapp-local-"
_OVERLAY_PREFIXES = (OVERLAY_PREFIX, "bookingapp-autoscale-")
SECRETS_DIR = "/run/secrets/"  # where compose bind-mounts file secrets


@dataclass(frozen=True)
class Replica:
    """One running container of a compose service, as `docker inspect` describes it."""

    id: str
    name: str
    service: str
    number: int
    image: str  # the reference it was started from
    image_id: str
    hostname: str  # what the app reports as its instance id
    health: str | None  # "starting", "healthy", "unhealthy", or None without a health check
    addresses: tuple[str, ...]  # its IP on each network (for matching Traefik's servers)
    labels: Mapping[str, str] = field(repr=False)
    ports: Mapping[str, list[dict[str, str]] | None] = field(repr=False)
    binds: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (host path, mount point)

    @property
    def short(self) -> str:
        """Return the 12-character id docker shows."""
        return self.id[:12]

    @property
    def source_binds(self) -> tuple[tuple[str, str], ...]:
        """Return the bind mounts other than compose's secrets: host files the replica runs."""
        return tuple(b for b in self.binds if not b[1].startswith(SECRETS_DIR))

    def to_json(self) -> dict[str, Any]:
        """Return the replica as JSON data (a release's state file keeps its colours so)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Replica:
        """Rebuild a replica from to_json()'s data."""
        binds = tuple((source, target) for source, target in data.get("binds", ()))
        return cls(**{**data, "addresses": tuple(data["addresses"]), "binds": binds})


def run(args: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI with these arguments; a missing CLI or a hang becomes one line."""
    try:
        # The user's own docker on PATH (engine or Desktop), fixed argument lists, no shell.
        return subprocess.run(  # noqa: S603
            ["docker", *args],  # noqa: S607
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise InputError("no docker CLI on PATH: install Docker (Desktop) first") from None
    except subprocess.TimeoutExpired:
        raise InfraError(f"docker {args[0]} did not finish within {timeout:.0f} s") from None


def docker(*args: str, timeout: float = 120) -> str:
    """Run the docker CLI and return its stdout; a refusal becomes a one-line InfraError."""
    result = run(args, timeout)
    if result.returncode != 0:
        raise InfraError(f"docker {args[0]} failed: {last_line(result.stderr + result.stdout)}")
    return result.stdout


def last_line(output: str) -> str:
    """Return the last line a command wrote (where docker says what went wrong)."""
    return (output.strip().splitlines() or ["no output"])[-1]


# --- what runs ----------------------------------------------------------------------------


def replicas(project: str, service: str | None = None, stopped: bool = False) -> list[Replica]:
    """Return the project's running containers (of one service, if named), by service and number.

    With `stopped`, containers that exist but do not run (exited, restarting) too.
    """
    filters = ["--filter", f"label={PROJECT}={project}"]
    if service:
        filters += ["--filter", f"label={SERVICE}={service}"]
    every = ["--all"] if stopped else []
    ids = docker("ps", *every, "--quiet", "--no-trunc", *filters).split()
    found = [_replica(c) for c in inspect(ids)]
    return sorted(found, key=lambda r: (r.service, r.number))


def inspect(ids: Sequence[str]) -> list[dict[str, Any]]:
    """Return `docker inspect` of those containers that still exist (one may just have gone)."""
    if not ids:
        return []
    return cast(
        "list[dict[str, Any]]", json.loads(run(["inspect", *ids], timeout=60).stdout or "[]")
    )


def _replica(container: dict[str, Any]) -> Replica:
    """Build a Replica from one `docker inspect` document."""
    labels = container["Config"]["Labels"] or {}
    networks = container["NetworkSettings"]["Networks"] or {}
    mounts = container.get("Mounts") or []
    return Replica(
        id=container["Id"],
        name=container["Name"].lstrip("/"),
        service=labels.get(SERVICE, ""),
        number=int(labels.get(NUMBER, "0")),
        image=container["Config"]["Image"],
        image_id=container["Image"],
        hostname=container["Config"]["Hostname"],
        health=(container["State"].get("Health") or {}).get("Status"),
        addresses=tuple(n["IPAddress"] for n in networks.values() if n.get("IPAddress")),
        labels=labels,
        ports=container["NetworkSettings"].get("Ports") or {},
        binds=tuple((m["Source"], m["Destination"]) for m in mounts if m.get("Type") == "bind"),
    )


def require_up(project: str, service: str) -> list[Replica]:
    """Return the service's running replicas, or refuse: the stack must be up first."""
    found = replicas(project, service)
    if not found:
        raise InputError(
            f"project {project!r} has no running {service} containers: start the stack first "
            f"(docker compose -p {project} up -d), or name it with --project"
        )
    return found


def image_id(image: str) -> str:
    """Return the image's id, or refuse when no such image is on this machine."""
    result = run(["image", "inspect", "--format", "{{.Id}}", image], timeout=60)
    if result.returncode != 0:
        raise InputError(f"image {image!r} is not on this machine: build or pull it first")
    return result.stdout.strip()


def published(replica: Replica, port: int) -> str:
    """Return "host:port" where the container port is published, as reachable from this host."""
    bindings = replica.ports.get(f"{port}/tcp") or []
    if not bindings:
        raise InputError(f"{replica.name} does not publish port {port}")
    host = bindings[0]["HostIp"]
    # 0.0.0.0 / :: mean every interface; loopback is one of them and works on Docker Desktop.
    return f"{'127.0.0.1' if host in ('', '0.0.0.0', '::') else host}:{bindings[0]['HostPort']}"  # noqa: S104 - compared, not bound


# --- the compose command line ---------------------------------------------------------------


def is_overlay(path: str) -> bool:
    """Say whether a compose file is one of bookingapp-local's temporary overlays."""
    return Path(path).parent.name.startswith(_OVERLAY_PREFIXES)


def project_files(like: Replica) -> list[str]:
    """Return the compose files the replica's project was started from, overlays left out.

    Compose records every -f file on the containers it starts, a release's or the
    autoscaler's overlay included; that overlay was deleted once compose had read it, and
    must never be applied again anyway (it pins another moment's image and release).
    """
    recorded = [f for f in like.labels.get(CONFIG_FILES, "").split(",") if f]
    files = [f for f in recorded if not is_overlay(f)]
    if not like.labels.get(WORKING_DIR) or not like.labels.get(PROJECT) or not files:
        raise InputError(f"{like.name} was not started by docker compose")
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        raise InputError(
            f"{like.name} was started from {missing[0]}, which is not on this machine: run "
            f"{PROG} where the stack was started"
        )
    return files


def compose_command(like: Replica, *args: str, overlay: Path | None = None) -> list[str]:
    """Return `docker compose ARGS` for the replica's project, from the files it was started by."""
    files = project_files(like)  # refuses a container compose did not start
    command = ["docker", "compose", "--project-directory", like.labels[WORKING_DIR]]
    command += ["-p", like.labels[PROJECT]]
    for file in (*files, *([str(overlay)] if overlay else [])):
        command += ["-f", file]
    return [*command, *args]


@contextmanager
def overlay(service: str, settings: Mapping[str, Any]) -> Iterator[Path]:
    """Write a compose overlay giving the service these settings; remove it afterwards."""
    with tempfile.TemporaryDirectory(prefix=OVERLAY_PREFIX) as scratch:
        path = Path(scratch) / "overlay.json"  # JSON is YAML: compose reads it as an overlay
        path.write_text(json.dumps({"services": {service: settings}}), encoding="utf-8")
        yield path


def settings_for_new(
    like: Replica, image: str | None = None, release: str | None = None
) -> dict[str, Any]:
    """Return the compose settings for new replicas: `like`'s image and release unless given."""
    # As ECS starts tasks from the service's task definition: the image the running ones run,
    # whatever TAG this shell has or the tag points to now, unless a release names another.
    return {
        "image": image or like.image,
        "labels": {RELEASE: like.labels.get(RELEASE, "") if release is None else release},
    }


# --- scaling ----------------------------------------------------------------------------------


class ScaleJob:
    """`docker compose up --no-recreate --scale S=N` running in the background.

    Compose runs in its own session, so Ctrl-C on bookingapp-local cannot interrupt a
    scale-in halfway through a drain; its output goes to a file (a pipe nobody reads while it
    runs could fill and block it). The autoscaler follows it while it samples; scale() waits.
    """

    def __init__(
        self, like: Replica, count: int, image: str | None = None, release: str | None = None
    ) -> None:
        self.service, self.count = like.service, count
        self._files = ExitStack()
        extra = self._files.enter_context(
            overlay(like.service, settings_for_new(like, image, release))
        )
        # --no-recreate: running replicas are left alone; --no-deps: nothing else is touched.
        command = compose_command(
            like, "up", "--detach", "--no-recreate", "--no-deps", "--no-build", "--pull",
            "never", "--scale", f"{like.service}={count}", like.service, overlay=extra,
        )  # fmt: skip
        log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.log = self._files.enter_context(log)
        try:
            self.process = subprocess.Popen(  # noqa: S603 - an argument list, no shell
                command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except FileNotFoundError:
            self._files.close()
            raise InputError("no docker CLI on PATH: install Docker (Desktop) first") from None

    def poll(self) -> str | None:
        """Return None while it runs, "" when it succeeded, else the last line it wrote."""
        code = self.process.poll()
        if code is None:
            return None
        if code == 0:
            return ""
        self.log.seek(0)
        return last_line(self.log.read() or f"exit code {code}")

    def failure(self, outcome: str) -> str:
        """Say what failed, naming the command: a line for the user."""
        return f"docker compose up --scale {self.service}={self.count} failed: {outcome}"

    def close(self) -> None:
        """Forget its files (compose has read them by now)."""
        self._files.close()


def scale(
    project: str,
    service: str,
    count: int,
    image: str | None = None,
    release: str | None = None,
    timeout: float = STEP_TIMEOUT,
) -> list[Replica]:
    """Run `count` replicas of the service, adding new ones only; return the ones it added.

    Existing replicas are left as they are; new ones run `image` and belong to `release`,
    or run the image and belong to the release the existing ones do.
    """
    current = require_up(project, service)
    before = {r.id for r in current}
    job = ScaleJob(current[0], count, image, release)
    try:
        if poll(lambda: job.poll() is not None, timeout, every=0.25) is None:
            job.process.kill()
            raise InfraError(f"docker compose up did not finish within {timeout:.0f} s")
        outcome = job.poll()
    finally:
        job.close()
    if outcome:
        raise InfraError(job.failure(outcome))
    return [r for r in replicas(project, service) if r.id not in before]


def stop(leaving: Iterable[Replica]) -> None:
    """Stop (SIGTERM, then the container's own stop timeout) and remove replicas, in parallel."""
    ids = [c["Id"] for c in inspect([r.id for r in leaving])]  # the ones still there
    if ids:
        docker("stop", *ids, timeout=120)
        docker("rm", *ids)


def wait_healthy(ids: Iterable[str], timeout: float = STEP_TIMEOUT) -> list[Replica]:
    """Wait until every named replica runs and reports healthy; fail naming the ones that don't."""
    wanted = list(ids)
    if not wanted:
        return []
    seen: list[Replica] = []

    def healthy() -> list[Replica] | None:
        seen[:] = [_replica(c) for c in inspect(wanted) if c["State"].get("Running")]
        ready = len(seen) == len(wanted) and all(r.health in ("healthy", None) for r in seen)
        return list(seen) if ready else None

    def failure() -> str:
        states = {r.name: r.health for r in seen}
        return f"not healthy within {timeout:.0f} s: {states or 'exited'}"

    return wait_until(healthy, timeout, failure)
