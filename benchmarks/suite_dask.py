"""Dask vs threads (``python -m benchmarks scaling --dask [ADDRESS]``).

Two workloads, each run interleaved on: the 2-thread executor, a Dask cluster
of 1 single-threaded worker and one of 2 (local worker processes, or the
cluster at ADDRESS): the evaluator's packed 5x5 Gaussian on a 2048-bit
encrypted photo, and HESIFT gallery ingestion of 8 photos (one image per
task).  Wall medians, plus what the tasks moved and computed (task stream):
the inputs of a cluster-size projection (docs/dask.md).
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import hepaillier_core as hc

from .table import markdown_table
from .timing import fmt_time
from .workloads import camera, gauss5

SIZES = {True: dict(side=128, photos=8, photo_side=32, gallery_bits=1024, repeats=2),
         False: dict(side=1024, photos=8, photo_side=96, gallery_bits=2048, repeats=3)}
PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "page")


def _photos(n: int, side: int) -> list[np.ndarray]:
    import cv2
    import skimage.data as skd

    out = []
    for name in PHOTOS[:n]:
        a = getattr(skd, name)()
        if a.ndim == 3:
            a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
        s = side / max(a.shape[:2])
        out.append(cv2.resize(a, (round(a.shape[1] * s), round(a.shape[0] * s)),
                              interpolation=cv2.INTER_AREA))
    return out


@contextlib.contextmanager
def _clusters(address: str | None):
    """{label: client}: a local 1-worker and 2-worker cluster, or the one at address."""
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as st:
        if address:
            c = st.enter_context(Client(address))
            yield {f"dask {len(c.scheduler_info()['workers'])} workers": c}
            return
        out = {}
        for n in (1, 2):
            cl = st.enter_context(LocalCluster(n_workers=n, threads_per_worker=1,
                                               processes=True, dashboard_address=":0",
                                               silence_logs=logging.ERROR))
            out[f"dask {n} worker{'s' if n > 1 else ''}"] = st.enter_context(Client(cl))
        yield out


def _sent_bytes(client, fn) -> tuple[int, int]:
    """(tasks, bytes) that fn() submits, pickled as distributed pickles task arguments."""
    from distributed.protocol import pickle as dpickle

    sent = []
    orig = client.submit

    def submit(func, *args, **kw):
        sent.append(len(dpickle.dumps(args)))
        return orig(func, *args, **kw)

    client.submit = submit
    try:
        fn()
    finally:
        del client.submit
    return len(sent), sum(sent)


def _compute_times(ts) -> list[float]:
    return [sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
            for t in ts.data]


def _log(msg: str) -> None:
    import sys

    print(f"  [dask] {msg}", file=sys.stderr, flush=True)


def run(quick: bool = False, bits: int = 2048, address: str | None = None) -> dict:
    from distributed import get_task_stream
    from distributed.protocol import pickle as dpickle

    from hesift.gallery import Gallery, HESIFTExtractor
    from hesift.gallery.images import resize_max_side

    sz = SIZES[quick]
    t_start = time.perf_counter()
    _pub, priv = hc.generate_keypair(bits)
    img = np.asarray(camera(), dtype=np.int64)
    side = sz["side"]
    if img.shape[0] < side:
        reps = -(-side // img.shape[0])
        img = np.tile(img, (reps, reps))
    img = np.ascontiguousarray(img[:side, :side])
    taps = gauss5()
    x = priv.encrypt(img, pack=True, pad=2, pad_mode="reflect", headroom=4)
    photos = _photos(sz["photos"], sz["photo_side"])
    gbits = min(bits, sz["gallery_bits"])
    ext = HESIFTExtractor(gbits, insecure=gbits < 2048)
    tmp = Path(tempfile.mkdtemp(prefix="hesift-dask-bench-"))
    walls: dict[str, dict[str, list[float]]] = {"gaussian": {}, "gallery": {}}
    comp: dict[str, list[float]] = {}
    ref = None
    counter = [0]

    def gallery_run(c):
        counter[0] += 1
        g = Gallery(tmp / f"g{counter[0]}.sqlite3", extractor=ext, max_side=sz["photo_side"])
        return g.add_many(photos) if c is None else g.add_many(photos, executor=c)

    def gaussian_run(c):
        with hc.using("thread" if c is None else c, workers=2 if c is None else None):
            return hc.sepfilter2d(x, taps, taps)

    with _clusters(address) as clients:
        _log(f"clusters up: {', '.join(clients)}")
        for c in clients.values():  # warm: imports, scattered key, each worker's extractor key
            gaussian_run(c)
            Gallery(tmp / "warm.sqlite3", extractor=ext, max_side=32).add_many(
                photos[:2] * 2, executor=c)
            (tmp / "warm.sqlite3").unlink()
        configs = {"2 threads": None, **clients}
        for r in range(sz["repeats"]):
            for label, c in configs.items():
                for work, fn in (("gaussian", gaussian_run), ("gallery", gallery_run)):
                    if c is None:
                        t0 = time.perf_counter()
                        with hc.using("thread", workers=2):
                            out = fn(c)
                        wall = time.perf_counter() - t0
                    else:
                        with get_task_stream(c) as ts:
                            t0 = time.perf_counter()
                            out = fn(c)
                            wall = time.perf_counter() - t0
                        comp.setdefault(f"{work}|{label}", []).extend(_compute_times(ts))
                    walls[work].setdefault(label, []).append(wall)
                    if work == "gaussian":
                        if ref is None:
                            ref = out
                        assert np.array_equal(out.data, ref.data), "executors disagree"
                    _log(f"round {r + 1}: {work} on {label}: {wall:.2f} s")
        stats = {}
        for label, c in clients.items():
            ntask, nbytes = _sent_bytes(c, lambda c=c: gaussian_run(c))
            out_b = int(ref.data.nbytes)
            cg = comp.get(f"gaussian|{label}", [0.0])
            stats[f"gaussian|{label}"] = {"tasks": ntask, "bytes_in": nbytes // max(1, ntask),
                                          "bytes_out": out_b // max(1, ntask),
                                          "compute_median": statistics.median(cg),
                                          "compute_sum": sum(cg) / sz["repeats"]}
            grays = [resize_max_side(p, sz["photo_side"])[0] for p in photos]
            g_in = statistics.median(len(dpickle.dumps((ext, gr))) for gr in grays)
            cgal = comp.get(f"gallery|{label}", [0.0])
            stats[f"gallery|{label}"] = {"tasks": len(photos), "bytes_in": int(g_in),
                                         "bytes_out": None, "compute_median":
                                         statistics.median(cgal),
                                         "compute_sum": sum(cgal) / sz["repeats"]}
    feats = Gallery(tmp / "g1.sqlite3")._store.features()[1]
    per_img_out = statistics.median(f.keypoints.nbytes + f.descriptors.nbytes for f in feats)
    for st in stats.values():
        if st["bytes_out"] is None:
            st["bytes_out"] = int(per_img_out)
    med = {w: {k: statistics.median(v) for k, v in d.items()} for w, d in walls.items()}
    return {"suite": "scaling-dask", "bits": bits, "gallery_bits": gbits, "quick": quick,
            "sizes": sz, "address": address, "walls": walls, "median": med, "tasks": stats,
            "cts": int(x.data.shape[0] * x.data.shape[1]),
            "seconds": time.perf_counter() - t_start}


def table(res: dict) -> str:
    sz = res["sizes"]
    med = res["median"]
    base = {w: med[w]["2 threads"] for w in med}
    rows = []
    for label in med["gaussian"]:
        rows.append([label] + [f"{fmt_time(med[w][label])} ({med[w][label] / base[w]:.2f}×)"
                               for w in ("gaussian", "gallery")])
    trows = []
    for key, st in res["tasks"].items():
        w, label = key.split("|")
        trows.append([w, label, str(st["tasks"]), f"{st['bytes_in']:,}", f"{st['bytes_out']:,}",
                      fmt_time(st["compute_median"]), fmt_time(st["compute_sum"])])
    side = sz["side"]
    out = [f"### Dask vs threads ({res['bits']}-bit key)", "",
           f"Wall-clock medians of {sz['repeats']} interleaved runs (ratio to the 2-thread "
           "executor). Gaussian: the evaluator's packed 5×5 Gaussian on a "
           f"{side}×{side} encrypted photo ({res['cts']} ciphertexts). Gallery: HESIFT "
           f"({res['gallery_bits']}-bit key) ingestion of {sz['photos']} photos (longer side "
           f"{sz['photo_side']} px), one image per task on Dask; the 2-thread run adds them one "
           "after another, each HESIFT on 2 threads.", "",
           markdown_table(["executor", f"Gaussian {side}²", f"gallery {sz['photos']} photos"],
                          rows), "",
           "What the tasks moved (pickled task arguments; results) and computed (worker "
           "task stream, per run):", "",
           markdown_table(["workload", "cluster", "tasks", "bytes in / task",
                           "bytes out / task", "compute / task (median)", "compute / run"],
                          trows)]
    return "\n".join(out) + "\n"
