"""Configuration comes from the environment, validated, with clear errors."""

from __future__ import annotations

import pytest

from bookingapp_common.config import DEFAULTS, ConfigError, from_environment


def test_defaults_point_at_the_cloud_map_name_of_redis():
    """Without settings the app looks for Redis where Cloud Map publishes it."""
    assert DEFAULTS["REDIS_HOST"] == "redis.internal-bookingapp.com"
    assert DEFAULTS["REDIS_PORT"] == 6379
    assert from_environment({}) == {"REDIS_PASSWORD": None}


def test_environment_overrides_host_port_db_and_password():
    """Each documented variable reaches the settings with its proper type."""
    env = {"REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_DB": "2", "REDIS_PASSWORD": "s"}
    assert from_environment(env) == {
        "REDIS_HOST": "cache",
        "REDIS_PORT": 6380,
        "REDIS_DB": 2,
        "REDIS_PASSWORD": "s",
    }


def test_password_file_wins_and_is_stripped(tmp_path):
    """A Docker/ECS secret file is read, without its trailing newline."""
    secret = tmp_path / "redis_password"
    secret.write_text("from-file\n")
    env = {"REDIS_PASSWORD_FILE": str(secret), "REDIS_PASSWORD": "from-env"}
    assert from_environment(env)["REDIS_PASSWORD"] == "from-file"


def test_unreadable_password_file_names_the_variable(tmp_path):
    """A missing secret file stops start-up with the variable and path in the message."""
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=rf"REDIS_PASSWORD_FILE={missing} cannot be read"):
        from_environment({"REDIS_PASSWORD_FILE": str(missing)})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_PORT": "redis"}, "REDIS_PORT must be an integer, got 'redis'"),
        ({"REDIS_PORT": "70000"}, "REDIS_PORT must be between 1 and 65535, got 70000"),
        ({"REDIS_DB": "one"}, "REDIS_DB must be an integer"),
        ({"NEIGHBOUR_TIMEOUT": "soon"}, "NEIGHBOUR_TIMEOUT must be a number of seconds"),
        ({"REDIS_SOCKET_TIMEOUT": "0"}, "REDIS_SOCKET_TIMEOUT must be positive"),
    ],
)
def test_malformed_values_are_refused_with_the_reason(env, message):
    """A bad value is named in the error rather than failing later in a request."""
    with pytest.raises(ConfigError, match=message):
        from_environment(env)
