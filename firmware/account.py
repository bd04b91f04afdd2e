"""Prepaid account: the balance, the ledger, the month's bill lines, arrears, emergency credit,
alerts, records.

Money is integer paise, energy integer mWh, time integer seconds since 2000-01-01 local
(`civiltime`). Nothing here touches hardware or storage: the integrator calls

    consume(import_mwh_delta, now_s)   every metering poll
    record_export(export_mwh_delta, now_s)
    tick(now_s)                        every loop (rolls days and months, accrues fixed charges)
    credit(paise, now_s, source, ref)  for a keypad token or an authenticated remote credit
    take_emergency(now_s)              keypad
    set_load(watts, now_s)             the sanctioned load changed (provisioning, STS token)
    set_tariff(tariff, now_s)          a new tariff from now; schedule(tariff, at_s) from a date
    clock_changed(old_s, new_s)        someone set the clock: the jump is not time in service

and persists `state()` / `restore(dict)`. See docs/tariff.md for the model.

The bill. The open month is a list of tariff periods (a new one starts when the tariff changes);
each holds the quantities its lines are priced from (energy per band of the month's slabs,
time-of-day weights, seconds in service, load x seconds). After every change the month's lines
are priced again (tariff.Tariff.lines) and the balance is charged the difference between their sum
and what the month has been charged so far, per ledger kind. So at any moment the month's charges
equal the sum of its lines exactly, and when the month closes (with its minimum charge and
rounding) its record holds the lines and the total the balance lost.

Time in service is counted from one observation of the clock to the next; a clock change
(`clock_changed`) is not time in service, and a clock that reads earlier than the last
observation adds nothing until it passes it.

Ledger. Every change of the balance is a ledger entry with a signed amount; the running totals
per kind (`ledger_summary()`) always sum to the balance. Charges change at every poll, so to keep
the bounded tail readable they are gathered into one pending entry per kind, written to the tail
before any other entry, at each day close and when the tail is read.
"""
import civiltime
from tariff import Tariff, half_up, L_ENERGY, L_FIXED, L_DUTY, L_REBATE, L_SURCHARGE, L_ROUNDING
from tariff import LN_KIND, LN_NAME, LN_BASIS, LN_UNIT, LN_RATE, LN_PAISE
from tariff import P_START, P_TARIFF_NO, P_BAND_MWH, P_BAND_TOD, P_TOD_ADD, P_TOD_MWH, \
    P_SERVICE_S, P_LOAD_WS

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[misc]  # CPython has no micropython.const
        return x


SECONDS_PER_DAY = 86400

KINDS = ("energy", "fixed", "duty", "credit", "arrears", "emergency", "emergency_repay", "adjust",
         "rebate", "surcharge", "rounding")
_K_ENERGY = const(0)
_K_FIXED = const(1)
_K_DUTY = const(2)
_K_CREDIT = const(3)
_K_ARREARS = const(4)
_K_EMERGENCY = const(5)
_K_EM_REPAY = const(6)
_K_ADJUST = const(7)
_K_REBATE = const(8)
_K_SURCHARGE = const(9)
_K_ROUNDING = const(10)
CHARGE_KINDS = (L_ENERGY, L_FIXED, L_DUTY, L_REBATE, L_SURCHARGE, L_ROUNDING)

DAILY_KEEP = 40  # >= 35 days
BILLING_KEEP = 13  # >= 12 months
TAIL_KEEP = 20
_ALERTS_KEEP = const(16)
_AVERAGE_DAYS = const(7)
STATE_VERSION = 2

# record layouts (lists, in this order)
DAILY_FIELDS = ("day", "import_mwh", "export_mwh", "energy_paise", "fixed_paise", "duty_paise",
                "credit_paise", "balance_paise", "other_paise")
_DAILY_DAY = const(0)  # days since 2000-01-01
_DAILY_IMP = const(1)
_DAILY_EXP = const(2)
_DAILY_ENERGY = const(3)
_DAILY_FIXED = const(4)
_DAILY_DUTY = const(5)
_DAILY_CREDIT = const(6)
_DAILY_BALANCE = const(7)  # at midnight
_DAILY_OTHER = const(8)  # rebate, surcharges, rounding
# the open day: the daily record's import .. credit one slot earlier (no day number), then other
# charges (the balance is the account's own)
_TODAY_IMP = const(0)
_TODAY_EXP = const(1)
_TODAY_ENERGY = const(2)
_TODAY_FIXED = const(3)
_TODAY_DUTY = const(4)
_TODAY_CREDIT = const(5)
_TODAY_OTHER = const(6)
_TODAY_LEN = const(7)
MONTH_FIELDS = ("import_mwh", "export_mwh", "energy_paise", "fixed_paise", "duty_paise",
                "credit_paise", "arrears_recovered_paise", "emergency_taken_paise",
                "emergency_repaid_paise", "adjust_paise", "rebate_paise", "surcharge_paise",
                "rounding_paise", "service_s")
