"""What the tests share: the repo, its services, Docker's presence, ports, waits and GETs.

Also the one runner of `docker compose config`. Fake servers live in tests/stubs.py.

Nothing here touches Docker when imported: `docker_problem()` and `traefik_problem()` ask the
engine the first time a test marked `docker` / `traefik` is about to run (tests/conftest.py),
and remember the answer for the rest of the session.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import yaml

from bookingapp_infra.errors import InfraError
from bookingapp_infra.local.docker import docker
from bookingapp_infra.params import app_names, load_all

ROOT = Path(__file__).resolve().parent.parent
CHANGED_SERVICES_SCRIPT = ROOT / ".github" / "scripts" / "changed_services.py"
COMPOSE_FILE = ROOT / "compose.yaml"


@functools.cache
def changed_services() -> ModuleType:
    """Import .github/scripts/changed_services.py (a script, not a package) once."""
    spec = importlib.util.spec_from_file_location("changed_services", CHANGED_SERVICES_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def app_services() -> list[str]:
    """Return the app services of infra/services/*.toml, in ALB rule order (params.py reads them).

    Every test that needs "the services" asks here, so a new service is in every test's list
    the moment its parameter file exists. That the code (the workspace members CI builds) and
    compose.yaml agree with this list is what tests/compose/test_parity.py checks.
    """
    return app_names(load_all())


def workspace_apps(root: Path = ROOT) -> list[str]:
    """Return the app services as CI's matrix script finds them: workspace members on common."""
    return list(changed_services().app_services(root))


def copy_of_repository(destination: Path) -> Path:
    """Copy the work tree as it is (what git does not ignore) to destination; return it.

    Untracked files too: a service just added and not yet committed is part of the tree.
    """
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:  # not a git checkout (an unpacked archive): all but the caches
        ignored = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".*_cache", "build")
        shutil.copytree(ROOT, destination, ignore=ignored)
        return destination
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the work tree but not yet in the index
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


# Service names a test may add: the first that no file, directory or prefix here holds.
CANDIDATE_NAMES = ("train", "ferry", "tram", "taxi", "cablecar", "rickshaw", "gondola")


def unused_service_names(count: int) -> list[str]:
    """Return `count` names add-service would accept in this repository, none a prefix of another."""
    prefixes = [p.path_prefix for p in load_all().values() if p.path_prefix]
    chosen: list[str] = []
    for name in CANDIDATE_NAMES:
        taken = [*prefixes, *(f"/{c}" for c in chosen)]
        if (ROOT / name).exists() or any(
            f"/{name}".startswith(t) or t.startswith(f"/{name}") for t in taken
        ):
            continue
        chosen.append(name)
    assert len(chosen) >= count, f"no {count} free names among {CANDIDATE_NAMES}"
    return chosen[:count]


def stack_environ() -> dict[str, str]:
    """Return this process's environment for a test stack: everything but TAG.

    With one tag for every stack, a test that builds in a copy of the tree (add-service)
    re-tagged the images other stacks run, and the scaler then saw two images in one
    service ("a release is in progress"). Untagged, each project's images are its own
    (compose.yaml: <project>-latest).
    """
    return {key: value for key, value in os.environ.items() if key != "TAG"}


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(
    check: Callable[[], object], timeout: float, message: str, interval: float = 0.1
) -> float:
    """Poll check() until it is true; return the seconds it took, or fail with message."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"{message} (waited {timeout} s)")


# How often a `docker pause` is tried when the engine could not freeze the container. runc
# gives up freezing a cgroup whose processes keep running on a saturated host ("unable to
# freeze", moby/moby#48205) and leaves the container running, so trying again is safe; a
# full run here lost a test to it once in ~1,500.
FREEZE_ATTEMPTS = 4
FREEZE_RETRY_SECONDS = 0.5


def pause_container(container: str, sleep: Callable[[float], None] = time.sleep) -> None:
    """Freeze a container (`docker pause`), again if the engine could not freeze it in time.

    The one way tests freeze a container, through bookingapp-local's docker runner: a pause
    refused for any other reason, or still refused after FREEZE_ATTEMPTS, fails with
    docker's own words.
    """
    for attempt in range(1, FREEZE_ATTEMPTS + 1):
        try:
            docker("pause", container)
            return
        except InfraError as refused:
            if "unable to freeze" not in str(refused) or attempt == FREEZE_ATTEMPTS:
                raise AssertionError(
                    f"{refused} (attempt {attempt} of {FREEZE_ATTEMPTS})"
                ) from None
        sleep(FREEZE_RETRY_SECONDS)


def unpause_container(container: str) -> None:
    """Thaw a container pause_container() froze (a refusal fails with docker's words)."""
    docker("unpause", container)


GUNICORN = [sys.executable, "-m", "gunicorn", "--config", "python:bookingapp_common.gunicorn_conf"]


def start_gunicorn(
    stdout: int = subprocess.PIPE, stderr: int = subprocess.PIPE, **environment: str
) -> subprocess.Popen[str]:
    """Start gunicorn as the image does (home, one worker, a free port), settings added.

    No drain unless a test asks for one (BOOKINGAPP_DRAIN_SECONDS): a test server stopped
    with SIGTERM then exits within a second, not after the 15 s a replica gives its load
    balancer (three servers waiting for it made a fifth of the Docker-free tier's time).
    Output that nobody reads under load belongs in DEVNULL: a full pipe stalls the server.
    """
    env = {
        **os.environ,
        "BOOKINGAPP_SERVICE": "home",
        "PORT": str(free_port()),
        "GUNICORN_WORKERS": "1",
        "BOOKINGAPP_DRAIN_SECONDS": "0",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(free_port()),
        **environment,
    }
    # Loopback only: a test server is nobody else's to reach (the image binds 0.0.0.0).
    command = [*GUNICORN, "--bind", f"127.0.0.1:{env['PORT']}"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=stdout, stderr=stderr, text=True)


def wait_serving(process: subprocess.Popen[str], url: str, timeout: float = 20) -> None:
    """Wait until the url answers 200; fail at once, with its stderr, if gunicorn exited."""

    def serving() -> bool:
        """Say whether the url answers 200, failing if the server is gone."""
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"gunicorn exited with {process.returncode}: {stderr}")
        return http_status(url, timeout=2) == 200

    wait_until(serving, timeout, f"gunicorn did not serve {url}")


JSON = {"Accept": "application/json"}


@dataclass(frozen=True)
class Reply:
    """What one GET got back: status, body text, the seconds it took and the content type."""

    status: int
    body: str
    seconds: float
    content_type: str = ""

    def json(self) -> object:
        """Decode the body as JSON (fails loudly when it is not)."""
        return json.loads(self.body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand a 3xx back as the answer instead of following it."""

    def redirect_request(self, *args: object) -> None:
        """Follow nothing."""
        return None


# One request, exactly what the server said: no redirect followed, and no http_proxy from
# the environment (tests only GET loopback; a developer's proxy must not carry it elsewhere).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> Reply:
    """GET a URL once; error statuses are replies too, nothing answering raises OSError."""
    request = urllib.request.Request(url, headers=headers or {})
    started = time.monotonic()
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, body, kind = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read(), error.headers
    seconds = time.monotonic() - started
    return Reply(status, body.decode(), seconds, kind.get("Content-Type", ""))


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> int:
    """GET a URL and return its status, 0 when nothing answers (refused, reset, timed out)."""
    try:
        return http_get(url, headers, timeout).status
    except OSError:
        return 0


def compose_config(*files: Path) -> subprocess.CompletedProcess:
    """Run `docker compose config` on the files (compose.yaml alone by default), JSON out."""
    args = [arg for f in files or (COMPOSE_FILE,) for arg in ("-f", str(f))]
    return subprocess.run(
        ["docker", "compose", *args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def resolved_compose(*files: Path) -> dict:
    """Return the files as compose resolves them (variables interpolated, ports normalised)."""
    out = compose_config(*files)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@functools.cache
def docker_problem() -> str | None:
    """Say why Docker cannot be used here, or None when an engine answers (asked once)."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s"
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.strip() or info.stdout.strip()}"
    return None


def traefik_image() -> str:
    """Return the Traefik image compose.yaml will use (TRAEFIK_IMAGE or its default)."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    default = compose["services"]["traefik"]["image"].split(":-", 1)[1].rstrip("}")
    return os.environ.get("TRAEFIK_IMAGE") or default


@functools.cache
def traefik_problem() -> str | None:
    """Say why no Traefik image can be used here, or None when one is present or pullable."""
    if docker_problem():
        return docker_problem()
    image = traefik_image()
    inspect = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, check=False
    )
    if inspect.returncode == 0:
        return None
    try:
        pull = subprocess.run(
            ["docker", "pull", image], capture_output=True, text=True, timeout=180, check=False
        )
    except subprocess.TimeoutExpired:
        return f"pulling {image} timed out"
    if pull.returncode == 0:
        return None
    reason = (pull.stderr.strip().splitlines() or ["unknown error"])[-1]
    return (
        f"Traefik image {image} is not here and cannot be pulled ({reason}); "
        "set TRAEFIK_IMAGE to one that is (scripts/build-standin-images.sh builds one)"
    )


def project_tool(name: str) -> str:
    """Return the path of a command-line tool from the project's dev dependencies."""
    # The venv's bin directory first: `uv run pytest` puts it on PATH, an IDE may not.
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: run `uv sync` (it is in the dev group)"
    return found


def unit_redis_is_a_container() -> bool:
    """Say whether the unit tests' Redis will be a container (no redis-server, or asked to)."""
    wanted = os.environ.get("BOOKINGAPP_TEST_REDIS", "")
    return wanted == "container" or (wanted != "local" and shutil.which("redis-server") is None)
