"""Fast-decryption keys through HESIFT, the filters, the gallery extractor and the CLI:
results identical to the standard keys' and to the plaintext references."""

from __future__ import annotations

import json

import numpy as np
import pytest
import test_filters_refs as ref
from test_sift_encrypted import crop, same_features

import hepaillier_core as hc
from hesift import data
from hesift import io as hio
from hesift.cli import main
from hesift.sift.api import HESIFT, sift_reference


@pytest.fixture(scope="module")
def fast512():
    return hc.generate_keypair(512, insecure=True, fast_decrypt=True)


def test_hesift_with_fast_key_equals_reference(fast512):
    g = crop("camera", 300, 300, 48)
    got = HESIFT(g, fast512, enable_upsample=False)
    assert len(got[0]) >= 1 and same_features(got, sift_reference(g, enable_upsample=False))


def test_gallery_extractor_takes_the_flag():
    from hesift.gallery import HESIFTExtractor

    ex = HESIFTExtractor(512, insecure=True, fast_decrypt=True)
    pub, priv = ex.keypair()
    assert pub.fast_decrypt and priv.fast_decrypt


def test_cli_keygen_and_filters_with_fast_keys(tmp_path, capsys):
    d = tmp_path
    hio.save_image(d / "photo.png", data.photo("camera", 128)[40:72, 30:62])
    assert main(["keygen", "--bits", "512", "--insecure", "--fast-decrypt", "-o",
                 str(d / "key.json"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fast_decrypt"] is True
    assert hc.PrivateKey.load(d / "key.json").fast_decrypt
    assert hc.PublicKey.load(d / "key.pub.json").fast_decrypt
    argv = [["encrypt", d / "photo.png", "-o", d / "enc.npz", "--key", d / "key.json"],
            ["filter", "gaussian", d / "enc.npz", "-o", d / "g.npz", "--pubkey",
             d / "key.pub.json", "--sigma", "1.2"],
            ["decrypt", d / "g.npz", "-o", d / "g.png", "--key", d / "key.json"],
            ["filter", "gaussian", d / "photo.png", "-o", d / "g1.png", "--key-bits", "512",
             "--insecure", "--fast-decrypt", "--sigma", "1.2"]]
    for a in argv:
        assert main([str(x) for x in a]) == 0, capsys.readouterr().err
    img = hio.load_image(d / "photo.png").astype(np.int64)
    expect = ref.to_uint8(ref.gaussian(img, 1.2, 12), 1 << 24)
    assert np.array_equal(hio.load_image(d / "g.png"), expect)
    assert np.array_equal(hio.load_image(d / "g1.png"), expect)
