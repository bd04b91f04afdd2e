"""Real published domestic schedules billed by the meter's account, line by line, against an
independent calculation from each order's text (tests/published_tariffs.py).

Each schedule is provisioned as a technician would write it, then months of low, middle and
high consumption are metered in uneven ticks across a month boundary, with tariff changes in the
middle of a month; every bill line must equal the independent line to the paisa, the lines must
add up to the month's total and the total to what the balance lost.
"""
import random
from decimal import Decimal as D

import pytest

import civiltime as ct
from account import Account
from tariff import Tariff
import published_tariffs as pub

KWH = 1000000
DAY = 86400
NAMES = {"fixed charge": "fixed", "electricity duty": "duty", "prepaid rebate": "rebate"}


def tariff(text):
    return Tariff.from_config(pub.toml_table(text))


def meter_lines(lines, period=None):
    """(name, paise) of the meter's lines, energy lines named "energy", sorted."""
    out = []
    for name, basis, unit, rate, p, per in lines:
        if period is not None and per != period:
            continue
        if name.startswith("energy"):
            name = "energy"
        out.append((NAMES.get(name, name), p))
    return sorted(out)


def calc_lines(lines):
    return sorted((n, p) for n, b, r, p in lines)


def run_month(acct, start, mwh, rng, ticks=400):
    """Meter mwh spread over the month that starts at `start` in `ticks` uneven increments at
    random times, then let the month close. Returns the balance lost over the month."""
    end = ct.next_month_start(start)
    times = sorted(rng.randrange(start, end) for _ in range(ticks))
    cuts = sorted(rng.randrange(0, mwh + 1) for _ in range(ticks - 1)) if mwh else [0] * (ticks - 1)
    amounts = [b - a for a, b in zip([0] + cuts, cuts + [mwh])]
    before = acct.balance_paise
    acct.tick(start)
    for t, m in zip(times, amounts):
        acct.consume(m, t)
    acct.tick(end)
    return before - acct.balance_paise


def check_record(rec, lost):
    """The month's lines add up to its total, the total is what the balance lost."""
    assert sum(ln[4] for ln in rec["lines"]) == rec["total_paise"] == lost


@pytest.mark.parametrize("kwh", [38, 97, 180, 230, 250, 250.001, 320, 475, 612])
def test_kerala_months(kwh):
    rng = random.Random(kwh)
    a = Account(tariff(pub.KERALA))
    start = ct.seconds(2024, 10, 1)
    a.tick(start)
    # not whole kWh, except at the 250 kWh edge (250 telescopic, 250.001 non-telescopic)
    mwh = int(kwh * KWH) if kwh in (250, 250.001) else kwh * KWH + rng.randrange(0, KWH)
    lost = run_month(a, start, mwh, rng)
    rec = a.billing_records()[-1]
    assert rec["month"] == "2024-10" and rec["import_mwh"] == mwh
    assert meter_lines(rec["lines"]) == calc_lines(pub.kerala(mwh))
    check_record(rec, lost)


@pytest.mark.parametrize("kwh", [120, 350, 900, 1500])
def test_delhi_months(kwh):
    rng = random.Random(kwh)
    a = Account(tariff(pub.DELHI), load_w=3500)  # 3.5 kW: billed as 4 kW
    start = ct.seconds(2019, 9, 1)
    a.tick(start)
    mwh = kwh * KWH + rng.randrange(0, KWH)
    lost = run_month(a, start, mwh, rng)
    rec = a.billing_records()[-1]
    assert meter_lines(rec["lines"]) == calc_lines(pub.delhi([(mwh, 0)], D("3.5"), [D(1)])[0])
    check_record(rec, lost)


@pytest.mark.parametrize("kwh", [60, 100, 101, 280, 420, 800])
def test_haryana_months(kwh):
    rng = random.Random(kwh)
    a = Account(tariff(pub.HARYANA), load_w=5000)
    start = ct.seconds(2025, 4, 1)
    a.tick(start)
    mwh = kwh * KWH if kwh in (100, 101) else kwh * KWH + rng.randrange(0, KWH)
    lost = run_month(a, start, mwh, rng)
    rec = a.billing_records()[-1]
    assert meter_lines(rec["lines"]) == calc_lines(pub.haryana(mwh, D(5)))
    check_record(rec, lost)


