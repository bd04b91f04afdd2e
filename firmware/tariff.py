"""Prepaid tariff: telescopic monthly slabs, fixed charge per day, electricity duty, time of day.

Units: energy in integer mWh, money in integer paise, rates in paise per kWh, duty in basis
points (1/100 of a percent), time-of-day adjustments in integer percent of the energy rate.
No floats: a `duty_percent` given as a float in the configuration is converted to basis points
once, at load time, and rejected unless it is exact to two decimals.

The exact cost of energy is kept as a numerator over ENERGY_DEN:
    mWh * paise_per_kWh * tod_percent  ==  paise * ENERGY_DEN     (ENERGY_DEN = 10**6 * 100)
and the exact duty on it as a numerator over DUTY_DEN:
    energy_numerator * duty_basis_points  ==  paise * DUTY_DEN    (DUTY_DEN = ENERGY_DEN * 10**4)
`account.py` carries the remainders so that no paisa is lost or invented by rounding.

Build one with `Tariff.from_config(table)` (the `[tariff]` table of the provisioning file as a
dict); every mistake raises `TariffError` naming the key, e.g.
`slabs[1].upto_kwh must be greater than slabs[0].upto_kwh`.
"""

MWH_PER_KWH = 1000000
ENERGY_DEN = 100000000  # mWh per kWh (10**6) times percent (100)
DUTY_DEN = 1000000000000  # ENERGY_DEN times basis points per unit (10**4)
SECONDS_PER_DAY = 86400

_KEYS = ("slabs", "fixed_paise_per_day", "duty_percent", "duty_basis_points", "tod", "name")
_SLAB_KEYS = ("upto_kwh", "paise_per_kwh")
_TOD_KEYS = ("from", "to", "percent")

MAX_RATE = 1000000  # paise per kWh (Rs 10,000/kWh): anything above is a typo
MAX_FIXED = 10000000  # paise per day
MAX_TOD_PERCENT = 1000


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


def _duty_bp(cfg):
    if "duty_percent" in cfg and "duty_basis_points" in cfg:
        raise TariffError("give duty_percent or duty_basis_points, not both")
    if "duty_basis_points" in cfg:
        return _int_in(cfg, "duty_basis_points", "", 0, 10000)
    if "duty_percent" not in cfg:
        return 0
    v = cfg["duty_percent"]
    if _is_int(v):
        bp = v * 100
    elif isinstance(v, float):
        # configuration only (never accumulated): 7.5 -> 750 basis points, exactly or not at all
        bp = int(round(v * 100))
        if abs(v * 100 - bp) > 0.001:
            raise TariffError("duty_percent must have at most two decimals")
    elif isinstance(v, str):
        bp = _decimal_bp(v, "duty_percent")
    else:
        raise TariffError("duty_percent must be a number")
    if bp < 0 or bp > 10000:
        raise TariffError("duty_percent must be between 0 and 100")
    return bp


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


