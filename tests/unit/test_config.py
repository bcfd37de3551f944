"""Configuration comes from the environment, validated, with clear errors."""

from __future__ import annotations

import os
import re
import threading

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
        ({"REDIS_PORT": "redis"}, "REDIS_PORT must be an integer from 1 to 65535, got 'redis'"),
        ({"REDIS_PORT": "70000"}, "REDIS_PORT must be an integer from 1 to 65535, got '70000'"),
        ({"REDIS_PORT": "0"}, "REDIS_PORT must be an integer from 1 to 65535, got '0'"),
        ({"REDIS_DB": "one"}, "REDIS_DB must be an integer from 0 to 15, got 'one'"),
        ({"REDIS_DB": "-1"}, "REDIS_DB must be an integer from 0 to 15, got '-1'"),
        ({"REDIS_DB": "16"}, "REDIS_DB must be an integer from 0 to 15, got '16'"),
        ({"NEIGHBOUR_TIMEOUT": "soon"}, "NEIGHBOUR_TIMEOUT must be a finite number of seconds"),
        (
            {"REDIS_SOCKET_TIMEOUT": "0"},
            "REDIS_SOCKET_TIMEOUT must be a finite number of seconds above 0",
        ),
        (
            {"NEIGHBOUR_TIMEOUT": "nan"},
            "NEIGHBOUR_TIMEOUT must be a finite number of seconds above 0 and at most 8 "
            "(a home page waits up to 1 s for Redis, then this long, and must end within "
            "gunicorn's 10 s graceful stop), got 'nan'",
        ),
        (
            {"NEIGHBOUR_MAX_AGE": "inf"},
            "NEIGHBOUR_MAX_AGE must be a finite number of seconds above 0, got 'inf'",
        ),
        ({"REDIS_SOCKET_TIMEOUT": "-inf"}, "REDIS_SOCKET_TIMEOUT must be a finite"),
        (
            {"NEIGHBOUR_MAX_AGE": "-2"},
            "NEIGHBOUR_MAX_AGE must be a finite number of seconds above 0",
        ),
        ({"COUNTER_GROUP_COMMIT": "maybe"}, "COUNTER_GROUP_COMMIT must be one of 1, true"),
    ],
)
def test_malformed_values_are_refused_with_the_reason(env, message):
    """A bad value is named in the error, with what is allowed, rather than failing later."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_environment(env)


@pytest.mark.parametrize(
    "template",
    [
        "http://{name}.internal:5000/{nam}/ready",  # a field that does not exist
        "http://{name.x}:5000/ready",  # an attribute of the name
        "http://{0}:5000/ready",  # a positional field
        "http://{name:5000/ready",  # an unclosed brace
        "http://movie:5000/ready",  # no {name}: every neighbour would be the same
        "https://{name}:5000/{name}/ready",  # not http: the fetch speaks plain HTTP only
        "{name}/ready",  # no scheme, no host
        "http://{name}:99999/{name}/ready",  # a port out of range
        "http://{name}:0/{name}/ready",
        "http://:5000/{name}",  # no host
    ],
)
def test_a_malformed_neighbour_url_template_is_refused(template):
    """The template must make an http URL per service name; anything else stops start-up."""
    with pytest.raises(ConfigError, match=r"NEIGHBOUR_URL_TEMPLATE must be an http:// URL"):
        from_environment({"NEIGHBOUR_URL_TEMPLATE": template})


def test_every_documented_variable_is_read():
    """Each setting the README names reaches the settings (none silently ignored)."""
    env = {
        "REDIS_SOCKET_TIMEOUT": "0.3",
        "NEIGHBOUR_TIMEOUT": "0.6",
        "NEIGHBOUR_MAX_AGE": "5",
        "NEIGHBOUR_URL_TEMPLATE": "http://{name}.example:8000/{name}/ready",
        "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc",
        "COUNTER_GROUP_COMMIT": "off",
        "REDIS_DB": "15",
    }
    settings = from_environment(env)
    assert settings["REDIS_SOCKET_TIMEOUT"] == 0.3
    assert settings["NEIGHBOUR_TIMEOUT"] == 0.6
    assert settings["NEIGHBOUR_MAX_AGE"] == 5.0
    assert settings["NEIGHBOUR_URL_TEMPLATE"] == env["NEIGHBOUR_URL_TEMPLATE"]
    assert settings["ECS_CONTAINER_METADATA_URI_V4"] == env["ECS_CONTAINER_METADATA_URI_V4"]
    assert settings["COUNTER_GROUP_COMMIT"] is False
    assert settings["REDIS_DB"] == 15


def test_an_empty_password_file_is_refused(tmp_path):
    """An empty secret would silently mean "no password": start-up stops and says so."""
    secret = tmp_path / "redis_password"
    secret.write_text("\n")
    with pytest.raises(ConfigError, match=r"REDIS_PASSWORD_FILE=.* is empty"):
        from_environment({"REDIS_PASSWORD_FILE": str(secret)})


def test_a_password_file_that_is_not_utf8_is_refused(tmp_path):
    """Bytes that are not UTF-8 are refused with the variable named, not a traceback."""
    secret = tmp_path / "redis_password"
    secret.write_bytes(b"\xff\xfe\x00secret")
    with pytest.raises(ConfigError, match=r"REDIS_PASSWORD_FILE=.* must hold UTF-8 text"):
        from_environment({"REDIS_PASSWORD_FILE": str(secret)})


def test_a_fifo_as_password_file_is_refused_without_hanging(tmp_path):
    """Opening a FIFO would block start-up until a writer comes; only regular files are read."""
    fifo = tmp_path / "redis_password"
    os.mkfifo(fifo)
    errors: list[ConfigError] = []

    def read() -> None:
        try:
            from_environment({"REDIS_PASSWORD_FILE": str(fifo)})
        except ConfigError as error:
            errors.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=2)
    hung = reader.is_alive()
    if hung:  # release the blocked open() so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert not hung
    assert "must name a regular file" in str(errors[0])
