"""meterctl subcommands for STS tokens: `token derive-key|decode` and `vend credit|management|test`.

    tokens.register(subparsers)   # then args = parser.parse_args(); sys.exit(args.func(args))

Exit codes: 0 done, 1 the token does not decode, 2 bad input (message on stderr).
"""
import argparse
import decimal
import json
import sys
import tomllib

from host_tools import sts as hsts

civiltime = hsts.civiltime
fw = hsts.fw


SUPPRESS = argparse.SUPPRESS  # options a meterctl main parser may also define keep its value


class UsageError(Exception):
    pass


def _opt(args, name, default=None):
    return getattr(args, name, default)


def _int(text):
    """Decimal or 0x-prefixed integer for argparse."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError("not an integer: %r" % text) from None


def _fail(message):
    print("meterctl: error: %s" % message, file=sys.stderr)
    return 2


def _guard(fn):
    def run(args):
        try:
            return fn(args)
        except (UsageError, ValueError, OSError, tomllib.TOMLDecodeError) as e:
            return _fail(e)
    return run


def _load_config(path):
    if not path:
        raise UsageError("this command needs --config FILE (the meter's provisioning file)")
    with open(path, "rb") as f:
        cfg = tomllib.load(f)
    if "sts" not in cfg:
        raise UsageError("%s has no [sts] table" % path)
    return cfg["sts"]


def _when(args):
    text = _opt(args, "time")
    if text:
        try:
            return civiltime.parse_iso(text)
        except ValueError as e:
            raise UsageError("--time %r: %s (use YYYY-MM-DDTHH:MM[:SS], local time)"
                             % (text, e)) from None
    return hsts.now_seconds()


def _token_info(digits, key):
    """JSON-able description of a token we made, decoded back with the same key (test tokens,
    which are not encrypted, need none)."""
    tok = fw.decode(digits, key or fw.DecoderKey(bytes(8)), strict=False)
    return {
        "token": hsts.format_token(digits),
        "digits": digits,
        "class": tok.cls,
        "subclass": tok.subclass,
        "kind": tok.kind,
        "tid": tok.tid,
        "time": hsts.token_time(tok, key) if key is not None else None,
        "amount": tok.amount,
        "fields": tok.fields(),
    }


def _print_tokens(args, digits_list, key):
    if _opt(args, "json", False):
        infos = [_token_info(d, key) for d in digits_list]
        print(json.dumps(infos[0] if len(infos) == 1 else {"tokens": infos}, indent=2))
    else:
        for d in digits_list:
            print(hsts.format_token(d))
    return 0


# --------------------------------------------------------------------------- token ...


@_guard
def cmd_derive_key(args):
    vk = hsts.hex_bytes(args.vending_key, 8, "--vending-key")
    dk = hsts.derive_decoder_key(vk, args.pan, args.supply_group, args.tariff_index,
                                 args.key_revision, args.key_type)
    print(dk.hex())
    return 0


@_guard
def cmd_decode(args):
    text = "".join(args.token)
    if args.decoder_key:
        key = fw.DecoderKey(hsts.hex_bytes(args.decoder_key, 8, "--decoder-key"),
                            base_date=args.base_date or 2014)
    elif _opt(args, "config"):
        key = hsts.key_from_config(_load_config(_opt(args, "config")))
        if args.base_date:
            key.base_date = args.base_date
    else:
        raise UsageError("give --decoder-key HEX or --config FILE")
    try:
        tok = hsts.decode_token(text, key, strict=False)
    except fw.TokenError as e:
        if _opt(args, "json", False):
            print(json.dumps({"token": text, "error": e.code}, indent=2))
        else:
            print("token does not decode: %s (not 20 digits)" % e.code)
        return 1
    out = {
        "token": hsts.format_token(text),
        "class": tok.cls,
        "subclass": tok.subclass,
        "kind": tok.kind,
        "rnd": tok.rnd,
        "tid": tok.tid,
        "time": hsts.token_time(tok, key),
        "amount": tok.amount,
        "crc_ok": tok.crc_ok,
        "fields": tok.fields(),
    }
    if tok.error:
        out["error"] = tok.error
    if _opt(args, "json", False):
        print(json.dumps(out, indent=2))
    else:
        if tok.error == "crc":
            print("token does not decode with this key: CRC mismatch (wrong meter/key or mistyped)")
        else:
            if tok.error:
                print("token refused: %s" % tok.error)
            print("class %d subclass %d (%s)" % (tok.cls, tok.subclass, tok.kind))
            if tok.tid is not None:
                print("TID %d = %s (base date %d)" % (tok.tid, out["time"], key.base_date))
            for k, v in tok.fields().items():
                if k not in ("class", "subclass", "kind", "tid"):
                    print("%s: %s" % (k, v))
    return 1 if tok.error else 0


# --------------------------------------------------------------------------- vend ...


def _key_for_vend(args):
    if getattr(args, "decoder_key", None):
        return fw.DecoderKey(hsts.hex_bytes(args.decoder_key, 8, "--decoder-key"),
                             base_date=args.base_date or 2014), {}
    cfg = _load_config(_opt(args, "config"))
    key = hsts.key_from_config(cfg)
    if getattr(args, "base_date", None):
        key.base_date = args.base_date
    return key, cfg


def _check_rnd(args):
    if args.rnd is not None and not 0 <= args.rnd <= 15:
        raise UsageError("--rnd must be 0..15")


@_guard
def cmd_vend_credit(args):
    _check_rnd(args)
    key, cfg = _key_for_vend(args)
    if args.amount is not None:
        units = args.amount
        if units < 0:
            raise UsageError("--amount must not be negative")
    else:
        try:
            paise = decimal.Decimal(args.rupees) * 100
        except decimal.InvalidOperation:
            raise UsageError("--rupees %r is not a number" % args.rupees) from None
        if paise != paise.to_integral_value() or paise < 0:
            raise UsageError("--rupees must be a non-negative amount in whole paise")
        ppu = cfg.get("paise_per_unit")
        if isinstance(ppu, bool) or not isinstance(ppu, int) or ppu <= 0:
            raise UsageError("--rupees needs paise_per_unit (a positive integer) in [sts]")
        units, rest = divmod(int(paise), ppu)
        if rest:
            print("note: %d paise left over (%d paise per unit)" % (rest, ppu), file=sys.stderr)
    if units > fw.AMOUNT_MAX:
        raise UsageError("amount %d exceeds the token maximum %d units" % (units, fw.AMOUNT_MAX))
    credited = fw.decode_amount(hsts.encode_amount(units))
    if credited != units:
        print("note: %d units cannot be coded exactly; the token carries %d" % (units, credited),
              file=sys.stderr)
    digits = hsts.vend_credit(key, units, _when(args), fw.CREDIT_REGISTERS.index(args.register),
                              args.rnd)
    return _print_tokens(args, [digits], key)


MANAGEMENT_NAMES = {
    "set-power-limit": "set_max_power",
    "clear-credit": "clear_credit",
    "set-tariff-rate": "set_tariff_rate",
    "clear-tamper": "clear_tamper",
    "set-phase-unbalance": "set_phase_unbalance",
    "set-water-factor": "set_water_factor",
    "key-change": "key_change",
}


@_guard
def cmd_vend_management(args):
    _check_rnd(args)
    key, cfg = _key_for_vend(args)
    kind = MANAGEMENT_NAMES[args.subclass]
    if kind == "key_change":
        return _vend_key_change(args, key, cfg)
    value = {"set_max_power": args.watts, "set_phase_unbalance": args.watts,
             "clear_credit": args.register, "set_tariff_rate": args.rate,
             "set_water_factor": args.factor, "clear_tamper": None}[kind]
    if value is None and kind in ("set_max_power", "set_phase_unbalance"):
        raise UsageError("%s needs --watts N" % args.subclass)
    if value is None and kind == "set_tariff_rate":
        raise UsageError("set-tariff-rate needs --rate N (raw 16-bit field)")
    if value is None and kind == "set_water_factor":
        raise UsageError("set-water-factor needs --factor N (raw 16-bit field)")
    if kind in ("set_max_power", "set_phase_unbalance") and not 0 <= value <= fw.AMOUNT_MAX:
        raise UsageError("--watts must be 0..%d" % fw.AMOUNT_MAX)
    digits = hsts.vend_management(key, kind, _when(args), value, args.rnd)
    return _print_tokens(args, [digits], key)


def _vend_key_change(args, old_key, cfg):
    krn = args.new_key_revision if args.new_key_revision is not None else old_key.key_revision
    kt = args.new_key_type if args.new_key_type is not None else old_key.key_type
    ti = args.new_tariff_index if args.new_tariff_index is not None else old_key.tariff_index
    sgc = args.new_supply_group if args.new_supply_group is not None else old_key.supply_group
    if args.new_decoder_key:
        raw = hsts.hex_bytes(args.new_decoder_key, 8, "--new-decoder-key")
    elif "vending_key" in cfg:
        vk = hsts.hex_bytes(cfg["vending_key"], 8, "vending_key")
        if args.new_vending_key:
            vk = hsts.hex_bytes(args.new_vending_key, 8, "--new-vending-key")
        raw = hsts.derive_decoder_key(vk, cfg["iin"] + cfg["drn"], sgc, ti, krn, kt)
    else:
        raise UsageError("key-change needs --new-decoder-key HEX, or a vending_key in [sts]")
    if not 0 <= args.ken <= 255:
        raise UsageError("--ken must be 0..255")
    new_key = fw.DecoderKey(raw, key_revision=krn, key_type=kt, supply_group=sgc,
                            tariff_index=ti, base_date=old_key.base_date)
    first, second = hsts.vend_key_change(old_key, new_key, args.ken, args.rollover)
    return _print_tokens(args, [first, second], old_key)


@_guard
def cmd_vend_test(args):
    digits = hsts.vend_test(args.subclass, args.control, args.manufacturer)
    return _print_tokens(args, [digits], None)


# --------------------------------------------------------------------------- wiring


def register(subparsers):
    """Add `token` and `vend` to a meterctl argparse subparsers object."""
    tok = subparsers.add_parser("token", help="STS token keys and decoding")
    tsub = tok.add_subparsers(dest="token_cmd", metavar="{derive-key,decode}")
    tsub.required = True

    p = tsub.add_parser("derive-key", help="decoder key from a vending key (DKGA02)")
    p.add_argument("--vending-key", required=True, metavar="HEX", help="16 hex digits")
    p.add_argument("--pan", required=True, metavar="DIGITS",
                   help="IIN+DRN (17 digits) or IIN+DRN+check digit (18)")
    p.add_argument("--supply-group", required=True, type=_int, metavar="N")
    p.add_argument("--tariff-index", type=_int, default=1, metavar="N")
    p.add_argument("--key-revision", type=_int, default=1, metavar="N")
    p.add_argument("--key-type", type=_int, default=2, metavar="N")
    p.set_defaults(func=cmd_derive_key)

    p = tsub.add_parser("decode", help="decode a 20-digit token with a decoder key")
    p.add_argument("token", nargs="+", help="the 20 digits (spaces allowed)")
    p.add_argument("--decoder-key", metavar="HEX")
    p.add_argument("--config", metavar="FILE", default=SUPPRESS,
                   help="take the key from a provisioning file")
    p.add_argument("--base-date", type=int, choices=fw.BASE_DATES, metavar="YEAR",
                   help="TID base date 1993, 2014 or 2035 (default: the config's, else 2014)")
    p.add_argument("--json", action="store_true", default=SUPPRESS)
    p.set_defaults(func=cmd_decode)

    vend = subparsers.add_parser("vend", help="make STS tokens for a meter")
    vsub = vend.add_subparsers(dest="vend_cmd", metavar="{credit,management,test}")
    vsub.required = True

    def common(q, keyed=True):
        if keyed:
            q.add_argument("--config", metavar="FILE", default=SUPPRESS,
                           help="provisioning file with [sts]")
            q.add_argument("--decoder-key", metavar="HEX", help="instead of --config")
            q.add_argument("--base-date", type=int, choices=fw.BASE_DATES, metavar="YEAR",
                           help="TID base date (default: the config's, else 2014)")
            q.add_argument("--time", metavar="ISO", default=SUPPRESS,
                           help="issue time, local (default: now)")
            q.add_argument("--rnd", type=_int, metavar="N", help="random field (default random)")
        q.add_argument("--json", action="store_true", default=SUPPRESS)

    p = vsub.add_parser("credit", help="credit token")
    common(p)
    amount = p.add_mutually_exclusive_group(required=True)
    amount.add_argument("--amount", type=_int, metavar="UNITS", help="transfer units (0.1 kWh)")
    amount.add_argument("--rupees", metavar="R", help="converted with [sts] paise_per_unit")
    p.add_argument("--register", choices=fw.CREDIT_REGISTERS, default="electricity")
    p.set_defaults(func=cmd_vend_credit)

    p = vsub.add_parser("management", help="meter-specific management token")
    common(p)
    p.add_argument("--subclass", required=True, choices=list(MANAGEMENT_NAMES), metavar="NAME",
                   help=", ".join(MANAGEMENT_NAMES))
    p.add_argument("--watts", type=_int, help="set-power-limit, set-phase-unbalance")
    p.add_argument("--register", type=_int, default=fw.CLEAR_ALL_REGISTERS,
                   help="clear-credit: register (default 0xFFFF = all)")
    p.add_argument("--rate", type=_int, help="set-tariff-rate: raw 16-bit rate")
    p.add_argument("--factor", type=_int, help="set-water-factor: raw 16-bit factor")
    p.add_argument("--new-decoder-key", metavar="HEX", help="key-change: the new key")
    p.add_argument("--new-vending-key", metavar="HEX", help="key-change: derive from this key")
    p.add_argument("--new-tariff-index", type=_int, metavar="N")
    p.add_argument("--new-key-revision", type=_int, metavar="N")
    p.add_argument("--new-key-type", type=_int, metavar="N")
    p.add_argument("--new-supply-group", type=_int, metavar="N")
    p.add_argument("--ken", type=_int, default=255, help="key-change: key expiry number")
    p.add_argument("--rollover", action="store_true", help="key-change: base date rollover")
    p.set_defaults(func=cmd_vend_management)

    p = vsub.add_parser("test", help="InitiateMeterTest/Display token (any meter)")
    common(p, keyed=False)
    p.add_argument("--config", metavar="FILE", default=SUPPRESS,
                   help="ignored: test tokens need no key")
    p.add_argument("--time", metavar="ISO", default=SUPPRESS,
                   help="ignored: test tokens carry no TID")
    p.add_argument("--subclass", type=_int, default=0, choices=(0, 1), metavar="N",
                   help="0: 36 control bits + 8-bit maker code, 1: 28 bits + 16-bit code")
    p.add_argument("--control", type=_int, default=1, metavar="BITS", help="default 1")
    p.add_argument("--manufacturer", type=_int, default=0, metavar="N")
    p.set_defaults(func=cmd_vend_test)
    return subparsers
