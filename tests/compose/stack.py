"""Drive the real compose.yaml through the compose CLI, under a throwaway project name."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import yaml

from tests.infra import cfn
from tests.support import COMPOSE_FILE, ROOT, app_services, stack_environ

# The app services (infra/services/*.toml), which compose.yaml must run (test_parity.py).
APP_SERVICES = tuple(app_services())


def listener_default_action() -> dict[str, str]:
    """Return the ALB listeners' fixed response (platform.yaml): one, for :80 and :443 alike."""
    found: list[dict[str, str]] = []

    def walk(node: object) -> None:
        """Collect every FixedResponseConfig in the template."""
        if isinstance(node, dict):
            found.extend([node["FixedResponseConfig"]] if "FixedResponseConfig" in node else [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(cfn.load("platform"))
    assert found, "platform.yaml has no fixed-response action"
    assert all(f == found[0] for f in found), found
    return found[0]


def load_compose() -> dict:
    """Return compose.yaml as written (anchors resolved, variables not interpolated)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


class Stack:
    """One compose project from compose.yaml (never the development override), plus overlays."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        overlays: tuple[Path, ...] = (),
        prefix: str = "bookingapp-test",
        compose_file: Path = COMPOSE_FILE,
        apps: tuple[str, ...] = APP_SERVICES,
    ) -> None:
        self.project = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.env = {**stack_environ(), **(env or {})}  # never the caller's TAG
        self.files = [arg for f in (compose_file, *overlays) for arg in ("-f", str(f))]
        self.apps = apps  # whose images down() untags

    def command(self, *args: str) -> list[str]:
        """Return the `docker compose` command line for this project's files and name."""
        return ["docker", "compose", *self.files, "-p", self.project, *args]

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        """Run `docker compose` on this project and return its stdout."""
        result = subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def up(self, *services: str) -> None:
        """Build and start the services, returning once every one is healthy."""
        try:
            self.compose("up", "--detach", "--build", "--wait", "--wait-timeout", "180", *services)
        except AssertionError as error:
            hint = (
                "\nNo registry? Build stand-in base images with scripts/build-standin-images.sh "
                "and export the PYTHON_IMAGE and REDIS_IMAGE it prints."
            )
            raise AssertionError(f"{error}{hint}") from None

    def down(self) -> None:
        """Remove the project's containers, network and volumes.

        No grace period: the apps would drain for 15 s first (bookingapp_common.drain), and
        nothing is listening to a stack being thrown away.
        """
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "1", check=False)
        if not self.env.get("TAG"):  # compose.yaml's default tag names the project: untag ours
            namespace = self.env.get("DOCKERHUB_NAMESPACE", "bookingapp")
            tags = [f"{namespace}/bookingapp-{s}:{self.project}-latest" for s in self.apps]
            subprocess.run(["docker", "image", "rm", *tags], capture_output=True, check=False)

    def containers(self, service: str) -> list[dict]:
        """Return `docker inspect` of the service's running containers, by replica number."""
        ids = self.compose("ps", "--quiet", service).split()
        if not ids:
            return []
        found = subprocess.run(
            ["docker", "inspect", *ids], capture_output=True, text=True, check=True
        )
        inspected = json.loads(found.stdout)
        return sorted(
            inspected,
            key=lambda c: int(c["Config"]["Labels"]["com.docker.compose.container-number"]),
        )

    def address(self, container: dict) -> str:
        """Return the container's IP address on the project's network."""
        networks = container["NetworkSettings"]["Networks"]
        return next(iter(networks.values()))["IPAddress"]

    def redis_cli(self, *args: str, service: str = "redis") -> str:
        """Run an authenticated redis-cli command inside a Redis container; return its output."""
        container = self.containers(service)[0]["Id"]
        password = (ROOT / "compose" / "dev-redis-password").read_text().strip()
        result = subprocess.run(
            ["docker", "exec", "-e", f"REDISCLI_AUTH={password}", container, "redis-cli", *args],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return result.stdout.strip()

    def probe(self, script: str, service: str = "home") -> object:
        """Run Python inside a service container (on the compose network) and decode its JSON."""
        out = self.compose(
            "exec", "-T", "--index", "1", service, "python", "-c", script, timeout=60
        )
        return json.loads(out)

    def wait_healthy(self, service: str, timeout: float = 60) -> None:
        """Wait until every container of the service reports healthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [c["State"].get("Health", {}).get("Status") for c in self.containers(service)]
            if states and all(s == "healthy" for s in states):
                return
            time.sleep(0.5)
        raise AssertionError(f"{service} not healthy within {timeout} s: {states}")


# Python run inside a container: fetch URLs as JSON, report status and body for each.
FETCH = """
import json, sys, urllib.request, urllib.error
out = []
for url in {urls!r}:
    req = urllib.request.Request(url, headers={{"Accept": "application/json"}})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            out.append([r.status, json.load(r)])
    except urllib.error.HTTPError as e:
        out.append([e.code, json.load(e)])
print(json.dumps(out))
"""


def fetch_inside(stack: Stack, urls: list[str]) -> list[tuple[int, dict]]:
    """GET each URL from inside the compose network, in order."""
    return [tuple(r) for r in stack.probe(FETCH.format(urls=urls))]
