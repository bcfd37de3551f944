"""A local blue/green release through the real Traefik, under steady load, from the host.

Traffic goes only to the listener's published port on 127.0.0.1 (as on a laptop with Docker
Desktop), never to container addresses. Each response names the instance (container
hostname) that served it, so the tests can say which colour answered; the page's hit count
is read before and after, so a lost or doubled hit shows. Only redis, traefik and movie run:
movie is nobody's neighbour here, so every hit it counts is one these tests sent.

What these can't prove: timings (the machine is shared) and the ALB's own behaviour; they
prove the local emulation keeps its promises.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.compose.stack import Stack
from tests.compose.test_traefik import traefik_problem
from tests.unit.conftest import free_port

pytestmark = [
    pytest.mark.docker,
    pytest.mark.traefik,
    pytest.mark.skipif(traefik_problem() is not None, reason=f"{traefik_problem()}"),
]

SERVICE = "movie"
TEST_HEADER = {"X-Bookingapp-Test": "green"}
STEP_WAIT = "240"  # seconds the CLI may take per step on a busy 2-core machine
LINE_TIMEOUT = 420.0


@dataclass(frozen=True)
class Answer:
    """One request through the listener: when, which kind, and who answered how."""

    sent: float
    test: bool
    status: int
    instance: str | None
    hits: int | None


class Listener:
    """HTTP to Traefik's published port on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict | None]:
        """GET a path as JSON; return the status and the decoded body (None if not JSON)."""
        request = urllib.request.Request(
            self.base + path, headers={"Accept": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        except (urllib.error.URLError, OSError):
            return 0, None
        try:
            return status, json.loads(body)
        except ValueError:
            return status, None


class Traffic:
    """Steady production and test-header load on /movie from a few threads, all recorded."""

    def __init__(self, listener: Listener, production: int = 2, test: int = 1) -> None:
        self.listener = listener
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self.run, args=(kind,), daemon=True)
            for kind in [False] * production + [True] * test
        ]

    def run(self, test: bool) -> None:
        """Send requests one after the other until stopped."""
        while not self.stopping.is_set():
            sent = time.monotonic()
            status, data = self.listener.get(f"/{SERVICE}", TEST_HEADER if test else None)
            answer = Answer(
                sent=sent,
                test=test,
                status=status,
                instance=(data or {}).get("instance"),
                hits=(data or {}).get("hits"),
            )
            with self.lock:
                self.answers.append(answer)
            time.sleep(0.02)  # steady, not a benchmark: leave CPU for the release

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=20)

    def between(self, start: float, end: float, test: bool) -> list[Answer]:
        """Return the answers to requests of one kind sent in [start, end)."""
        with self.lock:
            return [a for a in self.answers if start <= a.sent < end and a.test == test]

    def failed(self) -> list[Answer]:
        """Return every answer that was not a 200 with a body."""
        with self.lock:
            return [a for a in self.answers if a.status != 200 or a.instance is None]


class Release:
    """`bookingapp-local release` running in the background, its output read line by line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bookingapp_infra.local.bluegreen", "release", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self.read, daemon=True).start()

    def read(self) -> None:
        """Copy the process's output into the queue as it comes."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float = LINE_TIMEOUT) -> None:
        """Wait until a line containing text is printed (fail on exit or timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if text in line:
                return
        raise AssertionError(f"no line with {text!r}; output so far:\n" + "\n".join(self.seen))

    def finish(self, timeout: float = LINE_TIMEOUT) -> int:
        """Wait for the process to exit and return its exit code."""
        code = self.process.wait(timeout=timeout)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code

    def kill(self) -> None:
        """Stop the process if a test failed while it ran."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class BlueGreenStack:
    """The stack under test, its listener and the image the releases roll out."""

    stack: Stack
    listener: Listener
    image: str
    rules_dir: Path

    def cli(self, verb: str, *args: str) -> subprocess.CompletedProcess:
        """Run one blue/green verb on this stack's project and return the result."""
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "bookingapp_infra.local.bluegreen",
                verb,
                *args,
                "--project",
                self.stack.project,
            ],
            capture_output=True,
            text=True,
            timeout=LINE_TIMEOUT,
            check=False,
        )

    def release(self, *args: str) -> Release:
        """Start a blue/green release of movie with the test image."""
        return Release(
            SERVICE,
            "--image",
            self.image,
            "--strategy",
            "blue_green",
            "--wait",
            STEP_WAIT,
            "--project",
            self.stack.project,
            *args,
        )

    def instances(self) -> set[str]:
        """Return the hostnames (instance ids) of movie's running containers."""
        return {c["Config"]["Hostname"] for c in self.stack.containers(SERVICE)}

    def hits(self) -> int:
        """Return movie's hit count after one more request (which counts itself)."""
        status, data = self.listener.get(f"/{SERVICE}")
        assert status == 200, data
        return data["hits"]

    def pool(self) -> dict[str, str]:
        """Return Traefik's view of movie@docker: server URL -> UP/DOWN."""
        port = self.stack.env["DASHBOARD_PORT"]
        url = f"http://127.0.0.1:{port}/api/http/services/{SERVICE}@docker"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response).get("serverStatus", {})
        except (urllib.error.URLError, OSError):
            return {}


