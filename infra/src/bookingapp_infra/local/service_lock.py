"""One change to a service at a time: a release and a scaling activity never overlap.

On ECS the deployment and Application Auto Scaling act on one service, its one desired
count and one set of tasks: a deployment replaces every task, those a scaling activity
just added included. Locally `release` and `autoscale` are separate processes (two
terminals), each driving compose on its own; side by side, a release read the replicas
while compose was still adding the scaler's, then replaced some and left others running
the old image. So each takes this lock for the service first: a release waits for a
scaling activity in flight to end, and the scaler holds its decision while a release runs
(as it already did once it saw two releases' replicas).

The lock is an OS file lock (flock, or msvcrt's on Windows) on a file per project and
service in the temporary directory: it goes with the process that held it, however that
process ended, so no stale lock is ever left to clear by hand.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bookingapp_infra.errors import InfraError
from bookingapp_infra.local.wait import poll

if sys.platform == "win32":  # pragma: no cover - this project's CI runs on Linux
    import msvcrt

    def _try_lock(fd: int) -> bool:
        """Take the lock on the open file if nobody holds it."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        """Take the lock on the open file if nobody holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


# The autoscaler's own lock, one per project: two scalers on one stack would each act out
# the policy and set the count in turn, where ECS has one scalable target per service. The
# name is none a service can have (params.SERVICE_NAME allows no "_").
AUTOSCALER = "_autoscaler"


def lock_dir() -> Path:
    """Return this user's directory of service locks."""
    owner = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"bookingapp-local-{owner}"


class ServiceLock:
    """The lock on one service of one compose project, held by at most one process.

    Whoever holds it writes what they are doing into the file, so a waiter can say whom it
    waits for.
    """

    def __init__(self, project: str, service: str, directory: Path | None = None) -> None:
        self.service = service
        self.path = (directory or lock_dir()) / f"{project}.{service}.lock"
        self._fd: int | None = None

    def try_acquire(self, doing: str) -> bool:
        """Take the lock if it is free, recording `doing`; say whether this process holds it."""
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise InfraError(
                f"cannot open the lock file {self.path}: {error.strerror or error} "
                "(it keeps a release and the autoscaler of one service apart; "
                "TMPDIR chooses where it goes)"
            ) from None
        if not _try_lock(fd):
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{doing} (pid {os.getpid()})".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """Return what the process holding the lock said it does ("" if it said nothing yet)."""
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""

    def acquire(self, doing: str, timeout: float, say: Callable[[str], None]) -> None:
        """Take the lock, waiting up to `timeout` s (and saying for whom) while it is held."""
        if self.try_acquire(doing):
            return
        say(f"waiting for the change to {self.service} in progress to end: {self.holder() or '?'}")
        if poll(lambda: self.try_acquire(doing), timeout, every=0.5) is None:
            raise InfraError(
                f"{self.service} is still being changed after {timeout:.0f} s "
                f"({self.holder() or 'by another process'}); try again once that is done"
            )

    def release(self) -> None:
        """Let go of the lock (closing the file does it; nothing if not held)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
