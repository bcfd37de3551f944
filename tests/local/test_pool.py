"""Reading Traefik's pool and a replica's addresses, against a stand-in API (no Docker needed)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import compose, traefik
from bookingapp_infra.local.compose import Replica
from tests.stubs import StubHandler, serving

SERVICES = {
    "/api/http/services/home@docker": {
        "loadBalancer": {
            "servers": [{"url": "http://10.0.0.2:5000"}, {"url": "http://10.0.0.3:5000"}]
        },
        "serverStatus": {"http://10.0.0.2:5000": "UP", "http://10.0.0.3:5000": "DOWN"},
    },
    "/api/http/services/plain@docker": {
        "loadBalancer": {"servers": [{"url": "http://10.0.0.9:80"}]},
    },
}


@pytest.fixture
def api() -> Iterator[str]:
    """A stand-in for Traefik's API: two services, anything else 404, /broken 500."""

    class Handler(StubHandler):
        def do_GET(self) -> None:
            """Answer from SERVICES."""
            body = SERVICES.get(urllib.parse.unquote(self.path))  # as Traefik's router decodes
            status = 200 if body else (500 if "broken" in self.path else 404)
            self.answer(status, json.dumps(body or {"message": "not found"}).encode())

    with serving(Handler) as url:
        yield url


def replica(address: str, labels: dict[str, str] | None = None, ports=None) -> Replica:
    """A home replica at one address, with home's Traefik labels unless told otherwise."""
    default = {
        "traefik.enable": "true",
        "traefik.http.routers.home.rule": "PathPrefix(`/home`)",
        "traefik.http.services.home.loadbalancer.server.port": "5000",
    }
    return Replica(
        id="c" * 64, name="p-home-1", service="home", number=1, image="img", image_id="sha",
        hostname="cccccccccccc", health="healthy", addresses=(address,),
        labels=default if labels is None else labels, ports=ports or {},
    )  # fmt: skip


def test_pool_maps_each_server_to_traefiks_status(api):
    """The service's servers with the health check's verdict on each."""
    assert traefik.pool(api, "home") == {
        "http://10.0.0.2:5000": "UP",
        "http://10.0.0.3:5000": "DOWN",
    }


def test_a_service_without_health_check_has_every_server_up(api):
    """No serverStatus: Traefik sends traffic to every listed server."""
    assert traefik.pool(api, "plain") == {"http://10.0.0.9:80": "UP"}


def test_a_service_traefik_does_not_know_yet_has_an_empty_pool(api):
    """404 from the API (no replica registered yet) is an empty pool, not an error."""
    assert traefik.pool(api, "movie") == {}


def test_an_api_error_is_a_one_line_local_error(api):
    """A 500 from the API becomes a InfraError naming the service."""
    with pytest.raises(InfraError, match=r"answered 500 for broken@docker"):
        traefik.pool(api, "broken")


def test_a_replica_is_up_only_when_its_own_address_is_up(api):
    """Matching is by the replica's address and its load-balancer port."""
    servers = traefik.pool(api, "home")
    assert traefik.is_up(servers, replica("10.0.0.2"))
    assert not traefik.is_up(servers, replica("10.0.0.3"))  # listed, DOWN
    assert traefik.is_listed(servers, replica("10.0.0.3"))
    assert not traefik.is_listed(servers, replica("10.0.0.4"))


def test_the_traefik_service_comes_from_the_replicas_labels():
    """`traefik.http.services.<name>.` names the pool; no such label is refused."""
    assert traefik.lb_service(replica("10.0.0.2")) == "home"
    with pytest.raises(InputError, match="not behind Traefik"):
        traefik.lb_service(replica("10.0.0.2", labels={}))


def test_wait_up_fails_naming_the_replicas_still_not_up(api):
    """A replica that stays DOWN fails the wait with its name, within the time given."""
    with pytest.raises(InfraError, match="not UP in Traefik's pool within 0 s: p-home-1"):
        traefik.wait_up(api, [replica("10.0.0.3")], timeout=0.3)
    traefik.wait_up(api, [replica("10.0.0.2")], timeout=5)  # UP: returns


def test_a_port_published_on_every_interface_is_reached_on_loopback():
    """0.0.0.0 (Docker's default) is reached on 127.0.0.1; an explicit host stays as it is."""
    anywhere = {"HostIp": "0.0.0.0", "HostPort": "8000"}  # noqa: S104 - what docker inspect says
    everywhere = replica("10.0.0.2", ports={"80/tcp": [anywhere]})
    local = replica("10.0.0.2", ports={"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9"}]})
    assert compose.published(everywhere, 80) == "127.0.0.1:8000"
    assert compose.published(local, 8080) == "127.0.0.1:9"
    with pytest.raises(InputError, match="does not publish port 8080"):
        compose.published(everywhere, 8080)


METRICS = """\
# HELP traefik_service_requests_total How many HTTP requests processed on a service.
# TYPE traefik_service_requests_total counter
traefik_service_requests_total{code="200",method="GET",protocol="http",service="movie-green@file"} 812
traefik_service_requests_total{code="503",method="GET",protocol="http",service="movie-green@file"} 7
traefik_service_requests_total{method="GET",code="502",service="movie-green@file",protocol="http"} 2
traefik_service_requests_total{code="500",method="GET",protocol="http",service="movie-blue@file"} 40
traefik_service_requests_total{code="404",method="GET",protocol="http",service="movie-green@file"} 3
traefik_service_request_duration_seconds_count{code="503",service="movie-green@file"} 9
"""


def test_server_errors_are_the_5xx_counts_of_that_service_only():
    """5xx of any code and label order; not 2xx/4xx, not another service, not other metrics."""
    assert traefik.count_server_errors(METRICS, "movie-green@file") == 9
    assert traefik.count_server_errors(METRICS, "movie-blue@file") == 40
    assert traefik.count_server_errors(METRICS, "home-green@file") == 0


def test_server_errors_are_read_from_the_metrics_endpoint_or_none_when_it_is_off():
    """A Traefik started without --metrics.prometheus answers 404 there: nothing to read."""

    class Handler(StubHandler):
        def do_GET(self) -> None:
            """Serve METRICS on /metrics only when the path says so."""
            if self.path == "/on/metrics":
                self.answer(200, METRICS.encode())
            else:
                self.answer(404, b"404 page not found")

    with serving(Handler) as url:
        assert traefik.server_errors(f"{url}/on", "movie-green") == 9
        assert traefik.server_errors(f"{url}/off", "movie-green") is None
