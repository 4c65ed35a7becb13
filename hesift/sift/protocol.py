"""The two parties of HESIFT.

``Evaluator`` holds only a public key: per octave it blurs the encrypted,
reflect-padded (and row-folded, see ``hesift.sift.canvas``) base once per
Gaussian level (one separable integer filter each, all levels sharing the
scale 2**(2f)), keeps the rows and columns whose windows lie inside the
canvas (``mode="valid"``) and returns the encrypted differences
DoG_i = G_{i+1} - G_i (``hepaillier_core.sepfilter2d_differences``: only the
DoGs must fit the slots, with their exact ranges).  It never sees a private key, a plaintext
or a decryption.

``KeyOwner`` holds the private key and the image: it encrypts each octave's
base, decrypts the DoG levels, rebuilds the Gaussian levels from them
(G_i = G_0 + sum DoG; G_0 is the base itself for octaves > 0 and, for octave 0,
the same integer blur recomputed from its own image instead of decrypted),
finds keypoints and descriptors, and rounds G_nOctaveLayers down to the next
octave's base: one round trip per octave, which keeps slots narrow.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np

from hesift.sift.canvas import FoldedCanvas, choose_canvas
from hesift.sift.finish import finish_octave
from hesift.sift.image import octave0_base, to_grey
from hesift.sift.intconv import pad_reflect101, sepfilter_padded
from hesift.sift.keypoints import KeypointSet
from hesift.sift.messages import OctaveJob, OctaveResult
from hesift.sift.params import OctavePlan, SiftParams, plans_for
from hesift.sift.reference import finalize


def _hc():
    import hepaillier_core as hc

    return hc


@contextmanager
def _timed(party, stage: str):
    """Add a stage's wall-clock and CPU seconds (all threads of this process) to the party."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        party.timings[stage] += time.perf_counter() - t0
        party.cpu_timings[stage] += time.process_time() - c0


class Evaluator:
    """Public-key-only party: computes an octave's encrypted DoG levels."""

    def __init__(self, public_key, *, workers: int | None = None, progress: bool = False,
                 executor=None):
        hc = _hc()
        if isinstance(public_key, (bytes, bytearray)):
            public_key = hc.PublicKey.from_bytes(bytes(public_key))
        if not isinstance(public_key, hc.PublicKey):
            raise TypeError("Evaluator needs a hepaillier_core.PublicKey (or its bytes), "
                            f"got {type(public_key).__name__}")
        self.public_key = public_key
        self.workers = workers
        self.executor = executor  # None: hc.set_executor's ('thread', 'process', a Dask Client)
        self.progress = progress
        self.timings: dict[str, float] = defaultdict(float)
        self.cpu_timings: dict[str, float] = defaultdict(float)

    def evaluate(self, job: OctaveJob) -> OctaveResult:
        """Blur the encrypted base once per level and subtract neighbouring levels."""
        hc = _hc()
        taps = [np.asarray(t, dtype=np.int64) for t in job.taps]
        if len(taps) < 3 or any(t.ndim != 1 or len(t) % 2 == 0 or (t < 0).any() for t in taps):
            raise ValueError("octave job taps must be >= 3 non-negative kernels of odd length")
        if job.base.public_key.n != self.public_key.n:
            raise ValueError("the job was encrypted under another public key")
        with _timed(self, "evaluate"), hc.using(self.executor):
            # only the DoGs are checked against the slots (their exact ranges): the
            # Gaussian levels are never decrypted and may exceed them
            dogs = hc.sepfilter2d_differences(job.base, taps, mode="valid",
                                              workers=self.workers)
        return OctaveResult(job.octave, dogs)

    def process(self, job_bytes: bytes) -> bytes:
        """Bytes in, bytes out: what a remote evaluator service runs."""
        job = OctaveJob.from_bytes(job_bytes, self.public_key)
        return self.evaluate(job).to_bytes()


