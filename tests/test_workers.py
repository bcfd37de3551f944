"""Which tests share a worker (tests/conftest.py): Docker tests in streams, the rest by module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

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


def test_docker_tests_of_the_local_control_plane_share_their_own_stream():
    """Traffic-shifting releases, autoscaling, journeys: one stream, apart from the others."""
    groups = {
        group(path, "docker")
        for path in (
            "tests/local/strategies/test_blue_green.py",
            "tests/local/strategies/test_traffic_shift.py",
            "tests/local/autoscale/test_scaler.py",
            "tests/local/test_journeys.py",
        )
    }
    assert groups == {"docker-local"}


def test_every_other_docker_test_shares_the_default_stream():
    """Unit tests with a container Redis, compose, faults, the rolling release: one stream."""
    groups = {
        group(path, "docker")
        for path in (
            "tests/local/strategies/test_rolling.py",  # named in tests/local's place, to balance
            "tests/local/strategies/test_release.py",
            "tests/unit/test_stalls.py",
            "tests/compose/test_traefik.py",
            "tests/faults/test_outage.py",
        )
    }
    assert groups == {conftest.DOCKER_STREAM}


def test_a_test_without_docker_is_grouped_by_its_module_even_beside_docker_tests():
    """Not a stream: a module's tests go to whichever worker is free, together."""
    assert group("tests/local/strategies/test_state.py") == "tests/local/strategies/test_state.py"


def test_auto_starts_a_worker_per_stream_and_one_more_even_on_two_cores(monkeypatch):
    """`-n auto` on a 2-core laptop runs both streams side by side, the other tests beside them."""
    monkeypatch.setattr(conftest.os, "cpu_count", lambda: 2)
    streams = {*conftest.DOCKER_STREAMS.values(), conftest.DOCKER_STREAM}
    assert len(streams) == 2
    assert conftest.pytest_xdist_auto_num_workers(pytest.Config) == len(streams) + 1 == 3
    monkeypatch.setattr(conftest.os, "cpu_count", lambda: 16)
    assert conftest.pytest_xdist_auto_num_workers(pytest.Config) == 16
