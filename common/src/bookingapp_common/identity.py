"""Which instance is serving: the ECS task id on Fargate, the hostname elsewhere."""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass

# The metadata endpoint is link-local and answers in milliseconds; never stall start-up on it.
METADATA_TIMEOUT = 1.0

log = logging.getLogger("bookingapp.identity")


@dataclass(frozen=True)
class Instance:
    """The task (or container) serving requests, and where it runs."""

    id: str
    zone: str | None = None


def from_task_metadata(task: object) -> Instance:
    """Build the identity from a task metadata v4 `/task` document; ValueError if malformed."""
    if not isinstance(task, dict):
        raise ValueError("the task metadata document has no TaskARN string")
    arn = task.get("TaskARN")
    task_id = arn.rsplit("/", 1)[-1] if isinstance(arn, str) else ""
    if not task_id:
        raise ValueError("the task metadata document has no TaskARN string")
    zone = task.get("AvailabilityZone")
    return Instance(id=task_id, zone=zone if isinstance(zone, str) else None)


def discover(metadata_uri: str | None, timeout: float = METADATA_TIMEOUT) -> Instance:
    """Return this instance's identity; on ECS from the metadata endpoint, else the hostname."""
    if metadata_uri:
        try:
            with urllib.request.urlopen(f"{metadata_uri}/task", timeout=timeout) as response:  # noqa: S310 - the URI comes from the ECS agent
                return from_task_metadata(json.load(response))
        except (OSError, ValueError, RecursionError) as error:
            # A task must still serve if the agent is slow; the hostname is a usable fallback.
            log.warning("task metadata unavailable (%s); using the hostname as instance id", error)
    return Instance(id=socket.gethostname())
