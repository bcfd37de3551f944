"""The HTML page is re-rendered when the neighbours change; per hit only the counts move."""

from __future__ import annotations

import json

import pytest

from bookingapp_common import pages
from bookingapp_common.errors import _prefers_json
from bookingapp_common.identity import Instance
from bookingapp_common.pages import get_pages
from bookingapp_common.shares import UNAVAILABLE
from bookingapp_common.snapshots import Snapshot
from bookingapp_common.views import SPEC
from bookingapp_home import create_app
from tests.unit.conftest import app_config

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def test_each_page_shows_its_own_counts_with_the_same_neighbours(app):
    """Two renders with unchanged neighbours differ exactly in the two counts."""
    neighbours = Snapshot(1, ({"name": "movie", "up": True, "hits": 4, "instance": "m"},))
    with app.app_context():
        first = get_pages().html(7, 3, neighbours)
        second = get_pages().html(8, 4, neighbours)
    assert "<dd>7</dd>" in first
    assert "<dd>3</dd>" in first
    assert "<dd>8</dd>" in second
    assert "<dd>4</dd>" in second
    assert first.replace("<dd>7</dd>", "").replace("<dd>3</dd>", "") == second.replace(
        "<dd>8</dd>", ""
    ).replace("<dd>4</dd>", "")


def test_new_neighbour_states_are_rendered(app):
    """A refreshed snapshot (a new version) shows in the next page."""
    with app.app_context():
        get_pages().html(
            1, 1, Snapshot(1, ({"name": "bus", "up": True, "hits": 1, "instance": "b"},))
        )
        page = get_pages().html(
            2, 2, Snapshot(2, ({"name": "bus", "up": False, "problem": "answered 503"},))
        )
        document = json.loads(get_pages().json(3, 3, Snapshot(3, ())).get_data())
    assert "answered 503" in page
    assert "up</span>" not in page
    assert document["neighbours"] == []


def test_the_page_is_rebuilt_by_snapshot_version_not_by_object_identity(app):
    """The page cache follows the snapshot version, never the identity of a list."""
    states = ({"name": "bus", "up": False, "problem": "first"},)
    with app.app_context():
        get_pages().html(1, 1, Snapshot(7, states))
        get_pages().json(1, 1, Snapshot(7, states))
        # Same version, another object whose content differs: what was built is reused.
        reused = get_pages().html(
            2, 2, Snapshot(7, ({"name": "bus", "up": False, "problem": "second"},))
        )
        reused_json = get_pages().json(2, 2, Snapshot(7, ()))
        # A new version with the very same states object: rebuilt.
        rebuilt = get_pages().html(
            3, 3, Snapshot(8, ({"name": "bus", "up": False, "problem": "third"},))
        )
    assert "first" in reused
    assert json.loads(reused_json.get_data())["neighbours"] == list(states)
    assert "third" in rebuilt


def test_neighbour_text_is_escaped(app):
    """Whatever a neighbour's error says is shown as text, never as markup."""
    with app.app_context():
        page = get_pages().html(
            1, 1, Snapshot(1, ({"name": "bus", "up": False, "problem": "<script>x</script>"},))
        )
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;" in page


@pytest.mark.parametrize(
    ("accept", "json"),
    [
        ("application/json", True),
        ("", False),
        ("*/*", False),
        (BROWSER, False),
        ("application/json;q=0.5, text/html", False),
        ("text/html;q=0.1, application/json", True),
    ],
)
def test_json_is_chosen_only_when_preferred(accept, json):
    """Content negotiation follows the Accept header's order and q-values."""
    assert _prefers_json(accept) is json


def test_json_page_is_valid_json_with_its_own_counts(app):
    """The JSON form is a well-formed document whose counts change per hit."""
    states = ({"name": "bus", "up": False, "problem": 'said "no" \\ twice'},)
    neighbours = Snapshot(1, states)
    with app.app_context():
        first = json.loads(get_pages().json(5, 2, neighbours).get_data())
        second = json.loads(get_pages().json(6, 3, neighbours).get_data())
    assert (first["hits"], first["instance_hits"]) == (5, 2)
    assert (second["hits"], second["instance_hits"]) == (6, 3)
    assert second["neighbours"] == list(states)
    assert second["service"] == "home"
    assert second["instance"] == "test-instance"


