"""Write one scaling run down for docs/benchmark.md: a JSON record and an SVG chart.

Used by tests/local/autoscale/test_scaler.py when BOOKINGAPP_AUTOSCALE_RECORD names a
directory. The chart is plain SVG written here (no plotting library in the workspace):
replicas of each app over time, the load period shaded, and requests per second beneath.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

WIDTH, LEFT, RIGHT = 760, 50, 20
TOP_H, BOTTOM_H, GAP, TOP = 170, 90, 40, 30
COLOURS = {"movie": "#d62728", "home": "#1f77b4", "bus": "#2ca02c"}


@dataclass(frozen=True)
class Record:
    """A run in seconds from its start: replica counts, load window, requests by second."""

    counts: list[tuple[float, dict[str, int]]]
    load: tuple[float, float]
    requests: dict[int, int]  # second -> requests started in it
    failed: int
    output: list[str]
    failures: dict[int, list[str]] = field(default_factory=dict)  # second -> what failed


def record(run, answers, start: float) -> Record:
    """Turn the test's Run and its requests (Answer objects) into a Record."""
    per_second = Counter(int(a.started - start) for a in answers)
    return Record(
        counts=[(t - start, c) for t, c in run.counts],
        load=(run.load_started - start, run.load_stopped - start),
        requests=dict(sorted(per_second.items())),
        failed=sum(1 for a in answers if a.status != 200),
        output=run.output.splitlines(),
        failures=_failures(answers, start),
    )


def _failures(answers, start: float) -> dict[int, list[str]]:
    """Return the failed requests by second: status and problem."""
    found: dict[int, list[str]] = {}
    for answer in answers:
        if answer.status != 200:
            second = int(answer.started - start)
            found.setdefault(second, []).append(f"{answer.status} {answer.problem}")
    return dict(sorted(found.items()))


def write(rec: Record, directory: Path) -> None:
    """Write run.json and replicas.svg into directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").write_text(json.dumps(rec.__dict__, indent=1))
    (directory / "replicas.svg").write_text(svg(rec))


def svg(rec: Record) -> str:
    """Return the chart: replicas per service over time, and requests per second."""
    end = max(t for t, _ in rec.counts)
    top = max(max(c.values()) for _, c in rec.counts) + 1
    peak = max(rec.requests.values(), default=1)
    plot_w = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + plot_w * t / end

    def y(n: float) -> float:
        return TOP + TOP_H * (1 - n / top)

    base = TOP + TOP_H + GAP + BOTTOM_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{base + 40}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<rect x="{x(rec.load[0]):.1f}" y="{TOP}" width="{x(rec.load[1]) - x(rec.load[0]):.1f}" '
        f'height="{base - TOP}" fill="#f3e6c8"/>',
        f'<text x="{x(rec.load[0]) + 4:.1f}" y="{TOP + 14}">load on /movie</text>',
        f'<text x="{LEFT}" y="18">replicas (running containers) per service</text>',
    ]
    for n in range(top + 1):
        parts.append(f'<text x="{LEFT - 8}" y="{y(n) + 4:.1f}" text-anchor="end">{n}</text>')
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(n):.1f}" y2="{y(n):.1f}" stroke="#ddd"/>'
        )
    for offset, service in enumerate(COLOURS):
        points = " ".join(f"{x(t):.1f},{y(c[service]) - offset * 2:.1f}" for t, c in rec.counts)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{COLOURS[service]}" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{WIDTH - RIGHT - 60}" y="{TOP + 14 + 14 * offset}" '
            f'fill="{COLOURS[service]}">{service}</text>'
        )
    parts.append(f'<text x="{LEFT}" y="{TOP + TOP_H + GAP - 8}">requests per second '
                 f"through the listener (peak {peak}), {rec.failed} failed</text>")  # fmt: skip
    bar = plot_w / end
    for second, n in rec.requests.items():
        h = BOTTOM_H * n / peak
        parts.append(
            f'<rect x="{x(second):.1f}" y="{base - h:.1f}" width="{max(bar, 1):.1f}" '
            f'height="{h:.1f}" fill="#888"/>'
        )
    for t in range(0, int(end) + 1, 30):
        parts.append(f'<text x="{x(t):.1f}" y="{base + 16}" text-anchor="middle">{t}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{base + 34}" text-anchor="middle">seconds</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
