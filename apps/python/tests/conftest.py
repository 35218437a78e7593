"""Shared fixtures of the Python tests: a seeded random generator per test and `reference`, the
numpy float64 definitions of the measures (numpy_reference.py) that the analysis tests compare
convlab with."""

import os
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy_reference  # noqa: E402


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test's module and name (with its parameters): the same
    data at every run of a test, wherever pytest runs from, different data in different tests.
    CONVLAB_TEST_SEED=<int> draws other data (to check that the tests hold for any draw)."""
    key = f"{request.module.__name__}::{request.node.name}"
    return np.random.default_rng([zlib.crc32(key.encode()), int(os.environ.get("CONVLAB_TEST_SEED", "0"))])


@pytest.fixture(scope="session")
def reference():
    """The numpy definitions of CKA, RSA and Procrustes (numpy_reference.py)."""
    return numpy_reference
