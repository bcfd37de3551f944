"""What is measured: images built, containers started and timed, their CPU time, removal."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bookingapp_infra.params import app_names, load_all

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-" + secrets.token_hex(8)


@dataclass(frozen=True)
class StartTimes:
    """Seconds from start to serving and to healthy; compose's, when it was timed."""

    serving_s: float
    healthy_s: float
    compose_s: float | None = None


def run(*command: str, check: bool = True, timeout: float = 900) -> str:
    """Run a command and return its stdout; stop with its stderr when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:5])} ... failed:\n{result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def _run_env(env: dict[str, str], *command: str) -> str:
    """Run a command with this environment; stop with its stderr when it fails."""
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=900, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:5])} ... failed:\n{result.stderr.strip()[-2000:]}")
    return result.stdout


def wait_for(check: Callable[[], bool], timeout: float, message: str) -> float:
    """Poll until check() is true; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except (RuntimeError, OSError):
            pass  # not up yet
        time.sleep(0.05)
    raise RuntimeError(f"{message} within {timeout} s")


def answers_200(url: str) -> bool:
    """Tell whether a GET of the URL answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback URL
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def inspect(container: str, template: str) -> str:
    """Return one field of `docker inspect`."""
    return run("docker", "inspect", "-f", template, container)


def host_url(container: str, path: str) -> str:
    """Return the URL of the container's published port on loopback."""
    port = run("docker", "port", container, "5000").splitlines()[0].rsplit(":", 1)[1]
    return f"http://127.0.0.1:{port}{path}"


def image_size(image: str) -> int:
    """Return an image's size in bytes."""
    return int(inspect(image, "{{.Size}}"))


# Where cgroup v1 mounts the CPU accounting controller (its name varies by distribution).
V1_CONTROLLERS = ("cpuacct", "cpu,cpuacct")


def cpu_stat_seconds(text: str) -> float | None:
    """Return the usage_usec of a cgroup v2 cpu.stat text, in seconds (None without one)."""
    usage = re.search(r"^usage_usec (\d+)$", text, re.M)
    return int(usage.group(1)) / 1e6 if usage else None


def _v1_docker_seconds(below: str = "") -> float | None:
    """Return cpuacct.usage of Docker's v1 cgroup (or a container's below it), in seconds."""
    for controller in V1_CONTROLLERS:
        path = Path("/sys/fs/cgroup", controller, "docker", below, "cpuacct.usage")
        if path.exists():
            return int(path.read_text()) / 1e9
    return None


def cgroup_cpu_seconds(container_id: str) -> float | None:
    """Return the CPU time the container has used so far, from its cgroup (v1 or v2)."""
    on_v1 = _v1_docker_seconds(container_id)
    if on_v1 is not None:
        return on_v1
    v2 = [f"system.slice/docker-{container_id}.scope", f"docker/{container_id}"]
    for path in (Path("/sys/fs/cgroup") / d / "cpu.stat" for d in v2):
        if path.exists():
            return cpu_stat_seconds(path.read_text())
    return None


def all_containers_cpu_seconds() -> float | None:
    """Return the CPU time every container has used so far, from their cgroups (v1 or v2)."""
    on_v1 = _v1_docker_seconds()  # the cgroupfs driver: one parent for all of them
    if on_v1 is not None:
        return on_v1
    scopes = list(Path("/sys/fs/cgroup/system.slice").glob("docker-*.scope/cpu.stat"))
    if not scopes:  # v2 with systemd: a scope per container, the exited ones gone
        return None
    return sum(cpu_stat_seconds(scope.read_text()) or 0.0 for scope in scopes)


