"""The one compose command line, overlay files and what inspect says, with no Docker engine.

What these cannot prove: that compose accepts the command; the journeys run it for real
(tests/local/test_journeys.py), after releases and autoscaling alike.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bookingapp_infra.errors import InputError
from bookingapp_infra.local import docker
from bookingapp_infra.local.docker import RELEASE, ScaleJob, compose_command, settings_for_new
from tests.local.fakes import compose_labels, replica


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with its compose.yaml and development override."""
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    (tmp_path / "compose.override.yaml").write_text("services: {}\n")
    return tmp_path


def started_from(project: Path, *extra: str) -> dict[str, str]:
    """Labels of a replica compose started from the project's files and `extra` ones."""
    files = [str(project / "compose.yaml"), str(project / "compose.override.yaml"), *extra]
    return {**compose_labels(files=",".join(files)), docker.WORKING_DIR: str(project)}


def files_of(command: list[str]) -> list[str]:
    """Return the -f files of a compose command line."""
    return [command[i + 1] for i, word in enumerate(command) if word == "-f"]


@pytest.mark.parametrize(
    "overlay",
    [
        "/tmp/bookingapp-local-k2j4/overlay.json",  # a release's or the autoscaler's, now
        "/tmp/bookingapp-local-k2j4/image.json",  # a release's, before issue 18
        "/tmp/bookingapp-autoscale-3bhx/image.json",  # the autoscaler's, before issue 18
    ],
)
def test_the_compose_command_leaves_out_the_overlay_a_replica_was_started_with(project, overlay):
    """The bug of issue 18: a replica a release or the autoscaler started names its overlay.

    Compose records every -f file on the containers it starts; the overlay is deleted
    afterwards, so passing it on fails every later scaling ("open ...: no such file").
    """
    like = replica("movie", labels=started_from(project, overlay))
    command = compose_command(like, "up", "--detach")
    assert files_of(command) == [
        str(project / "compose.yaml"),
        str(project / "compose.override.yaml"),
    ]
    assert command[:6] == ["docker", "compose", "--project-directory", str(project), "-p", "demo"]
    assert command[-2:] == ["up", "--detach"]


def test_an_existing_overlay_is_left_out_too(project, tmp_path_factory):
    """Another moment's overlay pins another image and release: never applied again."""
    scratch = tmp_path_factory.mktemp("bookingapp-local-still-here")
    (scratch / "overlay.json").write_text("{}")
    like = replica("movie", labels=started_from(project, str(scratch / "overlay.json")))
    assert str(scratch / "overlay.json") not in compose_command(like, "ps")


def test_a_new_overlay_comes_last(project, tmp_path):
    """The command's own overlay is applied over the project's files."""
    like = replica("movie", labels=started_from(project))
    command = compose_command(like, "up", overlay=tmp_path / "overlay.json")
    assert files_of(command)[-1] == str(tmp_path / "overlay.json")


def test_a_project_file_that_is_gone_is_named(project):
    """A compose file moved away since the stack started: say which, and where to run."""
    like = replica("movie", labels=started_from(project, str(project / "gone.yaml")))
    with pytest.raises(
        InputError, match=r"started from .*gone\.yaml, which is not on this machine"
    ):
        compose_command(like, "up")


def test_a_container_compose_did_not_start_is_refused():
    with pytest.raises(InputError, match="was not started by docker compose"):
        compose_command(replica("movie"), "up")


def test_the_overlay_names_the_service_settings_and_is_gone_afterwards():
    with docker.overlay("movie", {"image": "x:1"}) as path:
        assert json.loads(path.read_text()) == {"services": {"movie": {"image": "x:1"}}}
        assert docker.is_overlay(str(path))
    assert not path.exists()


def test_new_replicas_belong_to_the_release_of_the_ones_they_join():
    """The scaler's new replicas take the running image and release; a release names its own."""
    running = replica("movie", labels={RELEASE: "movie-7"})
    assert settings_for_new(running) == {"image": running.image, "labels": {RELEASE: "movie-7"}}
    assert settings_for_new(replica("movie")) == {
        "image": "bookingapp/bookingapp-movie:v7",
        "labels": {RELEASE: ""},
    }
    assert settings_for_new(running, "bookingapp/bookingapp-movie:v8", "movie-8") == {
        "image": "bookingapp/bookingapp-movie:v8",
        "labels": {RELEASE: "movie-8"},
    }


