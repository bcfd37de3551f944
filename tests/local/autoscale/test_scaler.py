"""The scaler: its loop around the policy on a stand-in stack (a fake clock), then for real.

The stand-in tests cannot prove that docker, compose and Traefik answer as the stand-in
does; the stack run at the end of this module (marked docker) runs the real thing, one run
shared by its tests: the whole compose.yaml (Traefik included) comes up; the scaler starts
with movie's policy made easy to trip (cpu_target 30, max 4, cooldowns of a few seconds, in
a copy of the parameter files) and its timings shortened by options (5 s datapoints; alarms
of 2 and 6 datapoints, scale-in slower as AWS's 15 against 3). Clients put steady load on
/movie through Traefik's published port until movie has scaled out, then the load stops and
a trickle (2 clients pausing 50 ms) keeps asking until movie is back at its minimum. Every
request goes to 127.0.0.1; every loop is bounded in time. What it cannot prove: AWS's own
timings (minutes, not seconds), or that CloudWatch would see the same figures. With
BOOKINGAPP_AUTOSCALE_RECORD=DIR it also writes the run down (record.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import docker
from bookingapp_infra.local.autoscale import scaler as scaling
from bookingapp_infra.local.autoscale.policy import Policy, Timings
from bookingapp_infra.local.autoscale.scaler import ComposeStack, Scaler, releasing
from bookingapp_infra.local.docker import RELEASE, Replica
from bookingapp_infra.local.service_lock import AUTOSCALER, ServiceLock
from bookingapp_infra.params import SERVICES_DIR
from tests.compose.edge import Edge, Traffic, app_log, edge_stack, explain
from tests.compose.stack import APP_SERVICES
from tests.local import fakes
from tests.local.autoscale import record
from tests.support import wait_until

TIMINGS = Timings(
    period=10.0,
    scale_out_datapoints=2,
    scale_in_datapoints=3,
    scale_out_cooldown=30.0,
    scale_in_cooldown=30.0,
)
MOVIE = Policy("movie", target=50.0, min_capacity=2, max_capacity=4, timings=TIMINGS)
HOME = Policy("home", target=50.0, min_capacity=2, max_capacity=4, timings=TIMINGS)


def replica(
    service: str, number: int, image_id: str = "sha256:a", labels: dict | None = None
) -> Replica:
    """Return a running replica of a service whose id is "service-number"."""
    found = fakes.replica(service, number, image_id=image_id, labels=labels)
    return dataclasses.replace(found, id=f"{service}-{number}")


class FakeJob:
    """A compose command the test finishes by hand."""

    def __init__(self) -> None:
        self.outcome: str | None = None
        self.closed = False

    def poll(self) -> str | None:
        """Return what the test set: None (running), "" (done) or an error line."""
        return self.outcome

    def close(self) -> None:
        """Remember it was closed."""
        self.closed = True


@dataclass
class FakeStack:
    """A stack whose replicas, CPU and pool the test sets."""

    replica_counts: dict[str, int]
    load: dict[str, float]
    pool: dict[str, int] = field(default_factory=dict)
    jobs: list[tuple[str, int, FakeJob]] = field(default_factory=list)
    released: set[str] = field(default_factory=set)  # services a release holds (their lock)

    def replicas(self) -> dict[str, list[Replica]]:
        """Return replica_counts replicas of each service."""
        return {s: [replica(s, n) for n in range(n_)] for s, n_ in self.replica_counts.items()}

    def cpu(self, replicas: list[Replica]) -> dict[str, float]:
        """Return each replica at its service's load."""
        return {r.id: self.load[r.service] for r in replicas}

    def in_pool(self, replicas: list[Replica]) -> int:
        """Return the pool size the test set, else every replica."""
        return self.pool.get(replicas[0].service, len(replicas)) if replicas else 0

    def scale(self, replicas: list[Replica], service: str, count: int) -> FakeJob | None:
        """Record the scaling asked for (None while a release holds it); the test finishes it."""
        if service in self.released:
            return None
        job = FakeJob()
        self.jobs.append((service, count, job))
        return job


