"""Which tests share a worker (tests/conftest.py): Docker tests in streams, the rest by module."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from xdist.scheduler import LoadGroupScheduling

from tests import conftest
from tests.support import ROOT


@dataclass
class Config:
    """What worker_group reads of pytest's config."""

    rootpath: Path = ROOT


@dataclass
class Item:
    """A collected test, as far as worker_group looks at it."""

    path: Path
    markers: set[str] = field(default_factory=set)
    config: Config = field(default_factory=Config)

    def get_closest_marker(self, name: str) -> object | None:
        """Return something truthy for a marker the test carries."""
        return name if name in self.markers else None


def group(relative: str, *markers: str) -> str:
    """Return the worker group of a test in this file of the repository."""
    return conftest.worker_group(Item(ROOT / relative, set(markers)))


def test_docker_tests_of_the_releases_share_their_own_stream():
    """Rolling, blue/green, linear and canary: one stream, apart from the other Docker tests."""
    groups = {
        group(path, "docker")
        for path in (
            "tests/local/strategies/test_rolling.py",
            "tests/local/strategies/test_blue_green.py",
            "tests/local/strategies/test_traffic_shift.py",
        )
    }
    assert groups == {"docker-releases"}


def test_the_autoscaler_the_journeys_and_the_readme_share_the_local_stream():
    """The rest of the control plane's Docker tests: the two CPU-driven scaler runs never overlap."""
    groups = {
        group(path, "docker")
        for path in (
            "tests/local/autoscale/test_scaler.py",
            "tests/local/test_journeys.py",
            "tests/test_readme.py",
        )
    }
    assert groups == {"docker-local"}


def test_every_other_docker_test_shares_the_default_stream():
    """Unit tests with a container Redis, the compose and fault suites: one stream."""
    groups = {
        group(path, "docker")
        for path in (
            "tests/unit/test_stalls.py",
            "tests/compose/test_traefik.py",
            "tests/faults/test_outage.py",
        )
    }
    assert groups == {conftest.DOCKER_STREAM}


def test_a_test_without_docker_is_grouped_by_its_module_even_beside_docker_tests():
    """Not a stream: a module's tests go to whichever worker is free, together."""
    assert group("tests/local/strategies/test_state.py") == "tests/local/strategies/test_state.py"


def test_auto_starts_a_worker_per_stream_even_on_two_cores_and_one_per_core_on_more(monkeypatch):
    """`-n auto` on a 2-core laptop still runs every stream side by side."""
    monkeypatch.setattr(conftest.os, "cpu_count", lambda: 2)
    streams = {*conftest.DOCKER_STREAMS.values(), conftest.DOCKER_STREAM}
    assert conftest.pytest_xdist_auto_num_workers(pytest.Config) == len(streams) == 3
    monkeypatch.setattr(conftest.os, "cpu_count", lambda: 16)
    assert conftest.pytest_xdist_auto_num_workers(pytest.Config) == 16


class Worker:
    """What xdist's scheduler asks of a worker: an id, work to run, shutdown."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        """Take the tests at these indices of the collection."""
        self.sent.extend(indices)

    def shutdown(self) -> None:
        """Stop once the work sent is done."""
        self.shutting_down = True


class SchedulerConfig:
    """What xdist's scheduler reads of pytest's config: the workers, and this suite's order."""

    def __init__(self, workers: int, suite: pytest.Config) -> None:
        self.workers = workers
        self.option = SimpleNamespace(loadscopereorder=suite.option.loadscopereorder)

    def getvalue(self, name: str) -> list[str]:
        """Answer --tx, as `-n N` sets it."""
        assert name == "tx"
        return [f"{self.workers}*popen"]


def test_each_docker_stream_starts_at_once_on_a_worker_of_its_own(pytestconfig):
    """The xdist scheduler, with this suite's options, on three workers and a suite like ours.

    The local stream has few tests and the modules without Docker many: ordered by their
    number of tests (xdist's default), the local stream waited behind a dozen modules.
    """
    modules = [
        ("tests/compose/test_traefik.py", {"docker"}, 120),
        ("tests/infra/test_templates.py", set(), 109),
        ("tests/infra/test_cli.py", set(), 32),
        ("tests/local/autoscale/test_policy.py", set(), 41),
        ("tests/local/test_journeys.py", {"docker"}, 4),
        ("tests/local/strategies/test_blue_green.py", {"docker"}, 6),
        ("tests/local/strategies/test_rolling.py", {"docker"}, 4),
        ("tests/unit/test_counter_edges.py", set(), 33),
    ]
    items = [Item(ROOT / path, markers) for path, markers, count in modules for _ in range(count)]
    ordered = conftest.streams_first(items)  # type: ignore[arg-type]
    collection = [
        f"{item.path.relative_to(ROOT)}::test_{n}@{conftest.worker_group(item)}"
        for n, item in enumerate(ordered)
    ]
    scheduler = LoadGroupScheduling(SchedulerConfig(3, pytestconfig))  # type: ignore[arg-type]
    workers = [Worker(f"gw{n}") for n in range(3)]
    for worker in workers:
        scheduler.add_node(worker)  # type: ignore[arg-type]
        scheduler.add_node_collection(worker, collection)  # type: ignore[arg-type]
    scheduler.schedule()
    sent = [{collection[i].rsplit("@", 1)[1] for i in worker.sent} for worker in workers]
    streams = {conftest.DOCKER_STREAM, *conftest.DOCKER_STREAMS.values()}
    assert sorted(sent, key=sorted) == [{stream} for stream in sorted(streams)]  # nothing else


def test_the_test_processes_and_their_commands_yield_the_cpu_to_the_stack():
    """The worker, and a command it runs, are at NICE or lower priority (tests/conftest.py)."""
    assert os.getpriority(os.PRIO_PROCESS, 0) >= conftest.NICE
    child = subprocess.run(["nice"], capture_output=True, text=True, check=True)
    assert int(child.stdout) >= conftest.NICE
