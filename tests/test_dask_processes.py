"""Dask as deployed: ``dask scheduler`` and two ``dask worker tcp://...`` processes started
from the command line on 127.0.0.1; a 2048-bit packed Gaussian and a HESIFT octave run
through them; a worker killed mid-job does not change the result."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import hepaillier_core as hc

pytest.importorskip("distributed")

from dask.distributed import get_task_stream  # noqa: E402
from dask_helpers import ProcessCluster  # noqa: E402

from hesift.sift.params import SiftParams  # noqa: E402
from hesift.sift.protocol import Evaluator, KeyOwner  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = ProcessCluster(tmp_path_factory.mktemp("dask"), n_workers=2)
    try:
        yield c
    finally:
        c.close()


def test_packed_gaussian_and_hesift_octave_on_worker_processes(cluster, keys2048):
    pub, priv = keys2048
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (16, 24))
    x = priv.encrypt(img, pack=True, pad=2, pad_mode="reflect", headroom=4)
    t = [1, 4, 6, 4, 1]
    ref = hc.sepfilter2d(x, t, t)
    owner = KeyOwner(np.uint8(img[:10, :10]), priv, SiftParams(), workers=1)
    job = owner.next_job()
    ref_dogs = Evaluator(pub).evaluate(job).dogs
    with cluster.client(2) as client, get_task_stream(client) as stream:
        got = hc.sepfilter2d(x, t, t, executor=client)
        dogs = Evaluator(pub, executor=client).evaluate(job).dogs
    # the work ran as tasks on the worker processes (the stream records each one; the
    # workers' memory may already be released by now)
    assert len(stream.data) >= 2 and all(tk.get("worker") for tk in stream.data)
    assert np.array_equal(got.data, ref.data) and got.layout == ref.layout
    assert len(dogs) == len(ref_dogs)
    for a, b in zip(dogs, ref_dogs):
        assert np.array_equal(a.data, b.data)
    d = priv.decrypt(got)
    assert d.shape == img.shape and d.max() > 0


def test_evaluator_service_and_gallery_add_with_dask(cluster, keys512, tmp_path):
    from gallery_helpers import photo
    from remote_helpers import evaluator_process

    from hesift import filters as F
    from hesift.cli.gallery_cmd import main as gallery_main
    from hesift.gallery import Gallery, ReferenceExtractor
    from hesift.remote import RemoteEvaluator

    pub, priv = keys512
    rng = np.random.default_rng(5)
    x = priv.encrypt(rng.integers(0, 256, (20, 24)), pack=True, pad=4, pad_mode="reflect")
    with evaluator_process(tmp_path, "--dask", cluster.address) as svc:
        r = RemoteEvaluator(svc.url, svc.token)
        assert r.health()["executor"]["kind"] == "dask"
        (got,) = r.filter("gaussian", x, sigma=1.0)
    ref = F.gaussian(x, 1.0)
    assert np.array_equal(got.data, ref.data) and got.layout == ref.layout

    names = ("coins", "camera")
    for n in names:
        import cv2

        cv2.imwrite(str(tmp_path / f"{n}.png"), photo(n, 64))
    db = tmp_path / "g.sqlite3"
    code = gallery_main(["gallery", "add", "--db", str(db), "--plaintext", "--max-side", "64",
                         "--dask", cluster.address, "-q", *[str(tmp_path / f"{n}.png")
                                                             for n in names]])
    assert code == 0
    ref_g = Gallery(tmp_path / "ref.sqlite3", extractor=ReferenceExtractor(), max_side=64)
    ref_g.add_many([tmp_path / f"{n}.png" for n in names])
    got_f, ref_f = Gallery(db)._store.features()[1], ref_g._store.features()[1]
    assert [f.name for f in got_f] == ["coins", "camera"] == [f.name for f in ref_f]
    for a, b in zip(got_f, ref_f):
        assert np.array_equal(a.descriptors, b.descriptors)


def test_a_worker_killed_mid_job_does_not_change_the_result(cluster, keys512):
    pub, priv = keys512
    rng = np.random.default_rng(4)
    x = priv.encrypt(rng.integers(0, 256, (32, 32)))
    k = rng.integers(-9, 10, (5, 5))
    ref = hc.convolve2d(x, k, border="reflect")
    victim = cluster.workers[-1]
    with cluster.client(2) as client:
        addr = {w["name"]: a for a, w in client.scheduler_info()["workers"].items()}
        box: dict = {}

        def job():
            try:
                box["out"] = hc.convolve2d(x, k, border="reflect", executor=client)
            except BaseException as e:  # pragma: no cover - reported below
                box["err"] = e

        th = threading.Thread(target=job)
        th.start()
        deadline = time.monotonic() + 60
        while not client.processing().get(addr[f"worker{len(cluster.workers) - 1}"]):
            assert time.monotonic() < deadline and th.is_alive(), "the job never reached the victim"
            time.sleep(0.01)
        cluster.kill(victim)
        assert th.is_alive()  # killed while its tasks were running: they must run again
        th.join(300)
        assert not th.is_alive() and "err" not in box, box.get("err")
    assert np.array_equal(box["out"].data, ref.data)
