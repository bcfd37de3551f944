"""The AWS docs (docs/deploy.md, docs/delivery.md, docs/pitfalls.md) say what the code does.

Each test reads a number or a list the code owns and checks the docs quote that one: a
doc that drifts from the code fails here, not in front of a first-time user.
"""

from __future__ import annotations

import re

from bookingapp_infra import cli
from tests.support import ROOT

DOCS = ROOT / "docs"
GUNICORN_CONF = ROOT / "common" / "src" / "bookingapp_common" / "gunicorn_conf.py"
PROMISES = ROOT / "common" / "src" / "bookingapp_common" / "promises.py"


def code_number(path_text: str, name: str) -> int:
    """Return the integer a `name = N` line of a source file sets."""
    (value,) = re.findall(rf"^{name} = (\d+)$", path_text, flags=re.MULTILINE)
    return int(value)


def test_pitfalls_give_the_graceful_timeout_the_gunicorn_config_sets() -> None:
    # gunicorn's config takes the number from promises.py, where the drain's bound is derived.
    conf = GUNICORN_CONF.read_text(encoding="utf-8")
    assert re.search(r"^graceful_timeout = GRACEFUL_STOP_SECONDS$", conf, flags=re.MULTILINE)
    graceful = code_number(PROMISES.read_text(encoding="utf-8"), "GRACEFUL_STOP_SECONDS")
    pitfalls = (DOCS / "pitfalls.md").read_text(encoding="utf-8")
    quoted = {int(n) for n in re.findall(r"graceful_timeout = (\d+)", pitfalls)}
    quoted |= {int(n) for n in re.findall(r"(\d+) s graceful timeout", pitfalls)}
    assert quoted == {graceful}


def checklist_rows() -> list[list[str]]:
    """Return the rows of docs/deploy.md's deploy checklist table (number, step, command)."""
    text = (DOCS / "deploy.md").read_text(encoding="utf-8")
    section = text.split("## Deploy checklist", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"^\| \d+ \|", line)]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_the_deploy_checklist_runs_in_order_from_prerequisites_to_destroy() -> None:
    rows = checklist_rows()
    assert [int(number) for number, _, _ in rows] == list(range(1, len(rows) + 1))
    verbs = [
        verb for _, _, command in rows for verb in re.findall(r"bookingapp-infra (\w+)", command)
    ]
    assert verbs == ["plan", "cost", "deploy", "status", "destroy"]
    steps = " ".join(step for _, step, _ in rows).lower()
    for needed in ("prerequisites", "images", "credentials", "plan", "cost", "deploy", "url"):
        assert needed in steps


def test_every_cli_command_the_checklist_names_exists() -> None:
    """A renamed verb or option breaks the checklist here, not for a first-time user."""
    choices = cli.parser()._subparsers._group_actions[0].choices
    for _, _, command in checklist_rows():
        for verb, rest in re.findall(r"bookingapp-infra (\w+)([^`]*)", command):
            assert verb in choices
            for option in re.findall(r"(--[a-z-]+)", rest):
                assert option in choices[verb]._option_string_actions