class Bench:
    """Everything one run creates, named with one random suffix, and its removal."""

    def __init__(self, python_image: str, redis_image: str, cpus: str) -> None:
        self.suffix = secrets.token_hex(3)
        self.python_image = python_image
        self.redis_image = redis_image
        self.cpus = cpus
        self.network = f"bench-{self.suffix}"
        self.containers: list[str] = []
        self.images: list[str] = []
        self.redis = f"bench-{self.suffix}-redis"

    def name(self, role: str) -> str:
        """Return the container name this run gives a role."""
        return f"bench-{self.suffix}-{role}"

    def build(self, role: str, context: Path, *args: str) -> str:
        """Build an image from the context and return its tag."""
        tag = f"bench-{self.suffix}/{role}:local"
        self.images.append(tag)
        run(
            "docker",
            "build",
            "-q",
            "--build-arg",
            f"PYTHON_IMAGE={self.python_image}",
            *args,
            "-t",
            tag,
            str(context),
        )
        return tag

    def build_service(self, source: Path, service: str) -> str:
        """Build a service's image as the checkout's compose.yaml does; return its tag."""
        compose_file = source / "compose.yaml"
        if not compose_file.exists():  # an old checkout, from before compose.yaml
            return self.build(service, source, "--build-arg", f"SERVICE={service}")
        # Through `docker compose build`: it uses the engine's BuildKit, which the Dockerfile's
        # cache mounts need, where plain `docker build` (no buildx plugin here) cannot.
        env = {
            **os.environ,
            "DOCKERHUB_NAMESPACE": f"bench-{self.suffix}",
            "TAG": "local",
            "PYTHON_IMAGE": self.python_image,
        }
        compose = ["docker", "compose", "-f", str(compose_file), "-p", f"bench-{self.suffix}"]
        config = json.loads(_run_env(env, *compose, "config", "--format", "json"))
        # Without an image: key compose names the image after the project and the service.
        tag = config["services"][service].get("image", f"bench-{self.suffix}-{service}")
        self.images.append(tag)
        _run_env(env, *compose, "build", service)
        return tag

    def create_network(self) -> None:
        """Create the run's private network."""
        run("docker", "network", "create", self.network)

    def start(self, role: str, image: str, options: list[str], command: list[str]) -> str:
        """Start a detached container on the run's network and return its name."""
        name = self.name(role)
        self.containers.append(name)
        # The engine discards the logs: shipping them costs the host, not the app, and on two
        # shared cores it would steal from the load generator. The app still writes each line.
        run(
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            self.network,
            "--log-driver",
            "none",
            *options,
            image,
            *command,
        )
        return name

    def start_redis(self) -> None:
        """Start Redis as compose.yaml does: a password, AOF on, the official image's uid."""
        self.start(
            "redis",
            self.redis_image,
            ["--user", "999", "--network-alias", "redis"],
            ["redis-server", "--requirepass", PASSWORD, "--appendonly", "yes"],
        )
        wait_for(lambda: self.redis_cli("PING") == "PONG", 20, "Redis did not answer PING")

    def start_app(
        self,
        role: str,
        image: str,
        env: dict[str, str],
        command: list[str],
        options: list[str] | None = None,
    ) -> str:
        """Start an app with the CPU limit, its port published on loopback for the start probe."""
        options = ["--cpus", self.cpus, "-p", "127.0.0.1::5000", *(options or [])]
        for key, value in env.items():
            options += ["-e", f"{key}={value}"]
        return self.start(role, image, options, command)

    def start_serving(
        self,
        role: str,
        image: str,
        env: dict[str, str],
        path: str,
        options: list[str] | None = None,
        command: list[str] | None = None,
    ) -> str:
        """Start an app and wait until the path answers 200; return the container's name."""
        container = self.start_app(role, image, env, command or [], options)
        url = host_url(container, path)
        wait_for(lambda: answers_200(url), 60, f"{role} not serving {path}")
        return container

    def start_timed(self, role: str, image: str, env: dict[str, str], path: str) -> StartTimes:
        """Start an app; time `docker run` to its first 200 and to Docker's healthy."""
        started = time.monotonic()
        container = self.start_app(role, image, env, [])
        url = host_url(container, path)
        wait_for(lambda: answers_200(url), 60, f"{role} did not serve {path}")
        serving = time.monotonic() - started
        status = "{{.State.Health.Status}}"
        wait_for(lambda: inspect(container, status) == "healthy", 90, f"{role} not healthy")
        return StartTimes(serving_s=serving, healthy_s=time.monotonic() - started)

    def redis_cli(self, *args: str) -> str:
        """Run redis-cli inside the Redis container."""
        return run(
            "docker", "exec", "-e", f"REDISCLI_AUTH={PASSWORD}", self.redis, "redis-cli", *args
        )

    def hits(self, key: str) -> int:
        """Return a counter's value in Redis."""
        return int(self.redis_cli("GET", key) or 0)

    def cleanup(self) -> None:
        """Remove the containers, network and images this run created."""
        if self.containers:
            run("docker", "rm", "-f", "-v", *self.containers, check=False)
        run("docker", "network", "rm", self.network, check=False)
        if self.images:
            run("docker", "rmi", *self.images, check=False)


def compose_up_seconds(bench: Bench) -> float | None:
    """Time `docker compose up --wait` of redis and the three apps (images prebuilt)."""
    if not (ROOT / "compose.yaml").exists():
        return None
    project = f"bench-{bench.suffix}-compose"
    env = {
        **os.environ,
        "DOCKERHUB_NAMESPACE": project,
        "TAG": "local",
        "PYTHON_IMAGE": bench.python_image,
        "REDIS_IMAGE": bench.redis_image,
    }
    compose = ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "-p", project]

    def call(*args: str) -> None:
        result = subprocess.run(
            [*compose, *args], capture_output=True, text=True, env=env, timeout=600, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"compose {args[0]} failed:\n{result.stderr[-2000:]}")

    # Every service of infra/services/*.toml but Traefik's listener, so a new one is timed too.
    everything = load_all()
    apps = app_names(everything)
    try:
        call("build", *apps)  # not timed: building is not starting
        started = time.monotonic()
        call("up", "--detach", "--wait", "--wait-timeout", "120", *everything)
        return time.monotonic() - started
    finally:
        subprocess.run(
            [
                *compose,
                "down",
                "--volumes",
                "--remove-orphans",
                "--rmi",
                "local",
                "--timeout",
                "10",
            ],
            capture_output=True,
            env=env,
            check=False,
        )
        images = [f"{project}/bookingapp-{s}:local" for s in apps]
        run("docker", "rmi", *images, check=False)