class Clock:
    """Time that moves only when the scaler sleeps or the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        """Return the time now."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Let time pass."""
        self.now += seconds


def scaler_for(stack: FakeStack, *policies: Policy) -> tuple[Scaler, Clock, list[str]]:
    """Return a scaler on the fake stack, its clock, and the lines it prints."""
    clock, said = Clock(), []
    scaler = Scaler(stack, policies, 2.0, say=said.append, clock=clock, sleep=clock.sleep)
    return scaler, clock, said


def tick(scaler: Scaler, clock: Clock, seconds: float) -> None:
    """Sample and step every 2 s for `seconds`."""
    end = clock.now + seconds
    while clock.now < end:
        scaler.step(scaler.sample())
        clock.sleep(2.0)


def test_sustained_load_starts_a_scale_out_of_that_service_only():
    stack = FakeStack({"movie": 2, "home": 2}, {"movie": 90.0, "home": 10.0})
    scaler, clock, said = scaler_for(stack, MOVIE, HOME)
    tick(scaler, clock, 30.0)
    assert [(s, n) for s, n, _ in stack.jobs] == [("movie", 4)]
    assert any("movie: cpu 90.0% (target 50%) 2 replicas: 2 -> 4 (scale out)" in s for s in said)


def test_each_policy_is_evaluated_once_per_period_not_per_sample():
    """15 samples over 30 s, three 10 s periods: home prints at most one line per period."""
    stack = FakeStack({"home": 2}, {"home": 10.0})
    scaler, clock, said = scaler_for(stack, HOME)
    tick(scaler, clock, 30.0)
    assert 1 <= len(said) <= 3


def test_new_replicas_count_only_once_compose_is_done_and_traefik_has_them_up():
    stack = FakeStack({"movie": 2}, {"movie": 90.0})
    scaler, clock, said = scaler_for(stack, MOVIE)
    tick(scaler, clock, 30.0)
    (_, _, job) = stack.jobs[0]
    stack.replica_counts["movie"] = 4
    stack.pool["movie"] = 2  # started, not yet in the pool
    job.outcome = ""
    tick(scaler, clock, 10.0)
    assert scaler.busy
    assert scaler.states["movie"].history.last_scale_out is None
    stack.pool["movie"] = 4
    tick(scaler, clock, 2.0)
    assert not scaler.busy
    assert job.closed
    assert scaler.states["movie"].history.last_scale_out is not None
    assert said[-1].startswith("movie: 4 replicas, all in Traefik's pool after")


def test_a_failed_compose_command_is_reported_and_the_scaler_decides_again():
    stack = FakeStack({"movie": 2}, {"movie": 90.0})
    scaler, clock, said = scaler_for(stack, MOVIE)
    tick(scaler, clock, 30.0)
    stack.jobs[0][2].outcome = "service movie: no such image"
    tick(scaler, clock, 2.0)
    assert "movie: scaling to 4 failed: service movie: no such image" in said
    assert not scaler.busy


def test_a_release_holding_the_service_makes_the_policy_hold_without_a_cooldown():
    """The release took the lock before its replicas showed: hold, then scale once it is done."""
    stack = FakeStack({"movie": 2}, {"movie": 90.0}, released={"movie"})
    scaler, clock, said = scaler_for(stack, MOVIE)
    tick(scaler, clock, 30.0)
    assert stack.jobs == []
    assert not scaler.busy
    assert said[-1] == "movie: cpu 90.0% (target 50%) 2 replicas: hold: a release is in progress"
    assert scaler.states["movie"].history.last_scale_out is None  # no cooldown from a hold
    stack.released.clear()
    tick(scaler, clock, 10.0)
    assert [(s, n) for s, n, _ in stack.jobs] == [("movie", 4)]


def test_a_service_running_two_images_is_not_scaled():
    """Mid-release (old and new image side by side) the policy holds, whatever the CPU."""
    stack = FakeStack({"movie": 2}, {"movie": 90.0})
    two_images = [replica("movie", 0, "sha256:old"), replica("movie", 1, "sha256:new")]
    stack.replicas = lambda: {"movie": two_images}
    scaler, clock, said = scaler_for(stack, MOVIE)
    tick(scaler, clock, 40.0)
    assert stack.jobs == []
    assert "a release is in progress" in said[-1]


