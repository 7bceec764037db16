#!/usr/bin/env python3
"""Regression check: QEMU's vfio-user-pci against uvfio-memdev under qtest.
Usage: memdev_qtest.py MEMDEV_BINARY [--shared]"""
import argparse, os, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtest import QTest, start_qemu
p = argparse.ArgumentParser(); p.add_argument("memdev"); p.add_argument("--shared", action="store_true")
a = p.parse_args()
d = tempfile.mkdtemp(prefix="memq-")
ds, qs = d + "/dev.sock", d + "/qt.sock"
dl = open(d + "/device.log", "w"); ql = open(d + "/qemu.log", "w")
dev = subprocess.Popen([a.memdev, ds], stdout=dl, stderr=subprocess.STDOUT)
for _ in range(100):
    if os.path.exists(ds): break
    time.sleep(0.05)
q = start_qemu(ds, qs, a.shared, log=ql)
ok = True
def check(name, cond, info=""):
    global ok
    ok &= bool(cond)
    print("%-4s %s %s" % ("ok" if cond else "FAIL", name, info))
try:
    t = QTest(qs); bdf = 4 << 3
    vid = t.cfg_read32(bdf, 0)
    check("config id", vid != 0xffffffff, "%08x" % vid)
    B0, B2 = 0xe0000000, 0xe1000000
    s0 = t.assign_bar(bdf, 0, B0); s2 = t.assign_bar(bdf, 2, B2); t.enable(bdf)
    check("BAR sizes", s2 == 1 << 20, "BAR0 0x%x BAR2 0x%x" % (s0, s2))
    check("ID", t.val("readl 0x%x" % B0) == 0x4d454d31)
    t.cmd("writel 0x%x 0xa5a5f00d" % (B0 + 4))
    check("SCRATCH", t.val("readl 0x%x" % (B0 + 4)) == 0xa5a5f00d)
    check("RAMSIZE", t.val("readl 0x%x" % (B0 + 0xc)) == 1 << 20)
    w = t.val("readl 0x%x" % (B0 + 8))
    check("WRITES counts", w >= 1, str(w))
    pat = bytes(((7 * i + 3) & 0xff) for i in range(1 << 20))
    t0 = time.monotonic(); t.mem_write(B2, pat); t1 = time.monotonic()
    got = t.mem_read(B2, 1 << 20); t2 = time.monotonic()
    check("BAR2 1 MiB write/read", got == pat, "write %.0f ms read %.0f ms" % ((t1-t0)*1e3, (t2-t1)*1e3))
    t.cmd("writel 0x%x 1" % (B0 + 0x10))
    time.sleep(0.1)
    check("DOORBELL sets INTSTATUS", t.val("readl 0x%x" % (B0 + 0x14)) & 1 == 1)
    t.cmd("writel 0x%x 1" % (B0 + 0x14))
    check("INTSTATUS clears", t.val("readl 0x%x" % (B0 + 0x14)) & 1 == 0)
finally:
    q.terminate(); q.wait(10); time.sleep(0.3)
    if dev.poll() is None: dev.terminate()
    dev.wait(10); dl.close(); ql.close()
    print("logs in", d)
    for f in ("qemu.log", "device.log"):
        txt = "\n".join(l for l in open(d + "/" + f).read().splitlines() if not l.startswith("[")).strip()
        if txt: print("--- %s (last 10)\n%s" % (f, "\n".join(txt.splitlines()[-10:])))
print("RESULT", "PASS" if ok else "FAIL"); sys.exit(0 if ok else 1)
