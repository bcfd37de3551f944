"""What makes one service different from another: its name, title and page content."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    """Describe a service: the path prefix it serves under and what its page says."""

    name: str
    title: str
    tagline: str
    items: tuple[str, ...] = ()
    # Services whose state this page shows, fetched through their discovery names.
    neighbours: tuple[str, ...] = ()
    # Also show every other app of BOOKINGAPP_APPS (home), whichever they are.
    shows_other_apps: bool = False

    @property
    def prefix(self) -> str:
        """Return the path prefix, as in the ALB rule `/<name>*` (never stripped)."""
        return f"/{self.name}"

    def neighbours_among(self, apps: Sequence[str]) -> tuple[str, ...]:
        """Return the services this page shows, given every app service there is."""
        others = [name for name in apps if name != self.name] if self.shows_other_apps else []
        return tuple(dict.fromkeys([*self.neighbours, *others]))
