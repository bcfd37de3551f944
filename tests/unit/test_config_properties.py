"""Every numeric setting, any text at all: refused in one line, or a value that keeps its promise.

The examples in test_config.py and test_startup.py pin the messages; these let hypothesis
look for a value that slips through (accepted, yet breaking the promise it feeds) or that
fails some other way than a ConfigError (a traceback in the master or the workers).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from bookingapp_common.config import ConfigError, from_environment
from bookingapp_common.promises import (
    ATTEMPTS_PER_VISIT,
    GRACEFUL_STOP_SECONDS,
    PAGE_SLACK_SECONDS,
    REDIS_WAIT_SECONDS,
    RETRY_PAUSE_SECONDS,
    STOP_TIMEOUT_SECONDS,
)
from bookingapp_common.startup import server_settings

# What an operator might type: numbers in every spelling, words, blanks, other scripts' digits.
RAW = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=0, max_value=100).map(lambda x: f"{x:g}"),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.from_regex(r"\A[ ]?[-+]?[0-9]{0,4}(\.[0-9]{0,3})?([eE][-+]?[0-9]{1,3})?[ ]?\Z"),
    st.text(alphabet="0123456789.eE+-_ x٣१\t", max_size=12),
    st.text(max_size=8),
).filter(lambda raw: "\x00" not in raw)


def keeps_its_promise(name: str, value: float) -> bool:
    """Say whether an accepted value keeps the promise its setting feeds (promises.py)."""
    if not math.isfinite(value):
        return False
    if name == "REDIS_SOCKET_TIMEOUT":  # every attempt and the pauses fit a visit's 1 s
        waited = ATTEMPTS_PER_VISIT * value + (ATTEMPTS_PER_VISIT - 1) * RETRY_PAUSE_SECONDS
        return value > 0 and waited <= REDIS_WAIT_SECONDS + 1e-9
    if name == "NEIGHBOUR_TIMEOUT":  # a home page ends inside the graceful stop
        return (
            value > 0 and REDIS_WAIT_SECONDS + value + PAGE_SLACK_SECONDS <= GRACEFUL_STOP_SECONDS
        )
    if name == "NEIGHBOUR_MAX_AGE":
        return value > 0
    raise AssertionError(name)


def refusal(read: Callable[[], object]) -> tuple[object, str | None]:
    """Return what `read` returned and None, or None and the ConfigError's message."""
    try:
        return read(), None
    except ConfigError as error:
        return None, str(error)


SECONDS = ("REDIS_SOCKET_TIMEOUT", "NEIGHBOUR_TIMEOUT", "NEIGHBOUR_MAX_AGE")
INTEGERS = {"REDIS_PORT": (1, 65535), "REDIS_DB": (0, 15)}
SERVER = {"PORT": (1, 65535), "GUNICORN_WORKERS": (1, 32), "GUNICORN_THREADS": (1, 256)}


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(SECONDS), raw=RAW)
def test_a_timeout_is_refused_in_one_line_or_keeps_its_promise(name, raw):
    """Any text for a timeout: a one-line ConfigError naming it, or a value within its promise."""
    read, refused = refusal(lambda: from_environment({name: raw}))
    if refused is not None:
        assert refused.startswith(f"{name} must be ")
        assert "\n" not in refused
        return
    value = read.get(name)  # type: ignore[attr-defined]
    if value is not None:  # unset (blank) means the default
        assert keeps_its_promise(name, value), (raw, value)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(INTEGERS) + sorted(SERVER)), raw=RAW)
def test_an_integer_setting_is_refused_in_one_line_or_within_its_range(name, raw):
    """Any text for a port, a database, a worker or thread count: refused, or in range."""
    low, high = {**INTEGERS, **SERVER}[name]
    chosen, refused = refusal(lambda: server_settings({name: raw}))
    if refused is not None:
        assert refused.startswith(f"{name} must be an integer from {low} to {high}")
        assert "\n" not in refused
        return
    field = {"PORT": "port", "GUNICORN_WORKERS": "workers", "GUNICORN_THREADS": "threads"}
    if name in SERVER:
        value = getattr(chosen, field[name])
    else:
        value = from_environment({name: raw}).get(name)
    assert isinstance(value, int | None)
    assert value is None or low <= value <= high


@settings(max_examples=300, deadline=None)
@given(raw=RAW)
def test_the_drain_is_refused_in_one_line_or_ends_before_sigkill(raw):
    """Any text for the drain: refused, or drain + graceful stop end before the stop timeout."""
    chosen, refused = refusal(lambda: server_settings({"BOOKINGAPP_DRAIN_SECONDS": raw}))
    if refused is not None:
        assert refused.startswith("BOOKINGAPP_DRAIN_SECONDS must be ")
        assert "\n" not in refused
        return
    drain = chosen.drain_seconds  # type: ignore[attr-defined]
    assert math.isfinite(drain)
    assert drain >= 0
    assert drain + GRACEFUL_STOP_SECONDS < STOP_TIMEOUT_SECONDS
