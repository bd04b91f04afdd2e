"""On the ESP32-like 32-bit build, booking energy never allocates, however high the register.

A 32-bit MicroPython keeps ints below 2**30 in the object word and puts larger ones on the heap; a
meter passes 2**30 mWh after about 1,073 kWh. The energy register and the metering service run on
the frozen 32-bit build (mp32) with their totals past 2**31 mWh: booking counts and taking the
unbilled energy run with the heap locked (any allocation raises MemoryError), and a whole poll
allocates no more than it does on a new meter. The totals read out exactly.
"""
import subprocess

import pytest

from host_tools import build

SCRIPT = r'''
import sys
import micropython
import energy
import metering

assert sys.maxsize == 2**31 - 1, "not a 32-bit build"
BIG = 2**31 + 123456  # mWh: past the 32-bit small int


class Chip:
    """A metering IC that counted 5000 counts of 1/4 mWh since the last read (no bus)."""
    NAME = "fake"
    MWH_PER_COUNT = (1, 4)
    COUNTER_MAX = 65535
    read_errors = 0
    def __init__(self):
        self.step = (5000, 2)
    def begin(self, calibration):
        return True
    def lost_configuration(self):
        return False
    def read_energy(self):
        return self.step
    def read_measurements(self, m):
        m.power_w = 3600
        m.current_ma = 15000
    def counter_state(self):
        return None
    def calibration(self):
        return {}


class Clock:
    def __init__(self):
        self.t = 0
    def ticks_ms(self):
        self.t = (self.t + 5000) & 0x3FFFFFFF
        return self.t


def run(start_mwh, polls):
    m = metering.Metering(Chip(), Clock(), 60000)
    m.restore({"import_mwh": start_mwh, "export_mwh": start_mwh // 2, "rem_import": 0, "rem_export": 0})
    m.poll()  # first poll: begin() and its allowance
    m.billed(m.unbilled_import, m.unbilled_export)
    r = m.register
    before = micropython.mem_total()
    for _ in range(polls):
        m.poll()
        di = m.unbilled_import
        de = m.unbilled_export
        m.billed(di, de)
    allocated = micropython.mem_total() - before
    micropython.heap_lock()
    try:
        for _ in range(polls):
            r.add_counts(5000, 2, 5000)
            di = m.unbilled_import
            de = m.unbilled_export
            m.billed(di, de)
            r.max_counts(5000)
            r.max_mwh(5000)
    finally:
        micropython.heap_unlock()
    return m, allocated


small, small_alloc = run(1000, 200)
big, big_alloc = run(BIG, 200)
print("alloc", small_alloc, big_alloc)
# 201 polls and 200 locked bookings of 5000 counts of 1/4 mWh = 1250 mWh each
assert big.import_mwh == BIG + 401 * 1250, big.import_mwh
assert big.export_mwh == BIG // 2 + (401 * 2) // 4, big.export_mwh
assert big.register.rem_export == (401 * 2) % 4
assert big.unbilled_import == 0 and big.unbilled_export == 0
assert big_alloc <= small_alloc, (small_alloc, big_alloc)
print("ok")
'''


@pytest.fixture(scope="module")
def mp32():
    try:
        return build.build_mp32("sim", quiet=True)
    except SystemExit as e:  # no MicroPython source here (CI has it: make test builds mp32 first)
        pytest.skip("no frozen 32-bit build: %s" % e)


def test_energy_past_2_30_mwh_books_without_allocating(mp32, tmp_path):
    script = tmp_path / "small_ints.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([str(mp32), "-X", "heapsize=96K", str(script)], capture_output=True, text=True,
                          timeout=120, env={"MICROPYPATH": ".frozen"})
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr
