"""Fuzz: thousands of mutated messages and images against the loaders and the web page.

One child process (so its peak memory is its own) feeds seeded mutations of
valid inputs — bit flips, random bytes (mostly in headers), overwritten size
fields, truncation, insertion, splicing — to ``hc.from_bytes``, the HESIFT
messages, the encrypted-image container, both image loaders and the web
page (Django test client: search, add).  Every input must give a result or
the usual one-line ``ValueError``; the web page must answer < 500 with no
exception; after every batch of bad requests a good one must succeed; and the
child's peak memory may grow by at most ``MEMORY_CAP_MIB``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

MEMORY_CAP_MIB = 300

_CHILD = textwrap.dedent(r'''
    import io, json, random, resource, struct, sys, tempfile, os
    import numpy as np
    import cv2
    import hepaillier_core as hc
    from hesift import io as hio
    from hesift.gallery import images as gimages
    from hesift.sift.messages import OctaveJob, OctaveResult
    from hesift.gallery import Gallery
    from hesift.web import state
    from hesift.web.settings import configure
    sys.path.insert(0, sys.argv[2])
    from gallery_helpers import FAST, photo, png_bytes

    rng = random.Random(int(sys.argv[1]))
    pub, priv = hc.generate_keypair(256, insecure=True)
    arr = pub.encrypt(np.arange(12).reshape(3, 4))
    packed = priv.encrypt(np.arange(48).reshape(6, 8), pack=True)
    seeds_core = [arr.to_bytes(), packed.to_bytes()]
    job = OctaveJob(0, [np.array([1, 2, 1])] * 3, packed).to_bytes()
    res = OctaveResult(0, [packed, packed]).to_bytes()
    tmp = tempfile.mkdtemp()
    cont = os.path.join(tmp, "c.npz")
    hio.EncryptedImage([packed], ["Y"], {"kind": "grey"}).save(cont)
    seed_cont = open(cont, "rb").read()
    grey, colour = photo("camera", 48), photo("coffee", 48)
    seeds_img = [cv2.imencode(e, im)[1].tobytes() for im in (grey, colour) for e in
                 (".png", ".jpg", ".bmp", ".tif", ".webp")] + [cv2.imencode(".pgm", grey)[1].tobytes()]
    BIG = [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFF, 0, 1 << 40]

    def mutate(b):
        b = bytearray(b)
        for _ in range(rng.choice((1, 1, 2, 3, 8))):
            op = rng.random()
            hot = min(len(b), 300) if rng.random() < 0.7 else len(b)
            if not b:
                b = bytearray(rng.randbytes(8))
            i = rng.randrange(max(1, hot))
            if op < 0.3:
                b[i] ^= 1 << rng.randrange(8)
            elif op < 0.5:
                b[i] = rng.randrange(256)
            elif op < 0.65:
                v = rng.choice(BIG)
                fmt = rng.choice(("<I", ">I", "<Q", ">H"))
                v &= (1 << (8 * struct.calcsize(fmt))) - 1
                b[i:i + struct.calcsize(fmt)] = struct.pack(fmt, v)
            elif op < 0.75:
                del b[rng.randrange(len(b)):]
            elif op < 0.85:
                b[i:i] = rng.randbytes(rng.randrange(1, 64))
            elif op < 0.93:
                j = rng.randrange(len(b))
                b[i:i] = b[j:j + rng.randrange(1, 512)]
            else:
                del b[i:i + rng.randrange(1, 64)]
        return bytes(b)

    counts = {"ok": 0, "refused": 0}
    def expect(fn, data, what):
        try:
            fn(data)
            counts["ok"] += 1
        except ValueError as e:  # InputError, ImageError, ImageHeaderError are ValueErrors
            msg = str(e)
            if "\n" in msg or not msg:
                raise AssertionError(f"{what}: not one line: {msg!r}")
            counts["refused"] += 1

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for k in range(1500):
        expect(hc.from_bytes, mutate(rng.choice(seeds_core)), f"core #{k}")
    for k in range(400):
        expect(lambda d: OctaveJob.from_bytes(d, pub), mutate(job), f"job #{k}")
        expect(lambda d: OctaveResult.from_bytes(d, pub), mutate(res), f"result #{k}")
    bad = os.path.join(tmp, "bad.npz")
    for k in range(300):
        with open(bad, "wb") as f:
            f.write(mutate(seed_cont))
        expect(hio.EncryptedImage.load, bad, f"container #{k}")
    badimg = os.path.join(tmp, "bad.img")
    for k in range(1200):
        d = mutate(rng.choice(seeds_img))
        expect(gimages.load_image, d, f"gallery image #{k}")
        if k % 3 == 0:
            with open(badimg, "wb") as f:
                f.write(d)
            expect(hio.load_image, badimg, f"cli image #{k}")
    assert hc.from_bytes(seeds_core[0]).shape == (3, 4)  # the next good input works

    configure()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    g = Gallery(os.path.join(tmp, "g.sqlite3"), extractor=FAST, max_side=None)
    g.add(photo("camera", 48), name="camera")
    state.set_gallery(g)
    c = Client()
    web = 0

    def good_request(c):
        """A good query is accepted and its background job finishes with the result."""
        import time
        good = SimpleUploadedFile("camera.png", png_bytes(photo("camera", 48)))
        for _ in range(600):  # the job queue may be full of fuzz jobs: retry
            r = c.post("/", {"image": good})
            if r.status_code != 503:
                break
            good.seek(0)
            time.sleep(0.1)
        assert r.status_code in (302, 303), r.status_code
        url = r["Location"]
        for _ in range(1200):
            st = json.loads(c.get(url.rstrip("/") + ".json").content)
            if st["state"] in ("done", "failed"):
                break
            time.sleep(0.05)
        assert st["state"] == "done", st
        page = c.get(url)
        assert page.status_code == 200 and b"camera" in page.content
    for k in range(300):
        d = mutate(rng.choice(seeds_img))
        up = SimpleUploadedFile(rng.choice(["a.png", "b.jpg", "x"]), d)
        if k % 2:
            r = c.post("/", {"image": up})
        else:
            r = c.post("/add/", {"images": up})
        # < 500, or 503 + Retry-After when the bounded job queue is full
        assert r.status_code < 500 or (r.status_code == 503 and r.has_header("Retry-After")), \
            (k, r.status_code)
        web += 1
        if k % 25 == 24:
            good_request(c)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(counts, web=web, grew_mib=(after - before) / 1024)))
''')


def test_fuzz_loaders_and_web_page():
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-c", _CHILD, "20261129", here], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["refused"] > 1000 and out["web"] == 300
    assert out["grew_mib"] < MEMORY_CAP_MIB, out
