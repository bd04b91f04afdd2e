"""Prepaid tariff: what a month of service costs, line by line, as the published orders bill it.

A tariff is one or more rate categories (a category may be chosen by the month's consumption or
by the sanctioned load: Haryana category I/II, UP lifeline), each with telescopic or
non-telescopic monthly slabs whose fixed charge may depend on the slab; a fixed charge per kW of
sanctioned load per month, per month or per day, pro-rated by the time in service; time-of-day
adjustments (percent of the slab rate, or paise per kWh added or taken off); a prepaid rebate (per
kWh or percent of the energy charge); named surcharges (FPPCA, wheeling, regulatory: per kWh or a
percent of a chosen base); electricity duty (percent of a chosen base, and/or per kWh); a minimum
monthly charge; and optionally the total rounded to the rupee. docs/tariff.md has every key.

Units: energy integer mWh, money integer paise, rates paise per kWh, percentages integer basis
points (1/100 of a percent; a percentage in the file is converted once, exactly, at load time).
Each bill line is rounded half-up (half away from zero) to the paisa from its exact value;
percentages apply to the rounded lines they name, as a printed bill shows them.

`Tariff.from_config(table)` validates the `[tariff]` table and raises TariffError naming the
key. `Tariff.lines(...)` turns one tariff period's accumulated quantities into bill lines; the
account (account.py) keeps those quantities and deducts what the lines add up to as they grow.
"""
import schema

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[misc]  # CPython has no micropython.const
        return x


MWH_PER_KWH = 1000000
SECONDS_PER_DAY = 86400
_BP = const(10000)  # basis points in 100 %

# line kinds (the ledger kind each line is booked to, see account.KINDS)
L_ENERGY = 0
L_FIXED = 1
L_DUTY = 2
L_REBATE = 8
L_SURCHARGE = 9
L_ROUNDING = 10

# a bill line, the tuple lines() appends (public: account.py prices the month with them)
LN_KIND = const(0)  # one of the L_ kinds above
LN_NAME = const(1)  # "energy 0-100", "fixed charge", a surcharge's name, ...
LN_BASIS = const(2)  # what the rate applies to: mWh, W, seconds, paise
LN_UNIT = const(3)  # "kWh", "kW", "s", "day", "%", "month", ""
LN_RATE = const(4)
LN_PAISE = const(5)

# A tariff period's quantities, the list account.py keeps per period and lines() prices. Public
# (account.py imports them): one definition of the layout the persisted state also has.
P_START = const(0)  # start_s: when the period began
P_TARIFF_NO = const(1)  # which of the open month's tariffs prices it
P_BAND_MWH = const(2)  # [mWh per band of the month's slabs]
P_BAND_TOD = const(3)  # [mWh x (ToD percent - 100) per band]
P_TOD_ADD = const(4)  # mWh x ToD paise per kWh added (or taken off)
P_TOD_MWH = const(5)  # mWh used inside ToD windows (the basis of the time-of-day line)
P_SERVICE_S = const(6)  # seconds in service
P_LOAD_WS = const(7)  # billed W x seconds in service

# bases a percentage may apply to
BASES = ("energy", "energy_before_rebate", "energy_and_fixed")
_B_ENERGY = const(0)  # energy charge (slabs + time of day) after the rebate
_B_GROSS = const(1)  # energy charge before the rebate
_B_ENERGY_FIXED = const(2)  # energy charge after the rebate plus the fixed charge

_KEYS = ("slabs", "fixed_paise_per_day", "duty_percent", "duty_basis_points", "tod", "name",
         "slab_mode", "fixed_paise_per_kw_month", "fixed_paise_per_month", "fixed_kw_step_w",
         "rebate_paise_per_kwh", "rebate_percent", "duty_base", "duty_paise_per_kwh",
         "minimum_paise_per_month", "surcharges", "categories", "round_total_to_rupee")
_CAT_KEYS = ("name", "upto_kwh", "max_load_w", "slab_mode", "slabs", "fixed_paise_per_kw_month",
             "fixed_paise_per_month")
_SLAB_KEYS = ("upto_kwh", "paise_per_kwh", "fixed_paise_per_kw_month", "fixed_paise_per_month")
_TOD_KEYS = ("from", "to", "percent", "paise_per_kwh")
_SUR_KEYS = ("name", "paise_per_kwh", "percent", "base")

