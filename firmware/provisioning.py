"""Provisioning sections as the meter keeps them, validated again on the meter.

The host validates the provisioning file first (host_tools/provisioning.py) and sends one section
at a time; the meter checks each section once more, so a bad or partial section never replaces a
good one. Defaults make an unprovisioned meter safe: it meters, shows a zero balance, never cuts.
"""
import binascii

import schema
from connection import ConnectionPolicy
from refusal import Refused
from tariff import Tariff

CLOCK_STEP_LIMIT_S = 3600  # a larger setclock step needs "force"

SECTIONS = ("meter", "sts", "tariff", "account", "connection")
OPTIONAL = ("dlms",)  # sections a meter works without (not part of `provisioned`)

DEFAULTS = {
    "meter": {"serial": "UNPROVISIONED", "max_current_ma": 60000,
              "clock_step_limit_s": CLOCK_STEP_LIMIT_S},
    "sts": {"decoder_key": "0000000000000000", "key_revision": 1, "key_type": 2, "supply_group": 0,
            "tariff_index": 0, "base_date": 2014, "paise_per_unit": 10, "expiry_tid": None},
    "tariff": {"slabs": [{"paise_per_kwh": 0}], "fixed_paise_per_day": 0, "duty_percent": 0},
    "account": {"arrears_paise": 0, "arrears_recovery_percent": 0, "arrears_cap_paise": 0,
                "emergency_credit_paise": 0, "alert_percents": [30, 10, 0]},
    "connection": {"sanctioned_load_w": 0},
    "dlms": {"profile_period_min": 15},  # no password, no key: only the public client associates
}


class ProvisioningError(ValueError):
    pass


def _int(sec, d, key, lo, hi):
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ProvisioningError("%s.%s must be an integer %d..%d" % (sec, key, lo, hi))
    return v


def _only(sec, d, allowed):
    for k in d:
        if k not in allowed:
            raise ProvisioningError("%s: unknown key %r" % (sec, k))


