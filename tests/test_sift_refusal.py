"""`hesift sift` estimates memory and time first and refuses oversized runs (issue 15.5).

Before: a 6000x6000 photo at 2048 bits was accepted and ran for hours
(4.5 GB after 90 s).  The child runs under a timeout: the old code would be
killed there instead of answering.
"""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from hesift.sift.cost import sift_cost
from hesift.sift.params import SiftParams


def _sift(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "hesift", "sift", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    p = tmp_path_factory.mktemp("sift") / "big.png"
    cv2.imwrite(str(p), np.zeros((6000, 6000), np.uint8))
    return p


def test_huge_photo_refused_for_memory(big):
    r = _sift(big)
    assert r.returncode == 6, r.stderr[-1000:]  # refused size
    assert "--max-memory" in r.stderr and "GiB" in r.stderr and "Traceback" not in r.stderr


def test_huge_photo_refused_for_time_when_memory_is_allowed(big):
    # An explicit limit: the default (1 h) against a load-dependent wall estimate
    # (about 50 min here when quiet) would make the outcome depend on the machine.
    r = _sift(big, "--max-memory", "1000G", "--key-bits", "512", "--insecure", "--max-time", "300")
    assert r.returncode == 6, r.stderr[-1000:]  # refused size
    assert "over --max-time 5 min" in r.stderr and "would take about" in r.stderr, r.stderr


def test_time_override_both_ways(tmp_path):
    img = (np.random.default_rng(1).random((24, 24)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "s.png"), img)
    r = _sift(tmp_path / "s.png", "--key-bits", "256", "--insecure", "--max-time", "0.01")
    assert r.returncode == 6 and "--max-time" in r.stderr
    r = _sift(tmp_path / "s.png", "--key-bits", "256", "--insecure", "--no-upsample",
              "--json", timeout=120)
    assert r.returncode == 0, r.stderr[-1000:]
    assert json.loads(r.stdout)["estimate_seconds"] > 0


def test_counts_match_the_measured_runs():
    """Decryptions counted from the plans equal those benchmarks.sift_cost measured."""
    for side, measured in ((128, 12960), (256, 41120), (512, 148640)):  # before issue 14
        assert sift_cost((side, side), SiftParams.legacy(), 2048).decryptions == measured
    f10 = dict(frac_bits=10, upsample_frac_bits=4)  # issue 14's f = 10 steps, exact bases
    for side, measured in ((128, 8760), (256, 31800), (512, 120120)):  # folded, 33-bit slots
        assert sift_cost((side, side), SiftParams(slot_bounds="interval", **f10),
                         2048).decryptions == measured
    # exact DoG bounds: octave 0 in 31-bit slots, the others 33
    for side, measured in ((128, 8440), (256, 30520), (512, 115000)):
        assert sift_cost((side, side), SiftParams(**f10), 2048).decryptions == measured
    # the defaults (f = 12 taps, octave 0's base with 2 fractional bits): 33 and 37 bits
    for side, measured in ((128, 9580), (256, 33305), (512, 124780)):
        assert sift_cost((side, side), SiftParams(), 2048).decryptions == measured
    # measured with a 512-bit key (benchmarks.sift_cost --quick --key-bits 512): 47600 -> 36230
    # (interval bounds) -> 35270 (exact) -> 39200 (the defaults)
    assert sift_cost((128, 128), SiftParams.legacy(), 512).decryptions == 47600
    assert sift_cost((128, 128), SiftParams(slot_bounds="interval", **f10), 512).decryptions == 36230
    assert sift_cost((128, 128), SiftParams(**f10), 512).decryptions == 35270
    assert sift_cost((128, 128), SiftParams(), 512).decryptions == 39200
    small, large = (sift_cost((s, s), SiftParams(), 2048) for s in (512, 1024))
    assert 3.5 < large.peak_bytes / small.peak_bytes < 4.5
