"""The changed-services script picks exactly the services a change touches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.delivery.fakerepo import GIT_ENV, commit, git
from tests.delivery.workflows import SCRIPT, load_script

changed_services = load_script()

# Test input for the pure logic: any three names do; the repository's own list is tested below.
FAKE_SERVICES = ["home", "movie", "bus"]


def test_a_change_in_one_service_touches_only_that_service() -> None:
    assert changed_services.affected(["movie/src/bookingapp_movie/app.py"], FAKE_SERVICES) == [
        "movie"
    ]


@pytest.mark.parametrize(
    "path",
    [
        "common/src/bookingapp_common/app.py",
        "uv.lock",
        "Dockerfile",
        "pyproject.toml",
        ".dockerignore",
    ],
)
def test_a_change_to_what_every_image_is_built_from_touches_all(path: str) -> None:
    assert changed_services.affected([path], FAKE_SERVICES) == FAKE_SERVICES


@pytest.mark.parametrize(
    "paths",
    [
        ["README.md", "docs/delivery.md"],
        ["infra/services/movie.toml", "tests/unit/test_app.py", ".github/workflows/ci.yml"],
        [],
    ],
)
def test_changes_outside_the_images_touch_nothing(paths: list[str]) -> None:
    assert changed_services.affected(paths, FAKE_SERVICES) == []


@pytest.mark.parametrize(
    "path", ["homepage.md", "movies/notes.txt", "docs/home/x.md", "Dockerfile.dev", "x/uv.lock"]
)
def test_names_are_matched_as_whole_paths_not_string_prefixes(path: str) -> None:
    """`homepage.md` is not in home/, and only the root Dockerfile/lock go into every image."""
    assert changed_services.affected([path], FAKE_SERVICES) == []


def test_a_service_pyproject_is_that_service_only() -> None:
    assert changed_services.affected(["bus/pyproject.toml"], FAKE_SERVICES) == ["bus"]


def test_services_come_back_in_workspace_order_whatever_the_diff_order() -> None:
    paths = ["bus/src/x.py", "home/src/y.py"]
    assert changed_services.affected(paths, FAKE_SERVICES) == ["home", "bus"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [("movie", ["movie"]), ("bus, home", ["home", "bus"]), (" bus  movie ", ["movie", "bus"])],
)
def test_named_services_are_selected_in_workspace_order(names: str, expected: list[str]) -> None:
    assert changed_services.select(names, FAKE_SERVICES) == expected


def test_all_selects_every_service() -> None:
    assert changed_services.select("all", FAKE_SERVICES) == FAKE_SERVICES


@pytest.mark.parametrize("names", ["cinema", "home cinema", "", " , "])
def test_an_unknown_or_empty_selection_is_refused_with_the_choices(names: str) -> None:
    with pytest.raises(changed_services.UsageError, match="choose from: all, home, movie, bus"):
        changed_services.select(names, FAKE_SERVICES)


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the script as CI does, on the fake repository."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=GIT_ENV,
        timeout=60,
        check=False,
    )


def chosen(root: Path, *args: str) -> list[str]:
    """Return the JSON list the script prints, failing on a non-zero exit."""
    result = run(root, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_services_are_the_members_that_depend_on_the_shared_core(repo: Path) -> None:
    assert changed_services.app_services(repo) == ["films", "trains"]
    assert chosen(repo, "--all") == ["films", "trains"]


def test_a_commit_to_one_service_selects_that_service(repo: Path) -> None:
    (repo / "trains" / "src" / "code.py").write_text("VALUE = 2\n")
    commit(repo, "trains")
    assert chosen(repo, "--base", "HEAD~1") == ["trains"]


def test_a_commit_to_the_shared_core_selects_every_service(repo: Path) -> None:
    (repo / "common" / "src" / "code.py").write_text("VALUE = 2\n")
    commit(repo, "common")
    assert chosen(repo, "--base", "HEAD~1") == ["films", "trains"]


def test_a_docs_commit_selects_nothing(repo: Path) -> None:
    (repo / "README.md").write_text("better readme\n")
    commit(repo, "docs")
    assert chosen(repo, "--base", "HEAD~1") == []


def test_moving_a_file_between_services_selects_both(repo: Path) -> None:
    git(repo, "mv", "films/src/code.py", "trains/src/moved.py")
    commit(repo, "move")
    assert chosen(repo, "--base", "HEAD~1") == ["films", "trains"]


@pytest.mark.parametrize("base", ["0" * 40, "1234567890abcdef1234567890abcdef12345678", ""])
def test_an_unusable_base_selects_every_service(repo: Path, base: str) -> None:
    """A first push (forty zeros), a force-push (commit not here) or no base rebuilds all."""
    result = run(repo, "--base", base)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["films", "trains"]
    assert "taking every service" in result.stderr


def test_a_release_selects_what_changed_since_the_previous_release_tag(repo: Path) -> None:
    git(repo, "tag", "v1.0.0")
    (repo / "films" / "src" / "code.py").write_text("VALUE = 2\n")
    commit(repo, "films")
    (repo / "README.md").write_text("notes\n")
    commit(repo, "docs")
    git(repo, "tag", "v1.1.0")
    assert chosen(repo, "--since-tag-before", "v1.1.0") == ["films"]


def test_the_first_release_selects_every_service(repo: Path) -> None:
    (repo / "README.md").write_text("notes\n")
    commit(repo, "docs")
    git(repo, "tag", "v0.1.0")
    assert chosen(repo, "--since-tag-before", "v0.1.0") == ["films", "trains"]


def test_an_unknown_service_name_exits_2_with_the_choices(repo: Path) -> None:
    result = run(repo, "--only", "films planes")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown service(s) planes; choose from: all, films, trains" in result.stderr
