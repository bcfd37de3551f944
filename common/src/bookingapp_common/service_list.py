"""Which app services exist, for the nav and home's panels: BOOKINGAPP_APPS.

No list is written in the code: the deploy reads it from infra/services/*.toml and passes
it in the task definition (service.yaml, Apps), and compose.yaml's shared app block sets
the same value, so a new service joins every app's nav and home's panels without a code
change. Unset, a page has no nav and home no panels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bookingapp_common.config import ConfigError

VARIABLE = "BOOKINGAPP_APPS"
# service.yaml's ServiceName AllowedPattern: the names a deploy can have given it.
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Return SERVICE_LINKS from BOOKINGAPP_APPS ("home,movie,bus"), or nothing when unset."""
    raw = environ.get(VARIABLE, "").strip()
    if not raw:
        return {}
    names = tuple(name.strip() for name in raw.split(","))
    if not all(_NAME.match(name) for name in names) or len(set(names)) < len(names):
        raise ConfigError(
            f"{VARIABLE} must be distinct service names separated by commas "
            f"(lowercase letters, digits and hyphens, such as home,movie), got {raw!r}"
        )
    return {"SERVICE_LINKS": names}
