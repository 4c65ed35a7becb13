"""The gallery server's side of private retrieval: parameters, encrypted scoring, fetches.

:class:`PrivateIndex` derives everything from a :class:`~hesift.gallery.Gallery`
and caches it per gallery generation.  The vocabulary is kept while the
gallery stays within a factor 2 of the size it was trained on (new images are
described with it; idf and the image list are refreshed), and retrained
otherwise.  Every change gives a new parameter version; a query made with an
old version is refused (:class:`StaleParams`) so the client refetches.

The vocabulary and each image's bag of words are stored in the gallery
(:mod:`.persist`) whenever they change, so a restart adopts them instead of
re-running k-means, and the same factor-2 rule applies across restarts and
``hesift gallery add/remove`` (only the new images are described then).  A
stored index that does not parse, or does not reproduce its recorded parameter
version for the same images, is refused (message on stderr and in ``notes``)
and rebuilt.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

import numpy as np

import hepaillier_core as hc

from ..store import GalleryError
from .persist import StoredIndex, StoredIndexError, decode_index, encode_index, key_of
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


_REFUSED = StoredIndex("", "", 1, np.zeros((0, 128), np.float32), {})


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
        self._hist: dict[int, tuple[str, np.ndarray, np.ndarray]] = {}
        self._saved: StoredIndex | None = None
        self.notes: list[str] = []
        """Why a stored index was refused (also printed to stderr)."""

    # -- parameters ---------------------------------------------------------------
    def _load_stored(self) -> None:
        """Adopt the index stored in the gallery, if it is sound and made for this config."""
        store = self.gallery._store
        try:
            data = store.derived(key_of(self.words, self.seed))
            if data is None:
                return
            saved = decode_index(data, self.words)
        except (GalleryError, StoredIndexError) as e:
            self.notes.append(f"{e}; rebuilding it")
            print(f"hesift: {e}; rebuilding it", file=sys.stderr, flush=True)
            return
        if saved.feature_id != self.gallery.feature_id:
            return  # made with another extractor: not comparable, rebuilt silently
        self._vocab, self._vocab_images = saved.vocabulary, saved.trained_on
        self._hist = dict(saved.hist)
        self._saved = saved

    def _build(self) -> _State:
        store = self.gallery._store
        if self._vocab is None and self._saved is None:
            self._load_stored()
        gen, keys = store.image_keys()
        n = len(keys)
        if not n:
            raise EmptyGallery("the gallery is empty: add images first")
        retrain = self._vocab is None or not (self._vocab_images / 2 <= n <= 2 * self._vocab_images)
        if retrain or any(self._hist.get(i, ("",))[0] != sha for i, _n, sha in keys):
            gen, feats = store.features()  # features needed: read them in one snapshot
            if not feats:
                raise EmptyGallery("the gallery is empty: add images first")
            keys = [(f.id, f.name, f.sha256) for f in feats]
            n = len(feats)
            if self._vocab is None or not (self._vocab_images / 2 <= n <= 2 * self._vocab_images):
                allde = np.concatenate([f.descriptors for f in feats if len(f.descriptors)]
                                       or [np.zeros((0, 128), np.float32)])
                V = int(min(self.words, max(8, len(allde) // 4)))
                self._vocab = train_vocabulary(allde, V, seed=self.seed)
                self._vocab_images = n
                self._hist = {}
            for f in feats:
                if self._hist.get(f.id, ("",))[0] != f.sha256:
                    cols, counts = np.unique(assign_words(f.descriptors, self._vocab),
                                             return_counts=True)
                    self._hist[f.id] = (f.sha256, cols, counts)
        live = {i for i, _n, _s in keys}
        self._hist = {k: v for k, v in self._hist.items() if k in live}
        vocab = self._vocab
        words = [np.repeat(self._hist[i][1], self._hist[i][2]) for i, _n, _s in keys]
        idf = idf_of(words, len(vocab))
        dense = np.stack([gallery_vector(w, idf) for w in words])
        vectors = SparseVectors.from_dense(dense)
        w, P, _ = slot_layout(2048, QMAX, vectors)
        g = self.gallery
        params = Params(
            vocabulary=vocab, idf=idf, ids=np.array([i for i, _n, _s in keys], np.int64),
            names=[name for _i, name, _s in keys],
            norms=np.linalg.norm(dense.astype(np.float64), axis=1),
            qmax=QMAX, kmax=KMAX, w=w, P=P, key_bits_for_layout=2048,
            feature_id=g.feature_id, max_side=g.max_side,
            fetch_count=min(self.fetch_count, n),
            sift_params=dict(getattr(g.extractor, "sift_params", {}) or {}),
        )
        params.version = params.compute_version()
        saved = self._saved
        if saved is not None and params.version != saved.version and saved.hist.keys() == live \
                and all(saved.hist[i][0] == sha for i, _n, sha in keys):
            # same images, other result: the stored index is damaged; never serve it
            msg = ("stored private-retrieval index refused: it does not reproduce its "
                   "parameter version (corrupted?); rebuilding it")
            self.notes.append(msg)
            print(f"hesift: {msg}", file=sys.stderr, flush=True)
            self._vocab, self._vocab_images, self._hist, self._saved = None, 0, {}, _REFUSED
            return self._build()
        if saved is None or saved is _REFUSED or saved.version != params.version:
            self._store_index(params.version)
        return _State(gen, params, vectors, encode_params(params))

    def _store_index(self, version: str) -> None:
        if not all(len(sha) == 64 for sha, _c, _k in self._hist.values()):
            return
        rec = StoredIndex(self.gallery.feature_id, version, self._vocab_images, self._vocab,
                          dict(self._hist))
        try:
            self.gallery._store.set_derived(key_of(self.words, self.seed), encode_index(rec))
        except GalleryError as e:  # a read-only gallery still serves; start-up stays slow
            print(f"hesift: could not store the private-retrieval index: {e}", file=sys.stderr)
            return
        self._saved = rec

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
