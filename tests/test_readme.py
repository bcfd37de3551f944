"""The README's "Things to try", run verbatim: each block, as written, on a port that is not 80.

A newcomer copies these blocks into a shell; so does this test, one bash per block in the
README's order, on one stack, with only HTTP_PORT (and the project's name and ports) set.
A block that stops working as written fails here, not in a reader's terminal.
Only the tests that run blocks need Docker (and are marked so); the checks of the README's
text and of this harness run in the fast tier too.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bookingapp_infra.local import docker
from bookingapp_infra.local.traefik import Traefik
from tests.support import ROOT, app_services, free_port, stack_environ

README = ROOT / "README.md"


def things_to_try() -> list[str]:
    """Return the sh blocks of the README's "Things to try" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Things to try\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


BLOCKS = things_to_try()


def test_a_failed_block_shows_the_end_of_the_logs_it_wrote(tmp_path):
    log = tmp_path / "demo.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    block = f"some-command > {log} 2>&1 &\ngrep -q done {log}; tail {log}"
    tail = logs_of(block)
    assert tail.startswith(f"\n--- the last lines of {log}:\nline 60\n")
    assert tail.endswith("line 99")
    assert tail.count("--- the last lines") == 1  # named twice, shown once


def waited_on_unemptied(block: str) -> list[str]:
    """Return the logs a block waits on (`until ... LOG`) that it does not empty first.

    `cmd > LOG 2>&1 &` truncates LOG in the background job, an instant after the shell has
    gone on: the loop's first grep can still read the previous run's lines (measured: 3 of
    300 tries beside 4 CPU hogs), find the line it waits for and run on ahead of the command.
    """
    lines = block.replace("\\\n", " ").splitlines()
    late = []
    for number, line in enumerate(lines):
        for log in re.findall(r">\s*(/tmp/[\w./-]+\.log)\s+2>&1\s*&", line):
            emptying = re.compile(rf":\s*>\s*{re.escape(log)}(\s+#.*)?")
            waited = any(later.startswith("until ") and log in later for later in lines[number:])
            emptied = any(emptying.fullmatch(earlier.strip()) for earlier in lines[:number])
            if waited and not emptied:
                late.append(log)
    return late


def test_a_log_a_block_waits_on_is_emptied_before_its_command_starts():
    """A second run of a block must wait for its own command's line, not the last run's."""
    assert [waited_on_unemptied(block) for block in BLOCKS] == [[]] * len(BLOCKS)


def test_the_check_finds_a_waited_on_log_left_as_the_last_run_wrote_it():
    racy = "release > /tmp/r.log 2>&1 &\nuntil grep -q done /tmp/r.log; do sleep 1; done"
    assert waited_on_unemptied(racy) == ["/tmp/r.log"]
    assert waited_on_unemptied(": > /tmp/r.log  # fresh\n" + racy) == []
    assert waited_on_unemptied("scale > /tmp/s.log 2>&1 &\nsleep 60; grep x /tmp/s.log") == []


def test_the_readme_has_the_blocks_this_test_expects():
    """Start, load balancing, rolling, blue/green, autoscaling: the journey below reads them."""
    assert len(BLOCKS) == 5
    assert BLOCKS[0].startswith("docker compose -f compose.yaml up")
    assert all("localhost/" not in block for block in BLOCKS)  # every URL follows HTTP_PORT


