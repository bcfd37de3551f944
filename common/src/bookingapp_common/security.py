"""Response headers every answer carries: no sniffing, no caching, no framing, no leaks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask

from bookingapp_common.logs import StartResponse, WsgiApp

HEADERS = {
    # Browsers must take the Content-Type we send (JSON stays JSON), never guess one.
    "X-Content-Type-Options": "nosniff",
    # Every page shows a new count and which task served it: no browser or proxy may keep one.
    "Cache-Control": "no-store",
    # The page needs its inline style and nothing else: no scripts, frames, forms or bases.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    # For browsers older than CSP's frame-ancestors: the page is never shown in a frame.
    "X-Frame-Options": "DENY",
    # Links to the other services need not tell them where the visitor came from.
    "Referrer-Policy": "no-referrer",
}


# The same, as WSGI header tuples, and their names as WSGI may spell them (any case).
_TUPLES = tuple(HEADERS.items())
_NAMES = frozenset(name.lower() for name in HEADERS)


class SecurityHeaders:
    """WSGI middleware: add the headers to every answer, errors included; keep a view's own.

    Added at the WSGI edge, where headers are a plain list: Werkzeug's Headers.setdefault,
    name by name on every response, cost the health path more than its view.
    """

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve the request; add the headers its answer does not set itself."""

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if any(name.lower() in _NAMES for name, _ in headers):
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _TUPLES if h[0].lower() not in present)
            else:
                headers.extend(_TUPLES)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def init_app(app: Flask) -> None:
    """Put the security headers on every answer, errors included."""
    app.wsgi_app = SecurityHeaders(app.wsgi_app)  # type: ignore[method-assign]
