"""The listener as a user's machine reaches it: Traefik's published ports on 127.0.0.1.

`Edge` sends single requests, `Traffic` keeps clients busy through the listener while a test
restarts, releases or scales replicas, and `edge_stack` brings compose.yaml up (all of it,
or some services beside traefik) and returns only when every replica is UP in Traefik's
pool (its API says so), not merely when each service answered once. `local` runs one
`bookingapp-local` command the way a user types it; `Background` runs one that keeps
going (a release waiting for approval) and reads its lines as they come. Nothing here
talks to a container address.
"""

from __future__ import annotations

import http.client
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bookingapp_common.logs import REQUEST_ID_HEADER
from bookingapp_infra.local import docker
from bookingapp_infra.local.strategies import routing
from bookingapp_infra.local.traefik import Traefik
from tests.compose.stack import APP_SERVICES, Stack
from tests.support import JSON, free_port, http_get, wait_until


class Edge:
    """The listener and the dashboard API of one project, on their published 127.0.0.1 ports."""

    def __init__(self, stack: Stack, port: int, api_port: int) -> None:
        self.stack = stack
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.api = f"http://127.0.0.1:{api_port}"
        self.traefik = Traefik(self.api)

    def get(self, path: str) -> tuple[int, str, dict | None]:
        """GET a path; return status, raw body and the JSON body when there is one."""
        reply = http_get(self.base + path, JSON, timeout=5)
        try:
            return reply.status, reply.body, reply.json()
        except ValueError:
            return reply.status, reply.body, None

    def instances(self, path: str, count: int) -> list[str]:
        """Return the instance ids that served `count` requests to a page."""
        seen = []
        for _ in range(count):
            status, body, data = self.get(path)
            assert status == 200, body
            seen.append(data["instance"])
        return seen

    def wait_for(self, condition, timeout: float = 45) -> None:
        """Poll until condition() is true, failing with its docstring after `timeout` s."""
        wait_until(condition, timeout, f"not true: {condition.__doc__}", interval=0.5)

    def hits(self, service: str) -> int:
        """Return the service's hit count, read through its readiness path (counts nothing)."""
        status, body, data = self.get(f"/{service}/ready")
        assert status == 200, body
        return data["hits"]

    def replicas(self, service: str) -> list[docker.Replica]:
        """Return the service's running replicas."""
        return docker.replicas(self.stack.project, service)

    def wait_in_pool(self, service: str, timeout: float = 90) -> list[docker.Replica]:
        """Wait until every running replica of the service is healthy and UP in Traefik's pool."""
        ready = docker.wait_healthy([r.id for r in self.replicas(service)], timeout=timeout)
        self.traefik.wait_up(ready, timeout=timeout)
        return ready

    def pool(self, service: str) -> dict[str, str]:
        """Return Traefik's {server URL: status} for the service."""
        return self.traefik.pool(service)

    def status_in_pool(self, replica: docker.Replica) -> str | None:
        """Return the replica's status in its service's pool; None once Traefik does not list it."""
        urls = {f"//{address}:" for address in replica.addresses}
        for url, status in self.pool(replica.service).items():
            if any(u in url for u in urls):
                return status
        return None


