"""The ``hesift`` command line, run as a new user would, on a small real photo."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import cv2
import numpy as np
import pytest
import test_filters_refs as ref

from hesift import data
from hesift import io as hio
from hesift.cli import main

SMALL = ["--key-bits", "512", "--insecure"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with a grey photo, a colour photo and a 512-bit key pair made by keygen."""
    d = tmp_path_factory.mktemp("cli")
    hio.save_image(d / "photo.png", data.photo("camera", 128)[40:80, 30:70])  # 40x40 crop
    hio.save_image(d / "colour.png", data.photo("astronaut", 24))
    assert main(["keygen", "--bits", "512", "--insecure", "-o", str(d / "key.json")]) == 0
    assert main(["keygen", "--bits", "512", "--insecure", "-o", str(d / "other.json")]) == 0
    return d


def ok(capsys, *argv) -> str:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Traceback" not in err
    return out


def fails(capsys, *argv, match: str, outputs=()) -> str:
    """Exit code != 0, exactly one 'hesift: error:' line on stderr, no output left behind."""
    rc = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    lines = [ln for ln in err.strip().splitlines()
             if not ln.startswith(("hesift: note:", "hesift: estimate", "hesift: "
                                   "filter", "hesift: sift:"))]
    assert rc != 0
    assert len(lines) == 1 and lines[0].startswith("hesift: error: "), err
    assert match in lines[0], lines[0]
    for p in outputs:
        assert not os.path.exists(p), f"partial output {p} left behind"
    return lines[0]


def leftovers(d) -> list[str]:
    return [p.name for p in d.iterdir() if ".tmp" in p.name]


def test_keygen_files_and_modes(work, capsys):
    assert stat.S_IMODE(os.stat(work / "key.json").st_mode) == 0o600
    pub = json.loads((work / "key.pub.json").read_text())
    assert "p" not in pub and "q" not in pub
    out = ok(capsys, "keygen", "--bits", "512", "--insecure", "-o", work / "k2.json", "--json")
    info = json.loads(out)
    assert info["bits"] == 512 and info["public_key"].endswith("k2.pub.json")
    fails(capsys, "keygen", "--bits", "512", "--insecure", "-o", work / "k2.json", match="exists")
    fails(capsys, "keygen", "--bits", "1000", "-o", work / "k3.json", match="--key-bits must be one of",
          outputs=[work / "k3.json", work / "k3.pub.json"])