_MAX_RATE = const(1000000)  # paise per kWh (Rs 10,000/kWh): anything above is a typo
_MAX_FIXED = const(10000000)  # paise per day, per month or per kW per month
_MAX_TOD_PERCENT = const(1000)
_MAX_KWH = const(1000000)
_MAX_SURCHARGES = const(6)
_MAX_CATEGORIES = const(4)
_MAX_SLABS = const(12)


class TariffError(ValueError):
    pass


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _int_in(table, key, where, lo, hi):
    v = table[key]
    if not _is_int(v):
        raise TariffError("%s%s must be an integer" % (where, key))
    if v < lo or v > hi:
        raise TariffError("%s%s must be between %d and %d" % (where, key, lo, hi))
    return v


def _rng(field):
    """(lo, hi) of a [tariff] number: the one table of ranges (schema.py) holds them."""
    r = schema.row("tariff", field)
    return r[2], r[3]


def _opt_int(table, key, where, lo, hi, default=0):
    return _int_in(table, key, where, lo, hi) if key in table else default


def _check_keys(table, allowed, where):
    for k in table:
        if k not in allowed:
            raise TariffError("unknown key %s%s" % (where, k))


def _decimal_bp(text, name):
    """Basis points from a decimal percentage string such as '7.5' or '12.25'."""
    s = text.strip()
    parts = s.split(".")
    if len(parts) > 2:
        raise TariffError("%s must be a number with at most two decimals" % name)
    whole = parts[0]
    frac = parts[1] if len(parts) == 2 else ""
    if not whole or not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 2:
        raise TariffError("%s must be a number with at most two decimals" % name)
    frac = (frac + "00")[:2]
    return int(whole) * 100 + int(frac)


