"""Instance identity: the ECS task id on Fargate, the hostname elsewhere."""

from __future__ import annotations

import json
import socket

import pytest

from bookingapp_common import identity
from bookingapp_common.identity import Instance, discover, from_task_metadata
from tests.stubs import StubHandler, serving
from tests.support import free_port

TASK = {
    "Cluster": "arn:aws:ecs:eu-west-1:111122223333:cluster/bookingapp",
    "TaskARN": "arn:aws:ecs:eu-west-1:111122223333:task/bookingapp/0f9b1c2d3e4f4a5b8c7d6e5f4a3b2c1d",
    "AvailabilityZone": "eu-west-1b",
}


@pytest.fixture
def metadata_endpoint():
    """Serve a task metadata v4 document the way the ECS agent does."""

    class Handler(StubHandler):
        def do_GET(self):
            if self.path == "/v4/abc/task":
                self.answer(200, json.dumps(TASK).encode())
            else:
                self.answer(404, b"{}")

    with serving(Handler) as url:
        yield f"{url}/v4/abc"


def test_on_ecs_the_instance_is_the_task_id_and_zone(metadata_endpoint):
    """The last segment of the TaskARN and the AZ come from the metadata endpoint."""
    assert discover(metadata_endpoint) == Instance(
        id="0f9b1c2d3e4f4a5b8c7d6e5f4a3b2c1d", zone="eu-west-1b"
    )


def test_without_ecs_the_instance_is_the_hostname():
    """Under compose the hostname is the container id."""
    assert discover(None) == Instance(id=socket.gethostname())


def test_an_unreachable_metadata_endpoint_falls_back_to_the_hostname(caplog):
    """A task still serves, and says why, when the agent does not answer."""
    port = free_port()
    assert discover(f"http://127.0.0.1:{port}/v4/x", timeout=0.5).id == socket.gethostname()
    assert "task metadata unavailable" in caplog.text


@pytest.mark.parametrize(
    "document",
    [
        b"[]",
        b'"task"',
        b"null",
        b'{"TaskARN": 42}',
        b'{"TaskARN": ["arn"]}',
        b'{"TaskARN": ""}',
        b'{"Cluster": "no task arn"}',
        b"[" * 5000 + b"]" * 5000,
        b"\xff\xfe not json",
    ],
    ids=[
        "list",
        "string",
        "null",
        "number-arn",
        "list-arn",
        "empty-arn",
        "no-arn",
        "deep",
        "bytes",
    ],
)
def test_a_malformed_metadata_document_falls_back_to_the_hostname(document, caplog):
    """Whatever the endpoint sends, the task boots, named by its hostname, and says why."""

    class Handler(StubHandler):
        def do_GET(self):
            self.answer(200, document)

    with serving(Handler) as url:
        instance = discover(f"{url}/v4/abc")
    assert instance == Instance(id=socket.gethostname())
    assert "task metadata unavailable" in caplog.text


def test_a_non_string_zone_is_left_out():
    """A zone that is not a string is not shown; the task id still is."""
    task = {**TASK, "AvailabilityZone": {"nested": True}}
    assert from_task_metadata(task) == Instance(id="0f9b1c2d3e4f4a5b8c7d6e5f4a3b2c1d")


@pytest.mark.parametrize(
    "document",
    [[], None, {}, {"TaskARN": 42}, {"TaskARN": ""}, {"TaskARN": "arn:aws:ecs:x:1:task/c/"}],
    ids=["list", "null", "empty", "number-arn", "empty-arn", "arn-without-id"],
)
def test_a_document_without_a_task_arn_is_refused_with_the_reason(document):
    """The refusal says what is missing; discover() logs it before using the hostname."""
    with pytest.raises(ValueError, match=r"^the task metadata document has no TaskARN string$"):
        from_task_metadata(document)


def test_the_fallback_warning_gives_the_reason_and_what_is_used_instead(caplog):
    """One warning on the identity logger: why the metadata failed, and the hostname used."""

    class Handler(StubHandler):
        def do_GET(self):
            self.answer(200, b'{"Cluster": "no task arn"}')

    with serving(Handler) as url:
        discover(f"{url}/v4/abc")
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "bookingapp.identity",
            "WARNING",
            "task metadata unavailable (the task metadata document has no TaskARN string); "
            "using the hostname as instance id",
        )
    ]


def test_the_metadata_is_asked_at_task_within_one_second(monkeypatch):
    """The document is the endpoint's /task, and start-up waits for it at most 1 s."""
    asked: list[tuple[str, float]] = []

    def refuse(url: str, timeout: float) -> None:
        """Record what was asked, then fail as an unreachable agent does."""
        asked.append((url, timeout))
        raise OSError("unreachable")

    monkeypatch.setattr(identity.urllib.request, "urlopen", refuse)
    assert discover("http://169.254.170.2/v4/abc") == Instance(id=socket.gethostname())
    assert asked == [("http://169.254.170.2/v4/abc/task", 1.0)]


def test_a_task_id_is_the_whole_last_segment_of_the_arn():
    """Only what follows the last slash is the id, however many slashes came before."""
    task = {"TaskARN": "arn:aws:ecs:eu-west-1:1:task/cluster/abc/def"}
    assert from_task_metadata(task) == Instance(id="def")
