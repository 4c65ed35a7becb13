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

SIZES = {True: dict(side=256, photos=8, photo_side=32, repeats=2),
         False: dict(side=1024, photos=8, photo_side=96, repeats=3)}
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


def _task_stats(client, fn) -> tuple[float, dict]:
    """Wall seconds of fn() and its tasks' compute seconds / bytes in and out."""
    from distributed import get_task_stream

    sent = []
    orig = client.submit

    def submit(func, *args, **kw):
        from distributed.protocol import pickle as dpickle

        sent.append(len(dpickle.dumps(args)))
        return orig(func, *args, **kw)

    client.submit = submit
    try:
        with get_task_stream(client) as ts:
            t0 = time.perf_counter()
            result = fn()
            wall = time.perf_counter() - t0
    finally:
        del client.submit
    comp = [sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
            for t in ts.data]
    nbytes = [t.get("nbytes", 0) for t in ts.data]
    out_bytes = _nbytes(result)
    return wall, {"tasks": len(sent), "bytes_in": sum(sent), "bytes_out": out_bytes,
                  "compute": sum(comp), "compute_median": statistics.median(comp) if comp else 0,
                  "task_nbytes": sum(nbytes)}


def _nbytes(result) -> int:
    data = getattr(result, "data", None)
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    if isinstance(result, list):
        return sum(int(getattr(e, "num_features", 0)) * (128 * 4 + 7 * 4) for e in result)
    return 0


def run(quick: bool = False, bits: int = 2048, address: str | None = None) -> dict:
    sz = SIZES[quick]
    t_start = time.perf_counter()
    from hesift.gallery import Gallery, HESIFTExtractor

    pub, priv = hc.generate_keypair(bits)
    img = np.asarray(camera(), dtype=np.int64)
    side = sz["side"]
    if img.shape[0] < side:
        reps = -(-side // img.shape[0])
        img = np.tile(img, (reps, reps))
    img = np.ascontiguousarray(img[:side, :side])
    taps = gauss5()
    x = priv.encrypt(img, pack=True, pad=2, pad_mode="reflect", headroom=4)
    photos = _photos(sz["photos"], sz["photo_side"])
    ext = HESIFTExtractor(bits, insecure=bits < 2048)
    tmp = Path(tempfile.mkdtemp(prefix="hesift-dask-bench-"))
    walls: dict[str, dict[str, list[float]]] = {"gaussian": {}, "gallery": {}}
    stats: dict[str, dict] = {}
    ref = None
    counter = [0]

    def gallery_run(executor):
        counter[0] += 1
        g = Gallery(tmp / f"g{counter[0]}.sqlite3", extractor=ext, max_side=sz["photo_side"])
        if executor == "thread":
            return g.add_many(photos)
        return g.add_many(photos, executor=executor)

    with _clusters(address) as clients:
        for c in clients.values():  # warm: workers import, key scattered, extractor key made
            hc.sepfilter2d(x, taps, taps, executor=c)
            Gallery(tmp / "warm.sqlite3", extractor=ext, max_side=32).add_many(
                [photos[0][:32, :32]], executor=c)
            (tmp / "warm.sqlite3").unlink()
        configs = {"2 threads": None, **clients}
        for _ in range(sz["repeats"]):
            for label, c in configs.items():
                with hc.using("thread" if c is None else c, workers=2 if c is None else None):
                    t0 = time.perf_counter()
                    out = hc.sepfilter2d(x, taps, taps)
                    walls["gaussian"].setdefault(label, []).append(time.perf_counter() - t0)
                if ref is None:
                    ref = out
                assert np.array_equal(out.data, ref.data), "executors disagree"
                t0 = time.perf_counter()
                with hc.using("thread", workers=2):
                    gallery_run("thread" if c is None else c)
                walls["gallery"].setdefault(label, []).append(time.perf_counter() - t0)
        for label, c in clients.items():
            _, stats[f"gaussian|{label}"] = _task_stats(
                c, lambda c=c: hc.sepfilter2d(x, taps, taps, executor=c))
            _, stats[f"gallery|{label}"] = _task_stats(c, lambda c=c: gallery_run(c))
    med = {w: {k: statistics.median(v) for k, v in d.items()} for w, d in walls.items()}
    return {"suite": "scaling-dask", "bits": bits, "quick": quick, "sizes": sz,
            "address": address, "walls": walls, "median": med, "tasks": stats,
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
        trows.append([w, label, str(st["tasks"]), f"{st['bytes_in'] / max(1, st['tasks']):,.0f}",
                      f"{st['bytes_out'] / max(1, st['tasks']):,.0f}",
                      fmt_time(st["compute_median"]), fmt_time(st["compute"])])
    side = sz["side"]
    out = [f"### Dask vs threads ({res['bits']}-bit key)", "",
           f"Wall-clock medians of {sz['repeats']} interleaved runs (ratio to the 2-thread "
           "executor). Gaussian: the evaluator's packed 5×5 Gaussian on a "
           f"{side}×{side} encrypted photo ({res['cts']} ciphertexts). Gallery: HESIFT "
           f"ingestion of {sz['photos']} photos (longer side {sz['photo_side']} px), one image "
           "per task on Dask; the 2-thread run adds them one after another.", "",
           markdown_table(["executor", f"Gaussian {side}²", f"gallery {sz['photos']} photos"],
                          rows), "",
           "What the tasks moved and computed (one more run per cluster, task stream):", "",
           markdown_table(["workload", "cluster", "tasks", "bytes in / task",
                           "bytes out / task", "compute / task (median)", "compute (sum)"],
                          trows)]
    return "\n".join(out) + "\n"
