"""Print '<include dir>;<library path>' for the GMP bundled in the gmpy2 wheel.

Used by CMakeLists.txt so `pip install .` needs no system GMP package.
Exits non-zero when gmpy2 ships no usable header + library.
"""

import glob
import os
import sys

try:
    import gmpy2
except ImportError:
    sys.exit(1)

pkg = os.path.dirname(gmpy2.__file__)
site = os.path.dirname(pkg)
header = os.path.join(pkg, "gmp.h")
candidates = []
for libdir in (os.path.join(site, "gmpy2.libs"), os.path.join(pkg, ".dylibs"), pkg):
    candidates += sorted(glob.glob(os.path.join(libdir, "libgmp*.so*")))
    candidates += sorted(glob.glob(os.path.join(libdir, "libgmp*.dylib")))
if not os.path.exists(header) or not candidates:
    sys.exit(1)
print(f"{pkg};{candidates[0]}", end="")
