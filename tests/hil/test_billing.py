"""HIL: the prepaid account on the simulated board (docs/tariff.md, docs/consumer-display.md).

A whole calendar month of varying load billed to the paisa against a hand calculation of the
sample tariff (examples/meter.toml: slabs 350/450/550/650 paise per kWh at 100/200/300 kWh,
fixed 500 paise a day, duty 5 %), the daily and monthly records, the credit split with arrears,
emergency credit from the keypad, and the low-balance alerts.

Loads are whole or half hours of whole watts: the ATM90E26 model counts 31.25 mWh per count,
and W x 0.5 h = 500 W mWh = 16 W counts, so every span's energy is exact in the chip's units
and the meter's registers must equal the plan to the mWh.
"""
import pathlib
from datetime import datetime

from tests.hil._helpers import credit, events, status

CONFIG = str(pathlib.Path(__file__).resolve().parents[2] / "examples" / "meter.toml")
RUPEE = "\x00"

# examples/meter.toml [tariff] and [account], written out for the hand calculation
SLABS = ((100_000_000, 350), (200_000_000, 450), (300_000_000, 550), (None, 650))  # (upto mWh, paise/kWh)
FIXED_PER_DAY = 500
DUTY_PERCENT = 5
ARREARS = 200_000
RECOVERY_PERCENT = 25
ARREARS_CAP = 20_000
EMERGENCY = 5_000


# -- helpers --------------------------------------------------------------------------------
def heavy_config(tmp_path):
    """examples/meter.toml with a 14 kW sanctioned load (tariff and account unchanged), so a
    day's energy or a small credit is used up in minutes of virtual load, not hours."""
    text = open(CONFIG).read()
    assert "sanctioned_load_w = 2000" in text
    p = tmp_path / "meter.toml"
    p.write_text(text.replace("sanctioned_load_w = 2000", "sanctioned_load_w = 14000"))
    return str(p)


def new_meter(meter_factory, when):
    m = meter_factory(config=CONFIG)
    m.bench.set_clock(when)
    return m


def energy_numerator(month_mwh):
    """Sum over the slabs of mWh x paise/kWh for a month-to-date import (telescopic)."""
    num = 0
    low = 0
    for upto, rate in SLABS:
        top = month_mwh if upto is None else min(month_mwh, upto)
        if top > low:
            num += (top - low) * rate
        if upto is None or month_mwh <= upto:
            break
        low = upto
    return num


def half_up(num, den):
    return (2 * num + den) // (2 * den)


def bill(month_mwh):
    """Hand calculation as a bill shows it (docs/tariff.md): (energy paise, duty paise).
    Each slab line is its kWh x rate rounded half-up to the paisa; duty is 5 % of the energy
    lines' sum, rounded half-up."""
    energy = sum(p for _, p in slab_lines(month_mwh))
    return energy, half_up(energy * DUTY_PERCENT, 100)


def slab_lines(month_mwh):
    """[[mWh, paise]] of the slabs the month reached."""
    out = []
    low = 0
    for upto, rate in SLABS:
        top = month_mwh if upto is None else min(month_mwh, upto)
        mwh = max(0, top - low)
        if mwh:
            out.append([mwh, half_up(mwh * rate, 1_000_000)])
        low = upto if upto is not None else low
    return out


