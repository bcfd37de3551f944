"""What the tests share: where the repo is, which services it has, whether Docker is here."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMON_PACKAGE = "bookingapp-common"


def workspace_members() -> list[str]:
    """Return the workspace members named in the root pyproject.toml."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(root["tool"]["uv"]["workspace"]["members"])


def app_services() -> list[str]:
    """Return the services: workspace members that are apps built on the shared core."""
    services = []
    for member in workspace_members():
        project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
        if COMMON_PACKAGE in project.get("dependencies", []):
            services.append(member)
    return services


@functools.cache
def docker_problem() -> str | None:
    """Say why Docker cannot be used here, or None when an engine answers."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.strip() or info.stdout.strip()}"
    return None


requires_docker = pytest.mark.skipif(
    docker_problem() is not None,
    reason=f"needs a Docker engine ({docker_problem()}); .ci/run provisions one",
)