def validate(section, data):
    """Return the section as the meter stores it, or raise ProvisioningError."""
    if section not in SECTIONS and section not in OPTIONAL:
        raise ProvisioningError("unknown section %r (one of %s)" % (section, ", ".join(SECTIONS + OPTIONAL)))
    if not isinstance(data, dict):
        raise ProvisioningError("%s must be a table" % section)
    try:
        schema.check_section(section, data)  # every number in its range before anything else
    except Refused as e:
        raise ProvisioningError(e.message)
    if section == "meter":
        _only(section, data, ("serial", "max_current_ma", "clock_step_limit_s"))
        serial = data.get("serial")
        if not isinstance(serial, str) or not 1 <= len(serial) <= 20 or not all(
                c.isalpha() or c.isdigit() or c in "-_" for c in serial):
            raise ProvisioningError("meter.serial must be 1-20 letters, digits, - or _")
        out = {"serial": serial, "max_current_ma": DEFAULTS["meter"]["max_current_ma"]}
        if "max_current_ma" in data:
            out["max_current_ma"] = _int(section, data, "max_current_ma", 1000, 200000)
        out["clock_step_limit_s"] = CLOCK_STEP_LIMIT_S
        if "clock_step_limit_s" in data:
            out["clock_step_limit_s"] = _int(section, data, "clock_step_limit_s", 60, 366 * 86400)
        return out
    if section == "sts":
        _only(section, data, ("decoder_key", "key_revision", "key_type", "supply_group", "tariff_index",
                              "base_date", "paise_per_unit", "expiry_tid"))
        key = data.get("decoder_key")
        try:
            if not isinstance(key, str) or len(binascii.unhexlify(key)) != 8:
                raise ValueError
        except ValueError:
            raise ProvisioningError("sts.decoder_key must be 16 hex digits")
        out = {"decoder_key": key.lower()}
        out["key_revision"] = _int(section, data, "key_revision", 0, 15)
        out["key_type"] = _int(section, data, "key_type", 0, 3)
        out["supply_group"] = _int(section, data, "supply_group", 0, 999999)
        out["tariff_index"] = _int(section, data, "tariff_index", 0, 99)
        if data.get("base_date") not in (1993, 2014, 2035):
            raise ProvisioningError("sts.base_date must be 1993, 2014 or 2035")
        out["base_date"] = data["base_date"]
        out["paise_per_unit"] = _int(section, data, "paise_per_unit", 1, 100000)
        out["expiry_tid"] = data.get("expiry_tid")
        if out["expiry_tid"] is not None:
            _int(section, data, "expiry_tid", 0, (1 << 24) - 1)
        return out
    if section == "tariff":
        try:
            Tariff.from_config(data)
        except ValueError as e:
            raise ProvisioningError("tariff: %s" % e)
        return data
    if section == "account":
        _only(section, data, ("arrears_paise", "arrears_recovery_percent", "arrears_cap_paise",
                              "emergency_credit_paise", "alert_percents"))
        out = {}
        out["arrears_paise"] = _int(section, data, "arrears_paise", 0, 10 ** 10)
        out["arrears_recovery_percent"] = _int(section, data, "arrears_recovery_percent", 0, 100)
        out["arrears_cap_paise"] = _int(section, data, "arrears_cap_paise", 0, 10 ** 10)
        out["emergency_credit_paise"] = _int(section, data, "emergency_credit_paise", 0, 10 ** 8)
        alerts = data.get("alert_percents", [30, 10, 0])
        if not isinstance(alerts, list) or not all(isinstance(a, int) and 0 <= a <= 100 for a in alerts):
            raise ProvisioningError("account.alert_percents must be a list of percentages")
        out["alert_percents"] = alerts
        return out
    if section == "dlms":
        return _dlms(data)
    # connection
    if "window" in data and not _window_text(data["window"]):
        raise ProvisioningError("connection.window must be 'HH:MM-HH:MM' (two-digit hours and minutes)")
    try:
        ConnectionPolicy(data)
    except ValueError as e:
        raise ProvisioningError(str(e))
    return data


def _hex16(sec, data, key):
    v = data[key]
    try:
        if not isinstance(v, str) or len(binascii.unhexlify(v)) != 16:
            raise ValueError
    except ValueError:
        raise ProvisioningError("%s.%s must be 32 hex digits" % (sec, key))
    return v.lower()


def _dlms(data):
    """The optical port's DLMS secrets: LLS password of the meter reader (0x20), AES key of the
    utility's HLS association (0x30), block load profile capture period."""
    _only("dlms", data, ("lls_password", "hls_key", "hls_auth_key", "profile_period_min"))
    out = {"profile_period_min": 15}
    if "lls_password" in data:
        pw = data["lls_password"]
        if not isinstance(pw, str) or len(pw) != 16 or not all(0x21 <= ord(c) <= 0x7E for c in pw):
            raise ProvisioningError("dlms.lls_password must be 16 printable ASCII characters (no spaces)")
        out["lls_password"] = pw
    for key in ("hls_key", "hls_auth_key"):
        if key in data:
            out[key] = _hex16("dlms", data, key)
    if "profile_period_min" in data:
        if data["profile_period_min"] not in (15, 30):
            raise ProvisioningError("dlms.profile_period_min must be 15 or 30")
        out["profile_period_min"] = data["profile_period_min"]
    return out


def _window_text(w):
    """'10:00-13:00': digits and separators exactly where they belong (int() alone takes '+9')."""
    if not isinstance(w, str) or len(w) != 11 or w[2] != ":" or w[5] != "-" or w[8] != ":":
        return False
    return (w[0:2] + w[3:5] + w[6:8] + w[9:11]).isdigit()


def section(config, name):
    v = config.get(name)
    return v if v is not None else DEFAULTS[name]
