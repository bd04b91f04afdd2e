"""HIL: a published tariff billed on the simulated meter to the paisa, a tariff sent ahead with
its date, and clock changes in both directions (docs/tariff.md).

Loads are whole watts for half hours, so the ATM90E26 model's 31.25 mWh counts add up exactly
and the meter's energy equals the plan to the mWh.
"""
import json
import pathlib
from datetime import datetime
from decimal import Decimal as D

import pytest

import published_tariffs as pub
from host_tools.link import MeterError
from tests.hil._helpers import advance_to, events

ROOT = pathlib.Path(__file__).resolve().parents[2]

CONFIG = ROOT / "examples" / "meter.toml"
KWH = 1_000_000
FIXED_PER_DAY = 500  # examples/meter.toml
NAMES = {"fixed charge": "fixed", "electricity duty": "duty", "prepaid rebate": "rebate"}


def delhi_config(tmp_path):
    """examples/meter.toml with DERC's domestic schedule and a 14 kW sanctioned load."""
    text = CONFIG.read_text()
    head, rest = text.split("[tariff]", 1)
    tail = rest[rest.index("[account]"):]
    text = head + "[tariff]" + pub.DELHI + "\n" + tail
    assert "sanctioned_load_w = 2000" in text
    text = text.replace("sanctioned_load_w = 2000", "sanctioned_load_w = 14000")
    p = tmp_path / "delhi.toml"
    p.write_text(text)
    return str(p)


def meter_lines(lines, period):
    out = []
    for name, basis, unit, rate, p, per in lines:
        if per == period:
            out.append(("energy" if name.startswith("energy") else NAMES.get(name, name), p))
    return sorted(out)


def calc_lines(lines):
    return sorted((n, p) for n, b, r, p in lines)


