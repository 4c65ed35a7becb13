"""``hesift sift IMG``: pictures, JSON summary, features file, and clear errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

import hesift
from hesift.cli import main


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut()[40:104, 180:260], cv2.COLOR_RGB2BGR))
    return path


def test_public_names():
    assert hesift.HESIFT is hesift.sift.HESIFT and hesift.sift_reference is hesift.sift.sift_reference
    assert hesift.KeyOwner.__name__ == "KeyOwner" and hesift.Evaluator.__name__ == "Evaluator"


def test_encrypted_run_writes_pictures_and_features(photo, tmp_path, capsys):
    out = {k: tmp_path / f"{k}.png" for k in ("draw", "dog", "enc")}
    feats = tmp_path / "f.npz"
    code = main(["sift", str(photo), "--key-bits", "512", "--insecure", "--json", "--no-progress",
                 "--draw", str(out["draw"]), "--dog", str(out["dog"]),
                 "--encrypted-view", str(out["enc"]), "--features", str(feats)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["encrypted"] and summary["keypoints"] > 5 and summary["key_bits"] == 512
    assert set(summary["timings"]) >= {"encrypt", "evaluate", "decrypt", "plaintext"}
    for p in out.values():
        img = cv2.imread(str(p))
        assert img is not None and img.size > 0
    enc = cv2.imread(str(out["enc"]), cv2.IMREAD_GRAYSCALE).astype(float)
    assert enc.std() > 50  # ciphertext bytes look like uniform noise
    z = np.load(feats)
    assert z["keypoints"].shape == (summary["keypoints"], 6) and z["descriptors"].shape[1] == 128
    grey = cv2.cvtColor(data.astronaut()[40:104, 180:260], cv2.COLOR_RGB2GRAY)
    kp, desc = hesift.sift_reference(grey)
    assert np.array_equal(z["descriptors"], desc)


def test_reference_run_and_errors(photo, tmp_path, capsys):
    assert main(["sift", str(photo), "--reference", "--no-progress"]) == 0
    assert "keypoints (plaintext reference" in capsys.readouterr().out
    assert main(["sift", str(tmp_path / "missing.png"), "--reference"]) != 0
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["sift", str(bad), "--reference"]) != 0
    assert main(["sift", str(photo), "--reference", "--sigma", "-1"]) != 0
    assert main(["sift", str(photo), "--key-bits", "512"]) != 0  # small keys need --insecure
    assert main(["sift", str(photo), "--reference", "--encrypted-view", str(tmp_path / "e.png")]) != 0
    err = capsys.readouterr().err
    assert "hesift: error:" in err
