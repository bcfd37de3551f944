"""What the fault tests drive: the real compose stack, a load generator, raw HTTP requests.

The stack is compose.yaml plus compose.faults.yaml (a slow neighbour stub for home, and each
app replica's port published on 127.0.0.1), under a throwaway project name `fault-<hex>`;
its images are tagged with the same name and removed afterwards. The host reaches each
replica on its published loopback port, never on a container address (those are not
reachable from the host on Docker Desktop for macOS and Windows). An address here is
"127.0.0.1:<port>"; it changes when a container is started again.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
from dataclasses import InitVar, dataclass, field
from pathlib import Path

from bookingapp_infra.local.docker import docker
from tests.compose.stack import Stack

FAULTS_FILE = Path(__file__).with_name("compose.faults.yaml")
SERVICES = ("redis", "home", "movie", "slow-neighbour")
BUILT = ("home", "movie")


class FaultStack(Stack):
    """compose.yaml with the fault overlay, started once for the whole fault suite."""

    def __init__(self) -> None:
        super().__init__(overlays=(FAULTS_FILE,), prefix="fault")
        # Built images are tagged with the project name, so down() removes exactly them.
        self.env.update({"DOCKERHUB_NAMESPACE": self.project, "TAG": "test"})

    def down(self) -> None:
        """Remove the project's containers, network, volumes and the images it built."""
        super().down()
        images = [f"{self.project}/bookingapp-{service}:test" for service in BUILT]
        subprocess.run(["docker", "rmi", *images], capture_output=True, check=False)

    def log_lines(self, service: str, text: str) -> list[str]:
        """Return the lines of the service's replicas' logs that contain `text`."""
        lines = []
        for container in self.containers(service):
            result = subprocess.run(
                ["docker", "logs", container["Id"]],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            output = result.stdout + result.stderr
            lines += [line for line in output.splitlines() if text in line]
        return lines

    def counter(self, service: str) -> int:
        """Return the service's hit count as stored in Redis."""
        return int(self.redis_cli("GET", f"bookingapp:{service}:hits") or 0)

    def address(self, container: dict) -> str:
        """Return "127.0.0.1:<port>", where the replica's port 5000 is published on loopback."""
        [binding] = container["NetworkSettings"]["Ports"]["5000/tcp"]
        assert binding["HostIp"] == "127.0.0.1", binding  # never on other interfaces
        return f"127.0.0.1:{binding['HostPort']}"

    def addresses(self, service: str) -> list[str]:
        """Return the addresses of the service's replicas, by replica number."""
        return [self.address(c) for c in self.containers(service)]

    def docker(self, *args: str, timeout: float = 120) -> str:
        """Run a docker command (on this project's containers) and return its stdout."""
        return docker(*args, timeout=timeout).strip()  # a refusal: InfraError, docker's words


@dataclass
class Answer:
    """One request the load generator made."""

    replica: str
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    started: float  # time.monotonic()
    ended: float
    hits: int | None = None
    instance_hits: int | None = None
    problem: str | None = None


@dataclass
class Load:
    """Keep GETting a path on whichever replicas are registered, like a load balancer does.

    Replicas are taken round-robin from the registered targets; `deregister(address)` lets
    its in-flight requests finish and sends no new ones, `register(address)` adds one. Each
    thread keeps one keep-alive connection per replica, as a proxy's connection pool does.
    """

    targets: InitVar[list[str]]  # registered at the start; then register()/deregister()
    path: str = "/movie"
    threads: int = 16
    limit: int | None = None  # stop after this many requests in all
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self, targets: list[str]) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._targets = list(targets)  # guarded by _lock: the workers read it concurrently
        self._turn = 0
        self._workers = [
            threading.Thread(target=self._work, daemon=True) for _ in range(self.threads)
        ]

    def __enter__(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight."""
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def register(self, address: str) -> None:
        """Start sending requests to a replica, as a target group registers a task."""
        with self._lock:
            self._targets.append(address)

    def deregister(self, address: str) -> None:
        """Send a replica no new requests; the ones in flight finish (the ALB's deregistration)."""
        with self._lock:
            self._targets.remove(address)

    def registered(self) -> list[str]:
        """Return the replicas requests go to now."""
        with self._lock:
            return list(self._targets)

    def wait(self, timeout: float = 120) -> None:
        """Wait until `limit` requests were made."""
        for worker in self._workers:
            worker.join(timeout=timeout)

    def _next(self) -> tuple[str | None, list[str]]:
        """Return the replica for the next request (None when done) and who is registered."""
        with self._lock:
            if self._stop.is_set() or (self.limit is not None and self._turn >= self.limit):
                return None, []
            self._turn += 1
            targets = list(self._targets)
        return (targets[self._turn % len(targets)] if targets else ""), targets

    def _work(self) -> None:
        """Send requests until told to stop, recording every answer."""
        connections: dict[str, http.client.HTTPConnection] = {}
        while True:
            replica, registered = self._next()
            if replica is None:
                break
            for gone in set(connections) - set(registered):
                # Deregistered: drain by closing idle pooled connections, as a proxy does.
                connections.pop(gone).close()
            if not replica:
                time.sleep(0.01)  # nobody registered right now
                continue
            answer = request_once(connections, replica, self.path)
            with self._lock:
                self.answers.append(answer)
        for connection in connections.values():
            connection.close()

    def since(self, moment: float) -> list[Answer]:
        """Return the answers to requests that started after `moment` (time.monotonic())."""
        with self._lock:
            return [a for a in self.answers if a.started >= moment]


def latency(answer: Answer) -> float:
    """Return how long a request took."""
    return answer.ended - answer.started


def request_once(
    connections: dict[str, http.client.HTTPConnection], replica: str, path: str
) -> Answer:
    """GET the path as JSON on a pooled connection; never raise, record the failure."""
    started = time.monotonic()
    connection = connections.get(replica)
    if connection is None:
        connection = connections[replica] = http.client.HTTPConnection(replica, timeout=10)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        connection.close()
        del connections[replica]
        problem = f"{type(error).__name__}: {error}"
        return Answer(replica, 0, started, time.monotonic(), problem=problem)
    answer = Answer(replica, response.status, started, time.monotonic())
    if response.status == 200:
        data = json.loads(body)
        answer.hits, answer.instance_hits = data["hits"], data["instance_hits"]
    else:
        # What the service said (its JSON "error"), so a failed assertion shows why.
        answer.problem = _said(body)
    return answer


def _said(body: bytes) -> str:
    """Return the "error" of a JSON error answer, else the start of the body as text."""
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")


def raw_request(address: str, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes as they are (malformed requests too) and return everything answered."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # we are done: the server answers, then closes
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
