"""Scaling suite: packed-filter pipeline cost vs image size, key size and workers.

The pipeline is the conv suite's (c): key owner encrypts the photo packed,
the evaluator runs the 5x5 separable Gaussian, the key owner decrypts.
Size and key sweeps run on one worker; the worker sweep uses 1..cores.
"""

from __future__ import annotations

import time

import numpy as np

import hepaillier_core as hc

from .table import markdown_table
from .timing import fmt_time, interleaved
from .workloads import PackedPipeline, camera, gauss5

SIZES = {
    True: dict(sides=[64, 128], key_side=64, key_bits=[1024, 2048, 3072], worker_side=128,
               repeats=2),
    False: dict(sides=[64, 128, 256, 512], key_side=128, key_bits=[1024, 2048, 3072],
                worker_side=256, repeats=3),
}
STEPS = ("enc", "filter", "dec")


def _sweep(pipes: dict[str, PackedPipeline], repeats: int,
           wall: bool = False) -> dict[str, dict[str, float]]:
    """Median seconds per pixel of each step for each labelled pipeline (interleaved):
    process CPU time for one-worker sweeps, wall time when workers vary."""
    cases = {}
    for label, p in pipes.items():
        cases.update(p.cases(label))
    meds = interleaved(cases, repeats, warmup=False)
    med = meds.wall if wall else meds.cpu
    out = {label: {s: med[f"{label}:{s}"] for s in STEPS} for label in pipes}
    if wall:  # how many cores the process really got: CPU seconds per wall second
        for label in pipes:
            keys = [f"{label}:{s}" for s in STEPS]
            out[label]["cpu_per_wall"] = (sum(meds.cpu[k] for k in keys)
                                          / sum(meds.wall[k] for k in keys))
    return out


def run(quick: bool = False, bits: int = 2048) -> dict:
    """The three sweeps; returns per-pixel medians for each point."""
    sz = SIZES[quick]
    t0 = time.perf_counter()
    taps, img = gauss5(), camera()
    cores = hc.get_workers()
    keys = {b: hc.generate_keypair(b, insecure=b < 2048)[1] for b in sz["key_bits"]}
    priv = keys.get(bits) or hc.generate_keypair(bits, insecure=bits < 2048)[1]

    def crop(side: int) -> np.ndarray:
        return np.ascontiguousarray(img[:side, :side])

    by_size = _sweep({str(s): PackedPipeline(priv, crop(s), taps, 1) for s in sz["sides"]},
                     sz["repeats"])
    by_key = _sweep({str(b): PackedPipeline(k, crop(sz["key_side"]), taps, 1)
                     for b, k in keys.items()}, sz["repeats"])
    by_workers = _sweep({str(w): PackedPipeline(priv, crop(sz["worker_side"]), taps, w)
                         for w in range(1, cores + 1)}, sz["repeats"], wall=True)
    return {"suite": "scaling", "bits": bits, "cores": cores, "quick": quick, "sizes": sz,
            "by_size": by_size, "by_key": by_key, "by_workers": by_workers,
            "seconds": time.perf_counter() - t0}


def _rows(data: dict[str, dict[str, float]], fmt_label, pixels=None) -> list[list[str]]:
    rows = []
    for label, d in data.items():
        total = sum(d[s] for s in STEPS)
        row = [fmt_label(label)] + [fmt_time(d[s]) for s in STEPS] + [fmt_time(total)]
        if pixels is not None:
            row.append(fmt_time(total * pixels))
        rows.append(row)
    return rows


def table(res: dict) -> str:
    """Three per-pixel tables (size, key size, workers)."""
    sz = res["sizes"]
    hdr = ["", "encrypt / px", "filter / px", "decrypt / px", "total / px"]
    ws = sz["worker_side"]
    w1 = sum(res["by_workers"]["1"][s] for s in STEPS)
    wrows = []
    for w, d in res["by_workers"].items():
        tot = sum(d[s] for s in STEPS)
        wrows.append([f"{w} worker(s)"] + [fmt_time(d[s]) for s in STEPS]
                     + [fmt_time(tot), f"{w1 / tot:.2f}×", f"{d['cpu_per_wall']:.2f}"])
    out = [f"### Scaling: packed 5×5 Gaussian pipeline ({res['bits']}-bit key unless stated)",
           "", "Size and key sweeps: one worker, median process CPU time per pixel. Worker "
           "sweep: median wall time (threads; on a shared machine the speed-up is bounded by "
           "the other load).", "", "Image size (one worker):", "",
           markdown_table(["image"] + hdr[1:] + ["whole image"],
                          [_rows({k: v}, lambda s: f"{s}×{s}", int(k) ** 2)[0]
                           for k, v in res["by_size"].items()]), "",
           f"Key size ({sz['key_side']}×{sz['key_side']} image, one worker):", "",
           markdown_table(["key"] + hdr[1:], _rows(res["by_key"], lambda b: f"{b}-bit")), "",
           f"Workers ({ws}×{ws} image, wall time):", "",
           markdown_table(["workers"] + hdr[1:] + ["speed-up", "cores obtained (CPU/wall)"],
                          wrows), "",
           "The last column is the CPU time the process got per wall-clock second: with n "
           "workers on an idle machine it approaches n. When it stays near or below 1, the "
           "other load on the machine, not the library, is what limits the speed-up."]
    return "\n".join(out) + "\n"
