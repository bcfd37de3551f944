"""REDIS_TLS: the apps speak TLS to Redis when told to, checking the server's name.

On AWS the infra sets REDIS_TLS=true when the counter runs on ElastiCache with
encryption in transit (infra/templates/service.yaml). Here a redis-server listening with
TLS only, behind a throwaway certificate for "localhost", stands in for it.
"""

from __future__ import annotations

import contextlib
import datetime
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from testcontainers.core.container import DockerContainer

from bookingapp_common.config import DEFAULTS, ConfigError, from_environment
from bookingapp_common.counter import make_client
from tests.support import free_port, unit_redis_is_a_container, wait_until
from tests.unit.conftest import PASSWORD, REDIS_IMAGE, pings


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
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    # Readable by the container's redis user too: a throwaway key for a loopback-only server.
    key_path.chmod(0o644)
    directory.chmod(0o755)
    return cert_path, key_path


def tls_arguments(cert: str, key: str) -> list[str]:
    """Return redis-server's arguments for TLS only, with the test password."""
    tls = ["--tls-cert-file", cert, "--tls-key-file", key]
    tls += ["--tls-ca-cert-file", cert, "--tls-auth-clients", "no"]
    return [*tls, "--save", "", "--appendonly", "no", "--requirepass", PASSWORD]


@contextlib.contextmanager
def tls_redis_process(directory: Path, port: int) -> Iterator[Callable[[], None]]:
    """Run a local redis-server that accepts TLS only on the port; yield a liveness check."""
    binary = shutil.which("redis-server")
    assert binary, "BOOKINGAPP_TEST_REDIS=local but no redis-server on PATH"
    arguments = tls_arguments(str(directory / "cert.pem"), str(directory / "key.pem"))
    process = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", *arguments],
        stdout=subprocess.DEVNULL,
    )

    def alive() -> None:
        """Fail at once if the server exited at start."""
        assert process.poll() is None, "redis-server with TLS exited at start"

    try:
        yield alive
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def tls_redis_container(directory: Path, port: int) -> Iterator[Callable[[], None]]:
    """Run the Redis image with TLS only, published on the loopback port (no local binary)."""
    arguments = tls_arguments("/tls/cert.pem", "/tls/key.pem")
    command = ["redis-server", "--port", "0", "--tls-port", "6379", *arguments]
    container = DockerContainer(REDIS_IMAGE).with_command(" ".join(map(shlex.quote, command)))
    container.with_volume_mapping(str(directory), "/tls", "ro")
    container.ports[6379] = ("127.0.0.1", port)  # loopback only, as RedisContainerServer
    container.start()

    def alive() -> None:
        """Fail at once if the container exited at start."""
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        assert wrapped.status == "running", "the Redis container with TLS exited at start"

    try:
        yield alive
    finally:
        container.stop()


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """Run a Redis that accepts TLS only (redis-server, else a container); yield port and CA."""
    directory = tmp_path_factory.mktemp("tls")
    cert, _ = certificate(directory)
    port = free_port()
    server = tls_redis_container if unit_redis_is_a_container() else tls_redis_process
    with server(directory, port) as alive:
        probe = redis.Redis(port=port, ssl=True, ssl_ca_certs=str(cert), password=PASSWORD)

        def answering() -> bool:
            """Say whether the TLS server answers PING, failing at once if it exited."""
            alive()
            return pings(probe)

        wait_until(answering, 60, "Redis with TLS did not answer", 0.05)
        yield port, cert


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
