"""`add-service NAME` writes a service every check accepts, or refuses in one line writing nothing.

Each test runs the command against a copy of the repository's tracked files in a temporary
directory, then reads the copy the way the suite reads the repository: params.py for the
parameter files, CI's script for the workspace, the compose files as YAML. What it does
not prove: that the new service builds and serves (tests/compose/test_add_service.py).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from bookingapp_infra import scaffold
from bookingapp_infra.cli import main
from bookingapp_infra.params import app_names, load_all
from tests.compose.test_parity import TRAEFIK_PRIORITY_BASE, compose_apps, labels, missing_parts
from tests.support import compose_config, copy_of_repository, unused_service_names, workspace_apps

# Names add-service accepts in this repository (train, unless a train was added already).
NEW, OTHER = unused_service_names(2)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's tracked files (what a fresh clone has)."""
    return copy_of_repository(tmp_path / "repo")


def add(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `bookingapp-infra add-service ARGS --root repo`; return the code, stdout, stderr."""
    code = main(["add-service", *args, "--root", str(repo)])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, bytes]:
    """Return every file under root with its content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_new_service_is_accepted_by_params_parity_and_the_workspace(repo, capsys):
    before = load_all(repo / "infra" / "services")
    code, out, err = add(repo, capsys, NEW, "--title", "Trains")

    assert (code, err) == (0, "")
    services = load_all(repo / "infra" / "services")
    assert app_names(services) == [*app_names(before), NEW]
    new = services[NEW]
    assert (new.path_prefix, new.health_check_path) == (f"/{NEW}", f"/{NEW}/health")
    assert new.alb is not None
    highest = max(p.alb.priority for p in before.values() if p.alb)
    assert new.alb.priority == (highest // 10 + 1) * 10
    assert new.image == f"docker.io/bookingapp/bookingapp-{NEW}:latest"

    compose = yaml.safe_load((repo / "compose.yaml").read_text())
    entry = compose["services"][NEW]
    got = labels(entry)
    assert got[f"traefik.http.routers.{NEW}.rule"] == f"PathPrefix(`/{NEW}`)"
    assert int(got[f"traefik.http.routers.{NEW}.priority"]) == (
        TRAEFIK_PRIORITY_BASE - new.alb.priority
    )
    assert got[f"traefik.http.services.{NEW}.loadbalancer.healthcheck.path"] == f"/{NEW}/health"
    assert entry["build"]["args"]["SERVICE"] == NEW
    assert entry["networks"]["vpc"]["aliases"] == [new.dns_name]
    assert entry["environment"]["BOOKINGAPP_APPS"] == ",".join(app_names(services))

    code_side = set(workspace_apps(repo))
    assert missing_parts(code_side, set(app_names(services)), compose_apps(compose)) == []

    override = yaml.safe_load((repo / "compose.override.yaml").read_text())["services"][NEW]
    assert f"./{NEW}/src:/dev-src/{NEW}/src:ro" in override["volumes"]
    init = (repo / NEW / "src" / f"bookingapp_{NEW}" / "__init__.py").read_text()
    assert f'name="{NEW}"' in init
    assert 'title="Trains"' in init
    package = tomllib.loads((repo / NEW / "pyproject.toml").read_text())
    assert package["project"]["name"] == f"bookingapp-{NEW}"
    assert package["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        f"src/bookingapp_{NEW}"
    ]

    assert f"wrote infra/services/{NEW}.toml" in out
    assert out.splitlines()[-1].startswith("next: `uv lock`")


def test_every_line_of_the_new_entries_keeps_its_comment(repo, capsys):
    """The project rule (every Traefik label says what it emulates) holds for the copy too."""
    assert add(repo, capsys, NEW)[0] == 0
    new = (repo / "compose.yaml").read_text().split(f"  {NEW}:\n", 1)[1].split("\n\n", 1)[0]
    assert [line for line in new.splitlines() if "traefik." in line and "#" not in line] == []
    priority = load_all(repo / "infra" / "services")[NEW].alb.priority
    assert f"# ALB priority {priority}: lower wins there" in new


def test_the_new_service_can_itself_be_the_model_of_the_next(repo, capsys):
    assert add(repo, capsys, NEW)[0] == 0
    priority = load_all(repo / "infra" / "services")[NEW].alb.priority
    assert add(repo, capsys, OTHER, "--priority", str(priority + 5))[0] == 0
    services = load_all(repo / "infra" / "services")
    assert app_names(services)[-2:] == [NEW, OTHER]
    assert set(workspace_apps(repo)) == set(app_names(services))


@pytest.mark.docker  # runs `docker compose config`: the CLI and its Compose plugin, no engine
def test_compose_accepts_the_files_with_the_new_service(repo, capsys):
    assert add(repo, capsys, NEW)[0] == 0
    alone = compose_config(repo / "compose.yaml")
    assert alone.returncode == 0, alone.stderr
    merged = compose_config(repo / "compose.yaml", repo / "compose.override.yaml")
    assert merged.returncode == 0, merged.stderr
    assert f'"{NEW}"' in merged.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["Shop"], "service name 'Shop' must be lowercase letters and digits"),
        (["car-hire"], "(try 'carhire')"),
        (["1st"], "service name '1st' must be lowercase letters and digits"),
        (["x" * 64], "at most 63"),
        (["home"], "service 'home' exists: infra/services/home.toml is there"),
        (["docs"], "name 'docs' is taken: "),
        (["traefik"], "name 'traefik' is taken: compose.yaml has a service 'traefik'"),
        (
            ["homepage"],
            "homepage.toml: alb.path_pattern '/homepage*' overlaps '/home*' of home.toml",
        ),
        (["ho"], "ho.toml: alb.path_pattern '/ho*' overlaps '/home*' of home.toml"),
        # Named in file-name order: "ferry.toml ... used by home.toml" or the other way round.
        ([NEW, "--priority", "10"], "alb.priority 10 is already used by "),
        ([NEW, "--priority", "0"], f"{NEW}.toml: alb.priority 0 must be between 1 and 50000"),
    ],
)
def test_a_refusal_is_one_line_exit_2_and_writes_nothing(repo, capsys, args, says):
    before = snapshot(repo)
    code, out, err = add(repo, capsys, *args)
    assert code == 2
    assert out == ""
    assert err.startswith("bookingapp-infra: error: ")
    assert err.count("\n") == 1
    assert says in err
    assert args[0] in err  # the new service (or its file) is named
    assert snapshot(repo) == before


def test_broken_parameter_files_are_named_before_anything_is_added(repo, capsys):
    (repo / "infra" / "services" / "movie.toml").write_bytes(b'name = "m\xe9"\n')
    before = snapshot(repo)
    code, _, err = add(repo, capsys, NEW)
    assert code == 2
    assert err.startswith("bookingapp-infra: error: fix the existing parameter files first: ")
    assert "movie.toml: not UTF-8" in err
    assert snapshot(repo) == before


def test_a_write_that_fails_half_way_leaves_every_file_as_it_was(repo, capsys, monkeypatch):
    before = snapshot(repo)
    real = Path.write_text
    written: list[Path] = []

    def failing(self: Path, *args, **kwargs):
        written.append(self)
        if len(written) == 4:
            raise OSError(28, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)
    code, _, err = add(repo, capsys, NEW)
    assert code == 1
    assert "No space left on device; nothing was changed" in err
    assert snapshot(repo) == before
    assert not (repo / NEW).exists()


def test_the_model_is_the_last_app_in_rule_order():
    services = load_all()
    assert scaffold.model_app(services).name == app_names(services)[-1]
