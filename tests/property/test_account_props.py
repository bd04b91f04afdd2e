"""Property tests of the prepaid account against an independent model (exact fractions).

For any sequence of consumption (1 mWh to tens of kWh), exports, credits, emergency credit,
adjustments, state round trips and jumps across days and months:
- every credit splits as specified; credits in = balance + charges + arrears + emergency, to the
  paisa;
- each month's energy charge is the sum of its slab lines, each the slab's mWh x rate rounded
  half-up to the paisa, plus the time-of-day line (the exact ToD adjustment rounded half-up);
  duty is the duty rate of that rounded energy charge rounded half-up; the fixed charge is the
  daily rate x the seconds in service that month / 86400, rounded half-up (docs/tariff.md),
  computed here independently;
- the ledger totals always sum to the balance and the tail chains to it;
- low-balance alerts fire exactly once per downward crossing.
"""
import json
from fractions import Fraction

from hypothesis import event, given, settings, strategies as st, HealthCheck

import civiltime as ct
from account import Account, AccountError, KINDS, BILLING_KEEP
from tariff import Tariff

KWH = 1000000
DAY = 86400

TODS = [
    None,
    [{"from": "18:00", "to": "22:00", "percent": 120}],
    [{"from": "22:00", "to": "06:00", "percent": 80}, {"from": "18:00", "to": "22:00", "percent": 125}],
]


@st.composite
def tariffs(draw):
    n = draw(st.integers(1, 4))
    uppers = sorted(draw(st.sets(st.integers(1, 300), min_size=n - 1, max_size=n - 1)))
    slabs = [{"upto_kwh": u, "paise_per_kwh": draw(st.integers(0, 900))} for u in uppers]
    slabs.append({"paise_per_kwh": draw(st.integers(0, 900))})
    cfg = {"slabs": slabs, "fixed_paise_per_day": draw(st.integers(0, 800)),
           "duty_basis_points": draw(st.integers(0, 2000))}
    tod = draw(st.sampled_from(TODS))
    if tod:
        cfg["tod"] = tod
    return Tariff.from_config(cfg)


energy = st.one_of(st.integers(1, 10), st.integers(1, 2 * KWH), st.integers(1, 60 * KWH))
gap = st.one_of(st.integers(0, 7200), st.integers(0, 3 * DAY), st.integers(0, 12 * DAY),
                st.integers(0, 40 * DAY))
flag = st.booleans()
ops = st.one_of(
    st.tuples(st.just("consume"), energy, gap, flag),
    st.tuples(st.just("consume"), energy, gap, flag),
    st.tuples(st.just("export"), energy, gap, flag),
    st.tuples(st.just("credit"), st.integers(1, 300000), gap, flag),
    st.tuples(st.just("emergency"), st.just(0), gap, flag),
    st.tuples(st.just("adjust"), st.integers(-20000, 20000).filter(bool), gap, flag),
    st.tuples(st.just("tick"), st.just(0), gap, flag),
    st.tuples(st.just("tail"), st.just(0), st.just(0), flag),
    st.tuples(st.just("roundtrip"), st.just(0), st.just(0), flag),
)
configs = st.fixed_dictionaries({
    "arrears_paise": st.integers(0, 500000),
    "recovery_percent": st.integers(0, 100),
    "arrears_cap_paise": st.integers(0, 50000),
    "emergency_credit_paise": st.sampled_from([0, 5000, 20000]),
    "alert_percents": st.sampled_from([(30, 10, 0), (50,), (25, 5)]),
})


def exact_month(tariff, incs):
    """Exact energy charge (paise, Fraction) and per-slab mWh of a month's increments."""
    lims, rates = tariff.limits, tariff.rates
    per = [0] * len(rates)
    total = Fraction(0)
    mtd = 0
    for mwh, pct in incs:
        left = mwh
        while left:
            i = 0
            while lims[i] is not None and mtd >= lims[i]:
                i += 1
            room = left if lims[i] is None else min(left, lims[i] - mtd)
            per[i] += room
            total += Fraction(room * rates[i] * pct, 100 * KWH)
            mtd += room
            left -= room
    return total, per


