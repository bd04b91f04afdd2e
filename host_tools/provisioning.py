"""The provisioning file (TOML): load, validate with clear errors, and send it to a meter.

The same validators the meter runs (firmware/provisioning.py, tariff.py, connection.py) check the
file on the host first, so a technician learns of a mistake before touching a meter. `provision`
is the one code path used by `meterctl provision` and by `SimulatedMeter(config=...)`.

Keys (docs/provisioning.md): [meter] serial; [link] key (64 hex); [sts] decoder_key, or
vending_key + iin + drn, and key_revision, key_type, supply_group, tariff_index, base_date,
paise_per_unit; [tariff]; [account]; [connection]; optional [dlms] lls_password (16 ASCII),
hls_key (32 hex), hls_auth_key, profile_period_min.
"""
import binascii
import json
import pathlib
import sys
import tomllib

_FIRMWARE = str(pathlib.Path(__file__).resolve().parent.parent / "firmware")
if _FIRMWARE not in sys.path:
    sys.path.insert(0, _FIRMWARE)

import provisioning as fwprov  # noqa: E402  (firmware module: the meter's own validation)
import schema  # noqa: E402  (firmware/schema.py: every number's range)
from refusal import Refused  # noqa: E402
from host_tools import sts as hsts  # noqa: E402
from host_tools.link import MeterError, parse_reply  # noqa: E402

SECTIONS = fwprov.SECTIONS
OPTIONAL = fwprov.OPTIONAL  # [dlms]: sent when the file has it
STS_HOST_KEYS = ("vending_key", "iin", "drn", "key_expiry", "decoder_key")


class ConfigError(ValueError):
    """The provisioning file is wrong; the message names the file, section and key."""


class MeterConfig:
    def __init__(self, path, sections, link_key, sts_key):
        self.path = path
        self.sections = sections  # name -> dict as the meter stores it
        self.link_key = link_key  # bytes(32)
        self.sts_key = sts_key  # firmware sts.DecoderKey (for vending)

    @property
    def serial(self):
        return self.sections["meter"]["serial"]


def load(path):
    path = pathlib.Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("%s: no such file" % path) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("%s: not valid TOML: %s" % (path, e)) from None
    return from_dict(raw, str(path))


def from_dict(raw, name="<config>"):
    def fail(msg):
        raise ConfigError("%s: %s" % (name, msg))

    for section in raw:
        if section not in SECTIONS + OPTIONAL + ("link",):
            fail("unknown section [%s] (expected %s)" % (section, ", ".join(("link",) + SECTIONS + OPTIONAL)))
    for section in ("meter", "link", "sts", "tariff", "connection"):
        if section not in raw:
            fail("missing section [%s]" % section)
    link = raw["link"]
    try:
        key = binascii.unhexlify(link.get("key", ""))
    except (binascii.Error, TypeError):
        key = b""
    if len(key) != 32:
        fail("[link] key must be 64 hex digits")
    sts_raw = dict(raw["sts"])
    try:
        schema.check_section("sts", sts_raw)  # every number in its range (firmware/schema.py)
    except Refused as e:
        fail("[sts] %s" % e.message.replace("sts.", ""))
    try:
        dkey = hsts.key_from_config(sts_raw)
    except ValueError as e:
        fail("[sts] %s" % e)
    sts_meter = {
        "decoder_key": dkey.hex(),
        "key_revision": dkey.key_revision, "key_type": dkey.key_type, "supply_group": dkey.supply_group,
        "tariff_index": dkey.tariff_index, "base_date": dkey.base_date,
        "paise_per_unit": sts_raw.get("paise_per_unit", 10), "expiry_tid": dkey.expiry_tid,
    }
    for k in sts_raw:
        if k not in STS_HOST_KEYS + tuple(sts_meter):
            fail("[sts] unknown key %r" % k)
    sections = {}
    for section in SECTIONS:
        data = sts_meter if section == "sts" else raw.get(section, fwprov.DEFAULTS[section])
        try:
            sections[section] = fwprov.validate(section, data)
        except ValueError as e:
            fail("[%s] %s" % (section, str(e).replace(section + ": ", "").replace(section + ".", "")))
    for section in OPTIONAL:
        if section in raw:
            try:
                sections[section] = fwprov.validate(section, raw[section])
            except ValueError as e:
                fail("[%s] %s" % (section, str(e).replace(section + ": ", "").replace(section + ".", "")))
    return MeterConfig(name, sections, key, dkey)


def provision(link, cfg, progress=None):
    """Send every section to the meter on `link`; the first time, give it its link key."""
    names = [s for s in SECTIONS + OPTIONAL if s in cfg.sections]
    steps = ["key"] + names
    done = []
    reply = link.command("setkey %s" % binascii.hexlify(cfg.link_key).decode())
    if reply.startswith(("ERR 409", "ERR 401")):
        pass  # the meter has a key already (401 from firmware before 0.4): the sections below prove we hold the same one
    else:
        parse_reply(reply)
    if progress:
        progress(steps[0])
    for section in names:
        line = "provision %s %s" % (section, json.dumps(cfg.sections[section], separators=(",", ":")))
        try:
            parse_reply(link.command(line, key=cfg.link_key))
        except MeterError as e:
            if e.code == 403 and not done:
                raise MeterError(403, "the meter refused the link key in %s: it was provisioned with another key"
                                 % cfg.path) from None
            raise
        done.append(section)
        if progress:
            progress(section)
    return done


# --------------------------------------------------------------------------- the ranges table

RANGES_BEGIN = "<!-- ranges: generated from firmware/schema.py by host_tools.provisioning.ranges_markdown -->"
RANGES_END = "<!-- end of ranges -->"
_WHERE = {"credit": "`credit <paise> <txn>`", "arrears": "`arrears <paise>`", "setclock": "`setclock <ISO>`",
          "calibrate": "`calibrate <volts> <amps> <watts>`", "events": "`events [n]`", "daily": "`daily [n]`",
          "billing": "`billing [n]`"}


def _show(v, unit):
    if unit == "time":
        import civiltime

        return civiltime.iso(v)
    return str(v)


def ranges_markdown():
    """docs/provisioning.md's ranges table, from the one schema the meter checks against."""
    lines = [RANGES_BEGIN, "", "| where | field | from | to | unit |", "|---|---|---|---|---|"]
    for scope, field, lo, hi, unit in schema.RANGES:
        where = ("`[%s]`" % scope) if scope in SECTIONS else _WHERE.get(scope, "`%s`" % scope)
        shown = {"%2": "% (2 decimals)", "time": "local time"}.get(unit, unit)
        lines.append("| %s | `%s` | %s | %s | %s |" % (where, field, _show(lo, unit), _show(hi, unit), shown))
    lines += ["", RANGES_END]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] == ["--ranges"]:
        print(ranges_markdown())
