"""A Redis failover on the local stack, under load through Traefik: the name moves, visits recover.

What ElastiCache Multi-AZ (or a Redis task replacement) does, reproduced with compose
(compose.failover.yaml): `redis-replica` is a replica of `redis`; Redis's own coordinated
FAILOVER swaps their roles (writes paused until the replica caught up, then the old primary
answers writes with READONLY on the connections the apps hold); then the name movie reaches
Redis by, `redis-name` (a TCP switch standing in for the DNS record: tests/name_switch.py),
is pointed at the new primary. New connections reach it, open ones stay with the demoted
node, which stays up and reachable, as through DNS. Clients keep visiting /movie through
the listener the whole time.

The bound is the one docs/redis.md states: visits are 200 again within 2 s of the name
pointing at a primary. And what comes after on the same stack: a release of movie, whose
new replicas must find the new primary by the name, as new tasks do. What this cannot show: how long AWS takes to move the name (the
primary endpoint's DNS record, a Cloud Map TTL), which is the platform's.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bookingapp_common.promises import PAGE_SLACK_SECONDS, REDIS_WAIT_SECONDS
from tests.compose.edge import (
    Edge,
    Traffic,
    assert_nothing_lost,
    edge_stack,
    local,
    relabelled_image,
)
from tests.support import ROOT, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.traefik]

OVERLAY = Path(__file__).with_name("compose.failover.yaml")
SERVICE = "movie"
PASSWORD = (ROOT / "compose" / "dev-redis-password").read_text().strip()  # the stack's secret
RECOVERY_SECONDS = 2.0  # docs/redis.md, "Failover": the bound promised
# The longest a visit takes when Redis cannot count it (the promise: 503 within 2 s).
VISIT_SECONDS = REDIS_WAIT_SECONDS + PAGE_SLACK_SECONDS
NAMESPACE = "bookingapp-failover"  # the images a release here builds


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    """redis, its replica, the name, traefik and movie (two replicas): compose.yaml, the overlay."""
    also = ("redis-replica", "redis-name")
    try:
        with edge_stack((SERVICE,), overlays=(OVERLAY,), also=also) as stack:
            yield stack
    finally:  # once no container uses them
        made = subprocess.run(
            ["docker", "images", "-q", "--filter", f"reference={NAMESPACE}/*"],
            capture_output=True, text=True, check=False, timeout=60,
        ).stdout.split()  # fmt: skip
        subprocess.run(["docker", "rmi", "-f", *made], capture_output=True, check=False)


def promote_the_replica(edge: Edge) -> None:
    """Redis's coordinated FAILOVER: the replica becomes the primary, the primary its replica."""
    wait_until(lambda: replica_in_sync(edge), 60, "the replica did not sync with the primary")
    # The old primary becomes the new one's replica, so it needs the password to sync
    # (compose.yaml's single node has no use for it; ElastiCache manages its own).
    assert edge.stack.redis_cli("CONFIG", "SET", "masterauth", PASSWORD) == "OK"
    assert edge.stack.redis_cli("FAILOVER", "TIMEOUT", "5000") == "OK"
    wait_until(lambda: role(edge, "redis-replica") == "master", 30, "no promotion")
    wait_until(lambda: role(edge, "redis") == "slave", 30, "the old primary kept writing")


def role(edge: Edge, service: str) -> str:
    """Return what the node says it is: master or slave."""
    return edge.stack.redis_cli("ROLE", service=service).splitlines()[0]


def replica_in_sync(edge: Edge) -> bool:
    """Tell whether the primary sees its replica online (FAILOVER needs one)."""
    info = edge.stack.redis_cli("INFO", "replication")
    return "connected_slaves:1" in info and "state=online" in info


