"""The scaler's loop around the policy, against a stand-in stack: no Docker, a fake clock.

What these cannot prove: that docker, compose and Traefik answer as the stand-in does;
tests/local/test_autoscale_stack.py runs the real thing.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bookingapp_infra.errors import InputError
from bookingapp_infra.local import autoscale, compose
from bookingapp_infra.local.autoscale import ComposeStack, Scaler, releasing
from bookingapp_infra.local.compose import RELEASE, Replica, settings_for_new
from bookingapp_infra.local.policy import Policy, Timings

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
    """Return a running replica of a service, as compose.replicas() describes one."""
    return Replica(
        id=f"{service}-{number}",
        name=f"p-{service}-{number}",
        service=service,
        number=number,
        image=f"bookingapp/bookingapp-{service}:v7",
        image_id=image_id,
        hostname=f"h{number}",
        health="healthy",
        addresses=(f"10.0.0.{number}",),
        labels=labels or {},
        ports={},
    )


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

    def replicas(self) -> dict[str, list[Replica]]:
        """Return replica_counts replicas of each service."""
        return {s: [replica(s, n) for n in range(n_)] for s, n_ in self.replica_counts.items()}

    def cpu(self, replicas: list[Replica]) -> dict[str, float]:
        """Return each replica at its service's load."""
        return {r.id: self.load[r.service] for r in replicas}

    def in_pool(self, replicas: list[Replica]) -> int:
        """Return the pool size the test set, else every replica."""
        return self.pool.get(replicas[0].service, len(replicas)) if replicas else 0

    def scale(self, replicas: list[Replica], service: str, count: int) -> FakeJob:
        """Record the scaling asked for; the test finishes its job."""
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


def test_new_replicas_belong_to_the_release_of_the_ones_they_join():
    """The scaler's new replicas take the running image and release; a release names its own."""
    running = replica("movie", 0, labels={RELEASE: "movie-7"})
    assert settings_for_new(running) == {"image": running.image, "labels": {RELEASE: "movie-7"}}
    assert settings_for_new(replica("movie", 0)) == {
        "image": "bookingapp/bookingapp-movie:v7",
        "labels": {RELEASE: ""},
    }
    assert settings_for_new(running, "bookingapp/bookingapp-movie:v8", "movie-8") == {
        "image": "bookingapp/bookingapp-movie:v8",
        "labels": {RELEASE: "movie-8"},
    }


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
    """Make compose.run answer each docker verb with canned stdout; return the calls."""
    calls = []

    def run(args, timeout=120):
        calls.append(list(args))
        return subprocess.CompletedProcess(args, 0, answers[args[0]], "")

    monkeypatch.setattr(compose, "run", run)
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
    monkeypatch.setattr(autoscale.os, "cpu_count", lambda: 4)
    assert ComposeStack("p").limits([replica("movie", 0)]) == {"movie-0": 4.0}


def test_a_stack_that_is_not_up_is_refused_with_how_to_start_it(monkeypatch):
    monkeypatch.setattr(compose, "replicas", lambda project, service=None: [])
    with pytest.raises(InputError, match=r"project 'nothing-here' is not up: start the stack"):
        ComposeStack("nothing-here").replicas()


def test_scaling_runs_compose_with_the_projects_files_and_pins_the_running_image_and_release(
    monkeypatch,
):
    started = {}

    class Recorder:
        """Stands in for Popen: remembers the command and the overlay it names."""

        def __init__(self, command, **kwargs):
            overlay = command[command.index("--project-directory") + 5]
            started.update(command=command, kwargs=kwargs, overlay=Path(overlay).read_text())

    monkeypatch.setattr(autoscale.subprocess, "Popen", Recorder)
    labels = {
        compose.PROJECT: "demo",
        compose.CONFIG_FILES: "/src/compose.yaml",
        compose.WORKING_DIR: "/src",
        RELEASE: "movie-41",
    }
    job = ComposeStack("demo").scale([replica("movie", 1, labels=labels)], "movie", 3)
    command = started["command"]
    assert command[:9] == [
        "docker", "compose", "-p", "demo", "--project-directory", "/src",
        "-f", "/src/compose.yaml", "-f",
    ]  # fmt: skip
    assert command[10:] == [
        "up", "--detach", "--no-recreate", "--no-deps", "--no-build", "--pull", "never",
        "--scale", "movie=3", "movie",
    ]  # fmt: skip
    assert json.loads(started["overlay"]) == {
        "services": {
            "movie": {"image": "bookingapp/bookingapp-movie:v7", "labels": {RELEASE: "movie-41"}}
        }
    }
    assert started["kwargs"]["start_new_session"] is True
    job.close()


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
