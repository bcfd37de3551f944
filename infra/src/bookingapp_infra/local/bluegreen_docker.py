"""What the local blue/green release asks of Docker, Compose and Traefik's API.

The stack is found from what is running, not from files: the compose project's containers
carry their project, config files and working directory as labels, Traefik's container says
where its dynamic-rules directory and dashboard port are. So the release works on whatever
`docker compose up` started (any project name, HTTP_PORT, DASHBOARD_PORT), on Linux and on
Docker Desktop alike: it talks to the engine through the CLI and to Traefik through the
dashboard port published on 127.0.0.1, never to container addresses from the host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bookingapp_infra.local.bluegreen_rules import HealthCheck, Listener
from bookingapp_infra.local.bluegreen_state import Replica

RULES_MOUNT = "/etc/traefik/dynamic"  # where compose.yaml mounts the rules directory in Traefik
SECRET_MOUNT = "/run/secrets/redis_password"  # noqa: S105 - a mount point, not a password
DOCKER_TIMEOUT = 120.0


class LocalError(Exception):
    """A failure the CLI reports as one line; exit_code says whose fault it is."""

    exit_code = 1


class RefusedError(LocalError):
    """The release cannot start or continue as asked (stack down, no image, busy): exit 2."""

    exit_code = 2


def docker(*args: str, timeout: float = DOCKER_TIMEOUT, env: dict | None = None) -> str:
    """Run the docker CLI and return its stdout; a failure becomes a LocalError."""
    try:
        done = subprocess.run(  # noqa: S603 - an argument list, no shell
            ["docker", *args],  # noqa: S607 - docker is found on PATH on purpose
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except FileNotFoundError as err:
        raise RefusedError("no docker CLI on PATH") from err
    except subprocess.TimeoutExpired as err:
        raise LocalError(f"docker {args[0]} did not finish within {timeout:.0f} s") from err
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise LocalError(f"docker {' '.join(args[:2])}: {detail[-1] if detail else 'failed'}")
    return done.stdout


def inspect(ids: list[str]) -> list[dict]:
    """Return `docker inspect` of the given containers (none for an empty list)."""
    return json.loads(docker("inspect", *ids)) if ids else []


def existing(ids: list[str]) -> list[str]:
    """Return those of the container ids that still exist (running or not)."""
    if not ids:
        return []
    found = docker("ps", "--all", "--quiet", "--no-trunc", *(f"--filter=id={i}" for i in ids))
    return [i for i in ids if i in found.split()]


def image_exists(image: str) -> bool:
    """Say whether the engine has the image locally (nothing is pulled)."""
    try:
        docker("image", "inspect", "--format", "{{.Id}}", image)
    except LocalError:
        return False
    return True


def running(project: str, service: str) -> list[dict]:
    """Return the project's running containers of one compose service, inspected."""
    ids = docker(
        "ps",
        "--quiet",
        "--no-trunc",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--filter",
        f"label=com.docker.compose.service={service}",
    ).split()
    return inspect(ids)


def health(container: dict) -> str:
    """Return the container's health status ("healthy", "starting", ...) or its state."""
    state = container["State"]
    return state.get("Health", {}).get("Status") or state.get("Status", "unknown")


@dataclass(frozen=True)
class Traefik:
    """The local ALB: its rules directory on this machine and its API on 127.0.0.1."""

    container: str
    network_names: tuple[str, ...]
    rules_dir: Path
    api: str

    def get(self, path: str) -> dict | None:
        """GET an API path and return its JSON, or None when Traefik says 404."""
        try:
            with urllib.request.urlopen(self.api + path, timeout=5) as response:  # noqa: S310 - loopback URL built here
                return json.load(response)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise LocalError(f"Traefik API {path}: HTTP {err.code}") from err
        except (urllib.error.URLError, OSError) as err:
            raise LocalError(f"Traefik API at {self.api} does not answer: {err}") from err


