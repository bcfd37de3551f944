"""Container health check without curl: `python -m bookingapp_common.healthcheck`.

Used by the image's HEALTHCHECK, compose and the ECS task definition. It asks the
liveness endpoint, which never depends on Redis, so a Redis outage does not get
every task killed.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    """Return 0 when the service's liveness endpoint answers 200, else 1."""
    service = os.environ.get("BOOKINGAPP_SERVICE")
    if not service:
        print("BOOKINGAPP_SERVICE is not set", file=sys.stderr)
        return 1
    port = os.environ.get("PORT", "5000")
    url = f"http://127.0.0.1:{port}/{service}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
