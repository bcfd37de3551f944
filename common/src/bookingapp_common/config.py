"""Configuration: defaults, and what the environment may override (read by the factory only).

Every value is checked against the promise it feeds (promises.py), so a value that starts is
a value that keeps it: a bad one is a ConfigError, one line naming the variable and what is
allowed (startup.py turns it into exit code 78 in gunicorn's master, before any worker).
Numbers are read in ASCII decimal only: no words, no underscores, no other scripts' digits.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bookingapp_common.promises import (
    MAX_NEIGHBOUR_TIMEOUT_SECONDS,
    MAX_SOCKET_TIMEOUT_SECONDS,
)

DISCOVERY_NAMESPACE = "internal-bookingapp.com"

DEFAULTS: dict[str, Any] = {
    # The Cloud Map name of the Redis service; compose gives the container the same alias.
    "REDIS_HOST": f"redis.{DISCOVERY_NAMESPACE}",
    "REDIS_PORT": 6379,
    "REDIS_DB": 0,
    "REDIS_PASSWORD": None,
    # TLS to Redis: ElastiCache with encryption in transit (the infra sets it there).
    "REDIS_TLS": False,
    # The longest wait for one reply; two attempts and the pause between them fit in a
    # visit's 1 s for Redis (promises.py, docs/pitfalls.md #7).
    "REDIS_SOCKET_TIMEOUT": 0.4,
    # Where a neighbour's readiness is asked: its Cloud Map name (a compose alias locally).
    "NEIGHBOUR_URL_TEMPLATE": f"http://{{name}}.{DISCOVERY_NAMESPACE}:5000/{{name}}/ready",
    # How long the home page waits for all neighbours together before it renders without them.
    "NEIGHBOUR_TIMEOUT": 0.8,
    # How long a fetched neighbour state is shown before it is asked again.
    "NEIGHBOUR_MAX_AGE": 2.0,
    "ECS_CONTAINER_METADATA_URI_V4": None,
    "INSTANCE_ID": None,
    # The app services, in the nav's order: BOOKINGAPP_APPS (service_list.py); none unless set.
    "SERVICE_LINKS": (),
    # Hits arriving together share one round trip (counter.py); off: one script call per hit,
    # the simplest exact alternative, kept so the benchmark can compare the two.
    "COUNTER_GROUP_COMMIT": True,
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and what is allowed."""


# Redis ships with 16 databases (`databases 16`); a number outside them fails at SELECT.
REDIS_DATABASES = 16
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_INTEGER = re.compile(r"[0-9]{1,12}")
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# A DNS label as resolvers take it: ASCII letters, digits, '-' inside, '_' (Docker's names).
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")

# Upper bounds of the timeouts, each with the promise it keeps.
SECONDS_LIMITS = {
    "REDIS_SOCKET_TIMEOUT": (
        MAX_SOCKET_TIMEOUT_SECONDS,
        "a first attempt, a 0.05 s pause and one retry must fit in a visit's 1 s for Redis",
    ),
    "NEIGHBOUR_TIMEOUT": (
        MAX_NEIGHBOUR_TIMEOUT_SECONDS,
        "a home page waits up to 1 s for Redis, then this long, and must end within "
        "gunicorn's 10 s graceful stop",
    ),
    "NEIGHBOUR_MAX_AGE": (math.inf, ""),
}


def _raw(environ: Mapping[str, str], name: str) -> str | None:
    """Return a variable's value without surrounding blanks, or None when unset or empty."""
    raw = environ.get(name)
    return None if raw is None or raw.strip() == "" else raw.strip()


