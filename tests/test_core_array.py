"""EncryptedArray: decrypt(op(encrypt(a))) == op(a) for every op, plus bad input."""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hepaillier_core as hc

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
small_ints = hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                        elements=st.integers(-(2**40), 2**40))


@SETTINGS
@given(a=small_ints, data=st.data())
def test_add_sub_neg_match_numpy(keys512, a, data):
    pub, priv = keys512
    b = data.draw(hnp.arrays(np.int64, a.shape, elements=st.integers(-(2**40), 2**40)))
    x, y = priv.encrypt(a), pub.encrypt(b)
    assert np.array_equal(priv.decrypt(x + y), a + b)
    assert np.array_equal(priv.decrypt(x - y), a - b)
    assert np.array_equal(priv.decrypt(-x), -a)
    assert np.array_equal(priv.decrypt(x + b), a + b)
    assert np.array_equal(priv.decrypt(b - x), b - a)
    assert np.array_equal(priv.decrypt(7 + x), a + 7)


@SETTINGS
@given(a=small_ints, k=st.integers(-(2**20), 2**20), data=st.data())
def test_scalar_and_array_multiplication(keys512, a, k, data):
    pub, priv = keys512
    x = priv.encrypt(a)
    assert np.array_equal(priv.decrypt(x * k), a * k)
    ks = data.draw(hnp.arrays(np.int64, a.shape[-1:], elements=st.integers(-300, 300)))
    assert np.array_equal(priv.decrypt(x * ks), a * ks)  # broadcasting


@SETTINGS
@given(a=small_ints, data=st.data())
def test_sum_and_matmul(keys512, a, data):
    pub, priv = keys512
    x = priv.encrypt(a)
    assert priv.decrypt(x.sum()) == a.sum()
    axis = data.draw(st.integers(0, a.ndim - 1))
    assert np.array_equal(priv.decrypt(x.sum(axis=axis)), a.sum(axis=axis))
    M = data.draw(hnp.arrays(np.int64, (a.shape[-1], 3), elements=st.integers(-50, 50)))
    assert np.array_equal(priv.decrypt(x @ M), a @ M)


def test_big_values_and_object_output(keys512):
    pub, priv = keys512
    big = [2**200 + 5, -(2**150), 3]
    x = priv.encrypt(np.array(big, dtype=object))
    out = priv.decrypt(x)
    assert out.dtype == object and out.tolist() == big
    assert priv.decrypt(x * 2**100).tolist() == [v * 2**100 for v in big]


def test_indexing_reshape_transpose_join(keys512):
    pub, priv = keys512
    a = np.arange(24).reshape(2, 3, 4) - 10
    x = priv.encrypt(a)
    assert np.array_equal(priv.decrypt(x[1]), a[1])
    assert np.array_equal(priv.decrypt(x[:, 1:, ::2]), a[:, 1:, ::2])
    assert np.array_equal(priv.decrypt(x[..., 0]), a[..., 0])
    assert np.array_equal(priv.decrypt(x.reshape(6, 4)), a.reshape(6, 4))
    assert np.array_equal(priv.decrypt(x.T), a.T)
    assert np.array_equal(priv.decrypt(x.transpose(1, 0, 2)), a.transpose(1, 0, 2))
    assert np.array_equal(priv.decrypt(hc.concatenate([x, x], axis=2)),
                          np.concatenate([a, a], axis=2))
    assert np.array_equal(priv.decrypt(hc.stack([x[0], x[1]], axis=0)), a)
    assert len(x) == 2 and x.shape == (2, 3, 4) and x.ndim == 3 and x.size == 24
    assert [priv.decrypt(r).tolist() for r in x] == a.tolist()


def test_fixed_point_scale_tracking(keys512):
    pub, priv = keys512
    a = np.array([1.25, -0.5, 3.0])
    x = priv.encrypt(a, scale=2**8)
    assert x.scale == 256
    assert np.array_equal(priv.decrypt(x), a)
    y = pub.encrypt([1.5, 2.0, -1.0], scale=2**4)
    s = x + y  # aligned to the larger scale
    assert s.scale == 256 and np.array_equal(priv.decrypt(s), a + [1.5, 2.0, -1.0])
    m = x.mul_scaled(0.5, 2**4)
    assert m.scale == 2**12 and np.array_equal(priv.decrypt(m), a * 0.5)
    assert np.array_equal(priv.decrypt(x + 0.25), a + 0.25)
    img = priv.decrypt_image(priv.encrypt(np.array([[10.4, 10.5, 300.0, -3.0]]), scale=2**4))
    assert img.dtype == np.uint8 and img.tolist() == [[10, 11, 255, 0]]


