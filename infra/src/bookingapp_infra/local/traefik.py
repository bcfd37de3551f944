"""Traefik's pool, as its API on the dashboard port says: which servers of a service are UP.

The API is the local equivalent of `elbv2 describe-target-health`: a replica is in the pool
when its address is among the service's servers and Traefik's own health check has it UP.
It is reached on the port the project publishes for the dashboard (127.0.0.1 only).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import compose
from bookingapp_infra.local.compose import Replica

TRAEFIK_SERVICE = "traefik"  # the compose service playing the ALB
API_PORT = 8080  # the dashboard/API port inside the container (api.insecure)
UP = "UP"


def api_url(project: str) -> str:
    """Return the base URL of the project's Traefik API, published on this host."""
    found = compose.replicas(project, TRAEFIK_SERVICE)
    if not found:
        raise InputError(f"project {project!r} has no running {TRAEFIK_SERVICE} container")
    return f"http://{compose.published(found[0], API_PORT)}"


def lb_service(replica: Replica) -> str:
    """Return the Traefik service a replica registers with (its traefik.http.services label)."""
    for label in replica.labels:
        parts = label.split(".")
        if label.startswith("traefik.http.services.") and len(parts) > 3:
            return parts[3]
    raise InputError(f"{replica.name} has no traefik.http.services label: it is not behind Traefik")


def server_port(replica: Replica) -> str:
    """Return the port Traefik sends the replica's traffic to."""
    key = f"traefik.http.services.{lb_service(replica)}.loadbalancer.server.port"
    return replica.labels.get(key, "80")


def pool(api: str, service: str, provider: str = "docker") -> dict[str, str]:
    """Return {server URL: status} of a Traefik service; {} while Traefik does not know it."""
    name = f"{service}@{provider}"
    path = urllib.parse.quote(name)
    try:
        with urllib.request.urlopen(f"{api}/api/http/services/{path}", timeout=5) as answer:  # noqa: S310 - the project's own API on loopback
            data = json.load(answer)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return {}
        raise InfraError(f"Traefik's API answered {error.code} for {name}") from None
    except (urllib.error.URLError, OSError) as error:
        raise InfraError(f"Traefik's API at {api} does not answer: {error}") from None
    servers = [s["url"] for s in data.get("loadBalancer", {}).get("servers", [])]
    status = data.get("serverStatus", {})
    # Without a health check Traefik reports no status: every listed server takes traffic.
    return {url: status.get(url, UP) for url in servers}


def server_urls(replica: Replica) -> set[str]:
    """Return the URLs Traefik would list for this replica (one per network address)."""
    port = server_port(replica)
    return {f"http://{address}:{port}" for address in replica.addresses}


def is_up(servers: dict[str, str], replica: Replica) -> bool:
    """Say whether the replica is in the pool and UP."""
    return any(servers.get(url) == UP for url in server_urls(replica))


def is_listed(servers: dict[str, str], replica: Replica) -> bool:
    """Say whether the replica is in the pool at all (UP or DOWN)."""
    return any(url in servers for url in server_urls(replica))


def wait_up(api: str, replicas: Iterable[Replica], timeout: float = 60) -> None:
    """Wait until every replica is UP in its Traefik service's pool."""
    waiting = list(replicas)
    deadline = time.monotonic() + timeout
    while waiting:
        pools: dict[str, dict[str, str]] = {}
        for replica in waiting:
            service = lb_service(replica)
            if service not in pools:
                pools[service] = pool(api, service)
        waiting = [r for r in waiting if not is_up(pools[lb_service(r)], r)]
        if not waiting:
            return
        if time.monotonic() > deadline:
            names = ", ".join(r.name for r in waiting)
            raise InfraError(f"not UP in Traefik's pool within {timeout:.0f} s: {names}")
        time.sleep(0.25)


# One Prometheus sample of Traefik's per-service request counter, labels in any order.
_REQUESTS = re.compile(
    r"^traefik_service_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE
)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def server_errors(api: str, service: str, provider: str = "file") -> int | None:
    """Return how many 5xx answers a Traefik service has passed on so far (its lifetime).

    The local HTTPCode_Target_5XX_Count: Traefik's Prometheus counter on the API port.
    None when the metrics are off (a stack started from an older compose.yaml).
    """
    name = f"{service}@{provider}"
    try:
        with urllib.request.urlopen(f"{api}/metrics", timeout=5) as answer:  # noqa: S310 - the project's own API on loopback
            text = answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise InfraError(f"Traefik's metrics answered {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        raise InfraError(f"Traefik's API at {api} does not answer: {error}") from None
    return count_server_errors(text, name)


def count_server_errors(metrics: str, name: str) -> int:
    """Sum the 5xx request counters of one Traefik service in Prometheus text."""
    total = 0.0
    for sample in _REQUESTS.finditer(metrics):
        labels = dict(_LABEL.findall(sample["labels"]))
        if labels.get("service") == name and labels.get("code", "").startswith("5"):
            total += float(sample["value"])
    return int(total)