_M_IMP = const(0)
_M_EXP = const(1)
_M_ENERGY = const(2)
_M_FIXED = const(3)
_M_DUTY = const(4)
_M_CREDIT = const(5)
_M_ARREARS = const(6)
_M_EM_TAKEN = const(7)
_M_EM_REPAID = const(8)
_M_ADJUST = const(9)
_M_REBATE = const(10)
_M_SURCHARGE = const(11)
_M_ROUNDING = const(12)
_M_SERVICE = const(13)
_V1_MONTH = const(10)  # month fields in a version 1 state (import_mwh .. adjust_paise)
# a closed month (billing record): "YYYY-MM", slabs, the MONTH_FIELDS, lines, tariffs
_BILL_MONTH = const(0)
_BILL_SLABS = const(1)  # [[mWh, paise], ...] of a month closed by firmware 0.3; None: the lines
_BILL_FIELDS = const(2)  # MONTH_FIELDS[0] is here, _M_ indices count from it (to _M_SERVICE)
_BILL_LINES = const(_BILL_FIELDS + _M_SERVICE + 1)  # [(name, basis, unit, rate, paise, period)]
_BILL_TARIFFS = const(_BILL_LINES + 1)  # [[name, start_s], ...], one per period
_BILL_LEN = const(_BILL_TARIFFS + 1)
# a bill line as a billing record keeps it (_line_out): tariff's line without its kind, + period
_KEPT_NAME = const(0)
_KEPT_BASIS = const(1)
_KEPT_UNIT = const(2)
_KEPT_RATE = const(3)
_KEPT_PAISE = const(4)
_KEPT_PERIOD = const(5)  # index into the month's tariffs
# month field of each ledger kind a bill line is booked to
_KIND_FIELD = {_K_ENERGY: _M_ENERGY, _K_FIXED: _M_FIXED, _K_DUTY: _M_DUTY, _K_REBATE: _M_REBATE,
               _K_SURCHARGE: _M_SURCHARGE, _K_ROUNDING: _M_ROUNDING}
# open day column of each (energy, fixed, duty; the rest go to other_paise)
_KIND_DAY = {_K_ENERGY: _TODAY_ENERGY, _K_FIXED: _TODAY_FIXED, _K_DUTY: _TODAY_DUTY,
             _K_REBATE: _TODAY_OTHER, _K_SURCHARGE: _TODAY_OTHER, _K_ROUNDING: _TODAY_OTHER}


class AccountError(ValueError):
    """args[0] is a short reason: bad_amount, not_low, already_taken, disabled, bad_state, ..."""


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _nonneg(name, v):
    if not _is_int(v) or v < 0:
        raise AccountError("%s must be a non-negative integer" % name)
    return v


def _date(day):
    return civiltime.iso_date(day * SECONDS_PER_DAY)


def _month_key(day):
    y, m, _ = civiltime.civil_from_days(day)
    return "%04d-%02d" % (y, m)


def _next_month_first_day(day):
    return civiltime.next_month_start(day * SECONDS_PER_DAY) // SECONDS_PER_DAY


def _month_first_day(day):
    return civiltime.month_start(day * SECONDS_PER_DAY) // SECONDS_PER_DAY


def _new_period(start, tno, tariff):
    """An empty tariff period: a list indexed by tariff.P_START .. P_LOAD_WS (tariff.lines prices
    it)."""
    n = len(tariff.bands)
    return [start, tno, [0] * n, [0] * n, 0, 0, 0, 0]


def _line_out(pno, ln):
    """A bill line as records keep it: (name, basis, unit, rate, paise, period); a tuple is one
    allocation on the heap (13 months of lines live in RAM)."""
    return (ln[LN_NAME], ln[LN_BASIS], ln[LN_UNIT], ln[LN_RATE], ln[LN_PAISE], pno)


