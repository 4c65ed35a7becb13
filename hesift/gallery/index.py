"""One FLANN KD-tree index over every gallery descriptor, and per-image voting.

A query costs one k-NN search against the whole gallery (logarithmic in its
size) instead of one FLANN match per gallery image.  Lowe's ratio test is
applied per gallery image: for a query descriptor, the nearest neighbour in
image I is compared with the second nearest *in the same image I*.  When that
second neighbour is not among the k returned, its distance is at least the
k-th distance, so ``d1 < ratio * d_k`` still proves the test passes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .store import StoredFeatures

__all__ = ["Candidate", "DescriptorIndex"]

_FLANN_INDEX_KDTREE = 1


@dataclass
class Candidate:
    """Ratio-test correspondences between the query and one gallery image."""

    image: int  # position in DescriptorIndex.images
    query_idx: np.ndarray  # indices into the query descriptors
    train_idx: np.ndarray  # indices into the image's own keypoints
    distance: np.ndarray

    @property
    def votes(self) -> int:
        return len(self.query_idx)


class DescriptorIndex:
    """Stacked descriptors of many images, with the owner of each row."""

    def __init__(self, images: Sequence[StoredFeatures], *, trees: int = 5, checks: int = 50):
        self.images = list(images)
        self.checks = int(checks)
        self._search_lock = threading.Lock()  # FLANN search is not documented thread-safe
        descs = [f.descriptors for f in self.images if len(f.descriptors)]
        self.size = sum(len(d) for d in descs)
        self._index = None
        if self.size == 0:
            return
        self.descriptors = np.ascontiguousarray(np.concatenate(descs), dtype=np.float32)
        self.owner = np.concatenate(
            [np.full(len(f.descriptors), i, np.int32) for i, f in enumerate(self.images)]
        )
        self.local = np.concatenate(
            [np.arange(len(f.descriptors), dtype=np.int32) for f in self.images]
        )
        self._index = cv2.flann_Index(
            self.descriptors, {"algorithm": _FLANN_INDEX_KDTREE, "trees": int(trees)}
        )

    def vote(self, query: np.ndarray, *, ratio: float = 0.75, knn: int = 8) -> list[Candidate]:
        """Per-image ratio-tested correspondences for every image with at least one vote."""
        if self._index is None or query is None or len(query) == 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32)
        k = int(min(knn, self.size))
        if k < 2:
            return []
        with self._search_lock:
            idx, d2 = self._index.knnSearch(q, k, params={"checks": self.checks})
        idx = idx.astype(np.int64)
        valid = idx >= 0  # FLANN pads with -1 when it finds fewer than k
        idx = np.where(valid, idx, 0)
        dist = np.sqrt(np.maximum(d2.astype(np.float64), 0.0))
        dist = np.where(valid, dist, np.inf)
        own = np.where(valid, self.owner[idx], -1)
        nq = len(q)
        # The k-th distance bounds the unseen second neighbour of any image.
        last = dist[:, k - 1]
        qs, imgs, trains, dists = [], [], [], []
        for c in range(k):
            o = own[:, c]
            first = valid[:, c] & np.all(own[:, :c] != o[:, None], axis=1)
            if not first.any():
                continue
            second = np.full(nq, np.inf)
            for c2 in range(k - 1, c, -1):  # nearest later column of the same image wins
                same = own[:, c2] == o
                second = np.where(same, dist[:, c2], second)
            second = np.where(np.isinf(second), last, second)
            ok = first & (dist[:, c] < ratio * second)
            if not ok.any():
                continue
            rows = np.nonzero(ok)[0]
            qs.append(rows)
            imgs.append(o[rows])
            trains.append(self.local[idx[rows, c]])
            dists.append(dist[rows, c])
        if not qs:
            return []
        qs_a, im_a = np.concatenate(qs), np.concatenate(imgs)
        tr_a, di_a = np.concatenate(trains), np.concatenate(dists)
        out = []
        for image in np.unique(im_a):
            sel = im_a == image
            q_i, t_i, d_i = qs_a[sel], tr_a[sel], di_a[sel]
            # one gallery keypoint may attract several query descriptors: keep the closest
            order = np.lexsort((d_i, t_i))
            keep = order[np.r_[True, t_i[order][1:] != t_i[order][:-1]]]
            out.append(Candidate(int(image), q_i[keep], t_i[keep], d_i[keep]))
        return out
