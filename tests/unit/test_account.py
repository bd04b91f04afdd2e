import json

import civiltime as ct
from _check import raises
from account import Account, AccountError, KINDS, TAIL_KEEP, DAILY_KEEP, BILLING_KEEP
from tariff import Tariff

KWH = 1000000
DAY = 86400

SAMPLE = {  # type: dict
    "slabs": [{"upto_kwh": 100, "paise_per_kwh": 350}, {"upto_kwh": 200, "paise_per_kwh": 450},
              {"upto_kwh": 300, "paise_per_kwh": 550}, {"paise_per_kwh": 650}],
    "fixed_paise_per_day": 500,
    "duty_percent": 5,
}
APR1 = ct.seconds(2026, 4, 1)
MAY1 = ct.seconds(2026, 5, 1)


def tariff(**over):
    cfg = dict(SAMPLE)
    cfg.update(over)
    return Tariff.from_config(cfg)


def check_ledger(a):
    """Totals sum to the balance; the tail chains; the last entry shows the balance."""
    s = a.ledger_summary()
    total = 0
    for k in KINDS:
        total += s[k]
    assert total == a.balance_paise, (total, a.balance_paise)
    tail = a.ledger_tail()
    for i in range(1, len(tail)):
        assert tail[i]["balance"] == tail[i - 1]["balance"] + tail[i]["amount"], tail
    if tail:
        assert tail[-1]["balance"] == a.balance_paise


def test_slab_boundary_exact():
    a = Account(tariff(fixed_paise_per_day=0, duty_percent=0))
    t = APR1 + 3600
    # each slab line is rounded half-up: 34999.99965 paise is 35000 already
    assert a.consume(100 * KWH - 1, t) == 35000
    assert a.consume(1, t) == 0  # exactly 100 kWh: 35000
    assert a.consume(1, t) == 0  # first mWh of slab 2: 0.00045 paise -> 0
    assert a.current_month()["slabs"][0] == [100 * KWH, 35000]
    assert a.current_month()["slabs"][1] == [1, 0]
    assert a.consume(1111, t) == 1  # 1112 mWh at 4.50: 0.50040 paise -> 1
    assert a.balance_paise == -35001
    check_ledger(a)


def test_one_mwh_ticks_sum_exactly():
    a = Account(tariff(fixed_paise_per_day=0))
    t = APR1 + 100
    for _ in range(20000):
        a.consume(1, t)
    # 20000 mWh * 350 = 7 paise exactly; duty 5 % of 7 = 0.35 -> 0
    m = a.current_month()
    assert m["energy_paise"] == 7 and m["duty_paise"] == 0
    for _ in range(40000):
        a.consume(1, t)
    m = a.current_month()
    assert m["energy_paise"] == 21 and m["duty_paise"] == 1  # 1.05
    assert a.balance_paise == -22
    check_ledger(a)


def test_one_big_increment_across_all_slabs():
    a = Account(tariff(fixed_paise_per_day=0))
    # 35000 + 45000 + 55000 + 32500 + 80.2464 = 167580.2464 paise, duty 8379.01232
    assert a.consume(350 * KWH + 123456, APR1 + 5) == 167580 + 8379
    m = a.current_month()
    assert [s[0] for s in m["slabs"]] == [100 * KWH, 100 * KWH, 100 * KWH, 50 * KWH + 123456]
    # energy 167580.2464 -> 167580; duty 5 % of the exact energy 8379.01232 -> 8379
    assert m["energy_paise"] == 167580 and m["duty_paise"] == 8379


def test_duty_on_exact_energy_not_on_rounded_parts():
    a = Account(tariff(fixed_paise_per_day=0, duty_percent="7.5"))
    t = APR1 + 10
    for _ in range(1000):
        a.consume(2857, t)  # 0.99995 paise each
    # the energy line 999.95 paise -> 1000; duty is 7.5 % of the line: 75
    m = a.current_month()
    assert m["energy_paise"] == 1000 and m["duty_paise"] == 75
    assert a.balance_paise == -1075


