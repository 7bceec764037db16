# SPDX-License-Identifier: BSD-3-Clause
"""Fixtures of the Python bindings' tests: the sample devices of the build
tree (UVFIO_BUILD_ROOT, set by build/tests/test_python), each on a socket of
its own, stopped with SIGTERM afterwards (and it must exit cleanly)."""
import os
import signal
import subprocess
import time

import pytest

BUILD = os.environ.get("UVFIO_BUILD_ROOT",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))


def start_device(tmp_path, prog, *args):
    sock = str(tmp_path / f"{prog}.sock")
    p = subprocess.Popen([os.path.join(BUILD, prog), "--quiet", f"--socket-path={sock}",
                          *args])
    for _ in range(500):  # until it listens (a bound, not a timing assertion)
        if os.path.exists(sock) or p.poll() is not None:
            break
        time.sleep(0.01)
    assert os.path.exists(sock), f"{prog} did not start"
    return p, sock


def stop_device(p):
    p.send_signal(signal.SIGTERM)
    assert p.wait() == 0


@pytest.fixture
def memdev(tmp_path):
    p, sock = start_device(tmp_path, "uvfio-memdev")
    yield sock
    stop_device(p)


@pytest.fixture
def memdev_ticking(tmp_path):
    """The memory device raising MSI vector 0 every 20 ms by itself."""
    p, sock = start_device(tmp_path, "uvfio-memdev", "--tick-ms=20")
    yield sock
    stop_device(p)


@pytest.fixture
def dma_engine(tmp_path):
    p, sock = start_device(tmp_path, "uvfio-dma-engine")
    yield sock
    stop_device(p)