@contextmanager
def edge_stack(
    apps: tuple[str, ...] = APP_SERVICES,
    rules_dir: Path | None = None,
    prefix: str = "bookingapp-test",
    compose_file: Path | None = None,
    overlays: tuple[Path, ...] = (),
    also: tuple[str, ...] = (),
) -> Iterator[Edge]:
    """compose.yaml's traefik, redis and these apps on free host ports, every replica in the pool.

    With `rules_dir` Traefik's file provider reads that directory (a blue/green release's
    rules), so a test's releases never meet another stack's. `compose_file` runs another
    checkout's compose.yaml (a copy of the repository a test changed) instead. `overlays`
    are compose files on top, and `also` the services of theirs to start as well.
    """
    port, api_port = free_port(), free_port()
    env = {"HTTP_PORT": str(port), "DASHBOARD_PORT": str(api_port)}
    if rules_dir is not None:
        env["TRAEFIK_DYNAMIC_DIR"] = str(rules_dir)
    # Another checkout's compose.yaml (a copy a test changed) may name other apps.
    other = {} if compose_file is None else {"compose_file": compose_file, "apps": apps}
    stack = Stack(env=env, prefix=prefix, overlays=overlays, **other)
    try:
        everything = not also and apps == APP_SERVICES
        stack.up(*(() if everything else ("redis", "traefik", *apps, *also)))
        edge = Edge(stack, port, api_port)
        for service in apps:
            edge.wait_in_pool(service)
        yield edge
    finally:
        stack.down()


@dataclass(frozen=True)
class Answer:
    """One request a client made through the listener."""

    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    started: float  # time.monotonic()
    instance: str | None = None
    hits: int | None = None
    problem: str | None = None
    request_id: str | None = None  # a failed answer's X-Request-Id: its line in the app's log


# Seconds each client waits after an answer: ~8 requests a second per client, a busy
# browser's rate. Unpaced, the clients alone kept this 2-core machine saturated (the journeys
# module: 81 % of both cores over 359 s, with ~1 docker call a second), so two streams under
# load starved each other's Redis into the counter's 503s that no event under test caused,
# and made every docker call slower. Paced, an event still meets requests on every
# connection (keep-alive reuse, drains); the autoscaler's load, which must drive the CPU,
# asks for pause=0.
PACE = 0.1


@dataclass
class Traffic:
    """Clients that keep GETting one page through the listener until stopped, paced.

    Each client keeps one keep-alive connection to the listener, as browsers do; what
    happens behind Traefik (replicas coming and going) must not show in the answers.
    """

    port: int
    path: str = "/home"
    clients: int = 8
    answers: list[Answer] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request
    pause: float = PACE  # seconds each client waits after an answer (0: the next at once)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight (bounded)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def count(self) -> int:
        """Return how many requests were answered so far."""
        with self._lock:
            return len(self.answers)

    def since(self, moment: float) -> list[Answer]:
        """Return the answers to requests started after `moment` (time.monotonic())."""
        with self._lock:
            return [a for a in self.answers if a.started >= moment]

    def wait_for(self, count: int, timeout: float = 60, since: float = 0.0) -> None:
        """Wait until `count` requests started after `since` were answered."""
        wait_until(
            lambda: len(self.since(since)) >= count, timeout, f"fewer than {count} answers", 0.05
        )

    def failures(self) -> Counter:
        """Return the non-200 answers, counted by (status, problem)."""
        with self._lock:
            return Counter((a.status, a.problem) for a in self.answers if a.status != 200)

    def _client(self) -> None:
        """Send requests on one keep-alive connection until told to stop."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        while not self._stop.is_set():
            answer = self._once(connection)
            if answer.status == 0:
                connection.close()  # a fresh connection for the next request
            with self._lock:
                self.answers.append(answer)
            if self.pause:
                self._stop.wait(self.pause)
        connection.close()

    def _once(self, connection: http.client.HTTPConnection) -> Answer:
        """GET the page once; never raise, record what happened."""
        started = time.monotonic()
        try:
            connection.request("GET", self.path, headers={**JSON, **self.headers})
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            return Answer(0, started, problem=f"{type(error).__name__}: {error}")
        if response.status != 200:
            problem = body[:120].decode(errors="replace")
            return Answer(response.status, started, problem=problem,
                          request_id=response.getheader(REQUEST_ID_HEADER))  # fmt: skip
        data = json.loads(body)
        return Answer(200, started, instance=data["instance"], hits=data["hits"])


@dataclass
class HeaderTraffic(Traffic):
    """Clients like Traffic's, each request carrying the release's test header."""

    headers: dict[str, str] = field(
        default_factory=lambda: {routing.TEST_HEADER: routing.TEST_VALUE}
    )


@contextmanager
def app_log(edge: Edge, service: str, path: Path) -> Iterator[Path]:
    """Follow the service's log (every replica, those started later too) into a file.

    Replicas the test stops are removed with their logs; this keeps their lines, so that a
    failed answer can be explained afterwards by its request id (`explain`).
    """
    with path.open("w") as out:
        follower = subprocess.Popen(
            edge.stack.command("logs", "--follow", "--no-color", service),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=edge.stack.env,
        )
        try:
            yield path
        finally:
            follower.terminate()
            follower.wait(timeout=30)


def explain(log: Path, *loads: Traffic) -> list[str]:
    """Return the app's log lines of the failed answers that carried a request id."""
    ids = {a.request_id for load in loads for a in load.answers if a.request_id}
    lines = log.read_text(errors="replace").splitlines() if ids else []
    return [line for line in lines if any(i in line for i in ids)]


