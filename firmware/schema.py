"""Every number the meter accepts from outside, with its range: one table.

The provisioning parser (provisioning.py, and through it the host's file check), the link
commands (commands.py) and the token actions (actions.py) check values here before anything
changes; docs/provisioning.md renders this table (tests/test_provisioning_doc.py keeps them in step); tariff.py takes its
bounds from here too.
Out of range is a Refused(422) that names the field and its range.

A row is (scope, field, lo, hi, unit). `scope` is a provisioning section or a link command;
`field` is a key, `list[].key` for a key in every entry of a list, or `list[]` for every item.
Unit "%2" marks a percentage with up to two decimals (a number or a decimal string); "time"
marks a wall-clock time, shown as a date.
"""
from refusal import Refused

Y2020 = 631152000  # 2020-01-01T00:00:00 in seconds since 2000-01-01 (civiltime)
Y2100 = 3155760000  # 2100-01-01T00:00:00

RANGES = (
    ("meter", "max_current_ma", 1000, 200000, "mA"),
    ("meter", "clock_step_limit_s", 60, 31622400, "s"),
    ("sts", "key_revision", 0, 15, ""),
    ("sts", "key_type", 0, 3, ""),
    ("sts", "supply_group", 0, 999999, ""),
    ("sts", "tariff_index", 0, 99, ""),
    ("sts", "base_date", 1993, 2035, "year"),
    ("sts", "paise_per_unit", 1, 100000, "paise"),
    ("sts", "expiry_tid", 0, 16777215, "minutes"),
    ("sts", "key_expiry", 0, 255, ""),  # KEN, in the file; the meter gets expiry_tid from it
    ("tariff", "slabs[].upto_kwh", 1, 1000000, "kWh"),
    ("tariff", "slabs[].paise_per_kwh", 0, 1000000, "paise/kWh"),
    ("tariff", "fixed_paise_per_day", 0, 10000000, "paise"),
    ("tariff", "duty_percent", 0, 100, "%2"),
    ("tariff", "duty_basis_points", 0, 10000, "1/100 %"),
    ("tariff", "tod[].percent", 1, 1000, "%"),
    ("tariff", "tod[].paise_per_kwh", -1000000, 1000000, "paise/kWh"),
    ("tariff", "fixed_paise_per_kw_month", 0, 10000000, "paise"),
    ("tariff", "fixed_paise_per_month", 0, 10000000, "paise"),
    ("tariff", "fixed_kw_step_w", 1, 1000000, "W"),
    ("tariff", "duty_paise_per_kwh", 0, 1000000, "paise/kWh"),
    ("tariff", "rebate_percent", 0, 100, "%2"),
    ("tariff", "rebate_paise_per_kwh", 0, 1000000, "paise/kWh"),
    ("tariff", "minimum_paise_per_month", 0, 10000000, "paise"),
    ("tariff", "surcharges[].percent", 0, 100, "%2"),
    ("tariff", "surcharges[].paise_per_kwh", -1000000, 1000000, "paise/kWh"),
    ("tariff", "categories[].upto_kwh", 1, 1000000, "kWh"),
    ("tariff", "categories[].max_load_w", 1, 10000000, "W"),
    ("account", "arrears_paise", 0, 10000000000, "paise"),
    ("account", "arrears_recovery_percent", 0, 100, "%"),
    ("account", "arrears_cap_paise", 0, 10000000000, "paise"),
    ("account", "emergency_credit_paise", 0, 100000000, "paise"),
    ("account", "alert_percents[]", 0, 100, "%"),
    ("connection", "grace_hours", 0, 720, "h"),
    ("connection", "sanctioned_load_w", 0, 1000000, "W"),
    ("connection", "overload_margin_percent", 0, 100, "%"),
    ("connection", "overload_trip_s", 1, 3600, "s"),
    ("connection", "overload_retry_s", 1, 86400, "s"),
    ("connection", "overload_lockout_trips", 1, 100, ""),
    ("connection", "overload_lockout_window_s", 60, 86400, "s"),
    ("credit", "paise", 1, 1000000000, "paise"),
    ("arrears", "paise", 0, 10000000000, "paise"),
    ("setclock", "time", Y2020, Y2100 - 1, "time"),
    ("calibrate", "volts_cv", 5000, 30000, "cV"),
    ("calibrate", "current_ma", 10, 100000, "mA"),
    ("calibrate", "power_w", 1, 25000, "W"),
    ("events", "n", 0, 50, ""),
    ("daily", "n", 0, 60, ""),
    ("billing", "n", 0, 24, ""),
)


class RangeError(Refused):
    def __init__(self, scope, field, lo, hi, unit):
        Refused.__init__(self, 422, "%s.%s must be %s %s..%s%s" % (
            scope, field, "a number" if unit == "%2" else "an integer", _show(lo, unit), _show(hi, unit),
            (" " + unit) if unit and unit not in ("%2", "time") else ""))
        self.field = scope + "." + field


def _show(v, unit):
    if unit == "time":
        import civiltime

        return civiltime.iso(v)
    return "%d" % v


def row(scope, field):
    for r in RANGES:
        if r[0] == scope and r[1] == field:
            return r
    raise KeyError(scope + "." + field)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check(scope, field, v):
    """v itself if it is an integer (or, for %2, a number) in the field's range; else RangeError."""
    r = row(scope, field)
    lo, hi = r[2], r[3]
    if r[4] == "%2":
        ok = _percent2(v)
        if ok is None or not lo * 100 <= ok <= hi * 100:
            raise RangeError(*r)
        return v
    if not _is_int(v) or v < lo or v > hi:
        raise RangeError(*r)
    return v


def _percent2(v):
    """Basis points of a percentage given as an int, a float or a decimal string; None if it is
    not a number with at most two decimals (or is huge, infinite or NaN)."""
    if _is_int(v):
        return v * 100 if -10 ** 6 < v < 10 ** 6 else None
    if isinstance(v, float):
        if not -1e6 < v < 1e6:  # also false for inf and nan
            return None
        bp = int(round(v * 100))
        return bp if abs(v * 100 - bp) <= 0.001 else None
    if isinstance(v, str):
        whole, _, frac = v.strip().partition(".")
        if not whole.isdigit() or len(whole) > 6 or (frac and not frac.isdigit()) or len(frac) > 2:
            return None
        return int(whole) * 100 + int((frac + "00")[:2])
    return None


def parse_int(scope, field, text):
    """A command argument: decimal digits only, then the field's range."""
    r = row(scope, field)
    if not isinstance(text, str) or not text.isdigit() or len(text) > len("%d" % r[3]):
        raise RangeError(*r)
    return check(scope, field, int(text))


def check_section(section, data):
    """Every number of a provisioning section that the table knows, before the section's own
    validator runs (missing keys, unknown keys and text formats are its job)."""
    if not isinstance(data, dict):
        return
    for r in RANGES:
        if r[0] != section:
            continue
        name, listed, sub = r[1].partition("[]")
        if name not in data:
            continue
        v = data[name]
        if not listed:
            if v is not None or name != "expiry_tid":  # expiry_tid null: no expiry
                check(section, r[1], v)
            continue
        if not isinstance(v, (list, tuple)):
            continue  # the section's validator says it must be a list
        key = sub[1:]  # ".key" -> "key"; "" for the items themselves
        for item in v:
            if key:
                if isinstance(item, dict) and key in item:
                    check(section, r[1], item[key])
            else:
                check(section, r[1], item)


def rows(scope=None):
    return [r for r in RANGES if scope is None or r[0] == scope]
