"""`status`: a header row, one row per running replica, and releases by what still runs (no Docker).

The columns on a real stack are checked by the journeys (tests/local/test_journeys.py).
"""

from __future__ import annotations

import pytest

from bookingapp_infra.local import status
from bookingapp_infra.local.strategies import state as st
from tests.local.fakes import replica, traefik_labels


class FakeTraefik:
    """Traefik's API as status reads it: home's pool with the first replica UP."""

    def pool(self, service: str, provider: str = "docker") -> dict[str, str]:
        """Return home's pool: 10.0.0.1 UP, 10.0.0.2 DOWN."""
        return {"http://10.0.0.1:5000": "UP", "http://10.0.0.2:5000": "DOWN"}


@pytest.fixture
def stack(monkeypatch) -> list:
    """Two home replicas and redis running; Traefik answers; no release recorded."""
    running = [
        replica("home", 1, labels=traefik_labels("home")),
        replica("home", 2, labels=traefik_labels("home"), health="unhealthy"),
        replica("home", 3, labels=traefik_labels("home"), address="10.0.0.9"),
        replica("redis", 1),
    ]
    monkeypatch.setattr(status.docker, "replicas", lambda project, service=None: [
        r for r in running if service in (None, r.service)
    ])  # fmt: skip
    monkeypatch.setattr(status.Traefik, "of", classmethod(lambda cls, project: FakeTraefik()))
    monkeypatch.setattr(status.traffic_shift, "recorded", lambda project, service: None)
    return running


def test_status_starts_with_a_header_row_and_lines_up_its_columns(stack):
    said: list[str] = []
    status.status("demo", said.append)
    assert said[0].split() == ["SERVICE", "REPLICA", "IMAGE", "HEALTH", "POOL"]
    rows = [line.split(maxsplit=4) for line in said[1:]]
    assert rows == [
        ["home", "p-home-1", "bookingapp/bookingapp-home:v7", "healthy", "UP"],
        ["home", "p-home-2", "bookingapp/bookingapp-home:v7", "unhealthy", "DOWN"],
        ["home", "p-home-3", "bookingapp/bookingapp-home:v7", "healthy", "not in pool"],
        ["redis", "p-redis-1", "bookingapp/bookingapp-redis:v7", "healthy", "-"],
    ]
    assert len({line.index("p-") for line in said[1:]}) == 1  # one column start for names


def test_status_names_a_release_in_progress_after_the_table(stack, monkeypatch):
    underway = st.Release(
        "home", "img:2", "demo", 0.0, True, stage=st.Stage.POST_TEST_TRAFFIC_SHIFT
    )
    monkeypatch.setattr(
        status.traffic_shift, "recorded", lambda project, s: underway if s == "home" else None
    )
    said: list[str] = []
    status.status("demo", said.append)
    assert said[-1] == (
        "home: blue_green release IN_PROGRESS POST_TEST_TRAFFIC_SHIFT, green has 0% of "
        "production (bookingapp-local status home)"
    )


def test_a_finished_release_does_not_list_the_replicas_it_removed(stack, monkeypatch):
    """After SUCCESSFUL blue is gone: it reads "removed", never the names of stopped containers."""
    blue = (replica("home", 7), replica("home", 8))
    green = tuple(stack[:2])
    done = st.Release("home", "img:2", "demo", 0.0, False, status=st.Status.SUCCESSFUL,
                      stage=st.Stage.CLEAN_UP, green_weight=100, blue=blue, green=green)  # fmt: skip
    monkeypatch.setattr(status.traffic_shift, "recorded", lambda project, s: done)
    said: list[str] = []
    status.release_status("demo", "home", said.append)
    assert said[0] == "home: blue_green SUCCESSFUL CLEAN_UP, image img:2"
    assert said[1].split() == ["blue:", "removed"]
    assert said[2].split() == ["green:", "p-home-1,", "p-home-2"]
    assert "p-home-7" not in "\n".join(said)
    assert said[3] == "  production traffic: green 100%, blue 0% (steps 100%)"
    assert said[4] == "  test rule (X-Bookingapp-Test: green to green): off"


def test_a_linear_release_in_progress_shows_both_weights_and_its_steps(stack, monkeypatch):
    """Mid-way through a linear release status says where production stands, in tenths."""
    shifts = (st.Shift(33.3, 6.0), st.Shift(66.6, 6.0), st.Shift(99.9, 6.0), st.Shift(100))
    underway = st.Release("home", "img:2", "demo", 0.0, False, strategy="linear", shifts=shifts,
                          stage=st.Stage.PRODUCTION_TRAFFIC_SHIFT, green_weight=66.6,
                          blue=(replica("home", 7),), green=tuple(stack[:1]))  # fmt: skip
    monkeypatch.setattr(status.traffic_shift, "recorded", lambda project, s: underway)
    said: list[str] = []
    status.release_status("demo", "home", said.append)
    assert said[0] == "home: linear IN_PROGRESS PRODUCTION_TRAFFIC_SHIFT, image img:2"
    assert said[3] == (
        "  production traffic: green 66.6%, blue 33.4% "
        "(steps 33.3% (held 6 s), 66.6% (held 6 s), 99.9% (held 6 s), 100%)"
    )


def test_status_of_a_service_without_a_release_names_the_three_strategies(stack):
    said: list[str] = []
    status.release_status("demo", "home", said.append)
    assert said == ["home: no blue/green, linear or canary release recorded in 'demo'"]
