"""Freezing a test's container: the engine's freeze timeout is tried again, nothing else is.

No Docker here: bookingapp-local's docker runner is given a fake CLI that answers as the
engine did when runc could not freeze a busy container's cgroup (a full run lost a test to
that once, in its setup).
"""

from __future__ import annotations

import subprocess

import pytest

from bookingapp_infra.errors import InfraError
from bookingapp_infra.local import docker
from tests.support import FREEZE_ATTEMPTS, pause_container, unpause_container

FREEZE_TIMEOUT = (
    "Error response from daemon: Cannot pause container abc: "
    "OCI runtime pause failed: unable to freeze: unknown"
)


class FakeDocker:
    """Answers each docker call with the next of the given (exit code, stderr) pairs."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        """Record the arguments; answer as the next scripted engine reply."""
        self.calls.append(list(args))
        code, stderr = self.answers.pop(0)
        return subprocess.CompletedProcess(args, code, stdout="", stderr=stderr)


@pytest.fixture
def fake_docker(monkeypatch):
    """Install a FakeDocker as the runner's CLI; the test gives it its answers."""

    def install(*answers: tuple[int, str]) -> FakeDocker:
        fake = FakeDocker(*answers)
        monkeypatch.setattr(docker, "run", fake)
        return fake

    return install


def no_sleep(_: float) -> None:
    """Stand in for time.sleep: the retry's wait is not what is tested."""


def test_a_pause_the_engine_could_not_freeze_is_tried_again_until_it_freezes(fake_docker):
    """Two freeze timeouts, then a pause that works: three calls, no error."""
    fake = fake_docker((1, FREEZE_TIMEOUT), (1, FREEZE_TIMEOUT), (0, ""))
    pause_container("abc", sleep=no_sleep)
    assert fake.calls == [["pause", "abc"]] * 3


def test_a_pause_refused_for_another_reason_fails_at_once_with_dockers_words(fake_docker):
    """A missing container is not a freeze timeout: one call, docker's reason in the failure."""
    fake = fake_docker((1, "Error response from daemon: No such container: abc"))
    with pytest.raises(AssertionError) as failed:
        pause_container("abc", sleep=no_sleep)
    assert str(failed.value) == (
        "docker pause failed: Error response from daemon: No such container: abc "
        f"(attempt 1 of {FREEZE_ATTEMPTS})"
    )
    assert len(fake.calls) == 1


def test_a_pause_that_never_freezes_gives_up_after_the_last_attempt(fake_docker):
    """The retry is bounded: after FREEZE_ATTEMPTS timeouts the test fails, saying so."""
    fake = fake_docker(*[(1, FREEZE_TIMEOUT)] * FREEZE_ATTEMPTS)
    with pytest.raises(AssertionError) as failed:
        pause_container("abc", sleep=no_sleep)
    assert str(failed.value).endswith(
        f"unable to freeze: unknown (attempt {FREEZE_ATTEMPTS} of {FREEZE_ATTEMPTS})"
    )
    assert len(fake.calls) == FREEZE_ATTEMPTS


def test_an_unpause_that_fails_says_what_docker_said(fake_docker):
    """Thawing is not retried: one call, its failure carries docker's words."""
    fake = fake_docker((1, "Error response from daemon: Container abc is not paused"))
    with pytest.raises(InfraError, match=r"^docker unpause failed: .*is not paused$"):
        unpause_container("abc")
    assert fake.calls == [["unpause", "abc"]]
