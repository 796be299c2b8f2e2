"""What the fuzz run tried and found, per endpoint family, for the terminal summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    cases: Counter[str] = field(default_factory=Counter)
    endpoints: set[str] = field(default_factory=set)
    backends: set[str] = field(default_factory=set)
    server_errors: int = 0
    refused: int = 0
    refused_writes: int = 0
    escaped_writes: int = 0
    wrong_shapes: int = 0
    reader_writes: int = 0  # writes sent with a reader's token (each must be a 403)

    def lines(self) -> list[str]:
        total = sum(self.cases.values())
        families = ", ".join(f"{family} {count:,}" for family, count in sorted(self.cases.items()))
        return [
            f"fuzz: {total:,} cases over {len(self.endpoints)} endpoints on {'+'.join(sorted(self.backends))}, "
            f"{self.server_errors} 5xx, {self.refused_writes} writes from {self.refused:,} refused requests "
            f"({total - self.refused:,} accepted), "
            f"{self.escaped_writes} files outside the artifact root, {self.wrong_shapes} errors in the wrong shape, "
            f"{self.reader_writes} writes with a reader's token (all 403)",
            f"fuzz: per family: {families}",
        ]


TALLY = Tally()