@pytest.mark.parametrize("kwh", [45, 150, 400])
def test_bihar_months(kwh):
    rng = random.Random(kwh)
    a = Account(tariff(pub.BIHAR), load_w=2000)
    start = ct.seconds(2025, 4, 1)
    a.tick(start)
    mwh = kwh * KWH + rng.randrange(0, KWH)
    lost = run_month(a, start, mwh, rng)
    rec = a.billing_records()[-1]
    assert meter_lines(rec["lines"]) == calc_lines(pub.bihar(mwh, D(2)))
    check_record(rec, lost)


def test_several_months_in_a_row_and_a_short_first_month():
    """Service starts on 10 February 2025 at noon: February's fixed charge is 18.5 of 28 days;
    then March and April in full. Balance lost each month = the month's total."""
    rng = random.Random(7)
    a = Account(tariff(pub.HARYANA), load_w=4200)  # billed as 5 kW
    start = ct.seconds(2025, 2, 10, 12)
    a.tick(start)
    bal = a.balance_paise
    for mwh in (350 * KWH + 17, 90 * KWH, 610 * KWH + 999999):
        t = start
        end = ct.next_month_start(ct.month_start(start + 1))
        for i in range(300):
            a.consume(mwh // 300 + (mwh % 300 if i == 299 else 0), rng.randrange(t, end))
            t = max(t, a._t)
        a.tick(end)
        rec = a.billing_records()[-1]
        frac = D(end - start) / D(end - ct.month_start(start))
        assert meter_lines(rec["lines"]) == calc_lines(pub.haryana(mwh, D("4.2"), frac)), \
            rec["month"]
        assert rec["total_paise"] == bal - a.balance_paise
        bal = a.balance_paise
        start = end
    assert [r["month"] for r in a.billing_records()] == ["2025-02", "2025-03", "2025-04"]
    assert a.billing_records()[0]["service_s"] == 18 * DAY + 12 * 3600


def test_delhi_mid_month_change_keeps_the_slab_position():
    """The pension trust surcharge goes from 3.80 % to 5 % on the 16th (a test date; DERC's
    change was from 1 September 2020): kWh used before are billed with the old tariff, after
    with the new, and the month's slab position carries over the change."""
    a = Account(tariff(pub.DELHI), load_w=4000)
    start = ct.seconds(2020, 9, 1)
    change = ct.seconds(2020, 9, 16)
    end = ct.seconds(2020, 10, 1)
    a.tick(start)
    a.schedule(tariff(pub.DELHI_PTS5), change)
    before = a.balance_paise
    first = 310 * KWH + 123456  # in slab 2 by the 16th
    second = 250 * KWH + 654321  # crosses into slab 3 (above 400 kWh) after the change
    for i in range(150):
        a.consume(first // 150 + (first % 150 if i == 149 else 0), start + i * 8000)
    assert a.tariff.name == "DERC domestic 2019-20"
    for i in range(120):
        a.consume(second // 120 + (second % 120 if i == 119 else 0), change + 60 + i * 10000)
    assert a.tariff.name == "DERC domestic PTS 5%"
    a.tick(end)
    rec = a.billing_records()[-1]
    assert [n for n, _ in rec["tariffs"]] == ["DERC domestic 2019-20", "DERC domestic PTS 5%"]
    assert rec["tariffs"][1][1] == "2020-09-16T00:00:00"
    want = pub.delhi([(first, 0), (second, 1)], D(4), [D(15) / D(30), D(15) / D(30)],
                     pts=(D("0.038"), D("0.05")))
    assert meter_lines(rec["lines"], 0) == calc_lines(want[0])
    assert meter_lines(rec["lines"], 1) == calc_lines(want[1])
    check_record(rec, before - a.balance_paise)


def test_kerala_mid_month_change_across_250_kwh():
    """A non-telescopic month priced with two tariffs: the category (here the non-telescopic
    one, above 250 kWh) follows the month's whole consumption, each period its own rates."""
    a = Account(tariff(pub.KERALA))
    start = ct.seconds(2024, 11, 1)
    a.tick(start)
    cheaper = pub.KERALA.replace("paise_per_kwh = 640", "paise_per_kwh = 600").replace(
        '"KSERC LT-I 1ph 2023"', '"test change"')
    a.consume(200 * KWH, start + 3 * DAY)
    a.set_tariff(tariff(cheaper), start + 10 * DAY)
    a.consume(80 * KWH, start + 12 * DAY)
    a.tick(ct.seconds(2024, 12, 1))
    rec = a.billing_records()[-1]
    energy = [(ln[0], ln[1], ln[3], ln[4], ln[5]) for ln in rec["lines"] if ln[0].startswith("energy")]
    # all 280 kWh at the 0-300 slab rate of the tariff in force when they were used
    assert energy == [("energy 0-300", 200 * KWH, 640, 128000, 0), ("energy 0-300", 80 * KWH, 600, 48000, 1)]
    fixed = [ln[4] for ln in rec["lines"] if ln[0] == "fixed charge"]
    assert fixed == [5000, 10000]  # Rs 150 x 10/30 and x 20/30


def test_lifeline_category_by_load_and_consumption():
    """UP-style lifeline: at most 1 kW sanctioned and at most 100 kWh in the month."""
    cfg = {"categories": [
        {"name": "lifeline", "upto_kwh": 100, "max_load_w": 1000,
         "slabs": [{"paise_per_kwh": 300}], "fixed_paise_per_kw_month": 5000},
        {"name": "domestic", "slabs": [{"upto_kwh": 150, "paise_per_kwh": 550},
                                       {"paise_per_kwh": 600}],
         "fixed_paise_per_kw_month": 11000}]}
    t = Tariff.from_config(cfg)
    for load, kwh, want in ((1000, 90, (27000, 5000)), (1000, 101, (55550, 11000)),
                            (2000, 90, (49500, 22000))):
        a = Account(t, load_w=load)
        a.tick(ct.seconds(2025, 6, 1))
        a.consume(kwh * KWH, ct.seconds(2025, 6, 5))
        a.tick(ct.seconds(2025, 7, 1))
        rec = a.billing_records()[-1]
        assert (rec["energy_paise"], rec["fixed_paise"]) == want, (load, kwh)


def test_minimum_charge_and_rupee_rounding():
    cfg = {"slabs": [{"paise_per_kwh": 333}], "minimum_paise_per_month": 10000,
           "round_total_to_rupee": True, "duty_percent": "7.5"}
    a = Account(Tariff.from_config(cfg))
    a.tick(ct.seconds(2025, 6, 1))
    a.consume(10 * KWH + 500000, ct.seconds(2025, 6, 2))  # 34.97 energy
    a.tick(ct.seconds(2025, 7, 1))
    rec = a.billing_records()[-1]
    lines = [(ln[0], ln[4]) for ln in rec["lines"]]
    # energy 3496.5 -> 3497; duty 7.5 % = 262.275 -> 262; minimum Rs 100 -> 6503 more;
    # total 10262 -> Rs 103 (10300): 38 paise rounding
    assert lines == [("energy all", 3497), ("electricity duty", 262), ("minimum charge", 6503),
                     ("rounding to rupee", 38)]
    assert rec["total_paise"] == 10300 == -a.balance_paise


@pytest.mark.parametrize("text, start, kwh, load_w, want", [
    (pub.KERALA, (2024, 10, 1), 280, 0, [179200, 15000, 2800, 2520, 17920]),
    (pub.KERALA, (2024, 10, 1), 120, 0, [16250, 20250, 10200, 8500, 1200, 1080, 4670]),
    (pub.DELHI, (2019, 9, 1), 450, 3500, [60000, 90000, 32500, 20000, 16200, 7695, 10125]),
    (pub.HARYANA, (2025, 4, 1), 320, 5000, [44250, 78750, 12900, -6795, 25000, 3200]),
])
def test_docs_worked_examples(text, start, kwh, load_w, want):
    """docs/tariff.md's three worked examples: the meter's lines, in the order the doc lists
    them, 30 daily increments over a whole month."""
    a = Account(tariff(text), load_w=load_w)
    s = ct.seconds(*start)
    a.tick(s)
    for i in range(30):
        a.consume(kwh * KWH // 30 + (kwh * KWH % 30 if i == 29 else 0), s + i * DAY + 3600)
    a.tick(ct.next_month_start(s))
    rec = a.billing_records()[-1]
    assert [ln[4] for ln in rec["lines"]] == want
    assert rec["total_paise"] == sum(want) == -a.balance_paise
