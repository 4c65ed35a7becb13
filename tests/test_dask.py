"""Dask executor: results equal the thread executor bit for bit, and the key owner's
secrets never reach the cluster unless the caller allows it (in-process cluster)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hepaillier_core as hc

pytest.importorskip("distributed")

from dask_helpers import RecordingClient, leaks, local_cluster  # noqa: E402

import hesift.filters as F  # noqa: E402
from hesift.sift.api import HESIFT  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with local_cluster(2, RecordingClient) as c:
        yield c


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (36, 44)).astype(np.int64)


def test_core_imports_without_dask():
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('dask', 'distributed'):
                    raise ImportError('blocked ' + name)
        sys.meta_path.insert(0, Block())
        import numpy as np
        import hepaillier_core as hc
        pub, priv = hc.generate_keypair(256, insecure=True)
        x = priv.encrypt(np.arange(12).reshape(3, 4))
        y = hc.convolve2d(x, [[1, 2, 1]])
        assert priv.decrypt(y).tolist() == [[1, 4, 8, 8], [13, 20, 24, 20], [25, 36, 40, 32]]
        assert 'distributed' not in sys.modules and 'dask' not in sys.modules
        try:
            hc.set_executor(object())
        except ValueError:
            print('ok')
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_set_executor_accepts_a_client_and_restores(client):
    assert hc.get_executor() == "thread"
    hc.set_executor(client)
    try:
        assert hc.get_executor() == "dask" and hc.get_client() is client
        with hc.using("thread"):
            assert hc.get_executor() == "thread" and hc.get_client() is None
    finally:
        hc.set_executor("thread")
    with pytest.raises(ValueError, match="dask.distributed.Client"):
        hc.set_executor("cluster")


def test_packed_and_unpacked_filters_equal_thread_executor(client, keys512, photo):
    pub, priv = keys512
    x = priv.encrypt(photo, pack=True, pad=3, pad_mode="reflect", headroom=6)
    xu = priv.encrypt(photo[:12, :14])
    k = np.array([[1, -2, 3], [0, 5, -1], [-4, 0, 2]])
    cases = [
        lambda ex: F.gaussian(x, 1.2, executor=ex),
        lambda ex: F.sobel(x, executor=ex)[0],
        lambda ex: F.box(x, 3, executor=ex),
        lambda ex: hc.convolve2d(xu, k, border="reflect", executor=ex),
        lambda ex: hc.sepfilter2d(xu, [1, -3, 1], [2, 1], border="replicate", executor=ex),
        lambda ex: F.negate(xu, executor=ex),
    ]
    n0 = len(client.sent)
    for make in cases:
        a, b = make("thread"), make(client)
        assert type(a) is type(b) and a.data.dtype == np.uint64
        assert np.array_equal(a.data, b.data)
        assert (a.scale, a.bound) == (b.scale, b.bound)
    assert len(client.sent) > n0 + 10  # the work really went to the cluster
    assert not leaks(client.sent, priv)


def test_sums_and_public_encryption_on_the_cluster(client, keys512, photo):
    pub, priv = keys512
    x = priv.encrypt(photo[:20, :20])
    with hc.using(client):
        s_d = x.sum(axis=1)
        e = pub.encrypt(photo[:6, :6])
    s_t = x.sum(axis=1)
    assert np.array_equal(s_d.data, s_t.data)
    assert np.array_equal(priv.decrypt(e), photo[:6, :6])
    assert not leaks(client.sent, priv)


def test_private_key_work_stays_local_unless_allowed(client, keys512, photo):
    pub, priv = keys512
    x = priv.encrypt(photo, pack=True)
    ref = priv.decrypt(x)
    n0 = len(client.sent)
    with hc.using(client):
        y = priv.encrypt(photo, pack=True)
        assert np.array_equal(priv.decrypt(y), ref)
    assert len(client.sent) == n0  # key owner's encryption and decryption: local threads
    # explicitly allowed: the work goes to the cluster, and p, q with it
    got = priv.decrypt(x, executor=client, allow_private=True)
    z = priv.encrypt(photo[:8, :8], executor=client, allow_private=True)
    assert np.array_equal(got, ref)
    assert np.array_equal(priv.decrypt(z), photo[:8, :8])
    assert len(client.sent) > n0 and leaks(client.sent[n0:], priv)  # the check can fail


def test_hesift_on_the_cluster_equals_threads_and_ships_no_secret(keys512):
    from skimage import data

    pub, priv = keys512
    g = np.ascontiguousarray(data.camera()[200:232, 220:252])
    ref = HESIFT(g, keypair=(pub, priv))
    with local_cluster(2, RecordingClient) as c:
        hc.set_executor(c)
        try:
            got = HESIFT(g, keypair=(pub, priv))
        finally:
            hc.set_executor("thread")
        assert len(c.sent) > 20
        assert not leaks(c.sent, priv)
    fields = [(k.pt, k.size, k.angle, k.response, k.octave) for k in ref[0]]
    assert fields == [(k.pt, k.size, k.angle, k.response, k.octave) for k in got[0]]
    assert np.array_equal(ref[1], got[1]) and len(fields) > 3


def test_gallery_ingestion_on_the_cluster_equals_sequential_add(tmp_path):
    from gallery_helpers import photo, png_bytes

    from hesift.gallery import Gallery, HESIFTExtractor

    imgs = [png_bytes(photo(n, 40)) for n in ("coins", "camera")]
    imgs.append(imgs[0])  # the same pixels twice: one entry, as with sequential add
    ext = HESIFTExtractor(256, insecure=True, enable_upsample=False)
    g1 = Gallery(tmp_path / "a.sqlite3", extractor=ext, max_side=40)
    r1 = g1.add_many(imgs)
    with local_cluster(2, RecordingClient) as c:
        g2 = Gallery(tmp_path / "b.sqlite3", extractor=ext, max_side=40)
        r2 = g2.add_many(imgs, executor=c)
        assert len(c.sent) == 2  # one task per new image
        assert not leaks(c.sent, ext.keypair()[1])  # the extractor travels without its key
    assert [(e.name, e.num_features) for e in r1] == [(e.name, e.num_features) for e in r2]
    f1, f2 = g1._store.features()[1], g2._store.features()[1]
    assert len(f1) == len(f2) == 2 and sum(len(f.keypoints) for f in f1) > 2
    for a, b in zip(f1, f2):
        assert a.name == b.name
        assert np.array_equal(a.keypoints, b.keypoints)
        assert np.array_equal(a.descriptors, b.descriptors)


def test_private_retrieval_scores_on_the_cluster_equal_threads(client, keys512):
    from hepaillier_core import _core
    from hesift.gallery.private import SparseVectors, encrypted_scores

    pub, priv = keys512
    rng = np.random.default_rng(11)
    dense = np.where(rng.random((150, 40)) < 0.3, rng.integers(1, 16, (150, 40)), 0)
    g = SparseVectors.from_dense(dense)
    ct_q = priv.encrypt_residues(_core.res_from_i64(rng.integers(0, 1024, 40), pub.n))
    ref, w, P = encrypted_scores(pub, ct_q, g, 1023, rerandomise=False)
    n0 = len(client.sent)
    with hc.using(client):
        got, w2, P2 = encrypted_scores(pub, ct_q, g, 1023, rerandomise=False)
    assert (w, P) == (w2, P2) and np.array_equal(ref, got)
    assert len(client.sent) > n0 + 2  # blocks of gallery images went to the workers
    assert not leaks(client.sent[n0:], priv)
