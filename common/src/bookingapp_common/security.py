"""Response headers every answer carries: no sniffing, no caching, no framing, no leaks."""

from __future__ import annotations

from flask import Flask, Response

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


def _add_headers(response: Response) -> Response:
    """Add the headers, keeping any a view set on purpose."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    """Put the security headers on every answer, errors included."""
    app.after_request(_add_headers)
