"""The listener's test helpers that need no stack: explaining a failed answer from the log."""

from __future__ import annotations

from tests.compose.edge import Answer, Traffic, explain


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