def assert_nothing_lost(
    hits_before: int, hits_after: int, *loads: Traffic, log: Path | None = None
) -> None:
    """Every request of every load got 200, each counted once: no hit lost, none twice.

    With the app's `log` (app_log), a failure shows the app's lines of the failed answers.
    """
    answers = [a for load in loads for a in load.answers]
    failures = Counter((a.status, a.problem) for a in answers if a.status != 200)
    if failures and log is not None:
        lines = "\n".join(explain(log, *loads)) or "(no line of the app names them)"
        raise AssertionError(f"{failures} of {len(answers)}; the app's lines:\n{lines}")
    assert failures == Counter(), f"{failures} of {len(answers)}"
    numbers = sorted(a.hits for a in answers)
    expected = list(range(hits_before + 1, hits_after + 1))
    missing = sorted(set(expected) - set(numbers))
    twice = sorted(n for n, k in Counter(numbers).items() if k > 1)
    assert (missing, twice, len(numbers)) == ([], [], len(expected))


def derived_image(base: str, tag: str, *instructions: str) -> str:
    """Build `tag` from `base` plus Dockerfile instructions (no build context); return the tag."""
    recipe = "\n".join((f"FROM {base}", *instructions)) + "\n"
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"],
        input=recipe, text=True, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return tag


def relabelled_image(edge: Edge, namespace: str, label: str, service: str = "home") -> str:
    """Build an image that differs from the service's running one by one label; return its tag."""
    tag = f"{namespace}/{service}:{uuid.uuid4().hex[:8]}"
    return derived_image(edge.replicas(service)[0].image, tag, f"LABEL {label}={tag}")


LOCAL_CLI = (sys.executable, "-m", "bookingapp_infra.local.cli")
COMMAND_TIMEOUT = 600.0  # seconds one command may take on a busy 2-core machine


def local(*argv: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    """Run one `bookingapp-local` command as a user would, and return what it did."""
    return subprocess.run(
        [*LOCAL_CLI, *argv], capture_output=True, text=True, timeout=timeout, check=False
    )


class Background:
    """A `bookingapp-local` command running in the background, its output read line by line."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen(
            [*LOCAL_CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.printed: dict[str, float] = {}  # line -> when it was read (time.monotonic())
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        """Copy the process's output into the queue as it comes."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.printed.setdefault(line.rstrip("\n"), time.monotonic())
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float = COMMAND_TIMEOUT) -> None:
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

    def when(self, text: str) -> float:
        """Return when the first line containing text was printed."""
        return min(t for line, t in self.printed.items() if text in line)

    def finish(self, timeout: float = COMMAND_TIMEOUT) -> int:
        """Wait for the process to exit and return its exit code."""
        code = self.process.wait(timeout=timeout)
        self.reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code

    def kill(self) -> None:
        """Stop the process if a test failed while it ran, and close its output pipe."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
