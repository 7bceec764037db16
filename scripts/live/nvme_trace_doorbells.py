#!/usr/bin/env python3
"""nvme_trace_doorbells.py TRACE.json: for each I/O-queue doorbell REGION_WRITE from QEMU, the next DMA_READ reply of the
shadow doorbell buffer on the wire: how often does it already hold a value AHEAD of the doorbell's value
(the guest moved the shadow on without ringing again)?  A device that applies the register value after using
that shadow reply moves the tail backwards."""
import json, sys, collections
msgs = [m for m in (json.loads(l) for l in open(sys.argv[1])) if "name" in m]
cnt = collections.Counter((m["args"]["addr"], m["args"]["count"]) for m in msgs if m["name"] == "DMA_READ" and m["type"] == "command")
(dbs, n), _ = max(((k, v) for k, v in cnt.items() if k[1] % 8 == 0 and 16 <= k[1] <= 512), key=lambda kv: kv[1])
pending, waiting = {}, {}
seen_shadow = False   # doorbell index -> (value, msg id, time)
st = collections.Counter(); ex = []
for m in msgs:
    if m["name"] == "DMA_READ" and m["type"] == "command":
        pending[m["id"]] = (m["args"]["addr"], m["args"]["count"])
    elif m["name"] == "DMA_READ" and m["type"] == "reply" and pending.pop(m["id"], None) == (dbs, n):
        d = bytes.fromhex(m["args"]["data"])
        seen_shadow = True
        for i, (v, wid, wt) in list(waiting.items()):
            s = int.from_bytes(d[4*i:4*i+4], "little")
            kind = ("SQ%d tail" if i % 2 == 0 else "CQ%d head") % (i // 2)
            if s == v: st[kind + ": next shadow reply equal"] += 1
            else:
                st[kind + ": next shadow reply AHEAD"] += 1
                if len(ex) < 4:
                    ex.append("%s: REGION_WRITE id %d (t=%.6f) value %d; next shadow DMA_READ reply id %d (t=%.6f, +%.0f us) holds %d" % (kind, wid, wt, v, m["id"], m["time"], (m["time"] - wt) * 1e6, s))
            del waiting[i]
    elif m["name"] == "REGION_WRITE" and m["type"] == "command" and m["dir"] == "c2s" and m["args"].get("region") == 0 \
            and m["args"]["offset"] >= 0x1008 and m["args"]["count"] == 4 and seen_shadow:
        i = (m["args"]["offset"] - 0x1000) // 4
        if i < n // 4:
            waiting[i] = (int.from_bytes(bytes.fromhex(m["args"]["data"]), "little"), m["id"], m["time"])
print("shadow doorbell buffer 0x%x (%d bytes), read %d times" % (dbs, n, cnt[(dbs, n)]))
for k, v in sorted(st.items()): print("  %-45s %d" % (k, v))
print("\n".join(ex))