def test_tod_rates():
    a = Account(tariff(fixed_paise_per_day=0, duty_percent=0,
                       tod=[{"from": "18:00", "to": "22:00", "percent": 120},
                            {"from": "22:00", "to": "06:00", "percent": 80}]))
    a.consume(KWH, APR1 + 19 * 3600)  # 3.50 * 1.2 = 4.20
    a.consume(KWH, APR1 + 23 * 3600)  # 3.50 * 0.8 = 2.80
    a.consume(KWH, APR1 + 12 * 3600)  # 3.50
    assert a.balance_paise == -(420 + 280 + 350)
    m = a.current_month()
    assert m["slabs"][0] == [3 * KWH, 1050]  # published rate; ToD is its own line
    assert m["energy_paise"] == 1050
    assert [ln[0] for ln in m["lines"]] == ["energy 0-100"]  # ToD +70 - 70: no line
    # an increment straddling a slab boundary inside a window: both parts at 120 %
    a.consume(96 * KWH, APR1 + 12 * 3600)
    before = a.balance_paise
    a.consume(2 * KWH, APR1 + 20 * 3600)
    assert before - a.balance_paise == (350 + 450) * 120 // 100
    m = a.current_month()
    assert m["slabs"][1] == [KWH, 450]
    assert m["lines"][-1] == ["time of day", 4 * KWH, "kWh", 0, 160, 0]  # 70 - 70 + 70 + 90


def test_day_rollover_fixed_and_daily_record():
    a = Account(tariff())
    a.credit(100000, APR1 + 60, "token", "T1")
    a.consume(8 * KWH, APR1 + 3600)  # 2800 + 140 duty
    a.record_export(500000, APR1 + 7200)
    assert a.daily_records() == []
    a.tick(APR1 + DAY)  # midnight: fixed 500 for 1 April
    recs = a.daily_records()
    assert len(recs) == 1
    r = recs[0]
    assert r == {"date": "2026-04-01", "import_mwh": 8 * KWH, "export_mwh": 500000,
                 "energy_paise": 2800, "fixed_paise": 500, "duty_paise": 140,
                 "credit_paise": 100000, "balance_paise": 100000 - 3440, "other_paise": 0}
    tail = a.ledger_tail()
    # the fixed charge accrues by the second from the first time seen (00:01): 499.65 -> 500
    assert [e["kind"] for e in tail] == ["credit", "energy", "fixed", "duty"]
    assert tail[2]["time"] == APR1 + DAY and tail[2]["amount"] == -500
    assert tail[0]["ref"] == "token:T1"
    check_ledger(a)
    # a gap of three days: a fixed charge and a record for each
    a.consume(KWH, APR1 + 4 * DAY + 100)
    assert [r["date"] for r in a.daily_records()] == \
        ["2026-04-01", "2026-04-02", "2026-04-03", "2026-04-04"]
    assert a.daily_records()[-1]["fixed_paise"] == 500
    assert a.current_day()["import_mwh"] == KWH
    assert a.current_day()["date"] == "2026-04-05"


def test_clock_going_back_stays_in_open_day():
    a = Account(tariff())
    a.tick(APR1 + 2 * DAY + 10)
    a.consume(KWH, APR1 + DAY)  # earlier day: charged into the open day, nothing re-rolled
    assert a.daily_records() == []
    assert a.current_day()["date"] == "2026-04-03"
    assert a.current_day()["import_mwh"] == KWH


def test_month_rollover_resets_slabs_and_remainder():
    a = Account(tariff(fixed_paise_per_day=0, duty_percent=0))
    t = ct.seconds(2026, 4, 30, 12)
    a.consume(150 * KWH + 1, t)  # 35000 + 22500 + 0.00045
    a.record_export(7, t)
    a.consume(KWH, MAY1 + 60)  # new month: back in slab 1
    b = a.billing_records()
    assert len(b) == 1
    assert b[0]["month"] == "2026-04"
    assert b[0]["import_mwh"] == 150 * KWH + 1 and b[0]["export_mwh"] == 7
    assert b[0]["energy_paise"] == 57500
    assert b[0]["slabs"] == [[100 * KWH, 35000], [50 * KWH + 1, 22500]]
    assert b[0]["total_paise"] == 57500
    m = a.current_month()
    assert m["month"] == "2026-05" and m["energy_paise"] == 350
    assert m["slabs"][0] == [KWH, 350]
    assert a.balance_paise == -(57500 + 350)