def test_releasing_means_more_than_one_image_among_the_replicas():
    assert releasing([replica("movie", 0, "sha256:a"), replica("movie", 1, "sha256:b")])
    assert not releasing([replica("movie", 0), replica("movie", 1)])
    assert not releasing([])


def test_a_release_of_the_very_same_image_is_a_release_too():
    """The release label tells old from new where the image cannot (a re-release, a rollback)."""
    old = replica("movie", 0, labels={RELEASE: "movie-1"})
    new = replica("movie", 1, labels={RELEASE: "movie-2"})
    assert releasing([old, new])
    assert not releasing([new, replica("movie", 2, labels={RELEASE: "movie-2"})])
    # Replicas from plain `docker compose up` have no label: one release among themselves.
    assert not releasing([replica("movie", 0), replica("movie", 1, labels={RELEASE: ""})])


def test_a_new_tag_of_the_same_build_is_a_release_too():
    old, new = replica("movie", 0), replica("movie", 1)
    new = dataclasses.replace(new, image="bookingapp/bookingapp-movie:v8")
    assert releasing([old, new])


def test_once_collects_the_longest_alarm_window_then_decides_and_finishes():
    """--once: 3 periods of 10 s (AlarmLow's window here), one decision, its activity done."""
    stack = FakeStack({"movie": 2}, {"movie": 90.0})
    scaler, clock, said = scaler_for(stack, MOVIE)
    started = clock.now

    def complete(seconds: float) -> None:
        """Advance time; once compose was started, finish it and put the replicas in the pool."""
        clock.now += seconds
        if stack.jobs:
            stack.replica_counts["movie"] = stack.jobs[0][1]
            stack.jobs[0][2].outcome = ""

    scaler.sleep = complete
    scaler.run(once=True)
    assert said[0] == "collecting 30 s of CPU datapoints before deciding once"
    assert [(s, n) for s, n, _ in stack.jobs] == [("movie", 4)]
    assert not scaler.busy
    assert clock.now - started >= 30.0


# --- the Docker side, with the docker CLI answered by the test --------------------------------


def answering(monkeypatch, answers: dict[str, str]) -> list[list[str]]:
    """Make docker.run answer each docker verb with canned stdout; return the calls."""
    calls = []

    def run(args, timeout=120):
        calls.append(list(args))
        return subprocess.CompletedProcess(args, 0, answers[args[0]], "")

    monkeypatch.setattr(docker, "run", run)
    return calls


def test_cpu_is_relative_to_the_compose_limit(monkeypatch):
    """`docker stats` at 25 % (a quarter of one CPU) is 50 % of a 0.5 CPU limit."""
    rows = [{"ID": "movie-0", "CPUPerc": "25.00%"}, {"ID": "movie-1", "CPUPerc": "--"}]
    answering(
        monkeypatch,
        {
            "inspect": "movie-0 500000000\nmovie-1 500000000\n",
            "stats": "\n".join(map(json.dumps, rows)),
        },
    )
    cpu = ComposeStack("p").cpu([replica("movie", 0), replica("movie", 1)])
    assert cpu == {"movie-0": 50.0, "movie-1": 0.0}


def test_cpu_limits_are_asked_once_per_container(monkeypatch):
    calls = answering(monkeypatch, {"inspect": "movie-0 500000000\n"})
    stack = ComposeStack("p")
    assert stack.limits([replica("movie", 0)]) == {"movie-0": 0.5}
    assert stack.limits([replica("movie", 0)]) == {"movie-0": 0.5}
    assert len(calls) == 1


def test_a_replica_without_a_cpu_limit_is_measured_against_every_cpu(monkeypatch):
    answering(monkeypatch, {"inspect": "movie-0 0\n"})
    monkeypatch.setattr(scaling.os, "cpu_count", lambda: 4)
    assert ComposeStack("p").limits([replica("movie", 0)]) == {"movie-0": 4.0}


