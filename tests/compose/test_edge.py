"""The listener's test helpers that need no stack: paced clients, explaining a failed answer."""

from __future__ import annotations

import time

import pytest

from tests.compose.edge import PACE, Answer, Traffic, assert_nothing_lost, explain
from tests.stubs import StubHandler, serving


class Page(StubHandler):
    """A page like the apps' JSON answer, on keep-alive connections as Traefik's listener."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out apart: no 40 ms delayed-ACK wait

    def do_GET(self) -> None:
        """Answer every GET with one hit."""
        self.answer(200, b'{"instance": "i-1", "hits": 1}')


def test_clients_are_paced_unless_the_test_asks_for_all_they_can_send():
    """Paced, a client sends about one request a PACE; pause=0 sends the next as soon as answered."""
    seconds = 0.5
    with serving(Page) as base:
        port = int(base.rsplit(":", 1)[1])
        with Traffic(port, "/", clients=1) as paced:
            time.sleep(seconds)
        with Traffic(port, "/", clients=1, pause=0) as unpaced:
            time.sleep(seconds)
    assert 1 <= paced.count() <= seconds / PACE + 1
    assert unpaced.count() > 4 * paced.count()
    assert not paced.failures()
    assert not unpaced.failures()


def test_a_failed_answer_is_explained_by_the_log_lines_of_its_request_id(tmp_path):
    log = tmp_path / "movie.log"
    log.write_text(
        'movie-1  | {"status": 200, "request_id": "aaa"}\n'
        'movie-2  | {"status": 503, "request_id": "bbb", "problem": "Redis: timed out"}\n'
    )
    traffic = Traffic(port=1)
    traffic.answers += [Answer(200, 0.0), Answer(503, 1.0, problem="...", request_id="bbb")]
    assert explain(log, traffic) == [
        'movie-2  | {"status": 503, "request_id": "bbb", "problem": "Redis: timed out"}'
    ]


def test_nothing_to_explain_reads_no_log(tmp_path):
    traffic = Traffic(port=1)
    traffic.answers.append(Answer(200, 0.0))
    assert explain(tmp_path / "never-written.log", traffic) == []


def test_a_failed_answer_under_a_followed_log_fails_with_the_apps_lines(tmp_path):
    log = tmp_path / "movie.log"
    log.write_text('movie-3  | {"status": 503, "request_id": "ccc", "problem": "timed out"}\n')
    traffic = Traffic(port=1)
    traffic.answers += [
        Answer(200, 0.0, hits=1),
        Answer(503, 1.0, problem="busy", request_id="ccc"),
    ]
    with pytest.raises(AssertionError) as failed:
        assert_nothing_lost(0, 1, traffic, log=log)
    assert str(failed.value) == (
        "Counter({(503, 'busy'): 1}) of 2; the app's lines:\n"
        'movie-3  | {"status": 503, "request_id": "ccc", "problem": "timed out"}'
    )


def test_every_answer_a_200_counted_once_passes_and_a_hit_nobody_was_told_of_fails(tmp_path):
    traffic = Traffic(port=1)
    traffic.answers += [Answer(200, 0.0, hits=1), Answer(200, 1.0, hits=2)]
    assert_nothing_lost(0, 2, traffic, log=tmp_path / "never-written.log")
    with pytest.raises(AssertionError):
        assert_nothing_lost(0, 3, traffic)  # hit 3 was counted, and nobody was told
