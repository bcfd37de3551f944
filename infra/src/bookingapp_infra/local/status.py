"""`bookingapp-local status`: each service's replicas, their image and health, and Traefik's view.

The local `bookingapp-infra status`: what runs, and whether the load balancer sends it traffic.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import compose, traefik
from bookingapp_infra.local.compose import Replica


def status(project: str, say: Callable[[str], None] = print) -> None:
    """Print one line per replica: service, name, image, Docker health, Traefik pool status."""
    running = compose.replicas(project)
    if not running:
        raise InputError(f"project {project!r} is not up: nothing runs under that name")
    try:
        api = traefik.api_url(project)
    except InfraError as error:
        api = None
        say(f"(no pool status: {error})")
    pools: dict[str, dict[str, str]] = {}
    for r in running:
        pool = pool_status(api, r, pools) if api else "-"
        say(f"{r.service:<8} {r.name:<32} {r.image:<48} {r.health or '-':<10} {pool}")


def pool_status(api: str, replica: Replica, pools: dict[str, dict[str, str]]) -> str:
    """Return UP, DOWN, "not in pool", or "-" for a replica not behind Traefik."""
    if not any(k.startswith("traefik.http.services.") for k in replica.labels):
        return "-"
    service = traefik.lb_service(replica)
    if service not in pools:
        pools[service] = traefik.pool(api, service)
    if traefik.is_up(pools[service], replica):
        return "UP"
    return "DOWN" if traefik.is_listed(pools[service], replica) else "not in pool"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `status` verb."""
    verb = subparsers.add_parser("status", help="show replicas, images, health and Traefik's pool")
    compose.add_project_option(verb)
    verb.set_defaults(handler=lambda args: status(args.project))
