"""`bookingapp-local autoscale` refuses bad parameters and options with one clear line.

These need no Docker: the parameters are read before the stack is looked at.
"""

from __future__ import annotations

import pytest

from bookingapp_infra.local.cli import main
from bookingapp_infra.params import SERVICES_DIR


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
