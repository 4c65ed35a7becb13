"""The persistent image gallery with top-k retrieval.

Pipeline of a query: decode -> grey -> downscale to ``max_side`` -> features
(HESIFT by default) -> one k-NN search in the FLANN index of all gallery
descriptors -> per-image ratio-test votes -> RANSAC homography on the
``verify_top`` best-voted images -> rank by inlier count.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hesift.matching import MIN_INLIERS, MatchResult, draw_matches, verify_homography

from .features import (
    Extractor,
    HESIFTExtractor,
    array_to_keypoints,
    feature_id_of,
    keypoints_to_rows,
)
from .images import content_hash, decode_png, encode_png, load_image, resize_max_side, to_gray
from .index import DescriptorIndex
from .store import Entry, GalleryError, Store

__all__ = ["DEFAULT_MAX_SIDE", "Gallery", "QueryFeatures", "QueryResult", "extract_features"]

#: Images are downscaled so their longer side is at most this many pixels
#: before feature extraction.  Encrypted SIFT cost grows with the pixel count
#: (a 2048-bit key takes minutes on a multi-megapixel photo); 480 px keeps
#: hundreds of SIFT features per photo, plenty for retrieval.
DEFAULT_MAX_SIDE = 480
DEFAULT_THUMB_SIDE = 240

ImageLike = str | os.PathLike | bytes | np.ndarray


@dataclass
class QueryFeatures:
    """The query as the gallery saw it: downscaled grey image and its features."""

    gray: np.ndarray
    scale: float
    keypoints: np.ndarray  # (N, 7) rows, see features.keypoints_to_rows
    descriptors: np.ndarray
    sha256: str


@dataclass
class QueryResult:
    """One ranked gallery image."""

    rank: int
    name: str
    score: float
    """RANSAC inlier count of the best homography (0 when none fits); see ``related``."""
    inliers: int
    matches: int
    """Ratio-test correspondences (votes) before RANSAC."""
    related: bool
    """score >= the gallery's ``min_inliers``: the images very likely show the same thing."""
    id: int = 0
    homography: np.ndarray | None = None
    query_points: np.ndarray = field(default_factory=lambda: np.empty((0, 2), np.float32))
    gallery_points: np.ndarray = field(default_factory=lambda: np.empty((0, 2), np.float32))
    inlier_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    similarity: float | None = None
    """Private retrieval: cosine similarity of the encrypted bag-of-words scores."""

    def to_dict(self) -> dict[str, Any]:
        d = {
            "rank": self.rank, "name": self.name, "score": float(self.score),
            "inliers": self.inliers, "matches": self.matches, "related": self.related,
        }
        if self.similarity is not None:
            d["similarity"] = round(float(self.similarity), 6)
        return d


def extract_features(image: ImageLike, extractor: Extractor, max_side: int | None) -> QueryFeatures:
    """Decode ``image``, convert to grey, downscale to ``max_side`` and run ``extractor``."""
    img = load_image(image)
    gray, scale = resize_max_side(to_gray(img), max_side)
    kps, desc = extractor(gray)
    desc = np.zeros((0, 128), np.float32) if desc is None else np.asarray(desc, np.float32)
    rows = kps if isinstance(kps, np.ndarray) else keypoints_to_rows(kps)
    if len(rows) != len(desc):
        raise GalleryError(f"extractor returned {len(rows)} keypoints but {len(desc)} descriptors")
    return QueryFeatures(gray, scale, np.asarray(rows, np.float32), desc, content_hash(img))


@dataclass
class _Pending:
    """An image decoded and named, waiting for its features."""

    img: np.ndarray
    sha: str
    name: str