def test_credit_split_and_emergency_order():
    a = Account(tariff(), arrears_paise=200000, recovery_percent=25, arrears_cap_paise=20000,
                emergency_credit_paise=5000)
    r = a.take_emergency(APR1 + 10)
    assert r == {"granted": 5000, "balance": 5000, "owed": 5000}
    assert a.emergency_active
    with raises(AccountError) as e:
        a.take_emergency(APR1 + 20)
    assert e.value.args[0] == "already_taken"
    r = a.credit(100000, APR1 + 30, "remote", 7)
    assert r["credited"] == 100000 and r["emergency_repaid"] == 5000
    assert r["arrears_recovered"] == 20000  # 25 % of 95000 = 23750, capped at 20000
    assert r["to_balance"] == 75000 and r["balance"] == 80000
    assert r["arrears_remaining"] == 180000 and r["emergency_owed"] == 0
    assert not a.emergency_active
    assert a.last_credit == (100000, APR1 + 30)
    r = a.credit(50000, APR1 + 40)
    assert r["arrears_recovered"] == 12500 and r["to_balance"] == 37500
    tail = a.ledger_tail()
    assert [e["kind"] for e in tail] == ["emergency", "credit", "emergency_repay", "arrears",
                                         "credit", "arrears"]
    assert tail[1]["ref"] == "remote:7"
    s = a.ledger_summary()
    assert s["emergency"] == 5000 and s["emergency_repay"] == -5000 and s["arrears"] == -32500
    check_ledger(a)


def test_arrears_cleared_and_partial_emergency_repay():
    a = Account(tariff(), arrears_paise=1000, recovery_percent=50, emergency_credit_paise=5000)
    a.take_emergency(APR1)
    r = a.credit(3000, APR1 + 1)  # less than owed: all to the emergency repayment
    assert r["emergency_repaid"] == 3000 and r["arrears_recovered"] == 0 and r["to_balance"] == 0
    assert a.emergency_active and a.emergency_owed_paise == 2000
    r = a.credit(10000, APR1 + 2)
    assert r["emergency_repaid"] == 2000 and r["arrears_recovered"] == 1000  # not 4000
    assert r["to_balance"] == 7000 and a.arrears_paise == 0
    r = a.credit(10000, APR1 + 3)
    assert r["arrears_recovered"] == 0 and r["to_balance"] == 10000
    with raises(AccountError) as e:
        a.credit(0, APR1 + 4)
    assert e.value.args[0] == "bad_amount"
    with raises(AccountError):
        a.credit(-5, APR1 + 4)


def test_emergency_rules():
    a = Account(tariff())
    with raises(AccountError) as e:
        a.take_emergency(APR1)
    assert e.value.args[0] == "disabled"
    a = Account(tariff(), emergency_credit_paise=5000)
    a.credit(100000, APR1)
    with raises(AccountError) as e:
        a.take_emergency(APR1 + 1)
    assert e.value.args[0] == "not_low"
    assert a.emergency_threshold() == 10000  # 10 % of the last credit beats 5000
    a.consume(25 * KWH, APR1 + 2)  # 8750 + 437.5 duty -> 438
    assert a.balance_paise == 100000 - 9188
    with raises(AccountError) as e:
        a.take_emergency(APR1 + 3)
    assert e.value.args[0] == "not_low"
    a.adjust(-81000, APR1 + 4, "correction")
    assert a.balance_paise == 9812
    assert a.take_emergency(APR1 + 5)["balance"] == 14812


def test_negative_balance_in_grace():
    a = Account(tariff())
    a.credit(1000, APR1)
    a.consume(10 * KWH, APR1 + 10)  # 3500 + 175
    assert a.balance_paise == 1000 - 3675
    r = a.credit(5000, APR1 + 20)
    assert r["balance"] == 5000 - 2675
    check_ledger(a)


