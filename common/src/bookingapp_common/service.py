"""What makes one service different from another: its name, title and page content."""

from __future__ import annotations

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

    @property
    def prefix(self) -> str:
        """Return the path prefix, as in the ALB rule `/<name>*` (never stripped)."""
        return f"/{self.name}"
