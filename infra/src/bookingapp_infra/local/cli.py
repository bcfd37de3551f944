"""bookingapp-local: run the local stack the way ECS runs the services (release, status, ...).

Exit codes: 0 done, 1 something failed on the way, 2 the request cannot be right here
(stack not up, image missing, unknown service). Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bookingapp_infra.errors import InfraError
from bookingapp_infra.local import autoscale, bluegreen, rolling, status

PROG = "bookingapp-local"
# Each verb module has add_parser(subparsers), which sets `handler`; add new verbs here.
# bluegreen extends release and status: keep it last.
VERBS = (rolling, status, autoscale, bluegreen)


def parser() -> argparse.ArgumentParser:
    """Build the parser: one subcommand per verb module."""
    top = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    subparsers = top.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    for verb in VERBS:
        verb.add_parser(subparsers)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb and return its exit code; errors become one line on stderr."""
    args = parser().parse_args(argv)
    try:
        args.handler(args)
    except InfraError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; containers started so far keep running", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
