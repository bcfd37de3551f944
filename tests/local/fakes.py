"""Replicas as `docker inspect` would describe them, for the tests that run no Docker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bookingapp_infra.local import docker
from bookingapp_infra.local.docker import Replica


def traefik_labels(service: str, port: int = 5000) -> dict[str, str]:
    """Return the Traefik labels compose.yaml gives an app service."""
    return {
        "traefik.enable": "true",
        f"traefik.http.routers.{service}.rule": f"PathPrefix(`/{service}`)",
        f"traefik.http.services.{service}.loadbalancer.server.port": str(port),
    }


def compose_labels(project: str = "demo", files: str = "/src/compose.yaml") -> dict[str, str]:
    """Return the labels compose puts on a container it started from these files."""
    return {
        docker.PROJECT: project,
        docker.CONFIG_FILES: files,
        docker.WORKING_DIR: "/src",
    }


def replica(
    service: str = "home",
    number: int = 1,
    *,
    image_id: str = "sha256:a",
    labels: Mapping[str, str] | None = None,
    address: str | None = None,
    ports: Mapping[str, list[dict[str, str]] | None] | None = None,
    binds: tuple[tuple[str, str], ...] = (),
    health: str | None = "healthy",
) -> Replica:
    """Return a running replica of a service, as docker.replicas() describes one."""
    return Replica(
        id=f"{service}-{number}".ljust(64, "0"),
        name=f"p-{service}-{number}",
        service=service,
        number=number,
        image=f"bookingapp/bookingapp-{service}:v7",
        image_id=image_id,
        hostname=f"h{number}",
        health=health,
        addresses=(address or f"10.0.0.{number}",),
        labels=dict(labels or {}),
        ports=dict(ports or {}),
        binds=binds,
    )


def container_state(
    health: str | None, failing_streak: int = 0, running: bool = True
) -> dict[str, Any]:
    """Return a container's State as `docker inspect` gives it, with or without a health check."""
    state: dict[str, Any] = {"Running": running, "Status": "running" if running else "exited"}
    if health is not None:
        state["Health"] = {"Status": health, "FailingStreak": failing_streak, "Log": []}
    return state