def test_overflow_is_refused_before_computing(keys512):
    pub, priv = keys512
    near = pub.max_plain // 3
    x = priv.encrypt([near])
    with pytest.raises(OverflowError, match="exceeds n/2"):
        x * 4
    with pytest.raises(OverflowError):
        (x + x) + (x + x)
    with pytest.raises(OverflowError):
        priv.encrypt([pub.max_plain + 1])
    raw = hc.EncryptedArray.from_ints(pub, x.to_ints())
    with pytest.raises(OverflowError):
        raw + raw  # unknown bound: growing it is refused


def test_bad_inputs(keys512, other_keys):
    pub, priv = keys512
    opub, opriv = other_keys
    x = priv.encrypt([1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        priv.encrypt([1.0, float("nan")], scale=16)
    with pytest.raises(ValueError, match="infinity|NaN"):
        pub.encrypt([np.inf], scale=16)
    with pytest.raises(ValueError, match="not integers"):
        priv.encrypt([1.5])
    with pytest.raises(TypeError):
        priv.encrypt(["a", "b"])
    with pytest.raises(ValueError, match="different keys"):
        x + opriv.encrypt([1, 2, 3])
    with pytest.raises(ValueError, match="not under this private key"):
        opriv.decrypt(x)
    with pytest.raises(ValueError, match="broadcast"):
        x + priv.encrypt([1, 2])
    with pytest.raises(TypeError, match="two ciphertexts"):
        x * x
    with pytest.raises(TypeError):
        x * 1.5
    with pytest.raises(ValueError, match=r"\[1, n\^2\)"):
        hc.EncryptedArray.from_ints(pub, [0])


def test_save_load_pickle_bytes(tmp_path, keys512, other_keys):
    pub, priv = keys512
    a = np.arange(12).reshape(3, 4) - 5
    x = priv.encrypt(a, scale=4)
    x.save(tmp_path / "x.npz")
    y = hc.load(tmp_path / "x.npz")
    assert y.scale == 4 and y.bound == x.bound and np.array_equal(priv.decrypt(y), a)
    assert np.array_equal(priv.decrypt(pickle.loads(pickle.dumps(x))), a)
    assert np.array_equal(priv.decrypt(hc.from_bytes(x.to_bytes())), a)
    with pytest.raises(ValueError, match="encrypted under key"):
        hc.load(tmp_path / "x.npz", public_key=other_keys[0])
    raw = (tmp_path / "x.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="corrupted or truncated"):
        hc.load(tmp_path / "trunc.npz")
    with pytest.raises(ValueError, match=r"\.npz"):
        x.save(tmp_path / "x.bin")
    assert not list(tmp_path.glob("*.tmp"))


def test_public_key_encryption_variants(keys512):
    pub, priv = keys512
    a = np.array([[3, -4], [0, 99]])
    assert np.array_equal(priv.decrypt(pub.encrypt(a)), a)
    assert np.array_equal(priv.decrypt(pub.encrypt(a, short_exponent=True)), a)
    # randomised: equal plaintexts give different ciphertexts
    c = priv.encrypt([5, 5]).to_ints()
    assert c[0] != c[1]


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("executor", ["thread", "process"])
def test_results_do_not_depend_on_workers(keys512, workers, executor):
    pub, priv = keys512
    a = np.arange(-40, 40).reshape(8, 10)
    x = priv.encrypt(a, workers=workers)
    hc.set_executor(executor)
    try:
        y = (x * 3 - x.sum(axis=0)) + 1
        k = np.array([[1, -2, 1], [0, 3, 0]])
        z = hc.convolve2d(x, k, border="reflect", workers=workers)
    finally:
        hc.set_executor("thread")
    assert np.array_equal(priv.decrypt(y, workers=workers), a * 3 - a.sum(axis=0) + 1)
    import cv2

    ref = cv2.filter2D(a.astype(np.float64), -1, k.astype(np.float64),
                       borderType=cv2.BORDER_REFLECT_101)
    assert np.array_equal(priv.decrypt(z), ref.astype(np.int64))
