"""Prepaid account: the balance, the ledger, arrears, emergency credit, alerts, records.

Money is integer paise, energy integer mWh, time integer seconds since 2000-01-01 local
(`civiltime`). Nothing here touches hardware or storage: the integrator calls

    consume(import_mwh_delta, now_s)   every metering poll
    record_export(export_mwh_delta, now_s)
    tick(now_s)                        every loop (rolls days and months with no consumption)
    credit(paise, now_s, source, ref)  for a keypad token or an authenticated remote credit
    take_emergency(now_s)              keypad

and persists `state()` / `restore(dict)`. See docs/tariff.md for the model.

Exactness. Energy cost is carried as a numerator over tariff.ENERGY_DEN (mWh * paise/kWh *
percent) and duty as a numerator over tariff.DUTY_DEN. Each consume() adds its numerator to the
carried remainder and deducts the whole paise; the remainder (< 1 paisa) carries to the next
consume(). So the energy deducted in a billing month is exactly floor(exact month charge) and
the duty exactly floor(exact month charge * duty), whatever the tick size. At the month close
the sub-paisa remainders are dropped (never charged, < 1 paisa each).

Ledger. Every change of the balance is a ledger entry with a signed amount; the running totals
per kind (`ledger_summary()`) always sum to the balance. Energy and duty deductions happen at every
poll, so to keep the bounded tail readable they are gathered into one pending "energy" and one
"duty" entry, written to the tail before any other entry, at each day close and when the tail is
read. The totals include them at once.
"""
import civiltime
from tariff import ENERGY_DEN, DUTY_DEN

SECONDS_PER_DAY = 86400

KINDS = ("energy", "fixed", "duty", "credit", "arrears", "emergency", "emergency_repay", "adjust")
K_ENERGY = 0
K_FIXED = 1
K_DUTY = 2
K_CREDIT = 3
K_ARREARS = 4
K_EMERGENCY = 5
K_EM_REPAY = 6
K_ADJUST = 7

DAILY_KEEP = 40  # >= 35 days
BILLING_KEEP = 13  # >= 12 months
TAIL_KEEP = 20
ALERTS_KEEP = 16
AVERAGE_DAYS = 7
STATE_VERSION = 1

# record layouts (lists, in this order)
DAILY_FIELDS = ("day", "import_mwh", "export_mwh", "energy_paise", "fixed_paise", "duty_paise",
                "credit_paise", "balance_paise")
MONTH_FIELDS = ("import_mwh", "export_mwh", "energy_paise", "fixed_paise", "duty_paise",
                "credit_paise", "arrears_recovered_paise", "emergency_taken_paise",
                "emergency_repaid_paise", "adjust_paise")
_M_IMP = 0
_M_EXP = 1
_M_ENERGY = 2
_M_FIXED = 3
_M_DUTY = 4
_M_CREDIT = 5
_M_ARREARS = 6
_M_EM_TAKEN = 7
_M_EM_REPAID = 8
_M_ADJUST = 9


class AccountError(ValueError):
    """args[0] is a short reason: bad_amount, not_low, already_taken, disabled, bad_state, ..."""


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _nonneg(name, v):
    if not _is_int(v) or v < 0:
        raise AccountError("%s must be a non-negative integer" % name)
    return v


def _date(day):
    y, m, d = civiltime.civil_from_days(day)
    return "%04d-%02d-%02d" % (y, m, d)


def _month_key(day):
    y, m, _ = civiltime.civil_from_days(day)
    return "%04d-%02d" % (y, m)


def _next_month_day(day):
    return civiltime.next_month_start(day * SECONDS_PER_DAY) // SECONDS_PER_DAY