def test_json_page_is_compact_and_names_the_zone(redis_server):
    """The JSON page is the compact encoding of service, instance, zone, split and neighbours."""
    app = create_app(app_config(redis_server.port))
    app.extensions[pages.EXTENSION] = pages.PageRenderer(
        app, app.extensions[SPEC], Instance(id="task-1", zone="eu-west-1b")
    )
    states = ({"name": "bus", "up": True, "hits": 1, "instance": "b"},)
    split = ({"instance": "task-1", "hits": 2, "share": 0.4},)
    with app.app_context():
        body = (
            get_pages().json(5, 2, Snapshot(1, states), Snapshot(1, split)).get_data(as_text=True)
        )
    document = json.loads(body)
    assert document == {
        "hits": 5,
        "instance_hits": 2,
        "service": "home",
        "instance": "task-1",
        "zone": "eu-west-1b",
        "instances": list(split),
        "neighbours": list(states),
    }
    # One line without a byte to spare: every page view sends it.
    assert body == json.dumps(document, separators=(",", ":"))


@pytest.mark.parametrize(("hits", "words"), [(1, "1 hit,"), (2, "2 hits,"), (0, "0 hits,")])
def test_a_neighbour_panel_counts_in_words_and_names_the_instance_that_answered(app, hits, words):
    """The panel: "1 hit", "2 hits", and which of the neighbour's instances answered."""
    state = {"name": "movie", "up": True, "hits": hits, "instance": "task-7f3a"}
    with app.app_context():
        page = get_pages().html(1, 1, Snapshot(1, (state,)))
    panel = page.split('<div class="panel">', 1)[1].split("</div>", 1)[0]
    assert words in panel
    assert "last served by <code>task-7f3a</code>" in panel


def test_the_page_lists_every_instance_with_its_share_and_marks_its_own(app):
    """The split: each instance's hits ("1 hit") and share, the serving one marked."""
    split = (
        {"instance": "other-task", "hits": 3, "share": 0.75},
        {"instance": "test-instance", "hits": 1, "share": 0.25},
    )
    with app.app_context():
        page = get_pages().html(4, 1, Snapshot(1, ()), Snapshot(1, split))
    table = page.split('<table class="shares">', 1)[1].split("</table>", 1)[0]
    rows = [row.split("</tr>")[0] for row in table.split("<tr")[1:]]
    assert "<code>other-task</code>" in rows[0]
    assert "3 hits" in rows[0]
    assert "75.0 %" in rows[0]
    assert "current" not in rows[0]
    assert rows[1].startswith(' class="current"')
    assert "(this one)" in rows[1]
    assert "1 hit<" in rows[1]
    assert "25.0 %" in rows[1]


def test_the_instances_past_the_listed_ones_are_one_line(app):
    """Tasks replaced long ago do not make the page long: they are one "others" line."""
    split = ({"others": 12, "hits": 40, "share": 0.1},)
    with app.app_context():
        page = get_pages().html(400, 1, Snapshot(1, ()), Snapshot(1, split))
    assert "12 other instances" in page
    assert "40 hits" in page
    assert "10.0 %" in page


def test_an_unreadable_split_says_so_and_the_page_still_answers(app):
    """A failed read of the split is one line on the page, with nothing of Redis in it."""
    with app.app_context():
        page = get_pages().html(1, 1, Snapshot(1, ()), Snapshot(1, ({"problem": UNAVAILABLE},)))
    assert UNAVAILABLE in page


def test_the_page_is_rebuilt_when_only_the_split_changes(app):
    """A new split (a new version) shows although the neighbours stayed the same."""
    neighbours = Snapshot(1, ())
    with app.app_context():
        before = get_pages().html(
            1, 1, neighbours, Snapshot(1, ({"instance": "a", "hits": 1, "share": 1.0},))
        )
        after = get_pages().html(
            2, 1, neighbours, Snapshot(2, ({"instance": "b", "hits": 1, "share": 0.5},))
        )
    assert "<code>a</code>" in before
    assert "<code>b</code>" in after
    assert "<code>a</code>" not in after
