# SPDX-License-Identifier: BSD-3-Clause
"""libuvfio.so through ctypes: where the library is, the C structures of
include/uvfio/client.h, and one table of the functions bound.

To bind a new function of client.h, add one line to FUNCTIONS: a function the
loaded library lacks (an older libuvfio) is left out, and calling it raises
AttributeError naming it.
"""
import ctypes
import os
from ctypes import (POINTER, Structure, c_bool, c_char_p, c_int, c_int32, c_size_t,
                    c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)

SONAME = "libuvfio.so.0"


class LogConfig(Structure):
    """struct uvfio_log_config"""
    _fields_ = [("fn", c_void_p), ("opaque", c_void_p), ("level", c_int), ("trace", c_bool)]


class ClientConfig(Structure):
    """struct uvfio_client_config, and zeros after it: a library whose
    structure has grown reads its new fields as 0, their documented default."""
    _fields_ = [("log", LogConfig), ("mode", c_int), ("timeout_ms", c_int),
                ("max_data_xfer_size", c_uint32), ("max_msg_fds", c_uint32),
                ("twin_socket", c_int), ("no_write_multiple", c_bool),
                ("coalesce_posted", c_bool), ("version_minor", c_uint16),
                ("propose_minor_zero", c_bool), ("max_in_flight", c_uint32),
                ("post_delay_us", c_uint32), ("use_ioeventfds", c_bool),
                ("poll_us", c_uint32),
                ("_room_to_grow", c_uint8 * 256)]


class Caps(Structure):
    """struct uvfio_caps"""
    _fields_ = [("max_msg_fds", c_uint32), ("max_data_xfer_size", c_uint32),
                ("max_dma_maps", c_uint32), ("pgsizes", c_uint64), ("twin_socket", c_bool),
                ("twin_fd_index", c_int32), ("write_multiple", c_bool), ("migration", c_bool),
                ("mig_pgsize", c_uint64), ("mig_max_bitmap_size", c_uint64)]


class DeviceInfoC(Structure):
    """struct uvfio_device_info"""
    _fields_ = [("argsz", c_uint32), ("flags", c_uint32), ("num_regions", c_uint32),
                ("num_irqs", c_uint32)]


class IrqInfoC(Structure):
    """struct vfio_irq_info"""
    _fields_ = [("argsz", c_uint32), ("flags", c_uint32), ("index", c_uint32),
                ("count", c_uint32)]


class MmapArea(Structure):
    """struct uvfio_mmap_area"""
    _fields_ = [("offset", c_uint64), ("size", c_uint64)]


class RegionInfoC(Structure):
    """struct uvfio_region_info"""
    _fields_ = [("index", c_uint32), ("flags", c_uint32), ("size", c_uint64),
                ("offset", c_uint64), ("fd", c_int), ("nr_areas", c_uint32),
                ("areas", POINTER(MmapArea)), ("has_type", c_bool), ("type", c_uint32),
                ("subtype", c_uint32), ("caps", POINTER(c_uint8)), ("caps_len", c_uint32)]


class DmaRegionC(Structure):
    """struct uvfio_dma_region"""
    _fields_ = [("vaddr", c_void_p), ("iova", c_uint64), ("size", c_uint64),
                ("prot", c_uint32), ("fd", c_int), ("fd_offset", c_uint64)]


class DmaLoggingRange(Structure):
    """struct uvfio_dma_logging_range"""
    _fields_ = [("iova", c_uint64), ("length", c_uint64)]


# The structures a test compares with the C compiler's layout.
STRUCTS = {
    "uvfio_log_config": LogConfig,
    "uvfio_client_config": ClientConfig,
    "uvfio_caps": Caps,
    "uvfio_device_info": DeviceInfoC,
    "vfio_irq_info": IrqInfoC,
    "uvfio_mmap_area": MmapArea,
    "uvfio_region_info": RegionInfoC,
    "uvfio_dma_region": DmaRegionC,
    "uvfio_dma_logging_range": DmaLoggingRange,
}

client_p = c_void_p