def test_a_scale_job_runs_the_one_compose_command_with_its_overlay(monkeypatch, project):
    """Releases and the autoscaler scale through this: the project's files, then the overlay."""
    started = {}

    class Recorder:
        """Stands in for Popen: remembers the command and reads the overlay it names."""

        def __init__(self, command, **kwargs):
            started.update(command=command, kwargs=kwargs)
            started["overlay"] = json.loads(Path(files_of(command)[-1]).read_text())

    monkeypatch.setattr(docker.subprocess, "Popen", Recorder)
    labels = {
        **started_from(project, "/tmp/bookingapp-autoscale-old/image.json"),
        RELEASE: "movie-41",
    }
    job = ScaleJob(replica("movie", labels=labels), 3)
    command = started["command"]
    assert files_of(command)[:2] == [
        str(project / "compose.yaml"),
        str(project / "compose.override.yaml"),
    ]
    assert len(files_of(command)) == 3
    assert command[command.index("up") :] == [
        "up", "--detach", "--no-recreate", "--no-deps", "--no-build", "--pull", "never",
        "--scale", "movie=3", "movie",
    ]  # fmt: skip
    assert started["overlay"] == {
        "services": {
            "movie": {"image": "bookingapp/bookingapp-movie:v7", "labels": {RELEASE: "movie-41"}}
        }
    }
    assert started["kwargs"]["start_new_session"] is True
    overlay = Path(files_of(command)[-1])
    job.close()
    assert not overlay.exists()


def test_a_failed_scale_names_the_command_not_a_flag():
    """What the user reads: `docker compose up --scale movie=3 failed: <compose's last line>`."""
    job = ScaleJob.__new__(ScaleJob)
    job.service, job.count = "movie", 3
    assert job.failure("no such image") == "docker compose up --scale movie=3 failed: no such image"


def inspected(mounts: list[dict[str, str]]) -> dict:
    """Return a `docker inspect` document of one movie replica with these mounts."""
    return {
        "Id": "c" * 64,
        "Name": "/p-movie-1",
        "Image": "sha256:a",
        "Config": {"Labels": {docker.SERVICE: "movie", docker.NUMBER: "1"}, "Image": "m:1",
                   "Hostname": "cccc"},
        "State": {"Running": True, "Health": {"Status": "healthy"}},
        "NetworkSettings": {"Networks": {"vpc": {"IPAddress": "10.0.0.2"}}, "Ports": {}},
        "Mounts": mounts,
    }  # fmt: skip


def test_bind_mounted_sources_are_told_from_secrets(monkeypatch):
    """The development override's source mounts count; compose's file secrets do not."""
    mounts = [
        {"Type": "bind", "Source": "/src/compose/dev-redis-password",
         "Destination": "/run/secrets/redis_password"},
        {"Type": "bind", "Source": "/src/movie/src", "Destination": "/dev-src/movie/src"},
        {"Type": "volume", "Source": "/var/lib/docker/volumes/x", "Destination": "/data"},
    ]  # fmt: skip
    answers = {"ps": "c" * 64, "inspect": json.dumps([inspected(mounts)])}
    monkeypatch.setattr(
        docker,
        "run",
        lambda args, timeout=120: subprocess.CompletedProcess(args, 0, answers[args[0]], ""),
    )
    [found] = docker.replicas("p", "movie")
    assert found.source_binds == (("/src/movie/src", "/dev-src/movie/src"),)
    assert len(found.binds) == 2


def test_a_replica_survives_the_round_trip_through_a_state_file():
    original = replica("movie", labels={RELEASE: "m-1"}, binds=(("/a", "/b"),))
    assert docker.Replica.from_json(json.loads(json.dumps(original.to_json()))) == original


def test_a_port_published_on_every_interface_is_reached_on_loopback():
    """0.0.0.0 (Docker's default) is reached on 127.0.0.1; an explicit host stays as it is."""
    anywhere = {"HostIp": "0.0.0.0", "HostPort": "8000"}  # noqa: S104 - what docker inspect says
    everywhere = replica(ports={"80/tcp": [anywhere]})
    local = replica(ports={"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9"}]})
    assert docker.published(everywhere, 80) == "127.0.0.1:8000"
    assert docker.published(local, 8080) == "127.0.0.1:9"
    with pytest.raises(InputError, match="does not publish port 8080"):
        docker.published(everywhere, 8080)
