"""Issue 16: the same operations on each kernel candidate, side by side.

Every operation runs forced onto the AVX2 lanes, the scalar GMP path and the
AVX-512 IFMA lanes (those the CPU has), and on the measured choice, all in
the same interleaved rounds as the suite's other cases; the table says
whether the chosen kernel is within 5% of the best.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import hepaillier_core as hc

from .table import markdown_table
from .timing import fmt_time

Case = tuple[Callable[[], object], int]

#: Column order of the table (issue 16: lanes, scalar, IFMA, chosen).
KINDS = ("avx2", "scalar", "ifma")
TOLERANCE = 1.05


def _forced(kind: str, fn: Callable[[], object]) -> Callable[[], object]:
    def call() -> object:
        hc.set_kernel(kind)
        try:
            return fn()
        finally:
            hc.set_kernel(None)

    return call


def cases(base: Mapping[str, Case]) -> dict[str, Case]:
    """One forced copy of each case per available candidate, named kern:KIND:OP."""
    avail = hc.kernels.available()
    out: dict[str, Case] = {}
    for op, (fn, n) in base.items():
        for kind in KINDS:
            if kind in avail:
                out[f"kern:{kind}:{op}"] = (_forced(kind, fn), n)
    return out


def rows(med: Mapping[str, float], chosen: Mapping[str, str], labels: Mapping[str, str],
         kernels_of: Mapping[str, str]) -> list[dict]:
    """Per op: seconds per item on each candidate, on the measured choice as it runs
    (its case name in `chosen`) and the name of that choice (`kernels_of`)."""
    out = []
    for op, label in labels.items():
        times = {k: med[f"kern:{k}:{op}"] for k in KINDS if f"kern:{k}:{op}" in med}
        ch = med.get(chosen[op])
        if not times or ch is None:
            continue
        best = min(times.values())
        kind = kernels_of[op]
        out.append({"op": op, "label": label, "seconds": times, "chosen_s": ch,
                    "chosen_kernel": kind, "best": min(times, key=times.get),
                    "chosen_over_best": times.get(kind, ch) / best,
                    "as_run_over_best": ch / best,
                    "ok": times.get(kind, ch) <= TOLERANCE * best})
    return out


def table(res_rows: list[dict], cpu: str, title: str) -> str:
    head = ["operation", "lanes (AVX2)", "scalar (GMP)", "IFMA (AVX-512)", "chosen (as run)",
            "chosen kernel", "chosen / best", "within 5%"]
    body = [[r["label"], *(fmt_time(r["seconds"].get(k)) for k in KINDS), fmt_time(r["chosen_s"]),
             r["chosen_kernel"], f"{r['chosen_over_best']:.3f}", "PASS" if r["ok"] else "FAIL"]
            for r in res_rows]
    info = hc.kernel_info()
    return "\n".join([
        f"### {title}: each kernel forced vs the measured choice ({cpu})", "",
        markdown_table(head, body), "",
        "- Median process CPU time per item, one worker, every column in the same interleaved "
        "rounds; n/a: the CPU has no such kernel.",
        "- chosen (as run): the operation with no override, i.e. on the measured choice; "
        "chosen kernel: that choice for the operation's kernel family and modulus; chosen / "
        "best: the forced time of the chosen kernel over the fastest forced time (the as-run "
        "column runs the same code, so its difference from that kernel's column is noise of "
        "the shared machine).",
        "- " + hc.kernels.summary(info).replace("\n", "\n  "), ""])
