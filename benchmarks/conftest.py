"""Fixtures for the pytest-benchmark suites (``pytest benchmarks/ --benchmark-only``).

The normal test run never collects this folder: pyproject's pytest
``testpaths`` is ``tests``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import hepaillier_core as hc  # noqa: E402


@pytest.fixture(scope="session")
def keys():
    """A 2048-bit key pair (the size every published figure uses)."""
    return hc.generate_keypair(2048)


@pytest.fixture(scope="session")
def small8() -> np.ndarray:
    """128 random 8-bit values."""
    return np.random.default_rng(0).integers(0, 256, 128)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A 64x128 crop of the benchmark photo."""
    from benchmarks.workloads import camera

    return camera(64, 128)
