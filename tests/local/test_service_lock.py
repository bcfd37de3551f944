"""The service lock: a release and a scaling activity of one service never overlap."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from bookingapp_infra.errors import InfraError
from bookingapp_infra.local.service_lock import ServiceLock


def test_a_held_service_cannot_be_taken_until_it_is_let_go(tmp_path):
    first, second = ServiceLock("demo", "movie", tmp_path), ServiceLock("demo", "movie", tmp_path)
    assert first.try_acquire("autoscale")
    assert not second.try_acquire("release")
    first.release()
    assert second.try_acquire("release")
    second.release()


def test_other_services_and_projects_are_not_held(tmp_path):
    held = ServiceLock("demo", "movie", tmp_path)
    assert held.try_acquire("autoscale")
    assert ServiceLock("demo", "home", tmp_path).try_acquire("release")
    assert ServiceLock("other", "movie", tmp_path).try_acquire("release")
    held.release()


def test_a_waiter_names_the_holder_and_takes_the_lock_once_it_is_free(tmp_path):
    holder = ServiceLock("demo", "movie", tmp_path)
    assert holder.try_acquire("bookingapp-local autoscale, scaling to 4 replicas")
    said: list[str] = []
    threading.Timer(1.0, holder.release).start()
    waiter = ServiceLock("demo", "movie", tmp_path)
    waiter.acquire("bookingapp-local release movie", timeout=30, say=said.append)
    assert waiter.holder().startswith("bookingapp-local release movie (pid ")
    [line] = said
    assert line.startswith(
        "waiting for the change to movie in progress to end: "
        "bookingapp-local autoscale, scaling to 4 replicas (pid "
    )
    waiter.release()


def test_a_lock_held_past_the_timeout_is_one_clear_error(tmp_path):
    holder = ServiceLock("demo", "movie", tmp_path)
    assert holder.try_acquire("bookingapp-local autoscale, scaling to 4 replicas")
    started = time.monotonic()
    with pytest.raises(InfraError, match=r"^movie is still being changed after 1 s \(bookingapp"):
        ServiceLock("demo", "movie", tmp_path).acquire("release", timeout=1, say=print)
    assert time.monotonic() - started < 10
    holder.release()


def test_a_process_that_died_holding_the_lock_leaves_it_free(tmp_path):
    """The lock goes with its process: a killed scaler leaves no stale lock to clear by hand."""
    script = (
        "import sys, time; from pathlib import Path;"
        "from bookingapp_infra.local.service_lock import ServiceLock;"
        f"assert ServiceLock('demo', 'movie', Path({str(tmp_path)!r})).try_acquire('autoscale');"
        "print('held', flush=True); time.sleep(600)"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "held\n"
        assert not ServiceLock("demo", "movie", tmp_path).try_acquire("release")
    finally:
        process.kill()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
    assert ServiceLock("demo", "movie", tmp_path).try_acquire("release")


def test_a_lock_file_that_cannot_be_made_is_one_clear_error(tmp_path):
    """Not a traceback: where the lock file was to go, why it could not, and what moves it."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    with pytest.raises(InfraError) as refused:
        ServiceLock("demo", "movie", blocked).try_acquire("release")
    message = str(refused.value)
    assert message.startswith(f"cannot open the lock file {blocked}/demo.movie.lock: ")
    assert message.endswith("TMPDIR chooses where it goes)")
    assert "\n" not in message
