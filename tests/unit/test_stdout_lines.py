"""Access lines reach stdout whole: one piece each, from any number of threads, any path."""

from __future__ import annotations

import io
import json
import os
import select
import sys
import threading

import pytest

from bookingapp_common import logs
from bookingapp_common.logs import AccessLog, StdoutLines

THREADS = 16
LINES_EACH = 200
# Up to PIPE_BUF, the longest line AccessLog writes.
LENGTHS = (40, 900, select.PIPE_BUF - 1, select.PIPE_BUF)


def line(thread: int, number: int) -> str:
    """Return a line that names its writer and number, padded to one of LENGTHS."""
    head = f"{thread}:{number}:"
    length = LENGTHS[number % len(LENGTHS)]
    return head + "x" * (length - len(head) - 1) + "\n"


def test_lines_from_many_threads_reach_a_pipe_whole(monkeypatch):
    """Nothing interleaved, split, lost or doubled, as a container's stdout (a pipe) gets them."""
    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.FileIO(write_end, "w"), "ascii"))
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    out = StdoutLines()
    writers = [
        threading.Thread(target=lambda t=t: [out.write(line(t, n)) for n in range(LINES_EACH)])
        for t in range(THREADS)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    sys.stdout.close()  # the write end: the reader sees the end of the stream
    reader.join(timeout=30)
    os.close(read_end)

    got = received.decode("ascii").splitlines(keepends=True)
    assert sorted(got) == sorted(line(t, n) for t in range(THREADS) for n in range(LINES_EACH))


@pytest.mark.parametrize("length", [40, 3 * select.PIPE_BUF])
def test_a_stream_without_a_descriptor_gets_the_line_through_its_own_write(monkeypatch, length):
    """A test's capture (no fileno) still receives every line, short or long."""
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stdout", captured)
    text = "y" * (length - 1) + "\n"
    StdoutLines().write(text)
    assert captured.getvalue() == text


def test_a_new_sys_stdout_is_followed(monkeypatch):
    """Swapping sys.stdout (pytest's capture does) sends the next line to the new stream."""
    first, second = io.StringIO(), io.StringIO()
    out = StdoutLines()
    monkeypatch.setattr(sys, "stdout", first)
    out.write("one\n")
    monkeypatch.setattr(sys, "stdout", second)
    out.write("two\n")
    assert (first.getvalue(), second.getvalue()) == ("one\n", "two\n")


class Kept:
    """Stands in for StdoutLines: keeps what it is given."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        """Keep the line."""
        self.lines.append(line)


def access_line(**environ: str) -> str:
    """Return the access line AccessLog writes for one request with this environ."""
    log = AccessLog(lambda environ, start: [], "home", "i-1")
    kept = Kept()
    log._out = kept  # type: ignore[assignment]
    log.write({"REQUEST_METHOD": "GET", logs.REQUEST_ID: "id-1", **environ}, "200 OK", 0.001)
    [line] = kept.lines
    return line


@pytest.mark.parametrize(
    "unit", ["a", "\u00e9", "\x01", "\U0001f600"], ids=["ascii", "e-acute", "control", "emoji"]
)
def test_a_path_too_long_for_one_write_is_cut_and_says_how_long_it_was(unit):
    """The ALB forwards a 16 K request line; its access line stays within PIPE_BUF, valid JSON."""
    path = "/home/" + unit * 16_000
    raw = path.encode("utf-8").decode("latin-1")  # as WSGI hands it over
    line = access_line(PATH_INFO=raw, REMOTE_ADDR="10.0.0.1")
    assert len(line.encode("ascii")) <= select.PIPE_BUF
    written = json.loads(line)
    assert path.startswith(written["path"])
    assert len(json.dumps(written["path"])) > 3000  # most of the room goes to the path
    assert written["path_length"] == len(path)
    assert (written["status"], written["request_id"], written["client"]) == (
        200,
        "id-1",
        "10.0.0.1",
    )


def test_other_fields_a_client_can_make_long_are_cut_before_the_path():
    """A huge method or forwarded address does not push the path out of the line."""
    line = access_line(PATH_INFO="/home", REQUEST_METHOD="G" * 9000, REMOTE_ADDR="1" * 9000)
    assert len(line) <= select.PIPE_BUF
    written = json.loads(line)
    assert written["path"] == "/home"
    assert written["method"] == "G" * 32
    assert written["client"] == "1" * 64


def test_a_line_that_fits_is_written_as_it_is():
    """Below the limit nothing is cut and there is no path_length."""
    written = json.loads(access_line(PATH_INFO="/home/" + "a" * 3000))
    assert written["path"] == "/home/" + "a" * 3000
    assert "path_length" not in written