class Account:
    def __init__(self, tariff, arrears_paise=0, recovery_percent=0, arrears_cap_paise=0,
                 emergency_credit_paise=0, alert_percents=(30, 10, 0), emergency_low_percent=10,
                 load_w=0):
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
        self.load_w = _nonneg("load_w", load_w)

        self.balance_paise = 0
        self.emergency_owed_paise = 0
        self._lc_paise = 0
        self._lc_time = -1
        self._day = -1  # open day (days since 2000-01-01); -1 before the first time is seen
        self._next_month_day = 0  # first day of the next month: the open month closes before it
        self._month_s = 0  # length of the open month in seconds
        self._t = -1  # the last time service was counted to
        self._today = [0] * _TODAY_LEN  # the _TODAY_ slots
        self._month = [0] * len(MONTH_FIELDS)
        self._mtar = [tariff]  # the tariffs of the open month's periods
        self._periods = []
        self._next = None  # (effective_s, Tariff) scheduled
        self.switched = []  # (time, tariff name) switches the integrator has not seen yet
        self._daily = []
        self._billing = []
        self._tot = [0] * len(KINDS)
        self._tail = []
        self._pend = [0] * len(KINDS)  # charges not yet written to the tail, per kind
        self._pend_t = [0] * len(KINDS)
        self._armed = 0
        self._alerts = []
        self._alert_thresholds = [0] * len(self.alert_percents)  # paise, one per alert_percents
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

    @property
    def next_tariff(self):
        """(effective_s, Tariff) scheduled, or None."""
        return self._next

    # --- energy (hot path) --------------------------------------------------------------------

    def consume(self, mwh, now_s):
        """Charge mwh of import at wall time now_s; returns the paise charged (all lines)."""
        if not _is_int(mwh) or mwh < 0:
            raise AccountError("bad_amount")
        self._advance(now_s, False)
        if mwh == 0:
            return self._charge(now_s, False)
        t = self.tariff
        per = self._periods[-1]
        pct, add = t.tod_at(now_s)
        lims = t.bands
        bm = per[P_BAND_MWH]
        mtd = self._month[_M_IMP]
        i = t.band_index(mtd)
        left = mwh
        while left:
            lim = lims[i]
            seg = left if lim is None or mtd + left <= lim else lim - mtd
            bm[i] += seg
            if pct != 100:
                per[P_BAND_TOD][i] += seg * (pct - 100)
            mtd += seg
            left -= seg
            i += 1
        if add:
            per[P_TOD_ADD] += mwh * add
        if pct != 100 or add:
            per[P_TOD_MWH] += mwh
        self._month[_M_IMP] = mtd
        self._today[_TODAY_IMP] += mwh
        return self._charge(now_s, False)

    def record_export(self, mwh, now_s):
        """Record exported energy in the daily and billing records (not credited)."""
        self._advance(now_s)
        if not _is_int(mwh) or mwh < 0:
            raise AccountError("bad_amount")
        self._today[_TODAY_EXP] += mwh
        self._month[_M_EXP] += mwh

    def tick(self, now_s):
        """Count service up to now_s: fixed charges, day and month closes, tariff switches."""
        self._advance(now_s)

    # --- credits ------------------------------------------------------------------------------

    def credit(self, paise, now_s, source="token", ref=""):
        """Add a credit. Emergency credit owed is repaid first, then arrears recovery
        (recovery_percent of what is left, at most arrears_cap_paise, at most the arrears),
        then the rest goes to the balance."""
        if not _is_int(paise) or paise <= 0:
            raise AccountError("bad_amount")
        self._advance(now_s)
        tag = "%s:%s" % (source, ref) if ref != "" else "%s" % source
        self._post(now_s, _K_CREDIT, paise, tag)
        rest = paise
        repaid = min(rest, self.emergency_owed_paise)
        if repaid:
            self._post(now_s, _K_EM_REPAY, -repaid, tag)
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
                self._post(now_s, _K_ARREARS, -recovered, tag)
                self.arrears_paise -= recovered
        self._today[_TODAY_CREDIT] += paise
        m = self._month
        m[_M_CREDIT] += paise
        m[_M_ARREARS] += recovered
        m[_M_EM_REPAID] += repaid
        self._lc_paise = paise
        self._lc_time = now_s
        self._set_alert_thresholds()
        self._armed = 0
        self._rearm()
        return {"credited": paise, "emergency_repaid": repaid, "arrears_recovered": recovered,
                "to_balance": rest - recovered, "balance": self.balance_paise,
                "arrears_remaining": self.arrears_paise,
                "emergency_owed": self.emergency_owed_paise}

    def take_emergency(self, now_s):
        """Grant emergency_credit_paise once while the balance is low; repaid by the next credit."""
        self._advance(now_s)
        amount = self.emergency_credit_paise
        if amount <= 0:
            raise AccountError("disabled")
        if self.emergency_owed_paise > 0:
            raise AccountError("already_taken")
        if self.balance_paise > self.emergency_threshold():
            raise AccountError("not_low")
        self._post(now_s, _K_EMERGENCY, amount, "keypad")
        self.emergency_owed_paise = amount
        self._month[_M_EM_TAKEN] += amount
        self._rearm()
        return {"granted": amount, "balance": self.balance_paise, "owed": amount}

    def adjust(self, paise, now_s, ref=""):
        """Signed correction of the balance (opening balance, DISCOM correction, refund)."""
        if not _is_int(paise) or paise == 0:
            raise AccountError("bad_amount")
        self._advance(now_s)
        self._post(now_s, _K_ADJUST, paise, "%s" % ref)
        self._month[_M_ADJUST] += paise
        if paise > 0:
            self._rearm()
        elif self._fire_at is not None and self.balance_paise <= self._fire_at:
            self._fire(now_s)
        return self.balance_paise

    def set_tariff(self, tariff, now_s=None):
        """Switch tariff from now_s (default: the last time seen); the month's slab position is
        kept, the lines before it stay priced at the tariff they were used under."""
        if now_s is not None:
            self._advance(now_s)
        if tariff.to_config() == self.tariff.to_config():
            self.tariff = tariff  # the same tariff sent again: no new period
            self._mtar[-1] = tariff
            return
        self._switch(tariff, self._t if self._t >= 0 else 0)

    def schedule(self, tariff, at_s):
        """The next tariff takes effect at at_s (at once if that is not in the future); it
        replaces any tariff scheduled before."""
        if not _is_int(at_s) or at_s < 0:
            raise AccountError("bad_time")
        self._next = (at_s, tariff)
        if self._t >= 0 and at_s <= self._t:
            self._advance(self._t)

    def cancel_schedule(self):
        self._next = None

    def set_load(self, load_w, now_s=None):
        """The sanctioned load (W) for fixed charges per kW, from now on."""
        _nonneg("load_w", load_w)
        if now_s is not None:
            self._advance(now_s)
        self.load_w = load_w
        if self._day >= 0:
            self._charge(self._t, False)

    def clock_changed(self, old_s, new_s):
        """Someone set the clock from old_s to new_s. Service is counted up to old_s; the jump
        itself is not service. The open day closes if new_s is on another day, the open month if
        new_s is in another month (a closed day or month is never reopened or billed again)."""
        if self._day < 0:
            return
        self._advance(old_s)
        nday = new_s // SECONDS_PER_DAY
        if nday != self._day:
            t = max(self._t, old_s)
            if _month_key(nday) != _month_key(self._day):
                self._charge(t, True)
                self._end_day(t)
                self._close_month()
                self._open_month(nday, new_s)
            else:
                self._charge(t, False)
                self._end_day(t)
                self._day = nday
        self._t = new_s
        if self._next and self._next[0] <= new_s:
            self._advance(new_s)

    # --- read-outs ----------------------------------------------------------------------------

    def days_remaining(self):
        """Whole days the balance lasts at the average daily charge (energy + fixed + duty) of
        the last _AVERAGE_DAYS closed days; None without history or with no charges; 0 when
        the balance is not positive."""
        if self.balance_paise <= 0:
            return 0
        recs = self._daily[-_AVERAGE_DAYS:]
        if not recs:
            return None
        spent = 0
        for r in recs:
            spent += r[_DAILY_ENERGY] + r[_DAILY_FIXED] + r[_DAILY_DUTY] + r[_DAILY_OTHER]
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
            d = {"date": _date(r[_DAILY_DAY])}
            for k in range(_DAILY_IMP, len(DAILY_FIELDS)):
                d[DAILY_FIELDS[k]] = r[k]
            out.append(d)
        return out

    def billing_records(self):
        """Closed billing months, oldest first, as dicts: month "YYYY-MM", the MONTH_FIELDS,
        total_paise, lines [[name, basis, unit, rate, paise, period], ...], tariffs
        [[name, from "YYYY-MM-DDTHH:MM:SS"], ...] (one per period), slabs [[mWh, paise]]."""
        out = []
        for r in self._billing:
            slabs = r[_BILL_SLABS]
            out.append(self._month_dict(r[_BILL_MONTH], r[_BILL_FIELDS:_BILL_LINES], r[_BILL_LINES],
                                        r[_BILL_TARIFFS],
                                        [list(x) for x in slabs] if slabs else None))
        return out

    def current_day(self):
        """The open day so far (same keys as daily_records(), balance now)."""
        d = {"date": _date(self._day) if self._day >= 0 else ""}
        for k in range(_DAILY_IMP, _DAILY_BALANCE):
            d[DAILY_FIELDS[k]] = self._today[k - _DAILY_IMP + _TODAY_IMP]
        d["balance_paise"] = self.balance_paise
        d["other_paise"] = self._today[_TODAY_OTHER]
        return d

    def current_month(self):
        """The open billing month so far (same keys as billing_records()); its lines add up to
        what it has been charged so far (minimum charge and rounding come at the close)."""
        if self._day < 0:
            return self._month_dict("", self._month, [], [])
        lines, cuts = self._lines(False)
        return self._month_dict(_month_key(self._day), self._month, self._lines_out(lines, cuts),
                                self._tariff_names())

    def last_bill(self):
        """The last closed month in brief for the LCD: (month, total, energy, fixed, duty,
        rebate, surcharges) in paise, or None."""
        if not self._billing:
            return None
        r = self._billing[-1]
        f = r[_BILL_FIELDS:_BILL_LINES]
        total = f[_M_ENERGY] + f[_M_FIXED] + f[_M_DUTY] + f[_M_REBATE] + f[_M_SURCHARGE] + \
            f[_M_ROUNDING]
        return (r[_BILL_MONTH], total, f[_M_ENERGY], f[_M_FIXED], f[_M_DUTY], f[_M_REBATE],
                f[_M_SURCHARGE] + f[_M_ROUNDING])

    def slab_now(self):
        """Where the month stands now: {"category", "slab" (label), "paise_per_kwh" (the
        published rate of the slab the next kWh falls in), "month_kwh_mwh"}."""
        t = self.tariff
        mwh = self._month[_M_IMP]
        cat = t.category(mwh, self.load_w)
        if cat.non_tele:
            i = cat.slab_of(mwh + 1)
        else:
            i = cat.band_slab[t.band_index(mwh)]
        return {"category": cat.name, "slab": cat.label(i), "paise_per_kwh": cat.rates[i],
                "month_mwh": mwh}

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
        pend = []
        for k in range(len(KINDS)):
            if self._pend[k]:
                pend.append([KINDS[k], self._pend_t[k], self._pend[k]])
        tariffs = []
        for t in self._mtar:
            tariffs.append(t.to_config())
        return {
            "v": STATE_VERSION,
            "balance": self.balance_paise,
            "arrears": self.arrears_paise,
            "em_owed": self.emergency_owed_paise,
            "last_credit": [self._lc_paise, self._lc_time],
            "day": self._day,
            "t": self._t,
            "today": list(self._today),
            "month": list(self._month),
            "periods": [[p[P_START], p[P_TARIFF_NO], list(p[P_BAND_MWH]), list(p[P_BAND_TOD])] +
                        p[P_TOD_ADD:] for p in self._periods],
            "tariffs": tariffs,  # the open month's, the last one in force now
            "next": [self._next[0], self._next[1].to_config()] if self._next else None,
            "daily": [list(r) for r in self._daily],
            "billing": [list(r) for r in self._billing],
            "ledger": tot,
            "tail": [[t, KINDS[k], a, b, ref] for t, k, a, b, ref in self._tail],
            "pending": pend,
            "armed": self._armed,
            "alerts": [list(a) for a in self._alerts],
        }

    def restore(self, s):
        """Load a state() dict (configuration stays as constructed; a version 1 state is
        converted); AccountError("bad_state")."""
        try:
            if s["v"] == 1:
                s = _from_v1(s, self.tariff)
            if s["v"] != STATE_VERSION:
                raise AccountError("bad_state")
            ints = (s["balance"], s["arrears"], s["em_owed"], s["day"], s["armed"], s["t"])
            lc = s["last_credit"]
            today = s["today"]
            month = s["month"]
            for v in ints + tuple(lc) + tuple(today) + tuple(month):
                if not _is_int(v):
                    raise AccountError("bad_state")
            if len(lc) != 2 or len(today) != _TODAY_LEN or len(month) != len(MONTH_FIELDS):
                raise AccountError("bad_state")
            tot = [0] * len(KINDS)
            for k in range(len(KINDS)):
                tot[k] = s["ledger"].get(KINDS[k], 0)
            tail = []
            for t, kind, a, b, ref in s["tail"]:
                tail.append([t, KINDS.index(kind), a, b, ref])
            pend = [0] * len(KINDS)
            pend_t = [0] * len(KINDS)
            for kind, t, a in s["pending"]:
                pend[KINDS.index(kind)] = a
                pend_t[KINDS.index(kind)] = t
            daily = [tuple(r) for r in s["daily"]]
            for r in daily:
                if len(r) != len(DAILY_FIELDS):
                    raise AccountError("bad_state")
            billing = []
            for r in s["billing"]:
                if len(r) != _BILL_LEN:
                    raise AccountError("bad_state")
                r = list(r)
                r[_BILL_LINES] = [tuple(ln) for ln in r[_BILL_LINES]]
                billing.append(r)
            mtar = [Tariff.from_config(c) for c in s["tariffs"]] or [self.tariff]
            periods = []
            for p in s["periods"]:
                p = [p[P_START], p[P_TARIFF_NO], list(p[P_BAND_MWH]), list(p[P_BAND_TOD])] + \
                    list(p[P_TOD_ADD:])
                if len(p) != P_LOAD_WS + 1 or not 0 <= p[P_TARIFF_NO] < len(mtar) or \
                        len(p[P_BAND_MWH]) != len(mtar[p[P_TARIFF_NO]].bands) or \
                        len(p[P_BAND_TOD]) != len(p[P_BAND_MWH]):
                    raise AccountError("bad_state")
                periods.append(p)
            if s["day"] >= 0 and (not periods or periods[-1][P_TARIFF_NO] != len(mtar) - 1):
                raise AccountError("bad_state")
            nxt = None
            if s["next"]:
                nxt = (s["next"][0], Tariff.from_config(s["next"][1]))
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
        self._t = s["t"]
        if self._day >= 0:
            self._next_month_day = _next_month_first_day(self._day)
            self._month_s = (self._next_month_day - _month_first_day(self._day)) * SECONDS_PER_DAY
        self._today = list(today)
        self._month = list(month)
        self._mtar = mtar
        self.tariff = mtar[-1]
        self._periods = periods
        self._next = nxt
        self._daily = daily
        self._billing = billing
        self._tot = tot
        self._tail = tail
        self._pend = pend
        self._pend_t = pend_t
        self._armed = s["armed"]
        self._alerts = alerts
        self._set_alert_thresholds()
        self._set_fire_at()

    # --- internals: time ----------------------------------------------------------------------

    def _advance(self, now_s, charge=True):
        """Count service up to now_s: close the days (and months) that ended before it, switch
        to a scheduled tariff at its moment, charge what accrued (unless the caller charges
        next). A clock behind the last count adds nothing."""
        if self._day < 0:
            self._open_month(now_s // SECONDS_PER_DAY, now_s)
            return
        moved = False
        while True:
            mid = (self._day + 1) * SECONDS_PER_DAY
            end = now_s if now_s < mid else mid
            if end < self._t:
                end = self._t
            nxt = self._next
            if nxt and nxt[0] < end:
                end = nxt[0] if nxt[0] > self._t else self._t
            dt = end - self._t
            if dt > 0:
                per = self._periods[-1]
                per[P_SERVICE_S] += dt
                per[P_LOAD_WS] += self.tariff.billed_w(self.load_w) * dt
                self._month[_M_SERVICE] += dt
                self._t = end
                moved = True
            switched = False
            if nxt and nxt[0] <= end:
                self._next = None
                self._switch(nxt[1], end)
                self.switched.append((end, nxt[1].name))  # the integrator logs and stores it
                if len(self.switched) > 4:
                    self.switched.pop(0)
                switched = True
            if end == mid:
                if self._day + 1 >= self._next_month_day:
                    self._charge(mid, True)
                    self._end_day(mid)
                    self._close_month()
                    self._open_month(self._day + 1, mid)
                else:
                    self._charge(mid, False)
                    self._end_day(mid)
                    self._day += 1
                moved = False
            elif not switched:
                break
        if moved and charge:
            self._charge(self._t, False)

    def _open_month(self, day, t):
        self._day = day
        self._next_month_day = _next_month_first_day(day)
        self._month_s = (self._next_month_day - _month_first_day(day)) * SECONDS_PER_DAY
        self._month = [0] * len(MONTH_FIELDS)
        self._mtar = [self.tariff]
        self._periods = [_new_period(t, 0, self.tariff)]
        if self._t < t:
            self._t = t

    def _switch(self, tariff, t):
        """A new tariff period from t (replaces the open one if nothing was counted in it)."""
        self.tariff = tariff
        if self._day < 0:
            self._mtar = [tariff]
            return
        per = self._periods[-1]
        if not per[P_SERVICE_S] and not any(per[P_BAND_MWH]):
            self._mtar[-1] = tariff
            self._periods[-1] = _new_period(per[P_START], per[P_TARIFF_NO], tariff)
        else:
            self._mtar.append(tariff)
            self._periods.append(_new_period(t, len(self._mtar) - 1, tariff))
        self._charge(t, False)

    def _end_day(self, t):
        """Write the open day's record (balance now) and start an empty one."""
        self._flush()
        # a tuple: 40 of these stay in RAM, and a tuple is 16 bytes smaller than a list there
        t = self._today
        r = (self._day,) + tuple(t[_TODAY_IMP:_TODAY_OTHER]) + (self.balance_paise, t[_TODAY_OTHER])
        self._daily.append(r)  # the _DAILY_ slots
        if len(self._daily) > DAILY_KEEP:
            self._daily.pop(0)
        self._today = [0] * _TODAY_LEN

    def _close_month(self):
        lines, cuts = self._lines(True)
        rec = [_month_key(self._day), None] + self._month + \
            [self._lines_out(lines, cuts), self._tariff_names()]
        self._billing.append(rec)  # the _BILL_ slots; no slabs: they are the energy lines
        if len(self._billing) > BILLING_KEEP:
            self._billing.pop(0)

    # --- internals: the bill ------------------------------------------------------------------

    def _lines(self, final):
        """The open month's lines priced now; final adds the minimum charge and rounding.
        Returns (lines, cuts): cuts[i] is where period i's lines end."""
        out = []
        cuts = []
        mwh = self._month[_M_IMP]
        ms = self._month_s
        e = r = f = 0
        for per in self._periods:
            pe, pr, pf = self._mtar[per[P_TARIFF_NO]].lines(per, mwh, self.load_w, ms, out)
            e += pe
            r += pr
            f += pf
            cuts.append(len(out))
        if final:
            t = self.tariff
            if t.minimum:
                due = half_up(t.minimum * self._month[_M_SERVICE], ms)
                if due > e + r + f:
                    out.append((L_FIXED, "minimum charge", due, "month", t.minimum, due - e - r - f))
            if t.round_rupee:
                total = 0
                for ln in out:
                    total += ln[LN_PAISE]
                d = half_up(total, 100) * 100 - total
                if d:
                    out.append((L_ROUNDING, "rounding to rupee", total, "", 0, d))
            cuts[-1] = len(out)
        return out, cuts

    def _charge(self, now_s, final):
        """Charge the balance the difference between the month's lines and what the month has
        been charged, per kind. Returns the paise charged (negative: given back)."""
        lines, _ = self._lines(final)
        sums = [0] * len(KINDS)
        for ln in lines:
            sums[ln[LN_KIND]] += ln[LN_PAISE]
        month = self._month
        total = 0
        for k in CHARGE_KINDS:
            f = _KIND_FIELD[k]
            d = sums[k] - month[f]
            if d:
                month[f] = sums[k]
                self._tot[k] -= d
                self._today[_KIND_DAY[k]] += d
                self._pend[k] += d
                self._pend_t[k] = now_s
                total += d
        if total:
            self.balance_paise -= total
            if total > 0 and self._fire_at is not None and self.balance_paise <= self._fire_at:
                self._fire(now_s)
        return total

    def _lines_out(self, lines, cuts):
        out = []
        p = 0
        for i in range(len(lines)):
            while i >= cuts[p]:
                p += 1
            out.append(_line_out(p, lines[i]))
        return out

    def _tariff_names(self):
        out = []
        for per in self._periods:
            out.append([self._mtar[per[P_TARIFF_NO]].name, per[P_START]])
        return out

    @staticmethod
    def _energy_slabs(lines):
        out = []
        for ln in lines:
            if ln[_KEPT_UNIT] == "kWh" and ln[_KEPT_NAME].startswith("energy"):
                out.append([ln[_KEPT_BASIS], ln[_KEPT_PAISE]])
        return out

    def _month_dict(self, key, fields, lines, tariffs, slabs=None):
        d = {"month": key, "slabs": slabs if slabs is not None else self._energy_slabs(lines)}
        total = 0
        for k in range(len(MONTH_FIELDS)):
            d[MONTH_FIELDS[k]] = fields[k]
        for f in (_M_ENERGY, _M_FIXED, _M_DUTY, _M_REBATE, _M_SURCHARGE, _M_ROUNDING):
            total += fields[f]
        d["total_paise"] = total
        d["lines"] = [list(ln) for ln in lines]
        d["tariffs"] = [[n, civiltime.iso(t)] for n, t in tariffs]
        return d

    # --- internals: ledger --------------------------------------------------------------------

    def _post(self, t, kind, amount, ref):
        """Every balance change other than the month's charges goes through here."""
        self._flush()
        self.balance_paise += amount
        self._tot[kind] += amount
        self._tail.append([t, kind, amount, self.balance_paise, ref])
        if len(self._tail) > TAIL_KEEP:
            self._tail.pop(0)

    def _flush(self):
        """Write the pending charges into the tail, one entry per kind."""
        pend = self._pend
        bal = self.balance_paise
        for k in CHARGE_KINDS:
            bal += pend[k]  # the balance before the pending charges
        for k in CHARGE_KINDS:
            if pend[k]:
                bal -= pend[k]
                self._tail.append([self._pend_t[k], k, -pend[k], bal, ""])
                pend[k] = 0
        while len(self._tail) > TAIL_KEEP:
            self._tail.pop(0)

    def _set_alert_thresholds(self):
        """Each low-balance level's threshold: its percent of the last credit."""
        lc = self._lc_paise
        self._alert_thresholds = [lc * p // 100 for p in self.alert_percents]

    def _set_fire_at(self):
        """The highest armed threshold: the balance at which the next alert fires (None: none)."""
        f = None
        thr = self._alert_thresholds
        for i in range(len(thr)):
            if self._armed & (1 << i) and (f is None or thr[i] > f):
                f = thr[i]
        self._fire_at = f

    def _rearm(self):
        """After the balance rose: arm every level the balance is above."""
        thr = self._alert_thresholds
        for i in range(len(thr)):
            if self.balance_paise > thr[i]:
                self._armed |= 1 << i
        self._set_fire_at()

    def _fire(self, t):
        bal = self.balance_paise
        thr = self._alert_thresholds
        for i in range(len(thr)):
            bit = 1 << i
            if self._armed & bit and bal <= thr[i]:
                self._armed &= ~bit
                self._alerts.append([t, self.alert_percents[i], thr[i], bal])
                if len(self._alerts) > _ALERTS_KEEP:
                    self._alerts.pop(0)
        self._set_fire_at()


def _from_v1(s, tariff):
    """A version 1 state (firmware 0.3) as version 2: the open month becomes one period of the
    current tariff from the first of the month, its charges so far carried over (the next
    charge prices it with the new line rounding); closed months keep their totals, no lines."""
    s = dict(s)
    day = s["day"]
    s["v"] = STATE_VERSION
    added = [0] * (len(MONTH_FIELDS) - _V1_MONTH)  # rebate_paise .. service_s came with v2
    month = list(s["month"]) + added
    s["today"] = list(s["today"]) + [0]  # _TODAY_OTHER
    s["daily"] = [list(r) + [0] for r in s["daily"]]  # _DAILY_OTHER
    billing = []
    for r in s["billing"]:  # a v1 month ends after its fields: no lines, no tariffs
        billing.append([r[_BILL_MONTH], [list(x) for x in r[_BILL_SLABS]]] +
                       list(r[_BILL_FIELDS:]) + added + [[], []])
    s["billing"] = billing
    pend = []
    pe_t, pe, pd_t, pd = s["pending"]
    if pe:
        pend.append(["energy", pe_t, pe])
    if pd:
        pend.append(["duty", pd_t, pd])
    s["pending"] = pend
    s["tariffs"] = []
    s["next"] = None
    if day >= 0:
        first = _month_first_day(day)
        n = len(tariff.bands)
        bm = [0] * n
        bx = [0] * n
        for i, v in enumerate(s["slab_mwh"]):
            bm[min(i, n - 1)] += v
        for i, v in enumerate(s["slab_x"]):
            bx[min(i, n - 1)] += v
        secs = (day - first) * SECONDS_PER_DAY
        month[_M_SERVICE] = secs
        s["periods"] = [[first * SECONDS_PER_DAY, 0, bm, bx, 0, 0, secs,
                         tariff.billed_w(0) * secs]]
        s["t"] = day * SECONDS_PER_DAY
    else:
        s["periods"] = []
        s["t"] = -1
    s["month"] = month
    return s
