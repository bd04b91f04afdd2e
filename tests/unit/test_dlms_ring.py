"""The block load profile ring on flash (firmware/dlms/ring.py), on CPython and MicroPython."""
import os

from dlms.ring import BlockRing, SLOT

T0 = 849344400  # 2026-11-30 09:00, on a 15-minute boundary
KWH = 1000000


def fresh(name):
    root = "/tmp/dlms_ring_%s_%d" % (name, os.getpid() if hasattr(os, "getpid") else 0)
    try:
        os.mkdir(root)
    except OSError:
        for f in os.listdir(root):
            os.remove(root + "/" + f)
    return root


def run(ring, start_s, minutes, watts, kwh=0, part=0):
    """Sample once a minute as the meter does; returns the register after."""
    for k in range(minutes):
        part += watts * 60 * 1000 // 3600  # mWh per minute
        kwh += part // KWH
        part %= KWH
        ring.sample(start_s + 60 * (k + 1), kwh, part, 0, 0, 23000)
    return kwh, part


def test_blocks_hold_each_period_energy_and_survive_a_restart():
    root = fresh("a")
    r = BlockRing(root, 900)
    r.sample(T0, 5, 999000, 0, 0, 23000)  # a total past a kWh boundary
    run(r, T0, 44, 1200, 5, 999000)
    rows = list(r.rows())
    assert [t for t, _i, _e, _v in rows] == [T0 + 900, T0 + 1800]
    assert [i for _t, i, _e, _v in rows] == [300000, 300000]  # 1.2 kW for 15 minutes
    assert rows[0][3] == 23000
    again = BlockRing(root, 900)
    assert list(again.rows()) == rows and again.count == 2


def test_torn_slot_is_skipped_and_ring_wraps():
    root = fresh("b")
    r = BlockRing(root, 900, slots=32)
    run(r, T0, 15 * 40, 100)  # 40 blocks in 32 slots
    rows = list(r.rows())
    assert len(rows) == 32 and rows[-1][0] == T0 + 40 * 900
    slot = (rows[5][0] // 900) % 32
    with open(r.path, "r+b") as f:  # a power cut tore one slot
        f.seek(slot * SLOT + 5)
        f.write(b"\xaa")
    again = BlockRing(root, 900, slots=32)
    got = list(again.rows())
    assert len(got) == 31 and rows[5] not in got


def test_clock_set_back_restarts_the_block_and_a_new_period_a_new_ring():
    root = fresh("c")
    r = BlockRing(root, 900)
    run(r, T0, 20, 1000)
    r.sample(T0 - 3600, 0, 400000, 0, 0, 23000)  # clock set back an hour
    run(r, T0 - 3600, 16, 1000, 0, 400000)
    assert [t for t, *_ in r.rows()] == [T0 - 2700, T0 + 900]  # time order
    r30 = BlockRing(root, 1800)
    assert list(r30.rows()) == [] and "blp900.bin" not in os.listdir(root)
