"""The command line: its verbs and options, and one clear line for what cannot be right.

These need no Docker: the parameters are read before the stack is looked at.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import replace

import pytest

from bookingapp_infra import params
from bookingapp_infra.local import cli
from bookingapp_infra.local.autoscale.scaler import policies
from bookingapp_infra.local.cli import main
from bookingapp_infra.params import SERVICES_DIR


def verbs() -> dict[str, argparse.ArgumentParser]:
    """Return each verb's parser by name."""
    [subparsers] = [a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def test_the_verbs_are_the_ecs_ones_and_the_scaler():
    assert sorted(verbs()) == ["approve", "autoscale", "release", "rollback", "status"]


def test_status_takes_an_optional_service_and_the_release_verbs_a_service():
    parser = cli.parser()
    args = parser.parse_args(["status", "movie", "--project", "p"])
    assert (args.service, args.project) == ("movie", "p")
    assert parser.parse_args(["status"]).service is None
    for verb in ("approve", "rollback"):
        assert parser.parse_args([verb, "movie"]).service == "movie"


def test_the_strategy_choices_are_the_ones_params_declares():
    [strategy] = [a for a in verbs()["release"]._actions if a.dest == "strategy"]
    assert sorted(strategy.choices) == sorted(params.STRATEGIES)


@pytest.mark.parametrize("verb", ["release", "approve", "rollback", "status", "autoscale"])
def test_no_help_text_names_one_service_as_if_it_were_all_of_them(verb):
    """Services come from infra/services: a help text listing three would go stale."""
    text = verbs()[verb].format_help()
    names = sorted(p.stem for p in SERVICES_DIR.glob("*.toml"))
    assert not re.search(rf"\b({'|'.join(names)})\b", text), text


def services_dir(tmp_path, movie_scaling: str | None):
    """Copy the committed params; movie's [autoscaling] replaced (None: removed)."""
    for path in SERVICES_DIR.glob("*.toml"):
        text = path.read_text()
        if path.stem == "movie":
            head, _, tail = text.partition("[autoscaling]")
            rest = tail[tail.index("[environment]") :]
            text = head + (movie_scaling or "") + "\n" + rest
        (tmp_path / path.name).write_text(text)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run the autoscale verb; return its exit code, stdout and stderr."""
    code = main(["autoscale", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_missing_autoscaling_table_is_a_one_line_error_naming_the_file(tmp_path, capsys):
    directory = services_dir(tmp_path, None)
    code, out, err = run(capsys, "--services-dir", str(directory), "--once")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("bookingapp-local: error: movie.toml: missing key 'autoscaling'")


@pytest.mark.parametrize(
    ("table", "says"),
    [
        (
            '[autoscaling]\nmin_capacity = 2\nmax_capacity = 6\ncpu_target = "high"\n',
            "movie.toml: autoscaling.cpu_target must be an integer",
        ),
        (
            "[autoscaling]\nmin_capacity = 2\nmax_capacity = 6\n",
            "movie.toml: missing key autoscaling.cpu_target",
        ),
        (
            "[autoscaling]\nmin_capacity = 2\nmax_capacity = 6\ncpu_target = 60\ncooldown = 5\n",
            "movie.toml: unknown key autoscaling.cooldown",
        ),
        ("[autoscaling\nmin_capacity = 2\n", "movie.toml: not valid TOML"),
    ],
)
def test_a_malformed_autoscaling_table_is_a_one_line_error_naming_the_file(
    tmp_path, capsys, table, says
):
    code, out, err = run(capsys, "--services-dir", str(services_dir(tmp_path, table)))
    assert out == ""
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"bookingapp-local: error: {says}")


def test_a_non_positive_sample_interval_is_refused(capsys):
    code, _, err = run(capsys, "--sample-interval", "0")
    assert code == 2
    assert "--sample-interval" in err


def test_impossible_timings_are_refused_before_docker_is_asked(capsys):
    code, _, err = run(capsys, "--period", "0")
    assert code == 2
    assert err.startswith("bookingapp-local: error: the metric period must be more than 0")


@pytest.mark.parametrize("target", ["0", "-5", "100.5"])
def test_a_cpu_target_outside_a_percentage_is_refused_before_docker_is_asked(capsys, target):
    code, out, err = run(capsys, "--cpu-target", target)
    assert (code, out) == (2, "")
    assert err.startswith("bookingapp-local: error: --cpu-target must be a percentage above 0")
    assert err.count("\n") == 1


def test_a_cpu_target_for_the_run_replaces_every_apps_target_and_nothing_else():
    """--cpu-target lowers the target for a demo; capacities and timings stay the params'."""
    own = {p.service: p for p in policies(None, {})}
    lowered = policies(None, {}, cpu_target=15)
    assert {p.service for p in lowered} == set(own)
    for policy in lowered:
        assert policy.target == 15
        assert policy == replace(own[policy.service], target=15)
