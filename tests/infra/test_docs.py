"""The AWS docs (docs/deploy.md, docs/delivery.md, docs/pitfalls.md) say what the code does.

Each test reads a number or a list the code owns and checks the docs quote that one: a
doc that drifts from the code fails here, not in front of a first-time user.
"""

from __future__ import annotations

import re

from tests.support import ROOT

DOCS = ROOT / "docs"
GUNICORN_CONF = ROOT / "common" / "src" / "bookingapp_common" / "gunicorn_conf.py"


def code_number(path_text: str, name: str) -> int:
    """Return the integer a `name = N` line of a source file sets."""
    (value,) = re.findall(rf"^{name} = (\d+)$", path_text, flags=re.MULTILINE)
    return int(value)


def test_pitfalls_give_the_graceful_timeout_the_gunicorn_config_sets() -> None:
    graceful = code_number(GUNICORN_CONF.read_text(encoding="utf-8"), "graceful_timeout")
    pitfalls = (DOCS / "pitfalls.md").read_text(encoding="utf-8")
    quoted = {int(n) for n in re.findall(r"graceful_timeout = (\d+)", pitfalls)}
    quoted |= {int(n) for n in re.findall(r"(\d+) s graceful timeout", pitfalls)}
    assert quoted == {graceful}