def _percent_bp(v, name, hi=_BP):
    """A percentage (int, float exact to 0.01, or decimal string) as integer basis points."""
    if _is_int(v):
        bp = v * 100
    elif isinstance(v, float):
        # configuration only (never accumulated): 7.5 -> 750 basis points, exactly or not at all
        if v != v or v > 1e9 or v < -1e9:
            raise TariffError("%s must be between 0 and %d" % (name, hi // 100))
        bp = int(round(v * 100))
        if abs(v * 100 - bp) > 0.001:
            raise TariffError("%s must have at most two decimals" % name)
    elif isinstance(v, str):
        bp = _decimal_bp(v, name)
    else:
        raise TariffError("%s must be a number" % name)
    if bp < 0 or bp > hi:
        raise TariffError("%s must be between 0 and %d" % (name, hi // 100))
    return bp


def _duty_bp(cfg):
    if "duty_percent" in cfg and "duty_basis_points" in cfg:
        raise TariffError("give duty_percent or duty_basis_points, not both")
    if "duty_basis_points" in cfg:
        return _int_in(cfg, "duty_basis_points", "", *_rng("duty_basis_points"))
    if "duty_percent" not in cfg:
        return 0
    return _percent_bp(cfg["duty_percent"], "duty_percent")


def _base(table, key, where):
    v = table.get(key, "energy")
    if v not in BASES:
        raise TariffError("%s%s must be one of %s" % (where, key, ", ".join(BASES)))
    return BASES.index(v)


def _minutes(v, name, allow_24):
    """Minute of day from 'HH:MM' (or a TOML local-time object with hour and minute)."""
    if hasattr(v, "hour") and hasattr(v, "minute") and not isinstance(v, str):
        if getattr(v, "second", 0):
            raise TariffError("%s must be a whole minute" % name)
        return v.hour * 60 + v.minute
    if not isinstance(v, str) or len(v) != 5 or v[2] != ":" \
            or not v[:2].isdigit() or not v[3:].isdigit():
        raise TariffError("%s must be \"HH:MM\"" % name)
    h, m = int(v[:2]), int(v[3:])
    if m > 59 or h > 24 or (h == 24 and (m or not allow_24)):
        raise TariffError("%s is not a time of day" % name)
    return h * 60 + m


def _segments(f, t):
    """A window [f, t) in minutes as one or two non-wrapping intervals."""
    if f < t:
        return ((f, t),)
    return ((f, 1440), (0, t))


def _hhmm(minutes):
    return "%02d:%02d" % (minutes // 60, minutes % 60)


def half_up(num, den):
    """num/den rounded to the nearest integer, halves away from zero (den > 0)."""
    if num >= 0:
        return (2 * num + den) // (2 * den)
    return -((-2 * num + den) // (2 * den))


def _text(v, name, most):
    if not isinstance(v, str) or not 1 <= len(v) <= most:
        raise TariffError("%s must be a string of 1-%d characters" % (name, most))
    return v


class Category:
    """One rate category: slabs (upto mWh or None, rate), slab mode, fixed charges per slab."""

    def __init__(self, name, upto_mwh, max_load_w, non_tele, slabs):
        self.name = name
        self.upto = upto_mwh  # chosen while the month's import is at most this (None: always)
        self.max_load_w = max_load_w  # chosen only for a sanctioned load at most this
        self.non_tele = non_tele
        self.limits = tuple(s[0] for s in slabs)
        self.rates = tuple(s[1] for s in slabs)
        self.fix_kw = tuple(s[2] for s in slabs)  # paise per kW per month, per slab
        self.fix_month = tuple(s[3] for s in slabs)  # paise per month, per slab
        self.band_slab = ()  # filled by Tariff: slab index of each band
        # line names made once, not at every metering poll
        self.names = tuple("energy " + self.label(i) for i in range(len(self.rates)))

    def slab_of(self, month_mwh):
        """The slab the month's import falls in (a limit belongs to the slab below it)."""
        lims = self.limits
        i = 0
        while lims[i] is not None and month_mwh > lims[i]:
            i += 1
        return i

    def label(self, i):
        lo = 0 if i == 0 or self.non_tele else self.limits[i - 1] // MWH_PER_KWH
        hi = self.limits[i]
        if hi is None:
            return "above %d" % (self.limits[i - 1] // MWH_PER_KWH) if i else "all"
        return "%d-%d" % (lo, hi // MWH_PER_KWH)

    def to_config(self, top):
        slabs = []
        for i in range(len(self.rates)):
            s = {"paise_per_kwh": self.rates[i]}
            if self.limits[i] is not None:
                s["upto_kwh"] = self.limits[i] // MWH_PER_KWH
            if self.fix_kw[i] != top[0]:
                s["fixed_paise_per_kw_month"] = self.fix_kw[i]
            if self.fix_month[i] != top[1]:
                s["fixed_paise_per_month"] = self.fix_month[i]
            slabs.append(s)
        out = {"slabs": slabs, "slab_mode": "non_telescopic" if self.non_tele else "telescopic"}
        if top[2]:  # in a category: its own defaults
            if top[0]:
                out["fixed_paise_per_kw_month"] = top[0]
            if top[1]:
                out["fixed_paise_per_month"] = top[1]
            if self.name:
                out["name"] = self.name
            if self.upto is not None:
                out["upto_kwh"] = self.upto // MWH_PER_KWH
            if self.max_load_w is not None:
                out["max_load_w"] = self.max_load_w
        return out


def _parse_slabs(raw, where, fk, fm):
    if not isinstance(raw, (list, tuple)) or not raw:
        raise TariffError("%sslabs must be a non-empty list" % where)
    if len(raw) > _MAX_SLABS:
        raise TariffError("%sslabs: at most %d" % (where, _MAX_SLABS))
    slabs = []
    prev = 0
    last = len(raw) - 1
    for i, s in enumerate(raw):
        w = "%sslabs[%d]." % (where, i)
        if not isinstance(s, dict):
            raise TariffError("%sslabs[%d] must be a table" % (where, i))
        _check_keys(s, _SLAB_KEYS, w)
        if "paise_per_kwh" not in s:
            raise TariffError("%spaise_per_kwh missing" % w)
        rate = _int_in(s, "paise_per_kwh", w, *_rng("slabs[].paise_per_kwh"))
        kw = _opt_int(s, "fixed_paise_per_kw_month", w, *_rng("fixed_paise_per_kw_month"), default=fk)
        mo = _opt_int(s, "fixed_paise_per_month", w, *_rng("fixed_paise_per_month"), default=fm)
        if i == last:
            if "upto_kwh" in s:
                raise TariffError("%supto_kwh not allowed: the last slab is open-ended" % w)
            slabs.append((None, rate, kw, mo))
            break
        if "upto_kwh" not in s:
            raise TariffError("%supto_kwh missing (only the last slab is open-ended)" % w)
        upto = s["upto_kwh"]
        if not _is_int(upto):
            raise TariffError("%supto_kwh must be an integer" % w)
        if upto <= prev:
            if i == 0:
                raise TariffError("%sslabs[0].upto_kwh must be greater than 0" % where)
            raise TariffError("%sslabs[%d].upto_kwh must be greater than %sslabs[%d].upto_kwh"
                              % (where, i, where, i - 1))
        if upto > _MAX_KWH:
            raise TariffError("%supto_kwh must be at most %d" % (w, _MAX_KWH))
        prev = upto
        slabs.append((upto * MWH_PER_KWH, rate, kw, mo))
    return slabs


def _mode(table, where):
    v = table.get("slab_mode", "telescopic")
    if v not in ("telescopic", "non_telescopic"):
        raise TariffError("%sslab_mode must be \"telescopic\" or \"non_telescopic\"" % where)
    return v == "non_telescopic"


class Tariff:
    """Validated tariff. Build with `Tariff.from_config(dict)`."""

    def __init__(self):
        self.name = ""
        self.categories = ()
        self.bands = ()  # upper limits (mWh) of the union of every category's slabs; last None
        self.fixed_paise_per_day = 0
        self.fixed_kw_step_w = 1000
        self.duty_bp = 0
        self.duty_base = _B_ENERGY
        self.duty_ppk = 0
        self.rebate_ppk = 0
        self.rebate_bp = 0
        self.minimum = 0
        self.surcharges = ()  # (name, paise_per_kwh, basis_points, base)
        self.tod = ()  # (from_minute, to_minute, percent, paise_per_kwh)
        self.round_rupee = False
        self._tod_s = ()

    # the first category's slabs (the published rates most consumers see)
    @property
    def limits(self):
        return self.categories[0].limits

    @property
    def rates(self):
        return self.categories[0].rates

    @classmethod
    def from_config(cls, cfg):
        if not isinstance(cfg, dict):
            raise TariffError("[tariff] must be a table")
        _check_keys(cfg, _KEYS, "")
        t = cls()
        fk = _opt_int(cfg, "fixed_paise_per_kw_month", "", *_rng("fixed_paise_per_kw_month"))
        fm = _opt_int(cfg, "fixed_paise_per_month", "", *_rng("fixed_paise_per_month"))
        cats = []
        if "categories" in cfg:
            for k in ("slabs", "slab_mode"):
                if k in cfg:
                    raise TariffError("give %s inside each of categories, not beside them" % k)
            raw = cfg["categories"]
            if not isinstance(raw, (list, tuple)) or not raw:
                raise TariffError("categories must be a non-empty list")
            if len(raw) > _MAX_CATEGORIES:
                raise TariffError("categories: at most %d" % _MAX_CATEGORIES)
            for i, c in enumerate(raw):
                w = "categories[%d]." % i
                if not isinstance(c, dict):
                    raise TariffError("categories[%d] must be a table" % i)
                _check_keys(c, _CAT_KEYS, w)
                if "slabs" not in c:
                    raise TariffError("%sslabs missing" % w)
                cfk = _opt_int(c, "fixed_paise_per_kw_month", w, *_rng("fixed_paise_per_kw_month"), default=fk)
                cfm = _opt_int(c, "fixed_paise_per_month", w, *_rng("fixed_paise_per_month"), default=fm)
                slabs = _parse_slabs(c["slabs"], w, cfk, cfm)
                upto = None
                if "upto_kwh" in c:
                    upto = _int_in(c, "upto_kwh", w, *_rng("categories[].upto_kwh")) * MWH_PER_KWH
                load = _opt_int(c, "max_load_w", w, *_rng("categories[].max_load_w"), default=None) if "max_load_w" in c else None
                if i == len(raw) - 1 and (upto is not None or load is not None):
                    raise TariffError("%s: the last category must have no upto_kwh or max_load_w "
                                      "(it applies when no other does)" % w[:-1])
                name = _text(c.get("name", "category %d" % (i + 1)), w + "name", 24)
                cats.append(Category(name, upto, load, _mode(c, w), slabs))
        else:
            if "slabs" not in cfg:
                raise TariffError("slabs missing")
            cats.append(Category("", None, None, _mode(cfg, ""), _parse_slabs(cfg["slabs"], "", fk, fm)))
        t.categories = tuple(cats)
        lims = []
        for c in cats:
            for lim in c.limits:
                if lim is not None and lim not in lims:
                    lims.append(lim)
        lims.sort()
        lims.append(None)
        t.bands = tuple(lims)
        for c in cats:
            bs = []
            for b in t.bands:
                bs.append(c.slab_of(b - 1) if b is not None else len(c.limits) - 1)
            c.band_slab = tuple(bs)
        t._fk = fk
        t._fm = fm
        t.fixed_paise_per_day = _opt_int(cfg, "fixed_paise_per_day", "", *_rng("fixed_paise_per_day"))
        t.fixed_kw_step_w = _opt_int(cfg, "fixed_kw_step_w", "", *_rng("fixed_kw_step_w"), default=1000)
        t.duty_bp = _duty_bp(cfg)
        t.duty_base = _base(cfg, "duty_base", "")
        t.duty_ppk = _opt_int(cfg, "duty_paise_per_kwh", "", *_rng("duty_paise_per_kwh"))
        t.rebate_ppk = _opt_int(cfg, "rebate_paise_per_kwh", "", *_rng("rebate_paise_per_kwh"))
        t.rebate_bp = _percent_bp(cfg["rebate_percent"], "rebate_percent") if "rebate_percent" in cfg else 0
        t.minimum = _opt_int(cfg, "minimum_paise_per_month", "", *_rng("minimum_paise_per_month"))
        t.round_rupee = cfg.get("round_total_to_rupee", False)
        if not isinstance(t.round_rupee, bool):
            raise TariffError("round_total_to_rupee must be true or false")
        t.surcharges = _parse_surcharges(cfg.get("surcharges", []))
        t.tod = _parse_tod(cfg.get("tod", []))
        t._tod_s = tuple((f * 60, e * 60, p, a) for f, e, p, a in t.tod)
        name = cfg.get("name", "")
        if not isinstance(name, str) or len(name) > 40:
            raise TariffError("name must be a string of at most 40 characters")
        t.name = name
        return t

    def to_config(self):
        """The `[tariff]` table back (duty as duty_basis_points, percentages as "x.yy")."""
        top = (self._fk, self._fm, len(self.categories) > 1 or self.categories[0].upto is not None)
        if len(self.categories) == 1 and not top[2]:
            cfg = self.categories[0].to_config(top)
        else:
            cfg = {"categories": [c.to_config(top) for c in self.categories]}
        cfg["fixed_paise_per_day"] = self.fixed_paise_per_day
        cfg["duty_basis_points"] = self.duty_bp
        for key, v, default in (("fixed_paise_per_kw_month", self._fk, 0),
                                ("fixed_paise_per_month", self._fm, 0),
                                ("fixed_kw_step_w", self.fixed_kw_step_w, 1000),
                                ("duty_paise_per_kwh", self.duty_ppk, 0),
                                ("rebate_paise_per_kwh", self.rebate_ppk, 0),
                                ("minimum_paise_per_month", self.minimum, 0)):
            if v != default:
                cfg[key] = v
        if self.duty_base:
            cfg["duty_base"] = BASES[self.duty_base]
        if self.rebate_bp:
            cfg["rebate_percent"] = _pct(self.rebate_bp)
        if self.round_rupee:
            cfg["round_total_to_rupee"] = True
        if self.surcharges:
            out = []
            for n, ppk, bp, base in self.surcharges:
                s = {"name": n}
                if bp:
                    s["percent"] = _pct(bp)
                    s["base"] = BASES[base]
                else:
                    s["paise_per_kwh"] = ppk
                out.append(s)
            cfg["surcharges"] = out
        if self.tod:
            out = []
            for f, e, p, a in self.tod:
                w = {"from": _hhmm(f), "to": _hhmm(e)}
                if p != 100:
                    w["percent"] = p
                else:
                    w["paise_per_kwh"] = a
                out.append(w)
            cfg["tod"] = out
        if self.name:
            cfg["name"] = self.name
        return cfg

    # --- the hot path: where an increment goes ---------------------------------------------

    def tod_at(self, now_s):
        """(percent of the slab rate, paise per kWh added) at wall time now_s."""
        if not self._tod_s:
            return 100, 0
        s = now_s % SECONDS_PER_DAY
        for f, t, p, a in self._tod_s:
            if (f <= s < t) if f < t else (s >= f or s < t):
                return p, a
        return 100, 0

    def band_index(self, mtd_mwh):
        """Index of the band the next mWh falls in, given the month's import so far."""
        lims = self.bands
        i = 0
        while lims[i] is not None and mtd_mwh >= lims[i]:
            i += 1
        return i

    def billed_w(self, load_w):
        """Sanctioned load rounded up to whole fixed_kw_step_w (1 kW unless provisioned)."""
        step = self.fixed_kw_step_w
        return -(-load_w // step) * step if load_w > 0 else 0

    def category(self, month_mwh, load_w):
        for c in self.categories:
            if (c.upto is None or month_mwh <= c.upto) and \
                    (c.max_load_w is None or (0 < load_w <= c.max_load_w)):
                return c
        return self.categories[-1]

    # --- bill lines ---------------------------------------------------------------------------

    def lines(self, per, month_mwh, load_w, month_s, out):
        """Append the bill lines of one tariff period to `out`; returns (E, R, F) in paise.

        per: the period's quantities, a list indexed by the P_ names above (account.py fills it).
        month_mwh is the month's import over every period (it
        chooses the category and a non-telescopic or fixed-charge slab), month_s the month's
        length in seconds. A line is (kind, name, basis, unit, rate, paise): the LN_ slots.
        """
        cat = self.category(month_mwh, load_w)
        bm = per[P_BAND_MWH]
        bx = per[P_BAND_TOD]
        mwh = 0
        for v in bm:
            mwh += v
        j = cat.slab_of(month_mwh)
        e_tot = 0
        tod_num = per[P_TOD_ADD] * 100  # mWh x paise/kWh x percent
        if cat.non_tele:
            rate = cat.rates[j]
            if mwh:
                p = half_up(mwh * rate, MWH_PER_KWH)
                out.append((L_ENERGY, cat.names[j], mwh, "kWh", rate, p))
                e_tot += p
            for x in bx:
                tod_num += x * rate
        else:
            sm = [0] * len(cat.rates)
            bs = cat.band_slab
            for b in range(len(bm)):
                sm[bs[b]] += bm[b]
                tod_num += bx[b] * cat.rates[bs[b]]
            for i in range(len(sm)):
                if sm[i]:
                    p = half_up(sm[i] * cat.rates[i], MWH_PER_KWH)
                    out.append((L_ENERGY, cat.names[i], sm[i], "kWh", cat.rates[i], p))
                    e_tot += p
        if tod_num:
            p = half_up(tod_num, MWH_PER_KWH * 100)
            out.append((L_ENERGY, "time of day", per[P_TOD_MWH], "kWh", 0, p))
            e_tot += p
        r_tot = 0
        if self.rebate_ppk and mwh:
            p = -half_up(mwh * self.rebate_ppk, MWH_PER_KWH)
            out.append((L_REBATE, "prepaid rebate", mwh, "kWh", -self.rebate_ppk, p))
            r_tot += p
        if self.rebate_bp and e_tot:
            p = -half_up(e_tot * self.rebate_bp, _BP)
            out.append((L_REBATE, "prepaid rebate", e_tot, "%", -self.rebate_bp, p))
            r_tot += p
        f_tot = 0
        secs = per[P_SERVICE_S]
        if secs:
            fk = cat.fix_kw[j]
            if fk and per[P_LOAD_WS]:
                p = half_up(fk * per[P_LOAD_WS], 1000 * month_s)
                out.append((L_FIXED, "fixed charge", self.billed_w(load_w), "kW", fk, p))
                f_tot += p
            fm = cat.fix_month[j]
            if fm:
                p = half_up(fm * secs, month_s)
                out.append((L_FIXED, "fixed charge", secs, "s", fm, p))
                f_tot += p
            if self.fixed_paise_per_day:
                p = half_up(self.fixed_paise_per_day * secs, SECONDS_PER_DAY)
                out.append((L_FIXED, "fixed charge", secs, "day", self.fixed_paise_per_day, p))
                f_tot += p
        bases = (e_tot + r_tot, e_tot, e_tot + r_tot + f_tot)
        for name, ppk, bp, base in self.surcharges:
            if bp:
                b = bases[base]
                p = half_up(b * bp, _BP)
                if p:
                    out.append((L_SURCHARGE, name, b, "%", bp, p))
            elif mwh:
                out.append((L_SURCHARGE, name, mwh, "kWh", ppk, half_up(mwh * ppk, MWH_PER_KWH)))
        if self.duty_bp:
            b = bases[self.duty_base]
            p = half_up(b * self.duty_bp, _BP)
            if p:
                out.append((L_DUTY, "electricity duty", b, "%", self.duty_bp, p))
        if self.duty_ppk and mwh:
            out.append((L_DUTY, "electricity duty", mwh, "kWh", self.duty_ppk,
                        half_up(mwh * self.duty_ppk, MWH_PER_KWH)))
        return e_tot, r_tot, f_tot

    def rate_lines(self):
        """Published slab rates, one short string per slab ("0-100 3.50"), for the LCD."""
        out = []
        for c in self.categories:
            for i, rate in enumerate(c.rates):
                lab = c.label(i)
                if lab.startswith("above "):
                    lab = ">" + lab[6:]
                out.append("%s %d.%02d" % (lab, rate // 100, rate % 100))
        return out


def _pct(bp):
    return "%d.%02d" % (bp // 100, bp % 100)


def _parse_surcharges(raw):
    if not isinstance(raw, (list, tuple)):
        raise TariffError("surcharges must be a list")
    if len(raw) > _MAX_SURCHARGES:
        raise TariffError("surcharges: at most %d" % _MAX_SURCHARGES)
    out = []
    for i, s in enumerate(raw):
        w = "surcharges[%d]." % i
        if not isinstance(s, dict):
            raise TariffError("surcharges[%d] must be a table" % i)
        _check_keys(s, _SUR_KEYS, w)
        name = _text(s.get("name"), w + "name", 24)
        if ("percent" in s) == ("paise_per_kwh" in s):
            raise TariffError("%s: give percent or paise_per_kwh" % w[:-1])
        if "percent" in s:
            bp = _percent_bp(s["percent"], w + "percent")
            if not bp:
                raise TariffError("%spercent must be more than 0" % w)
            out.append((name, 0, bp, _base(s, "base", w)))
        else:
            if "base" in s:
                raise TariffError("%sbase only goes with percent" % w)
            out.append((name, _int_in(s, "paise_per_kwh", w, *_rng("surcharges[].paise_per_kwh")), 0, 0))
    return tuple(out)


def _parse_tod(rt):
    if not isinstance(rt, (list, tuple)):
        raise TariffError("tod must be a list")
    tod = []  # type: list
    for i, w in enumerate(rt):
        where = "tod[%d]." % i
        if not isinstance(w, dict):
            raise TariffError("tod[%d] must be a table" % i)
        _check_keys(w, _TOD_KEYS, where)
        for k in ("from", "to"):
            if k not in w:
                raise TariffError("%s%s missing" % (where, k))
        f = _minutes(w["from"], where + "from", False)
        t = _minutes(w["to"], where + "to", True)
        if t == 1440:
            t = 0
        if f == t:
            raise TariffError("%sfrom and to must differ" % where)
        if "percent" in w and "paise_per_kwh" in w:
            raise TariffError("%s: give percent or paise_per_kwh, not both" % where[:-1])
        if "paise_per_kwh" in w:
            pct, add = 100, _int_in(w, "paise_per_kwh", where, *_rng("tod[].paise_per_kwh"))
        elif "percent" in w:
            pct, add = _int_in(w, "percent", where, *_rng("tod[].percent")), 0
        else:
            raise TariffError("%spercent missing" % where)
        for j, o in enumerate(tod):
            for a, b in _segments(f, t):
                for c, d in _segments(o[0], o[1]):
                    if a < d and c < b:
                        raise TariffError("tod[%d] overlaps tod[%d]" % (i, j))
        tod.append((f, t, pct, add))
    return tuple(tod)
