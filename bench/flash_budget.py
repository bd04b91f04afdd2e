"""Flash writes per day at full load, and energy lost per power cut (docs/persistence.md).

    .venv/bin/python -m bench.flash_budget [hours]

A provisioned simulated meter runs `hours` (default 24) of virtual time under constant load: at
the sanctioned load of examples/meter.toml (2 kW) and at the meter's maximum (60 A at 230 V =
13.8 kW, on a connection sanctioned for it). It prints, per virtual day: the meter's hot-state
commits (Store saves of the `meter` record: its `n` counter, read from the flash image) and the
flash chip's program and erase operations and bytes programmed (`bench.stats()["flash"]`, which
also count event-log appends). The issue's target: under 200 writes a day at maximum load.

Then energy lost per power cut at 2 kW: with the mains-sense warning, and without (the supply
dies at once) shortly after a periodic save and just before the next one. Loss = the model's
exact integral minus the register after the restart. Figures only, no pass/fail.
"""
import pathlib
import sys
import tempfile
import time

from host_tools import flashimage
from host_tools.hil import SimulatedMeter
from host_tools.link import parse_reply

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "meter.toml"
DAY = 86400
SAVE_S = 15 * 60  # firmware/meter.py SAVE_PERIOD_MS


def config(tmp, sanctioned_w):
    text = CONFIG.read_text()
    assert "sanctioned_load_w = 2000" in text
    path = pathlib.Path(tmp) / ("meter-%d.toml" % sanctioned_w)
    path.write_text(text.replace("sanctioned_load_w = 2000", "sanctioned_load_w = %d" % sanctioned_w))
    return str(path)


def commits(state_dir):
    """The meter's hot-state commit counter (`n` of the newest valid `meter` record copy)."""
    import json
    import struct

    best = 0
    for slot in ("a", "b"):
        try:
            raw = flashimage.read_file(str(state_dir / "flash.bin"), "/data/meter." + slot)
        except Exception:  # noqa: BLE001  a copy that is missing or being rewritten
            continue
        if len(raw) < 16 or raw[:4] != b"MRec":
            continue
        seq, length = struct.unpack("<II", raw[4:12])
        try:
            best = max(best, json.loads(raw[16:16 + length])["n"])
        except ValueError:
            continue
    return best


def day_at(load_w, sanctioned_w, hours, tmp):
    state = pathlib.Path(tmp) / ("day-%d" % load_w)
    with SimulatedMeter(state_dir=state, config=config(tmp, sanctioned_w)) as m:
        m.link.call("credit 100000000 BENCH", key=m.key)  # Rs 10 lakh: never cut for credit
        m.bench.set_load(load_w)
        m.bench.advance(3600)  # warm up: past boot and provisioning writes
        n0 = commits(state)
        s0 = m.bench.stats()
        e0 = parse_reply(m.link.command("status"))["energy_import_mwh"]
        t0 = time.perf_counter()
        m.bench.advance(hours * 3600)
        wall = time.perf_counter() - t0
        s1 = m.bench.stats()
        st = parse_reply(m.link.command("status"))
        n1 = commits(state)
    f0, f1 = s0["flash"], s1["flash"]
    per_day = DAY / ((s1["now_ms"] - s0["now_ms"]) / 1000.0)
    return {
        "load_w": load_w,
        "relay": st["relay"],
        "kwh_day": (st["energy_import_mwh"] - e0) / 1e6 * per_day,
        "commits": (n1 - n0) * per_day,
        "programs": (f1["programs"] - f0["programs"]) * per_day,
        "erases": (f1["erases"] - f0["erases"]) * per_day,
        "program_kib": (f1["program_bytes"] - f0["program_bytes"]) / 1024 * per_day,
        "wall_s": wall,
    }


def cut_loss(tmp, name, warning, after_save_s, load_w=2000):
    state = pathlib.Path(tmp) / ("cut-" + name)
    with SimulatedMeter(state_dir=state, config=str(CONFIG)) as m:
        m.link.call("credit 10000000 BENCH", key=m.key)
        m.bench.set_load(load_w)
        m.bench.advance(SAVE_S + after_save_s)  # the first periodic save is 15 min after boot
        truth = m.bench.truth()[0]
        m.bench.power_cut(warning=warning)
        m.bench.advance(60)
        m.bench.power_restore()
        after = parse_reply(m.link.command("status"))["energy_import_mwh"]
    lost = truth - after
    return lost, lost / (load_w / 3.6)


def main(argv):
    hours = float(argv[0]) if argv else 24
    with tempfile.TemporaryDirectory(prefix="flash-budget-") as tmp:
        print("flash writes per virtual day (%g h simulated per load, after a 1 h warm-up):" % hours)
        print("%8s %6s %8s %9s %9s %9s %8s %9s" % ("load W", "relay", "kWh/day", "commits", "programs",
                                                   "erases", "KiB/day", "wall s"))
        for load_w, sanctioned in ((2000, 2000), (13800, 15000)):
            r = day_at(load_w, sanctioned, hours, tmp)
            print("%8d %6s %8.1f %9.0f %9.0f %9.0f %8.0f %9.1f" % (
                r["load_w"], r["relay"], r["kwh_day"], r["commits"], r["programs"], r["erases"],
                r["program_kib"], r["wall_s"]))
        print("target: under 200 writes (Store saves) a day at maximum load; each save programs a few "
              "pages and erases about one 4 KiB sector")
        print()
        print("energy lost per power cut at 2000 W (model integral - register after restart):")
        for name, warning, after in (("warning", True, 10 * 60), ("no warning, 1 min after a save", False, 60),
                                     ("no warning, 10 min after a save", False, 10 * 60),
                                     ("no warning, 5 s before the next save", False, SAVE_S - 5)):
            lost, secs = cut_loss(tmp, name.replace(" ", "_").replace(",", ""), warning, after)
            print("  %-38s %10.1f mWh  (%6.1f s of the load)" % (name, lost, secs))
        print("bound without warning: one save period (%d s) plus one poll (5 s) of the load" % SAVE_S)


if __name__ == "__main__":
    main(sys.argv[1:])
