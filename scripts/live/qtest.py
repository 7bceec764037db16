#!/usr/bin/env python3
"""Minimal driver for QEMU's qtest text protocol plus helpers to run QEMU with
vfio-user-pci.  No guest: PCI config via 0xcf8/0xcfc, BARs assigned by hand."""
import base64, json, os, socket, subprocess, time

QEMU = os.environ.get("QEMU", "qemu-system-x86_64")

class QTest:
    def __init__(self, path, timeout=60):
        self.s = socket.socket(socket.AF_UNIX)
        for _ in range(200):
            try:
                self.s.connect(path); break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("cannot connect to qtest socket " + path)
        self.s.settimeout(timeout)
        self.buf = b""

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\n")
        while True:
            while b"\n" not in self.buf:
                d = self.s.recv(1 << 20)
                if not d:
                    raise RuntimeError("qtest closed")
                self.buf += d
            l, self.buf = self.buf.split(b"\n", 1)
            l = l.decode()
            if l.startswith("IRQ"):
                continue
            if not l.startswith("OK"):
                raise RuntimeError("qtest: %s -> %s" % (line[:60], l))
            return l[3:].strip()

    def val(self, line):
        return int(self.cmd(line), 16)

    # PCI configuration space
    def cfg_addr(self, bdf, reg):
        return 0x80000000 | (bdf << 8) | (reg & 0xfc)
    def cfg_read32(self, bdf, reg):
        self.cmd("outl 0xcf8 0x%x" % self.cfg_addr(bdf, reg))
        return self.val("inl 0xcfc")
    def cfg_write32(self, bdf, reg, v):
        self.cmd("outl 0xcf8 0x%x" % self.cfg_addr(bdf, reg))
        self.cmd("outl 0xcfc 0x%x" % v)
    def cfg_read16(self, bdf, reg):
        self.cmd("outl 0xcf8 0x%x" % self.cfg_addr(bdf, reg))
        return self.val("inw 0x%x" % (0xcfc + (reg & 2)))
    def cfg_write16(self, bdf, reg, v):
        self.cmd("outl 0xcf8 0x%x" % self.cfg_addr(bdf, reg))
        self.cmd("outw 0x%x 0x%x" % (0xcfc + (reg & 2), v))

    def assign_bar(self, bdf, bar, addr):
        """Size and place BAR `bar` at addr; returns its size."""
        reg = 0x10 + 4 * bar
        orig = self.cfg_read32(bdf, reg)
        self.cfg_write32(bdf, reg, 0xffffffff)
        lo = self.cfg_read32(bdf, reg)
        is64 = (orig & 0x7) == 0x4
        hi = 0xffffffff
        if is64:
            self.cfg_write32(bdf, reg + 4, 0xffffffff)
            hi = self.cfg_read32(bdf, reg + 4)
        mask = ((hi << 32) | (lo & ~0xf)) if is64 else (lo & ~0xf) | 0xffffffff00000000
        size = ((~mask) & 0xffffffffffffffff) + 1
        self.cfg_write32(bdf, reg, addr & 0xffffffff)
        if is64:
            self.cfg_write32(bdf, reg + 4, addr >> 32)
        return size

    def enable(self, bdf, bits=0x6):
        self.cfg_write16(bdf, 4, self.cfg_read16(bdf, 4) | bits)

    # guest memory
    def mem_write(self, addr, data):
        for off in range(0, len(data), 1 << 20):
            chunk = data[off:off + (1 << 20)]
            self.cmd("b64write 0x%x 0x%x %s" % (addr + off, len(chunk),
                                                base64.b64encode(chunk).decode()))
    def mem_read(self, addr, n):
        out = b""
        for off in range(0, n, 1 << 20):
            ln = min(1 << 20, n - off)
            out += base64.b64decode(self.cmd("b64read 0x%x 0x%x" % (addr + off, ln)))
        return out


def start_qemu(dev_sock, qt_sock, shared, mem_mb=256, addr="0x4", extra=(), log=None):
    dev = {"driver": "vfio-user-pci", "socket": {"type": "unix", "path": dev_sock},
           "addr": addr}
    args = [QEMU, "-machine", "q35", "-accel", "qtest", "-nodefaults", "-display", "none",
            "-qtest", "unix:%s,server=on,wait=off" % qt_sock]
    if shared:
        args += ["-m", "%d" % mem_mb, "-object",
                 "memory-backend-memfd,id=mem,size=%dM,share=on" % mem_mb,
                 "-numa", "node,memdev=mem"]
    else:
        args += ["-m", "%d" % mem_mb]
    args += ["-device", json.dumps(dev)] + list(extra)
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
