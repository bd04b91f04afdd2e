"""Image sizes and heap figures per build (`make bench`). Figures only, no pass/fail.

    .venv/bin/python -m bench.memory

- `.mpy` bytes of each board's image (build/<board>/image: what a development deploy copies);
- frozen image bytes (text + data of the frozen modules in the firmware's flash) of each ESP32
  board's manifest, and of the simulated boards' mp32 builds (firmware + simulated hardware);
- heap figures per build, on the simulated board: the pinned 64-bit unix port running the .mpy
  image (its default 1M heap) and the frozen 32-bit build mp32 (136K, the ESP32's heap): the firmware's own
  heap in use after boot and at its peak over a short busy run (loaded hours, head-end credits,
  a keypad token, the largest read-outs), and the least largest free block seen. The firmware's
  share is heap_used - heap_sim (what the simulated hardware held when the firmware started).
"""
import pathlib
import sys

from host_tools import build
from host_tools import provisioning
from host_tools import sts as hsts
from host_tools.hil import SimulatedMeter
from host_tools.hil.bench import to_seconds
from host_tools.link import parse_reply
from host_tools.hil.sim import DEFAULT_HEAP

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "examples" / "meter.toml")
BOARDS = ("esp32_atm90e26", "esp32_bl0942", "sim", "sim_bl0942")
BUILDS = tuple(DEFAULT_HEAP.items())  # the harness's heap per interpreter (host_tools/hil/sim.py)


def mpy_bytes(board):
    image = ROOT / "build" / board / "image"
    if not image.is_dir():
        return None, 0
    files = [p for p in image.rglob("*") if p.is_file() and p.suffix in (".mpy", ".py")]
    return sum(p.stat().st_size for p in files), len(files)


def heap_run(interpreter, heap):
    """(heap_sim, firmware bytes after boot, peak firmware bytes, least largest free block)."""
    key = provisioning.load(CONFIG).sts_key
    samples = []
    with SimulatedMeter(config=CONFIG, interpreter=interpreter, heap=heap) as m:
        def sample():
            info = parse_reply(m.link.command("info"))
            samples.append((info["heap_used"] - info["heap_sim"], info["heap_largest_free"], info["heap_sim"]))

        sample()
        m.link.call("credit 500000 BENCH-1", key=m.key)
        for hour, watts in enumerate((1500, 300, 2000)):
            m.bench.set_load(watts)
            m.bench.advance(3600)
            sample()
            m.link.call("credit %d BENCH-%d" % (1000 + hour, hour + 2), key=m.key)
            sample()
        m.bench.set_load(0)
        m.bench.advance(120)
        m.bench.type_keys(hsts.vend_credit(key, 100, to_seconds(m.bench.now())))
        m.bench.press("ENTER")
        m.bench.advance(2)
        sample()
        m.bench.advance(3 * 86400)
        for line in ("daily 60", "events 50", "billing", "account", "status"):
            m.link.command(line, timeout=30)
            sample()
    boot = samples[0]
    return boot[2], boot[0], max(s[0] for s in samples), min(s[1] for s in samples)


def main(argv):
    print("image sizes")
    for board in BOARDS:
        n, files = mpy_bytes(board)
        print("  %-16s .mpy image %8s bytes in %d files" % (board, n if n is not None else "-", files))
    for board in ("esp32_atm90e26", "esp32_bl0942"):
        try:
            size = build.frozen_size(board)
        except SystemExit as e:
            size = "unavailable (%s)" % e
        print("  %-16s frozen firmware %8s bytes (the ESP32 image's frozen modules, port's own excluded)" % (board, size))
    for board in ("sim", "sim_bl0942"):
        try:
            build.build_mp32(board, quiet=True)
            size = build.mp32_info(board).get("frozen_bytes")
        except SystemExit as e:
            size = "unavailable (%s)" % e
        print("  %-16s mp32 frozen    %8s bytes (firmware + simulated hardware)" % (board, size))
    print("heap (simulated board, sim): firmware's own = heap_used - heap_sim, live objects")
    for interpreter, heap in BUILDS:
        try:
            sim, boot, peak, least = heap_run(interpreter, heap)
        except Exception as e:  # a build that cannot run is reported, the others still are
            print("  %-11s %4s heap: failed: %s" % (interpreter, heap, e))
            continue
        print("  %-11s %4s heap: after boot %6d B, peak %6d B, least largest free block %6d B "
              "(simulated hardware %d B)" % (interpreter, heap, boot, peak, least, sim))


if __name__ == "__main__":
    main(sys.argv[1:])
