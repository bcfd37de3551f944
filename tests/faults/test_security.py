"""Security properties of the running stack, checked on the containers themselves."""

from __future__ import annotations

import json

import pytest

from tests.support import resolved_compose

pytestmark = pytest.mark.docker

APPS = ("home", "movie")

# Run inside an app container: who PID 1 (gunicorn) is, and how / and /tmp are mounted.
WHO_AND_WHERE = """
import json, os
uid = next(l.split()[1] for l in open('/proc/1/status') if l.startswith('Uid:'))
print(json.dumps({'pid1_uid': int(uid), 'uid': os.getuid(),
                  'root_read_only': bool(os.statvfs('/').f_flag & os.ST_RDONLY),
                  'tmp_read_only': bool(os.statvfs('/tmp').f_flag & os.ST_RDONLY)}))
"""

# Run inside an app container: talk to Redis over the network without, then with a bad password.
ASK_REDIS = """
import json, socket
answers = []
for command in (b'PING\\r\\n', b'GET bookingapp:movie:hits\\r\\n', b'AUTH default wrong\\r\\n'):
    with socket.create_connection(('redis.internal-bookingapp.com', 6379), timeout=5) as s:
        s.sendall(command)
        answers.append(s.recv(200).decode())
print(json.dumps(answers))
"""


def run_in(stack, service: str, script: str) -> object:
    """Run Python in the service's first container and decode its JSON output."""
    container = stack.containers(service)[0]["Id"]
    return json.loads(stack.docker("exec", container, "python", "-c", script))


@pytest.mark.parametrize("service", APPS)
def test_apps_run_as_a_non_root_user_on_a_read_only_root(stack, service):
    """The app server (PID 1) runs as uid 10001; / is read-only, only /tmp is writable."""
    seen = run_in(stack, service, WHO_AND_WHERE)
    assert seen == {"pid1_uid": 10001, "uid": 10001, "root_read_only": True, "tmp_read_only": False}
    for container in stack.containers(service):
        assert container["HostConfig"]["ReadonlyRootfs"] is True
        assert container["HostConfig"]["CapDrop"] == ["ALL"]


def test_redis_runs_as_non_root(stack):
    """Redis runs as the official image's redis user (uid 999), not root."""
    container = stack.containers("redis")[0]["Id"]
    status = stack.docker("exec", container, "cat", "/proc/1/status")
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert uid == "999"


def test_redis_refuses_clients_without_its_password(stack):
    """From inside the network, Redis answers NOAUTH without, WRONGPASS with a bad password."""
    ping, read, auth = run_in(stack, "movie", ASK_REDIS)
    assert ping.startswith("-NOAUTH")
    assert read.startswith("-NOAUTH")
    assert auth.startswith("-WRONGPASS")


def test_only_traefik_publishes_ports_and_redis_none():
    """In compose.yaml (the production topology) no app and not Redis has a host port."""
    services = resolved_compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"traefik"}


def test_redis_publishes_nothing_on_the_running_stack(stack):
    """The running Redis has no host port; the apps' test ports are on loopback only."""
    for container in stack.containers("redis"):
        assert not container["HostConfig"]["PortBindings"]
    for service in APPS:  # published by compose.faults.yaml for the host's tests
        for container in stack.containers(service):
            bound = container["NetworkSettings"]["Ports"]["5000/tcp"]
            assert {b["HostIp"] for b in bound} == {"127.0.0.1"}


def test_traefik_dashboard_is_bound_to_localhost_only():
    """The dashboard port 8080 is published on 127.0.0.1 only; Redis publishes nothing."""
    services = resolved_compose()["services"]
    dashboard = [p for p in services["traefik"].get("ports", []) if p["target"] == 8080]
    assert dashboard
    assert {p.get("host_ip") for p in dashboard} == {"127.0.0.1"}
    assert "ports" not in services["redis"]