class KeyOwner:
    """Private-key party: prepares encrypted octave bases and finishes the features."""

    def __init__(self, image: np.ndarray, private_key, params: SiftParams | None = None, *,
                 workers: int | None = None, progress: bool = False, keep_levels: bool = False,
                 executor=None, allow_private: bool = False):
        hc = _hc()
        if not isinstance(private_key, hc.PrivateKey):
            raise TypeError(f"KeyOwner needs a hepaillier_core.PrivateKey, got {type(private_key).__name__}")
        self.private_key = private_key
        self.params = params or SiftParams()
        self.grey = to_grey(image)
        self.workers = workers
        # private-key steps run on local threads unless allow_private ships p, q to executor
        self.executor, self.allow_private = executor, allow_private
        self.progress = progress
        self.keep_levels = keep_levels
        base = octave0_base(self.grey, self.params)
        self.plans: list[OctavePlan] = plans_for(self.params, base.shape)
        self.canvases: list[FoldedCanvas] = [
            choose_canvas(p.shape, p.pad, self.public_key.bits, p.bits_per_slot,
                          fold=self.params.layout == "folded") for p in self.plans]
        self._base = base
        self._next = 0
        self._parts: list[KeypointSet] = []
        self.decrypted_dogs: list[np.ndarray] = []  # filled when keep_levels
        self.encrypted_dogs: list = []  # first octave's encrypted DoG levels when keep_levels
        self.timings: dict[str, float] = defaultdict(float)
        self.cpu_timings: dict[str, float] = defaultdict(float)
        self.decrypted_bits = 0

    @property
    def public_key(self):
        return self.private_key.public_key

    @property
    def octaves_done(self) -> int:
        return self._next

    @property
    def done(self) -> bool:
        return self._next >= len(self.plans)

    def next_job(self) -> OctaveJob | None:
        """The encrypted job of the next octave (None when every octave is finished)."""
        if self.done:
            return None
        plan, canvas = self.plans[self._next], self.canvases[self._next]
        with _timed(self, "encrypt"):
            enc = self.private_key.encrypt(
                canvas.build(self._base), pack=True, bits_per_slot=plan.bits_per_slot,
                bound=plan.base_interval, headroom=canvas.headroom, workers=self.workers,
                executor=self.executor, allow_private=self.allow_private,
            )
        return OctaveJob(plan.octave, [t for t in plan.full_taps()], enc)

    def next_job_bytes(self) -> bytes | None:
        job = self.next_job()
        return None if job is None else job.to_bytes()

    def receive(self, result: OctaveResult | bytes) -> None:
        """Decrypt one octave's DoG levels and finish its keypoints and descriptors."""
        if isinstance(result, (bytes, bytearray)):
            result = OctaveResult.from_bytes(bytes(result), self.public_key)
        if self.done:
            raise ValueError("every octave is already finished")
        plan, canvas = self.plans[self._next], self.canvases[self._next]
        if result.octave != plan.octave:
            raise ValueError(f"expected the result of octave {plan.octave}, got octave {result.octave}")
        if len(result.dogs) != self.params.n_levels - 1:
            raise ValueError(f"expected {self.params.n_levels - 1} DoG levels, got {len(result.dogs)}")
        for d in result.dogs:
            if d.shape != canvas.valid_shape:
                raise ValueError(f"DoG level has shape {d.shape}, expected {canvas.valid_shape}")
        with _timed(self, "decrypt"):
            dogs = []
            for d in result.dogs:
                dec = np.asarray(self.private_key.decrypt(
                    d, workers=self.workers, executor=self.executor,
                    allow_private=self.allow_private), dtype=np.int64)
                dogs.append(canvas.unfold(dec))
                self.decrypted_bits += d.layout.height * d.layout.M * self.public_key.bits
        with _timed(self, "plaintext"):
            self._finish(plan, np.stack(dogs), result)

    def _finish(self, plan: OctavePlan, dogs: np.ndarray, result: OctaveResult) -> None:
        for d, (lo, hi) in zip(dogs, plan.dog_intervals):
            if d.size and (int(d.min()) < lo or int(d.max()) > hi):
                raise ValueError("decrypted DoG values lie outside their exact static range: "
                                 "the evaluator's result does not belong to this job")
        g0 = self._level0(plan)
        kps, self._base = finish_octave(self.params, plan, dogs, g0)
        self._parts.append(kps)
        if self.keep_levels:
            self.decrypted_dogs.append(dogs)
            if not self.encrypted_dogs:
                self.encrypted_dogs = list(result.dogs)
        self._next += 1

    def receive_bytes(self, data: bytes) -> bytes | None:
        """Bytes protocol step: take a result, return the next job (None when finished)."""
        self.receive(data)
        return self.next_job_bytes()

    def _level0(self, plan: OctavePlan) -> np.ndarray:
        """G_0: the base itself (octaves > 0), or octave 0's first blur recomputed from the
        owner's own image with the identical integer filter (cheaper than decrypting it)."""
        t = plan.full_taps()[0]
        if len(t) == 1:
            return self._base.astype(np.int64) * int(t[0]) * int(t[0])
        return sepfilter_padded(pad_reflect101(self._base, plan.pad), t, plan.pad)

    def result(self) -> KeypointSet:
        if not self.done:
            raise RuntimeError(f"octave {self._next} of {len(self.plans)} is not finished yet")
        with _timed(self, "plaintext"):
            return finalize(self.params, self._parts)


