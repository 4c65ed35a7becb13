"""Feature extractors for the gallery and (de)serialisation of keypoints.

An extractor is any callable ``gray_uint8_image -> (keypoints, descriptors)``.
It may carry a ``feature_id`` string: the gallery records it and refuses to
mix features from different extractors (their descriptors are not comparable).
The default is :class:`HESIFTExtractor` - SIFT whose scale space is computed on
Paillier ciphertexts.  :class:`ReferenceExtractor` runs the bit-identical
plaintext pipeline, so both share one ``feature_id`` and one gallery.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

__all__ = [
    "Extractor",
    "HESIFTExtractor",
    "ReferenceExtractor",
    "array_to_keypoints",
    "feature_id_of",
    "keypoints_to_rows",
    "npy_bytes",
    "npy_load",
]

Extractor = Callable[[np.ndarray], tuple[Sequence[cv2.KeyPoint], np.ndarray]]

#: Both HESIFT and sift_reference produce these features (bit-identical).  The
#: version changes whenever the default integer pipeline does (v2: f = 10 with
#: largest-remainder taps; v3: f = 12 largest-remainder taps and octave 0's base with 2
#: fractional bits, issue 14), so a gallery built with older features
#: refuses to mix them with new ones.
SIFT_FEATURE_ID = "hesift-sift-v3"

#: Gallery extractors keep at least this many keypoints per image (SIFT's
#: ``min_features`` top-up): a low-texture photo (a smooth clock face, a 60%
#: crop of a retina) otherwise keeps 3-20 keypoints, too few for RANSAC to
#: recognise it (benchmarks/gallery_eval.py: top-5 misses 1 -> 0, top-1 98.4%
#: -> 100%).  Textured photos are unchanged; the encrypted work is identical.
GALLERY_MIN_FEATURES = 200


def _gallery_params(sift_params: dict[str, Any]) -> dict[str, Any]:
    return {"min_features": GALLERY_MIN_FEATURES, **sift_params}


def _params_tag(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={params[k]!r}" for k in sorted(params))


def feature_id_of(extractor: Extractor) -> str:
    """The extractor's declared ``feature_id``, or one derived from its name."""
    fid = getattr(extractor, "feature_id", None)
    if isinstance(fid, str) and fid:
        return fid
    name = getattr(extractor, "__qualname__", None) or type(extractor).__qualname__
    return f"custom:{getattr(extractor, '__module__', '?')}.{name}"


class HESIFTExtractor:
    """SIFT on an encrypted scale space (``hesift.HESIFT``), one key pair per extractor.

    The key pair is generated lazily on first use (2048-bit by default, the
    smallest size we call secure).  ``evaluator`` (a URL or a
    ``hesift.remote.RemoteEvaluator``) runs the encrypted scale space on that
    service; the features are identical.  ``key_bits < 2048`` needs ``insecure=True``:
    it is for tests and demos only.  The key never leaves this object.
    """

    def __init__(
        self,
        key_bits: int = 2048,
        *,
        keypair: Any = None,
        insecure: bool = False,
        fast_decrypt: bool = False,
        progress: bool = False,
        evaluator: Any = None,
        **sift_params: Any,
    ) -> None:
        if keypair is None and key_bits < 2048 and not insecure:
            raise ValueError(
                f"a {key_bits}-bit Paillier key is not secure; use >= 2048 "
                "or pass insecure=True (tests/demos only)"
            )
        self.key_bits = int(key_bits)
        self.insecure = bool(insecure)
        self.fast_decrypt = bool(fast_decrypt)  # a subgroup key (hc.generate_keypair)
        self.progress = progress
        self.evaluator = evaluator  # None: in process; else a URL or hesift.remote.RemoteEvaluator
        self.sift_params = _gallery_params(sift_params)
        self._keypair = keypair
        self.key_given = keypair is not None  # the caller holds (and can save) the key
        self._lock = threading.Lock()
        self.feature_id = SIFT_FEATURE_ID + (
            f"[{_params_tag(self.sift_params)}]" if self.sift_params else ""
        )

    def keypair(self) -> Any:
        with self._lock:
            if self._keypair is None:
                import hepaillier_core as hc

                kw = {"insecure": True} if self.key_bits < 2048 else {}
                self._keypair = hc.generate_keypair(self.key_bits, fast_decrypt=self.fast_decrypt,
                                                    **kw)
            return self._keypair

    def __call__(self, gray: np.ndarray) -> tuple[Sequence[cv2.KeyPoint], np.ndarray]:
        from hesift.sift import HESIFT

        params = dict(self.sift_params)
        if self.progress:
            params["progress"] = self.progress
        return HESIFT(gray, keypair=self.keypair(), evaluator=self.evaluator, **params)

    def encrypt(self, gray: np.ndarray) -> bytes:
        """The image packed and encrypted under this extractor's public key, as bytes."""
        _pub, priv = self.keypair()
        return priv.encrypt(np.asarray(gray, np.int64), pack=True).to_bytes()

    def __repr__(self) -> str:  # never shows the key
        return f"HESIFTExtractor(key_bits={self.key_bits}, params={self.sift_params})"

    def __reduce__(self):
        """Pickles (e.g. to a Dask worker) without its key pair: the receiving process
        uses one key pair of its own per extractor setting (features do not depend on
        the key), so a private key never travels."""
        return (_process_extractor, (self.key_bits, self.insecure, dict(self.sift_params),
                                     self.evaluator))


