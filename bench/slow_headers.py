"""Slow-header clients against home: straight at gunicorn, and through Traefik (the ALB's part).

Run by hand from the repo root (needs Docker with Compose v2; about 2 minutes):

    uv run python bench/slow_headers.py     # PYTHON_IMAGE / REDIS_IMAGE / TRAEFIK_IMAGE, TAG

It starts compose.yaml under a throwaway project (nothing published but on 127.0.0.1) and
runs, inside a home container (so all traffic stays on the compose network), CLIENTS
connections that send a request line and then one header byte a second, while a probe asks
/home/health four times a second with a 2 s timeout. First straight at that container's
gunicorn (127.0.0.1:5000), then through Traefik (traefik:80). It prints one JSON line per
target: how many probes answered, how many timed out, and the slowest answer.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.compose.stack import APP_SERVICES, Stack

CLIENTS = 16  # as many as home's gunicorn has threads (2 workers x 8)
SECONDS = 20

# Runs inside the home container: the tricklers and the probe, one JSON line per target.
TRICKLE = """
import json, socket, threading, time, urllib.request
host, port, clients, seconds = {host!r}, {port}, {clients}, {seconds}
stop = time.monotonic() + seconds

def trickle():
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /home/health HTTP/1.1\\r\\nHost: x\\r\\n")
        while time.monotonic() < stop:
            s.sendall(b"X")  # one byte of a header that never ends
            time.sleep(1)
        s.close()
    except OSError:
        pass

for _ in range(clients):
    threading.Thread(target=trickle, daemon=True).start()
time.sleep(2)  # let every trickler connect and be taken up
answered, timed_out, slowest = 0, 0, 0.0
while time.monotonic() < stop:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://{{host}}:{{port}}/home/health", timeout=2) as r:
            answered += r.status == 200
    except OSError:
        timed_out += 1
    slowest = max(slowest, time.monotonic() - started)
    time.sleep(0.25)
print(json.dumps({{"target": f"{{host}}:{{port}}", "clients": clients, "answered": answered,
                  "timed_out": timed_out, "slowest_s": round(slowest, 2)}}))
"""


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    """Start the stack, measure both targets, print the results, remove the stack."""
    env = {"HTTP_PORT": str(free_port()), "DASHBOARD_PORT": str(free_port())}
    env.setdefault("TAG", os.environ.get("TAG", "slow-headers"))
    stack = Stack(env=env, prefix="slow-headers")
    try:
        stack.up("traefik", *APP_SERVICES)
        for host, port in (("127.0.0.1", 5000), ("traefik", 80)):
            script = TRICKLE.format(host=host, port=port, clients=CLIENTS, seconds=SECONDS)
            print(json.dumps(stack.probe(script)), flush=True)
    finally:
        stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
