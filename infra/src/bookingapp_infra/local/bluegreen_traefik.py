"""What the local blue/green release reads from Traefik: its rules directory, routers, labels.

Replicas, compose and the pool come from the shared `compose` and `traefik` modules; this
adds what only the blue/green release needs: where the file provider's directory is on this
machine (from the Traefik container's mount, so it works for any project and on Docker
Desktop), the routers and weighted services the release wrote as Traefik's API shows them,
and the router and health check the service's Docker labels give Traefik.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import compose, traefik
from bookingapp_infra.local.bluegreen_rules import HealthCheck, Listener
from bookingapp_infra.local.bluegreen_state import Replica

RULES_MOUNT = "/etc/traefik/dynamic"  # where compose.yaml mounts the rules directory in Traefik


def rules_dir(project: str) -> Path:
    """Return the directory on this machine that the project's Traefik reads rules from."""
    found = compose.replicas(project, traefik.TRAEFIK_SERVICE)
    if not found:
        raise InputError(
            f"the stack is not up: project {project!r} has no running traefik "
            f"(docker compose -p {project} up -d), or name it with --project"
        )
    mounts = compose.inspect([found[0].id])[0].get("Mounts", [])
    sources = [m["Source"] for m in mounts if m.get("Destination") == RULES_MOUNT]
    if not sources:
        raise InputError(
            f"traefik in {project!r} reads no rules directory at {RULES_MOUNT}: "
            "restart the stack from a compose.yaml with the file provider"
        )
    # Docker Desktop may report a host path behind its VM's /host_mnt prefix.
    for candidate in (sources[0], sources[0].removeprefix("/host_mnt")):
        if Path(candidate).is_dir():
            return Path(candidate)
    raise InputError(
        f"traefik's rules directory {sources[0]} is not a directory on this machine: "
        "run bookingapp-local where the stack was started"
    )


def get(api: str, path: str) -> dict[str, Any] | None:
    """GET one object from Traefik's API; None when Traefik does not know it (404)."""
    url = f"{api}/api/http/{urllib.parse.quote(path)}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - the project's own API on loopback
            return cast("dict[str, Any]", json.load(answer))
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise InfraError(f"Traefik's API answered {error.code} for {path}") from None
    except (urllib.error.URLError, OSError) as error:
        raise InfraError(f"Traefik's API at {api} does not answer: {error}") from None


@dataclass(frozen=True)
class ServiceLabels:
    """What the service's Docker labels tell Traefik: its router, port and health check."""

    listener: Listener
    health: HealthCheck


def read_labels(replica: compose.Replica) -> ServiceLabels:
    """Read the service's router and target group health check from a replica's labels."""
    labels: Mapping[str, str] = replica.labels
    pattern = re.compile(r"traefik\.http\.routers\.([^.]+)\.rule")
    routers = sorted({m.group(1) for key in labels if (m := pattern.fullmatch(key))})
    if labels.get("traefik.enable") != "true" or not routers:
        raise InputError(f"{replica.service} has no Traefik router: it is not behind the ALB")
    router = f"traefik.http.routers.{routers[0]}"
    lb = f"traefik.http.services.{traefik.lb_service(replica)}.loadbalancer.healthcheck"
    rule = labels[f"{router}.rule"]
    return ServiceLabels(
        listener=Listener(
            rule=rule,
            priority=int(labels.get(f"{router}.priority", len(rule))),  # Traefik's default
            entrypoints=tuple(labels.get(f"{router}.entrypoints", "web").split(",")),
        ),
        health=HealthCheck(
            path=labels.get(f"{lb}.path", "/"),
            interval=labels.get(f"{lb}.interval", "5s"),
            timeout=labels.get(f"{lb}.timeout", "2s"),
        ),
    )


def target(replica: compose.Replica) -> Replica:
    """Describe a replica as the release records it: id, name, and its URL for Traefik."""
    urls = sorted(traefik.server_urls(replica))
    if not urls:
        raise InfraError(f"{replica.name} has no network address")
    return Replica(id=replica.id, name=replica.name, url=urls[0])


def wait_for(what: str, check: Callable[[], bool], timeout: float, poll: float = 0.25) -> None:
    """Poll check() until it is true; fail naming what did not happen in time."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise InfraError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(poll)