def integer(environ: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """Read an integer between low and high inclusive, or None when it is unset."""
    raw = _raw(environ, name)
    if raw is None:
        return None
    value = int(raw) if _INTEGER.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return value


def decimal(raw: str) -> float:
    """Read an ASCII decimal number (1, 0.4, 2e-1); nan when it is not one."""
    return float(raw) if _DECIMAL.fullmatch(raw) else math.nan


def _seconds(environ: Mapping[str, str], name: str) -> float | None:
    """Read a number of seconds above 0 and within its limit, or None when it is unset."""
    raw = _raw(environ, name)
    if raw is None:
        return None
    value = decimal(raw)
    high, why = SECONDS_LIMITS[name]
    # inf and 1e400 would make every page a 500 (Python cannot wait that long) or every
    # fetch a refresh; a value past the limit breaks the promise named in the message.
    if not (math.isfinite(value) and 0 < value <= high):
        limit = f" and at most {high:g} ({why})" if math.isfinite(high) else ""
        raise ConfigError(f"{name} must be a finite number of seconds above 0{limit}, got {raw!r}")
    return value


def is_host(host: str) -> bool:
    """Tell whether `host` is a bare host name or IP address a resolver takes as it is."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _host(environ: Mapping[str, str]) -> str | None:
    """Read REDIS_HOST: a name or address only; a URL or host:port would never connect."""
    raw = _raw(environ, "REDIS_HOST")
    if raw is not None and not is_host(raw):
        raise ConfigError(
            "REDIS_HOST must be a bare host name or address (e.g. redis.internal-bookingapp.com; "
            f"the port is REDIS_PORT, TLS is REDIS_TLS), got {raw!r}"
        )
    return raw


def _switch(environ: Mapping[str, str], name: str) -> bool | None:
    """Read an on/off setting, or None when it is unset."""
    raw = _raw(environ, name)
    if raw is None:
        return None
    if raw.lower() in TRUE_WORDS + FALSE_WORDS:
        return raw.lower() in TRUE_WORDS
    raise ConfigError(f"{name} must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}, got {raw!r}")


def _password(environ: Mapping[str, str]) -> str | None:
    """Read the Redis password from REDIS_PASSWORD or the file REDIS_PASSWORD_FILE names."""
    path = _raw(environ, "REDIS_PASSWORD_FILE")
    if path is None:
        return environ.get("REDIS_PASSWORD") or None
    where = f"REDIS_PASSWORD_FILE={path}"
    try:
        # A FIFO or device would block or never end: only a regular file is read.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(f"{where} must name a regular file (a Docker or ECS secret)")
        password = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(f"{where} cannot be read: {reason}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where} must hold UTF-8 text") from None
    if not password:
        # Empty would silently mean "no password"; unset the variable to mean that.
        raise ConfigError(f"{where} is empty; unset REDIS_PASSWORD_FILE for no password")
    return password


# What may stand in the request line the neighbour fetch writes by hand: printable ASCII.
_URL_TEXT = re.compile(r"[\x21-\x7e]+")


def _url_template(raw: str) -> str:
    """Check NEIGHBOUR_URL_TEMPLATE: an http:// URL with {name} where the service goes."""
    try:
        url = raw.format(name="movie")
        parts = urlsplit(url)
        # .port raises ValueError when the port is not a number from 0 to 65535.
        valid = "{name}" in raw and parts.scheme == "http" and bool(parts.hostname)
        valid = valid and parts.port != 0 and bool(_URL_TEXT.fullmatch(url))
        valid = valid and is_host(parts.hostname or "")
    except (KeyError, IndexError, ValueError, AttributeError):  # what str.format may raise
        valid = False
    if not valid:
        example = DEFAULTS["NEIGHBOUR_URL_TEMPLATE"]
        raise ConfigError(
            f"NEIGHBOUR_URL_TEMPLATE must be an http:// URL with {{name}} where the service "
            f"name goes (e.g. {example}), got {raw!r}"
        )
    return raw


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Return the settings the environment overrides, validated."""
    settings: dict[str, Any] = {"REDIS_PASSWORD": _password(environ)}
    host = _host(environ)
    if host is not None:
        settings["REDIS_HOST"] = host
    if environ.get("ECS_CONTAINER_METADATA_URI_V4"):
        settings["ECS_CONTAINER_METADATA_URI_V4"] = environ["ECS_CONTAINER_METADATA_URI_V4"]
    template = _raw(environ, "NEIGHBOUR_URL_TEMPLATE")
    if template is not None:
        settings["NEIGHBOUR_URL_TEMPLATE"] = _url_template(template)
    limits = {"REDIS_PORT": (1, 65535), "REDIS_DB": (0, REDIS_DATABASES - 1)}
    for name, (low, high) in limits.items():
        value = integer(environ, name, low, high)
        if value is not None:
            settings[name] = value
    for name in ("REDIS_SOCKET_TIMEOUT", "NEIGHBOUR_TIMEOUT", "NEIGHBOUR_MAX_AGE"):
        seconds = _seconds(environ, name)
        if seconds is not None:
            settings[name] = seconds
    tls = _switch(environ, "REDIS_TLS")
    if tls is not None:
        settings["REDIS_TLS"] = tls
    group_commit = _switch(environ, "COUNTER_GROUP_COMMIT")
    if group_commit is not None:
        settings["COUNTER_GROUP_COMMIT"] = group_commit
    return settings
