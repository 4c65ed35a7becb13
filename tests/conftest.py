"""Shared fixtures: small keys keep the suite fast; a few tests use 2048-bit."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import hepaillier_core as hc  # noqa: E402


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
