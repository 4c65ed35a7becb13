"""Image files, the encrypted container and size checks refuse bad input cleanly."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from hesift import data
from hesift import io as hio


@pytest.fixture
def photo_png(tmp_path):
    p = tmp_path / "photo.png"
    hio.save_image(p, data.photo("astronaut", 32))
    return p


def test_load_colour_grey_and_roundtrip(tmp_path, photo_png):
    rgb = hio.load_image(photo_png)
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, data.photo("astronaut", 32))  # RGB order kept
    grey = hio.load_image(photo_png, grey=True)
    assert grey.shape == (32, 32)
    # a grey picture stored as 3 equal channels comes back as one plane
    g3 = np.repeat(grey[:, :, None], 3, axis=2)
    p = tmp_path / "g3.png"
    cv2.imwrite(str(p), g3)
    assert hio.load_image(p).shape == (32, 32)


def test_load_16bit_and_alpha(tmp_path):
    a16 = (data.photo("camera", 16).astype(np.uint16) << 8) | 0x7F
    p = tmp_path / "a16.png"
    cv2.imwrite(str(p), a16)
    assert np.array_equal(hio.load_image(p), data.photo("camera", 16))
    rgba = np.dstack([data.photo("astronaut", 16)[:, :, ::-1], np.full((16, 16), 9, np.uint8)])
    p = tmp_path / "rgba.png"
    cv2.imwrite(str(p), rgba)
    assert np.array_equal(hio.load_image(p), data.photo("astronaut", 16))


@pytest.mark.parametrize("content,match", [
    (None, "no such file"),
    (b"", "empty"),
    (b"this is not an image\n" * 10, "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
])
def test_load_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.png"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(hio.InputError, match=match):
        hio.load_image(p)


def test_load_directory(tmp_path):
    with pytest.raises(hio.InputError, match="directory"):
        hio.load_image(tmp_path)


def test_save_refuses_unknown_suffix_and_missing_dir(tmp_path):
    img = data.photo("camera", 8)
    with pytest.raises(hio.InputError, match="unknown image type"):
        hio.save_image(tmp_path / "x.txt", img)
    with pytest.raises(hio.InputError, match="does not exist"):
        hio.save_image(tmp_path / "nope" / "x.png", img)
    with pytest.raises(hio.InputError, match="non-empty"):
        hio.save_image(tmp_path / "x.png", np.zeros((0, 4), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), hio.atomic_path(dest) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with hio.atomic_path(dest) as tmp:
        tmp.write_bytes(b"done")
    assert dest.read_bytes() == b"done" and list(tmp_path.iterdir()) == [dest]


def test_estimate_and_check_size():
    ct = hio.ciphertext_bytes(2048)
    assert ct == 512
    assert hio.estimate_ciphertext_bytes(100, 200, 3, key_bits=2048, pack=False) == 60000 * ct
    packed = hio.estimate_ciphertext_bytes(256, 256, key_bits=2048, pack=True, bits_per_slot=28,
                                           pad=4, headroom=24)
    assert packed == 264 * 4 * ct  # 73 slots per ciphertext, 288 columns -> 4 per row
    with pytest.raises(hio.InputError, match=r"about 7\.6 GiB"):
        hio.check_size(hio.estimate_ciphertext_bytes(4000, 4000, 1, pack=False), 1 << 30)
    hio.check_size(10_000, 1 << 20)


def test_container_roundtrip_and_key_check(tmp_path, keys512, other_keys):
    pub, priv = keys512
    img = data.photo("astronaut", 16)
    planes, names = hio.planes_of(img)
    enc = hio.EncryptedImage([priv.encrypt(p, pack=True, pad=1) for p in planes], names,
                             {"kind": "image", "encoding": {"pack": True}})
    path = tmp_path / "e.npz"
    enc.save(path)
    assert hio.is_container(path) and not hio.is_container(tmp_path / "missing")
    back = hio.EncryptedImage.load(path, pub)
    assert back.names == ["R", "G", "B"] and back.meta["kind"] == "image"
    assert back.fingerprint == pub.fingerprint and back.shape == (16, 16)
    for c in range(3):
        assert np.array_equal(priv.decrypt(back.planes[c]), img[:, :, c])
    with pytest.raises(hio.InputError, match="encrypted under key"):
        hio.EncryptedImage.load(path, other_keys[0])
    # the metadata holds no key material (n, p, q) and no pixel values
    import json

    meta = json.loads(np.load(path)["meta"].tobytes().decode())
    assert set(meta) == {"kind", "encoding", "format", "version", "names", "fingerprint", "shape"}
    assert format(pub.n, "x") not in json.dumps(meta)


def test_container_refuses_foreign_files(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, a=np.arange(3))
    with pytest.raises(hio.InputError, match="not a hesift encrypted image"):
        hio.EncryptedImage.load(p)
    p.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(hio.InputError, match="not a hesift encrypted image"):
        hio.EncryptedImage.load(p)


def test_sample_photos():
    for name in data.names():
        a = data.photo(name, 32)
        assert a.dtype == np.uint8 and a.shape[:2] == (32, 32)
        assert a.std() > 5  # a real picture, not a flat field
    with pytest.raises(ValueError, match="unknown sample photo"):
        data.photo("nope")
    assert os.environ.get("MPLBACKEND") == "Agg"
