"""Sum up `mutmut results --all true`: killed / total per target and module, and the survivors.

Usage: mutation_score.py RESULTS_FILE MIN_SCORE. Exits 1 when a target that ran scores below
MIN_SCORE percent. The score is mutmut's own (its `badge` command): killed plus timed out,
over the mutants checked; a mutant no test reaches ("no tests") counts against it.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

# Mutants whose tests failed (or hung until mutmut's CPU limit): the tests noticed the bug.
DETECTED = ("killed", "timeout")
TARGETS = {"bookingapp_infra.params": "params", "bookingapp_common": "common"}


@dataclass
class Tally:
    """How the checked mutants of one target or module ended, and which survived."""

    statuses: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    def add(self, name: str, status: str) -> None:
        """Count one mutant; remember it when the tests did not notice it."""
        self.statuses[status] += 1
        if status not in DETECTED:
            self.survivors.append(f"{name}: {status}")

    @property
    def checked(self) -> int:
        """Return how many mutants were run."""
        return sum(self.statuses.values())

    @property
    def detected(self) -> int:
        """Return how many mutants a test noticed."""
        return sum(self.statuses[s] for s in DETECTED)

    @property
    def score(self) -> float:
        """Return the percentage of run mutants the tests noticed."""
        return 100 * self.detected / self.checked if self.checked else 0.0

    def line(self, label: str) -> str:
        """Return one summary line: killed / total, percent, then the other outcomes."""
        others = ", ".join(
            f"{count} {status}"
            for status, count in sorted(self.statuses.items())
            if status not in DETECTED
        )
        return (
            f"{label:34} {self.detected:4} / {self.checked:4} killed "
            f"({self.score:5.1f} %)  {others or 'no survivors'}"
        )


def parse(lines: list[str]) -> list[tuple[str, str]]:
    """Return (mutant name, status) for each result line that was actually checked."""
    results = []
    for line in lines:
        name, sep, status = line.strip().rpartition(": ")
        if sep and status != "not checked":
            results.append((name, status))
    return results


def target_and_module(name: str) -> tuple[str, str]:
    """Return the target (params, common) and the module a mutant belongs to."""
    for prefix, target in TARGETS.items():
        if name.startswith(prefix + "."):
            # Mangled functions start with "x_", methods with "xǁClassǁ".
            return target, name.split(".x", 1)[0]
    return "other", name.rsplit(".", 1)[0]


def main(results_file: str, min_score: str) -> int:
    """Print the tallies and survivors; return 1 when a target is under the minimum."""
    targets: dict[str, Tally] = defaultdict(Tally)
    modules: dict[str, Tally] = defaultdict(Tally)
    for name, status in parse(Path(results_file).read_text(encoding="utf-8").splitlines()):
        target, module = target_and_module(name)
        targets[target].add(name, status)
        modules[module].add(name, status)
    if not targets:
        print("no mutant was checked", file=sys.stderr)
        return 1
    print("\nMutation score (killed = killed + timed out):")
    for module, tally in sorted(modules.items()):
        print("  " + tally.line(module))
    for target, tally in sorted(targets.items()):
        print(tally.line(f"{target} (target)"))
    for target, tally in sorted(targets.items()):
        if tally.survivors:
            print(f"\nSurvivors in {target} (see each: mutmut show NAME, in build/mutation):")
            print("\n".join("  " + s for s in tally.survivors))
    low = [t for t, tally in targets.items() if tally.score < float(min_score)]
    if low:
        print(f"\nbelow {min_score} %: {', '.join(sorted(low))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
