#!/usr/bin/env python3
"""Drive uvfio-dma-engine through QEMU's vfio-user-pci client under qtest.
Usage: dma_engine_qtest.py ENGINE_BINARY [--shared] [--sizes 65536,1048576] [--poll]
Programs SRC/DST/LEN, writes CTRL=1, reads STATUS at once and keeps polling,
then checks the destination byte for byte.  Prints one line per copy."""
import argparse, os, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtest import QTest, start_qemu

p = argparse.ArgumentParser()
p.add_argument("engine")
p.add_argument("--shared", action="store_true")
p.add_argument("--sizes", default="65536,1048576")
p.add_argument("--engine-args", default="")
p.add_argument("--keep", action="store_true")
a = p.parse_args()

d = tempfile.mkdtemp(prefix="dmaq-")
dev_sock, qt_sock = d + "/dev.sock", d + "/qt.sock"
devlog = open(d + "/device.log", "w"); qlog = open(d + "/qemu.log", "w")
dev = subprocess.Popen([a.engine] + a.engine_args.split() + [dev_sock], stdout=devlog, stderr=subprocess.STDOUT)
for _ in range(100):
    if os.path.exists(dev_sock): break
    time.sleep(0.05)
q = start_qemu(dev_sock, qt_sock, a.shared, log=qlog)
ok = True
try:
    t = QTest(qt_sock)
    bdf = 4 << 3
    vid = t.cfg_read32(bdf, 0)
    print("device %04x:%04x at 00:04.0" % (vid & 0xffff, vid >> 16))
    BAR0 = 0xe0000000
    size = t.assign_bar(bdf, 0, BAR0)
    t.enable(bdf)
    print("BAR0 size 0x%x, command 0x%x" % (size, t.cfg_read16(bdf, 4)))
    for spec in a.sizes.split(","):
        n, _, o = spec.partition("+")
        n = int(n, 0); o = int(o, 0) if o else 0
        SRC, DST = 0x1000000 + o, 0x6000000 + 3 * o
        pat = bytes(((7 * i + 3) & 0xff) for i in range(n))
        t.mem_write(SRC, pat)
        t.mem_write(DST, b"\xff" * (n + 4096))
        c0, b0 = t.val("readq 0x%x" % (BAR0 + 0x30)), t.val("readq 0x%x" % (BAR0 + 0x38))
        t.cmd("writeq 0x%x 0x%x" % (BAR0 + 0x00, SRC))
        t.cmd("writeq 0x%x 0x%x" % (BAR0 + 0x08, DST))
        t.cmd("writeq 0x%x 0x%x" % (BAR0 + 0x10, n))
        t0 = time.monotonic()
        t.cmd("writeq 0x%x 1" % (BAR0 + 0x18))
        tw = time.monotonic()
        seen = []
        while True:
            ts = time.monotonic()
            st = t.val("readq 0x%x" % (BAR0 + 0x20))
            te = time.monotonic()
            seen.append((round((ts - t0) * 1000, 2), round((te - ts) * 1000, 2), st))
            if st in (1, 2) or te - t0 > 30 or (st == (1 << 64) - 1 and te - t0 > 6):
                break
        tdone = time.monotonic()
        err = t.val("readq 0x%x" % (BAR0 + 0x28))
        c1, b1 = t.val("readq 0x%x" % (BAR0 + 0x30)), t.val("readq 0x%x" % (BAR0 + 0x38))
        got = t.mem_read(DST, n + 4096)
        right = got[:n] == pat and got[n:] == b"\xff" * 4096
        ok &= right and st == 1
        # summarise the poll sequence: state changes with times
        chg = [s for i, s in enumerate(seen) if i == 0 or s[2] != seen[i - 1][2]]
        maxread = max(s[1] for s in seen)
        print("%s %7d bytes (src 0x%x dst 0x%x): CTRL write %.2f ms, done after %.2f ms, %d STATUS reads "
              "(slowest %.2f ms), final STATUS %d ERROR %d, COPIES +%d BYTES +%d, data %s; "
              "status changes (ms since CTRL, read ms, value): %s" % (
              "shared" if a.shared else "plain ", n, SRC, DST, (tw - t0) * 1000, (tdone - t0) * 1000,
              len(seen), maxread, st, err, c1 - c0, b1 - b0,
              "RIGHT" if right else "WRONG", chg))
finally:
    q.terminate(); q.wait(10)
    time.sleep(0.3)
    if dev.poll() is None:
        dev.terminate()
    dev.wait(10)
    devlog.close(); qlog.close()
    print("device exit %s; logs in %s" % (dev.returncode, d))
    for f in ("qemu.log", "device.log"):
        txt = "\n".join(l for l in open(d + "/" + f).read().splitlines() if not l.startswith("[")).strip()
        if txt:
            print("--- %s (last 15 lines)\n%s" % (f, "\n".join(txt.splitlines()[-15:])))
print("RESULT", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