def test_two_party_gaussian_matches_reference_and_one_shot(work, capsys):
    d = work
    ok(capsys, "encrypt", d / "photo.png", "-o", d / "enc.npz", "--key", d / "key.json")
    ok(capsys, "filter", "gaussian", d / "enc.npz", "-o", d / "g.npz", "--pubkey",
       d / "key.pub.json", "--sigma", "1.2")
    info = json.loads(ok(capsys, "decrypt", d / "g.npz", "-o", d / "g.png", "--key",
                         d / "key.json", "--json"))
    assert info["kind"] == "image"
    img = hio.load_image(d / "photo.png").astype(np.int64)
    expect = ref.to_uint8(ref.gaussian(img, 1.2, 12), 1 << 24)
    got = hio.load_image(d / "g.png")
    assert np.array_equal(got, expect)
    ok(capsys, "filter", "gaussian", d / "photo.png", "-o", d / "g1.png", "--key", d / "key.json",
       "--sigma", "1.2")
    assert np.array_equal(hio.load_image(d / "g1.png"), got)
    f = img.astype(np.float64)
    ref_cv = cv2.GaussianBlur(f, (0, 0), 1.2, borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(got - ref_cv).max() <= 1
    assert leftovers(d) == []


def test_two_party_sobel_values(work, capsys):
    d = work
    ok(capsys, "encrypt", d / "photo.png", "-o", d / "enc2.npz", "--key", d / "key.json",
       "--no-pack")
    ok(capsys, "filter", "sobel", d / "enc2.npz", "-o", d / "s.npz", "--pubkey", d / "key.pub.json")
    ok(capsys, "decrypt", d / "s.npz", "-o", d / "s.npy", "--key", d / "key.json")
    ok(capsys, "decrypt", d / "s.npz", "-o", d / "s.png", "--key", d / "key.json")
    img = hio.load_image(d / "photo.png").astype(np.int64)
    gx, gy = ref.deriv(img, ref.SOBEL)
    vals = np.load(d / "s.npy")
    assert np.array_equal(vals[:, :, 0], gx) and np.array_equal(vals[:, :, 1], gy)
    mag = np.clip(np.floor(np.hypot(gx, gy) + 0.5), 0, 255)
    assert np.array_equal(hio.load_image(d / "s.png"), mag)
    fails(capsys, "filter", "gaussian", d / "s.npz", "-o", d / "bad.npz", "--pubkey",
          d / "key.pub.json", match="decrypt it instead", outputs=[d / "bad.npz"])


def test_two_party_open_needs_a_key_owner_round(work, capsys):
    d = work
    ok(capsys, "encrypt", d / "photo.png", "-o", d / "b.npz", "--key", d / "key.json", "--binary")
    info = json.loads(ok(capsys, "filter", "open", d / "b.npz", "-o", d / "o1.npz", "--pubkey",
                         d / "key.pub.json", "--json"))
    assert info["pending"] == ["dilate"]
    fails(capsys, "decrypt", d / "o1.npz", "-o", d / "o.png", "--key", d / "key.json",
          match="pass 1 of 'open'", outputs=[d / "o.png"])
    ok(capsys, "decrypt", d / "o1.npz", "-o", d / "o_mid.npz", "--key", d / "key.json")
    fails(capsys, "filter", "close", d / "o_mid.npz", "-o", d / "x.npz", "--pubkey",
          d / "key.pub.json", match="continues 'open'", outputs=[d / "x.npz"])
    ok(capsys, "filter", "open", d / "o_mid.npz", "-o", d / "o2.npz", "--pubkey", d / "key.pub.json")
    ok(capsys, "decrypt", d / "o2.npz", "-o", d / "o.png", "--key", d / "key.json")
    img = hio.load_image(d / "photo.png")
    _, b = cv2.threshold(img, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    expect = cv2.morphologyEx(b, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8),
                              borderType=cv2.BORDER_REFLECT_101) * 255
    assert np.array_equal(hio.load_image(d / "o.png"), expect)
    # grey (non-binary) ciphertexts are refused for morphology
    fails(capsys, "filter", "erode", d / "enc.npz", "-o", d / "e.npz", "--pubkey",
          d / "key.pub.json", match="--binary", outputs=[d / "e.npz"])


OPS = ["gaussian", "box", "sharpen", "sobel", "scharr", "prewitt", "roberts", "laplacian",
       "erode", "dilate", "open", "close", "gradient", "negate", "brightness", "contrast"]


@pytest.mark.parametrize("op", OPS)
def test_one_shot_every_op(work, capsys, op):
    out = work / f"one_{op}.png"
    info = json.loads(ok(capsys, "filter", op, work / "photo.png", "-o", out, *SMALL, "--json"))
    assert info["op"] == op and info["shape"] == [40, 40]
    got = hio.load_image(out)
    assert got.shape == (40, 40)
    img = hio.load_image(work / "photo.png").astype(np.int64)
    if op == "negate":
        assert np.array_equal(got, 255 - img)
    elif op == "box":
        assert np.array_equal(got, ref.to_uint8(ref.box(img, 3), 9))
    elif op == "laplacian":
        assert np.array_equal(got, np.clip(np.abs(ref.laplacian(img)), 0, 255))
    elif op in ("erode", "dilate"):
        assert set(np.unique(got)) <= {0, 255}


def test_one_shot_colour_and_options(work, capsys):
    d = work
    ok(capsys, "filter", "box", d / "colour.png", "-o", d / "c.png", *SMALL, "--size", "5",
       "--workers", "1")
    got = hio.load_image(d / "c.png")
    rgb = hio.load_image(d / "colour.png").astype(np.int64)
    assert got.shape == rgb.shape
    for c in range(3):
        assert np.array_equal(got[:, :, c], ref.to_uint8(ref.box(rgb[:, :, c], 5), 25))
    ok(capsys, "filter", "erode", d / "photo.png", "-o", d / "cross.png", *SMALL,
       "--shape", "cross", "--size", "5", "--threshold", "100")
    img = hio.load_image(d / "photo.png")
    b = (img > 100).astype(np.uint8)
    se = cv2.getStructuringElement(cv2.MORPH_CROSS, (5, 5))
    expect = cv2.erode(b, se, borderType=cv2.BORDER_REFLECT_101) * 255
    assert np.array_equal(hio.load_image(d / "cross.png"), expect)
    ok(capsys, "filter", "kernel", d / "photo.png", "-o", d / "k.png", *SMALL,
       "--kernel", "1 2 1; 2 4 2; 1 2 1")
    pic = img.astype(np.int64)
    assert np.array_equal(hio.load_image(d / "k.png"),
                          ref.to_uint8(ref.correlate(pic, [[1, 2, 1], [2, 4, 2], [1, 2, 1]]), 16))


def test_bad_inputs_one_line_errors(work, capsys, tmp_path):
    d = work
    out = tmp_path / "out.png"
    pub, key, other = d / "key.pub.json", d / "key.json", d / "other.json"
    (tmp_path / "notes.png").write_text("not an image at all\n")
    (tmp_path / "empty.png").write_bytes(b"")
    fails(capsys, "filter", "gaussian", tmp_path / "missing.png", "-o", out, *SMALL,
          match="no such file", outputs=[out])
    fails(capsys, "filter", "gaussian", tmp_path / "notes.png", "-o", out, *SMALL,
          match="not an image", outputs=[out])
    fails(capsys, "filter", "gaussian", tmp_path / "empty.png", "-o", out, *SMALL,
          match="empty", outputs=[out])
    fails(capsys, "encrypt", d / "photo.png", "-o", tmp_path / "e.npz", "--key", key,
          "--max-memory", "10K", match="over --max-memory", outputs=[tmp_path / "e.npz"])
    fails(capsys, "filter", "box", d / "photo.png", "-o", out, *SMALL, "--no-pack",
          "--max-memory", "100K", match="use --pack", outputs=[out])
    fails(capsys, "filter", "kernel", d / "enc.npz", "-o", tmp_path / "k.npz", "--pubkey", pub,
          "--kernel", "1073741824 1073741824 1073741824", match="does not fit",
          outputs=[tmp_path / "k.npz"])
    fails(capsys, "filter", "kernel", d / "photo.png", "-o", out, *SMALL,
          "--kernel", "1e12 1 1", match="2**31", outputs=[out])
    fails(capsys, "filter", "gaussian", d / "enc.npz", "-o", tmp_path / "g.npz", "--pubkey",
          d / "other.pub.json", match="encrypted under key", outputs=[tmp_path / "g.npz"])
    fails(capsys, "decrypt", d / "g.npz", "-o", out, "--key", other,
          match="encrypted under key", outputs=[out])
    fails(capsys, "filter", "gaussian", d / "enc.npz", "-o", tmp_path / "g.npz", "--pubkey", key,
          match="is a private key", outputs=[tmp_path / "g.npz"])
    fails(capsys, "filter", "gaussian", d / "enc.npz", "-o", tmp_path / "g.npz", "--key", key,
          match="takes no private key", outputs=[tmp_path / "g.npz"])
    fails(capsys, "decrypt", d / "g.npz", "-o", out, "--key", pub, match="public key",
          outputs=[out])
    fails(capsys, "decrypt", d / "photo.png", "-o", out, "--key", key,
          match="not a hesift encrypted image", outputs=[out])
    fails(capsys, "filter", "negate", d / "photo.png", "-o", tmp_path / "no" / "o.png", *SMALL,
          match="does not exist")
    fails(capsys, "filter", "negate", d / "photo.png", "-o", out, *SMALL, "--workers", "0",
          match="--workers", outputs=[out])
    fails(capsys, "filter", "gaussian", d / "photo.png", "-o", out, *SMALL, "--sigma", "-2",
          match="--sigma", outputs=[out])
    fails(capsys, "encrypt", d / "photo.png", "-o", tmp_path / "e.npz", "--key",
          tmp_path / "nokey.json", match="not found", outputs=[tmp_path / "e.npz"])
    assert leftovers(tmp_path) == [] and leftovers(d) == []


def test_demo_small(tmp_path, capsys):
    out = tmp_path / "panel.png"
    info = json.loads(ok(capsys, "demo", "-o", out, *SMALL, "--size", "48", "--json"))
    assert out.exists() and info["shape"] == [48, 48]
    panel = cv2.imread(str(out))
    assert panel is not None and panel.shape[0] > 300 and panel.shape[1] > 600
    fails(capsys, "demo", "-o", tmp_path / "panel.jpg", *SMALL, match="PNG")


def test_module_entry_point_and_console_script(work, tmp_path):
    out = tmp_path / "n.png"
    r = subprocess.run([sys.executable, "-m", "hesift", "filter", "negate", str(work / "photo.png"),
                        "-o", str(out), *SMALL], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(hio.load_image(out), 255 - hio.load_image(work / "photo.png"))
    r = subprocess.run([sys.executable, "-m", "hesift", "decrypt", str(tmp_path / "none.npz"),
                        "-o", str(tmp_path / "x.png"), "--key", str(work / "key.json")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3 and r.stderr.startswith("hesift: error: ")  # missing input
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "hesift", "--help"], capture_output=True, text=True,
                       timeout=120)
    for cmd in ("keygen", "encrypt", "filter", "decrypt", "demo"):
        assert cmd in r.stdout
