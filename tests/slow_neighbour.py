"""A neighbour that answers readiness slowly, so home's page requests stay in flight.

Run inside a container by the fault suite (tests/faults/compose.faults.yaml, port 8000) and
the image suite (tests/docker/test_image.py, PORT=5000); standard library only, so the
plain Python base image serves it.
"""

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY_SECONDS = 2.0


class SlowReadiness(BaseHTTPRequestHandler):
    """Answer every GET as a ready neighbour, after DELAY_SECONDS."""

    def do_GET(self) -> None:
        """Wait, then answer 200 with a readiness document."""
        time.sleep(DELAY_SECONDS)
        body = json.dumps({"status": "ready", "hits": 0, "instance": "slow-stub"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    ThreadingHTTPServer(("", port), SlowReadiness).serve_forever()
