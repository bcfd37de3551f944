"""The errors bookingapp-local reports as one line, each carrying its exit code."""

from __future__ import annotations


class LocalError(Exception):
    """Something failed on the way (a container did not turn healthy, docker refused): exit 1."""

    exit_code = 1


class UsageError(LocalError):
    """The request cannot be right here (stack not up, image missing, unknown service): exit 2."""

    exit_code = 2
