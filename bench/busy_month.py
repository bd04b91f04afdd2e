"""Speed of the simulated meter on a busy month, beside the idle one: virtual seconds per wall
second, the wall cost of one loaded poll, and the virtual time from a token's ENTER to the relay
closing, with the machine it ran on (`make bench`; `python -m bench.busy_month [days]`).

Figures only, no pass/fail. The month is bench/busy_month.toml run through host_tools/scenario.py:
a daily load curve (the meter polls its chip every 5 s whenever any load is on), link credits,
keypad tokens, power cuts with and without warning, the largest read-outs.
"""
import datetime
import os
import pathlib
import platform
import sys
import time

from host_tools import scenario
from host_tools.hil import SimulatedMeter

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "examples" / "meter.toml")


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, load average %.1f" % (cpu, os.cpu_count() or 0, os.getloadavg()[0])


def busy(days):
    sc = scenario.Scenario(ROOT / "bench" / "busy_month.toml")
    if days != 30:
        sc.seconds = days * 86400
        sc.actions = [a for a in sc.actions if (a[0] - sc.start).total_seconds() <= sc.seconds]
        sc.end = sc.start + datetime.timedelta(seconds=sc.seconds)
    run = scenario.Run(sc)
    t0 = time.perf_counter()
    run.run()
    return sc.seconds, time.perf_counter() - t0, run.summary


def one_loaded_hour():
    """Wall seconds for an hour with a load on (720 polls) and an idle hour (60 polls)."""
    with SimulatedMeter(config=CONFIG) as m:
        m.link.call("credit 100000 B1", key=m.key)
        m.bench.set_load(1000)
        m.bench.advance(60)
        t0 = time.perf_counter()
        m.bench.advance(3600)
        loaded = time.perf_counter() - t0
        m.bench.set_load(0)
        m.bench.advance(120)
        t0 = time.perf_counter()
        m.bench.advance(3600)
        idle = time.perf_counter() - t0
        return loaded, idle


def token_to_relay():
    """Virtual seconds from the ENTER of a recharge token to the relay closing, on a cut meter."""
    from host_tools import provisioning
    from host_tools import sts as hsts
    from host_tools.hil.bench import to_seconds

    key = provisioning.load(CONFIG).sts_key
    with SimulatedMeter(config=CONFIG) as m:
        m.bench.advance(26 * 3600)  # no credit: cut in Tuesday's window
        token = hsts.vend_credit(key, 500, to_seconds(m.bench.now()), rnd=0)
        m.bench.type_keys(token)
        t_enter = m.bench.stats()["now_ms"]
        m.bench.press("ENTER")  # held 0.12 s: the keypad reports the key when it is released
        for _ in range(100):
            if m.bench.relay_closed():
                return (m.bench.stats()["now_ms"] - t_enter) / 1000.0
            m.bench.advance(0.01)
    return None


def main(argv):
    days = int(argv[0]) if argv else 30
    print("machine: %s" % machine())
    loaded, idle = one_loaded_hour()
    secs, wall, s = busy(days)
    enter_to_relay = token_to_relay()
    rows = [
        ("busy %d days: virtual s / wall s" % days, "%.0f" % (secs / wall)),
        ("busy %d days: wall time" % days, "%.1f s" % wall),
        ("busy month: energy, balance", "%.1f kWh, Rs %.2f" % (s["energy_import_mwh"] / 1e6, s["balance_paise"] / 100)),
        ("loaded hour (720 polls): virtual s / wall s", "%.0f" % (3600 / loaded)),
        ("one loaded poll (5 s of virtual time)", "%.2f ms wall" % (loaded * 1000 / 720)),
        ("idle hour (60 polls): virtual s / wall s", "%.0f" % (3600 / idle)),
        ("token ENTER to relay closed", "%.2f s virtual" % enter_to_relay if enter_to_relay is not None else "never"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print("  %-*s  %s" % (width, name, value))


if __name__ == "__main__":
    main(sys.argv[1:])