class Gallery:
    """A gallery of images and their SIFT features in one SQLite file.

    ``max_side="auto"`` uses the size the gallery was built with (480 for a
    new gallery, ``DEFAULT_MAX_SIDE``); None keeps full resolution.
    ``extractor`` maps a grey uint8 image to ``(keypoints, descriptors)``;
    the default is :class:`HESIFTExtractor` with a ``key_bits`` Paillier key.
    ``store_encrypted`` also keeps each image encrypted under the extractor's
    key, which must be one the caller holds and can save
    (``HESIFTExtractor(keypair=...)``): a key generated inside the extractor is
    never saved, so what it encrypted could never be decrypted.  Instances are
    thread-safe; several processes may share one file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        extractor: Extractor | None = None,
        key_bits: int = 2048,
        *,
        insecure: bool = False,
        fast_decrypt: bool = False,
        max_side: int | None | str = "auto",
        thumb_side: int = DEFAULT_THUMB_SIDE,
        store_encrypted: bool = False,
        ratio: float = 0.75,
        trees: int = 5,
        checks: int = 64,
        knn: int = 8,
        verify_top: int = 20,
        min_inliers: int = MIN_INLIERS,
        ransac_thresh: float = 5.0,
    ) -> None:
        if extractor is None:
            extractor = HESIFTExtractor(key_bits, insecure=insecure, fast_decrypt=fast_decrypt)
        if not callable(extractor):
            raise TypeError("extractor must be a callable image -> (keypoints, descriptors)")
        store = Store(path)  # features are checked on add/query, not to list/remove
        if max_side == "auto":  # the gallery's own setting, DEFAULT_MAX_SIDE for a new one
            max_side = store.max_side(DEFAULT_MAX_SIDE)
        if max_side is not None and (not isinstance(max_side, int) or max_side < 32):
            raise ValueError("max_side must be an int >= 32, None (full size) or 'auto'")
        if store_encrypted and not callable(getattr(extractor, "encrypt", None)):
            raise ValueError("store_encrypted needs an extractor with encrypt() (HESIFTExtractor)")
        if store_encrypted and not getattr(extractor, "key_given", False):
            raise ValueError("store_encrypted needs a key you keep: HESIFTExtractor(keypair="
                             "(pub, priv)) with priv saved (e.g. hesift keygen); the extractor's "
                             "own key is never saved, so nothing could ever decrypt the images")
        self.extractor = extractor
        self.feature_id = f"{feature_id_of(extractor)}|max_side={max_side}"
        self.max_side, self.thumb_side = max_side, int(thumb_side)
        self.store_encrypted = store_encrypted
        self.ratio, self.trees, self.checks, self.knn = ratio, trees, checks, knn
        self.verify_top, self.min_inliers, self.ransac_thresh = verify_top, min_inliers, ransac_thresh
        self._store = store
        self._lock = threading.Lock()
        self._index: DescriptorIndex | None = None
        self._index_gen = -1

    @property
    def path(self) -> Path | str:
        """The SQLite file, or the PostgreSQL URL with its password masked."""
        return self._store.path

    def __repr__(self) -> str:
        return f"Gallery({str(self.path)!r}, {len(self)} images, extractor={self.extractor!r})"

    # -- contents ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self._store)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._store.entries())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._store.get(name=name) is not None

    def list(self) -> list[Entry]:
        return self._store.entries()

    def get(self, name: str) -> Entry | None:
        return self._store.get(name=name)

    def thumbnail(self, name: str) -> bytes:
        """PNG bytes of the stored thumbnail; KeyError if there is no such image."""
        row = self._store.blob(name, "thumbnail")
        if row is None:
            raise KeyError(name)
        return row[0]

    def thumbnail_by_id(self, image_id: int) -> bytes:
        data = self._store.thumbnail_by_id(image_id)
        if data is None:
            raise KeyError(image_id)
        return data

    def encrypted_image(self, name: str) -> bytes | None:
        row = self._store.blob(name, "encrypted")
        if row is None:
            raise KeyError(name)
        return row[0]

    def remove(self, name: str) -> bool:
        """Delete an image; False when it was not there."""
        return self._store.remove(name)

    # -- adding ------------------------------------------------------------
    def features_of(self, image: ImageLike) -> QueryFeatures:
        """Decode, downscale and extract features exactly as ``add``/``query`` do."""
        return extract_features(image, self.extractor, self.max_side)

    def add(self, image: ImageLike, name: str | None = None) -> Entry:
        """Add an image (path, file bytes or array); a no-op if its pixels are already stored.

        The default name is the file's stem (or ``image-<hash>``); a name
        already used by other content gets a ``-2``, ``-3``... suffix.
        """
        pending = self._prepare(image, name)
        if isinstance(pending, Entry):
            return pending
        return self._insert(pending, extract_features(pending.img, self.extractor, self.max_side))

    def _prepare(self, image: ImageLike, name: str | None) -> Entry | _Pending:
        """Decode and name an image; its existing entry when its pixels are stored."""
        img = load_image(image)
        sha = content_hash(img)
        existing = self._store.get(sha256=sha)
        if existing is not None:
            return existing
        if name is None:
            name = Path(image).stem if isinstance(image, (str, os.PathLike)) else f"image-{sha[:10]}"
        name = str(name).strip()
        if not name:
            raise ValueError("image name must not be empty")
        self._store.check_feature_id(self.feature_id)
        return _Pending(img, sha, name)

    def _insert(self, p: _Pending, f: QueryFeatures) -> Entry:
        """Write one image's features (always in this process: the store's one writer)."""
        existing = self._store.get(sha256=p.sha)  # the same pixels twice in one batch
        if existing is not None:
            return existing
        thumb, tscale = resize_max_side(p.img, self.thumb_side)
        encrypted = self.extractor.encrypt(f.gray) if self.store_encrypted else None  # type: ignore[attr-defined]
        return self._store.insert(
            name=p.name, sha256=p.sha, width=p.img.shape[1], height=p.img.shape[0],
            feature_scale=f.scale, thumbnail=encode_png(thumb), thumb_scale=tscale,
            keypoints=f.keypoints, descriptors=f.descriptors, encrypted=encrypted,
            feature_id=self.feature_id,
        )

    def add_many(
        self, images: Iterable[ImageLike], *, progress: bool = False, skip_errors: bool = False,
        executor: Any = None,
    ) -> list[Entry | Exception]:
        """Add several images; with ``skip_errors`` unreadable ones yield their exception.

        ``executor`` a ``dask.distributed.Client``: each image's features are
        extracted by one task on the cluster (see :func:`add_on_cluster`); the
        entries are written here, in order, exactly as sequential ``add`` would.
        """
        items = list(images)
        if executor is not None and executor not in ("thread", "process"):
            from .cluster import add_on_cluster

            return add_on_cluster(self, items, executor, progress=progress,
                                  skip_errors=skip_errors)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(items), unit="img", desc="adding", leave=False)
        out: list[Entry | Exception] = []
        try:
            for item in items:
                try:
                    out.append(self.add(item))
                except (ValueError, OSError) as e:
                    if not skip_errors:
                        raise
                    out.append(e)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return out

    # -- querying ----------------------------------------------------------
    def _current_index(self) -> DescriptorIndex:
        with self._lock:
            gen = self._store.generation()
            if self._index is None or gen != self._index_gen:
                gen, feats = self._store.features()
                self._index = DescriptorIndex(feats, trees=self.trees, checks=self.checks)
                self._index_gen = gen
            return self._index

    def query(self, image: ImageLike | QueryFeatures, k: int = 5) -> list[QueryResult]:
        """The ``k`` best gallery images for ``image``, best first (empty for an empty gallery)."""
        if k < 1:
            raise ValueError("k must be >= 1")
        index = self._current_index()
        if not index.images:
            return []
        self._store.check_feature_id(self.feature_id)
        q = image if isinstance(image, QueryFeatures) else self.features_of(image)
        cands = index.vote(q.descriptors, ratio=self.ratio, knn=self.knn)
        cands.sort(key=lambda c: -c.votes)
        results: dict[int, QueryResult] = {}
        for c in cands[: max(self.verify_top, k)]:
            feats = index.images[c.image]
            qp = q.keypoints[c.query_idx, :2]
            gp = feats.keypoints[c.train_idx, :2]
            H, mask = verify_homography(qp, gp, self.ransac_thresh)
            inl = int(mask.sum()) if H is not None else 0
            results[c.image] = QueryResult(
                0, feats.name, float(inl), inl, c.votes, inl >= self.min_inliers, feats.id,
                H, qp, gp, mask if H is not None else np.zeros(len(qp), bool),
            )
        votes = {c.image: c.votes for c in cands}
        for i, feats in enumerate(index.images):  # fill up to k with unverified images
            if len(results) >= k:
                break
            if i not in results:
                results[i] = QueryResult(0, feats.name, 0.0, 0, votes.get(i, 0), False, feats.id)
        ranked = sorted(results.values(), key=lambda r: (-r.score, -r.matches, r.name))[:k]
        for rank, r in enumerate(ranked, 1):
            r.rank = rank
        return ranked

    def draw_match(self, query: QueryFeatures, result: QueryResult, max_draw: int = 60) -> np.ndarray:
        """BGR drawing: the query (as processed) beside the result's thumbnail, inliers joined."""
        row = self._store.blob(result.name, "thumbnail")
        if row is None:
            raise KeyError(result.name)
        thumb, t_scale = decode_png(row[0]), row[1]  # thumbnail px per feature-image px
        q_scale = thumb.shape[0] / query.gray.shape[0]  # draw the query at the same height
        qimg = cv2.resize(query.gray, None, fx=q_scale, fy=q_scale, interpolation=cv2.INTER_AREA)
        n = len(result.query_points)
        dm = [cv2.DMatch(i, i, 0.0) for i in range(n)]
        res = MatchResult(matches=dm, inlier_mask=result.inlier_mask if n else None)
        return draw_matches(
            qimg, result.query_points, thumb, result.gallery_points, res,
            max_draw=max_draw, scale_a=q_scale, scale_b=t_scale,
        )

    def keypoints(self, name: str) -> list[cv2.KeyPoint]:
        _, feats = self._store.features(name)
        if not feats:
            raise KeyError(name)
        return array_to_keypoints(feats[0].keypoints)