def test_a_stack_that_is_not_up_is_refused_with_how_to_start_it(monkeypatch):
    monkeypatch.setattr(docker, "replicas", lambda project, service=None: [])
    with pytest.raises(InputError, match=r"project 'nothing-here' is not up: start the stack"):
        ComposeStack("nothing-here").replicas()


@pytest.fixture
def up_stack(monkeypatch, tmp_path) -> list[str]:
    """A project "demo" whose movie runs, locks in tmp_path; return what autoscale says."""
    monkeypatch.setattr(docker, "replicas", lambda project, service=None: [replica("movie", 1)])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where lock_dir() puts the locks
    return []


def test_a_second_autoscaler_on_the_same_stack_is_refused_naming_the_first(up_stack):
    """Two would set one service's count in turn: the second says who runs, does nothing."""
    first = ServiceLock("demo", AUTOSCALER)
    assert first.try_acquire("bookingapp-local autoscale")
    with pytest.raises(InfraError) as refused:
        scaling.autoscale("demo", None, {}, once=True, say=up_stack.append)
    assert str(refused.value) == (
        f"an autoscaler already runs on project 'demo' (bookingapp-local autoscale (pid "
        f"{os.getpid()})): one per stack, as ECS has one scalable target per service; "
        "stop that one first"
    )
    assert up_stack == []  # not one policy described, not one sample taken
    first.release()


def test_an_autoscaler_holds_its_stack_while_it_runs_and_lets_go_after(up_stack, monkeypatch):
    """Held from the first sample to the end, however the run ends (here: it raises)."""
    held_while_running = []

    def run(self, once):
        held_while_running.append(not ServiceLock("demo", AUTOSCALER).try_acquire("probe"))
        raise InfraError("the run failed")

    monkeypatch.setattr(Scaler, "run", run)
    with pytest.raises(InfraError, match="the run failed"):
        scaling.autoscale("demo", None, {}, once=True, say=up_stack.append)
    assert held_while_running == [True]
    assert ServiceLock("demo", AUTOSCALER).try_acquire("next scaler")
    assert ServiceLock("other", AUTOSCALER).try_acquire("another stack's scaler")


def test_a_stack_that_is_not_up_is_refused_before_any_lock_file_is_made(monkeypatch, tmp_path):
    """A mistyped --project never names a file: the not-up answer comes first."""
    monkeypatch.setattr(docker, "replicas", lambda project, service=None: [])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(InputError, match=r"project 'nothing-here' is not up"):
        scaling.autoscale("nothing-here", None, {}, once=True, say=print)
    assert list(tmp_path.iterdir()) == []


def test_a_service_with_no_replica_running_is_left_alone_and_said_once():
    """Someone stopped every movie replica: nothing to copy, so no compose call, one line."""
    stack = FakeStack({"movie": 0}, {"movie": 0.0})
    scaler, clock, said = scaler_for(stack, MOVIE)
    tick(scaler, clock, 40.0)
    assert stack.jobs == []
    assert said == ["movie: no replica runs; start it again to have it scaled"]


def test_a_failed_scaling_starts_no_cooldown():
    stack = FakeStack({"movie": 2}, {"movie": 90.0})
    scaler, clock, _ = scaler_for(stack, MOVIE)
    tick(scaler, clock, 30.0)
    stack.jobs[0][2].outcome = "no such image"
    tick(scaler, clock, 2.0)
    assert stack.jobs[0][2].closed
    assert scaler.states["movie"].history.last_scale_out is None


def test_once_fails_when_the_scaling_it_decided_failed():
    """--once is for scripts: a decision that could not be carried out is exit 1, not 0."""
    stack = FakeStack({"movie": 2}, {"movie": 90.0})
    scaler, clock, said = scaler_for(stack, MOVIE)

    def fail(seconds: float) -> None:
        """Advance time; once compose was started, let it fail as compose does."""
        clock.now += seconds
        if stack.jobs:
            stack.jobs[0][2].outcome = "open /tmp/x/overlay.json: no such file or directory"

    scaler.sleep = fail
    with pytest.raises(InfraError) as failed:
        scaler.run(once=True)
    assert str(failed.value) == (
        "movie: scaling to 4 failed: open /tmp/x/overlay.json: no such file or directory"
    )
    assert failed.value.exit_code == 1
    assert str(failed.value) in said


