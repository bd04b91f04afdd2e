"""The link's command table: parses each service-port command and shows its result
(docs/link-protocol.md). A view: read-only commands read the domain; every command that changes
the meter parses and range-checks its arguments (schema.py) and calls one action (actions.py),
which validates, applies, logs and commits. Handlers return a dict for `OK <json>` or raise
Refused; none of them logs, commits or saves the link sequence itself.

Read-only commands are open; everything that changes the meter is marked for authentication.
"""
import binascii
import json

import civiltime
import heap
import schema
from refusal import Refused, need

OPEN, AUTH = False, True


def _n(scope, args, default):
    """A count of records: digits; more than the table's most gives the most."""
    if not args:
        return default
    most = schema.row(scope, "n")[3]
    need(args.isdigit() and len(args) <= 9, "count must be a number 0..%d" % most)
    n = int(args)
    return most if n > most else n


def _decimal_to_int(text, scale, what):
    """'230.15' with scale 100 -> 23015, exactly (no float)."""
    text = text.strip()
    neg = text.startswith("-")
    if neg:
        text = text[1:]
    whole, _, frac = text.partition(".")
    digits = len(str(scale)) - 1
    need((whole.isdigit() or whole == "") and (frac.isdigit() or frac == "") and (whole or frac),
         "%s must be a number" % what)
    frac = (frac + "0" * digits)[:digits]
    v = int(whole or "0") * scale + int(frac or "0")
    return -v if neg else v


