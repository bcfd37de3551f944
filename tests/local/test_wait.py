"""The one poller: it returns the first answer, gives up at the deadline, says what it waited for."""

from __future__ import annotations

import pytest

from bookingapp_infra.errors import InfraError
from bookingapp_infra.local.wait import poll, wait_until


class Clock:
    """Time that moves only when the poller sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.naps: list[float] = []

    def __call__(self) -> float:
        """Return the time now."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Let time pass."""
        self.naps.append(seconds)
        self.now += seconds


def test_poll_returns_the_first_truthy_answer_and_asks_no_more():
    answers = iter([None, [], ["ready"], ["again"]])
    clock = Clock()
    assert poll(lambda: next(answers), 10, 1, clock=clock, sleep=clock.sleep) == ["ready"]
    assert clock.naps == [1, 1]


def test_poll_gives_up_at_the_deadline_never_sleeping_past_it():
    clock = Clock()
    assert poll(lambda: False, 2.5, 1, clock=clock, sleep=clock.sleep) is None
    assert clock.naps == [1, 1, 0.5]


def test_poll_asks_once_even_with_no_time_at_all():
    asked = []
    assert poll(lambda: asked.append(1), 0, 1) is None
    assert asked == [1]


def test_wait_until_fails_with_the_line_it_was_given():
    with pytest.raises(InfraError, match=r"^replicas not healthy within 0 s$"):
        wait_until(lambda: None, 0, "replicas not healthy within 0 s")


def test_wait_until_asks_for_its_message_only_at_the_deadline():
    seen = []

    def check() -> bool:
        seen.append(len(seen))
        return False

    with pytest.raises(InfraError, match=r"still missing after 1 checks"):
        wait_until(check, 0, lambda: f"still missing after {len(seen)} checks")


def test_wait_until_returns_the_answer():
    assert wait_until(lambda: {"id": 1}, 1, "never") == {"id": 1}
