"""The errors both CLIs (bookingapp-infra, bookingapp-local) report as one line on stderr.

Each class carries its exit code (as click's exceptions do), so a CLI's main() catches the
family once: 1 when something failed on the way (AWS refused, a container never turned
healthy), 2 when the request cannot be right (bad arguments or parameter files, a stack that
is not up, an image that is not there).
"""

from __future__ import annotations


class InfraError(Exception):
    """Something failed on the way: AWS or docker refused, a wait ran out. Exit 1."""

    exit_code = 1


class InputError(InfraError):
    """The request cannot be right here: arguments, parameter files, what runs. Exit 2."""

    exit_code = 2
