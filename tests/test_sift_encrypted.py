"""HESIFT on ciphertexts: bit-exact equality with sift_reference on real photos, the
byte protocol with the evaluator in a separate process holding only the public key,
and refusal of malformed or mismatched messages."""

from __future__ import annotations

import gc
import struct
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from skimage import data

from hesift.sift.api import HESIFT, sift_reference
from hesift.sift.image import octave0_base
from hesift.sift.messages import OctaveResult
from hesift.sift.params import SiftParams
from hesift.sift.protocol import Evaluator, KeyOwner
from hesift.sift.reference import reference_octave


def crop(name: str, y: int, x: int, size: int) -> np.ndarray:
    img = getattr(data, name)()
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(img[y : y + size, x : x + size])


def same_features(a, b) -> bool:
    (k1, d1), (k2, d2) = a, b
    fields = [(k.pt, k.size, k.angle, k.response, k.octave) for k in k1]
    return fields == [(k.pt, k.size, k.angle, k.response, k.octave) for k in k2] and np.array_equal(d1, d2)


def run_owner(grey, priv, evaluator, params=None, **kw):
    owner = KeyOwner(grey, priv, params, keep_levels=True, **kw)
    while not owner.done:
        owner.receive(evaluator.evaluate(owner.next_job()))
    return owner


@pytest.mark.parametrize("name, y, x", [("camera", 150, 200), ("astronaut", 60, 180), ("rocket", 200, 300)])
def test_decrypted_dogs_and_features_equal_the_reference(keys512, name, y, x):
    pub, priv = keys512
    g = crop(name, y, x, 64)
    params = SiftParams()
    owner = run_owner(g, priv, Evaluator(pub))
    base = octave0_base(g, params)
    from hesift.sift.finish import finish_octave

    for plan, dogs in zip(owner.plans, owner.decrypted_dogs):
        ref_dogs, g0 = reference_octave(params, plan, base)
        assert dogs.dtype == np.int64 and np.array_equal(dogs, ref_dogs)
        _, base = finish_octave(params, plan, ref_dogs, g0)
    kp = owner.result()
    assert len(kp) > 10
    assert same_features((kp.to_cv(), kp.desc), sift_reference(g))


def test_one_call_api_with_parameters(keys512):
    g = crop("chelsea", 80, 180, 64)
    kw = dict(nOctaveLayers=4, contrastThreshold=0.03, edgeThreshold=8, sigma=1.5, nfeatures=25)
    a = HESIFT(g, keys512, **kw)
    assert same_features(a, sift_reference(g, **kw))
    assert 0 < len(a[0]) <= 27 and a[1].shape == (len(a[0]), 128) and a[1].dtype == np.float32
    bgr = np.ascontiguousarray(data.chelsea()[80:144, 180:244, ::-1])
    assert same_features(HESIFT(bgr, keys512, enable_upsample=False),
                         sift_reference(bgr, enable_upsample=False))


@pytest.mark.parametrize("fixed", [dict(upsample_frac_bits=2, base_frac_bits=3),
                                   dict(frac_bits=10, upsample_frac_bits=0)])
def test_narrower_bases_stay_bit_exact(keys512, fixed):
    """Fewer fractional bits in the octave bases: still identical to the reference,
    and a different result from the exact bases (the rounding really happens)."""
    g = crop("camera", 120, 200, 40)
    a = HESIFT(g, keys512, **fixed)
    assert same_features(a, sift_reference(g, **fixed))
    exact = sift_reference(g, **{k: v for k, v in fixed.items() if k == "frac_bits"},
                           upsample_frac_bits=4, base_frac_bits=4)
    assert not same_features(a, exact)


def test_min_features_top_up_is_identical_encrypted_and_keeps_the_strong_set(keys512):
    g = crop("retina", 300, 300, 64)  # low texture: 2 keypoints pass OpenCV's threshold
    plain = sift_reference(g)
    topped = HESIFT(g, keys512, min_features=30)
    assert same_features(topped, sift_reference(g, min_features=30))
    assert 0 < len(plain[0]) < 30 <= len(topped[0])
    strong = {(k.pt, k.size) for k in plain[0]}
    assert strong <= {(k.pt, k.size) for k in topped[0]}  # the OpenCV set survives
    weak = [k.response for k in topped[0] if (k.pt, k.size) not in strong]
    assert max(weak) < 0.04 / 3 <= min(k.response for k in plain[0])


