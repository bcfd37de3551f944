"""The drain's housekeeping: its timer never holds a stopping master's exit up.

tests/unit/test_drain.py proves the drain itself; this pins what happens around it, which
only shows when a process exits.
"""

from __future__ import annotations

import os
import signal

from bookingapp_common import drain
from tests.unit.test_drain import FakeArbiter, Kills


def test_the_drain_timer_is_a_daemon_that_sends_sigterm_after_the_drain(monkeypatch):
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
    drain.install(arbiter, seconds=12.5, flag=drain.new_flag(), kill=kills)
    arbiter.handle_term()
    [timer] = timers
    assert (timer.seconds, timer.function, timer.args) == (
        12.5,
        kills,
        (os.getpid(), signal.SIGTERM),
    )
    assert timer.daemon is True
    assert timer.started