class Tariff:
    """Validated tariff. Use `Tariff.from_config(dict)`; the constructor trusts its arguments.

    slabs: list of (upto_mwh, paise_per_kwh); upto_mwh of the last slab is None.
    tod:   list of (from_minute, to_minute, percent); a window with from > to wraps midnight.
    """

    def __init__(self, slabs, fixed_paise_per_day=0, duty_basis_points=0, tod=(), name=""):
        self.limits = tuple(s[0] for s in slabs)  # mWh month-to-date where each slab ends
        self.rates = tuple(s[1] for s in slabs)  # paise per kWh
        self.fixed_paise_per_day = fixed_paise_per_day
        self.duty_bp = duty_basis_points
        self.tod = tuple(tuple(w) for w in tod)
        self.name = name
        # seconds-of-day windows for the hot path
        self._tod_s = tuple((f * 60, t * 60, p) for f, t, p in self.tod)

    @classmethod
    def from_config(cls, cfg):
        if not isinstance(cfg, dict):
            raise TariffError("[tariff] must be a table")
        _check_keys(cfg, _KEYS, "")
        if "slabs" not in cfg:
            raise TariffError("slabs missing")
        raw = cfg["slabs"]
        if not isinstance(raw, (list, tuple)) or not raw:
            raise TariffError("slabs must be a non-empty list")
        slabs = []
        prev = 0
        last = len(raw) - 1
        for i, s in enumerate(raw):
            where = "slabs[%d]." % i
            if not isinstance(s, dict):
                raise TariffError("slabs[%d] must be a table" % i)
            _check_keys(s, _SLAB_KEYS, where)
            if "paise_per_kwh" not in s:
                raise TariffError("%spaise_per_kwh missing" % where)
            rate = _int_in(s, "paise_per_kwh", where, 0, MAX_RATE)
            if i == last:
                if "upto_kwh" in s:
                    raise TariffError("%supto_kwh not allowed: the last slab is open-ended" % where)
                slabs.append((None, rate))
                break
            if "upto_kwh" not in s:
                raise TariffError("%supto_kwh missing (only the last slab is open-ended)" % where)
            upto = s["upto_kwh"]
            if not _is_int(upto):
                raise TariffError("%supto_kwh must be an integer" % where)
            if upto <= prev:
                if i == 0:
                    raise TariffError("slabs[0].upto_kwh must be greater than 0")
                raise TariffError("slabs[%d].upto_kwh must be greater than slabs[%d].upto_kwh"
                                  % (i, i - 1))
            if upto > 1000000:
                raise TariffError("%supto_kwh must be at most 1000000" % where)
            prev = upto
            slabs.append((upto * MWH_PER_KWH, rate))
        fixed = 0
        if "fixed_paise_per_day" in cfg:
            fixed = _int_in(cfg, "fixed_paise_per_day", "", 0, MAX_FIXED)
        bp = _duty_bp(cfg)
        tod = []  # type: list
        if "tod" in cfg:
            rt = cfg["tod"]
            if not isinstance(rt, (list, tuple)):
                raise TariffError("tod must be a list")
            for i, w in enumerate(rt):
                where = "tod[%d]." % i
                if not isinstance(w, dict):
                    raise TariffError("tod[%d] must be a table" % i)
                _check_keys(w, _TOD_KEYS, where)
                for k in _TOD_KEYS:
                    if k not in w:
                        raise TariffError("%s%s missing" % (where, k))
                f = _minutes(w["from"], where + "from", False)
                t = _minutes(w["to"], where + "to", True)
                if t == 1440:
                    t = 0
                if f == t:
                    raise TariffError("%sfrom and to must differ" % where)
                pct = _int_in(w, "percent", where, 1, MAX_TOD_PERCENT)
                for j, (f2, t2, _) in enumerate(tod):
                    for a, b in _segments(f, t):
                        for c, d in _segments(f2, t2):
                            if a < d and c < b:
                                raise TariffError("tod[%d] overlaps tod[%d]" % (i, j))
                tod.append((f, t, pct))
        name = cfg.get("name", "")
        if not isinstance(name, str):
            raise TariffError("name must be a string")
        return cls(slabs, fixed, bp, tod, name)

    def to_config(self):
        """The `[tariff]` table back (duty always as duty_basis_points)."""
        slabs = []
        for lim, rate in zip(self.limits, self.rates):
            if lim is None:
                slabs.append({"paise_per_kwh": rate})
            else:
                slabs.append({"upto_kwh": lim // MWH_PER_KWH, "paise_per_kwh": rate})
        cfg = {"slabs": slabs, "fixed_paise_per_day": self.fixed_paise_per_day,
               "duty_basis_points": self.duty_bp}
        if self.tod:
            cfg["tod"] = [{"from": _hhmm(f), "to": _hhmm(t), "percent": p} for f, t, p in self.tod]
        if self.name:
            cfg["name"] = self.name
        return cfg

    # --- rates ------------------------------------------------------------------------------

    def tod_percent(self, now_s):
        """Percent of the slab rate that applies at wall time now_s (100 outside every window)."""
        if not self._tod_s:
            return 100
        s = now_s % SECONDS_PER_DAY
        for f, t, p in self._tod_s:
            if f < t:
                if f <= s < t:
                    return p
            elif s >= f or s < t:
                return p
        return 100

    def slab_index(self, mtd_mwh):
        """Index of the slab the next mWh falls in, given month-to-date energy."""
        lims = self.limits
        i = 0
        while lims[i] is not None and mtd_mwh >= lims[i]:
            i += 1
        return i

    def slab_split(self, mtd_mwh, mwh):
        """[(slab index, mWh), ...]: how mwh more energy after mtd_mwh falls into the slabs."""
        out = []
        i = self.slab_index(mtd_mwh)
        while mwh > 0:
            lim = self.limits[i]
            seg = mwh if lim is None or mtd_mwh + mwh <= lim else lim - mtd_mwh
            out.append((i, seg))
            mtd_mwh += seg
            mwh -= seg
            i += 1
        return out

    # --- whole-month reference computation (read-outs, docs, tests) --------------------------

    def month_energy(self, total_mwh):
        """Charges for a month's total energy with no time-of-day adjustment.

        Returns {"slabs": [[mWh, paise], ...] (one per slab, paise truncated),
        "energy_paise", "duty_paise"} where energy_paise = floor(exact charge) and
        duty_paise = floor(exact charge * duty), the same numbers Account deducts.
        """
        per = [[0, 0] for _ in self.rates]
        num = 0
        for i, seg in self.slab_split(0, total_mwh):
            n = seg * self.rates[i] * 100
            per[i][0] = seg
            per[i][1] = n // ENERGY_DEN
            num += n
        return {"slabs": per, "energy_paise": num // ENERGY_DEN,
                "duty_paise": num * self.duty_bp // DUTY_DEN}

    def month_bill(self, total_mwh, days):
        """month_energy() plus fixed charges for `days` days and the total."""
        b = self.month_energy(total_mwh)
        b["fixed_paise"] = self.fixed_paise_per_day * days
        b["total_paise"] = b["energy_paise"] + b["duty_paise"] + b["fixed_paise"]
        return b