def test_1024_bit_key(keys1024):
    g = crop("camera", 300, 300, 48)
    got = HESIFT(g, keys1024, workers=2, enable_upsample=False)
    assert len(got[0]) >= 3 and same_features(got, sift_reference(g, enable_upsample=False))


def test_bad_keypairs_are_refused(keys512, other_keys):
    g = crop("camera", 0, 0, 32)
    with pytest.raises(TypeError):
        HESIFT(g, "not a key")
    with pytest.raises(ValueError):
        HESIFT(g, (other_keys[0], keys512[1]))
    with pytest.raises(TypeError):
        KeyOwner(g, keys512[0])
    with pytest.raises(TypeError):
        Evaluator(keys512[1])


def test_malformed_and_mismatched_messages(keys512, other_keys):
    pub, priv = keys512
    owner = KeyOwner(crop("camera", 0, 0, 24), priv)
    job = owner.next_job_bytes()
    ev = Evaluator(pub.to_bytes())
    for bad in (b"", b"HESIFT1\n", job[:-10], job + b"x", b"GARBAGE" * 10):
        with pytest.raises(ValueError):
            ev.process(bad)
    with pytest.raises(ValueError):  # a result is not a job
        ev.process(OctaveResult(0, []).to_bytes())
    with pytest.raises(ValueError):  # encrypted under another key
        Evaluator(other_keys[0]).process(job)
    res = ev.process(job)
    wrong = OctaveResult.from_bytes(res, pub)
    wrong.octave = 3
    with pytest.raises(ValueError):
        owner.receive(wrong)
    short = OctaveResult.from_bytes(res, pub)
    short.dogs = short.dogs[:-1]
    with pytest.raises(ValueError):
        owner.receive(short)
    assert owner.octaves_done == 0
    owner.receive(res)  # the genuine result is accepted
    assert owner.octaves_done == 1
    with pytest.raises(ValueError):  # the same octave twice
        owner.receive(res)


EVALUATOR_PROCESS = textwrap.dedent(
    """
    import gc, struct, sys
    import hepaillier_core as hc

    def forbidden(*a, **k):
        raise RuntimeError("the evaluator process touched a private key")

    hc.PrivateKey.__init__ = forbidden
    hc.PrivateKey.__new__ = forbidden
    hc.generate_keypair = forbidden
    from hesift.sift.protocol import Evaluator

    def read():
        (n,) = struct.unpack(">Q", sys.stdin.buffer.read(8))
        return sys.stdin.buffer.read(n)

    ev = Evaluator(read())
    while True:
        job = read()
        if not job:
            break
        out = ev.process(job)
        assert not any(isinstance(o, hc.PrivateKey) for o in gc.get_objects())
        sys.stdout.buffer.write(struct.pack(">Q", len(out)) + out)
        sys.stdout.buffer.flush()
    """
)


def test_evaluator_runs_in_another_process_with_public_key_only(keys512):
    pub, priv = keys512
    g = crop("astronaut", 30, 200, 64)
    owner = KeyOwner(g, priv)
    proc = subprocess.Popen([sys.executable, "-c", EVALUATOR_PROCESS], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    secrets = [str(priv.p).encode(), str(priv.q).encode(), format(priv.p, "x").encode(),
               priv.p.to_bytes((priv.p.bit_length() + 7) // 8, "little"),
               priv.q.to_bytes((priv.q.bit_length() + 7) // 8, "little")]

    def send(b: bytes) -> None:
        assert not any(s in b for s in secrets), "a message carries the private key"
        proc.stdin.write(struct.pack(">Q", len(b)) + b)
        proc.stdin.flush()

    try:
        send(pub.to_bytes())
        while not owner.done:
            send(owner.next_job_bytes())
            (n,) = struct.unpack(">Q", proc.stdout.read(8))
            owner.receive(proc.stdout.read(n))
        send(b"")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    kp = owner.result()
    assert same_features((kp.to_cv(), kp.desc), sift_reference(g))
    gc.collect()


def test_image_too_small_for_any_octave(keys512):
    kp, desc = HESIFT(np.full((4, 4), 9, np.uint8), keys512)
    assert kp == [] and desc.shape == (0, 128)


def test_odd_non_square_image(keys512):
    g = np.ascontiguousarray(data.camera()[141:186, 203:264])  # 45 x 61
    got = HESIFT(g, keys512)
    assert len(got[0]) >= 5 and same_features(got, sift_reference(g))