def test_alerts_once_per_crossing():
    a = Account(tariff(fixed_paise_per_day=0, duty_percent=0))
    a.credit(10000, APR1)  # thresholds 3000, 1000, 0
    assert a.pop_alerts() == []
    a.consume(2 * KWH, APR1 + 1)  # 700 -> 9300
    a.consume(18 * KWH, APR1 + 2)  # 6300 -> 3000: crossing 30 %
    al = a.pop_alerts()
    assert al == [{"kind": "low_balance", "percent": 30, "threshold": 3000, "balance": 3000,
                   "time": APR1 + 2}]
    a.consume(KWH, APR1 + 3)
    assert a.pop_alerts() == []  # once per crossing
    a.consume(20 * KWH, APR1 + 4)  # 2650 -> -4350: 10 % and 0 % in one step
    assert [x["percent"] for x in a.pop_alerts()] == [10, 0]
    a.consume(KWH, APR1 + 5)
    assert a.pop_alerts() == []
    a.credit(6000, APR1 + 6)  # -4700 + 6000 = 1300; thresholds 1800, 600, 0
    a.consume(2 * KWH, APR1 + 7)  # 1300 - 700 = 600
    assert [x["percent"] for x in a.pop_alerts()] == [10]
    a.adjust(5000, APR1 + 8, "refund")  # 5600: all levels re-armed
    a.consume(KWH, APR1 + 9)
    a.consume(10 * KWH, APR1 + 10)  # 5250 -> 1750
    assert [x["percent"] for x in a.pop_alerts()] == [30]


def test_alert_from_fixed_charge_at_midnight():
    a = Account(tariff(duty_percent=0), alert_percents=(50,))
    a.credit(1000, APR1)
    a.tick(APR1 + DAY)
    al = a.pop_alerts()
    assert len(al) == 1 and al[0]["time"] == APR1 + DAY and al[0]["balance"] == 500


def test_days_remaining():
    a = Account(tariff(duty_percent=0))
    assert a.days_remaining() == 0  # nothing on the balance
    a.credit(100000, APR1)
    assert a.days_remaining() is None  # no history yet
    for d in range(10):
        a.consume(2 * KWH, APR1 + d * DAY + 3600)  # 700 + 500 fixed per day
    a.tick(APR1 + 10 * DAY)
    assert a.balance_paise == 100000 - 12000
    assert a.days_remaining() == 88000 // 1200
    b = Account(tariff(fixed_paise_per_day=0))
    b.credit(100, APR1)
    b.tick(APR1 + 3 * DAY)
    assert b.days_remaining() is None  # no spending at all


def test_ledger_tail_bounded_and_chained():
    a = Account(tariff())
    for i in range(30):
        a.credit(100 + i, APR1 + i * 1000, "token", "T%d" % i)
        a.consume(KWH, APR1 + i * 1000 + 500)
    tail = a.ledger_tail()
    assert len(tail) == TAIL_KEEP
    check_ledger(a)
    s = a.ledger_summary()
    assert s["credit"] == sum(100 + i for i in range(30))


def test_records_bounded():
    a = Account(tariff())
    a.tick(APR1)
    a.tick(APR1 + 500 * DAY)
    assert len(a.daily_records()) == DAILY_KEEP
    assert len(a.billing_records()) == BILLING_KEEP
    assert a.ledger_summary()["fixed"] == -500 * 500
    assert a.daily_records()[-1]["date"] == ct.iso_date(APR1 + 499 * DAY)
    check_ledger(a)


def test_bad_inputs():
    a = Account(tariff())
    for bad in (-1, 1.5, "3", None):
        with raises(AccountError):
            a.consume(bad, APR1)
    assert a.consume(0, APR1) == 0
    with raises(AccountError):
        a.record_export(-1, APR1)
    with raises(AccountError):
        a.adjust(0, APR1)
    with raises(AccountError):
        Account(tariff(), recovery_percent=101)
    with raises(AccountError):
        Account(tariff(), arrears_paise=-1)
    with raises(AccountError):
        Account(tariff(), alert_percents=(30, 120))
    assert Account(tariff(), alert_percents=(0, 30, 10, 30)).alert_percents == (30, 10, 0)


def _busy_account():
    a = Account(tariff(tod=[{"from": "18:00", "to": "22:00", "percent": 125}]),
                arrears_paise=50000, recovery_percent=20, arrears_cap_paise=3000,
                emergency_credit_paise=2000)
    a.credit(20000, APR1 + 100, "token", "A")
    t = APR1 + 200
    for i in range(120):
        a.consume(1234567 + i * 7, t)
        a.record_export(999, t)
        t += 7919
    a.take_emergency(t)
    a.consume(333, t + 19 * 3600)
    return a


