# SPDX-License-Identifier: BSD-3-Clause
"""The vfio-user client of include/uvfio/client.h, for Python.

    with uvfio.Client("/tmp/dev.sock") as c:
        print(c.device_info(), c.region_info(uvfio.REGION_BAR0))
        data = c.region_read(0, 0x30, 8)

Every call raises uvfio.Error (an OSError carrying the errno) on failure.
"""
import ctypes
import mmap
import os
import select
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from . import constants as K
from ._lib import (Caps, ClientConfig, DeviceInfoC, DmaLoggingRange, DmaRegionC, IrqInfoC,
                   RegionInfoC, lib)
from .errors import check

SERVICE_THREAD = 1
EVENT_LOOP = 0


@dataclass(frozen=True)
class DeviceInfo:
    flags: int
    num_regions: int
    num_irqs: int

    @property
    def pci(self):
        return bool(self.flags & K.DEVICE_FLAGS_PCI)

    @property
    def resettable(self):
        return bool(self.flags & K.DEVICE_FLAGS_RESET)


@dataclass(frozen=True)
class RegionInfo:
    index: int
    flags: int
    size: int
    offset: int
    mmap_areas: Tuple[Tuple[int, int], ...] = ()  # (offset, size) within the region
    type: Optional[Tuple[int, int]] = None         # (type, subtype) of a device region

    @property
    def readable(self):
        return bool(self.flags & K.REGION_FLAG_READ)

    @property
    def writable(self):
        return bool(self.flags & K.REGION_FLAG_WRITE)

    @property
    def mappable(self):
        return bool(self.flags & K.REGION_FLAG_MMAP) and bool(self.mmap_areas)


@dataclass(frozen=True)
class IrqInfo:
    index: int
    flags: int
    count: int

    @property
    def eventfd(self):
        return bool(self.flags & K.IRQ_INFO_EVENTFD)

    @property
    def maskable(self):
        return bool(self.flags & K.IRQ_INFO_MASKABLE)


@dataclass(frozen=True)
class ServerCaps:
    version: Tuple[int, int]
    max_msg_fds: int
    max_data_xfer_size: int
    max_dma_maps: int
    pgsizes: int
    twin_socket: bool
    write_multiple: bool
    migration: bool


def _eventfd():
    if hasattr(os, "eventfd"):  # Python 3.10
        return os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.eventfd(0, os.O_CLOEXEC | os.O_NONBLOCK)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "eventfd")
    return fd


@dataclass(eq=False)
class DmaRegion:
    """Client memory the device may reach at IOVAs [iova, iova + size).
    mem is the memory itself (an mmap object: index and slice it); fd is the
    memfd it lives in, shared with the server, or None when the server
    reaches it only through DMA_READ/DMA_WRITE messages."""
    iova: int
    size: int
    prot: int
    mem: mmap.mmap
    fd: Optional[int] = None
    _pin: object = field(default=None, repr=False)  # keeps the address valid

    def read(self, offset, count):
        return bytes(self.mem[offset:offset + count])

    def write(self, offset, data):
        self.mem[offset:offset + len(data)] = data

    def _release(self):
        self._pin = None
        self.mem.close()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Interrupts:
    """Eventfds wired to count vectors of one interrupt type from start on;
    the device signals vector start + i on fds[i]. Use as a context manager,
    or close() to disconnect them."""

    def __init__(self, client, index, start, count):
        self.client, self.index, self.start = client, index, start
        self.fds = [_eventfd() for _ in range(count)]
        try:
            client.set_irqs(index, K.IRQ_SET_DATA_EVENTFD | K.IRQ_SET_ACTION_TRIGGER, start,
                            count, self.fds)
        except BaseException:
            for fd in self.fds:
                os.close(fd)
            raise

    def wait(self, vector=0, timeout=5.0):
        """Wait up to timeout seconds (None: for ever) for vector i of these
        (0 is the first wired); return how many times it fired meanwhile, or
        0 if it did not."""
        fd = self.fds[vector]
        p = select.poll()
        p.register(fd, select.POLLIN)
        if not p.poll(None if timeout is None else int(timeout * 1000)):
            return 0
        return self.pending(vector)

    def pending(self, vector=0):
        """How many times vector fired since last asked, without waiting."""
        try:
            return int.from_bytes(os.read(self.fds[vector], 8), "little")
        except BlockingIOError:
            return 0

    def close(self):
        if self.fds is None:
            return
        fds, self.fds = self.fds, None
        try:
            if self.client.open:
                self.client.set_irqs(self.index,
                                     K.IRQ_SET_DATA_NONE | K.IRQ_SET_ACTION_TRIGGER, 0, 0)
        finally:
            for fd in fds:
                os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _buffer(data):
    """A ctypes view of bytes-like data, for the library to read."""
    data = bytes(data)
    return ctypes.create_string_buffer(data, len(data)), len(data)


