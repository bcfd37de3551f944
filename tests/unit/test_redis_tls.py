"""REDIS_TLS: the apps speak TLS to Redis when told to, checking the server's name.

On AWS the infra sets REDIS_TLS=true when the counter runs on ElastiCache with
encryption in transit (infra/templates/service.yaml). Here a redis-server listening with
TLS only, behind a throwaway certificate for "localhost", stands in for it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bookingapp_common.config import DEFAULTS, ConfigError, from_environment
from bookingapp_common.counter import make_client
from tests.support import free_port, wait_until
from tests.unit.conftest import PASSWORD, pings


def test_redis_tls_is_off_unless_the_environment_says_true() -> None:
    assert DEFAULTS["REDIS_TLS"] is False
    assert "REDIS_TLS" not in from_environment({})
    assert from_environment({"REDIS_TLS": "true"})["REDIS_TLS"] is True
    assert from_environment({"REDIS_TLS": "false"})["REDIS_TLS"] is False


def test_a_redis_tls_value_that_is_not_a_boolean_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"REDIS_TLS must be one of .*, got 'on please'"):
        from_environment({"REDIS_TLS": "on please"})


def certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for "localhost" and its key; return both paths."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    names = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]
    subprocess.run(
        ["openssl", *request, "-keyout", str(key), "-out", str(cert), *names],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """Run a redis-server that accepts TLS only; yield its port and the CA to trust."""
    binary, openssl = shutil.which("redis-server"), shutil.which("openssl")
    if binary is None or openssl is None:
        pytest.skip("needs redis-server and openssl on PATH (.ci/run installs both)")
    cert, key = certificate(tmp_path_factory.mktemp("tls"))
    port = free_port()
    tls = ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    tls += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    plain = ["--save", "", "--appendonly", "no", "--requirepass", PASSWORD]
    process = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", *tls, *plain],
        stdout=subprocess.DEVNULL,
    )
    probe = redis.Redis(port=port, ssl=True, ssl_ca_certs=str(cert), password=PASSWORD)

    def answering() -> bool:
        """Say whether the TLS server answers PING, failing at once if it exited."""
        assert process.poll() is None, "redis-server with TLS exited at start"
        return pings(probe)

    wait_until(answering, 10, "redis-server with TLS did not answer", 0.05)
    yield port, cert
    process.terminate()
    process.wait(timeout=10)


def client(port: int, host: str = "localhost", **overrides: object) -> redis.Redis:
    """Build the app's Redis client for the TLS server."""
    config = {**DEFAULTS, "REDIS_HOST": host, "REDIS_PORT": port, "REDIS_PASSWORD": PASSWORD}
    return make_client({**config, "REDIS_TLS": True, **overrides})


def test_with_redis_tls_the_app_client_talks_to_a_tls_only_redis(
    tls_redis: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, ca = tls_redis
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the system trust store, as for ElastiCache
    assert client(port).incr("tls-hits") == 1


def test_with_redis_tls_a_certificate_for_another_name_is_refused(
    tls_redis: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, ca = tls_redis
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        client(port, host="127.0.0.1").ping()


def test_without_redis_tls_a_tls_only_redis_does_not_answer(
    tls_redis: tuple[int, Path],
) -> None:
    port, _ = tls_redis
    with pytest.raises(redis.ConnectionError):
        client(port, REDIS_TLS=False).ping()