def test_once_fails_when_the_new_replicas_never_reach_the_pool():
    stack = FakeStack({"movie": 2}, {"movie": 90.0}, pool={"movie": 2})
    scaler, clock, _ = scaler_for(stack, MOVIE)

    def started(seconds: float) -> None:
        """Advance time; compose is done at once, but Traefik never has the new replicas UP."""
        clock.now += seconds
        if stack.jobs:
            stack.replica_counts["movie"] = 4
            stack.jobs[0][2].outcome = ""

    scaler.sleep = started
    with pytest.raises(InfraError, match=r"^movie: not 4 replicas in the pool after \d+ s$"):
        scaler.run(once=True)


# --- the real stack (docker) ------------------------------------------------------------------

# movie's policy for this run: low enough that host clients push it over, high enough that
# health checks alone (about 5-15 % of a 0.5 CPU limit on a busy host) stay under 90 % of it.
MOVIE_SCALING = """[autoscaling]
min_capacity = 2
max_capacity = 4
cpu_target = 30
scale_out_cooldown = 5
scale_in_cooldown = 5
"""
SCALER_OPTIONS = (
    "--period", "5", "--scale-out-datapoints", "2", "--scale-in-datapoints", "6",
    "--sample-interval", "1",
)  # fmt: skip
LOAD_CLIENTS = 12
LOAD_LIMIT = 240.0  # seconds of load at most, waiting for the scale-out
SCALE_IN_LIMIT = 240.0  # seconds at most, after the load, to be back at min_capacity
RECORD = os.environ.get("BOOKINGAPP_AUTOSCALE_RECORD")  # a directory: write the run down


def params_dir(directory: Path) -> Path:
    """Copy the committed parameter files, movie's [autoscaling] replaced by MOVIE_SCALING."""
    for path in SERVICES_DIR.glob("*.toml"):
        text = path.read_text()
        if path.stem == "movie":
            head, _, tail = text.partition("[autoscaling]")
            text = head + MOVIE_SCALING + "\n" + tail[tail.index("[environment]") :]
        (directory / path.name).write_text(text)
    return directory


@dataclass
class Run:
    """What one scaling run recorded."""

    counts: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    started: float = 0.0
    load_started: float = 0.0
    load_stopped: float = 0.0
    hits_before: int = 0
    hits_after: int = 0
    traffic: list[Traffic] = field(default_factory=list)
    output: str = ""
    exit_code: int | None = None
    once: subprocess.CompletedProcess | None = None
    release: subprocess.CompletedProcess | None = None
    release_started: float = float("inf")
    explained: list[str] = field(default_factory=list)  # movie's log lines of failed answers

    def scaled(self) -> list[tuple[float, dict[str, int]]]:
        """Return the counts up to the release, which replaces replicas by itself."""
        return [(t, c) for t, c in self.counts if t < self.release_started]

    def peak(self, service: str) -> int:
        """Return the most replicas the service had before the release."""
        return max(c[service] for _, c in self.scaled())

    def seen(self, service: str) -> set[int]:
        """Return every replica count the service had."""
        return {c[service] for _, c in self.counts}


