"""One-call entry points: HESIFT (encrypted scale space) and sift_reference (plaintext)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from hesift.sift.image import to_grey
from hesift.sift.params import SiftParams
from hesift.sift.reference import run_reference


def sift_reference(
    image: np.ndarray,
    *,
    nfeatures: int = 0,
    nOctaveLayers: int = 3,
    contrastThreshold: float = 0.04,
    edgeThreshold: float = 10,
    sigma: float = 1.6,
    enable_upsample: bool = True,
    min_features: int = 0,
    **fixed_point,
) -> tuple[list[cv2.KeyPoint], np.ndarray]:
    """HESIFT's exact integer pipeline on plaintext: same keypoints and descriptors, no keys."""
    params = SiftParams(nfeatures, nOctaveLayers, contrastThreshold, float(edgeThreshold), sigma,
                        enable_upsample, min_features=min_features, **fixed_point)
    kps = run_reference(to_grey(image), params)
    return kps.to_cv(), kps.desc


def HESIFT(
    image: np.ndarray,
    keypair: tuple | None = None,
    *,
    nfeatures: int = 0,
    nOctaveLayers: int = 3,
    contrastThreshold: float = 0.04,
    edgeThreshold: float = 10,
    sigma: float = 1.6,
    enable_upsample: bool = True,
    workers: int | None = None,
    progress: bool = False,
    min_features: int = 0,
    evaluator=None,
    executor: Any = None,
    **fixed_point,
) -> tuple[list[cv2.KeyPoint], np.ndarray]:
    """SIFT with the Gaussian/DoG scale space computed on Paillier ciphertexts.

    keypair: (public_key, private_key) from hepaillier_core.generate_keypair;
    None generates a fresh 2048-bit key.  Returns cv2.KeyPoint list and an
    N x 128 float32 array, identical to sift_reference on the same input.
    ``min_features`` > 0 keeps at least that many keypoints on low-texture
    images (see ``SiftParams.min_features``); 0 is OpenCV's behaviour.
    ``evaluator``: None runs the evaluator party in this process; a URL
    ("http://host:port") or a ``hesift.remote.RemoteEvaluator`` runs it on that
    service, which receives only the public key and ciphertexts.
    ``executor`` ('thread', 'process' or a ``dask.distributed.Client``) runs the
    in-process evaluator's octaves; encryption and decryption stay on local threads.
    """
    from hesift.sift.protocol import run_local

    params = SiftParams(nfeatures, nOctaveLayers, contrastThreshold, float(edgeThreshold), sigma,
                        enable_upsample, min_features=min_features, **fixed_point)
    kps = run_local(to_grey(image), params, keypair, workers=workers, progress=progress,
                    evaluator=evaluator, executor=executor)
    return kps.to_cv(), kps.desc
