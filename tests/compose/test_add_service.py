"""README's "Adding a service" is the whole job: its one command, then the stack serves it.

In a copy of the tracked files: the command README shows (pointed at the copy), `uv lock`,
then compose.yaml brought up with Traefik, home and the new app. The new app answers under
its prefix through the listener, home links to it and shows its panel, and `bookingapp-local
release` rolls it onto a new image. What this does not prove: AWS (the copy's parameter
files are checked in tests/infra/test_scaffold.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from bookingapp_infra.cli import main
from tests.compose.edge import Edge, edge_stack, local, relabelled_image
from tests.support import ROOT, copy_of_repository, http_get, unused_service_names


def readme_commands() -> list[str]:
    """Return the commands of README's "Adding a service" block, without their comments."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Adding a service\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_says_one_command_then_lock_and_up():
    first, then = readme_commands()
    assert re.fullmatch(r"uv run bookingapp-infra add-service [a-z][a-z0-9]*", first)
    assert then == "uv lock && docker compose up --build"


@pytest.mark.docker
@pytest.mark.traefik
def test_the_added_service_serves_through_traefik_and_home_shows_it(tmp_path):
    name = readme_commands()[0].rsplit(" ", 1)[1]
    if name != unused_service_names(1)[0]:  # this tree has README's service already
        name = unused_service_names(1)[0]
    copy = copy_of_repository(tmp_path / "repo")
    assert main(["add-service", name, "--root", str(copy)]) == 0
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH"
    locked = subprocess.run([uv, "lock"], cwd=copy, capture_output=True, text=True, check=False)
    assert locked.returncode == 0, locked.stderr

    with edge_stack(apps=("home", name), compose_file=copy / "compose.yaml") as edge:
        status, body, data = edge.get(f"/{name}")
        assert status == 200, body
        assert data is not None
        assert data["service"] == name
        assert f'href="/{name}"' in home_html(edge)

        def home_shows_it_up() -> bool:
            """The home page shows the new app's panel, up."""
            panel = rf'<a href="/{name}">{name}</a>:\s*<span class="up">up</span>'
            return re.search(panel, home_html(edge)) is not None

        edge.wait_for(home_shows_it_up)

        # And bookingapp-local releases it as it releases the others (its own strategy).
        image = relabelled_image(edge, "bookingapp-added", "bookingapp.added", name)
        try:
            done = local(
                "release", name, "--image", image, "--project", edge.stack.project,
                "--services-dir", str(copy / "infra" / "services"), "--timeout", "300",
            )  # fmt: skip
            assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
            assert {r.image for r in edge.replicas(name)} == {image}

            def serves_the_release() -> bool:
                """The listener serves the new app from its released replicas."""
                return edge.get(f"/{name}")[0] == 200

            # Once seen here: a 404 from Traefik for a moment right after the release ended.
            edge.wait_for(serves_the_release, timeout=15)
        finally:
            edge.stack.down()  # no container may still use the image
            subprocess.run(["docker", "rmi", image], capture_output=True, check=False)


def home_html(edge: Edge) -> str:
    """Return home's HTML page as the listener serves it."""
    return http_get(f"{edge.base}/home", {"Accept": "text/html"}).body
