# SPDX-License-Identifier: BSD-3-Clause
"""uvfio: drive vfio-user devices from Python, over libuvfio.so.

    import uvfio
    with uvfio.Client("/tmp/dev.sock") as c:
        print(c.device_info(), c.region_info(uvfio.REGION_BAR0))
        value = c.read_int(uvfio.REGION_BAR0, 0x00)
        c.region_write(uvfio.REGION_BAR0, 0x04, b"\\x01\\x00\\x00\\x00")
        with c.irqs(uvfio.IRQ_MSI) as irqs:
            ...                       # make the device interrupt
            assert irqs.wait(0, timeout=5)
        mem = c.dma_map(0x10000, 4096)  # memory the device may DMA into
        c.bus_master(True)              # as a driver: DMA allowed from now
        mem.write(0, b"hello")

Errors are uvfio.Error, an OSError whose errno is the library's (timeouts
are also TimeoutError, a dead connection ConnectionResetError).
"""
from .client import (EVENT_LOOP, SERVICE_THREAD, Client, DeviceInfo, DmaRegion, Interrupts,
                     IrqInfo, RegionInfo, ServerCaps)
from .constants import *  # noqa: F401,F403
from .errors import (ConnectionRefusedError, ConnectionResetError, Error, FileNotFoundError,
                     TimeoutError)
from ._lib import library_path

__all__ = ["Client", "DeviceInfo", "DmaRegion", "Interrupts", "IrqInfo", "RegionInfo",
           "ServerCaps", "Error", "TimeoutError", "ConnectionResetError",
           "ConnectionRefusedError", "FileNotFoundError", "SERVICE_THREAD", "EVENT_LOOP",
           "library_path"]