class Account:
    def __init__(self, tariff, arrears_paise=0, recovery_percent=0, arrears_cap_paise=0,
                 emergency_credit_paise=0, alert_percents=(30, 10, 0), emergency_low_percent=10):
        self.tariff = tariff
        self.arrears_paise = _nonneg("arrears_paise", arrears_paise)
        self.recovery_percent = _nonneg("recovery_percent", recovery_percent)
        if recovery_percent > 100:
            raise AccountError("recovery_percent must be at most 100")
        self.arrears_cap_paise = _nonneg("arrears_cap_paise", arrears_cap_paise)  # 0: no cap
        self.emergency_credit_paise = _nonneg("emergency_credit_paise", emergency_credit_paise)
        self.emergency_low_percent = _nonneg("emergency_low_percent", emergency_low_percent)
        pcts = []
        for p in alert_percents:
            if not _is_int(p) or p < 0 or p > 100:
                raise AccountError("alert_percents must be integers 0..100")
            if p not in pcts:
                pcts.append(p)
        pcts.sort()
        pcts.reverse()
        self.alert_percents = tuple(pcts)

        self.balance_paise = 0
        self.emergency_owed_paise = 0
        self._lc_paise = 0
        self._lc_time = -1
        self._day = -1  # open day (days since 2000-01-01); -1 before the first time is seen
        self._nmd = 0  # first day of the next month
        self._r_e = 0  # energy remainder, units of 1/ENERGY_DEN paise
        self._r_d = 0  # duty remainder, units of 1/DUTY_DEN paise
        self._today = [0] * 6  # import, export, energy, fixed, duty, credit
        self._month = [0] * len(MONTH_FIELDS)
        n = len(tariff.rates)
        self._slab_mwh = [0] * n
        self._slab_x = [0] * n  # sum of mWh * (tod_percent - 100) per slab
        self._slab_i = 0
        self._daily = []
        self._billing = []
        self._tot = [0] * len(KINDS)
        self._tail = []
        self._pe_t = 0  # pending (not yet in the tail) energy and duty deductions
        self._pe = 0
        self._pd_t = 0
        self._pd = 0
        self._armed = 0
        self._alerts = []
        self._thr = [0] * len(self.alert_percents)
        self._fire_at = None

    # --- properties ---------------------------------------------------------------------------

    @property
    def emergency_active(self):
        return self.emergency_owed_paise > 0

    @property
    def last_credit(self):
        """(paise, time) of the last credit; (0, None) before the first."""
        return (self._lc_paise, None if self._lc_time < 0 else self._lc_time)

    def emergency_threshold(self):
        """Emergency credit may be taken when the balance is at or below this."""
        return max(self.emergency_credit_paise,
                   self._lc_paise * self.emergency_low_percent // 100)

    # --- energy (hot path) --------------------------------------------------------------------

    def consume(self, mwh, now_s):
        """Charge mwh of import at wall time now_s; returns the paise deducted (energy + duty)."""
        if now_s // SECONDS_PER_DAY > self._day:
            self._roll(now_s)
        if not _is_int(mwh) or mwh <= 0:
            if mwh == 0 and _is_int(mwh):
                return 0
            raise AccountError("bad_amount")
        t = self.tariff
        pct = t.tod_percent(now_s)
        lims = t.limits
        rates = t.rates
        slab_mwh = self._slab_mwh
        i = self._slab_i
        mtd = self._month[_M_IMP]
        num = 0
        left = mwh
        while left:
            lim = lims[i]
            if lim is None or mtd + left < lim:
                seg = left
            else:
                seg = lim - mtd
            num += seg * rates[i]
            slab_mwh[i] += seg
            if pct != 100:
                self._slab_x[i] += seg * (pct - 100)
            mtd += seg
            left -= seg
            if lim is not None and mtd >= lim:
                i += 1
        self._slab_i = i
        self._month[_M_IMP] = mtd
        self._today[0] += mwh
        num *= pct
        r = self._r_e + num
        e = r // ENERGY_DEN
        self._r_e = r - e * ENERGY_DEN
        d = 0
        if t.duty_bp:
            r = self._r_d + num * t.duty_bp
            d = r // DUTY_DEN
            self._r_d = r - d * DUTY_DEN
        if e or d:
            self.balance_paise -= e + d
            tot = self._tot
            if e:
                tot[K_ENERGY] -= e
                self._today[2] += e
                self._month[_M_ENERGY] += e
                self._pe += e
                self._pe_t = now_s
            if d:
                tot[K_DUTY] -= d
                self._today[4] += d
                self._month[_M_DUTY] += d
                self._pd += d
                self._pd_t = now_s
            if self._fire_at is not None and self.balance_paise <= self._fire_at:
                self._fire(now_s)
        return e + d

    def record_export(self, mwh, now_s):
        """Record exported energy in the daily and billing records (not credited)."""
        self._roll(now_s)
        if not _is_int(mwh) or mwh < 0:
            raise AccountError("bad_amount")
        self._today[1] += mwh
        self._month[_M_EXP] += mwh

    def tick(self, now_s):
        """Roll days and months up to now_s: fixed charges, daily and billing records."""
        self._roll(now_s)

    # --- credits ------------------------------------------------------------------------------

    def credit(self, paise, now_s, source="token", ref=""):
        """Add a credit. Emergency credit owed is repaid first, then arrears recovery
        (recovery_percent of what is left, at most arrears_cap_paise, at most the arrears),
        then the rest goes to the balance."""
        if not _is_int(paise) or paise <= 0:
            raise AccountError("bad_amount")
        self._roll(now_s)
        tag = "%s:%s" % (source, ref) if ref != "" else "%s" % source
        self._post(now_s, K_CREDIT, paise, tag)
        rest = paise
        repaid = min(rest, self.emergency_owed_paise)
        if repaid:
            self._post(now_s, K_EM_REPAY, -repaid, tag)
            self.emergency_owed_paise -= repaid
            rest -= repaid
        recovered = 0
        if self.arrears_paise > 0 and self.recovery_percent:
            recovered = rest * self.recovery_percent // 100
            if self.arrears_cap_paise and recovered > self.arrears_cap_paise:
                recovered = self.arrears_cap_paise
            if recovered > self.arrears_paise:
                recovered = self.arrears_paise
            if recovered:
                self._post(now_s, K_ARREARS, -recovered, tag)
                self.arrears_paise -= recovered
        self._today[5] += paise
        m = self._month
        m[_M_CREDIT] += paise
        m[_M_ARREARS] += recovered
        m[_M_EM_REPAID] += repaid
        self._lc_paise = paise
        self._lc_time = now_s
        self._thresholds()
        self._armed = 0
        self._rearm()
        return {"credited": paise, "emergency_repaid": repaid, "arrears_recovered": recovered,
                "to_balance": rest - recovered, "balance": self.balance_paise,
                "arrears_remaining": self.arrears_paise,
                "emergency_owed": self.emergency_owed_paise}

    def take_emergency(self, now_s):
        """Grant emergency_credit_paise once while the balance is low; repaid by the next credit."""
        self._roll(now_s)
        amount = self.emergency_credit_paise
        if amount <= 0:
            raise AccountError("disabled")
        if self.emergency_owed_paise > 0:
            raise AccountError("already_taken")
        if self.balance_paise > self.emergency_threshold():
            raise AccountError("not_low")
        self._post(now_s, K_EMERGENCY, amount, "keypad")
        self.emergency_owed_paise = amount
        self._month[_M_EM_TAKEN] += amount
        self._rearm()
        return {"granted": amount, "balance": self.balance_paise, "owed": amount}

    def adjust(self, paise, now_s, ref=""):
        """Signed correction of the balance (opening balance, DISCOM correction, refund)."""
        if not _is_int(paise) or paise == 0:
            raise AccountError("bad_amount")
        self._roll(now_s)
        self._post(now_s, K_ADJUST, paise, "%s" % ref)
        self._month[_M_ADJUST] += paise
        if paise > 0:
            self._rearm()
        elif self._fire_at is not None and self.balance_paise <= self._fire_at:
            self._fire(now_s)
        return self.balance_paise

    def set_tariff(self, tariff):
        """Switch tariff (takes effect for the next consumption; month slab position kept)."""
        self.tariff = tariff
        self._fit_slabs()

    # --- read-outs ----------------------------------------------------------------------------

    def days_remaining(self):
        """Whole days the balance lasts at the average daily charge (energy + fixed + duty) of
        the last AVERAGE_DAYS closed days; None without history or with no charges; 0 when
        the balance is not positive."""
        if self.balance_paise <= 0:
            return 0
        recs = self._daily[-AVERAGE_DAYS:]
        if not recs:
            return None
        spent = 0
        for r in recs:
            spent += r[3] + r[4] + r[5]
        if spent <= 0:
            return None
        return self.balance_paise * len(recs) // spent

    def pop_alerts(self):
        """Low-balance crossings since the last call, oldest first:
        {"kind": "low_balance", "percent", "threshold", "balance", "time"}."""
        out = []
        for t, p, thr, bal in self._alerts:
            out.append({"kind": "low_balance", "percent": p, "threshold": thr, "balance": bal,
                        "time": t})
        self._alerts = []
        return out

    def daily_records(self):
        """Closed days, oldest first, as dicts (date "YYYY-MM-DD"; balance at midnight)."""
        out = []
        for r in self._daily:
            d = {"date": _date(r[0])}
            for k in range(1, len(DAILY_FIELDS)):
                d[DAILY_FIELDS[k]] = r[k]
            out.append(d)
        return out

    def billing_records(self):
        """Closed billing months, oldest first, as dicts (month "YYYY-MM"; slabs [[mWh, paise]])."""
        out = []
        for r in self._billing:
            d = {"month": r[0], "slabs": [list(s) for s in r[1]]}
            for k in range(len(MONTH_FIELDS)):
                d[MONTH_FIELDS[k]] = r[2 + k]
            out.append(d)
        return out

    def current_day(self):
        """The open day so far (same keys as daily_records(), balance now)."""
        d = {"date": _date(self._day) if self._day >= 0 else ""}
        for k in range(1, 7):
            d[DAILY_FIELDS[k]] = self._today[k - 1]
        d["balance_paise"] = self.balance_paise
        return d

    def current_month(self):
        """The open billing month so far (same keys as billing_records())."""
        d = {"month": _month_key(self._day) if self._day >= 0 else "",
             "slabs": self._slab_paise()}
        for k in range(len(MONTH_FIELDS)):
            d[MONTH_FIELDS[k]] = self._month[k]
        return d

    def ledger_summary(self):
        """Signed totals per kind since the account began; they sum to the balance."""
        d = {}
        for k in range(len(KINDS)):
            d[KINDS[k]] = self._tot[k]
        return d

    def ledger_tail(self):
        """The last TAIL_KEEP entries, oldest first: {"time", "kind", "amount", "balance", "ref"}."""
        self._flush()
        out = []
        for t, k, a, b, ref in self._tail:
            out.append({"time": t, "kind": KINDS[k], "amount": a, "balance": b, "ref": ref})
        return out

    # --- state --------------------------------------------------------------------------------

    def state(self):
        tot = {}
        for k in range(len(KINDS)):
            tot[KINDS[k]] = self._tot[k]
        return {
            "v": STATE_VERSION,
            "balance": self.balance_paise,
            "arrears": self.arrears_paise,
            "em_owed": self.emergency_owed_paise,
            "last_credit": [self._lc_paise, self._lc_time],
            "day": self._day,
            "rem": [self._r_e, self._r_d],
            "today": list(self._today),
            "month": list(self._month),
            "slab_mwh": list(self._slab_mwh),
            "slab_x": list(self._slab_x),
            "daily": [list(r) for r in self._daily],
            "billing": [[r[0], [list(s) for s in r[1]]] + list(r[2:]) for r in self._billing],
            "ledger": tot,
            "tail": [[t, KINDS[k], a, b, ref] for t, k, a, b, ref in self._tail],
            "pending": [self._pe_t, self._pe, self._pd_t, self._pd],
            "armed": self._armed,
            "alerts": [list(a) for a in self._alerts],
        }

    def restore(self, s):
        """Load a state() dict (configuration stays as constructed); AccountError("bad_state")."""
        try:
            if s["v"] != STATE_VERSION:
                raise AccountError("bad_state")
            ints = (s["balance"], s["arrears"], s["em_owed"], s["day"], s["armed"])
            lc = s["last_credit"]
            rem = s["rem"]
            today = s["today"]
            month = s["month"]
            pend = s["pending"]
            for v in ints + tuple(lc) + tuple(rem) + tuple(today) + tuple(month) + tuple(pend):
                if not _is_int(v):
                    raise AccountError("bad_state")
            if len(lc) != 2 or len(rem) != 2 or len(today) != 6 or len(pend) != 4 \
                    or len(month) != len(MONTH_FIELDS):
                raise AccountError("bad_state")
            tot = [0] * len(KINDS)
            for k in range(len(KINDS)):
                tot[k] = s["ledger"].get(KINDS[k], 0)
            tail = []
            for t, kind, a, b, ref in s["tail"]:
                tail.append([t, KINDS.index(kind), a, b, ref])
            daily = [list(r) for r in s["daily"]]
            for r in daily:
                if len(r) != len(DAILY_FIELDS):
                    raise AccountError("bad_state")
            billing = []
            for r in s["billing"]:
                if len(r) != 2 + len(MONTH_FIELDS):
                    raise AccountError("bad_state")
                billing.append([r[0], [list(x) for x in r[1]]] + list(r[2:]))
            slab_mwh = list(s["slab_mwh"])
            slab_x = list(s["slab_x"])
            alerts = [list(a) for a in s["alerts"]]
        except (KeyError, TypeError, ValueError, IndexError) as e:
            if isinstance(e, AccountError):
                raise
            raise AccountError("bad_state")
        self.balance_paise = s["balance"]
        self.arrears_paise = s["arrears"]
        self.emergency_owed_paise = s["em_owed"]
        self._lc_paise, self._lc_time = lc
        self._day = s["day"]
        self._nmd = _next_month_day(self._day) if self._day >= 0 else 0
        self._r_e, self._r_d = rem
        self._today = list(today)
        self._month = list(month)
        self._slab_mwh = slab_mwh
        self._slab_x = slab_x
        self._fit_slabs()
        self._daily = daily
        self._billing = billing
        self._tot = tot
        self._tail = tail
        self._pe_t, self._pe, self._pd_t, self._pd = pend
        self._armed = s["armed"]
        self._alerts = alerts
        self._thresholds()
        self._set_fire_at()

    # --- internals ----------------------------------------------------------------------------

    def _fit_slabs(self):
        n = len(self.tariff.rates)
        for arr in (self._slab_mwh, self._slab_x):
            while len(arr) > n:  # fewer slabs now: fold the extra into the last
                v = arr.pop()
                arr[-1] += v
            while len(arr) < n:
                arr.append(0)
        self._slab_i = self.tariff.slab_index(self._month[_M_IMP])

    def _slab_paise(self):
        rates = self.tariff.rates
        out = []
        for i in range(len(rates)):
            w = self._slab_mwh[i] * 100 + self._slab_x[i]
            out.append([self._slab_mwh[i], w * rates[i] // ENERGY_DEN])
        return out

    def _post(self, t, kind, amount, ref):
        """Every balance change other than energy and duty goes through here."""
        if self._pe or self._pd:
            self._flush()
        self.balance_paise += amount
        self._tot[kind] += amount
        self._tail.append([t, kind, amount, self.balance_paise, ref])
        if len(self._tail) > TAIL_KEEP:
            self._tail.pop(0)

    def _flush(self):
        """Write the pending energy and duty deductions into the tail (energy, then duty)."""
        bal = self.balance_paise
        if self._pe:
            self._tail.append([self._pe_t, K_ENERGY, -self._pe, bal + self._pd, ""])
            self._pe = 0
        if self._pd:
            self._tail.append([self._pd_t, K_DUTY, -self._pd, bal, ""])
            self._pd = 0
        while len(self._tail) > TAIL_KEEP:
            self._tail.pop(0)

    def _roll(self, now_s):
        day = now_s // SECONDS_PER_DAY
        if day <= self._day:
            return  # same day, or the clock went back: stay in the open day
        if self._day < 0:
            self._day = day
            self._nmd = _next_month_day(day)
            return
        while self._day < day:
            self._close_day()

    def _close_day(self):
        """Deduct the fixed charge for the open day at its midnight, record it, open the next."""
        d = self._day
        midnight = (d + 1) * SECONDS_PER_DAY
        self._flush()
        fixed = self.tariff.fixed_paise_per_day
        if fixed:
            self._post(midnight, K_FIXED, -fixed, "")
            self._today[3] += fixed
            self._month[_M_FIXED] += fixed
            if self._fire_at is not None and self.balance_paise <= self._fire_at:
                self._fire(midnight)
        self._daily.append([d] + self._today + [self.balance_paise])
        if len(self._daily) > DAILY_KEEP:
            self._daily.pop(0)
        self._today = [0] * 6
        self._day = d + 1
        if self._day >= self._nmd:
            self._close_month(d)

    def _close_month(self, last_day):
        self._billing.append([_month_key(last_day), self._slab_paise()] + self._month)
        if len(self._billing) > BILLING_KEEP:
            self._billing.pop(0)
        n = len(self.tariff.rates)
        self._month = [0] * len(MONTH_FIELDS)
        self._slab_mwh = [0] * n
        self._slab_x = [0] * n
        self._slab_i = 0
        self._r_e = 0  # sub-paisa remainders are not carried into the next bill
        self._r_d = 0
        self._nmd = _next_month_day(self._day)

    def _thresholds(self):
        lc = self._lc_paise
        self._thr = [lc * p // 100 for p in self.alert_percents]

    def _set_fire_at(self):
        f = None
        for i in range(len(self._thr)):
            if self._armed & (1 << i) and (f is None or self._thr[i] > f):
                f = self._thr[i]
        self._fire_at = f

    def _rearm(self):
        """After the balance rose: arm every level the balance is above."""
        for i in range(len(self._thr)):
            if self.balance_paise > self._thr[i]:
                self._armed |= 1 << i
        self._set_fire_at()

    def _fire(self, t):
        bal = self.balance_paise
        for i in range(len(self._thr)):
            bit = 1 << i
            if self._armed & bit and bal <= self._thr[i]:
                self._armed &= ~bit
                self._alerts.append([t, self.alert_percents[i], self._thr[i], bal])
                if len(self._alerts) > ALERTS_KEEP:
                    self._alerts.pop(0)
        self._set_fire_at()
