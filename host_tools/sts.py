"""Host side of STS tokens: decoder keys from vending keys (DKGA02) and vending helpers.

The block coding, the cipher and the decoder are the firmware's own (firmware/sts.py), imported
here so the vending tools and the meter cannot disagree. Only the host ever holds a vending key.
Times are integer seconds since 2000-01-01 local time (firmware/civiltime.py).
"""
import pathlib
import secrets
import sys
import time

from Crypto.Cipher import DES

ROOT = pathlib.Path(__file__).resolve().parent.parent
_FIRMWARE = str(ROOT / "firmware")
if _FIRMWARE not in sys.path:
    sys.path.insert(0, _FIRMWARE)

import civiltime  # noqa: E402  (firmware module)
import sts as fw  # noqa: E402  (firmware module)

DecoderKey = fw.DecoderKey
TokenError = fw.TokenError
format_token = fw.format_token
parse_digits = fw.parse_digits

# Issuer identification numbers defined for electricity meters; the IIN length decides how many
# DRN digits follow (6-digit IIN: 11-digit DRN, 4-digit IIN: 13-digit DRN).
KNOWN_IINS = ("600727", "0000")

MANAGEMENT = {
    # name: (class 2 subclass, name of the value, default value or None if required)
    "set_max_power": (fw.SUB_SET_MAX_POWER, "watts", None),
    "clear_credit": (fw.SUB_CLEAR_CREDIT, "register", fw.CLEAR_ALL_REGISTERS),
    "set_tariff_rate": (fw.SUB_SET_TARIFF_RATE, "rate", None),
    "clear_tamper": (fw.SUB_CLEAR_TAMPER, "pad", 0),
    "set_phase_unbalance": (fw.SUB_SET_PHASE_UNBALANCE, "watts", None),
    "set_water_factor": (fw.SUB_SET_WATER_FACTOR, "factor", None),
}


