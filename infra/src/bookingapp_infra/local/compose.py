"""A running compose project through the docker CLI: its replicas; starting and stopping them.

Replicas are found by the labels compose puts on every container
(`com.docker.compose.project`, `...service`, `...container-number`), so this works on any
project started from compose.yaml, whatever directory or variables it was started with.
New replicas are started by compose itself, with the project's own files (recorded on its
containers), so they get the same network, aliases, limits, secrets and Traefik labels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from bookingapp_infra.errors import InfraError, InputError

DEFAULT_PROJECT = "bookingapp"  # compose.yaml's `name:`
PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
OVERLAY_PREFIX = "bookingapp-local-"  # scale()'s temporary image overlay
# Which release started a replica (ECS: the deployment a task belongs to). Replicas of one
# service with different values mean a release is under way, even of the very same image.
RELEASE = "bookingapp.release"


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

    @property
    def short(self) -> str:
        """Return the 12-character id docker shows."""
        return self.id[:12]


class Identified(Protocol):
    """A container known by its id: this module's Replica, or blue/green's."""

    @property
    def id(self) -> str:
        """Return the container's full id."""
        ...


def add_project_option(parser: argparse.ArgumentParser) -> None:
    """Give a verb the --project option every local verb takes."""
    parser.add_argument(
        "--project",
        default=os.environ.get("COMPOSE_PROJECT_NAME", DEFAULT_PROJECT),
        help="compose project name (default: %(default)s, or $COMPOSE_PROJECT_NAME)",
    )


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
        lines = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
        raise InfraError(f"docker {' '.join(args[:2])} failed: {lines[-1]}")
    return result.stdout


def replicas(project: str, service: str | None = None) -> list[Replica]:
    """Return the project's running containers (of one service, if named), by service and number."""
    filters = ["--filter", f"label={PROJECT}={project}"]
    if service:
        filters += ["--filter", f"label={SERVICE}={service}"]
    ids = docker("ps", "--quiet", "--no-trunc", *filters).split()
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


def scale(
    project: str,
    service: str,
    count: int,
    image: str | None = None,
    release: str | None = None,
) -> list[Replica]:
    """Run `count` replicas of the service, adding new ones only; return the ones it added.

    Existing replicas are left as they are (`--no-recreate`); new ones run `image` and
    belong to `release`, or run the image and belong to the release the existing ones do.
    Compose itself starts them with the project's own files.
    """
    current = require_up(project, service)
    before = {r.id for r in current}
    override = {"services": {service: settings_for_new(current[0], image, release)}}
    with tempfile.TemporaryDirectory(prefix=OVERLAY_PREFIX) as scratch:
        extra = Path(scratch) / "image.json"  # JSON is YAML: compose reads it as an overlay
        extra.write_text(json.dumps(override))
        compose(
            current[0], extra,
            "up", "--detach", "--no-deps", "--no-recreate", "--no-build", "--pull", "never",
            "--scale", f"{service}={count}", service,
        )  # fmt: skip
    return [r for r in replicas(project, service) if r.id not in before]


def settings_for_new(
    like: Replica, image: str | None = None, release: str | None = None
) -> dict[str, Any]:
    """Return the compose settings for new replicas: `like`'s image and release unless given."""
    return {
        "image": image or like.image,
        "labels": {RELEASE: like.labels.get(RELEASE, "") if release is None else release},
    }


def compose(replica: Replica, overlay: Path | None, *args: str, timeout: float = 300) -> str:
    """Run `docker compose` on the replica's project, with the files it was started from."""
    directory = replica.labels.get(WORKING_DIR)
    files = [f for f in replica.labels.get(CONFIG_FILES, "").split(",") if f]
    # A replica started by scale() records its image overlay too, which is gone by now.
    files = [f for f in files if not (OVERLAY_PREFIX in f and not Path(f).exists())]
    if not directory or not files:
        raise InputError(f"{replica.name} was not started by docker compose")
    options = ["--project-directory", directory, "-p", replica.labels[PROJECT]]
    for file in (*files, *([str(overlay)] if overlay else [])):
        options += ["-f", file]
    return docker("compose", *options, *args, timeout=timeout)


def stop(replicas_to_stop: Iterable[Identified]) -> None:
    """Stop (SIGTERM, then the container's own stop timeout) and remove replicas, in parallel."""
    ids = [r.id for r in replicas_to_stop]
    if ids:
        docker("stop", *ids, timeout=120)
        docker("rm", *ids)


def wait_healthy(project: str, ids: Iterable[str], timeout: float = 120) -> list[Replica]:
    """Wait until every named replica reports healthy; fail naming the ones that did not."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in replicas(project) if r.id in wanted]
        if len(found) == len(wanted) and all(r.health in ("healthy", None) for r in found):
            return found
        if time.monotonic() > deadline:
            states = {r.name: r.health for r in found}
            raise InfraError(f"not healthy within {timeout:.0f} s: {states or 'exited'}")
        time.sleep(0.5)
