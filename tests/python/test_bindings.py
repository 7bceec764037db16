# SPDX-License-Identifier: BSD-3-Clause
"""The uvfio tool's scenarios (info, read, write, config, reset, irq, dma-test
with and without a shared descriptor) through the Python bindings, against
the sample devices; and the bindings' own promises: errors carry the errno,
memory and descriptors are given back."""
import errno
import os
import socket

import pytest

import uvfio

MEMDEV_ID = 0x4d454d31  # "MEM1", memdev's BAR0 register 0x00


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_info_memdev(memdev):
    with uvfio.Client(memdev) as c:
        di = c.device_info()
        assert di.pci and di.resettable
        assert (di.num_regions, di.num_irqs) == (9, 5)
        bar0, bar2 = c.region_info(uvfio.REGION_BAR0), c.region_info(uvfio.REGION_BAR2)
        assert bar0.size == 0x1000 and bar0.readable and bar0.writable and not bar0.mappable
        assert bar2.size == 1 << 20 and bar2.mappable
        assert bar2.mmap_areas == ((0, 1 << 20),)
        assert c.region_info(uvfio.REGION_CONFIG).size == 256
        assert [r.size for r in c.regions()] == [0x1000, 0, 1 << 20, 0, 0, 0, 0, 256, 0]
        intx, msi = c.irq_info(uvfio.IRQ_INTX), c.irq_info(uvfio.IRQ_MSI)
        assert intx.count == 1 and intx.eventfd and intx.maskable
        assert msi.count == 1 and msi.eventfd
        assert c.irq_info(uvfio.IRQ_MSIX).count == 0
        caps = c.server_caps()
        assert caps.version[0] == 0 and caps.max_data_xfer_size > 0


def test_info_dma_engine(dma_engine):
    with uvfio.Client(dma_engine) as c:
        assert c.region_info(uvfio.REGION_BAR1).size == 0x1000
        assert c.irq_info(uvfio.IRQ_MSIX).count == 1
        assert c.irq_info(uvfio.IRQ_MSI).count == 0


def test_read(memdev):
    with uvfio.Client(memdev) as c:
        assert c.region_read(uvfio.REGION_BAR0, 0, 4) == b"1MEM"
        assert c.read_int(uvfio.REGION_BAR0, 0x00) == MEMDEV_ID
        assert c.read_int(uvfio.REGION_BAR0, 0x0c) == 1 << 20  # RAMSIZE
        assert c.region_read(uvfio.REGION_BAR2, 0x1000, 16) == bytes(16)


def test_write(memdev):
    with uvfio.Client(memdev) as c:
        c.write_int(uvfio.REGION_BAR0, 0x04, 0xdeadbeef)
        assert c.read_int(uvfio.REGION_BAR0, 0x04) == 0xdeadbeef
        c.region_write(uvfio.REGION_BAR2, 0x1000, b"hello, device")
        assert c.region_read(uvfio.REGION_BAR2, 0x1000, 13) == b"hello, device"
        before = c.read_int(uvfio.REGION_BAR0, 0x08)  # WRITES counts register writes
        for i in range(10):
            c.region_write_posted(uvfio.REGION_BAR0, 0x04, i.to_bytes(4, "little"))
        c.flush()
        assert c.read_int(uvfio.REGION_BAR0, 0x08) == before + 10
        assert c.read_int(uvfio.REGION_BAR0, 0x04) == 9


def test_big_transfer(memdev):
    """A read and a write larger than one message's data."""
    with uvfio.Client(memdev, max_data_xfer_size=4096) as c:
        data = bytes(range(256)) * 1024
        c.region_write(uvfio.REGION_BAR2, 0, data)
        assert c.region_read(uvfio.REGION_BAR2, 0, len(data)) == data


def test_config(memdev):
    with uvfio.Client(memdev) as c:
        cfg = c.config_read(0, 256)
        assert cfg[0:4] == b"\xf0\xf1\x30\x3e"          # vendor f1f0, device 3e30
        assert cfg[9:12] == b"\x00\x80\x05"              # class 058000
        assert cfg[6] & 0x10 and cfg[0x34] == 0x40       # a capability list
        c.config_write(4, b"\x06\x00")                   # Mem and BusMaster on
        assert c.config_read(4, 2) == b"\x06\x00"


