#!/usr/bin/env python3
"""uvfio-dma-engine while BUSY, through QEMU's client under qtest.
1. a 64 MiB copy; while it runs: SRC/DST/LEN rewritten (next copy) and CTRL=1 (must be
   ignored); the first copy must finish right, COPIES +1; then CTRL=1 runs the next copy.
2. QEMU killed during a 64 MiB copy; the device must survive and serve a new QEMU.
Usage: dma_engine_busy_qtest.py ENGINE [--shared]"""
import argparse, os, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtest import QTest, start_qemu
p = argparse.ArgumentParser(); p.add_argument("engine"); p.add_argument("--shared", action="store_true")
a = p.parse_args()
d = tempfile.mkdtemp(prefix="dmab-"); ds = d + "/dev.sock"
dl = open(d + "/device.log", "w")
dev = subprocess.Popen([a.engine, ds], stdout=dl, stderr=subprocess.STDOUT)
for _ in range(100):
    if os.path.exists(ds): break
    time.sleep(0.05)
ok = True
def check(name, cond, info=""):
    global ok; ok &= bool(cond); print("%-4s %s %s" % ("ok" if cond else "FAIL", name, info)); sys.stdout.flush()
B = 0xe0000000
def reg(t, r, v=None):
    if v is None: return t.val("readq 0x%x" % (B + 8 * r))
    t.cmd("writeq 0x%x 0x%x" % (B + 8 * r, v))
def setup(i):
    qs = d + "/qt%d.sock" % i; ql = open(d + "/qemu%d.log" % i, "w")
    q = start_qemu(ds, qs, a.shared, mem_mb=256, log=ql)
    t = QTest(qs); bdf = 4 << 3
    t.assign_bar(bdf, 0, B); t.enable(bdf)
    return q, t
N = 64 << 20
pat = bytes(((7 * i + 3) & 0xff) for i in range(256)) * (N // 256)
S1, D1, S2, D2 = 0x1000000, 0x6000000, 0xa000000, 0xb000000
try:
    q, t = setup(1)
    t.mem_write(S1, pat); t.mem_write(D1, b"\xff" * N)
    small = bytes(range(256)) * 16
    t.mem_write(S2, small); t.mem_write(D2, b"\xee" * 8192)
    c0 = reg(t, 6)
    reg(t, 0, S1); reg(t, 1, D1); reg(t, 2, N)
    t0 = time.monotonic(); reg(t, 3, 1)
    st = reg(t, 4)
    check("STATUS right after CTRL", st in (1, 4), "STATUS %d after %.2f ms" % (st, (time.monotonic() - t0) * 1e3))
    busy_seen = st == 4
    if st == 4:
        reg(t, 0, S2); reg(t, 1, D2); reg(t, 2, 4096); reg(t, 3, 1)
        check("CTRL=1 while BUSY ignored, still BUSY", reg(t, 4) in (4, 1))
    while True:
        st = reg(t, 4)
        if st != 4 or time.monotonic() - t0 > 30: break
    el = time.monotonic() - t0
    check("64 MiB copy ends DONE", st == 1, "STATUS %d ERROR %d after %.1f ms" % (st, reg(t, 5), el * 1e3))
    check("64 MiB data right", t.mem_read(D1, N) == pat)
    check("COPIES +1 only", reg(t, 6) - c0 == 1, str(reg(t, 6) - c0))
    check("small destination untouched so far", t.mem_read(D2, 8192) == b"\xee" * 8192)
    if not busy_seen:
        reg(t, 0, S2); reg(t, 1, D2); reg(t, 2, 4096)
    reg(t, 3, 1)
    for _ in range(1000):
        if reg(t, 4) != 4: break
    check("next copy with the registers written while BUSY", t.mem_read(D2, 8192) == small + b"\xee" * 4096 and reg(t, 4) == 1)
    # 2. kill QEMU mid-copy
    reg(t, 0, S1); reg(t, 1, D1); reg(t, 2, N); reg(t, 3, 1)
    st = reg(t, 4)
    q.kill(); q.wait()
    print("     QEMU killed with STATUS %d" % st)
    time.sleep(1.0)
    check("device alive after the client died mid-copy", dev.poll() is None)
    q, t = setup(2)
    t.mem_write(S2, small); t.mem_write(D2, b"\xee" * 8192)
    reg(t, 0, S2); reg(t, 1, D2); reg(t, 2, 4096); reg(t, 3, 1)
    for _ in range(1000):
        if reg(t, 4) != 4: break
    check("a new QEMU's copy right", t.mem_read(D2, 4096) == small and reg(t, 4) == 1, "STATUS %d" % reg(t, 4))
    q.terminate(); q.wait()
finally:
    time.sleep(0.3)
    if dev.poll() is None: dev.terminate()
    dev.wait(10); dl.close()
    print("logs in", d)
    txt = open(d + "/device.log").read().strip()
    print("--- device.log (warnings)\n" + "\n".join(l for l in txt.splitlines() if "warn" in l or "error" in l or "cancel" in l.lower()))
print("RESULT", "PASS" if ok else "FAIL"); sys.exit(0 if ok else 1)