@pytest.fixture(scope="module")
def bluegreen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlueGreenStack]:
    """redis, traefik and movie from compose.yaml on free ports, with their own rules directory."""
    rules_dir = tmp_path_factory.mktemp("traefik-rules")
    port = free_port()
    env = {
        "HTTP_PORT": str(port),
        "DASHBOARD_PORT": str(free_port()),
        "TRAEFIK_DYNAMIC_DIR": str(rules_dir),
    }
    stack = Stack(env=env, prefix="bookingapp-bluegreen")
    image = None
    try:
        stack.up("redis", "traefik", SERVICE)
        built = stack.containers(SERVICE)[0]["Config"]["Image"]
        image = f"{built.rsplit(':', 1)[0]}:green-{uuid.uuid4().hex[:8]}"
        # The "new" image: the same build under a new tag; the instance ids tell colours apart.
        subprocess.run(["docker", "tag", built, image], check=True, capture_output=True)
        bg = BlueGreenStack(stack=stack, listener=Listener(port), image=image, rules_dir=rules_dir)
        wait_until(lambda: len(bg.pool()) == 2 and set(bg.pool().values()) == {"UP"}, 120)
        yield bg
    finally:
        stack.down()
        if image:
            subprocess.run(["docker", "rmi", image], check=False, capture_output=True)


def wait_until(condition, timeout: float) -> None:
    """Poll condition() until true, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not true within {timeout} s"
        time.sleep(0.5)


def green_of(bg: BlueGreenStack, blue: set[str]) -> set[str]:
    """Return movie's instances that are not blue: green, while a release runs."""
    green = bg.instances() - blue
    assert len(green) == len(blue), (blue, green)
    return green


def served(answers: list[Answer]) -> set[str]:
    """Return the instances that served a list of answers."""
    return {a.instance for a in answers if a.instance}


def test_rollback_sends_everything_back_to_blue_and_removes_green(bluegreen):
    """Before the shift green gets only test traffic; rollback leaves blue alone, nothing lost."""
    blue = bluegreen.instances()
    before = bluegreen.hits()
    release = bluegreen.release("--approval")
    try:
        with Traffic(bluegreen.listener) as traffic:
            start = time.monotonic()
            release.wait_for_line("waiting for approval")
            paused = time.monotonic()
            green = green_of(bluegreen, blue)
            time.sleep(3)  # test and production traffic while paused

            second = bluegreen.cli(
                "release", SERVICE, "--image", bluegreen.image, "--strategy", "blue_green"
            )
            assert second.returncode == 2, second
            assert "already in progress" in second.stderr
            assert len(second.stderr.strip().splitlines()) == 1

            asked = time.monotonic()
            rolled = bluegreen.cli("rollback", SERVICE, "--wait", STEP_WAIT)
            assert rolled.returncode == 0, rolled
            assert release.finish() == 1, release.seen
            done = time.monotonic()
            time.sleep(3)  # traffic after the rollback
        after = bluegreen.hits()
    finally:
        release.kill()

    assert traffic.failed() == []
    assert served(traffic.between(start, asked, test=False)) <= blue
    test_answers = traffic.between(paused, asked, test=True)
    assert test_answers
    assert served(test_answers) == green
    assert served(traffic.between(done, time.monotonic(), test=False)) == blue
    assert served(traffic.between(done, time.monotonic(), test=True)) <= blue
    assert bluegreen.instances() == blue
    assert after - before == len(traffic.answers) + 1
    assert "ROLLBACK_SUCCESSFUL" in "\n".join(release.seen)


def test_release_shifts_production_to_green_in_steps_and_stops_blue(bluegreen):
    """Test header reaches green only; after approval production moves; 0 requests fail."""
    blue = bluegreen.instances()
    before = bluegreen.hits()
    release = bluegreen.release(
        "--approval",
        "--traffic-steps",
        "50,100",
        "--step-seconds",
        "3",
        "--bake-time-minutes",
        "0.05",
    )
    try:
        with Traffic(bluegreen.listener) as traffic:
            start = time.monotonic()
            release.wait_for_line("waiting for approval")
            paused = time.monotonic()
            green = green_of(bluegreen, blue)
            time.sleep(3)

            approved = time.monotonic()
            answer = bluegreen.cli("approve", SERVICE)
            assert answer.returncode == 0, answer
            assert release.finish() == 0, release.seen
            done = time.monotonic()
            time.sleep(3)
        after = bluegreen.hits()
    finally:
        release.kill()

    assert traffic.failed() == []
    assert served(traffic.between(start, approved, test=False)) <= blue
    assert served(traffic.between(paused, done, test=True)) == green
    assert green <= served(traffic.between(approved, done, test=False))
    assert served(traffic.between(done, time.monotonic(), test=False)) == green
    assert bluegreen.instances() == green
    assert after - before == len(traffic.answers) + 1
    assert list(bluegreen.rules_dir.glob("*.yml")) == []
    output = "\n".join(release.seen)
    for stage in ("PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP", "SUCCESSFUL"):
        assert stage in output


def test_release_refuses_an_image_that_does_not_exist(bluegreen):
    result = bluegreen.cli(
        "release", SERVICE, "--image", "bookingapp/nothing-here:missing", "--strategy", "blue_green"
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_release_refuses_when_the_stack_is_not_up(bluegreen):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bookingapp_infra.local.bluegreen",
            "release",
            SERVICE,
            "--image",
            bluegreen.image,
            "--strategy",
            "blue_green",
            "--project",
            f"bookingapp-absent-{uuid.uuid4().hex[:8]}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "the stack is not up" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_approve_and_rollback_refuse_when_nothing_is_in_progress(bluegreen):
    for verb in ("approve", "rollback"):
        result = bluegreen.cli(verb, SERVICE)
        assert result.returncode == 2, result
        assert "no release of movie is in progress" in result.stderr
