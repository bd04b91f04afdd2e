"""Host side of STS tokens: decoder keys from vending keys (DKGA02), the token encoder and the
vending helpers.

The meter only decodes (firmware/sts.py); everything that makes tokens lives here, out of the
meter image. The decoder, the block layout, the CRC and the amount coding are the firmware's own,
imported here so the vending tools and the meter cannot disagree; the tests check both sides
against published vectors, never only against each other. Only the host ever holds a vending key.
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
parse_digits = fw.parse_digits

# Issuer identification numbers defined for electricity meters; the IIN length decides how many
# DRN digits follow (6-digit IIN: 11-digit DRN, 4-digit IIN: 13-digit DRN).
KNOWN_IINS = ("600727", "0000")

CLASS_CREDIT = fw.CLASS_CREDIT
CLASS_TEST = fw.CLASS_TEST
CLASS_MANAGEMENT = fw.CLASS_MANAGEMENT

MANAGEMENT = {
    # name: (class 2 subclass, name of the value, default value or None if required)
    "set_max_power": (fw.SUB_SET_MAX_POWER, "watts", None),
    "clear_credit": (fw.SUB_CLEAR_CREDIT, "register", fw.CLEAR_ALL_REGISTERS),
    "set_tariff_rate": (fw.SUB_SET_TARIFF_RATE, "rate", None),
    "clear_tamper": (fw.SUB_CLEAR_TAMPER, "pad", 0),
    "set_phase_unbalance": (fw.SUB_SET_PHASE_UNBALANCE, "watts", None),
    "set_water_factor": (fw.SUB_SET_WATER_FACTOR, "factor", None),
}


# ---------------------------------------------------------------------------------------------
# The encoder (the inverse of firmware/sts.py's decoder)


class Encipher:
    """EA07 Standard Transfer Algorithm, encryption, block held as eight bytes like the meter's
    Decipher: 16 rounds r = 0..15, nibble i through S1 when decoder-key bit (4*i + 15 - r) mod 64
    is 1, else through S2, then bit j moves to bit perm[j]."""

    def __init__(self, s1=fw.S1, s2=fw.S2, perm=fw.P):
        self._s1 = bytes(s1)
        self._s2 = bytes(s2)
        self._t = fw.perm_table(perm)

    def encrypt(self, w, kbits):
        """Encrypt the words w (4 x 16 bits, w[0] = bits 15..0; changed in place)."""
        s = bytearray(8)
        for k in range(4):
            s[2 * k] = w[k] & 255
            s[2 * k + 1] = w[k] >> 8
        t = self._t
        for r in range(16):
            n = [0] * 8
            for i in range(16):
                v = (s[i >> 1] >> ((i & 1) << 2)) & 15
                v = self._s1[v] if kbits[((i << 2) + 15 - r) & 63] else self._s2[v]
                j = ((i << 4) | v) << 3
                for k in range(8):
                    n[k] |= t[j + k]
            s = bytearray(n)
        for k in range(4):
            w[k] = s[2 * k] | (s[2 * k + 1] << 8)
        return w


_encipher = Encipher()


def sta_encrypt(block, key_bytes, encipher=None):
    """64-bit plain block -> 64-bit encrypted block."""
    w = fw.block_to_words(block)
    return fw.words_to_block((encipher or _encipher).encrypt(w, fw.key_bits(key_bytes)))


def join_token(cls, w):
    """(class, words of the encrypted block) -> 66-bit token number."""
    w1 = w[1]
    top = (((w1 >> 12) & 1) << 1) | ((w1 >> 11) & 1)
    low = (w[3] << 48) | (w[2] << 32) | (((w1 & 0xE7FF) | (cls << 11)) << 16) | w[0]
    return (top << 64) | low


def encode_amount(units):
    """Transfer units -> 16-bit field, rounded up to the next value the field can carry."""
    if units < 0 or units > fw.AMOUNT_MAX:
        raise ValueError("amount out of range 0..%d" % fw.AMOUNT_MAX)
    for e in range(4):
        scale = 10 ** e
        m = -((fw.amount_offset(e) - units) // scale)  # ceil((units - offset) / scale)
        if m < 0:
            m = 0
        if m <= 0x3FFF:
            return (e << 14) | m
    raise ValueError("amount out of range")


def encode_currency(value):
    """10**-5 currency units -> (16-bit field, sign-and-exponent nibble); magnitude rounded up."""
    sign = 0
    if value < 0:
        sign = 8
        value = -value
    for e in range(32):
        scale = 10 ** e
        m = -((fw.amount_offset(e) - value) // scale)
        if m < 0:
            m = 0
        if m <= 0x3FFF:
            return ((((e >> 1) & 1) << 15) | ((e & 1) << 14) | m), (sign | (e >> 2))
    raise ValueError("currency amount out of range")


def encode_block(cls, w, key):
    """Words of a plain block (CRC already in w[0]) -> token number; class 1 is not encrypted."""
    w = list(w)
    if cls != CLASS_TEST:
        _encipher.encrypt(w, key._bits)
    return join_token(cls, w)


def with_crc(cls, w3, w2, w1, currency=False):
    """Plain block words with the CRC the meter expects in w[0]."""
    w = [0, w1 & 0xFFFF, w2 & 0xFFFF, w3 & 0xFFFF]
    w[0] = fw.block_crc(cls, w, currency)
    return w


def encode(cls, subclass, rnd, tid, amount_units, key):
    """Build, encrypt and transpose a token with the subclass|rnd|TID|field layout.

    amount_units is coded with the amount exponent/mantissa for credit (class 0, subclasses 0..3;
    rounded up), currency credit (subclasses 4..7, 10**-5 currency units, rnd ignored) and the
    power limits (class 2, subclasses 0 and 6, in watts); for the other class 2 subclasses it is
    the raw 16-bit field (register, rate, pad, factor).
    """
    if not 0 <= tid <= fw.TID_MAX:
        raise ValueError("TID out of range")
    if not 0 <= rnd <= 15:
        raise ValueError("random number out of range")
    currency = False
    if cls == CLASS_CREDIT and 0 <= subclass <= 3:
        raw = encode_amount(amount_units)
    elif cls == CLASS_CREDIT and 4 <= subclass <= 7:
        raw, rnd = encode_currency(amount_units)
        currency = True
    elif cls == CLASS_MANAGEMENT and subclass in (fw.SUB_SET_MAX_POWER, fw.SUB_SET_PHASE_UNBALANCE):
        raw = encode_amount(amount_units)
    elif cls == CLASS_MANAGEMENT and subclass in (fw.SUB_CLEAR_CREDIT, fw.SUB_SET_TARIFF_RATE,
                                                  fw.SUB_CLEAR_TAMPER, fw.SUB_SET_WATER_FACTOR):
        if not 0 <= amount_units <= 0xFFFF:
            raise ValueError("field out of range 0..65535")
        raw = amount_units
    else:
        raise ValueError("no such token: class %d subclass %d" % (cls, subclass))
    w = with_crc(cls, (subclass << 12) | (rnd << 8) | (tid >> 16), tid & 0xFFFF, raw, currency)
    return encode_block(cls, w, key)


def encode_key_change(old_key, new_key_bytes, key_revision, key_type, tariff_index, ken=255,
                      rollover=0):
    """The two class 2 tokens (subclasses 3 and 4) that load new_key_bytes, encrypted with old_key."""
    if len(new_key_bytes) != 8:
        raise ValueError("new key must be 8 bytes")
    if not (0 <= key_revision <= 15 and 0 <= key_type <= 3 and 0 <= tariff_index <= 255
            and 0 <= ken <= 255):
        raise ValueError("key change field out of range")
    k = new_key_bytes
    hi = (k[0] << 24) | (k[1] << 16) | (k[2] << 8) | k[3]
    lo = (k[4] << 24) | (k[5] << 16) | (k[6] << 8) | k[7]
    w3 = (fw.SUB_KEY_CHANGE_1 << 12) | ((ken >> 4) << 8) | (key_revision << 4) | \
        ((1 if rollover else 0) << 3) | key_type
    first = encode_block(CLASS_MANAGEMENT, with_crc(CLASS_MANAGEMENT, w3, hi >> 16, hi), old_key)
    w3 = (fw.SUB_KEY_CHANGE_2 << 12) | ((ken & 15) << 8) | tariff_index
    second = encode_block(CLASS_MANAGEMENT, with_crc(CLASS_MANAGEMENT, w3, lo >> 16, lo), old_key)
    return first, second


def encode_test(subclass, control, manufacturer=0):
    """Class 1 InitiateMeterTest/Display token (not encrypted, valid on any meter).
    subclass 0: 36-bit control, 8-bit manufacturer code; subclass 1: 28-bit control, 16-bit code."""
    if subclass == 0:
        if not (0 <= control < (1 << 36) and 0 <= manufacturer <= 0xFF):
            raise ValueError("control or manufacturer code out of range")
        w = with_crc(CLASS_TEST, (control >> 24), (control >> 8) & 0xFFFF,
                     ((control & 0xFF) << 8) | manufacturer)
    elif subclass == 1:
        if not (0 <= control < (1 << 28) and 0 <= manufacturer <= 0xFFFF):
            raise ValueError("control or manufacturer code out of range")
        w = with_crc(CLASS_TEST, (1 << 12) | (control >> 16), control & 0xFFFF, manufacturer)
    else:
        raise ValueError("test token subclass must be 0 or 1")
    return join_token(CLASS_TEST, w)


def encode_raw(cls, w3, w2, w1, key, currency=False):
    """Any block with a valid CRC (subclass and fields as given), encrypted unless class 1: for
    fuzzing the meter with tokens that pass the CRC but carry arbitrary fields."""
    return encode_block(cls, with_crc(cls, w3, w2, w1, currency), key)


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


def seconds_to_tid(secs, base_date):
    """Seconds since 2000-01-01 local -> the TID a token issued then carries; ValueError outside
    the base date's 24-bit range. Only vending turns a time into a TID: the meter reads TIDs
    (fw.tid_to_seconds), so this lives here, out of the meter image."""
    tid = (secs - fw.tid_to_seconds(0, base_date)) // 60
    if tid < 0 or tid > fw.TID_MAX:
        raise ValueError("time outside the TID range of base date %d" % base_date)
    return tid


def format_token(n):
    """int or digit string -> 'dddd dddd dddd dddd dddd', as a token is printed for the consumer.
    The meter takes tokens from its keypad and never prints one."""
    if isinstance(n, str):
        n = parse_digits(n)
    s = "%020d" % n
    return " ".join(s[i:i + 4] for i in range(0, 20, 4))


def _rnd(rnd):
    return secrets.randbelow(16) if rnd is None else rnd


def vend_credit(key, amount_units, when_secs, subclass=0, rnd=None):
    """Class 0 credit token (20 digits) for amount_units transfer units (0.1 kWh for electricity,
    rounded up to what the amount field can carry) issued at when_secs."""
    if not 0 <= subclass <= 3:
        raise ValueError("credit subclass must be 0..3 (electricity, water, gas, time)")
    tid = seconds_to_tid(when_secs, key.base_date)
    if key.expiry_tid is not None and tid > key.expiry_tid:
        raise ValueError("the decoder key has expired (key expiry number); change the key first")
    return "%020d" % encode(fw.CLASS_CREDIT, subclass, _rnd(rnd), tid, amount_units, key)


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
    tid = seconds_to_tid(when_secs, key.base_date)
    return "%020d" % encode(fw.CLASS_MANAGEMENT, subclass, _rnd(rnd), tid, value, key)


def vend_key_change(old_key, new_key, ken=255, rollover=False):
    """The two key-change tokens (set 1st and 2nd section decoder key) moving a meter from
    old_key to new_key (a DecoderKey carrying the new revision, type and tariff index)."""
    a, b = encode_key_change(old_key, new_key.key_bytes, int(new_key.key_revision),
                                int(new_key.key_type), int(new_key.tariff_index), ken, rollover)
    return "%020d" % a, "%020d" % b


def vend_test(subclass=0, control=1, manufacturer=0):
    """Class 1 InitiateMeterTest/Display token; valid on every meter (not encrypted)."""
    return "%020d" % encode_test(subclass, control, manufacturer)


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