# name: (return type, argument types) -- one line per function of client.h
FUNCTIONS = {
    "uvfio_strerror": (c_char_p, [c_int]),
    "uvfio_client_connect": (c_int, [c_char_p, POINTER(ClientConfig), POINTER(client_p)]),
    "uvfio_client_adopt": (c_int, [c_int, POINTER(ClientConfig), POINTER(client_p)]),
    "uvfio_client_close": (None, [client_p]),
    "uvfio_client_shutdown": (c_int, [client_p]),
    "uvfio_client_server_caps": (c_int, [client_p, POINTER(Caps), POINTER(c_uint16),
                                         POINTER(c_uint16)]),
    "uvfio_client_twin_socket": (c_bool, [client_p]),
    "uvfio_client_set_timeout": (c_int, [client_p, c_int]),
    "uvfio_client_set_trace": (None, [client_p, c_bool]),
    "uvfio_client_poll_fd": (c_int, [client_p]),
    "uvfio_client_dispatch": (c_int, [client_p]),
    "uvfio_client_device_info": (c_int, [client_p, POINTER(DeviceInfoC)]),
    "uvfio_client_region_info": (c_int, [client_p, c_uint32, POINTER(RegionInfoC)]),
    "uvfio_region_info_release": (None, [POINTER(RegionInfoC)]),
    "uvfio_client_irq_info": (c_int, [client_p, c_uint32, POINTER(IrqInfoC)]),
    "uvfio_client_set_irqs": (c_int, [client_p, c_uint32, c_uint32, c_uint32, c_uint32,
                                      c_void_p]),
    "uvfio_client_region_read": (c_int, [client_p, c_uint32, c_uint64, c_void_p, c_size_t]),
    "uvfio_client_region_write": (c_int, [client_p, c_uint32, c_uint64, c_void_p, c_size_t]),
    "uvfio_client_region_write_posted": (c_int, [client_p, c_uint32, c_uint64, c_void_p,
                                                 c_size_t]),
    "uvfio_client_flush": (c_int, [client_p]),
    "uvfio_client_reset": (c_int, [client_p]),
    "uvfio_client_bus_master": (c_int, [client_p, c_bool]),
    "uvfio_client_dma_map": (c_int, [client_p, POINTER(DmaRegionC)]),
    "uvfio_client_dma_unmap": (c_int, [client_p, c_uint64, c_uint64]),
    "uvfio_client_feature": (c_int, [client_p, c_uint32, c_void_p, c_size_t, c_void_p,
                                     c_size_t]),
    "uvfio_client_mig_state_get": (c_int, [client_p, POINTER(c_uint32)]),
    "uvfio_client_mig_state_set": (c_int, [client_p, c_uint32]),
    "uvfio_client_dma_logging_start": (c_int, [client_p, c_uint64, POINTER(DmaLoggingRange),
                                               c_uint32]),
    "uvfio_client_dma_logging_stop": (c_int, [client_p]),
    "uvfio_client_dma_logging_report": (c_int, [client_p, c_uint64, c_uint64, c_uint64,
                                                POINTER(c_uint64)]),
    "uvfio_client_mig_data_read": (c_int, [client_p, c_void_p, c_size_t]),
    "uvfio_client_mig_data_write": (c_int, [client_p, c_void_p, c_size_t]),
}


def library_path():
    """Where libuvfio.so is: $UVFIO_LIBRARY; the library installed beside this
    package (recorded at install time); a build tree next to a source tree;
    else the dynamic loader's search."""
    env = os.environ.get("UVFIO_LIBRARY")
    if env:
        return env
    try:
        from . import _paths  # written by `make install`
        installed = os.path.join(_paths.LIBDIR, SONAME)
        if os.path.exists(installed):
            return installed
    except ImportError:
        pass
    tree = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", SONAME)
    if os.path.exists(tree):
        return os.path.normpath(tree)
    return SONAME


class _Lib:
    """The loaded library; functions are looked up in FUNCTIONS on first use."""

    def __init__(self):
        self._cdll = None
        self.path = None

    def _load(self):
        if self._cdll is None:
            path = library_path()
            try:
                cdll = ctypes.CDLL(path, use_errno=True)
            except OSError as e:
                raise ImportError(f"cannot load {path} (set UVFIO_LIBRARY to libuvfio.so): "
                                  f"{e}") from e
            for name, (restype, argtypes) in FUNCTIONS.items():
                fn = getattr(cdll, name, None)
                if fn is not None:
                    fn.restype = restype
                    fn.argtypes = argtypes
            self._cdll, self.path = cdll, path
        return self._cdll

    def __getattr__(self, name):
        if name not in FUNCTIONS:
            raise AttributeError(name)
        fn = getattr(self._load(), name, None)
        if fn is None:
            raise AttributeError(f"{name} is not in {self.path} (an older libuvfio?)")
        return fn


lib = _Lib()