class Watcher:
    """Records each service's replica count every second, in a thread."""

    def __init__(self, edge: Edge, run: Run) -> None:
        self.edge, self.run = edge, run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def counts(self) -> dict[str, int]:
        """Return the running replicas of each app service now."""
        return {s: len(self.edge.replicas(s)) for s in APP_SERVICES}

    def _watch(self) -> None:
        """Append (time, counts) every second until stopped."""
        while not self._stop.is_set():
            self.run.counts.append((time.monotonic(), self.counts()))
            self._stop.wait(1.0)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def scaling_run(tmp_path_factory) -> Run:
    """Bring the stack up, run the scaler through a load and its end, and record it all."""
    log = tmp_path_factory.mktemp("autoscale") / "scaler.log"
    params = params_dir(tmp_path_factory.mktemp("params"))
    run = Run()
    with edge_stack() as edge:
        command = [
            sys.executable, "-m", "bookingapp_infra.local.cli", "autoscale",
            "--project", edge.stack.project, "--services-dir", str(params), *SCALER_OPTIONS,
        ]  # fmt: skip
        run.hits_before = hits(edge, "movie")
        # First --once on the idle stack: it collects what both alarms need, decides, exits.
        once = [*command, "--once", "--period", "2", "--scale-in-datapoints", "2"]
        run.once = subprocess.run(once, capture_output=True, text=True, timeout=120, check=False)
        app_lines = log.with_name("movie.log")
        with log.open("w") as out, app_log(edge, "movie", app_lines), Watcher(edge, run) as watcher:
            run.started = time.monotonic()
            scaler = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            try:
                drive(run, watcher, edge)
            finally:
                scaler.send_signal(signal.SIGINT)
                try:
                    run.exit_code = scaler.wait(timeout=240)
                except subprocess.TimeoutExpired:
                    scaler.kill()
        run.hits_after = hits(edge, "movie")
        run.output = log.read_text()
        run.explained = explain(app_lines, *run.traffic)
        if RECORD:
            write_record(run, edge, Path(RECORD))
    return run


def write_record(run: Run, edge: Edge, directory: Path) -> None:
    """Write the run down for docs/benchmark.md, with Traefik's log beside it."""
    answers = [a for t in run.traffic for a in t.answers]
    record.write(record.record(run, answers, run.started), directory)
    traefik_log = edge.stack.compose("logs", "--no-color", "--timestamps", "traefik")
    (directory / "traefik.log").write_text(traefik_log)


def hits(edge: Edge, service: str, timeout: float = 60) -> int:
    """Return the service's hit count, asking again while a busy host makes it time out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return edge.hits(service)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def in_pool(edge: Edge, service: str) -> int:
    """Return how many of the service's servers Traefik has UP."""
    return sum(1 for status in edge.pool(service).values() if status == "UP")


def drive(run: Run, watcher: Watcher, edge: Edge) -> None:
    """Load /movie until it has scaled out, then a trickle of requests until it is back at 2."""
    # Paced clients run throughout: light enough that movie, once idle, goes back to min.
    with Traffic(edge.port, "/movie", clients=2) as steady:
        run.traffic.append(steady)
        time.sleep(15)  # a quiet start: every policy holds
        run.load_started = time.monotonic()
        # Unpaced: this load is what drives movie's CPU past the target.
        with Traffic(edge.port, "/movie", clients=LOAD_CLIENTS, pause=0) as load:
            run.traffic.append(load)
            wait_until(
                lambda: watcher.counts()["movie"] >= 3 and in_pool(edge, "movie") >= 3,
                LOAD_LIMIT,
                "not yet: movie scaled out under load, its new replicas UP in Traefik",
                interval=1.0,
            )
            time.sleep(20)  # more load, shorter than the scale-in alarm: room to grow further
        run.load_stopped = time.monotonic()
        wait_until(
            lambda: watcher.counts()["movie"] == 2 and in_pool(edge, "movie") == 2,
            SCALE_IN_LIMIT,
            "not yet: movie back at min_capacity after the load",
            interval=1.0,
        )
        time.sleep(5)  # the last drained replica is gone; requests still flow
        run.release_started = time.monotonic()
        run.release = release(edge)
        time.sleep(6)  # a period after it: the scaler sees one image again


