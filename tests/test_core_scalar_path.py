"""The pure scalar configuration (a CPU without AVX2, emulated by HEPAILLIER_SIMD=0).

In that configuration no lane context exists and the Montgomery radix is
2^(64 L) rather than the lanes' 2^(28 nl): a different code path from the
lanes and from set_simd(False).  A child process runs every kind of batch op
there and must produce what Python's integers and python-paillier say.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json
    import numpy as np
    import hepaillier_core as hc
    from scipy.signal import correlate2d

    pub, priv = hc.generate_keypair(512, insecure=True)
    rng = np.random.default_rng(7)
    a = rng.integers(-1000, 1000, 11)
    k = rng.integers(-40, 40, 11)
    x = priv.encrypt(a)
    img = rng.integers(0, 256, (7, 9))
    kern = np.array([[1, -2, 1], [3, 5, 3], [0, 2, -1]])
    out = {
        "lanes": pub.mod.lanes,
        "simd": hc.simd_available(),
        "ops": bool((priv.decrypt(x * k + x - 3) == a * k + a - 3).all()),
        "sum": int(priv.decrypt((x * 2).sum())) == int(2 * a.sum()),
        "pub": bool((priv.decrypt(pub.encrypt(a)) == a).all()),
        "phe": [priv.to_phe().decrypt(c) for c in x.to_phe()] == a.tolist(),
        "conv": bool((priv.decrypt(hc.convolve2d(priv.encrypt(img, pack=True), kern))
                      == correlate2d(img, kern, mode="same")).all()),
    }
    print(json.dumps(out))
    """
)


def test_scalar_only_configuration_is_exact():
    env = dict(os.environ, HEPAILLIER_SIMD="0")
    res = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out.pop("lanes") == 1 and out.pop("simd") is False
    assert all(out.values()), out
