"""The drain's housekeeping: the master's flag removed at exit, the timer never holding exit up.

tests/unit/test_drain.py proves the drain itself; these pin what happens around it, which
only shows when a process exits.
"""

from __future__ import annotations

import os
import signal

from bookingapp_common import drain
from tests.unit.test_drain import FakeArbiter, Kills


def test_install_registers_the_masters_flag_for_removal_at_exit(tmp_path, monkeypatch):
    """At exit the master's own flag, in the drain's directory, is cleared."""
    registered: list[tuple[object, ...]] = []
    monkeypatch.setattr(drain.atexit, "register", lambda *call: registered.append(call))
    drain.install(FakeArbiter(), seconds=5, directory=tmp_path, kill=Kills())
    assert registered == [(drain._clear_if_master, os.getpid(), tmp_path)]


def test_the_master_clears_its_flag_at_exit(tmp_path):
    """In the master (the pid that installed the drain) the flag is removed."""
    drain.begin(os.getpid(), tmp_path)
    drain._clear_if_master(os.getpid(), tmp_path)
    assert not drain.flag_path(os.getpid(), tmp_path).exists()


def test_a_worker_leaves_its_masters_flag_at_exit(tmp_path):
    """A worker inherits the atexit hook; its exit must not end its master's drain."""
    master = os.getpid() + 1
    drain.begin(master, tmp_path)
    drain._clear_if_master(master, tmp_path)
    assert drain.flag_path(master, tmp_path).exists()


def test_the_drain_timer_is_a_daemon_that_sends_sigterm_after_the_drain(tmp_path, monkeypatch):
    """The timer never keeps a stopping master alive, and sends SIGTERM to it when due."""
    timers: list[Timer] = []

    class Timer:
        """Records how the drain's timer is made and started."""

        def __init__(self, seconds: float, function: object, args: tuple[object, ...]) -> None:
            self.seconds, self.function, self.args = seconds, function, args
            self.daemon = False
            self.started = False
            timers.append(self)

        def start(self) -> None:
            """Record the start."""
            self.started = True

    monkeypatch.setattr(drain.threading, "Timer", Timer)
    arbiter, kills = FakeArbiter(), Kills()
    drain.install(arbiter, seconds=12.5, directory=tmp_path, kill=kills)
    arbiter.handle_term()
    [timer] = timers
    assert (timer.seconds, timer.function, timer.args) == (
        12.5,
        kills,
        (os.getpid(), signal.SIGTERM),
    )
    assert timer.daemon is True
    assert timer.started
