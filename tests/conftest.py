"""Shared fixtures: small keys keep the suite fast; a few tests use 2048-bit."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import hepaillier_core as hc  # noqa: E402
except ImportError as e:  # pragma: no cover - a set-up problem, not a test failure
    raise pytest.UsageError(
        f"hepaillier_core's compiled core is not importable ({e}). Running from the source "
        "tree needs an editable install: pip install -e \".[test]\"") from None


@pytest.fixture(scope="session")
def keys512():
    return hc.generate_keypair(512, insecure=True)


@pytest.fixture(scope="session")
def keys1024():
    return hc.generate_keypair(1024)


@pytest.fixture(scope="session")
def keys2048():
    return hc.generate_keypair(2048)


@pytest.fixture(scope="session")
def other_keys():
    return hc.generate_keypair(512, insecure=True)
