"""The simulated board behaves like the physical one across power cuts: a latching relay keeps
its contacts where they were, and the household's appliances are still on when mains returns."""
import pathlib

import pytest

CONFIG = str(pathlib.Path(__file__).resolve().parents[2] / "examples" / "meter.toml")


@pytest.fixture
def pm(meter_factory, hil_target):
    if hil_target != "sim":
        pytest.skip("checks the simulated board's own physics")
    return meter_factory(config=CONFIG)


def _count(m, code):
    return sum(1 for e in m.link.call("events 50")["events"] if e["code"] == code)


def test_latching_relay_keeps_its_contacts_open_across_a_power_cut(pm):
    m = pm
    m.link.call("relay open", key=m.key)
    m.bench.advance(2)
    assert not m.bench.relay_closed()
    opened = _count(m, "relay_open")
    for warning in (True, False):
        m.bench.power_cut(warning=warning)
        m.bench.advance(600)
        m.bench.power_restore()
        # the contacts never closed: the meter found them open and had nothing to move
        assert not m.bench.relay_closed()
        m.bench.advance(5)
        assert not m.bench.relay_closed()
        assert _count(m, "relay_open") == opened
        assert _count(m, "relay_closed") == 0
    m.link.call("relay auto", key=m.key)
    m.bench.advance(2)
    assert m.bench.relay_closed()


def test_latching_relay_stays_closed_across_a_power_cut(pm):
    m = pm
    assert m.bench.relay_closed()
    m.bench.power_cut()
    m.bench.power_restore()
    m.bench.advance(5)
    assert m.bench.relay_closed()
    assert _count(m, "relay_open") == 0 and _count(m, "relay_closed") == 0


def test_the_load_is_still_on_after_mains_returns(pm):
    m = pm
    m.link.call("credit 100000 T-load", key=m.key)
    m.bench.set_load(1500)
    m.bench.advance(30)
    assert abs(m.link.call("status")["power_w"] - 1500) <= 15
    m.bench.power_cut()
    m.bench.advance(60)
    m.bench.power_restore()
    m.bench.advance(30)
    assert abs(m.link.call("status")["power_w"] - 1500) <= 15
    m.reset()  # a reset of the MCU does not switch the household's appliances off either
    m.bench.advance(30)
    assert abs(m.link.call("status")["power_w"] - 1500) <= 15