def move_the_name(edge: Edge) -> None:
    """Point Redis's name (the switch) at the new primary; open connections keep the old one."""
    point = "open('/tmp/target', 'w').write('redis-replica:6379')"
    subprocess.run(
        ["docker", "exec", switch(edge), "python", "-c", point],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    wait_until(lambda: name_moved(edge), 10, "not re-pointed")


def switch(edge: Edge) -> str:
    """Return the container id of the name's switch."""
    return edge.stack.containers("redis-name")[0]["Id"]


def name_moved(edge: Edge) -> bool:
    """Say whether the switch has said it points at the new primary."""
    return "pointing at redis-replica:6379" in logs(switch(edge))


def logs(container: str) -> str:
    """Return a container's output so far."""
    done = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def test_a_failover_under_load_is_200_again_within_the_bound_and_counts_every_200(edge):
    """After FAILOVER and the name's move: 200s within 2 s, no 500, Redis count = the 200s."""
    wait_until(lambda: replica_in_sync(edge), 60, "the replica did not sync with the primary")
    before = edge.hits(SERVICE)
    with Traffic(edge.port, f"/{SERVICE}", clients=6) as traffic:
        traffic.wait_for(100)
        promote_the_replica(edge)
        promoted = time.monotonic()
        # The name still points at the demoted node: a while of visits it cannot count.
        traffic.wait_for(20, since=promoted)
        time.sleep(VISIT_SECONDS)
        moving = time.monotonic()
        move_the_name(edge)
        moved = time.monotonic()
        traffic.wait_for(100, since=moved + RECOVERY_SECONDS)
    after = int(edge.stack.redis_cli("GET", f"bookingapp:{SERVICE}:hits", service="redis-replica"))

    # No answer but 200 or the counter's 503: no 500, no dropped connection, ever.
    statuses = Counter(a.status for a in traffic.answers)
    assert set(statuses) <= {200, 503}, statuses
    # While the name pointed at the demoted node, nothing was written to it: 503s only.
    demoted = [a for a in traffic.since(promoted) if a.started < moving - VISIT_SECONDS]
    assert demoted
    assert {a.status for a in demoted} == {503}, Counter(a.status for a in demoted)
    # Once the name points at the primary, visits are counted again within the bound...
    counted = [a.started for a in traffic.since(moved) if a.status == 200]
    assert counted, "no visit was counted after the name moved"
    first = min(counted)
    print(f"200 again {first - moved:.2f} s after the name moved")  # docs/redis.md's figure
    assert first - moved < RECOVERY_SECONDS
    # ...and stay counted.
    late = traffic.since(moved + RECOVERY_SECONDS)
    assert {a.status for a in late} == {200}, Counter((a.status, a.problem) for a in late)
    # Nothing lost, nothing twice: the new primary's count is exactly the 200s' numbers.
    numbers = sorted(a.hits for a in traffic.answers if a.status == 200)
    assert numbers == list(range(before + 1, after + 1))


def test_a_release_after_a_failover_counts_on_the_new_primary_and_fails_no_request(edge):
    """Failover (if not done yet), then a rolling release of movie under load: 0 fail, 0 lost."""
    if role(edge, "redis-replica") != "master":
        promote_the_replica(edge)
    if not name_moved(edge):
        move_the_name(edge)
    wait_until(lambda: edge.get(f"/{SERVICE}/ready")[0] == 200, 30, "not counting after the move")
    image = relabelled_image(edge, NAMESPACE, "bookingapp.failover", SERVICE)
    old = {r.id for r in edge.replicas(SERVICE)}
    before = edge.hits(SERVICE)
    with Traffic(edge.port, f"/{SERVICE}", clients=3) as traffic:
        traffic.wait_for(50)
        done = local("release", SERVICE, "--image", image, "--project", edge.stack.project)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        traffic.wait_for(50, since=time.monotonic())
    after = edge.hits(SERVICE)
    assert_nothing_lost(before, after, traffic)
    new = edge.replicas(SERVICE)
    assert {r.image for r in new} == {image}
    assert not old & {r.id for r in new}, "a replica from before the release still runs"
    # The count is the new primary's: the new replicas reached it by the name.
    primary = edge.stack.redis_cli("GET", f"bookingapp:{SERVICE}:hits", service="redis-replica")
    assert int(primary) == after
