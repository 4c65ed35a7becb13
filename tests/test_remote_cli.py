"""The CLI's remote flows: ``--evaluator URL`` gives the same files as the local commands.

The evaluator is ``hesift evaluator`` in a separate OS process (token required,
private keys forbidden); the key owner is this process running the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from remote_helpers import evaluator_process, free_port

from hesift import data
from hesift import io as hio
from hesift.cli import main
from hesift.gallery import Gallery


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with evaluator_process(tmp_path_factory.mktemp("evaluator-cli"), token="auto") as svc:
        yield svc


def test_service_made_its_own_token_file(service):
    assert len(service.token) >= 32 and service.token_file.stat().st_mode & 0o777 == 0o600


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("remote-cli")
    hio.save_image(d / "photo.png", data.photo("camera", 128)[40:80, 30:70])
    hio.save_image(d / "colour.png", data.photo("astronaut", 24))
    assert main(["keygen", "--bits", "512", "--insecure", "-o", str(d / "key.json")]) == 0
    return d


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def remote_args(service) -> list[str]:
    return ["--evaluator", service.url, "--token-file", str(service.token_file)]


def same_file(a, b) -> bool:
    return a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("op,image,extra", [
    ("gaussian", "photo.png", ["--sigma", "1.5"]),
    ("sobel", "colour.png", []),
    ("open", "photo.png", ["--shape", "cross"]),  # two evaluator rounds
    ("contrast", "photo.png", ["--no-pack"]),
])
def test_filter_remote_writes_the_same_picture(service, work, capsys, op, image, extra):
    local, remote = work / f"{op}-local.png", work / f"{op}-remote.png"
    key = ["--key", work / "key.json", "--no-progress"]
    assert run(capsys, "filter", op, work / image, "-o", local, *key, *extra)[0] == 0
    code, out, _ = run(capsys, "filter", op, work / image, "-o", remote, *key, *extra, "--json",
                       *remote_args(service))
    assert code == 0 and same_file(local, remote)
    info = json.loads(out)
    assert info["evaluator"] == service.url and info["bytes_up"] > 0 and info["bytes_down"] > 0


def test_filter_on_an_encrypted_file_remote(service, work, capsys):
    d = work
    assert run(capsys, "encrypt", d / "photo.png", "-o", d / "enc.npz", "--key", d / "key.json")[0] == 0
    pub = ["--pubkey", d / "key.pub.json"]
    assert run(capsys, "filter", "box", d / "enc.npz", "-o", d / "l.npz", *pub)[0] == 0
    assert run(capsys, "filter", "box", d / "enc.npz", "-o", d / "r.npz", *pub,
               *remote_args(service))[0] == 0
    for name in ("l", "r"):
        assert run(capsys, "decrypt", d / f"{name}.npz", "-o", d / f"{name}.png",
                   "--key", d / "key.json")[0] == 0
    assert same_file(d / "l.png", d / "r.png")


def test_sift_remote_writes_the_same_features(service, work, capsys):
    d = work
    common = ["sift", d / "photo.png", "--key-bits", "512", "--insecure", "--no-progress"]
    assert run(capsys, *common, "--features", d / "local.npz")[0] == 0
    code, out, _ = run(capsys, *common, "--features", d / "remote.npz", "--json",
                       *remote_args(service))
    assert code == 0 and json.loads(out)["evaluator"] == service.url
    a, b = np.load(d / "local.npz"), np.load(d / "remote.npz")
    assert np.array_equal(a["keypoints"], b["keypoints"])
    assert np.array_equal(a["descriptors"], b["descriptors"])


def test_gallery_add_remote(service, work, capsys):
    d = work
    common = ["--key-bits", "512", "--insecure-key", "-q"]
    assert run(capsys, "gallery", "add", d / "photo.png", "--db", d / "r.sqlite3", *common,
               *remote_args(service))[0] == 0
    assert run(capsys, "gallery", "add", d / "photo.png", "--db", d / "p.sqlite3", "--plaintext",
               "-q")[0] == 0
    (r,), (p,) = Gallery(d / "r.sqlite3").list(), Gallery(d / "p.sqlite3").list()
    assert r.num_features == p.num_features > 0


def test_dead_evaluator_clear_error_no_output(work, capsys):
    d = work
    url = f"http://127.0.0.1:{free_port()}"
    out = d / "never.png"
    code, _, err = run(capsys, "filter", "gaussian", d / "photo.png", "-o", out,
                       "--key", d / "key.json", "--evaluator", url)
    assert code == 7 and "cannot reach the evaluator" in err and err.count("\n") == 1
    assert not out.exists() and not list(d.glob(".never.png*"))
    code, _, err = run(capsys, "sift", d / "photo.png", "--key-bits", "512", "--insecure",
                       "--features", d / "never.npz", "--evaluator", url)
    assert code == 7 and "cannot reach the evaluator" in err and not (d / "never.npz").exists()


def test_wrong_token_and_bind_rule(service, work, capsys, tmp_path):
    bad = tmp_path / "bad.token"
    bad.write_text("not-the-right-token-at-all\n")
    code, _, err = run(capsys, "filter", "negate", work / "photo.png", "-o", tmp_path / "x.png",
                       "--key", work / "key.json", "--evaluator", service.url,
                       "--token-file", bad)
    assert code == 7 and "403" in err and not (tmp_path / "x.png").exists()
    r = subprocess.run([sys.executable, "-m", "hesift", "evaluator", "--host", "0.0.0.0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "without a token" in r.stderr


def test_2048_bit_filter_remote_equals_local(service, work, capsys):
    """2048-bit key, a real photo, both layouts' default (packed)."""
    d = work
    hio.save_image(d / "photo48.png", data.photo("camera", 128)[60:108, 20:68])
    assert run(capsys, "keygen", "--bits", "2048", "-o", d / "k2048.json")[0] == 0
    key = ["--key", d / "k2048.json", "--no-progress"]
    assert run(capsys, "filter", "gaussian", d / "photo48.png", "-o", d / "g2048-l.png", *key)[0] == 0
    assert run(capsys, "filter", "gaussian", d / "photo48.png", "-o", d / "g2048-r.png", *key,
               *remote_args(service))[0] == 0
    assert same_file(d / "g2048-l.png", d / "g2048-r.png")
