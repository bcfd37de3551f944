"""Freezing a test's container: the engine's freeze timeout is tried again, nothing else is.

No Docker here: a fake `docker` answers as the engine did when runc could not freeze a busy
container's cgroup (a full run lost a test to that once, in its setup).
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support import FREEZE_ATTEMPTS, pause_container, unpause_container

FREEZE_TIMEOUT = (
    "Error response from daemon: Cannot pause container abc: "
    "OCI runtime pause failed: unable to freeze: unknown"
)


class FakeDocker:
    """Answers each `docker` call with the next of the given (exit code, stderr) pairs."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    def __call__(self, command: list[str], **_: object) -> subprocess.CompletedProcess:
        """Record the command line; answer as the next scripted engine reply."""
        self.calls.append(command)
        code, stderr = self.answers.pop(0)
        return subprocess.CompletedProcess(command, code, stdout="", stderr=stderr)


def no_sleep(_: float) -> None:
    """Stand in for time.sleep: the retry's wait is not what is tested."""


def test_a_pause_the_engine_could_not_freeze_is_tried_again_until_it_freezes():
    """Two freeze timeouts, then a pause that works: three calls, no error."""
    fake = FakeDocker((1, FREEZE_TIMEOUT), (1, FREEZE_TIMEOUT), (0, ""))
    pause_container("abc", run=fake, sleep=no_sleep)
    assert fake.calls == [["docker", "pause", "abc"]] * 3


def test_a_pause_refused_for_another_reason_fails_at_once_with_dockers_words():
    """A missing container is not a freeze timeout: one call, docker's reason in the failure."""
    fake = FakeDocker((1, "Error response from daemon: No such container: abc"))
    with pytest.raises(AssertionError) as failed:
        pause_container("abc", run=fake, sleep=no_sleep)
    assert str(failed.value) == (
        "docker pause abc: exit 1: Error response from daemon: No such container: abc "
        f"(attempt 1 of {FREEZE_ATTEMPTS})"
    )
    assert len(fake.calls) == 1


def test_a_pause_that_never_freezes_gives_up_after_the_last_attempt():
    """The retry is bounded: after FREEZE_ATTEMPTS timeouts the test fails, saying so."""
    fake = FakeDocker(*[(1, FREEZE_TIMEOUT)] * FREEZE_ATTEMPTS)
    with pytest.raises(AssertionError) as failed:
        pause_container("abc", run=fake, sleep=no_sleep)
    assert str(failed.value).endswith(
        f"unable to freeze: unknown (attempt {FREEZE_ATTEMPTS} of {FREEZE_ATTEMPTS})"
    )
    assert len(fake.calls) == FREEZE_ATTEMPTS


def test_an_unpause_that_fails_says_what_docker_said():
    """Thawing is not retried: its failure carries docker's words."""
    fake = FakeDocker((1, "Error response from daemon: Container abc is not paused"))
    with pytest.raises(AssertionError, match=r"docker unpause abc: exit 1: .*is not paused"):
        unpause_container("abc", run=fake)
