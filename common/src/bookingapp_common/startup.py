"""Check every setting before gunicorn forks a worker; a bad one stops start-up in one line.

gunicorn imports its config module (gunicorn_conf) in the master, before it logs anything
or forks: that is where `settings_or_exit` runs. A bad value prints one line naming the
variable and what is allowed, and the process exits with EXIT_CONFIG, no traceback.
The app factory reads the same settings again in each worker (config.from_environment).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

from bookingapp_common.config import ConfigError, from_environment, integer

# sysexits.h EX_CONFIG: "something was found in an unconfigured or misconfigured state".
EXIT_CONFIG = 78


@dataclass(frozen=True)
class ServerSettings:
    """What gunicorn itself is told: where to listen, how many processes and threads."""

    port: int = 5000
    workers: int = 2
    threads: int = 8


def server_settings(environ: Mapping[str, str]) -> ServerSettings:
    """Return the server's settings, after checking the app's too; ConfigError if one is bad."""
    from_environment(environ)  # the app's settings, so a worker never fails on them
    defaults = ServerSettings()
    port = integer(environ, "PORT", 1, 65535)
    # Zero workers starts a master that serves nothing; the upper bounds are far beyond
    # what a 0.5 vCPU / 1 GB task holds, and catch a typo (GUNICORN_THREADS=800).
    workers = integer(environ, "GUNICORN_WORKERS", 1, 32)
    threads = integer(environ, "GUNICORN_THREADS", 1, 256)
    return ServerSettings(
        port=defaults.port if port is None else port,
        workers=defaults.workers if workers is None else workers,
        threads=defaults.threads if threads is None else threads,
    )


def settings_or_exit(environ: Mapping[str, str]) -> ServerSettings:
    """Return the server's settings, or print the one bad setting and exit EXIT_CONFIG."""
    try:
        return server_settings(environ)
    except ConfigError as error:
        print(f"bookingapp: configuration error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CONFIG) from None
