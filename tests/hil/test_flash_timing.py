"""HIL: power cuts against the flash chip's real timing (simulated board, examples/meter.toml).

The simulated SPI NOR takes the W25Q32FV datasheet's times (boards/sim/models/flash.py): a page
program 0.7 ms typical / 3 ms worst case, a 4 KB sector erase 45 ms / 400 ms. After the
mains-sense warning the supply holds for 40 ms, less than one sector erase. The meter's
last-gasp save is one page program into the power-fail journal, erased in advance
(firmware/store.py PageJournal); the full littlefs save that follows is usually cut. Without a
warning, the journal written every minute bounds the loss.
"""
import pytest

import meter as fw_meter  # firmware/meter.py (tests/conftest.py puts firmware/ on the path)
import metering as fw_metering
from tests.hil._helpers import codes

CONFIG = "examples/meter.toml"
LSB_MWH = 31.25  # one ATM90E26 energy count on the simulated front end
HOLDUP_MWH_2KW = 2000 * 0.05 / 3.6  # the 40 ms hold-up's own energy at 2 kW, rounded up to 50 ms
MINUTE_S = (fw_meter.JOURNAL_PERIOD_MS + fw_metering.LOADED_POLL_MS) / 1000


def energy(m):
    return m.link.call("status")["energy_import_mwh"]


@pytest.mark.parametrize("offset_s", [0, 17, 200, 601])
def test_cut_with_warning_at_worst_case_flash_timing_loses_nothing(meter_factory, offset_s):
    m = meter_factory(config=CONFIG)
    assert m.bench.flash_timing("worst")["sector_erase_us"] == 400000
    m.bench.set_load(2000)
    m.bench.advance(2 * fw_meter.SAVE_PERIOD_MS / 1000 + offset_s)  # at or after a periodic save
    before = energy(m)
    truth = m.bench.truth()[0]
    m.bench.power_cut(warning=True)
    m.bench.advance(120)
    m.bench.power_restore()
    after = energy(m)
    assert before <= after <= truth + HOLDUP_MWH_2KW + LSB_MWH, (before, after, truth)
    if offset_s:
        assert truth - after <= LSB_MWH, (truth, after)  # nothing the chip had counted is lost
    else:  # the warning came while the periodic save's erase (400 ms) blocked the CPU: the
        # journal record written before that save has what was booked (up to the last poll, 5 s
        # before); the counts since die with the chip. Known limit, docs/persistence.md.
        assert truth - after <= 2000 * (5 + 0.45) / 3.6 + LSB_MWH, (truth, after)
    ev = codes(m, 10)
    # the littlefs save needs a 400 ms erase: the supply was gone first, and the energy came
    # back from the journal
    assert "energy_recovered" in ev and "power_fail" not in ev, ev


def test_the_littlefs_save_alone_would_not_fit_the_hold_up(meter_factory):
    """What the journal is for: at worst-case timing one record save costs more than 40 ms."""
    m = meter_factory(config=CONFIG)
    m.bench.flash_timing("worst")
    before = m.bench.stats()
    m.link.call("credit 1000 T-busy", key=m.key)  # one commit of the meter record
    after = m.bench.stats()
    assert after["flash"]["busy_ms"] - before["flash"]["busy_ms"] > 40


@pytest.mark.parametrize("after_s", [5, 31, 59, 61, 119, 300, 899])
def test_cut_without_warning_loses_at_most_one_minute_of_energy(meter_factory, after_s):
    m = meter_factory(config=CONFIG)
    m.bench.set_load(2000)
    m.bench.advance(fw_meter.SAVE_PERIOD_MS / 1000 + after_s)  # that long after a periodic save
    truth = m.bench.truth()[0]
    m.bench.power_cut(warning=False)
    m.bench.advance(60)
    m.bench.power_restore()
    after = energy(m)
    assert after <= truth + LSB_MWH
    assert truth - after <= 2000 * MINUTE_S / 3.6 + LSB_MWH, (after_s, truth, after)
