"""The one poller: ask a check until it passes or a deadline passes (kamal's healthcheck poller).

Every wait in bookingapp-local goes through here (replicas healthy, UP in Traefik's pool, a
rule live, a release taking a request, a bake watched for alarms), so each says what it is
waiting for and gives up the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from bookingapp_infra.errors import InfraError

# Seconds one step may take on a busy machine: replicas healthy and UP in the pool, a rule
# live in Traefik, a scaling activity done. Beyond it the step has failed.
STEP_TIMEOUT = 180.0

T = TypeVar("T")


def poll(
    check: Callable[[], T | None],
    seconds: float,
    every: float = 0.5,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Ask check() every `every` s; return its first truthy answer, or None after `seconds`."""
    deadline = clock() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        left = deadline - clock()
        if left <= 0:
            return None
        sleep(min(every, left))


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    failure: str | Callable[[], str],
    every: float = 0.5,
) -> T:
    """Return check()'s first truthy answer within `timeout` s, else fail with `failure`.

    `failure` is the one line the user reads; a callable is asked at the deadline, so the
    line can say what was still missing then.
    """
    answer = poll(check, timeout, every)
    if not answer:
        raise InfraError(failure() if callable(failure) else failure)
    return answer