def test_state_round_trip_exact():
    a = _busy_account()
    s = a.state()
    text = json.dumps(s)
    b = Account(a.tariff, arrears_paise=50000, recovery_percent=20, arrears_cap_paise=3000,
                emergency_credit_paise=2000)
    b.restore(json.loads(text))
    assert b.state() == s
    assert json.dumps(b.state()) == text
    # both go on identically
    for acc in (a, b):
        acc.consume(77777777, APR1 + 40 * DAY)
        acc.credit(30000, APR1 + 40 * DAY + 5, "remote", "R")
        acc.tick(APR1 + 80 * DAY)
    assert a.state() == b.state()
    assert a.pop_alerts() == b.pop_alerts()
    assert a.ledger_tail() == b.ledger_tail()
    assert a.billing_records() == b.billing_records()
    check_ledger(b)


def test_restore_rejects_bad_state():
    a = _busy_account()
    for mutate in ("v", "balance", "month", "tail"):
        s = a.state()
        if mutate == "v":
            s["v"] = 99
        elif mutate == "balance":
            del s["balance"]
        elif mutate == "month":
            s["month"] = [1, 2]
        else:
            s["tail"] = [[1, "bogus", 1, 1, ""]]
        with raises(AccountError) as e:
            Account(a.tariff).restore(s)
        assert e.value.args[0] == "bad_state"


def test_set_tariff_keeps_month_position():
    a = Account(tariff(fixed_paise_per_day=0, duty_percent=0))
    a.consume(150 * KWH, APR1 + 1)
    flat = Tariff.from_config({"slabs": [{"upto_kwh": 120, "paise_per_kwh": 300},
                                         {"paise_per_kwh": 600}]})
    a.set_tariff(flat)
    before = a.balance_paise
    a.consume(KWH, APR1 + 2)
    assert before - a.balance_paise == 600
    m = a.current_month()
    # the 150 kWh before the change stay priced at the old slabs, the new kWh is in the new
    # tariff's second slab (the month's position is kept)
    assert m["slabs"] == [[100 * KWH, 35000], [50 * KWH, 22500], [KWH, 600]]
    assert [p for _, p in m["tariffs"]] == ["2026-04-01T00:00:01", "2026-04-01T00:00:01"]


# --- the worked example of docs/tariff.md: same scenario, same numbers ----------------------

def test_doc_worked_month():
    a = Account(tariff())
    a.credit(150000, APR1, "token", "doc")
    per_hour = 8 * KWH // 24  # 333333 mWh, the 24th hour takes the rest
    for d in range(30):
        day = APR1 + d * DAY
        for h in range(24):
            mwh = per_hour if h < 23 else 8 * KWH - 23 * per_hour
            a.consume(mwh, day + h * 3600 + 3599)
        if d == 0:
            first = a.current_day()
    a.tick(MAY1)
    assert first["energy_paise"] == 2800 and first["duty_paise"] == 140
    days = a.daily_records()
    assert len(days) == 30
    assert (days[0]["energy_paise"], days[0]["duty_paise"], days[0]["fixed_paise"]) == \
        (2800, 140, 500)
    assert days[0]["balance_paise"] == 146560
    d13 = days[12]  # 96 -> 104 kWh: 4 kWh at 3.50 and 4 kWh at 4.50
    assert d13["date"] == "2026-04-13"
    assert (d13["energy_paise"], d13["duty_paise"]) == (3200, 160)
    b = a.billing_records()[0]
    assert b["month"] == "2026-04"
    assert b["import_mwh"] == 240 * KWH
    assert b["slabs"] == [[100 * KWH, 35000], [100 * KWH, 45000], [40 * KWH, 22000]]
    assert b["energy_paise"] == 102000
    assert b["fixed_paise"] == 15000
    assert b["duty_paise"] == 5100
    assert b["energy_paise"] + b["fixed_paise"] + b["duty_paise"] == 122100
    assert a.balance_paise == 27900
    alerts = a.pop_alerts()  # thresholds Rs 450 / 150 / 0 of the Rs 1500 credit
    assert len(alerts) == 1 and alerts[0]["percent"] == 30 and alerts[0]["balance"] == 44967
    assert ct.iso(alerts[0]["time"]) == "2026-04-27T15:59:59"
    assert a.days_remaining() == 5  # last 7 days cost 34160: 4880 a day
    charges = 0
    for r in days[-7:]:
        charges += r["energy_paise"] + r["fixed_paise"] + r["duty_paise"]
    assert charges == 34160
    assert b["total_paise"] == 122100
    assert sum(ln[4] for ln in b["lines"]) == 122100