def test_reset(memdev):
    with uvfio.Client(memdev) as c:
        c.write_int(uvfio.REGION_BAR0, 0x04, 1234)
        c.reset()
        assert c.read_int(uvfio.REGION_BAR0, 0x04) == 0


def test_irq_ticking(memdev_ticking):
    with uvfio.Client(memdev_ticking) as c, c.irqs(uvfio.IRQ_MSI) as irqs:
        assert len(irqs.fds) == 1
        for _ in range(3):
            assert irqs.wait(0, timeout=10) >= 1


def test_irq_doorbell(memdev):
    """DOORBELL raises MSI vector 0 and INTx; nothing fires unasked."""
    with uvfio.Client(memdev) as c:
        with c.irqs(uvfio.IRQ_MSI) as msi, c.irqs(uvfio.IRQ_INTX) as intx:
            assert msi.pending() == 0
            c.write_int(uvfio.REGION_BAR0, 0x10, 1)
            assert msi.wait(0, timeout=10) == 1
            assert intx.wait(0, timeout=10) == 1
            assert msi.pending() == 0
        assert msi.fds is None  # disconnected and closed


def dma_copy(c, share_fd):
    """uvfio dma-test: the engine copies 64 KiB within 1 MiB of our memory."""
    iova, size, n = 1 << 32, 1 << 20, 64 << 10
    mem = c.dma_map(iova, size, share_fd=share_fd)
    assert (mem.fd is not None) == share_fd
    pattern = bytes((i * 7 + 3) & 0xff for i in range(n))
    mem.write(0, pattern)
    c.bus_master(True)  # as a driver does before DMA
    with c.irqs(uvfio.IRQ_MSIX) as irq:
        c.region_write(uvfio.REGION_BAR0, 0x00, (iova).to_bytes(8, "little") +
                       (iova + size // 2).to_bytes(8, "little") + n.to_bytes(8, "little"))
        c.write_int(uvfio.REGION_BAR0, 0x18, 1, size=8)  # CTRL: go
        # STATUS 4 (busy) while the engine copies; each read lets the
        # client answer its DMA requests, as a polling driver's VMM does
        status = 4
        for _ in range(100000):
            status = c.read_int(uvfio.REGION_BAR0, 0x20, size=8)
            if status != 4:
                break
        assert status == 1  # STATUS: done
        assert irq.wait(0, timeout=10) == 1
    assert mem.read(size // 2, n) == pattern
    c.dma_unmap(mem)
    assert mem.mem.closed


def test_dma_with_fd(dma_engine):
    with uvfio.Client(dma_engine) as c:
        dma_copy(c, share_fd=True)


def test_dma_without_fd(dma_engine):
    with uvfio.Client(dma_engine) as c:
        dma_copy(c, share_fd=False)


def test_dma_without_fd_event_loop(dma_engine):
    """Without a service thread: the thread polling STATUS while the engine
    copies answers the engine's DMA_READ/DMA_WRITE itself."""
    with uvfio.Client(dma_engine, service_thread=False) as c:
        assert c.dispatch() == 0 and c.poll_fd() >= 0
        dma_copy(c, share_fd=False)


def test_dma_fault(dma_engine):
    """A copy from memory never given fails in the engine with EFAULT; before
    Bus Master Enable, any copy fails with ENODEV."""
    with uvfio.Client(dma_engine) as c:
        for bme, err in ((False, errno.ENODEV), (True, errno.EFAULT)):
            c.bus_master(bme)
            c.region_write(uvfio.REGION_BAR0, 0, (0x5000).to_bytes(8, "little") +
                           (0x9000).to_bytes(8, "little") + (64).to_bytes(8, "little") +
                           (1).to_bytes(8, "little"))
            assert c.read_int(uvfio.REGION_BAR0, 0x20, size=8) == 2
            assert c.read_int(uvfio.REGION_BAR0, 0x28, size=8) == err


def test_map_region(memdev):
    with uvfio.Client(memdev) as c:
        m = c.map_region(uvfio.REGION_BAR2)
        assert len(m) == 1 << 20
        m[12345:12351] = b"mapped"
        assert c.region_read(uvfio.REGION_BAR2, 12345, 6) == b"mapped"
        m.close()
        with pytest.raises(ValueError):
            c.map_region(uvfio.REGION_BAR0)


def test_errors_carry_errno(memdev):
    with uvfio.Client(memdev) as c:
        with pytest.raises(uvfio.Error) as e:
            c.region_read(uvfio.REGION_BAR0, 0x2000, 4)  # outside the BAR
        assert e.value.errno == errno.EINVAL and isinstance(e.value, OSError)
        assert "REGION_READ" in str(e.value)
        with pytest.raises(uvfio.Error):
            c.irqs(uvfio.IRQ_MSIX, count=1)  # memdev has no MSI-X
    with pytest.raises(ValueError):
        c.device_info()  # closed
    with pytest.raises(FileNotFoundError) as e:
        uvfio.Client(memdev + ".nothing")
    assert isinstance(e.value, uvfio.Error) and e.value.errno == errno.ENOENT


def test_timeout():
    """A peer that never answers VERSION: uvfio's TimeoutError, which is
    also the built-in one."""
    a, b = socket.socketpair()
    with pytest.raises(TimeoutError) as e:
        uvfio.Client(a.detach(), timeout_ms=100)
    assert isinstance(e.value, uvfio.Error) and e.value.errno == errno.ETIMEDOUT
    b.close()


def test_server_gone(tmp_path):
    from conftest import start_device
    p, sock = start_device(tmp_path, "uvfio-memdev")
    c = uvfio.Client(sock)
    p.kill()
    p.wait()
    with pytest.raises(ConnectionResetError) as e:
        c.region_read(uvfio.REGION_BAR0, 0, 4)
    assert e.value.errno == errno.ECONNRESET
    c.close()


def test_nothing_leaks(dma_engine):
    """Descriptors come back after clients, interrupts and DMA memory."""
    with uvfio.Client(dma_engine) as c:
        dma_copy(c, share_fd=True)
    before = open_fds()
    for share in (True, False):
        with uvfio.Client(dma_engine) as c:
            dma_copy(c, share_fd=share)
            c.dma_map(0x10000, 4096)  # left for close() to free
    assert open_fds() == before


def test_shutdown_from_another_thread():
    """A call blocked on a server that never answers returns ESHUTDOWN as
    soon as another thread shuts the client down; later calls too."""
    import struct
    import threading
    a, b = socket.socketpair()

    def silent_server():
        hdr = b.recv(16, socket.MSG_WAITALL)
        msg_id, cmd, size = struct.unpack("<HHI", hdr[:8])
        b.recv(size - 16, socket.MSG_WAITALL)
        caps = b'{"capabilities":{"max_msg_fds":8}}\0'
        b.sendall(struct.pack("<HHIII", msg_id, cmd, 16 + 4 + len(caps), 1, 0) +
                  struct.pack("<HH", 0, 0) + caps)
        b.recv(64)  # the request it will never answer

    t = threading.Thread(target=silent_server)
    t.start()
    c = uvfio.Client(a.detach(), timeout_ms=-1, service_thread=False)
    result = {}

    def blocked_read():
        try:
            c.region_read(uvfio.REGION_BAR0, 0, 4)
        except uvfio.Error as e:
            result["errno"] = e.errno

    r = threading.Thread(target=blocked_read)
    r.start()
    t.join()  # the server has the request and will never answer it
    r.join(0.2)
    assert r.is_alive()  # no timeout: it would wait forever
    c.shutdown()
    r.join(30)
    assert not r.is_alive() and result["errno"] == errno.ESHUTDOWN
    with pytest.raises(uvfio.Error) as e:
        c.device_info()
    assert e.value.errno == errno.ESHUTDOWN
    c.close()
    b.close()
