# SPDX-License-Identifier: BSD-3-Clause
"""How to test your own vfio-user device with pytest and the uvfio package.

Copy this file beside your device, point DEVICE at its binary (or set
MY_DEVICE=/path/to/your-device), change the expectations, and run

    python3 -m pytest test_my_device.py

Debian's python3-pytest is all it needs besides uvfio itself (`make install`
puts the package where python3 finds it; in a source tree, set
PYTHONPATH=python). "Your device" here is uvfio's sample memory device, and
`make check` runs this file too.
"""
import os
import signal
import subprocess
import time

import pytest

import uvfio

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("UVFIO_BUILD_ROOT", os.path.join(HERE, "..", "..", "build"))
DEVICE = os.environ.get("MY_DEVICE", os.path.join(BUILD, "uvfio-memdev"))


@pytest.fixture
def dev(tmp_path):
    """Start the device on a socket of its own, give the test a connected
    client, and check afterwards that SIGTERM stops the device cleanly (the
    specification's backend program conventions ask for it)."""
    sock = str(tmp_path / "dev.sock")
    proc = subprocess.Popen([DEVICE, f"--socket-path={sock}"])
    for _ in range(500):  # wait until it listens
        if os.path.exists(sock) or proc.poll() is not None:
            break
        time.sleep(0.01)
    with uvfio.Client(sock) as client:
        yield client
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_identity(dev):
    """What a guest's driver matches on: ids and class in config space."""
    cfg = dev.config_read(0, 64)
    assert int.from_bytes(cfg[0:2], "little") == 0xf1f0  # vendor
    assert int.from_bytes(cfg[2:4], "little") == 0x3e30  # device
    assert cfg[11] == 0x05                              # a memory controller
    info = dev.device_info()
    assert info.pci and info.resettable


def test_bars(dev):
    """The regions a guest will map, with their sizes."""
    assert dev.region_info(uvfio.REGION_BAR0).size == 4096
    ram = dev.region_info(uvfio.REGION_BAR2)
    assert ram.size == 1 << 20 and ram.mappable


def test_registers(dev):
    assert dev.read_int(uvfio.REGION_BAR0, 0x00) == 0x4d454d31  # ID register
    dev.write_int(uvfio.REGION_BAR0, 0x04, 42)                  # SCRATCH
    assert dev.read_int(uvfio.REGION_BAR0, 0x04) == 42


def test_interrupt(dev):
    """Writing DOORBELL raises MSI vector 0."""
    with dev.irqs(uvfio.IRQ_MSI) as irqs:
        dev.write_int(uvfio.REGION_BAR0, 0x10, 1)
        assert irqs.wait(0, timeout=10) == 1


def test_ram_is_shared(dev):
    """BAR2 mapped into the test: stores bypass the socket."""
    ram = dev.map_region(uvfio.REGION_BAR2)
    ram[0:5] = b"hello"
    assert dev.region_read(uvfio.REGION_BAR2, 0, 5) == b"hello"
    ram.close()


def test_reset(dev):
    dev.write_int(uvfio.REGION_BAR0, 0x04, 42)
    dev.reset()
    assert dev.read_int(uvfio.REGION_BAR0, 0x04) == 0


def test_bad_access_is_refused(dev):
    """The device answers an error, which arrives as an OSError."""
    with pytest.raises(uvfio.Error) as e:
        dev.region_read(uvfio.REGION_BAR0, 0x1000, 4)
    assert e.value.errno != 0
