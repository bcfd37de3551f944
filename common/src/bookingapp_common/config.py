"""Configuration: defaults, and what the environment may override (read by the factory only)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

DISCOVERY_NAMESPACE = "internal-bookingapp.com"

DEFAULTS: dict[str, Any] = {
    # The Cloud Map name of the Redis service; compose gives the container the same alias.
    "REDIS_HOST": f"redis.{DISCOVERY_NAMESPACE}",
    "REDIS_PORT": 6379,
    "REDIS_DB": 0,
    "REDIS_PASSWORD": None,
    # Per attempt. With two retries and the backoff this bounds a request to < 2 s (PITFALLS 7).
    "REDIS_SOCKET_TIMEOUT": 0.4,
    "REDIS_RETRIES": 2,
    # Where a neighbour's readiness is asked: its Cloud Map name (a compose alias locally).
    "NEIGHBOUR_URL_TEMPLATE": f"http://{{name}}.{DISCOVERY_NAMESPACE}:5000/{{name}}/ready",
    # How long the home page waits for all neighbours together before it renders without them.
    "NEIGHBOUR_TIMEOUT": 0.8,
    # How long a fetched neighbour state is shown before it is asked again.
    "NEIGHBOUR_MAX_AGE": 2.0,
    "ECS_CONTAINER_METADATA_URI_V4": None,
    "INSTANCE_ID": None,
    "SERVICE_LINKS": ("home", "movie", "bus"),
    # Hits arriving together share one round trip (counter.py); off: one script call per hit,
    # the simplest exact alternative, kept so the benchmark can compare the two.
    "COUNTER_GROUP_COMMIT": True,
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _integer(environ: Mapping[str, str], name: str) -> int | None:
    """Read an integer variable, or None when it is unset."""
    raw = environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _password(environ: Mapping[str, str]) -> str | None:
    """Read the Redis password from REDIS_PASSWORD or the file REDIS_PASSWORD_FILE names."""
    path = environ.get("REDIS_PASSWORD_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise ConfigError(f"REDIS_PASSWORD_FILE={path} cannot be read: {reason}") from None
    return environ.get("REDIS_PASSWORD") or None


def _number(environ: Mapping[str, str], name: str) -> float | None:
    """Read a positive number of seconds, or None when it is unset."""
    raw = environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Return the settings the environment overrides, validated."""
    settings: dict[str, Any] = {"REDIS_PASSWORD": _password(environ)}
    for name in ("REDIS_HOST", "NEIGHBOUR_URL_TEMPLATE", "ECS_CONTAINER_METADATA_URI_V4"):
        if environ.get(name):
            settings[name] = environ[name]
    for name in ("REDIS_PORT", "REDIS_DB"):
        value = _integer(environ, name)
        if value is not None:
            settings[name] = value
    for name in ("REDIS_SOCKET_TIMEOUT", "NEIGHBOUR_TIMEOUT", "NEIGHBOUR_MAX_AGE"):
        seconds = _number(environ, name)
        if seconds is not None:
            settings[name] = seconds
    port = settings.get("REDIS_PORT", DEFAULTS["REDIS_PORT"])
    if not 0 < port < 65536:
        raise ConfigError(f"REDIS_PORT must be between 1 and 65535, got {port}")
    return settings