_process_extractors: dict[str, HESIFTExtractor] = {}
_process_lock = threading.Lock()


def _process_extractor(key_bits: int, insecure: bool, sift_params: dict[str, Any],
                       evaluator: Any) -> HESIFTExtractor:
    """This process's HESIFTExtractor for these settings (its key pair made here, once)."""
    tag = f"{key_bits}|{insecure}|{_params_tag(sift_params)}|{evaluator!r}"
    with _process_lock:
        ext = _process_extractors.get(tag)
        if ext is None:
            ext = HESIFTExtractor(key_bits, insecure=insecure, evaluator=evaluator)
            ext.sift_params = dict(sift_params)
            ext.feature_id = SIFT_FEATURE_ID + (
                f"[{_params_tag(ext.sift_params)}]" if ext.sift_params else "")
            _process_extractors[tag] = ext
        return ext


class ReferenceExtractor:
    """The plaintext twin of HESIFT (``hesift.sift_reference``): same features, much faster.

    For evaluation and tests of retrieval logic, where encryption is not the
    subject.  It gives no privacy: the image is processed in the clear.
    """

    def __init__(self, **sift_params: Any) -> None:
        self.sift_params = _gallery_params(sift_params)
        self.feature_id = SIFT_FEATURE_ID + (
            f"[{_params_tag(self.sift_params)}]" if self.sift_params else ""
        )

    def __call__(self, gray: np.ndarray) -> tuple[Sequence[cv2.KeyPoint], np.ndarray]:
        from hesift.sift import sift_reference

        return sift_reference(gray, **self.sift_params)

    def __repr__(self) -> str:
        return f"ReferenceExtractor(params={self.sift_params})"


def keypoints_to_rows(kps: Sequence[cv2.KeyPoint]) -> np.ndarray:
    """(N, 7) float32: x, y, size, angle, response, octave, class_id."""
    if len(kps) == 0:
        return np.empty((0, 7), np.float32)
    return np.array(
        [(k.pt[0], k.pt[1], k.size, k.angle, k.response, k.octave, k.class_id) for k in kps],
        dtype=np.float32,
    )


def array_to_keypoints(rows: np.ndarray) -> list[cv2.KeyPoint]:
    return [
        cv2.KeyPoint(float(x), float(y), float(s), float(a), float(r), int(o), int(c))
        for x, y, s, a, r, o, c in rows
    ]


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def npy_load(b: bytes) -> np.ndarray:
    """Load an array saved by :func:`npy_bytes`; never unpickles, sizes checked first."""
    from hepaillier_core.limits import read_npy

    return read_npy(io.BytesIO(b), len(b), what="stored feature array",
                    dtypes=("<f4", "<f8", "<i8", "<i4", "|u1", "<u8"))
