"""Flash cost of persistence: program/erase operations and bytes for one Store.save and one
Log.append, through MicroPython's littlefs (VfsLfs2) on the NOR flash model (FlashChip).

Figures only, no pass/fail. Run with either interpreter (CPython re-runs it under MicroPython):
    .venv/bin/python bench/flash_wear.py
    .venv/bin/micropython -X heapsize=512K bench/flash_wear.py
The estimated time uses datasheet-typical SPI NOR figures (4 KiB sector erase 45 ms, page
program 0.7 ms); reads are not counted there.
"""
import sys

ERASE_MS = 45.0
PROGRAM_MS = 0.7


def _parent(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else ("/" if i == 0 else ".")


ROOT = _parent(_parent(__file__)) if "/" in __file__ else ".."


def _host():
    """CPython: run this file under MicroPython with the meter's heap."""
    import os
    import subprocess

    sys.path.insert(0, os.path.abspath(ROOT))
    from host_tools import toolchain

    env = dict(os.environ, MICROPYPATH=os.pathsep.join(
        [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "boards", "sim")]))
    proc = subprocess.run([toolchain.micropython(), "-X", "heapsize=512K", os.path.abspath(__file__)],
                          env=env)
    sys.exit(proc.returncode)


def _record(i, size):
    rec = {"seq": i, "imp_mWh": 123456789 + i, "exp_mWh": 4321, "bal_paise": 1500000 - i,
           "arrears": 0, "relay": "closed", "reason": "ok"}
    pad = size - len(_enc(rec)) - 9
    rec["pad"] = "p" * max(0, pad)
    return rec


def _enc(obj):
    import json

    return json.dumps(obj, separators=(",", ":"))


class _Stats:
    KEYS = ("erases", "programs", "program_bytes", "reads", "read_bytes")

    def __init__(self, label):
        self.label = label
        self.n = 0
        self.sum = {}
        for k in self.KEYS:
            self.sum[k] = 0
        self.max_erases = 0
        self.max_bytes = 0

    def add(self, c):
        self.n += 1
        for k in self.KEYS:
            self.sum[k] += c[k]
        self.max_erases = max(self.max_erases, c["erases"])
        self.max_bytes = max(self.max_bytes, c["program_bytes"])

    def line(self):
        n = self.n
        avg = {}
        for k in self.KEYS:
            avg[k] = self.sum[k] / n
        est = avg["erases"] * ERASE_MS + avg["programs"] * PROGRAM_MS
        return "%-38s %4d %7.2f %8.1f %9.0f %7.1f %9.0f %4d %6d %7.1f" % (
            self.label, n, avg["erases"], avg["programs"], avg["program_bytes"],
            avg["reads"], avg["read_bytes"], self.max_erases, self.max_bytes, est)


def _mp():
    import os

    import vfs

    sys.path.append(ROOT + "/firmware")
    sys.path.append(ROOT + "/boards/sim")
    import store
    from models.flash import FlashChip

    path = "/tmp/flash_wear_%d.bin" % (store.crc32(os.urandom(8)) & 0xFFFFFF)
    chip = FlashChip(path)  # the full 512 x 4 KiB part, file-backed
    try:
        vfs.VfsLfs2.mkfs(chip)
        vfs.mount(vfs.VfsLfs2(chip), "/fw")
        st = store.Store("/fw/data")
        cases = []

        def measure(label, count, fn):
            s = _Stats(label)
            for i in range(count):
                chip.reset_counts()
                fn(i)
                s.add(chip.counts())
            cases.append(s)

        reg = _record(0, 400)
        size = len(_enc(reg))
        measure("Store.save %d B (first two)" % size, 2, lambda i: st.save("reg", _record(i, 400)))
        measure("Store.save %d B (steady)" % size, 100, lambda i: st.save("reg", _record(i, 400)))
        small = {"paise": 1500000, "arrears": 0, "emerg": 0}
        measure("Store.save %d B (small, inline)" % len(_enc(small)), 100,
                lambda i: st.save("bal", {"paise": 1500000 - i, "arrears": 0, "emerg": 0}))
        ev = {"t": 771234567, "code": "RELAY_OPEN", "arg": 12345}
        for seg in (4096, 2048, 1024):
            log = store.Log(st, "ev%d" % seg, 200, seg_bytes=seg)
            measure("Log.append %d B (seg_bytes %d)" % (len(_enc(ev)), seg), 300,
                    lambda i: log.append({"t": 771234567 + i, "code": "RELAY_OPEN", "arg": i}))
        bill = {"month": 307, "imp_mWh": 123456789, "units": 412, "amount": 236512, "pad": "b" * 200}
        log = store.Log(st, "bill", 24)
        measure("Log.append %d B (default seg_bytes)" % len(_enc(bill)), 60,
                lambda i: log.append(bill))
        measure("Store.load %d B" % size, 20, lambda i: st.load("reg"))
        print("flash_wear: littlefs2 via MicroPython VfsLfs2 (read/prog 32, cache 128, lookahead 32)"
              " on FlashChip %d x %d B" % (chip.block_count, chip.block_size))
        print("%-38s %4s %7s %8s %9s %7s %9s %4s %6s %7s" % (
            "operation (per call, average)", "n", "erases", "programs", "prog_B",
            "reads", "read_B", "maxE", "maxPB", "est_ms"))
        for s in cases:
            print(s.line())
        print("est_ms: %.0f ms per 4 KiB sector erase + %.1f ms per program (datasheet typical)"
              % (ERASE_MS, PROGRAM_MS))
        vfs.umount("/fw")
    finally:
        chip.close()
        os.remove(path)


if sys.implementation.name == "micropython":
    _mp()
else:
    _host()
