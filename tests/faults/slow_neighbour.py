"""A neighbour that answers readiness slowly, so home's page requests stay in flight.

Run inside a container by the fault suite (tests/faults/compose.faults.yaml); standard
library only, so the plain Python base image serves it.
"""

import json
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
    ThreadingHTTPServer(("", 8000), SlowReadiness).serve_forever()