def half_up(f):
    """A non-negative or negative Fraction rounded to the paisa, halves away from zero."""
    f = Fraction(f)
    if f >= 0:
        return int(f + Fraction(1, 2))
    return -int(-f + Fraction(1, 2))


def exact_lines(tariff, incs):
    """(energy charge incl. ToD line, per-slab mWh): each line rounded half-up."""
    lims, rates = tariff.limits, tariff.rates
    per = [0] * len(rates)
    tod = Fraction(0)
    mtd = 0
    for mwh, pct in incs:
        left = mwh
        while left:
            i = 0
            while lims[i] is not None and mtd >= lims[i]:
                i += 1
            room = left if lims[i] is None else min(left, lims[i] - mtd)
            per[i] += room
            tod += Fraction(room * rates[i] * (pct - 100), 100 * KWH)
            mtd += room
            left -= room
    e = sum(half_up(Fraction(per[i] * rates[i], KWH)) for i in range(len(rates)) if per[i])
    return e + half_up(tod), per


def month_bill(tariff, incs, service_s):
    """(energy, duty, fixed) of a month."""
    e, _ = exact_lines(tariff, incs)
    d = half_up(Fraction(e * tariff.duty_bp, 10000))
    f = half_up(Fraction(tariff.fixed_paise_per_day * service_s, DAY))
    return e, d, f


def month_service(key, first, last):
    """Seconds of the month `key` between the first and the last time the account saw."""
    y, mo = int(key[:4]), int(key[5:])
    start = max(ct.seconds(y, mo, 1), first)
    end = min(ct.next_month_start(ct.seconds(y, mo, 1)), last)
    return max(0, end - start)


class Model:
    def __init__(self, tariff, cfg):
        self.t = tariff
        self.cfg = cfg
        self.arrears = cfg["arrears_paise"]
        self.owed = 0
        self.credits = 0
        self.adjusts = 0
        self.em_taken = 0
        self.em_repaid = 0
        self.recovered = 0
        self.first = None
        self.last = None
        self.months = {}  # "YYYY-MM" -> [(mwh, pct)]
        self.exports = {}
        self.lc = 0  # last credit

    def see(self, now):
        if self.first is None:
            self.first = now
        self.last = now

    def charges(self):
        e = d = fixed = 0
        if self.first is None:
            return 0, 0, 0
        keys = set(self.months)
        t = ct.month_start(self.first)
        while t <= self.last:
            keys.add(ct.iso_date(t)[:7])
            t = ct.next_month_start(t)
        for key in keys:
            me, md, mf = month_bill(self.t, self.months.get(key, []),
                                    month_service(key, self.first, self.last))
            e += me
            d += md
            fixed += mf
        return e, d, fixed

    def balance(self):
        e, d, fixed = self.charges()
        return (self.credits + self.adjusts + self.em_taken - self.em_repaid - self.recovered
                - e - d - fixed)

    def split(self, paise):
        rep = min(paise, self.owed)
        rest = paise - rep
        rec = 0
        if self.arrears and self.cfg["recovery_percent"]:
            rec = rest * self.cfg["recovery_percent"] // 100
            if self.cfg["arrears_cap_paise"]:
                rec = min(rec, self.cfg["arrears_cap_paise"])
            rec = min(rec, self.arrears)
        return rep, rec, rest - rec


