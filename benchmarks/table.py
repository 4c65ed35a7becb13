"""Markdown pipe tables: readable in a terminal and pasteable into docs."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A pipe table with columns padded to equal width."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"

    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def pass_fail(value: float | None, target: float) -> str:
    """'PASS'/'FAIL' for value >= target."""
    if value is None or value != value:
        return "n/a"
    return "PASS" if value >= target else "FAIL"