def table(d, act, service):
    """d: the domain (read); act: the action layer (write); service: board name, chip ratio,
    reboot and firmware update (loop.Service)."""

    def help_(args):
        return {"commands": sorted(cmds.keys())}

    def info(args):
        chip = d.metering.chip
        out = {"firmware": _version(), "board": service.board_name, "serial": d.section("meter")["serial"],
               "provisioned": d.provisioned(), "state_format": _state_format(), "metering_ic": chip.NAME,
               "metering_ic_errors": chip.read_errors}
        if d.refused:
            out["state_refused"] = d.refused
        out.update(heap.figures(service.board))
        return out

    def status(args):
        now = d.now_s()
        acct = d.account
        meas = d.metering.measurements
        return {
            "clock": civiltime.iso(now) if now is not None else None,
            "clock_trusted": d.clock_trusted and now is not None,
            "clock_estimated": d.clock_estimated,
            "energy_import_mwh": d.metering.import_mwh,
            "energy_export_mwh": d.metering.export_mwh,
            "balance_paise": acct.balance_paise,
            "arrears_paise": acct.arrears_paise,
            "emergency_active": acct.emergency_active,
            "relay": d.relay_word(),
            "relay_reason": d.policy.reason if d.provisioned() else "none",
            "grace_remaining_s": d.policy.grace_remaining_s(now) if now is not None else None,
            "power_w": meas.power_w,
            "days_remaining": acct.days_remaining(),
            "provisioned": d.provisioned(),
        }

    def measure(args):
        return d.metering.measurements.as_dict()

    def energy(args):
        num, den = service.mwh_per_count()
        return {"import_mwh": d.metering.import_mwh, "export_mwh": d.metering.export_mwh,
                "mwh_per_count": [num, den]}

    def account(args):
        a = d.account
        last = a.last_credit
        return {"balance_paise": a.balance_paise, "arrears_paise": a.arrears_paise,
                "emergency_owed_paise": a.emergency_owed_paise, "last_credit_paise": last[0],
                "last_credit": civiltime.iso(last[1]) if last[1] is not None else None,
                "ledger": a.ledger_summary(), "tail": a.ledger_tail()}

    def relay(args):
        r = d.relay
        return {"relay": d.relay_word(), "relay_reason": d.policy.reason,
                "hint": d.policy.screen_hint(d.now_s()), "faults": r.faults, "fault": r.fault}

    def events(args):
        return {"events": d.journal.last(_n("events", args, 20))}

    def daily(args):
        recs = d.account.daily_records()
        n = _n("daily", args, len(recs))
        return {"daily": recs[-n:] if n else [], "today": d.account.current_day()}

    def billing(args):
        recs = d.account.billing_records()
        n = _n("billing", args, len(recs))
        return {"billing": recs[-n:] if n else [], "this_month": d.account.current_month()}

    def clock(args):
        now = d.now_s()
        return {"clock": civiltime.iso(now) if now is not None else None, "seconds": now,
                "trusted": d.clock_trusted and now is not None, "estimated": d.clock_estimated,
                "rtc": service.board.rtc.state()}

    def token(args):
        """An STS token typed remotely: the keypad's path and lockout (open, like the keypad: a
        token authenticates itself). Refusals are 409 (used/old), 423 (locked), 422 (the rest)."""
        need(args, "usage: token <20 digits>")
        kind, paise, detail = service.enter_token(args)
        if kind == "accepted":
            out = {"result": kind, "credited_paise": paise}
            if isinstance(detail, dict) and "balance" in detail:
                out["balance_paise"] = detail["balance"]
            return out
        code = 409 if kind in ("used", "old") else 423 if kind == "locked" else 422
        why = detail.get("why") if isinstance(detail, dict) else detail if isinstance(detail, str) else None
        if kind == "locked":
            why = "retry in %d s" % d.recharge.locked_s()
        raise Refused(code, "token refused: %s%s" % (kind, ": " + str(why) if why else ""))

    def challenge(args):
        return {"challenge": d.auth.challenge(), "seq": d.auth.seq}

    # -- changes (authenticated): parse, then one action each ----------------------------------
    def provision(args):
        name, _, text = args.partition(" ")
        need(text, "usage: provision <section> <json>")
        try:
            data = json.loads(text)
        except ValueError:
            raise Refused(422, "section %s: not valid JSON" % name[:20])
        return act.provision(name, data)

    def setclock(args):
        text = args.strip()
        force = text.endswith(" force")
        if force:
            text = text[:-6].rstrip()
        try:
            secs = civiltime.parse_iso(text)
        except ValueError as e:
            raise Refused(422, "clock: %s (use YYYY-MM-DDTHH:MM:SS)" % e)
        return act.set_clock(secs, force)

    def credit(args):
        parts = args.split()
        need(len(parts) == 2, "usage: credit <paise> <transaction-id>")
        return act.credit(schema.parse_int("credit", "paise", parts[0]), parts[1])

    def tariff_show(args):
        nxt = d.account.next_tariff
        return {"tariff": d.account.tariff.to_config(),
                "next": {"from": civiltime.iso(nxt[0]), "tariff": nxt[1].to_config()} if nxt else None,
                "now": d.account.slab_now()}

    def tariff_cmd(args):
        if not args:
            return tariff_show(args)
        word, _, rest = args.partition(" ")
        if word == "cancel" and not rest:
            act.cancel_tariff()
            return tariff_show("")
        need(word == "next", "usage: tariff | tariff next <YYYY-MM-DD[THH:MM:SS]> <json> | tariff cancel")
        when, _, text = rest.partition(" ")
        need(text, "usage: tariff next <YYYY-MM-DD[THH:MM:SS]> <json>")
        try:
            at = civiltime.parse_iso(when)
        except ValueError as e:
            raise Refused(422, "tariff next: date %s (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)" % e)
        try:
            cfg = json.loads(text)
        except ValueError:
            raise Refused(422, "tariff next: not valid JSON")
        act.schedule_tariff(at, cfg)
        return tariff_show("")

    def calibrate(args):
        parts = args.split()
        need(len(parts) == 3, "usage: calibrate <volts> <amps> <watts>")
        ref = (schema.check("calibrate", "volts_cv", _decimal_to_int(parts[0], 100, "volts")),
               schema.check("calibrate", "current_ma", _decimal_to_int(parts[1], 1000, "amps")),
               schema.check("calibrate", "power_w", _decimal_to_int(parts[2], 1, "watts")))
        return act.calibrate(ref)

    def relay_cmd(args):
        act.remote_relay(args)
        return {"relay": d.relay_word(), "relay_reason": d.policy.reason}

    def tamper(args):
        need(args == "clear", "usage: tamper clear")
        return act.clear_tamper("link")

    def overload(args):
        need(args == "reset", "usage: overload reset")
        act.reset_overload("link")
        return {"relay": d.relay_word()}

    def arrears(args):
        return act.set_arrears(schema.parse_int("arrears", "paise", args))

    def emergency(args):
        return act.emergency("link")

    def setkey(args):
        need(d.auth.key is None, "the meter already has a link key", 409)
        try:
            key = binascii.unhexlify(args)
        except ValueError:
            key = b""
        need(len(key) == 32, "key must be 64 hex digits")
        return act.set_link_key(key)

    def repl(args):
        need(not d.provisioned(), "no REPL on a provisioned meter: update the firmware with `update` "
             "(meterctl deploy)", 409)
        return service.repl()

    def update(args):
        verb, _, rest = args.partition(" ")
        parts = rest.split()
        if verb == "put":
            need(len(parts) == 2 and parts[0].isdigit() and len(parts[0]) <= 7, "usage: update put <offset> <base64>")
            try:
                data = binascii.a2b_base64(parts[1])
            except ValueError:
                raise Refused(422, "update: chunk is not base64")
            return service.updater.put(int(parts[0]), data)
        if verb == "file":
            need(len(parts) == 3 and parts[1].isdigit() and len(parts[1]) <= 7,
                 "usage: update file <path> <size> <sha256>")
            return service.updater.file(parts[0], int(parts[1]), parts[2])
        if verb == "begin":
            return service.update_begin()
        if verb == "end":
            return service.updater.end()
        if verb == "commit":
            return service.update_commit()
        if verb == "abort":
            return service.update_abort()
        raise Refused(422, "usage: update begin|file|put|end|commit|abort")

    def reboot(args):
        return service.reboot()

    cmds = {
        "help": (help_, OPEN), "info": (info, OPEN), "status": (status, OPEN), "measure": (measure, OPEN),
        "energy": (energy, OPEN), "account": (account, OPEN), "relay": (relay, OPEN),
        "events": (events, OPEN), "daily": (daily, OPEN), "billing": (billing, OPEN), "clock": (clock, OPEN),
        "challenge": (challenge, OPEN), "token": (token, OPEN),
        "provision": (provision, AUTH), "setclock": (setclock, AUTH), "credit": (credit, AUTH),
        "calibrate": (calibrate, AUTH), "tamper": (tamper, AUTH), "overload": (overload, AUTH),
        "arrears": (arrears, AUTH), "emergency": (emergency, AUTH), "repl": (repl, AUTH),
        "reboot": (reboot, AUTH),
    }

    cmds["relay"] = (lambda args: relay_cmd(args) if args else relay(args), lambda args: bool(args))
    cmds["tariff"] = (tariff_cmd, lambda args: bool(args))  # reading it is open
    # a factory-fresh meter takes its first link key unauthenticated; a keyed meter refuses it (409)
    cmds["setkey"] = (setkey, OPEN)
    # chunks are open: the authenticated `update file` fixed their size and SHA-256
    cmds["update"] = (update, lambda args: not args.startswith(("put ", "end")))
    return cmds


# what a meter that refused its saved state still serves: enough to see why and to update it
SERVED_WHEN_REFUSED = ("help", "info", "events", "challenge", "update", "reboot")


def refusing(cmds, why):
    """The command table of a meter that cannot read its saved state (domain.restore): every
    command but SERVED_WHEN_REFUSED answers 503 and changes nothing."""

    def refuse(args):
        raise Refused(503, "%s: update the firmware (nothing was read or changed)" % why)

    for name in cmds:
        if name not in SERVED_WHEN_REFUSED:
            cmds[name] = (refuse, OPEN)
    return cmds


def _state_format():
    import domain

    return domain.STATE_FORMAT


def _version():
    import meter

    return meter.VERSION