def split(paise, arrears, owed=0):
    """docs/tariff.md 'Splitting a credit': (emergency repaid, arrears recovered, to balance)."""
    repaid = min(paise, owed)
    rest = paise - repaid
    rec = min(rest * RECOVERY_PERCENT // 100, ARREARS_CAP, arrears)
    return repaid, rec, rest - rec


def find_screen(m, first_line, presses=16):
    """Step through the idle screens with DOWN until line 1 starts with first_line."""
    for _ in range(presses):
        lines = m.bench.lcd()
        if lines[0].startswith(first_line):
            return lines
        m.bench.press("DOWN")
    return None


def screens(m, presses=16):
    """Every idle screen's line 1 (one DOWN cycle from the main screen)."""
    m.bench.press("BACK")
    seen = []
    for _ in range(presses):
        seen.append(m.bench.lcd()[0])
        m.bench.press("DOWN")
    return seen


# -- a month to the paisa -------------------------------------------------------------------
def day_plan(d):
    """Load spans of day d (1..31): (start hour, hours, watts); negative watts = export.
    About 6.8 kWh a day in half an hour or so of heavy load (a loaded meter polls every 5 s and
    saves every 15 minutes, so loaded hours are what a simulated month costs)."""
    spans = [(19.0, 0.5, 11000 + 60 * d)]
    if d % 2:
        spans.append((6.0, 0.125, 12999))
    if d % 7 == 0:
        spans.append((14.0, 0.125, -3000))
    return sorted(spans)


def span_mwh(hours, watts):
    return int(round(abs(watts) * hours * 1000))


def test_month_bill_matches_hand_calculation(meter_factory, tmp_path):
    start = datetime(2026, 12, 1, 0, 0, 0)
    m = meter_factory(config=heavy_config(tmp_path))
    m.bench.set_clock(start)
    assert m.bench.now() == start
    before = status(m)
    assert before["arrears_paise"] == ARREARS and before["balance_paise"] == 0

    c = credit(m, 200_000, "DEC-1")
    assert (c["arrears_recovered"], c["to_balance"]) == (20_000, 180_000)
    balance0 = c["balance_paise"]
    assert balance0 == 180_000

    plan_import, plan_export = [], []
    t = 0.0  # hours since start
    for d in range(1, 32):
        day0 = (d - 1) * 24.0
        imp = exp = 0
        for h, hours, watts in day_plan(d):
            m.bench.advance((day0 + h - t) * 3600)
            m.bench.set_load(watts)
            m.bench.advance(hours * 3600)
            m.bench.set_load(0)
            t = day0 + h + hours
            if watts > 0:
                imp += span_mwh(hours, watts)
            else:
                exp += span_mwh(hours, watts)
        plan_import.append(imp)
        plan_export.append(exp)
        if d == 31:
            # last evening of December: the open month, not yet billed
            m.bench.advance((day0 + 23.0 - t) * 3600)
            t = day0 + 23.0
            s = status(m)
            assert s["relay"] == "closed"
            month = m.link.call("billing")["this_month"]
            assert month["month"] == "2026-12"
            assert month["import_mwh"] == sum(plan_import)
        else:
            # mid-month look at the open day: it has today's energy and no fixed charge yet
            pass
    # into January: the December bill closes at midnight
    m.bench.advance((31 * 24.0 - t) * 3600 + 30)
    assert m.bench.now() == datetime(2027, 1, 1, 0, 0, 30)

    month_mwh = sum(plan_import)
    month_export = sum(plan_export)
    assert month_mwh > 200_000_000  # the month crosses two slab boundaries

    s = status(m)
    assert s["energy_import_mwh"] == month_mwh
    assert s["energy_export_mwh"] == month_export
    truth_imp, truth_exp = m.bench.truth()
    assert int(truth_imp) == month_mwh and int(truth_exp) == month_export
    assert s["relay"] == "closed"
    assert not events(m, "relay_open")

    # the hand calculation
    energy_paise, duty_paise = bill(month_mwh)
    fixed_paise = 31 * FIXED_PER_DAY
    total = energy_paise + fixed_paise + duty_paise

    recs = m.link.call("billing")["billing"]
    # setting the clock to 1 December closed the month the meter had started in (a few
    # seconds of service, nothing used): the jump itself is not billed
    assert [r["month"] for r in recs][-1] == "2026-12"
    for r in recs[:-1]:
        assert r["import_mwh"] == 0 and r["total_paise"] == r["fixed_paise"] <= 1, r
    dec = recs[-1]
    assert dec["import_mwh"] == month_mwh
    assert dec["export_mwh"] == month_export
    assert dec["slabs"] == slab_lines(month_mwh)
    assert dec["energy_paise"] == energy_paise
    assert dec["duty_paise"] == duty_paise
    assert dec["fixed_paise"] == fixed_paise
    assert dec["credit_paise"] == 200_000
    assert dec["arrears_recovered_paise"] == 20_000
    assert dec["emergency_taken_paise"] == 0 and dec["emergency_repaid_paise"] == 0
    assert dec["adjust_paise"] == 0
    assert dec["total_paise"] == total == sum(ln[4] for ln in dec["lines"])
    # the balance fell by exactly the bill
    assert s["balance_paise"] == balance0 - total

    # daily records: every day of December, each exact
    daily = m.link.call("daily 60")["daily"]
    daily = [r for r in daily if r["date"] >= "2026-12"]  # not the part-day before the clock set
    assert [r["date"] for r in daily] == ["2026-12-%02d" % d for d in range(1, 32)]
    cum = 0
    prev_e = prev_d = 0
    bal = 0
    for d, r in enumerate(daily, start=1):
        assert r["import_mwh"] == plan_import[d - 1], r
        assert r["export_mwh"] == plan_export[d - 1], r
        cum += r["import_mwh"]
        e_cum, d_cum = bill(cum)
        assert r["energy_paise"] == e_cum - prev_e, r
        assert r["duty_paise"] == d_cum - prev_d, r
        prev_e, prev_d = e_cum, d_cum
        assert r["fixed_paise"] == FIXED_PER_DAY
        assert r["credit_paise"] == (200_000 if d == 1 else 0)
        to_balance = 180_000 if d == 1 else 0
        bal = bal + to_balance - r["energy_paise"] - r["fixed_paise"] - r["duty_paise"]
        assert r["balance_paise"] == bal, r
    assert daily[-1]["balance_paise"] == s["balance_paise"]
    assert sum(r["energy_paise"] for r in daily) == energy_paise
    assert sum(r["duty_paise"] for r in daily) == duty_paise

    # days remaining: balance over the average daily charge of the last 7 days
    last7 = daily[-7:]
    spent = sum(r["energy_paise"] + r["fixed_paise"] + r["duty_paise"] for r in last7)
    assert s["days_remaining"] == s["balance_paise"] * 7 // spent

    # January opened empty
    jan = m.link.call("billing")["this_month"]
    assert jan["month"] == "2027-01" and jan["import_mwh"] == 0 and jan["energy_paise"] == 0

    # the consumer's main screen shows the same balance, and the days screen the estimate
    m.bench.press("BACK")
    main = m.bench.lcd()
    bal_txt = "%d.%02d" % divmod(s["balance_paise"], 100)
    rupees, paise = bal_txt.split(".")
    if len(rupees) > 3:
        rupees = rupees[:-3] + "," + rupees[-3:]
    assert main[0].startswith(RUPEE + rupees + "." + paise), main
    days = find_screen(m, "Credit lasts")
    assert days is not None
    n = s["days_remaining"]
    assert days[1].strip() == ("about %d day%s" % (n, "" if n == 1 else "s") if n else "under 1 day")


# -- credits and arrears --------------------------------------------------------------------
def test_credit_split_with_arrears_until_cleared(meter_factory):
    m = new_meter(meter_factory, datetime(2026, 12, 2, 10, 0, 0))
    assert status(m)["arrears_paise"] == ARREARS

    # the arrears screen is there while arrears are owed
    lines = find_screen(m, "Arrears left")
    assert lines == ["Arrears left    ", RUPEE + "2,000.00" + " " * 7]

    # Rs 1000: 25 % is 25000, capped at 20000
    r = credit(m, 100_000, "A1")
    assert (r["credited"], r["emergency_repaid"], r["arrears_recovered"], r["to_balance"]) == (100_000, 0, 20_000, 80_000)
    assert r["balance_paise"] == 80_000 and r["duplicate"] is False
    s = status(m)
    assert s["arrears_paise"] == 180_000 and s["balance_paise"] == 80_000
    # the consumer sees the credit, then the arrears left
    lcd = m.bench.lcd()
    assert lcd[0].startswith("Credit accepted"), lcd
    assert find_screen(m, "Arrears left")[1].startswith(RUPEE + "1,800.00")

    # the same transaction again changes nothing
    again = credit(m, 100_000, "A1")
    assert again["duplicate"] is True and again["arrears_recovered"] == 20_000
    assert status(m)["arrears_paise"] == 180_000 and status(m)["balance_paise"] == 80_000

    # Rs 500: 25 % = 12500, under the cap
    r = credit(m, 50_000, "A2")
    assert (r["arrears_recovered"], r["to_balance"]) == (12_500, 37_500)
    arrears, balance = 167_500, 117_500
    s = status(m)
    assert (s["arrears_paise"], s["balance_paise"]) == (arrears, balance)

    # Rs 1000 at a time until the arrears are gone; the last one takes only what is left
    n = 0
    while arrears:
        n += 1
        _, rec, to_bal = split(100_000, arrears)
        r = credit(m, 100_000, "B%d" % n)
        assert (r["arrears_recovered"], r["to_balance"]) == (rec, to_bal), (n, r)
        arrears -= rec
        balance += to_bal
        s = status(m)
        assert (s["arrears_paise"], s["balance_paise"]) == (arrears, balance)
        assert n < 20
    assert n == 9 and r["arrears_recovered"] == 7_500 and r["to_balance"] == 92_500

    # no arrears: a credit goes whole to the balance, and the arrears screen is gone
    r = credit(m, 100_000, "C1")
    assert (r["arrears_recovered"], r["to_balance"]) == (0, 100_000)
    balance += 100_000
    s = status(m)
    assert s["arrears_paise"] == 0 and s["balance_paise"] == balance
    first = screens(m)
    assert "Arrears left    " not in first and any(x.startswith(RUPEE) for x in first)

    acct = m.link.call("account")
    assert acct["arrears_paise"] == 0
    assert acct["ledger"]["arrears"] == -ARREARS
    assert acct["ledger"]["credit"] == 100_000 + 50_000 + 9 * 100_000 + 100_000
    assert sum(acct["ledger"].values()) == balance
    month = m.link.call("billing")["this_month"]
    assert month["arrears_recovered_paise"] == ARREARS
    assert month["credit_paise"] == acct["ledger"]["credit"]
    today = m.link.call("daily")["today"]
    assert today["credit_paise"] == acct["ledger"]["credit"]


# -- emergency credit -----------------------------------------------------------------------
def test_emergency_credit_from_keypad_repaid_by_next_credit(meter_factory):
    m = new_meter(meter_factory, datetime(2026, 12, 2, 14, 0, 0))
    r = credit(m, 8_000, "E0")
    assert (r["arrears_recovered"], r["to_balance"]) == (2_000, 6_000)
    m.bench.advance(10)  # let the "Credit accepted" message go
    m.bench.press("BACK")

    # not low yet (6000 > max(5000, 10 % of 8000)): FN says not available
    m.bench.press("FN")
    assert m.bench.lcd() == ["Emergency credit", "not available   "]
    assert status(m)["emergency_active"] is False

    # use energy until the balance is low: 2000 W for 1.5 h = 3 kWh = 1050 + 52.50 duty (53),
    # and the fixed charge of the 1.5 h in service so far (Rs 5 a day, accrued by the second)
    m.bench.set_load(2000)
    m.bench.advance(1.5 * 3600)
    m.bench.set_load(0)
    m.bench.advance(60)
    s = status(m)
    low = s["balance_paise"]
    month = m.link.call("billing")["this_month"]
    served = month["service_s"]
    assert 1.5 * 3600 <= served <= 1.5 * 3600 + 80
    fixed = (2 * FIXED_PER_DAY * served + 86400) // (2 * 86400)
    assert month["fixed_paise"] == fixed == 31
    assert low == 6_000 - 1_050 - 53 - fixed
    assert low <= EMERGENCY and s["emergency_active"] is False

    # the emergency screen offers it
    assert find_screen(m, "Emergency credit") is not None
    m.bench.press("BACK")
    m.bench.press("FN")
    assert m.bench.lcd() == ["Emergency credit", "ENTER to take   "]
    m.bench.press("ENTER")
    lcd = m.bench.lcd()
    assert lcd == ["Emergency credit", "+" + RUPEE + "50.00 added   "], lcd
    s = status(m)
    # the fixed charge goes on accruing by the second while the screens are stepped through
    accrued = m.link.call("billing")["this_month"]["fixed_paise"] - fixed
    assert 0 <= accrued <= 2
    assert s["balance_paise"] == low + EMERGENCY - accrued
    low -= accrued
    assert s["emergency_active"] is True
    assert len(events(m, "emergency_credit")) == 1
    acct = m.link.call("account")
    assert acct["emergency_owed_paise"] == EMERGENCY

    # only once while owed
    m.bench.advance(10)
    m.bench.press("FN")
    assert m.bench.lcd() == ["Emergency credit", "in use          "]
    m.bench.press("BACK")
    accrued = m.link.call("billing")["this_month"]["fixed_paise"] - fixed - accrued
    assert status(m)["balance_paise"] == low + EMERGENCY - accrued
    low -= accrued

    # the next credit repays it first, then arrears from the rest
    arrears = s["arrears_paise"]
    assert arrears == ARREARS - 2_000
    r = credit(m, 100_000, "E1")
    assert r["emergency_repaid"] == EMERGENCY
    assert r["arrears_recovered"] == 20_000  # 25 % of 95000 = 23750, capped
    assert r["to_balance"] == 75_000
    s = status(m)
    assert low + EMERGENCY + 75_000 - s["balance_paise"] in (0, 1)  # a second of fixed charge
    assert s["emergency_active"] is False
    assert s["arrears_paise"] == arrears - 20_000
    assert m.link.call("account")["emergency_owed_paise"] == 0
    month = m.link.call("billing")["this_month"]
    assert month["emergency_taken_paise"] == EMERGENCY
    assert month["emergency_repaid_paise"] == EMERGENCY
    # no longer low: not available
    m.bench.advance(10)
    m.bench.press("FN")
    assert m.bench.lcd() == ["Emergency credit", "not available   "]


def test_emergency_credit_brings_power_back_after_no_credit_cut(meter_factory):
    # Wednesday 2 Dec, nothing credited: fixed charges run the balance negative and after the
    # grace the relay opens in the 10:00-13:00 window
    m = new_meter(meter_factory, datetime(2026, 12, 2, 9, 0, 0))
    m.bench.advance(3 * 86400)
    s = status(m)
    assert s["balance_paise"] == -3 * FIXED_PER_DAY  # accrued by the second, at every poll
    assert (s["relay"], s["relay_reason"]) == ("open", "credit")
    assert s["days_remaining"] == 0
    assert not m.bench.relay_closed()
    m.bench.press("BACK")
    assert m.bench.lcd() == ["\x02OFF: no credit ", "Please recharge "]
    m.bench.press("DOWN")
    assert m.bench.lcd() == ["Emergency credit", "Press FN to take"]

    m.bench.press("FN")
    m.bench.press("ENTER")
    assert m.bench.lcd() == ["Emergency credit", "+" + RUPEE + "50.00 added   "]
    m.bench.advance(2)
    s = status(m)
    assert s["balance_paise"] == EMERGENCY - 3 * FIXED_PER_DAY
    assert s["emergency_active"] is True
    assert s["relay"] == "closed" and m.bench.relay_closed()
    # 3500 paise over the average daily charge of the closed days (the part-day before the
    # clock was set cost nothing, 2 December from 09:00 cost 313, then 500 a day)
    daily = m.link.call("daily")["daily"][-7:]
    assert [r["fixed_paise"] for r in daily][-3:] == [313, 500, 500]
    spent = sum(r["energy_paise"] + r["fixed_paise"] + r["duty_paise"] for r in daily)
    assert s["days_remaining"] == 3500 * len(daily) // spent
    codes = [e["code"] for e in m.link.call("events 5")["events"]]
    assert "emergency_credit" in codes and "relay_closed" in codes


def test_emergency_partly_repaid_stays_owed(meter_factory):
    # a new meter has nothing on it: 0 is low, emergency credit may be taken at once
    m = new_meter(meter_factory, datetime(2026, 12, 3, 11, 0, 0))
    assert status(m)["balance_paise"] == 0
    m.bench.press("FN")
    assert m.bench.lcd() == ["Emergency credit", "ENTER to take   "]
    m.bench.press("ENTER")
    assert status(m)["balance_paise"] == EMERGENCY and status(m)["emergency_active"] is True

    # a credit smaller than what is owed: all of it repays, nothing to arrears or balance
    r = credit(m, 3_000, "P1")
    assert (r["emergency_repaid"], r["arrears_recovered"], r["to_balance"]) == (3_000, 0, 0)
    s = status(m)
    assert s["balance_paise"] == EMERGENCY and s["emergency_active"] is True
    assert s["arrears_paise"] == ARREARS
    assert m.link.call("account")["emergency_owed_paise"] == 2_000
    m.bench.advance(10)
    m.bench.press("FN")
    assert m.bench.lcd() == ["Emergency credit", "in use          "]

    # the next one repays the rest, then 25 % of what is left goes to arrears
    r = credit(m, 10_000, "P2")
    assert (r["emergency_repaid"], r["arrears_recovered"], r["to_balance"]) == (2_000, 2_000, 6_000)
    s = status(m)
    assert s["balance_paise"] == EMERGENCY + 6_000 and s["emergency_active"] is False
    assert s["arrears_paise"] == ARREARS - 2_000
    acct = m.link.call("account")
    assert acct["emergency_owed_paise"] == 0
    assert acct["ledger"]["emergency"] == EMERGENCY
    assert acct["ledger"]["emergency_repay"] == -EMERGENCY
    assert sum(acct["ledger"].values()) == s["balance_paise"]


def test_bill_exact_across_reset_and_power_cut(meter_factory, tmp_path):
    """The last three days of December with a reset and a power cut over a midnight: the
    December bill still matches the hand calculation; the day the meter was off at midnight
    gets its fixed charge when it comes back."""
    m = meter_factory(config=heavy_config(tmp_path))
    m.bench.set_clock(datetime(2026, 12, 29, 0, 0, 0))
    c = credit(m, 100_000, "R1")
    assert (c["arrears_recovered"], c["to_balance"]) == (20_000, 80_000)
    plan = {29: [], 30: [], 31: []}

    def load(hours, watts, day):
        m.bench.set_load(watts)
        m.bench.advance(hours * 3600)
        m.bench.set_load(0)
        plan[day].append(span_mwh(hours, watts))

    m.bench.advance(19 * 3600)  # 29 Dec 19:00
    load(0.5, 10_250, 29)
    m.bench.advance(120)
    m.reset()  # reset button: what was not yet saved to flash comes back from RTC RAM
    assert status(m)["energy_import_mwh"] == sum(plan[29])
    m.bench.advance(4 * 3600)  # 29 Dec ~23:32
    assert m.bench.now().day == 29
    m.bench.advance(3600)  # midnight passes with the meter on
    load(0.25, 12_345, 30)  # 30 Dec ~00:47
    m.bench.advance(20 * 3600)  # 30 Dec ~21:02
    load(0.5, 9_999, 30)
    m.bench.advance(1800)  # ~22:02
    m.bench.power_cut()
    m.bench.advance(4 * 3600)  # off over midnight
    m.bench.power_restore()
    assert m.bench.now().day == 31
    s = status(m)
    assert s["energy_import_mwh"] == sum(plan[29]) + sum(plan[30])
    daily = [r for r in m.link.call("daily")["daily"] if r["date"] >= "2026-12-29"]
    assert [r["date"] for r in daily] == ["2026-12-29", "2026-12-30"]
    assert [r["fixed_paise"] for r in daily] == [FIXED_PER_DAY, FIXED_PER_DAY]
    m.bench.advance(10 * 3600)  # 31 Dec ~12:02
    load(0.5, 11_111, 31)
    m.bench.advance(14 * 3600)  # into January

    month_mwh = sum(sum(v) for v in plan.values())
    energy_paise, duty_paise = bill(month_mwh)
    total = energy_paise + duty_paise + 3 * FIXED_PER_DAY
    dec = m.link.call("billing")["billing"]
    assert [r["month"] for r in dec][-1] == "2026-12"
    dec = dec[-1]
    assert dec["import_mwh"] == month_mwh
    assert dec["slabs"] == slab_lines(month_mwh)
    assert (dec["energy_paise"], dec["duty_paise"], dec["fixed_paise"]) == (energy_paise, duty_paise, 3 * FIXED_PER_DAY)
    s = status(m)
    jan = m.link.call("billing")["this_month"]
    assert jan["month"] == "2027-01" and jan["import_mwh"] == 0
    assert s["balance_paise"] == 80_000 - total - jan["total_paise"]  # January's first hours
    assert s["energy_import_mwh"] == month_mwh
    daily = [r for r in m.link.call("daily")["daily"] if r["date"] >= "2026-12-29"]
    assert [r["import_mwh"] for r in daily] == [sum(plan[d]) for d in (29, 30, 31)]
    assert daily[-1]["balance_paise"] == s["balance_paise"] + jan["total_paise"]


# -- low-balance alerts ---------------------------------------------------------------------
def drain_to(m, paise, watts):
    """With `watts` of load on, advance in big steps until the balance is within ~40 paise of
    `paise` (energy + 5 % duty at the first slab's 350 paise/kWh)."""
    per_hour = watts * 350 * 105 // 100_000
    while True:
        bal = status(m)["balance_paise"]
        if bal <= paise + 40:
            return bal
        m.bench.advance(max(5, (bal - paise - 20) * 3600 // per_hour))


def alert_details(m):
    return [e.get("detail", e.get("d")) for e in events(m, "low_balance")]


def test_low_balance_alerts_once_per_crossing(meter_factory, tmp_path):
    m = meter_factory(config=heavy_config(tmp_path))
    m.bench.set_clock(datetime(2026, 12, 2, 10, 0, 0))
    m.link.call("arrears 0", key=m.key)  # so the whole credit reaches the balance
    assert status(m)["arrears_paise"] == 0
    r = credit(m, 4_000, "L1")
    assert r["to_balance"] == 4_000 and r["arrears_recovered"] == 0
    thresholds = {30: 1_200, 10: 400, 0: 0}  # of the last credit, 4000
    m.bench.set_load(9000)  # 3307.5 paise an hour, under 5 paise a poll
    for pct in (30, 10, 0):
        thr = thresholds[pct]
        drain_to(m, thr, 9000)
        assert alert_details(m) == ["%d%%" % p for p in (30, 10, 0) if p > pct]
        # 5 s steps to catch the 10 s notice on the LCD
        notice = None
        for _ in range(200):
            m.bench.advance(5)
            lcd = m.bench.lcd()
            if lcd[0].startswith("\x04Notice"):
                notice = lcd
                break
        assert notice is not None, (pct, status(m))
        assert notice[1].strip() == ("Balance %d%% left" % pct if pct else "Balance used up")
        assert status(m)["balance_paise"] <= thr
        assert alert_details(m) == ["%d%%" % p for p in (30, 10, 0) if p >= pct]
    # running on into debt raises nothing more
    m.bench.advance(600)
    m.bench.set_load(0)
    m.bench.advance(60)
    debt = status(m)["balance_paise"]
    assert debt < 0
    assert alert_details(m) == ["30%", "10%", "0%"]

    # a new credit re-arms the levels it lifts the balance above: crossing 30 % of it alerts
    # again, once
    r = credit(m, 6_000, "L2")
    assert r["balance_paise"] == debt + 6_000 > 1_800
    m.bench.advance(20)
    m.bench.set_load(9000)
    drain_to(m, 1_800, 9000)
    m.bench.advance(300)
    m.bench.set_load(0)
    assert 1_000 < status(m)["balance_paise"] <= 1_800
    assert alert_details(m) == ["30%", "10%", "0%", "30%"]