def luhn_digit(digits):
    """Luhn check digit of a digit string (the PAN check digit is Luhn over IIN+DRN)."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def pan_block(pan):
    """IIN+DRN (17 digits) or IIN+DRN+check digit (18) -> the 16-digit PANBlock string."""
    digits = "".join(c for c in str(pan) if c not in " -")
    if not digits.isdigit() or len(digits) not in (17, 18):
        raise ValueError("PAN must be IIN+DRN: 17 digits (or 18 with the check digit)")
    if len(digits) == 18:
        if luhn_digit(digits[:17]) != int(digits[17]):
            raise ValueError("PAN check digit is wrong (expected %d)" % luhn_digit(digits[:17]))
        digits = digits[:17]
    return digits[1:]


def control_block(supply_group, tariff_index, key_revision, key_type):
    """KT | SGC (6 digits) | TI (2 digits) | KRN | FFFFFF as 16 hex digits."""
    sgc = int(supply_group)
    ti = int(tariff_index)
    krn = int(key_revision)
    kt = int(key_type)
    if not 0 <= sgc <= 999999:
        raise ValueError("supply group code must have at most 6 digits")
    if not 0 <= ti <= 99:
        raise ValueError("tariff index must be 0..99")
    if not 1 <= krn <= 9:
        raise ValueError("key revision number must be 1..9")
    if kt not in (0, 1, 2):
        raise ValueError("key type must be 0, 1 or 2 (common keys, type 3, are not supported)")
    return "%d%06d%02d%dFFFFFF" % (kt, sgc, ti, krn)


def derive_decoder_key(vending_key, pan, supply_group, tariff_index, key_revision, key_type):
    """DKGA02: DK = DES_VK(PANBlock ^ CONTROLBlock) ^ (PANBlock ^ CONTROLBlock) ^ VK."""
    vk = bytes(vending_key)
    if len(vk) != 8:
        raise ValueError("vending key must be 8 bytes (16 hex digits)")
    block = int(pan_block(pan), 16) ^ int(control_block(supply_group, tariff_index,
                                                           key_revision, key_type), 16)
    data = block.to_bytes(8, "big")
    enc = DES.new(vk, DES.MODE_ECB).encrypt(data)
    return bytes(a ^ b ^ c for a, b, c in zip(enc, data, vk))


def hex_bytes(text, n=8, what="key"):
    text = str(text).strip().replace(" ", "")
    if len(text) != 2 * n:
        raise ValueError("%s must be %d hex digits" % (what, 2 * n))
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("%s must be %d hex digits" % (what, 2 * n)) from None


def now_seconds():
    """The host's local time now, in seconds since 2000-01-01 local."""
    t = time.localtime()
    return civiltime.seconds(t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _rnd(rnd):
    return secrets.randbelow(16) if rnd is None else rnd


def vend_credit(key, amount_units, when_secs, subclass=0, rnd=None):
    """Class 0 credit token (20 digits) for amount_units transfer units (0.1 kWh for electricity,
    rounded up to what the amount field can carry) issued at when_secs."""
    if not 0 <= subclass <= 3:
        raise ValueError("credit subclass must be 0..3 (electricity, water, gas, time)")
    tid = fw.seconds_to_tid(when_secs, key.base_date)
    if key.expiry_tid is not None and tid > key.expiry_tid:
        raise ValueError("the decoder key has expired (key expiry number); change the key first")
    return "%020d" % fw.encode(fw.CLASS_CREDIT, subclass, _rnd(rnd), tid, amount_units, key)


def vend_management(key, kind, when_secs, value=None, rnd=None):
    """Class 2 management token. kind: set_max_power (value watts), clear_credit (value register,
    default 0xFFFF = all), set_tariff_rate (value), clear_tamper, set_phase_unbalance (watts),
    set_water_factor (value)."""
    if kind not in MANAGEMENT:
        raise ValueError("unknown management token %r (one of %s)" % (kind, ", ".join(MANAGEMENT)))
    subclass, what, default = MANAGEMENT[kind]
    if value is None:
        if default is None:
            raise ValueError("%s needs a value (%s)" % (kind, what))
        value = default
    tid = fw.seconds_to_tid(when_secs, key.base_date)
    return "%020d" % fw.encode(fw.CLASS_MANAGEMENT, subclass, _rnd(rnd), tid, value, key)


def vend_key_change(old_key, new_key, ken=255, rollover=False):
    """The two key-change tokens (set 1st and 2nd section decoder key) moving a meter from
    old_key to new_key (a DecoderKey carrying the new revision, type and tariff index)."""
    a, b = fw.encode_key_change(old_key, new_key.key_bytes, int(new_key.key_revision),
                                int(new_key.key_type), int(new_key.tariff_index), ken, rollover)
    return "%020d" % a, "%020d" % b


def vend_test(subclass=0, control=1, manufacturer=0):
    """Class 1 InitiateMeterTest/Display token; valid on every meter (not encrypted)."""
    return "%020d" % fw.encode_test(subclass, control, manufacturer)


def decode_token(text, key, strict=False):
    """Decode on the host; strict=False returns the token with .error set instead of raising."""
    return fw.decode(text, key, strict=strict)


def token_time(tok, key):
    """ISO 8601 local time of a token's TID, or None."""
    if tok.tid is None:
        return None
    return civiltime.iso(fw.tid_to_seconds(tok.tid, key.base_date))


def _digits_str(value, width, what):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("%s must be a number" % what)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("%s must not be negative" % what)
        return "%0*d" % (width, value) if width else str(value)
    text = value.strip()
    if not text.isdigit():
        raise ValueError("%s must be digits" % what)
    return text


def key_from_config(sts_cfg):
    """DecoderKey from a provisioning file's [sts] table: decoder_key (16 hex), or vending_key
    (16 hex) with iin and drn (quoted digit strings); plus key_revision, key_type, supply_group,
    tariff_index, base_date (default 2014) and optional key_expiry (KEN, default 255)."""
    if not isinstance(sts_cfg, dict):
        raise ValueError("provisioning file has no [sts] table")
    krn = int(sts_cfg.get("key_revision", 1))
    kt = int(sts_cfg.get("key_type", 2))
    sgc = int(_digits_str(sts_cfg.get("supply_group", 0), 0, "supply_group"))
    ti = int(_digits_str(sts_cfg.get("tariff_index", 0), 0, "tariff_index"))
    base = int(sts_cfg.get("base_date", 2014))
    if base not in fw.BASE_DATES:
        raise ValueError("base_date must be 1993, 2014 or 2035")
    ken = int(sts_cfg.get("key_expiry", 255))
    if not 0 <= ken <= 255:
        raise ValueError("key_expiry must be 0..255")
    if "decoder_key" in sts_cfg:
        raw = hex_bytes(sts_cfg["decoder_key"], 8, "decoder_key")
    elif "vending_key" in sts_cfg:
        for name in ("iin", "drn"):
            if not isinstance(sts_cfg.get(name), str):
                raise ValueError("[sts] %s must be a quoted digit string (leading zeros count)" % name)
        vk = hex_bytes(sts_cfg["vending_key"], 8, "vending_key")
        raw = derive_decoder_key(vk, sts_cfg["iin"] + sts_cfg["drn"], sgc, ti, krn, kt)
    else:
        raise ValueError("[sts] needs decoder_key, or vending_key with iin and drn")
    return DecoderKey(raw, key_revision=krn, key_type=kt, supply_group=sgc, tariff_index=ti,
                      base_date=base, expiry_tid=fw.ken_expiry_tid(ken))
