# SPDX-License-Identifier: BSD-3-Clause
"""The ctypes structures of python/uvfio/_lib.py against the C compiler's
layout of include/uvfio/client.h (build/tests/python-layout prints it): a
field moved or a structure grown in C fails here, not as corrupt memory."""
import ctypes
import json
import os
import subprocess

from conftest import BUILD
from uvfio import _lib


def test_layout_matches_c():
    out = subprocess.run([os.path.join(BUILD, "tests", "python-layout")], check=True,
                         capture_output=True, text=True).stdout
    layout = json.loads(out)
    assert set(layout) == set(_lib.STRUCTS)
    for name, cls in _lib.STRUCTS.items():
        for field, offset in layout[name]["fields"].items():
            assert getattr(cls, field).offset == offset, f"{name}.{field}"
        size = layout[name]["size"]
        if cls is _lib.ClientConfig:  # ours has room for fields a newer C adds
            assert ctypes.sizeof(cls) >= size + 64, name
        else:  # the library writes these: exactly its size
            assert ctypes.sizeof(cls) == size, name


def test_every_function_is_in_the_library():
    for name in _lib.FUNCTIONS:
        getattr(_lib.lib, name)
