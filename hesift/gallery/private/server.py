"""The gallery server's side of private retrieval: parameters, encrypted scoring, fetches.

:class:`PrivateIndex` derives everything from a :class:`~hesift.gallery.Gallery`
and caches it per gallery generation.  The vocabulary is kept while the
gallery stays within a factor 2 of the size it was trained on (new images are
described with it; idf and the image list are refreshed), and retrained
otherwise.  Every change gives a new parameter version; a query made with an
old version is refused (:class:`StaleParams`) so the client refetches.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

import hepaillier_core as hc

from .scoring import KMAX, SparseVectors, encrypted_scores, slot_layout
from .vocabulary import QMAX, assign_words, gallery_vector, idf_of, train_vocabulary
from .wire import (
    KEY_BITS,
    Candidate,
    Params,
    WireError,
    decode_query,
    encode_features,
    encode_params,
    encode_reply,
    query_size,
)

__all__ = ["DEFAULT_FETCH", "DEFAULT_WORDS", "EmptyGallery", "PrivateIndex", "StaleParams"]

DEFAULT_WORDS = 1024
DEFAULT_FETCH = 10


class StaleParams(RuntimeError):
    """The query was built with parameters the gallery no longer uses."""


class EmptyGallery(RuntimeError):
    """There is nothing to rank."""


@dataclass
class _State:
    generation: int
    params: Params
    vectors: SparseVectors
    params_bytes: bytes


class PrivateIndex:
    """Private-retrieval state of one gallery (thread-safe; rebuilt when the gallery changes)."""

    def __init__(self, gallery, *, words: int = DEFAULT_WORDS, fetch_count: int = DEFAULT_FETCH,
                 allowed_bits: tuple[int, ...] = KEY_BITS, seed: int = 0,
                 rerandomise: bool = True, workers: int | None = None) -> None:
        if not 8 <= words <= 4096:
            raise ValueError("words must be in 8..4096")
        self.gallery = gallery
        self.words, self.fetch_count, self.seed = int(words), int(fetch_count), int(seed)
        self.allowed_bits = tuple(allowed_bits)
        self.rerandomise, self.workers = rerandomise, workers
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._vocab: np.ndarray | None = None
        self._vocab_images = 0
        self._words_of: dict[int, np.ndarray] = {}

    # -- parameters ---------------------------------------------------------------
    def _build(self) -> _State:
        store = self.gallery._store
        gen, feats = store.features()
        if not feats:
            raise EmptyGallery("the gallery is empty: add images first")
        n = len(feats)
        if self._vocab is None or not (self._vocab_images / 2 <= n <= 2 * self._vocab_images):
            allde = np.concatenate([f.descriptors for f in feats if len(f.descriptors)]
                                   or [np.zeros((0, 128), np.float32)])
            V = int(min(self.words, max(8, len(allde) // 4)))
            self._vocab = train_vocabulary(allde, V, seed=self.seed)
            self._vocab_images = n
            self._words_of = {}
        vocab = self._vocab
        words = []
        for f in feats:
            w = self._words_of.get(f.id)
            if w is None:
                w = assign_words(f.descriptors, vocab)
                self._words_of[f.id] = w
            words.append(w)
        live = {f.id for f in feats}
        self._words_of = {k: v for k, v in self._words_of.items() if k in live}
        idf = idf_of(words, len(vocab))
        dense = np.stack([gallery_vector(w, idf) for w in words])
        vectors = SparseVectors.from_dense(dense)
        w, P, _ = slot_layout(2048, QMAX, vectors)
        g = self.gallery
        params = Params(
            vocabulary=vocab, idf=idf, ids=np.array([f.id for f in feats], np.int64),
            names=[f.name for f in feats], norms=np.linalg.norm(dense.astype(np.float64), axis=1),
            qmax=QMAX, kmax=KMAX, w=w, P=P, key_bits_for_layout=2048,
            feature_id=g.feature_id, max_side=g.max_side,
            fetch_count=min(self.fetch_count, n),
            sift_params=dict(getattr(g.extractor, "sift_params", {}) or {}),
        )
        params.version = params.compute_version()
        return _State(gen, params, vectors, encode_params(params))

    def state(self) -> _State:
        with self._lock:
            gen = self.gallery._store.generation()
            if self._state is None or self._state.generation != gen:
                self._state = self._build()
            return self._state

    def params(self) -> Params:
        return self.state().params

    def params_bytes(self) -> bytes:
        return self.state().params_bytes

    def max_query_bytes(self) -> int:
        """The largest request body a query can have (checked before reading it)."""
        V = self.params().V
        return max(query_size(b, V) for b in self.allowed_bits)

    # -- the encrypted query ---------------------------------------------------------
    def answer(self, data: bytes, stats: dict | None = None) -> bytes:
        """Reply bytes for a query message (WireError: malformed; StaleParams: old version)."""
        st = self.state()
        msg = decode_query(data, V=st.params.V, allowed_bits=self.allowed_bits)
        if msg.version != st.params.version:
            raise StaleParams("the gallery changed since these parameters: fetch "
                              "/api/private/params again")
        pub = hc.PublicKey(msg.n)
        bad = pub.mod.check_range(msg.ciphertexts)
        if bad >= 0:
            raise WireError(f"query: ciphertext #{bad} is not in [1, n^2)")
        ct, w, P = encrypted_scores(pub, msg.ciphertexts, st.vectors, st.params.qmax,
                                    workers=self.workers, rerandomise=self.rerandomise,
                                    stats=stats)
        return encode_reply(w, P, st.vectors.N, st.params.version, ct)

    # -- fetching candidates ---------------------------------------------------------------
    def features(self, version: str, ids: list[int]) -> bytes:
        """The features and thumbnails of exactly ``fetch_count`` distinct gallery images."""
        st = self.state()
        if version != st.params.version:
            raise StaleParams("the gallery changed since these parameters: fetch "
                              "/api/private/params again")
        want = st.params.fetch_count
        if (not isinstance(ids, list) or len(ids) != want or len(set(ids)) != want
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
            raise WireError(f"features: exactly {want} distinct image ids expected")
        known = set(st.params.ids.tolist())
        if not set(ids) <= known:
            raise WireError("features: unknown image id")
        store = self.gallery._store
        out = []
        for i in ids:
            name = st.params.names[int(np.nonzero(st.params.ids == i)[0][0])]
            _gen, feats = store.features(name)
            blob = store.blob(name, "thumbnail")
            if not feats or blob is None:
                raise StaleParams("the gallery changed: fetch /api/private/params again")
            f = feats[0]
            out.append(Candidate(int(f.id), f.name, blob[0], blob[1], f.keypoints, f.descriptors))
        return encode_features(out)
