#!/usr/bin/env python3
"""Bus Master Enable through QEMU's client: copies with BME clear must fail (ENODEV 19) and leave the
destination untouched, on both memory paths; with BME set they succeed; clearing BME during a long copy
stops it.  Usage: dma_engine_bme_qtest.py ENGINE [--shared]"""
import argparse, os, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtest import QTest, start_qemu
p = argparse.ArgumentParser(); p.add_argument("engine"); p.add_argument("--shared", action="store_true")
a = p.parse_args()
d = tempfile.mkdtemp(prefix="dmabme-"); ds, qs = d + "/dev.sock", d + "/qt.sock"
dl = open(d + "/device.log", "w"); ql = open(d + "/qemu.log", "w")
dev = subprocess.Popen([a.engine, ds], stdout=dl, stderr=subprocess.STDOUT)
for _ in range(100):
    if os.path.exists(ds): break
    time.sleep(0.05)
q = start_qemu(ds, qs, a.shared, log=ql)
ok = True
def check(name, cond, info=""):
    global ok; ok &= bool(cond); print("%-4s %s %s" % ("ok" if cond else "FAIL", name, info)); sys.stdout.flush()
B = 0xe0000000; bdf = 4 << 3
def reg(t, r, v=None):
    if v is None: return t.val("readq 0x%x" % (B + 8 * r))
    t.cmd("writeq 0x%x 0x%x" % (B + 8 * r, v))
def copy(t, s, dst, n, limit=30):
    reg(t, 0, s); reg(t, 1, dst); reg(t, 2, n); reg(t, 3, 1)
    t0 = time.monotonic()
    while True:
        st = reg(t, 4)
        if st != 4 or time.monotonic() - t0 > limit: return st, reg(t, 5)
try:
    t = QTest(qs)
    t.assign_bar(bdf, 0, B)
    t.cfg_write16(bdf, 4, 0x2)   # memory space only, Bus Master clear
    N = 1 << 20; S, D = 0x1000000, 0x6000000
    pat = bytes(((7 * i + 3) & 0xff) for i in range(N))
    t.mem_write(S, pat); t.mem_write(D, b"\xff" * N)
    st, err = copy(t, S, D, N)
    check("BME clear: copy fails with ENODEV", st == 2 and err == 19, "STATUS %d ERROR %d" % (st, err))
    check("BME clear: destination untouched", t.mem_read(D, N) == b"\xff" * N)
    t.cfg_write16(bdf, 4, 0x6)
    st, err = copy(t, S, D, N)
    check("BME set: copy right", st == 1 and t.mem_read(D, N) == pat, "STATUS %d ERROR %d" % (st, err))
    # clear BME while a 64 MiB copy runs
    M = 64 << 20; D2 = 0x8000000
    t.mem_write(S, b"\x5a" * M); t.mem_write(D2, b"\xff" * M)
    reg(t, 0, S); reg(t, 1, D2); reg(t, 2, M); reg(t, 3, 1)
    st0 = reg(t, 4)
    t.cfg_write16(bdf, 4, 0x2)
    tclr = time.monotonic()
    # after the clear: the destination must stop changing
    while reg(t, 4) == 4 and time.monotonic() - tclr < 30: pass
    st, err = reg(t, 4), reg(t, 5)
    snap1 = t.mem_read(D2, M); time.sleep(0.5); snap2 = t.mem_read(D2, M)
    done = sum(1 for i in range(0, M, 4096) if snap2[i] == 0x5a)
    check("BME cleared mid-copy: copy ends in error (or had finished)", (st == 2 and err == 19) or st == 1,
          "STATUS before clear %d, after: %d ERROR %d, %d of %d pages written" % (st0, st, err, done, M // 4096))
    check("nothing written after the copy ended", snap1 == snap2)
finally:
    q.terminate(); q.wait(10); time.sleep(0.3)
    if dev.poll() is None: dev.terminate()
    dev.wait(10); dl.close(); ql.close()
    print("logs in", d)
    print("\n".join(l for l in open(d + "/device.log").read().splitlines() if "warn" in l or "error" in l)[:2000])
print("RESULT", "PASS" if ok else "FAIL"); sys.exit(0 if ok else 1)
