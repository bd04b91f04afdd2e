"""The memory budget, on the ESP32-like build: the firmware frozen into 32-bit MicroPython (mp32).

The heap is the harness's ESP32 heap for mp32 (136K): the simulated board's share (`heap_sim`,
~26 KB) and the ~110 KB a plain ESP32-WROOM-32 leaves the firmware. (The aim is 64 KB; a month's
end measured ~65.5 KB: docs/esp32-image.md.)

Over a busy simulated month (load changing every day, head-end credits, keypad credit tokens, a
management token, power cuts with and without warning, and every read-out at its largest: `daily
60`, `events 50`, `billing`) and two quiet weeks after it, sampled after every action:
- the firmware's own heap in use (`heap_used - heap_sim`, live objects) stays within 68 KB;
- the largest free block (`heap_largest_free`) never falls below 8 KB;
- no MemoryError anywhere: no ERR 413 for want of memory, no internal_error event, nothing in the
  simulator's log, no crash.
"""
import pathlib

import pytest

from host_tools import provisioning
from host_tools import sts as hsts
from host_tools.hil.bench import to_seconds
from host_tools.hil.sim import DEFAULT_HEAP
from host_tools.link import parse_reply
from tests.hil._helpers import enter

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "examples" / "meter.toml")
KEY = provisioning.load(CONFIG).sts_key
HEAP = DEFAULT_HEAP["mp32"]
FIRMWARE_BUDGET = 68 * 1024  # bytes of live firmware objects, at most
LARGEST_FREE_MIN = 8 * 1024  # bytes, at least
DAYS = 30  # busy days; then quiet ones, past the 40 days of daily records the meter keeps
QUIET_DAYS = 15  # so `daily 60` returns all it can
LOADS_W = (300, 1800, 800, 1500, 0, 1200)
HOUR = 3600
DAY = 24 * HOUR


class Budget:
    def __init__(self, m):
        self.m = m
        self.samples = []  # (when, firmware bytes in use, largest free block)

    def sample(self, when):
        info = parse_reply(self.m.link.command("info"))
        used = info["heap_used"] - info["heap_sim"]
        self.samples.append((when, used, info["heap_largest_free"]))
        return info

    def read(self, line):
        reply = self.m.link.command(line, timeout=30)
        assert reply.startswith("OK "), "%s: %s" % (line, reply[:200])
        self.sample(line)
        return parse_reply(reply)


def read_outs(b, seen):
    """Every read-out at its largest."""
    daily = b.read("daily 60")
    events = b.read("events 50")
    seen.update(e["code"] for e in events["events"])
    b.read("billing")
    b.read("account")
    b.read("status")
    return daily, events


def test_a_busy_month_fits_the_heap_budget_on_the_32_bit_build(meter_factory, hil_target):
    if hil_target != "sim":
        pytest.skip("the heap budget is measured on the simulated board's 32-bit build (mp32)")
    m = meter_factory(config=CONFIG, interpreter="mp32", heap=HEAP)
    b = Budget(m)
    info = b.sample("boot")
    assert info["heap_sim"] > 0  # the simulated hardware's share is told apart
    m.link.call("credit 300000 BUDGET-0", key=m.key)
    tokens = 0
    seen = set()  # every event code logged over the month
    for day in range(DAYS):
        # the household's day: a load for a while each morning and evening, idle otherwise
        m.bench.set_load(LOADS_W[day % len(LOADS_W)])
        m.bench.advance(20 * 60)
        m.bench.set_load(0)
        m.bench.advance(11 * HOUR)
        m.bench.set_load(LOADS_W[(day + 3) % len(LOADS_W)])
        m.bench.advance(20 * 60)
        b.sample("day %d load" % day)
        if day % 3 != 1:
            m.link.call("credit %d BUDGET-%d" % (20000 + day, day + 1), key=m.key)
            b.sample("day %d credit" % day)
        if day % 5 == 1:
            shown = enter(m, hsts.vend_credit(KEY, 100 + day, to_seconds(m.bench.now())))
            assert shown.startswith("Credit accepted"), shown
            tokens += 1
            b.sample("day %d token" % day)
        if day == 11:
            m.bench.advance(120)  # a token's id is its issue minute: not the credit token's
            shown = enter(m, hsts.vend_management(KEY, "set_max_power", to_seconds(m.bench.now()), 2500))
            assert shown == "Token accepted / Done", shown
            b.sample("day %d management token" % day)
        if day % 7 == 3:  # the head-end disconnects and reconnects (four events: `events 50` fills)
            m.link.call("relay open", key=m.key)
            m.bench.advance(60)
            m.link.call("relay auto", key=m.key)
            b.sample("day %d remote relay" % day)
        if day % 10 == 6:
            m.bench.power_cut(warning=True)
            m.bench.power_restore()
            b.sample("day %d cut with warning" % day)
        if day % 10 == 8:
            m.bench.power_cut(warning=False)
            m.bench.power_restore()
            b.sample("day %d cut without warning" % day)
        m.bench.set_load(0)
        m.bench.advance(12 * HOUR)
        read_outs(b, seen)
    for day in range(QUIET_DAYS):
        m.bench.advance(DAY)
    daily, events = read_outs(b, seen)

    worst_used = max(b.samples, key=lambda s: s[1])
    worst_free = min(b.samples, key=lambda s: s[2])
    print("firmware heap in use: peak %d bytes (%s); largest free block: least %d bytes (%s); %d samples" % (
        worst_used[1], worst_used[0], worst_free[2], worst_free[0], len(b.samples)))
    assert worst_used[1] <= FIRMWARE_BUDGET, worst_used
    assert worst_free[2] >= LARGEST_FREE_MIN, worst_free
    assert tokens >= 6
    assert len(daily["daily"]) >= 40 and len(events["events"]) == 50
    assert len(b.read("billing")["billing"]) >= 1

    assert "internal_error" not in seen, seen
    assert {"token_accepted", "boot"} <= seen
    log = (pathlib.Path(m.state_dir) / "meter.log").read_text(errors="replace")
    assert "MemoryError" not in log, log[-2000:]
    assert 1 not in m.exits  # never crashed (1 = firmware crash; the cuts are -9 and 5)
