"""Idle speed of the simulated meter: 30 virtual days with no load on a provisioned meter.

    .venv/bin/python -m bench.idle_speed [days]

Prints virtual seconds per wall second (how fast long HIL scenarios run; also per CPU second of the
meter process, which other load on the machine does not change), the firmware's free heap
(`info` heap_free) before and after, the meter loop's wake-ups (board.wait calls) and the flash
operations it did, per virtual day. Figures only, no pass/fail.
"""
import os
import pathlib
import sys
import time

from host_tools.hil import SimulatedMeter
from host_tools.link import parse_reply

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "examples" / "meter.toml")
DAY = 86400


def cpu_s(pid):
    """User + system CPU seconds of a process (Linux /proc), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def main(argv):
    days = int(argv[0]) if argv else 30
    with SimulatedMeter(config=CONFIG) as m:
        m.bench.set_load(0)
        heap0 = parse_reply(m.link.command("info"))["heap_free"]
        s0 = m.bench.stats()
        c0 = cpu_s(m._proc.pid)
        t0 = time.perf_counter()
        m.bench.advance(days * DAY)
        wall = time.perf_counter() - t0
        c1 = cpu_s(m._proc.pid)
        s1 = m.bench.stats()
        heap1 = parse_reply(m.link.command("info"))["heap_free"]
        st = parse_reply(m.link.command("status"))
    virt = (s1["now_ms"] - s0["now_ms"]) / 1000.0
    waits = s1["waits"] - s0["waits"]
    f0, f1 = s0["flash"], s1["flash"]

    def per_day(key):
        return (f1[key] - f0[key]) / days

    print("idle %d virtual days in %.2f s wall" % (days, wall))
    print("  speed               %12.0f virtual s / wall s" % (virt / wall if wall else float("inf")))
    print("  wall per virtual day %11.1f ms" % (wall * 1000.0 / days))
    if c0 is not None and c1 is not None and c1 > c0:
        cpu = c1 - c0  # the meter process alone: unaffected by other load on the machine
        print("  meter CPU           %12.2f s, %.0f virtual s / CPU s, %.1f ms per virtual day" % (
            cpu, virt / cpu, cpu * 1000.0 / days))
    print("  heap_free           %12d bytes before, %d after" % (heap0, heap1))
    print("  wake-ups            %12d total, %.1f per day, %.3f ms wall each" % (
        waits, waits / days, wall * 1000.0 / waits if waits else 0.0))
    print("  flash ops per day   %12.1f (programs %.1f, erases %.1f, reads %.1f)" % (
        per_day("ops"), per_day("programs"), per_day("erases"), per_day("reads")))
    print("  flash bytes per day %12.0f programmed, %.0f erased" % (per_day("program_bytes"), per_day("erase_bytes")))
    print("  meter clock at end  %12s (relay %s, %s)" % (st["clock"], st["relay"], st["relay_reason"]))


if __name__ == "__main__":
    main(sys.argv[1:])