def test_doc_credit_split():
    a = Account(tariff(), arrears_paise=200000, recovery_percent=25, arrears_cap_paise=20000,
                emergency_credit_paise=5000)
    r = a.credit(100000, APR1, "token", "doc1")
    assert (r["emergency_repaid"], r["arrears_recovered"], r["to_balance"]) == (0, 20000, 80000)
    assert r["arrears_remaining"] == 180000
    r = a.credit(50000, APR1 + 60, "token", "doc2")
    assert (r["arrears_recovered"], r["to_balance"]) == (12500, 37500)
    assert r["arrears_remaining"] == 167500
    b = Account(tariff(), arrears_paise=200000, recovery_percent=25, arrears_cap_paise=20000,
                emergency_credit_paise=5000)
    b.take_emergency(APR1)
    r = b.credit(100000, APR1 + 60, "token", "doc3")
    assert (r["emergency_repaid"], r["arrears_recovered"], r["to_balance"]) == \
        (5000, 20000, 75000)
    assert r["balance"] == 80000


# --- clock changes, tariff periods, load changes, state ------------------------------------

def test_clock_a_year_ahead_charges_only_the_days_in_service():
    a = Account(tariff(duty_percent=0))
    t0 = ct.seconds(2026, 12, 10, 12)
    a.tick(t0)
    a.tick(t0 + DAY)  # one day in service: 500
    assert a.balance_paise == -500
    a.clock_changed(t0 + DAY, t0 + DAY + 365 * DAY)
    assert a.balance_paise == -500  # the jump is not service
    b = a.billing_records()
    assert [r["month"] for r in b] == ["2026-12"] and b[0]["fixed_paise"] == 500
    assert b[0]["service_s"] == DAY
    a.tick(t0 + 367 * DAY)  # one more day
    assert a.balance_paise == -1000
    assert a.current_month()["month"] == "2027-12"
    days = [r["date"] for r in a.daily_records()]
    assert days == ["2026-12-10", "2026-12-11", "2027-12-11"]


def test_clock_40_days_back_closes_the_month_and_reopens_nothing():
    a = Account(tariff(duty_percent=0, fixed_paise_per_day=0))
    t0 = ct.seconds(2026, 12, 20, 12)
    a.consume(150 * KWH, t0)  # slab 2 reached in December
    a.clock_changed(t0 + 3600, t0 + 3600 - 40 * DAY)
    b = a.billing_records()
    assert [r["month"] for r in b] == ["2026-12"] and b[0]["energy_paise"] == 35000 + 22500
    # 40 days of energy after the change go to the months of the new clock, fresh slabs each
    t = t0 + 3600 - 40 * DAY
    for _ in range(40):
        t += DAY
        a.consume(5 * KWH, t)
    b = a.billing_records()
    assert [r["month"] for r in b] == ["2026-12", "2026-11"]
    assert b[1]["import_mwh"] == 20 * 5 * KWH and b[1]["energy_paise"] == 35000
    m = a.current_month()
    assert m["month"] == "2026-12" and m["import_mwh"] == 20 * 5 * KWH
    assert m["slabs"] == [[100 * KWH, 35000]]  # its own slabs: not 250 kWh in one month
    assert a.balance_paise == -(57500 + 35000 + 35000)


def test_clock_back_within_the_day_counts_no_time_twice():
    a = Account(tariff(duty_percent=0))
    t0 = ct.seconds(2026, 4, 10, 12)
    a.tick(t0)
    a.tick(t0 + 6 * 3600)  # 6 h: 125
    a.clock_changed(t0 + 6 * 3600, t0 + 3600)  # back 5 h
    a.tick(t0 + 6 * 3600)  # 5 more real hours: 500 * 11/24 = 229.17
    assert a.current_month()["fixed_paise"] == 229 and a.current_month()["service_s"] == 11 * 3600


