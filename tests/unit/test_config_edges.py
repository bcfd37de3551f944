"""Settings at their edges: empty means unset, the lowest values load, words in any case.

Each test here fails on a change mutmut made to config.py that the other tests let through
(docs/testing.md, "Mutation testing").
"""

from __future__ import annotations

import pytest

from bookingapp_common.config import DEFAULTS, ConfigError, from_environment


@pytest.mark.parametrize(
    "name",
    [
        "REDIS_PORT",
        "REDIS_DB",
        "NEIGHBOUR_TIMEOUT",
        "NEIGHBOUR_URL_TEMPLATE",
        "REDIS_PASSWORD_FILE",
    ],
)
def test_an_empty_variable_counts_as_unset(name):
    """Compose passes `${VAR:-}` as an empty string: the default applies, nothing is refused."""
    assert from_environment({name: ""}) == {"REDIS_PASSWORD": None}


def test_the_lowest_port_and_database_are_accepted():
    assert from_environment({"REDIS_PORT": "1", "REDIS_DB": "0"}) == {
        "REDIS_PASSWORD": None,
        "REDIS_PORT": 1,
        "REDIS_DB": 0,
    }


@pytest.mark.parametrize(
    ("word", "on"), [("true", True), ("True", True), ("ON", True), ("0", False), ("Off", False)]
)
def test_group_commit_reads_its_words_in_any_case(word, on):
    assert from_environment({"COUNTER_GROUP_COMMIT": word})["COUNTER_GROUP_COMMIT"] is on


def test_a_missing_password_file_is_refused_with_the_systems_reason(tmp_path):
    """The operator reads why the secret could not be read, not a Python class name."""
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as caught:
        from_environment({"REDIS_PASSWORD_FILE": str(missing)})
    assert str(caught.value) == (
        f"REDIS_PASSWORD_FILE={missing} cannot be read: No such file or directory"
    )


def test_a_malformed_neighbour_url_template_is_refused_with_the_default_as_example():
    with pytest.raises(ConfigError) as caught:
        from_environment({"NEIGHBOUR_URL_TEMPLATE": "http://movie:5000/ready"})
    assert f"(e.g. {DEFAULTS['NEIGHBOUR_URL_TEMPLATE']})" in str(caught.value)