def check_ledger(a, flush):
    s = a.ledger_summary()
    assert sum(s[k] for k in KINDS) == a.balance_paise
    if flush:
        tail = a.ledger_tail()
        for prev, cur in zip(tail, tail[1:]):
            assert cur["balance"] == prev["balance"] + cur["amount"]
        if tail:
            assert tail[-1]["balance"] == a.balance_paise


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tariffs(), configs, st.integers(0, 400 * DAY), st.lists(ops, min_size=10, max_size=80))
def test_account_matches_model(tariff, cfg, start_off, seq):
    a = Account(tariff, **cfg)
    m = Model(tariff, cfg)
    now = ct.seconds(2025, 1, 20) + start_off
    armed: set = set()
    fired = []
    thr = {p: 0 for p in cfg["alert_percents"]}

    for kind, v, dt, pretick in seq:
        now += dt
        if kind not in ("tail", "roundtrip"):
            m.see(now)
        if pretick and kind in ("credit", "emergency", "adjust"):
            # roll the day first so that alerts from fixed charges are checked on their own
            a.tick(now)
            got = [al["percent"] for al in a.pop_alerts()]
            want = [p for p in cfg["alert_percents"] if p in armed and a.balance_paise <= thr[p]]
            armed.difference_update(want)
            assert sorted(got) == sorted(want)
        bal0 = a.balance_paise
        tot0 = sum(a.ledger_summary().values())
        increased: object = False
        if kind == "consume":
            ym = ct.iso_date(now)[:7]
            m.months.setdefault(ym, []).append((v, tariff.tod_at(now)[0]))
            a.consume(v, now)
        elif kind == "export":
            ym = ct.iso_date(now)[:7]
            m.exports[ym] = m.exports.get(ym, 0) + v
            a.record_export(v, now)
        elif kind == "credit":
            rep, rec, to_bal = m.split(v)
            r = a.credit(v, now, "token", "x")
            assert (r["credited"], r["emergency_repaid"], r["arrears_recovered"], r["to_balance"]) \
                == (v, rep, rec, to_bal)
            assert r["balance"] == a.balance_paise
            m.credits += v
            m.owed -= rep
            m.em_repaid += rep
            m.arrears -= rec
            m.recovered += rec
            m.lc = v
            assert r["arrears_remaining"] == m.arrears == a.arrears_paise
            assert a.last_credit == (v, now)
            thr = {p: v * p // 100 for p in cfg["alert_percents"]}
            increased = "reset"
        elif kind == "emergency":
            e_amt = cfg["emergency_credit_paise"]
            before = a.balance_paise
            try:
                r = a.take_emergency(now)
            except AccountError as e:
                reason = e.args[0]
                if e_amt == 0:
                    assert reason == "disabled"
                elif m.owed:
                    assert reason == "already_taken"
                else:
                    assert reason == "not_low"
                    assert a.balance_paise > max(e_amt, m.lc * 10 // 100)
            else:
                assert e_amt and not m.owed
                low_at = max(e_amt, m.lc * 10 // 100)
                assert a.balance_paise - e_amt <= low_at
                assert r["granted"] == e_amt and r["balance"] == a.balance_paise
                assert pretick is False or a.balance_paise == before + e_amt
                m.owed = e_amt
                m.em_taken += e_amt
                increased = True
        elif kind == "adjust":
            a.adjust(v, now, "adj")
            m.adjusts += v
            increased = v > 0
        elif kind == "tick":
            a.tick(now)
        elif kind == "tail":
            check_ledger(a, True)
        elif kind == "roundtrip":
            b = Account(tariff, **cfg)
            b.restore(json.loads(json.dumps(a.state())))
            assert b.state() == a.state()
            a = b
        # money: everything in equals balance plus everything taken, to the paisa
        assert a.balance_paise == m.balance()
        assert a.emergency_owed_paise == m.owed and a.emergency_active == bool(m.owed)
        # the balance never changes without the ledger
        assert sum(a.ledger_summary().values()) - tot0 == a.balance_paise - bal0
        check_ledger(a, False)
        # alerts: exactly once per downward crossing of an armed level
        got = [al["percent"] for al in a.pop_alerts()]
        fired += got
        if increased:
            if pretick:
                assert got == []
            armed.difference_update(got)  # fired by the day roll inside the call
            if increased == "reset":
                armed.clear()
            for p in cfg["alert_percents"]:
                if a.balance_paise > thr[p]:
                    armed.add(p)
        else:
            want = [p for p in cfg["alert_percents"] if p in armed and a.balance_paise <= thr[p]]
            armed.difference_update(want)
            assert sorted(got) == sorted(want)

    check_ledger(a, True)
    event("months closed: %s" % min(len(a.billing_records()), 3))
    event("emergency taken: %s" % bool(m.em_taken))
    event("arrears recovered: %s" % bool(m.recovered))
    event("negative balance at end: %s" % (a.balance_paise < 0))
    event("alerts fired: %s" % bool(fired))
    # closed billing months against the independent model
    for rec in a.billing_records()[-BILLING_KEEP:]:
        incs = m.months.get(rec["month"], [])
        e, d, f = month_bill(tariff, incs, month_service(rec["month"], m.first, m.last))
        _, per = exact_lines(tariff, incs)
        assert (rec["energy_paise"], rec["duty_paise"], rec["fixed_paise"]) == (e, d, f)
        assert [s[0] for s in rec["slabs"]] == [x for x in per if x]
        assert rec["import_mwh"] == sum(x for x, _ in incs)
        assert rec["export_mwh"] == m.exports.get(rec["month"], 0)
        assert rec["total_paise"] == sum(ln[4] for ln in rec["lines"]) == e + d + f
    # daily records add up to their month whenever the whole month is still kept
    days = a.daily_records()
    for rec in a.billing_records():
        mine = [d for d in days if d["date"][:7] == rec["month"]]
        y, mo = int(rec["month"][:4]), int(rec["month"][5:])
        first = max(ct.days_from_civil(y, mo, 1), m.first // DAY)
        if len(mine) == ct.days_from_civil(y, mo, ct.days_in_month(y, mo)) - first + 1:
            for key in ("energy_paise", "duty_paise", "fixed_paise", "import_mwh", "export_mwh"):
                assert sum(d[key] for d in mine) == rec[key]


@settings(max_examples=300, deadline=None)
@given(tariffs(), st.lists(st.integers(0, 400 * KWH), max_size=12), st.integers(0, 400 * KWH))
def test_any_split_of_a_month_costs_the_same(tariff, cuts, total):
    """However a month's energy is cut into ticks (cuts on slab boundaries included), the
    deductions sum to the month's lines, and the rounding never drifts."""
    bounds = [l for l in tariff.limits if l is not None]
    points = sorted(set([c for c in cuts if c < total] + [b for b in bounds if b < total]))
    a = Account(tariff)
    now = ct.seconds(2026, 4, 10, 12)  # noon: outside every ToD window used here
    a.tick(now)
    prev = 0
    paid = 0
    for p in points + [total]:
        if p > prev:
            paid += a.consume(p - prev, now)
            prev = p
    e, per = exact_lines(tariff, [(total, tariff.tod_at(now)[0])])
    d = half_up(Fraction(e * tariff.duty_bp, 10000))
    assert a.current_month()["energy_paise"] == e
    assert a.current_month()["duty_paise"] == d
    assert paid == -a.balance_paise == e + d
    assert [s[0] for s in a.current_month()["slabs"]] == [x for x in per if x]
    # the month closes at the next month: the record holds the same, the new month starts clean
    a.consume(1, ct.seconds(2026, 5, 1, 12))
    rec = a.billing_records()[-1]
    assert rec["month"] == "2026-04" and rec["energy_paise"] == e
    assert a.current_month()["slabs"][0][0] == 1


@settings(max_examples=200, deadline=None)
@given(tariffs(), st.integers(1, 2000), st.integers(1, 5 * KWH))
def test_tiny_ticks_equal_one_big_tick(tariff, n, size):
    a = Account(tariff)
    b = Account(tariff)
    now = ct.seconds(2026, 4, 10, 12)
    for _ in range(n):
        a.consume(size, now)
    b.consume(n * size, now)
    assert a.balance_paise == b.balance_paise
    assert a.current_month() == b.current_month()
