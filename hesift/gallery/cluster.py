"""Gallery ingestion on a Dask cluster: one image per task, every write in the caller.

The caller decodes, names and de-duplicates each image, ships its downscaled
grey version to one task, and writes the returned features to the store in
input order, so the store keeps a single writer and the gallery equals one
built by sequential ``add`` calls.  A task runs the gallery's extractor on its
worker: a ``HESIFTExtractor`` travels without its key pair (each worker makes
its own, once; the features do not depend on the key), so no private key ever
crosses the network.  The workers do see the grey images: use this on machines
trusted with the photos (for an untrusted cluster, put it behind
``hesift evaluator --dask`` and ingest with ``--evaluator``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .features import keypoints_to_rows
from .images import resize_max_side, to_gray

if TYPE_CHECKING:
    from .gallery import Gallery
    from .store import Entry


def extract_gray(extractor: Any, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One task: features of one grey image as (N, 7) keypoint rows and descriptors."""
    kps, desc = extractor(gray)
    desc = np.zeros((0, 128), np.float32) if desc is None else np.asarray(desc, np.float32)
    rows = kps if isinstance(kps, np.ndarray) else keypoints_to_rows(kps)
    return np.asarray(rows, np.float32), desc


def add_on_cluster(gallery: Gallery, items: list, client: Any, *, progress: bool = False,
                   skip_errors: bool = False) -> list[Entry | Exception]:
    """``Gallery.add_many`` with each image's features computed by one Dask task."""
    from hepaillier_core.dask_exec import run_tasks_dask

    from .gallery import QueryFeatures
    from .store import Entry, GalleryError

    prepared: list[Any] = []
    for item in items:
        try:
            prepared.append(gallery._prepare(item, None))
        except (ValueError, OSError) as e:
            if not skip_errors:
                raise
            prepared.append(e)
    first: dict[str, int] = {}  # the same pixels twice in one batch: one task
    dup: dict[int, int] = {}
    todo = []
    for i, p in enumerate(prepared):
        if isinstance(p, (Entry, Exception)):
            continue
        if p.sha in first:
            dup[i] = first[p.sha]
        else:
            first[p.sha] = i
            todo.append(i)
    grays = {i: resize_max_side(to_gray(prepared[i].img), gallery.max_side) for i in todo}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="img", desc="features", leave=False)
    try:
        feats = run_tasks_dask(client, extract_gray,
                           [(gallery.extractor, grays[i][0]) for i in todo],
                           progress=bar.update if bar is not None else None,
                           sizes=[1] * len(todo))
    finally:
        if bar is not None:
            bar.close()
    out: list[Entry | Exception] = list(prepared)
    for i, (rows, desc) in zip(todo, feats):
        if len(rows) != len(desc):
            raise GalleryError(f"extractor returned {len(rows)} keypoints but {len(desc)} "
                               "descriptors")
        gray, scale = grays[i]
        f = QueryFeatures(gray, scale, rows, desc, prepared[i].sha)
        out[i] = gallery._insert(prepared[i], f)
    for i, j in dup.items():
        out[i] = gallery._store.get(sha256=prepared[i].sha) or out[j]
    return out
