"""Where a traffic-shifting release keeps itself between commands, without Docker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bookingapp_infra.errors import InputError
from bookingapp_infra.local.strategies import state as st
from bookingapp_infra.local.strategies import store
from tests.local.fakes import replica, traefik_labels


def paths(tmp_path: Path) -> store.Paths:
    """The paths of movie's release in a rules directory."""
    return store.Paths.under(tmp_path, "movie")


def test_a_release_is_saved_and_read_back_with_its_colours(tmp_path):
    blue = (replica("movie", 1, labels=traefik_labels("movie")),)
    release = st.Release("movie", "m:2", "demo", 60.0, True, blue=blue,
                         shifts=(st.Shift(50, 3.0), st.Shift(100)))  # fmt: skip
    store.save(paths(tmp_path), release)
    assert store.load(paths(tmp_path)) == release
    assert [p.name for p in tmp_path.glob("*.yml")] == []  # Traefik sees no state file


def test_no_release_recorded_is_none(tmp_path):
    assert store.load(paths(tmp_path)) is None


def test_a_state_file_this_version_cannot_read_says_what_to_do(tmp_path):
    """A release recorded by an older bookingapp-local: one line, not a traceback."""
    p = paths(tmp_path)
    p.state.parent.mkdir(parents=True)
    p.state.write_text('{"service": "movie", "steps": [100]}')
    with pytest.raises(InputError, match=r"is not a release this version can read .* remove it"):
        store.load(p)


def test_a_request_is_taken_once(tmp_path):
    store.ask(paths(tmp_path), "approve")
    assert store.take_request(paths(tmp_path)) == "approve"
    assert store.take_request(paths(tmp_path)) is None


def test_a_release_controller_is_alive_while_its_process_runs():
    assert store.alive(os.getpid())
    assert not store.alive(0)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    assert not store.alive(gone.pid)