def release(edge: Edge) -> subprocess.CompletedProcess:
    """Release movie onto a new tag of its image with `bookingapp-local release`, untag it after."""
    tag = f"bookingapp-autoscale-test/movie:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "tag", edge.replicas("movie")[0].image, tag], check=True)
    try:
        return subprocess.run(
            [sys.executable, "-m", "bookingapp_infra.local.cli", "release", "movie",
             "--image", tag, "--project", edge.stack.project],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        # Only the tag goes: the image keeps its original name, which the stack also uses.
        subprocess.run(["docker", "rmi", tag], capture_output=True, check=False)


@pytest.mark.docker
@pytest.mark.traefik
def test_steady_load_on_movie_scales_it_out_from_2_towards_its_max(scaling_run):
    assert scaling_run.counts[0][1]["movie"] == 2
    assert 3 <= scaling_run.peak("movie") <= 4, scaling_run.output


@pytest.mark.docker
@pytest.mark.traefik
def test_the_services_without_load_stay_at_their_count(scaling_run):
    for service in ("home", "bus"):
        assert scaling_run.seen(service) == {2}, scaling_run.output


@pytest.mark.docker
@pytest.mark.traefik
def test_after_the_load_stops_movie_shrinks_back_to_its_min(scaling_run):
    after = [c["movie"] for t, c in scaling_run.scaled() if t > scaling_run.load_stopped]
    assert after[-1] == 2
    assert min(after) == 2  # never below min_capacity
    # One replica at a time: from the peak down, each count is one less than the one before.
    changes = [after[0], *(b for a, b in itertools.pairwise(after) if b != a)]
    down = changes[changes.index(max(changes)) :]
    assert all(b == a - 1 for a, b in itertools.pairwise(down)), changes


@pytest.mark.docker
@pytest.mark.traefik
def test_no_request_fails_through_the_listener_during_the_whole_run(scaling_run):
    """Every answer a 200, and movie's counter moved by exactly the number of requests."""
    steady, load = scaling_run.traffic
    assert steady.failures() == Counter(), (steady.failures(), scaling_run.explained)
    assert load.failures() == Counter(), (load.failures(), scaling_run.explained)
    assert len(load.answers) > 1000
    hits = sorted(a.hits for t in scaling_run.traffic for a in t.answers)
    assert hits == list(range(scaling_run.hits_before + 1, scaling_run.hits_after + 1))


@pytest.mark.docker
@pytest.mark.traefik
def test_each_decision_is_printed_with_service_metric_target_counts_and_why(scaling_run):
    out = scaling_run.output
    assert "movie: target 30% CPU, 2..4 replicas" in out
    assert "(target 30%) 2 replicas: 2 -> " in out
    assert "(scale out): above target for 2 datapoints" in out
    assert "(scale in): below 90% of target for 6 datapoints" in out
    assert "all in Traefik's pool after" in out


@pytest.mark.docker
@pytest.mark.traefik
def test_a_service_being_released_is_not_scaled_meanwhile(scaling_run):
    """`bookingapp-local release movie` while the scaler runs: the policy holds throughout."""
    assert scaling_run.release.returncode == 0, scaling_run.release.stderr
    lines = scaling_run.output.splitlines()
    held = [i for i, line in enumerate(lines) if line.endswith("hold: a release is in progress")]
    assert held, scaling_run.output
    assert all(lines[i].split(" ", 1)[1].startswith("movie: ") for i in held)
    assert not any(" -> " in line for line in lines[held[0] :])


@pytest.mark.docker
@pytest.mark.traefik
def test_once_decides_once_on_the_idle_stack_and_exits_0(scaling_run):
    """--once: 2 datapoints of 2 s, one hold per service (at min_capacity), exit 0."""
    once = scaling_run.once
    assert once.returncode == 0, once.stderr
    assert "collecting 4 s of CPU datapoints before deciding once" in once.stdout
    for service in APP_SERVICES:
        assert f"{service}: cpu " in once.stdout
        assert f"{service}: target " in once.stdout
    assert " -> " not in once.stdout


@pytest.mark.docker
@pytest.mark.traefik
def test_the_scaler_stops_cleanly_on_ctrl_c(scaling_run):
    assert scaling_run.exit_code == 130
    assert any(line.endswith(" stopped") for line in scaling_run.output.splitlines())
    assert "Traceback" not in scaling_run.output


@pytest.mark.docker
@pytest.mark.traefik
def test_a_stack_that_is_not_up_is_a_clear_error():
    """No such compose project: one line saying so, exit 2, nothing else tried."""
    result = subprocess.run(
        [sys.executable, "-m", "bookingapp_infra.local.cli", "autoscale",
         "--project", f"not-up-{os.getpid()}", "--once"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("bookingapp-local: error: project 'not-up-")
    assert "is not up" in result.stderr
    assert result.stderr.count("\n") == 1