def test_delhi_month_with_a_tariff_sent_ahead(meter_factory, tmp_path):
    m = meter_factory(config=delhi_config(tmp_path))
    m.bench.set_clock(datetime(2026, 12, 1, 0, 0, 0))
    c = m.link.call("credit 1000000 D1", key=m.key)
    bal0 = c["balance_paise"]
    # the head-end sends the next tariff: pension trust surcharge 5 % from the 16th
    nxt = json.dumps(pub.toml_table(pub.DELHI_PTS5), separators=(",", ":"))
    with pytest.raises(MeterError) as e:
        m.link.call("tariff next 2026-12-16 " + nxt[:-5], key=m.key)  # broken JSON: refused
    assert e.value.code == 422
    bad = dict(pub.toml_table(pub.DELHI_PTS5), duty_base="gross")
    with pytest.raises(MeterError) as e:
        m.link.call("tariff next 2026-12-16 " + json.dumps(bad), key=m.key)
    assert e.value.code == 422 and "duty_base" in e.value.args[-1]
    r = m.link.call("tariff next 2026-12-16 " + nxt, key=m.key)
    assert r["next"]["from"] == "2026-12-16T00:00:00"
    assert r["tariff"]["name"] == "DERC domestic 2019-20"
    assert m.link.call("tariff")["next"]["tariff"]["name"] == "DERC domestic PTS 5%"

    # 18 kWh a day: 12 kW for 1.5 h each evening
    for d in range(31):
        advance_to(m, datetime(2026, 12, 1 + d, 18, 0, 0))
        m.bench.set_load(12_000)
        m.bench.advance(1.5 * 3600)
        m.bench.set_load(0)
        if d == 14:  # 15 December, 19:31: the slab the next kWh falls in, and its rate
            m.bench.advance(60)
            now = m.link.call("tariff")["now"]
            assert (now["slab"], now["paise_per_kwh"], now["month_mwh"]) == ("200-400", 450, 270 * KWH)
    advance_to(m, datetime(2027, 1, 1, 0, 0, 30))
    assert m.bench.now() == datetime(2027, 1, 1, 0, 0, 30)

    t = m.link.call("tariff")
    assert t["tariff"]["name"] == "DERC domestic PTS 5%" and t["next"] is None
    assert [e["d"] for e in events(m, "tariff_applied")] == \
        ["DERC domestic PTS 5% at 2026-12-16T00:00:00"]
    b = m.link.call("billing")
    dec = b["billing"][-1]
    assert dec["month"] == "2026-12" and dec["import_mwh"] == 558 * KWH
    assert dec["tariffs"] == [["DERC domestic 2019-20", "2026-12-01T00:00:00"],
                              ["DERC domestic PTS 5%", "2026-12-16T00:00:00"]]
    want = pub.delhi([(270 * KWH, 0), (288 * KWH, 1)], D(14), [D(15) / D(31), D(16) / D(31)],
                     pts=(D("0.038"), D("0.05")))
    assert meter_lines(dec["lines"], 0) == calc_lines(want[0])
    assert meter_lines(dec["lines"], 1) == calc_lines(want[1])
    # the account's invariant: the lines add up to the total, the total is what the balance lost
    assert sum(ln[4] for ln in dec["lines"]) == dec["total_paise"]
    bal = m.link.call("status")["balance_paise"]
    assert bal0 - bal == dec["total_paise"] + b["this_month"]["total_paise"]

    # the consumer's LCD: last month's bill, the slab now, the published rates
    m.bench.press("BACK")
    m.bench.press("MENU")
    seen = []
    for _ in range(20):
        seen.append(tuple(m.bench.lcd()))
        m.bench.press("DOWN")
    tops = [s[0].strip() for s in seen]
    assert "Tariff       1/5" in tops
    assert any(s[0].startswith("Bill") and "2026-12" in s[0] for s in seen), seen
    total = dec["total_paise"]
    rupees = "%d" % (total // 100)
    assert any(s[0].startswith("Bill") and s[1].strip().endswith(rupees[-3:] + ".%02d" % (total % 100))
               for s in seen), seen
    assert ("Slab now   0-200", "        3.00/kWh") in [(a.rstrip(), b) for a, b in seen] or \
        any(a.startswith("Slab now") and "0-200" in a for a, b in seen), seen


def test_clock_set_a_year_ahead_charges_no_skipped_days(meter_factory):
    m = meter_factory(config=str(CONFIG))
    m.bench.set_clock(datetime(2026, 12, 10, 12, 0, 0))
    m.bench.advance(86400)  # a day in service: Rs 5
    with pytest.raises(MeterError) as e:
        m.link.call("setclock 2027-12-11T12:00:00", key=m.key)
    assert e.value.code == 409 and "force" in e.value.args[-1]
    assert m.link.call("clock")["clock"].startswith("2026-12-11")
    before = m.link.call("status")["balance_paise"]
    m.link.call("setclock 2027-12-11T12:00:00 force", key=m.key)
    ev = events(m, "clock_set")[-1]
    assert ev["d"].startswith("2026-12-11T12:00") and ev["d"].endswith("-> 2027-12-11T12:00:00")
    m.bench.advance(86400)  # one more day in service
    s = m.link.call("status")
    # two days of fixed charge in all, not 366
    assert before - s["balance_paise"] <= FIXED_PER_DAY + 1
    b = m.link.call("billing")
    dec = [r for r in b["billing"] if r["month"] == "2026-12"]
    assert len(dec) == 1 and abs(dec[0]["fixed_paise"] - FIXED_PER_DAY) <= 1
    assert 86400 <= dec[0]["service_s"] <= 86400 + 120
    assert b["this_month"]["month"] == "2027-12"
    assert abs(b["this_month"]["fixed_paise"] - FIXED_PER_DAY) <= 1
    assert not [r for r in b["billing"] if "2027-01" <= r["month"] <= "2027-11"]
    days = [r["date"] for r in m.link.call("daily 60")["daily"]]
    assert not [d for d in days if "2026-12-12" <= d < "2027-12-11"]


def test_clock_set_back_40_days_reopens_nothing(meter_factory):
    m = meter_factory(config=str(CONFIG))
    m.bench.set_clock(datetime(2026, 12, 20, 12, 0, 0))
    m.link.call("credit 500000 B1", key=m.key)
    m.bench.set_load(2000)
    m.bench.advance(3600)  # 2 kWh on 20 December
    m.bench.set_load(0)
    m.bench.advance(23 * 3600)  # 21 December 12:00
    dec_before = m.link.call("billing")["this_month"]
    assert dec_before["month"] == "2026-12" and dec_before["import_mwh"] == 2 * KWH
    m.link.call("setclock 2026-11-11T12:00:00 force", key=m.key)
    b = m.link.call("billing")
    dec = b["billing"][-1]
    # December closed with what it had: 2 kWh, one day of fixed charge; nothing re-billed
    assert dec["month"] == "2026-12" and dec["import_mwh"] == 2 * KWH
    assert dec["energy_paise"] == 700 and abs(dec["fixed_paise"] - FIXED_PER_DAY) <= 1
    assert dec["total_paise"] == sum(ln[4] for ln in dec["lines"])
    assert b["this_month"]["month"] == "2026-11" and b["this_month"]["import_mwh"] == 0
    # 25 days from 11 November: 4 kWh a day. The energy goes to the days and months it was
    # used in by the new clock (19.5 days of November, then December), each month with its own
    # slabs; the fixed charge follows the days in service
    for _ in range(25):
        m.bench.set_load(2000)
        m.bench.advance(2 * 3600)
        m.bench.set_load(0)
        m.bench.advance(22 * 3600)
    recs = m.link.call("billing")["billing"]
    nov = recs[-1]
    assert nov["month"] == "2026-11"
    assert nov["import_mwh"] == 20 * 4 * KWH  # 11 Nov 12:00 .. 30 Nov: 20 evenings
    assert [ln[0] for ln in nov["lines"] if ln[0].startswith("energy")] == ["energy 0-100"]
    assert abs(nov["fixed_paise"] - (19 * FIXED_PER_DAY + FIXED_PER_DAY // 2)) <= 1
    this = m.link.call("billing")["this_month"]
    assert this["month"] == "2026-12" and this["import_mwh"] == 5 * 4 * KWH
    # the first December record is still there, unchanged
    assert [r["month"] for r in recs[-3:-1]][-1] == "2026-12"
    assert recs[-2]["total_paise"] == dec["total_paise"]
    ev = [e["d"] for e in events(m, "clock_set")]
    assert ev[-1].startswith("2026-12-21T12:00") and ev[-1].endswith("-> 2026-11-11T12:00:00")


def test_the_longest_published_tariff_goes_over_the_link_in_one_request(meter_factory):
    """KSERC's schedule (966 bytes of compact JSON, the longest here) is sent ahead with
    `tariff next` and provisioned with `provision tariff`, each one authenticated request."""
    m = meter_factory(config=str(CONFIG))
    m.bench.set_clock(datetime(2026, 12, 10, 12, 0, 0))
    table = pub.toml_table(pub.KERALA)
    text = json.dumps(table, separators=(",", ":"))
    assert len(text) > 900  # longer than the link's old 600-byte limit
    r = m.link.call("tariff next 2027-01-01 " + text, key=m.key)
    assert r["next"]["tariff"]["name"] == table["name"]
    m.link.call("tariff cancel", key=m.key)
    assert m.link.call("tariff")["next"] is None
    r = m.link.call("provision tariff " + text, key=m.key)
    assert r["section"] == "tariff"
    assert m.link.call("tariff")["tariff"]["name"] == table["name"]
    with pytest.raises(MeterError) as e:  # beyond the limit: refused whole, nothing changes
        m.link.call("provision tariff " + text + " " * 400, key=m.key)
    assert e.value.code == 413
    assert m.link.call("tariff")["tariff"]["name"] == table["name"]
