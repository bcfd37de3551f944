"""README's "Adding a service" is the whole job: its one command, then the stack serves it.

In a copy of the tracked files: the command README shows (pointed at the copy), `uv lock`,
then compose.yaml brought up with Traefik, home and the new app. The new app answers under
its prefix through the listener, home links to it and shows its panel, and `bookingapp-local
release` rolls it onto a new image and then releases another blue/green, with test traffic
and approval, while clients keep visiting it: no request fails, every hit counted once. What this does not prove: AWS (the copy's parameter
files are checked in tests/infra/test_scaffold.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from bookingapp_infra.cli import main
from tests.compose.edge import (
    Background,
    Edge,
    HeaderTraffic,
    Traffic,
    assert_nothing_lost,
    edge_stack,
    local,
    relabelled_image,
)
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

        # And bookingapp-local releases it as it releases the others, under load: its own
        # strategy (rolling), then blue/green with test traffic and approval.
        rolled = relabelled_image(edge, "bookingapp-added", "bookingapp.added", name)
        green = relabelled_image(edge, "bookingapp-added", "bookingapp.added", name)
        on_stack = ("--project", edge.stack.project)
        project = (*on_stack, "--services-dir", str(copy / "infra" / "services"))
        try:
            before = edge.hits(name)
            with Traffic(edge.port, f"/{name}", clients=3) as traffic:
                traffic.wait_for(30)
                done = local("release", name, "--image", rolled, *project, "--timeout", "300")
                assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
                assert {r.image for r in edge.replicas(name)} == {rolled}
                traffic.wait_for(30, since=time.monotonic())

                blue = {r.hostname for r in edge.replicas(name)}
                release = Background(
                    "release", name, "--image", green, "--strategy", "blue_green", "--approval",
                    "--bake-time-minutes", "0", "--timeout", "300", *project,
                )  # fmt: skip
                try:
                    release.wait_for_line("waiting for approval")
                    # Test traffic reaches green only, before production moves, as on the ALB.
                    with HeaderTraffic(edge.port, f"/{name}", clients=1) as test:
                        test.wait_for(10)
                    tested = {a.instance for a in test.answers}
                    assert tested, test.failures()
                    assert not tested & blue, tested
                    approved = local("approve", name, *on_stack, "--timeout", "300")
                    assert approved.returncode == 0, f"{approved.stdout}\n{approved.stderr}"
                    assert release.finish() == 0, release.seen
                finally:
                    release.kill()
                assert {r.image for r in edge.replicas(name)} == {green}
                traffic.wait_for(30, since=time.monotonic())
            assert_nothing_lost(before, edge.hits(name), traffic, test)
        finally:
            edge.stack.down()  # no container may still use the images
            subprocess.run(["docker", "rmi", rolled, green], capture_output=True, check=False)


def home_html(edge: Edge) -> str:
    """Return home's HTML page as the listener serves it."""
    return http_get(f"{edge.base}/home", {"Accept": "text/html"}).body
