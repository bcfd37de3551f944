"""The Traefik client and what labels tell Traefik, against a stand-in API (no Docker needed)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import traefik
from bookingapp_infra.local.traefik import Traefik
from tests.local.fakes import replica as fake
from tests.local.fakes import traefik_labels
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
    "/api/http/services/movie-production@file": {
        "weighted": {"services": [{"name": "movie-blue@file", "weight": 50},
                                  {"name": "movie-green@file", "weight": 50}]},
    },
    "/api/http/routers/movie-production@file": {"status": "enabled"},
    "/api/http/routers/movie-test@file": {"status": "disabled"},
}  # fmt: skip


@pytest.fixture
def api() -> Iterator[Traefik]:
    """A stand-in for Traefik's API: two services, anything else 404, /broken 500."""

    class Handler(StubHandler):
        def do_GET(self) -> None:
            """Answer from SERVICES."""
            body = SERVICES.get(urllib.parse.unquote(self.path))  # as Traefik's router decodes
            status = 200 if body else (500 if "broken" in self.path else 404)
            self.answer(status, json.dumps(body or {"message": "not found"}).encode())

    with serving(Handler) as url:
        yield Traefik(url)


def replica(address: str, labels: dict[str, str] | None = None):
    """A home replica at one address, with home's Traefik labels unless told otherwise."""
    return fake(
        "home", address=address, labels=traefik_labels("home") if labels is None else labels
    )


def test_pool_maps_each_server_to_traefiks_status(api):
    """The service's servers with the health check's verdict on each."""
    assert api.pool("home") == {
        "http://10.0.0.2:5000": "UP",
        "http://10.0.0.3:5000": "DOWN",
    }


def test_a_service_without_health_check_has_every_server_up(api):
    """No serverStatus: Traefik sends traffic to every listed server."""
    assert api.pool("plain") == {"http://10.0.0.9:80": "UP"}


def test_a_service_traefik_does_not_know_yet_has_an_empty_pool(api):
    """404 from the API (no replica registered yet) is an empty pool, not an error."""
    assert api.pool("movie") == {}


def test_an_api_error_is_a_one_line_local_error(api):
    """A 500 from the API becomes a InfraError naming the service."""
    with pytest.raises(InfraError, match=r"answered 500 for broken@docker"):
        api.pool("broken")


def test_a_replica_is_up_only_when_its_own_address_is_up(api):
    """Matching is by the replica's address and its load-balancer port."""
    servers = api.pool("home")
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
        api.wait_up([replica("10.0.0.3")], timeout=0.3)
    api.wait_up([replica("10.0.0.2")], timeout=5)  # UP: returns


def test_routers_and_weights_of_a_release_are_read_as_traefik_shows_them(api):
    """A weighted service's children by name (provider dropped); a router enabled or not."""
    assert api.weights("movie-production") == {"movie-blue": 50, "movie-green": 50}
    assert api.weights("home-production") == {}
    assert api.router_enabled("movie-production")
    assert not api.router_enabled("movie-test")
    assert not api.router_enabled("home-test")


MOVIE_LABELS = {
    "traefik.enable": "true",
    "traefik.http.routers.movie.entrypoints": "web",
    "traefik.http.routers.movie.rule": "PathPrefix(`/movie`)",
    "traefik.http.routers.movie.priority": "980",
    "traefik.http.services.movie.loadbalancer.server.port": "5000",
    "traefik.http.services.movie.loadbalancer.healthcheck.path": "/movie/health",
    "traefik.http.services.movie.loadbalancer.healthcheck.interval": "1s",
    "traefik.http.services.movie.loadbalancer.healthcheck.timeout": "1s",
}


def test_the_docker_labels_give_the_listener_and_the_health_check():
    listener, health = traefik.listener(fake("movie", labels=MOVIE_LABELS))
    assert listener == traefik.Listener("PathPrefix(`/movie`)", 980, ("web",))
    assert health == traefik.HealthCheck("/movie/health", "1s", "1s")


def test_without_a_priority_label_the_rule_length_is_traefiks_priority():
    listener, health = traefik.listener(fake("movie", labels=traefik_labels("movie")))
    assert listener.priority == len("PathPrefix(`/movie`)")
    assert health == traefik.HealthCheck("/", "5s", "2s")


def test_a_replica_without_a_traefik_router_is_refused():
    with pytest.raises(InputError, match="not behind the ALB"):
        traefik.listener(fake("movie", labels={"traefik.enable": "false"}))


def test_a_rules_file_lists_a_replica_by_its_address_on_the_label_port():
    assert traefik.server_url(fake("movie", address="10.0.0.2", labels=MOVIE_LABELS)) == (
        "http://10.0.0.2:5000"
    )


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
        assert Traefik(f"{url}/on").server_errors("movie-green") == 9
        assert Traefik(f"{url}/off").server_errors("movie-green") is None
