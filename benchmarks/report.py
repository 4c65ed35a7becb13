"""Write the run's tables into a Markdown document between two marker lines.

Hand-written text outside the markers is kept, so ``docs/benchmarks.md`` can
be refreshed from a new run with ``--markdown docs/benchmarks.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .machine import header_text

BEGIN = "<!-- BEGIN GENERATED: python -m benchmarks --markdown (do not edit by hand) -->"
END = "<!-- END GENERATED -->"


def generated_block(results: dict, doc: Path) -> str:
    """Header, every suite's table and its plots (paths relative to ``doc``)."""
    head = header_text(results["machine"], results["bits"], results["quick"])
    parts = [BEGIN, ""] + [f"- {line}" for line in head.splitlines()] + [""]
    for name, res in results["suites"].items():
        parts += [res["text"].rstrip(), ""]
        for p in res.get("plots", []):
            rel = os.path.relpath(Path(p).resolve(), doc.resolve().parent)
            parts += [f"![{Path(p).stem}]({rel})", ""]
        parts += [f"_Suite `{name}`: {res['wall_seconds']:.0f} s wall; load average after "
                  f"{res['loadavg_after'][0]:.1f}._", ""]
    parts.append(END)
    return "\n".join(parts)


def write_markdown(path: str | os.PathLike, results: dict) -> None:
    """Replace the generated block of ``path`` (or create the file with just that block)."""
    doc = Path(path)
    block = generated_block(results, doc)
    text = doc.read_text() if doc.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report RESULTS.json DOC.md``: refresh a doc from saved results."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("results")
    ap.add_argument("doc")
    a = ap.parse_args(argv)
    write_markdown(a.doc, json.loads(Path(a.results).read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