class Shell:
    """Run README blocks in bash, from the repo root, with the stack's variables set."""

    def __init__(self, tmp: Path) -> None:
        project = f"readme-{uuid.uuid4().hex[:8]}"
        self.env = {
            **stack_environ(),  # never the caller's TAG, as Stack
            "COMPOSE_PROJECT_NAME": project,
            "HTTP_PORT": str(free_port()),
            "DASHBOARD_PORT": str(free_port()),
            "TRAEFIK_DYNAMIC_DIR": str(tmp),  # this stack's blue/green rules, nobody else's
        }

    def run(self, block: str, timeout: float) -> str:
        """Run one block with `bash -e`; fail with its output unless it exits 0."""
        done = subprocess.run(
            ["bash", "-e", "-c", block],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, (
            f"{block}\nexit {done.returncode}\n{done.stdout}{done.stderr}{logs_of(block)}"
        )
        return done.stdout

    def down(self) -> None:
        """Take the stack away, volumes and the README's v2 image tag included."""
        compose = ["docker", "compose", "-f", "compose.yaml", "down", "--volumes", "-t", "2"]
        subprocess.run(compose, cwd=ROOT, env=self.env, capture_output=True, check=False)


def logs_of(block: str) -> str:
    """Return the end of each log file a block's background command wrote (/tmp/NAME.log).

    A block that fails after its background release or autoscaler ended early says nothing
    by itself; the command's own lines say why (an alarm, a rollback, a refusal).
    """
    tails = []
    for name in dict.fromkeys(re.findall(r"/tmp/[\w./-]+\.log", block)):
        try:
            lines = Path(name).read_text(errors="replace").splitlines()
        except OSError as error:
            lines = [f"(unreadable: {error})"]
        tails.append(f"\n--- the last lines of {name}:\n" + "\n".join(lines[-LOG_LINES:]))
    return "".join(tails)


LOG_LINES = 40  # of each background command's log, in a failed block's message
STALE = "(a previous run's line)"  # what the blue/green block's log must have lost


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    """The README's first block, run verbatim: the stack from compose.yaml, up and healthy."""
    runner = Shell(tmp_path_factory.mktemp("rules"))
    try:
        runner.run(BLOCKS[0], timeout=900)
        # `up --wait` returns once Docker calls every container healthy; Traefik adds them to
        # its pool a moment later (its provider's throttle, its first check), as the README says.
        traefik = Traefik(f"http://127.0.0.1:{runner.env['DASHBOARD_PORT']}")
        project = runner.env["COMPOSE_PROJECT_NAME"]
        for service in app_services():
            traefik.wait_up(docker.replicas(project, service), timeout=90)
        yield runner
    finally:
        runner.down()


@pytest.mark.docker
@pytest.mark.traefik
def test_the_load_balancing_block_shows_two_instances_one_count_and_the_default_action(shell):
    out = shell.run(BLOCKS[1], timeout=60).splitlines()
    pages = [json.loads(line) for line in out[:4]]
    assert [p["service"] for p in pages] == ["movie"] * 4
    hits = [p["hits"] for p in pages]
    assert hits == list(range(hits[0], hits[0] + 4))  # one shared count, one hit per visit
    assert len({p["instance"] for p in pages}) == 2  # both replicas answered
    assert sum(line.startswith("last served by <code>") for line in out[4:]) == 2  # movie, bus
    assert out[-1].startswith("HTTP/1.1 404")


@pytest.mark.docker
@pytest.mark.traefik
def test_the_rolling_release_block_leaves_movie_on_the_new_image(shell):
    out = shell.run(BLOCKS[2], timeout=900)
    assert "bookingapp/bookingapp-movie:v2" in out


@pytest.mark.docker
@pytest.mark.traefik
def test_the_blue_green_block_serves_green_to_test_traffic_then_to_everyone(shell):
    """Run as a second time: the last run's log is there, its lines must not be taken for this one's."""
    project = shell.env["COMPOSE_PROJECT_NAME"]
    blue = {replica.hostname for replica in docker.replicas(project, "movie")}
    assert len(blue) == 2  # movie's desired count, after the rolling block
    Path("/tmp/release.log").write_text(f"{STALE}\nwaiting for approval\napproved\n")
    out = shell.run(BLOCKS[3], timeout=900)
    green = json.loads(out.splitlines()[0])
    assert green["service"] == "movie"
    assert green["instance"] not in blue, "the test header reached blue: was green up yet?"
    log = Path("/tmp/release.log").read_text()
    assert STALE not in log
    assert "waiting for approval" in log
    assert "approved" in log


@pytest.mark.docker
@pytest.mark.traefik
def test_the_autoscaling_block_scales_movie_out_under_load_and_back_in_when_quiet(shell):
    out = shell.run(BLOCKS[4], timeout=600)
    assert re.search(r"^\S+ movie: .*\(scale out\)", out, flags=re.M), out
    assert re.search(r"^\S+ movie: .*\(scale in\)", out, flags=re.M), out
