"""The key owner's side of private retrieval: :class:`PrivateClient`.

The client describes its photo with the server's vocabulary, encrypts every
coordinate of the quantised vector under its own Paillier key (zeros too), and
sends one fixed-size request.  It decrypts the packed scores of every gallery
image, turns them into cosine similarities, and either ranks by them alone
(``fetch=False``: the server learns nothing but the request's arrival) or
fetches a fixed number of the best candidates' features and re-ranks them by
geometry (FLANN + ratio test + RANSAC, as :meth:`Gallery.query` does).  The
fetch tells the server which candidates were fetched: that is the stated leak.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import cv2
import numpy as np

import hepaillier_core as hc
from hepaillier_core import _core

from ..features import ReferenceExtractor, feature_id_of
from ..gallery import QueryFeatures, QueryResult, extract_features
from ..images import decode_png
from ..index import DescriptorIndex
from ..store import GalleryError, StoredFeatures
from .scoring import plain_scores  # noqa: F401  (re-exported for tests of exactness)
from .vocabulary import assign_words, query_vector
from .wire import (
    Candidate,
    Params,
    WireError,
    decode_features,
    decode_params,
    decode_reply,
    encode_query,
)

__all__ = ["SIMILAR", "PrivateClient", "PrivateScores"]

#: Cosine similarity above which the no-fetch mode calls an image related.  A
#: rough indicator (docs/private_eval.md): related queries score ~0.8 (median),
#: unrelated ~0.35, but alike textures (star fields, other regions of one retina)
#: overlap; geometry (the fetch mode's RANSAC) is what separates them clearly.
SIMILAR = 0.5
_MAX_REPLY = 64 << 20
_MAX_PARAMS = 256 << 20


class PrivateScores:
    """Decrypted scores of one query: exact integers and cosine similarities, slot order."""

    def __init__(self, params: Params, q: np.ndarray, raw: np.ndarray) -> None:
        self.params, self.q, self.raw = params, q, raw
        qn = float(np.linalg.norm(q.astype(np.float64)))
        den = qn * params.norms
        self.similarity = np.where(den > 0, raw / np.where(den > 0, den, 1.0), 0.0)


class PrivateClient:
    """Query a remote gallery with an encrypted description of a photo.

    ``keypair`` is a ``(PublicKey, PrivateKey)``; by default one is generated
    on first use (``key_bits``, 2048 unless ``insecure=True``) and never leaves
    this object.  ``extractor`` computes SIFT locally (default
    :class:`ReferenceExtractor`, bit-identical to HESIFT; a HESIFT extractor
    with a remote evaluator gives the same features).
    """

    def __init__(self, url: str, *, keypair: Any = None, key_bits: int = 2048,
                 insecure: bool = False, extractor: Any = None, timeout: float = 600.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"server URL must start with http:// or https://, got {url!r}")
        if keypair is None and key_bits < 2048 and not insecure:
            raise ValueError(f"a {key_bits}-bit key is not secure; use >= 2048 or insecure=True")
        self.url = url.rstrip("/")
        self.key_bits, self.insecure, self.timeout = int(key_bits), bool(insecure), timeout
        self._keypair = keypair
        self._extractor = extractor
        self._params: Params | None = None
        self.candidates: dict[int, Candidate] = {}
        self.sent: dict[str, int] = {}

    # -- plumbing ------------------------------------------------------------------
    def _http(self, path: str, body: bytes | None = None, *, ctype: str = "application/octet-stream",
              limit: int = _MAX_REPLY) -> bytes:
        req = urllib.request.Request(self.url + path, data=body, method="POST" if body is not None else "GET")
        if body is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                data = r.read(limit + 1)
        except urllib.error.HTTPError as e:
            msg = e.read(4096).decode("utf-8", "replace").strip().splitlines()
            raise _HTTPFailure(e.code, msg[0] if msg else e.reason) from None
        except (urllib.error.URLError, OSError) as e:
            raise GalleryError(f"{self.url}: cannot reach the gallery server ({e})") from None
        if len(data) > limit:
            raise GalleryError(f"{self.url}{path}: answer larger than {limit} bytes")
        return data

    def keypair(self):
        if self._keypair is None:
            kw = {"insecure": True} if self.key_bits < 2048 else {}
            self._keypair = hc.generate_keypair(self.key_bits, **kw)
        return self._keypair

    def params(self, refresh: bool = False) -> Params:
        """The server's vocabulary, idf and image list (cached until the server says stale)."""
        if self._params is None or refresh:
            try:
                self._params = decode_params(self._http("/api/private/params", limit=_MAX_PARAMS))
            except WireError as e:
                raise GalleryError(f"{self.url}: {e}") from None
            except _HTTPFailure as e:
                raise GalleryError(f"{self.url}: {e.message}") from None
        return self._params

    def extractor(self, params: Params):
        ext = self._extractor or ReferenceExtractor(**params.sift_params)
        fid = f"{feature_id_of(ext)}|max_side={params.max_side}"
        if fid != params.feature_id:
            raise GalleryError(f"the gallery's features are {params.feature_id!r}, this client "
                               f"makes {fid!r}: they cannot be compared")
        return ext

    def features_of(self, image) -> QueryFeatures:
        """SIFT of the photo, computed here, as the gallery computes it."""
        if isinstance(image, QueryFeatures):
            return image
        p = self.params()
        return extract_features(image, self.extractor(p), p.max_side)

    # -- the private query ---------------------------------------------------------
    def scores(self, image) -> tuple[QueryFeatures, PrivateScores]:
        """Features of ``image`` and the decrypted scores of every gallery image."""
        q_feats = self.features_of(image)
        for attempt in (0, 1):
            p = self.params(refresh=attempt == 1)
            if p.N == 0:
                raise GalleryError("the gallery is empty")
            q = query_vector(assign_words(q_feats.descriptors, p.vocabulary), p.idf, p.qmax)
            pub, priv = self.keypair()
            ct = priv.encrypt_residues(_core.res_from_i64(q, pub.n))  # every coordinate, zeros too
            body = encode_query(pub.n, pub.bits, p.version, ct)
            self.sent = {"query_bytes": len(body)}
            try:
                data = self._http("/api/private/query", body)
            except _HTTPFailure as e:
                if e.code == 409 and attempt == 0 and "params" in e.message:
                    continue  # the gallery changed: refetch its parameters once
                raise GalleryError(f"{self.url}: {e.message}") from None
            self.sent["reply_bytes"] = len(data)
            return q_feats, PrivateScores(p, q, self._decrypt(p, priv, data))
        raise GalleryError(f"{self.url}: the gallery keeps changing; try again")  # pragma: no cover

    def _decrypt(self, p: Params, priv, data: bytes) -> np.ndarray:
        pub = priv.public_key
        try:
            msg = decode_reply(data, L=pub.L)
        except WireError as e:
            raise GalleryError(f"{self.url}: {e}") from None
        if msg.N != p.N or msg.version != p.version or msg.P * msg.w > pub.bits - 2:
            raise GalleryError(f"{self.url}: the reply does not match the gallery parameters")
        res = priv.owner.decrypt(msg.ciphertexts)
        slots = _core.unpack_i64(res, pub.n, msg.P, msg.w).reshape(-1)
        raw, rest = slots[:p.N], slots[p.N:]
        if raw.min(initial=0) < 0 or np.any(rest != 0):
            raise GalleryError(f"{self.url}: the reply holds impossible scores (corrupted)")
        return raw

    def fetch(self, params: Params, ids: list[int]) -> list[Candidate]:
        body = json.dumps({"version": params.version, "ids": [int(i) for i in ids]}).encode()
        try:
            data = self._http("/api/private/features", body, ctype="application/json")
            return decode_features(data, len(ids))
        except WireError as e:
            raise GalleryError(f"{self.url}: {e}") from None
        except _HTTPFailure as e:
            raise GalleryError(f"{self.url}: {e.message}") from None

    def query(self, image, k: int = 5, *, fetch: bool = True, min_inliers: int = 8,
              ratio: float = 0.75, ransac_thresh: float = 5.0) -> list[QueryResult]:
        """The ``k`` best gallery images, best first, as :meth:`Gallery.query` returns them.

        ``fetch=False`` ranks by the encrypted scores alone (``score`` is the
        cosine similarity); otherwise ``params.fetch_count`` candidates are
        fetched and ranked by RANSAC inliers like the local gallery.
        """
        if k < 1:
            raise ValueError("k must be >= 1")
        qf, sc = self.scores(image)
        p = sc.params
        self.last_query = qf
        order = np.lexsort((np.arange(p.N), -sc.similarity))
        results: dict[int, QueryResult] = {}
        if fetch and p.fetch_count:
            cands = self.fetch(p, [int(p.ids[i]) for i in order[:p.fetch_count]])
            self.candidates = {c.id: c for c in cands}
            results = self._verify(qf, cands, sc, order, min_inliers, ratio, ransac_thresh)
        for i in order:
            if len(results) >= k:
                break
            pid = int(p.ids[i])
            if pid not in results:
                sim = float(sc.similarity[i])
                results[pid] = QueryResult(0, p.names[i], sim if not fetch else 0.0, 0, 0,
                                           sim >= SIMILAR if not fetch else False, pid,
                                           similarity=sim)
        ranked = sorted(results.values(), key=lambda r: (-r.score, -(r.similarity or 0), r.name))[:k]
        for rank, r in enumerate(ranked, 1):
            r.rank = rank
        return ranked

    def _verify(self, qf, cands, sc, order, min_inliers, ratio, thresh) -> dict[int, QueryResult]:
        from hesift.matching import verify_homography

        p = sc.params
        sim_of = {int(p.ids[i]): float(sc.similarity[i]) for i in order[:len(cands)]}
        index = DescriptorIndex([StoredFeatures(c.id, c.name, c.keypoints, c.descriptors)
                                 for c in cands])
        votes = {v.image: v for v in index.vote(qf.descriptors, ratio=ratio)}
        out = {}
        for pos, c in enumerate(cands):
            v = votes.get(pos)
            if v is None:
                out[c.id] = QueryResult(0, c.name, 0.0, 0, 0, False, c.id,
                                        similarity=sim_of.get(c.id))
                continue
            qp, gp = qf.keypoints[v.query_idx, :2], c.keypoints[v.train_idx, :2]
            H, mask = verify_homography(qp, gp, thresh)
            inl = int(mask.sum()) if H is not None else 0
            out[c.id] = QueryResult(0, c.name, float(inl), inl, v.votes, inl >= min_inliers, c.id,
                                    H, qp, gp, mask if H is not None else np.zeros(len(qp), bool),
                                    similarity=sim_of.get(c.id))
        return out

    def draw_match(self, query: QueryFeatures, result: QueryResult, max_draw: int = 60) -> np.ndarray | None:
        """The match drawing of a fetched result (None for results that were not fetched)."""
        from hesift.matching import MatchResult, draw_matches

        c = self.candidates.get(result.id)
        if c is None or not result.inliers:
            return None
        thumb = decode_png(c.thumbnail)
        q_scale = thumb.shape[0] / query.gray.shape[0]
        qimg = cv2.resize(query.gray, None, fx=q_scale, fy=q_scale, interpolation=cv2.INTER_AREA)
        n = len(result.query_points)
        res = MatchResult(matches=[cv2.DMatch(i, i, 0.0) for i in range(n)],
                          inlier_mask=result.inlier_mask if n else None)
        return draw_matches(qimg, result.query_points, thumb, result.gallery_points, res,
                            max_draw=max_draw, scale_a=q_scale, scale_b=c.thumb_scale)

    def thumbnail(self, image_id: int) -> bytes | None:
        c = self.candidates.get(image_id)
        return None if c is None else c.thumbnail


class _HTTPFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