def test_scheduled_tariff_switches_at_its_moment_and_keeps_the_slab_position():
    a = Account(tariff(duty_percent=0, fixed_paise_per_day=0))
    a.tick(APR1)
    dear = tariff(duty_percent=0, fixed_paise_per_day=0, name="dear",
                  slabs=[{"upto_kwh": 100, "paise_per_kwh": 400}, {"paise_per_kwh": 500}])
    a.schedule(dear, APR1 + 15 * DAY)
    assert a.next_tariff[0] == APR1 + 15 * DAY
    a.consume(90 * KWH, APR1 + 15 * DAY - 1)
    assert a.tariff.name == "" and a.switched == []
    a.consume(20 * KWH, APR1 + 15 * DAY + 10)  # 10 kWh at 4.00, 10 at 5.00 (position kept)
    assert a.tariff.name == "dear" and a.next_tariff is None
    assert a.switched == [(APR1 + 15 * DAY, "dear")]
    m = a.current_month()
    assert [(ln[0], ln[1], ln[4], ln[5]) for ln in m["lines"]] == [
        ("energy 0-100", 90 * KWH, 31500, 0), ("energy 0-100", 10 * KWH, 4000, 1),
        ("energy above 100", 10 * KWH, 5000, 1)]
    assert m["tariffs"] == [["", "2026-04-01T00:00:00"], ["dear", "2026-04-16T00:00:00"]]
    assert -a.balance_paise == 31500 + 4000 + 5000
    # the state keeps both tariffs of the open month
    b = Account(tariff())
    b.restore(json.loads(json.dumps(a.state())))
    assert b.state() == a.state() and b.tariff.name == "dear"
    assert b.current_month() == a.current_month()


def test_schedule_in_the_past_applies_at_once_and_same_tariff_makes_no_period():
    a = Account(tariff())
    a.tick(APR1 + DAY)
    a.set_tariff(tariff(), APR1 + DAY + 5)  # the same tariff again
    assert len(a.current_month()["tariffs"]) == 1
    a.schedule(tariff(fixed_paise_per_day=900, name="x"), APR1)
    assert a.tariff.name == "x" and len(a.current_month()["tariffs"]) == 2


def test_fixed_per_kw_follows_the_sanctioned_load():
    a = Account(tariff(fixed_paise_per_day=0, duty_percent=0, fixed_paise_per_kw_month=3000),
                load_w=1500)  # billed as 2 kW
    a.tick(APR1)
    a.set_load(4100, APR1 + 10 * DAY)  # an STS power-limit token: 5 kW from the 11th
    a.tick(MAY1)
    rec = a.billing_records()[-1]
    # 2 kW x 10 days + 5 kW x 20 days of a 30-day month at Rs 30/kW: 2000 + 10000
    assert rec["fixed_paise"] == 12000


def test_version_1_state_is_converted():
    a = Account(tariff())
    v1 = {"v": 1, "balance": 1000, "arrears": 0, "em_owed": 0, "last_credit": [5000, APR1],
          "day": ct.days_from_civil(2026, 4, 3), "rem": [5, 7],
          "today": [KWH, 0, 350, 0, 17, 0],
          "month": [21 * KWH, 0, 7350, 1000, 367, 5000, 0, 0, 0, 0],
          "slab_mwh": [21 * KWH, 0, 0, 0], "slab_x": [0, 0, 0, 0],
          "daily": [[ct.days_from_civil(2026, 4, 2), 10 * KWH, 0, 3500, 500, 175, 0, 3000]],
          "billing": [["2026-03", [[5 * KWH, 1750], [0, 0], [0, 0], [0, 0]], 5 * KWH, 0, 1750,
                       15500, 87, 0, 0, 0, 0, 0]],
          "ledger": {"energy": -9100, "fixed": -16500, "duty": -454, "credit": 27054},
          "tail": [[APR1, "credit", 5000, 1367, "token"]], "pending": [APR1, 350, APR1, 17],
          "armed": 0, "alerts": []}
    a.restore(v1)
    assert a.balance_paise == 1000
    rec = a.billing_records()[0]
    assert rec["month"] == "2026-03" and rec["total_paise"] == 1750 + 15500 + 87
    m = a.current_month()
    assert m["import_mwh"] == 21 * KWH and m["service_s"] == 2 * DAY
    assert [r["other_paise"] for r in a.daily_records()] == [0]
    a.tick(ct.seconds(2026, 4, 3, 12))  # half a day more: the lines priced with the new rules
    m = a.current_month()
    assert m["energy_paise"] == 7350 and m["fixed_paise"] == 1250 and m["duty_paise"] == 368
    check_ledger(a)
