"""Check every setting before gunicorn forks a worker; a bad one stops start-up in one line.

gunicorn imports its config module (gunicorn_conf) in the master, before it logs anything
or forks: that is where `settings_or_exit` runs. A bad value prints one line naming the
variable and what is allowed, and the process exits with EXIT_CONFIG, no traceback.
The app factory reads the same settings again in each worker (config.from_environment).
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from bookingapp_common import drain, service_list
from bookingapp_common.config import ConfigError, decimal, from_environment, integer
from bookingapp_common.promises import MAX_DRAIN_SECONDS

# The levels gunicorn's error log (and logconfig_dict) takes.
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# A service is a package bookingapp_<name>; an image holds exactly one (Dockerfile).
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9]*")
NOT_SERVICES = ("common", "infra")

# sysexits.h EX_CONFIG: "something was found in an unconfigured or misconfigured state".
EXIT_CONFIG = 78


@dataclass(frozen=True)
class ServerSettings:
    """What gunicorn itself is told: where to listen, how many processes and threads."""

    port: int = 5000
    workers: int = 2
    threads: int = 8
    drain_seconds: float = drain.DRAIN_SECONDS
    service: str = "home"  # the app to serve, BOOKINGAPP_SERVICE (set by the image)
    loglevel: str = "info"


def server_settings(environ: Mapping[str, str]) -> ServerSettings:
    """Return the server's settings, after checking the app's too; ConfigError if one is bad."""
    from_environment(environ)  # the app's settings, so a worker never fails on them
    service_list.from_environment(environ)
    defaults = ServerSettings()
    port = integer(environ, "PORT", 1, 65535)
    # Zero workers starts a master that serves nothing; the upper bounds are far beyond
    # what a 0.5 vCPU / 1 GB task holds, and catch a typo (GUNICORN_THREADS=800).
    workers = integer(environ, "GUNICORN_WORKERS", 1, 32)
    threads = integer(environ, "GUNICORN_THREADS", 1, 256)
    drain_seconds = _drain_seconds(environ)
    return ServerSettings(
        port=defaults.port if port is None else port,
        workers=defaults.workers if workers is None else workers,
        threads=defaults.threads if threads is None else threads,
        drain_seconds=defaults.drain_seconds if drain_seconds is None else drain_seconds,
        service=_service(environ.get("BOOKINGAPP_SERVICE", defaults.service)),
        loglevel=_loglevel(environ.get("GUNICORN_LOGLEVEL", defaults.loglevel)),
    )


def _service(raw: str) -> str:
    """Check BOOKINGAPP_SERVICE names a service package installed here (its worker imports it)."""
    name = raw.strip()
    found = (
        _SERVICE_NAME.fullmatch(name) is not None
        and name not in NOT_SERVICES
        and importlib.util.find_spec(f"bookingapp_{name}") is not None
    )
    if not found:
        raise ConfigError(
            "BOOKINGAPP_SERVICE must be the name of a service installed in this image "
            f"(lower case: home, movie or bus; a package bookingapp_<name>), got {raw!r}"
        )
    return name


def _loglevel(raw: str) -> str:
    """Check GUNICORN_LOGLEVEL is one of the levels gunicorn's error log takes."""
    level = raw.strip().lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"GUNICORN_LOGLEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level


def _drain_seconds(environ: Mapping[str, str]) -> float | None:
    """Read BOOKINGAPP_DRAIN_SECONDS: 0 (no drain) up to MAX_DRAIN_SECONDS, or None if unset."""
    name = "BOOKINGAPP_DRAIN_SECONDS"
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    value = decimal(raw)
    if not (math.isfinite(value) and 0 <= value <= MAX_DRAIN_SECONDS):
        raise ConfigError(
            f"{name} must be a number of seconds from 0 to {MAX_DRAIN_SECONDS:g} (the drain and "
            f"the 10 s graceful stop must end inside the 30 s stop timeout), got {raw!r}"
        )
    return value


def settings_or_exit(environ: Mapping[str, str]) -> ServerSettings:
    """Return the server's settings, or print the one bad setting and exit EXIT_CONFIG."""
    try:
        return server_settings(environ)
    except ConfigError as error:
        print(f"bookingapp: configuration error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CONFIG) from None
