"""Redis's name on the compose stack, as a TCP switch a test re-points (a failover's DNS move).

Run inside a container by tests/compose/test_redis_failover.py (compose.failover.yaml):
`python name_switch.py PORT HOST:TARGET_PORT CONTROL_FILE`. It listens on PORT and sends each
new connection to the target; writing another `host:port` to CONTROL_FILE re-points it, and
connections already open keep the node they reached, as they do when a DNS record moves.
Standard library only (tests/stubs.py beside it), so the plain Python base image runs it.
"""

import sys
import time
from pathlib import Path

from stubs import Name

POLL_SECONDS = 0.05


def target(text: str) -> tuple[str, int]:
    """Parse `host:port`."""
    host, port = text.strip().rsplit(":", 1)
    return host, int(port)


def main(port: str, first: str, control: str) -> None:
    """Serve the name, re-pointing it whenever the control file says another target."""
    # All interfaces of its own container: the stack's private network, nothing published.
    name = Name(target(first), listen=("0.0.0.0", int(port)))  # noqa: S104
    said = first
    while True:
        try:
            wanted = Path(control).read_text().strip()
        except OSError:  # not written yet: keep the first target
            wanted = said
        if wanted and wanted != said:
            name.point_at(target(wanted))
            said = wanted
            print(f"pointing at {said}", flush=True)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main(*sys.argv[1:])