def find_traefik(project: str) -> Traefik:
    """Find the project's running Traefik, its rules directory and its published API."""
    found = running(project, "traefik")
    if not found:
        raise RefusedError(
            f"the stack is not up: no running traefik in compose project {project!r} "
            "(start it with `docker compose up -d`, or name the project with --project)"
        )
    box = found[0]
    mounts = [m for m in box.get("Mounts", []) if m.get("Destination") == RULES_MOUNT]
    if not mounts:
        raise RefusedError(
            f"traefik in {project!r} has no rules directory at {RULES_MOUNT}: "
            "start the stack from this checkout's compose.yaml (file provider enabled)"
        )
    rules_dir = Path(mounts[0]["Source"])
    if not rules_dir.is_dir():
        raise RefusedError(f"traefik's rules directory {rules_dir} is not a directory here")
    published = (box["NetworkSettings"].get("Ports") or {}).get("8080/tcp") or []
    if not published:
        raise RefusedError("traefik's API (dashboard port 8080) is not published on this machine")
    api = f"http://127.0.0.1:{published[0]['HostPort']}"
    networks = tuple(box["NetworkSettings"]["Networks"])
    return Traefik(container=box["Id"], network_names=networks, rules_dir=rules_dir, api=api)


@dataclass(frozen=True)
class ServiceLabels:
    """What the service's Docker labels tell Traefik: its router, port and health check."""

    listener: Listener
    health: HealthCheck
    port: int


def read_labels(service: str, labels: dict[str, str]) -> ServiceLabels:
    """Read the service's Traefik router and target group settings from its labels."""
    routers = sorted(
        {
            m.group(1)
            for k in labels
            if (m := re.fullmatch(r"traefik\.http\.routers\.([^.]+)\.rule", k))
        }
    )
    if labels.get("traefik.enable") != "true" or not routers:
        raise RefusedError(f"{service} is not behind Traefik (no traefik.enable / router labels)")
    router = f"traefik.http.routers.{routers[0]}"
    lb = f"traefik.http.services.{service}.loadbalancer"
    listener = Listener(
        rule=labels[f"{router}.rule"],
        priority=int(labels.get(f"{router}.priority", len(labels[f"{router}.rule"]))),
        entrypoints=tuple(labels.get(f"{router}.entrypoints", "web").split(",")),
    )
    check = HealthCheck(
        path=labels.get(f"{lb}.healthcheck.path", "/"),
        interval=labels.get(f"{lb}.healthcheck.interval", "5s"),
        timeout=labels.get(f"{lb}.healthcheck.timeout", "2s"),
    )
    return ServiceLabels(
        listener=listener, health=check, port=int(labels.get(f"{lb}.server.port", "80"))
    )


def replica(container: dict, network_names: tuple[str, ...], port: int) -> Replica:
    """Describe a container by its address on the network it shares with Traefik."""
    networks = container["NetworkSettings"]["Networks"]
    shared = [name for name in networks if name in network_names]
    if not shared:
        raise LocalError(f"{container['Name'].lstrip('/')} shares no network with traefik")
    address = networks[shared[0]]["IPAddress"]
    return Replica(
        id=container["Id"], name=container["Name"].lstrip("/"), url=f"http://{address}:{port}"
    )


def compose_command(container: dict, override: Path) -> tuple[list[str], dict[str, str]]:
    """Return the `docker compose` words that reach the container's project, plus overrides.

    The words come from the labels compose put on the container, so green replicas are made
    from the same files the stack was started with, with the image override on top.
    """
    labels = container["Config"]["Labels"]
    words = ["compose", "--project-name", labels["com.docker.compose.project"]]
    workdir = labels.get("com.docker.compose.project.working_dir")
    if workdir:
        words += ["--project-directory", workdir]
    for path in filter(None, labels.get("com.docker.compose.project.config_files", "").split(",")):
        words += ["--file", path]
    words += ["--file", str(override)]
    env = dict(os.environ)
    # Green must read the same Redis password as blue, whatever this shell's environment says.
    for mount in container.get("Mounts", []):
        if mount.get("Destination") == SECRET_MOUNT and mount.get("Source"):
            env["REDIS_SECRET_FILE"] = mount["Source"]
    return words, env


def wait_for(what: str, check: Callable[[], bool], timeout: float, poll: float = 0.5) -> None:
    """Poll check() until it is true; raise LocalError naming what did not happen in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll)
    raise LocalError(f"{what} did not happen within {timeout:.0f} s")
