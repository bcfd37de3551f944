"""The scaling run's chart draws what the record says (docs/benchmark.md shows one)."""

from __future__ import annotations

import json
from xml.etree import ElementTree

from tests.local.autoscale.record import Record, svg, write

RECORD = Record(
    counts=[(0.0, {"movie": 2, "home": 2, "bus": 2}), (60.0, {"movie": 4, "home": 2, "bus": 2})],
    load=(10.0, 50.0),
    requests={0: 5, 30: 400, 59: 10},
    failed=0,
    output=["10:00:00 movie: ..."],
)


def test_the_chart_is_svg_with_one_line_per_service_and_a_bar_per_second():
    root = ElementTree.fromstring(svg(RECORD))  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 3
    texts = [t.text for t in root.findall(f"{ns}text")]
    assert "requests per second through the listener (peak 400), 0 failed" in texts
    bars = [r for r in root.findall(f"{ns}rect") if r.get("fill") == "#888"]
    assert len(bars) == 3


def test_write_leaves_the_record_as_json_beside_the_chart(tmp_path):
    write(RECORD, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["load"] == [10.0, 50.0]
    assert (tmp_path / "run" / "replicas.svg").read_text().startswith("<svg")
