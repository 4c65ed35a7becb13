"""Ctrl-C stops the work at once (issue 15.4).

Before: the CLI printed "interrupted" and exited 130, but only after the
worker pool had drained every queued chunk (minutes on a big image).  Now
queued chunks are cancelled and the process ends within seconds, leaving no
partial output file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from hepaillier_core import parallel


def _wait_for(proc: subprocess.Popen, marker: bytes, timeout: float = 60) -> bytes:
    """Read stderr until ``marker`` appears (the work has started)."""
    os.set_blocking(proc.stderr.fileno(), False)
    seen = b""
    end = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > end or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"never saw {marker!r}: {seen[-2000:]!r}")
        chunk = proc.stderr.read()
        if chunk:
            seen += chunk
        time.sleep(0.05)
    return seen


def test_cli_encrypt_interrupted_exits_at_once(tmp_path, keys1024):
    """A 1024-bit unpacked encryption of 600x600 pixels: ~30 s of CPU in 8 chunks."""
    import cv2

    _pub, priv = keys1024
    priv.save(tmp_path / "key.json")
    img = (np.arange(600 * 600) % 251).astype(np.uint8).reshape(600, 600)
    cv2.imwrite(str(tmp_path / "big.png"), img)
    out = tmp_path / "big.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hesift", "encrypt", str(tmp_path / "big.png"), "--key",
         str(tmp_path / "key.json"), "-o", str(out), "--no-pack", "--grey", "--progress",
         "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(proc, b"encrypt")
        time.sleep(2.5)  # past the key's table set-up (~1.3 s), inside the pool's queue
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode(errors="replace")
    assert proc.returncode == 130, err[-1000:]
    assert "interrupted" in err and "Traceback" not in err
    assert took < 5, f"took {took:.1f} s to stop after Ctrl-C"
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png", "key.json"]  # no temp


_LIB_CHILD = textwrap.dedent("""
    import os, signal, sys, time, threading
    import numpy as np
    import hepaillier_core as hc
    from hepaillier_core import parallel
    done = [0]
    class Slow:
        def run(self, a):
            time.sleep(0.2)
            done[0] += 1
            return a
    hc.set_workers(2)
    try:
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        parallel.run_batched(Slow(), "run", [np.zeros((200, 1))], min_chunk=1)
    except KeyboardInterrupt:
        n = done[0]
        time.sleep(1.0)
        print(n, done[0])
""")


def test_run_batched_cancels_queued_chunks():
    """8 chunks of 0.2 s on 2 workers; interrupted after 0.5 s, at most the two
    running chunks finish afterwards (old code: all 8 ran)."""
    r = subprocess.run([sys.executable, "-c", _LIB_CHILD], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    at_interrupt, after = map(int, r.stdout.split())
    assert after - at_interrupt <= 2
    assert after < 8


def test_gather_cancels_on_error():
    class Boom:
        def run(self, a):
            if a[0, 0] == 0:
                raise RuntimeError("boom")
            time.sleep(0.05)
            return a

    with parallel.using(workers=2):
        with pytest.raises(RuntimeError, match="boom"):
            parallel.run_batched(Boom(), "run", [np.arange(40.0).reshape(40, 1)])
