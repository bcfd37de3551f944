"""Traefik, the local ALB: its API client, and what a service's Docker labels tell it.

`Traefik` is the one client of the API on the dashboard port (published on 127.0.0.1 only):
a service's pool (the local `elbv2 describe-target-health`: a replica is in it when its
address is among the servers and Traefik's health check has it UP), routers and weighted
services (a release's listener rules), and the per-service request counter (the local
HTTPCode_Target_5XX_Count). Every request goes through `Traefik.get`. Beside it: the router,
port and health check a replica's labels give Traefik, and where the file provider reads
the rules a traffic-shifting release writes.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import PROG, docker
from bookingapp_infra.local.docker import Replica
from bookingapp_infra.local.wait import STEP_TIMEOUT, wait_until

TRAEFIK_SERVICE = "traefik"  # the compose service playing the ALB
API_PORT = 8080  # the dashboard/API port inside the container (api.insecure)
RULES_MOUNT = "/etc/traefik/dynamic"  # where compose.yaml mounts the rules directory
UP = "UP"

# One Prometheus sample of Traefik's per-service request counter, labels in any order.
_REQUESTS = re.compile(
    r"^traefik_service_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE
)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


class Traefik:
    """The API of one project's Traefik: pools, routers, weights and request counts."""

    def __init__(self, url: str) -> None:
        self.url = url

    @classmethod
    def of(cls, project: str) -> Traefik:
        """Return the client for the project's Traefik, at the port it publishes on this host."""
        return cls(f"http://{docker.published(_container(project), API_PORT)}")

    def get(self, path: str, what: str | None = None) -> str | None:
        """GET one path of the API; None when Traefik does not know it (404)."""
        try:
            with urllib.request.urlopen(f"{self.url}/{path}", timeout=5) as answer:  # noqa: S310 - the project's own API on loopback
                return cast("str", answer.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise InfraError(f"Traefik's API answered {error.code} for {what or path}") from None
        except (urllib.error.URLError, OSError) as error:
            raise InfraError(f"Traefik's API at {self.url} does not answer: {error}") from None

    def http(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return one HTTP object (kind "routers" or "services", name with @provider) or None."""
        text = self.get(f"api/http/{kind}/{urllib.parse.quote(name)}", what=name)
        return None if text is None else cast("dict[str, Any]", json.loads(text))

    def pool(self, service: str, provider: str = "docker") -> dict[str, str]:
        """Return {server URL: status} of a Traefik service; {} while Traefik does not know it."""
        data = self.http("services", f"{service}@{provider}") or {}
        servers = [s["url"] for s in data.get("loadBalancer", {}).get("servers", [])]
        status = data.get("serverStatus", {})
        # Without a health check Traefik reports no status: every listed server takes traffic.
        return {url: status.get(url, UP) for url in servers}

    def router_enabled(self, router: str, provider: str = "file") -> bool:
        """Say whether Traefik has this router and routes by it."""
        data = self.http("routers", f"{router}@{provider}")
        return bool(data and data.get("status") == "enabled")

    def weights(self, service: str, provider: str = "file") -> dict[str, int]:
        """Return {child service: weight} of a weighted service ({} while Traefik lacks it)."""
        data = self.http("services", f"{service}@{provider}") or {}
        children = data.get("weighted", {}).get("services", [])
        return {c["name"].split("@")[0]: c["weight"] for c in children}

    def server_errors(self, service: str, provider: str = "file") -> int | None:
        """Return how many 5xx answers a Traefik service has passed on so far (its lifetime).

        None when the metrics are off (a stack started from an older compose.yaml).
        """
        text = self.get("metrics")
        return None if text is None else count_server_errors(text, f"{service}@{provider}")

    def wait_up(self, replicas: Iterable[Replica], timeout: float = STEP_TIMEOUT) -> None:
        """Wait until every replica is UP in its Traefik service's pool."""
        waiting = list(replicas)

        def all_up() -> bool:
            pools = {s: self.pool(s) for s in {lb_service(r) for r in waiting}}
            waiting[:] = [r for r in waiting if not is_up(pools[lb_service(r)], r)]
            return not waiting

        wait_until(
            all_up,
            timeout,
            lambda: (
                f"not UP in Traefik's pool within {timeout:.0f} s: "
                + ", ".join(r.name for r in waiting)
            ),
            every=0.25,
        )


def _container(project: str) -> Replica:
    """Return the project's running Traefik container, or refuse: the stack is not up."""
    found = docker.replicas(project, TRAEFIK_SERVICE)
    if not found:
        raise InputError(
            f"project {project!r} has no running {TRAEFIK_SERVICE} container: start the stack "
            f"first (docker compose -p {project} up -d), or name it with --project"
        )
    return found[0]


def rules_dir(project: str) -> Path:
    """Return the directory on this machine that the project's Traefik reads rules from."""
    traefik = _container(project)
    mounts = docker.inspect([traefik.id])[0].get("Mounts", [])
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
        f"run {PROG} where the stack was started"
    )


# --- what a replica's labels tell Traefik ------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    """What the service's Docker router says: rule, priority and entrypoints."""

    rule: str
    priority: int
    entrypoints: tuple[str, ...]


@dataclass(frozen=True)
class HealthCheck:
    """The target group health check, copied from the service's Docker labels."""

    path: str
    interval: str = "5s"
    timeout: str = "2s"


def lb_service(replica: Replica) -> str:
    """Return the Traefik service a replica registers with (its traefik.http.services label)."""
    for label in replica.labels:
        parts = label.split(".")
        if label.startswith("traefik.http.services.") and len(parts) > 3:
            return parts[3]
    raise InputError(f"{replica.name} has no traefik.http.services label: it is not behind Traefik")


def behind_traefik(replica: Replica) -> bool:
    """Say whether the replica registers with a Traefik service at all."""
    return any(k.startswith("traefik.http.services.") for k in replica.labels)


def server_urls(replica: Replica) -> set[str]:
    """Return the URLs Traefik would list for this replica (one per network address)."""
    key = f"traefik.http.services.{lb_service(replica)}.loadbalancer.server.port"
    port = replica.labels.get(key, "80")
    return {f"http://{address}:{port}" for address in replica.addresses}


def server_url(replica: Replica) -> str:
    """Return the one URL a rules file lists the replica under."""
    urls = sorted(server_urls(replica))
    if not urls:
        raise InfraError(f"{replica.name} has no network address")
    return urls[0]


def is_up(servers: Mapping[str, str], replica: Replica) -> bool:
    """Say whether the replica is in the pool and UP."""
    return any(servers.get(url) == UP for url in server_urls(replica))


def is_listed(servers: Mapping[str, str], replica: Replica) -> bool:
    """Say whether the replica is in the pool at all (UP or DOWN)."""
    return any(url in servers for url in server_urls(replica))


def listener(replica: Replica) -> tuple[Listener, HealthCheck]:
    """Read the service's router and target group health check from a replica's labels."""
    labels = replica.labels
    pattern = re.compile(r"traefik\.http\.routers\.([^.]+)\.rule")
    routers = sorted({m.group(1) for key in labels if (m := pattern.fullmatch(key))})
    if labels.get("traefik.enable") != "true" or not routers:
        raise InputError(f"{replica.service} has no Traefik router: it is not behind the ALB")
    router = f"traefik.http.routers.{routers[0]}"
    check = f"traefik.http.services.{lb_service(replica)}.loadbalancer.healthcheck"
    rule = labels[f"{router}.rule"]
    return (
        Listener(
            rule=rule,
            priority=int(labels.get(f"{router}.priority", len(rule))),  # Traefik's default
            entrypoints=tuple(labels.get(f"{router}.entrypoints", "web").split(",")),
        ),
        HealthCheck(
            path=labels.get(f"{check}.path", "/"),
            interval=labels.get(f"{check}.interval", "5s"),
            timeout=labels.get(f"{check}.timeout", "2s"),
        ),
    )


def count_server_errors(metrics: str, name: str) -> int:
    """Sum the 5xx request counters of one Traefik service in Prometheus text."""
    total = 0.0
    for sample in _REQUESTS.finditer(metrics):
        labels = dict(_LABEL.findall(sample["labels"]))
        if labels.get("service") == name and labels.get("code", "").startswith("5"):
            total += float(sample["value"])
    return int(total)