def _stage(bar, name: str) -> None:
    if bar is not None:
        bar.set_postfix_str(name)


def resolve_evaluator(evaluator, public_key, workers=None, executor=None):
    """The evaluator party: in process (None), a URL string or a remote evaluator object."""
    if evaluator is None:
        return Evaluator(public_key, workers=workers, executor=executor)
    if isinstance(evaluator, str):
        from hesift.remote.client import RemoteEvaluator

        return RemoteEvaluator(evaluator)
    if not callable(getattr(evaluator, "evaluate", None)):
        raise TypeError("evaluator must be None, an evaluator URL or an object with "
                        f"evaluate(OctaveJob), got {type(evaluator).__name__}")
    return evaluator


def run_local(grey: np.ndarray, params: SiftParams, keypair=None, *, workers=None,
              progress: bool = False, serialize: bool = False, stats: dict | None = None,
              owner_kwargs: dict | None = None, evaluator=None,
              executor=None) -> KeypointSet:
    """The key owner here; the evaluator in this process (the library default) or, with
    ``evaluator`` (a URL or ``hesift.remote.RemoteEvaluator``), a service reached over
    HTTP.  ``serialize`` sends real bytes to the in-process evaluator.  ``executor``
    (e.g. a Dask Client) runs the in-process evaluator's octaves; the key owner's steps
    stay on local threads unless ``owner_kwargs`` has ``allow_private=True``."""
    hc = _hc()
    if keypair is None:
        keypair = hc.generate_keypair(bits=2048)
    try:
        pub, priv = keypair
    except (TypeError, ValueError):
        raise TypeError("keypair must be a (public_key, private_key) tuple") from None
    if not isinstance(priv, hc.PrivateKey) or not isinstance(pub, hc.PublicKey) or pub.n != priv.public_key.n:
        raise ValueError("keypair must be a matching (PublicKey, PrivateKey) from hepaillier_core")
    owner_kwargs = {"executor": executor, **(owner_kwargs or {})}
    owner = KeyOwner(grey, priv, params, workers=workers, **owner_kwargs)
    local = evaluator is None
    evaluator = resolve_evaluator(evaluator, pub, workers, executor)
    serialize = serialize and local
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(owner.plans), desc="HESIFT octaves", unit="octave")
    try:
        while not owner.done:
            _stage(bar, "encrypt")
            job = owner.next_job_bytes() if serialize else owner.next_job()
            _stage(bar, "evaluate" if local else "evaluate (remote)")
            res = evaluator.process(job) if serialize else evaluator.evaluate(job)
            _stage(bar, "decrypt + features")
            owner.receive(res)
            if bar is not None:
                bar.update(1)
        out = owner.result()
    finally:
        if bar is not None:
            bar.close()
    if stats is not None:
        stats.update(dict(owner.timings))
        stats["evaluate"] = float(evaluator.timings.get("evaluate", 0.0))
        cpu = getattr(evaluator, "cpu_timings", {})
        stats["cpu"] = {**owner.cpu_timings, "evaluate": float(cpu.get("evaluate", float("nan")))}
        stats["decrypted_bits"] = owner.decrypted_bits
        stats["owner"] = owner
    return out