class Client:
    """One connection to a vfio-user device server.

    path: the server's UNIX socket, or an int: a connected socket to adopt
    (the client owns it from then on). With service_thread (the default) the
    library answers the server's DMA_READ/DMA_WRITE requests on a thread of
    its own whenever you are not in a call; without it call dispatch() when
    poll_fd() is readable. timeout_ms: message timeout (None: 5000; <0: none).
    max_in_flight: requests in flight at most (0: the library's default, 1024).
    post_delay_us: posted writes wait up to this long in the client's send
    buffer and leave together (client.h; 0: each at once). use_ioeventfds:
    posted writes that match a doorbell of the server signal its eventfd.
    poll_us: polling mode, spin up to this long before blocking for a reply
    (client.h; 0: off).
    """

    def __init__(self, path, *, timeout_ms=None, service_thread=True, twin_socket=None,
                 trace=False, log_level=None, max_data_xfer_size=0, coalesce_posted=False,
                 max_in_flight=0, post_delay_us=0, use_ioeventfds=False, poll_us=0):
        cfg = ClientConfig()
        cfg.mode = SERVICE_THREAD if service_thread else EVENT_LOOP
        cfg.timeout_ms = 0 if timeout_ms is None else int(timeout_ms)
        cfg.twin_socket = 0 if twin_socket is None else (1 if twin_socket else -1)
        cfg.log.trace = bool(trace)
        # errors come as exceptions: the library's own lines only when asked
        cfg.log.level = int(log_level) if log_level is not None else 8 if trace else -1
        cfg.max_data_xfer_size = max_data_xfer_size
        cfg.coalesce_posted = coalesce_posted
        cfg.max_in_flight = max_in_flight
        cfg.post_delay_us = post_delay_us
        cfg.use_ioeventfds = use_ioeventfds
        cfg.poll_us = poll_us
        self._c = ctypes.c_void_p()
        self._dma = {}
        if isinstance(path, int):
            check(lib.uvfio_client_adopt(path, ctypes.byref(cfg), ctypes.byref(self._c)),
                  f"adopting socket {path}")
        else:
            check(lib.uvfio_client_connect(os.fsencode(path), ctypes.byref(cfg),
                                           ctypes.byref(self._c)), f"connecting to {path}")

    # ---- the connection ------------------------------------------------------------

    @property
    def open(self):
        return bool(self._c)

    def _h(self):
        if not self._c:
            raise ValueError("the client is closed")
        return self._c

    def close(self):
        """Disconnect and free everything, the DMA memory included."""
        if self._c:
            c, self._c = self._c, ctypes.c_void_p()
            lib.uvfio_client_close(c)
        for r in self._dma.values():
            r._release()
        self._dma.clear()

    def shutdown(self):
        """Stop the client from any thread: every call in progress and every
        later one raises an Error with errno ESHUTDOWN; close() stays safe."""
        check(lib.uvfio_client_shutdown(self._h()), "shutting down")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_c", None):
            self.close()

    def server_caps(self):
        caps, major, minor = Caps(), ctypes.c_uint16(), ctypes.c_uint16()
        check(lib.uvfio_client_server_caps(self._h(), ctypes.byref(caps), ctypes.byref(major),
                                           ctypes.byref(minor)), "server capabilities")
        return ServerCaps((major.value, minor.value), caps.max_msg_fds,
                          caps.max_data_xfer_size, caps.max_dma_maps, caps.pgsizes,
                          caps.twin_socket, caps.write_multiple, caps.migration)

    @property
    def twin_socket(self):
        return bool(lib.uvfio_client_twin_socket(self._h()))

    def set_timeout(self, timeout_ms):
        check(lib.uvfio_client_set_timeout(self._h(), int(timeout_ms)), "setting the timeout")

    def set_trace(self, on):
        lib.uvfio_client_set_trace(self._h(), bool(on))

    def poll_fd(self):
        return check(lib.uvfio_client_poll_fd(self._h()), "poll_fd")

    def dispatch(self):
        """Handle what the server sent, without blocking; returns how many."""
        return check(lib.uvfio_client_dispatch(self._h()), "dispatch")

    # ---- device, regions, interrupts ----------------------------------------------

    def device_info(self):
        di = DeviceInfoC()
        check(lib.uvfio_client_device_info(self._h(), ctypes.byref(di)), "DEVICE_GET_INFO")
        return DeviceInfo(di.flags, di.num_regions, di.num_irqs)

    def region_info(self, index):
        ri = RegionInfoC()
        check(lib.uvfio_client_region_info(self._h(), index, ctypes.byref(ri)),
              f"DEVICE_GET_REGION_INFO of region {index}")
        try:
            areas = tuple((ri.areas[i].offset, ri.areas[i].size) for i in range(ri.nr_areas))
            return RegionInfo(ri.index, ri.flags, ri.size, ri.offset, areas,
                              (ri.type, ri.subtype) if ri.has_type else None)
        finally:
            lib.uvfio_region_info_release(ctypes.byref(ri))

    def regions(self):
        """Every region of the device."""
        return [self.region_info(i) for i in range(self.device_info().num_regions)]

    def irq_info(self, index):
        ii = IrqInfoC()
        check(lib.uvfio_client_irq_info(self._h(), index, ctypes.byref(ii)),
              f"DEVICE_GET_IRQ_INFO of type {index}")
        return IrqInfo(ii.index, ii.flags, ii.count)

    def region_read(self, index, offset, count):
        buf = ctypes.create_string_buffer(count)
        check(lib.uvfio_client_region_read(self._h(), index, offset, buf, count),
              f"REGION_READ of {count} bytes at {offset:#x} of region {index}")
        return buf.raw

    def region_write(self, index, offset, data):
        buf, n = _buffer(data)
        check(lib.uvfio_client_region_write(self._h(), index, offset, buf, n),
              f"REGION_WRITE of {n} bytes at {offset:#x} of region {index}")

    def region_write_posted(self, index, offset, data):
        """A write that does not wait for its reply; flush() reports errors."""
        buf, n = _buffer(data)
        check(lib.uvfio_client_region_write_posted(self._h(), index, offset, buf, n),
              f"posted REGION_WRITE at {offset:#x} of region {index}")

    def flush(self):
        check(lib.uvfio_client_flush(self._h()), "flush of posted writes")

    def read_int(self, index, offset, size=4):
        """A little-endian register of size bytes."""
        return int.from_bytes(self.region_read(index, offset, size), "little")

    def write_int(self, index, offset, value, size=4):
        self.region_write(index, offset, int(value).to_bytes(size, "little"))

    def config_read(self, offset, count):
        return self.region_read(K.REGION_CONFIG, offset, count)

    def config_write(self, offset, data):
        self.region_write(K.REGION_CONFIG, offset, data)

    def map_region(self, index, area=0, writable=True):
        """mmap() one sparse area of a mappable region: loads and stores that
        bypass the socket. Returns an mmap object the size of the area."""
        ri = RegionInfoC()
        check(lib.uvfio_client_region_info(self._h(), index, ctypes.byref(ri)),
              f"DEVICE_GET_REGION_INFO of region {index}")
        try:
            if ri.fd < 0 or not ri.flags & K.REGION_FLAG_MMAP or area >= ri.nr_areas:
                raise ValueError(f"region {index} has no mappable area {area}")
            a = ri.areas[area]
            prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            return mmap.mmap(ri.fd, a.size, mmap.MAP_SHARED, prot, offset=ri.offset + a.offset)
        finally:
            lib.uvfio_region_info_release(ctypes.byref(ri))

    def reset(self):
        check(lib.uvfio_client_reset(self._h()), "DEVICE_RESET")

    def bus_master(self, on=True):
        """Set (or clear) Bus Master Enable in the PCI Command register, as a
        driver does before DMA: a uvfio device refuses DMA (ENODEV) while it
        is clear, and a reset clears it."""
        check(lib.uvfio_client_bus_master(self._h(), bool(on)), "Bus Master Enable")

    def set_irqs(self, index, flags, start, count, data=None):
        """DEVICE_SET_IRQS as in <linux/vfio.h>: data is a list of eventfds
        (-1 de-assigns one) for DATA_EVENTFD, of bools for DATA_BOOL."""
        arg = None
        if data is not None and flags & K.IRQ_SET_DATA_EVENTFD:
            arg = (ctypes.c_int * len(data))(*data)
        elif data is not None and flags & K.IRQ_SET_DATA_BOOL:
            arg = (ctypes.c_uint8 * len(data))(*(1 if b else 0 for b in data))
        check(lib.uvfio_client_set_irqs(self._h(), index, flags, start, count, arg),
              f"DEVICE_SET_IRQS of type {index}")

    def irqs(self, index, count=None, start=0):
        """Wire eventfds to count vectors (default: all) of an interrupt type."""
        if count is None:
            count = self.irq_info(index).count - start
        return Interrupts(self, index, start, count)

    # ---- memory the device may reach ---------------------------------------------

    def dma_map(self, iova, size, *, readable=True, writable=True, share_fd=True):
        """Give the device size bytes of new memory at iova. With share_fd the
        server maps it (a memfd); without, it reaches it through DMA_READ and
        DMA_WRITE messages that the library answers from it."""
        prot = (K.DMA_READ if readable else 0) | (K.DMA_WRITE if writable else 0)
        fd = None
        if share_fd:
            fd = os.memfd_create("uvfio-dma", os.MFD_CLOEXEC)
            os.ftruncate(fd, size)
            mem = mmap.mmap(fd, size, mmap.MAP_SHARED)
        else:
            mem = mmap.mmap(-1, size)
        # the ctypes view pins the mapping (mmap refuses to close under it)
        region = DmaRegion(iova, size, prot, mem, fd, (ctypes.c_char * size).from_buffer(mem))
        r = DmaRegionC(ctypes.addressof(region._pin), iova, size, prot,
                       -1 if fd is None else fd, 0)
        try:
            check(lib.uvfio_client_dma_map(self._h(), ctypes.byref(r)),
                  f"DMA_MAP of {size} bytes at IOVA {iova:#x}")
        except BaseException:
            region._release()
            raise
        self._dma[iova] = region
        return region

    def dma_unmap(self, region):
        """Take the memory back from the device and free it."""
        check(lib.uvfio_client_dma_unmap(self._h(), region.iova, region.size),
              f"DMA_UNMAP at IOVA {region.iova:#x}")
        self._dma.pop(region.iova, None)
        region._release()

    # ---- features and migration -----------------------------------------------------

    def feature(self, flags, data=b"", out_len=0):
        """DEVICE_FEATURE; returns the reply's feature data (up to out_len)."""
        buf, n = _buffer(data)
        out = ctypes.create_string_buffer(max(out_len, 1))
        got = check(lib.uvfio_client_feature(self._h(), flags, buf, n, out, out_len),
                    f"DEVICE_FEATURE {flags:#x}")
        return out.raw[:min(got, out_len)]

    @property
    def mig_state(self):
        s = ctypes.c_uint32()
        check(lib.uvfio_client_mig_state_get(self._h(), ctypes.byref(s)), "migration state")
        return s.value

    @mig_state.setter
    def mig_state(self, state):
        check(lib.uvfio_client_mig_state_set(self._h(), state), f"migration state {state}")

    def mig_data_read(self, count):
        """Up to count bytes of migration data; fewer: the stream has ended."""
        buf = ctypes.create_string_buffer(count)
        n = check(lib.uvfio_client_mig_data_read(self._h(), buf, count), "MIG_DATA_READ")
        return buf.raw[:n]

    def mig_data_write(self, data):
        buf, n = _buffer(data)
        check(lib.uvfio_client_mig_data_write(self._h(), buf, n), "MIG_DATA_WRITE")

    def dma_logging_start(self, page_size, ranges: List[Tuple[int, int]] = ()):
        """Dirty-page logging of (iova, length) ranges (none: everything)."""
        arr = (DmaLoggingRange * max(len(ranges), 1))(*ranges)
        check(lib.uvfio_client_dma_logging_start(self._h(), page_size, arr, len(ranges)),
              "starting DMA logging")

    def dma_logging_stop(self):
        check(lib.uvfio_client_dma_logging_stop(self._h()), "stopping DMA logging")

    def dma_logging_report(self, iova, length, page_size):
        """The dirty bitmap of [iova, iova + length) as one int (bit i: page i)."""
        pages = (length + page_size - 1) // page_size
        words = (ctypes.c_uint64 * max((pages + 63) // 64, 1))()
        check(lib.uvfio_client_dma_logging_report(self._h(), iova, length, page_size, words),
              "DMA logging report")
        return sum(w << (64 * i) for i, w in enumerate(words))
