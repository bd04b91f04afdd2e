"""The link's command table: what each service-port command reads or changes (docs/link-protocol.md).

Handlers take the argument text and return a dict for `OK <json>`, or raise CommandError.
Read-only commands are open; everything that changes the meter is marked for authentication.
"""
import binascii
import json

import civiltime
import heap
from account import AccountError
from link import CommandError, need
import provisioning
from provisioning import ProvisioningError

OPEN, AUTH = False, True


def _n(args, default, most):
    if not args:
        return default
    need(args.isdigit(), "count must be a number")
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


def table(meter):
    m = meter
    board = m.board

    def help_(args):
        return {"commands": sorted(cmds.keys())}

    def info(args):
        out = {"firmware": _version(), "board": board.name, "serial": m.section("meter")["serial"],
               "provisioned": m.provisioned()}
        out.update(heap.figures(board))
        return out

    def status(args):
        now = m.now_s()
        acct = m.account
        meas = m.metering.measurements
        return {
            "clock": civiltime.iso(now) if now is not None else None,
            "clock_trusted": m.clock_trusted and now is not None,
            "clock_estimated": m.clock_estimated,
            "energy_import_mwh": m.metering.import_mwh,
            "energy_export_mwh": m.metering.export_mwh,
            "balance_paise": acct.balance_paise,
            "arrears_paise": acct.arrears_paise,
            "emergency_active": acct.emergency_active,
            "relay": "closed" if board.relay.closed() else "open",
            "relay_reason": m.policy.reason if m.provisioned() else "none",
            "grace_remaining_s": m.policy.grace_remaining_s(now) if now is not None else None,
            "power_w": meas.power_w,
            "days_remaining": acct.days_remaining(),
            "provisioned": m.provisioned(),
        }

    def measure(args):
        return m.metering.measurements.as_dict()

    def energy(args):
        num, den = board.metering.MWH_PER_COUNT
        return {"import_mwh": m.metering.import_mwh, "export_mwh": m.metering.export_mwh,
                "mwh_per_count": [num, den]}

    def account(args):
        a = m.account
        last = a.last_credit
        return {"balance_paise": a.balance_paise, "arrears_paise": a.arrears_paise,
                "emergency_owed_paise": a.emergency_owed_paise, "last_credit_paise": last[0],
                "last_credit": civiltime.iso(last[1]) if last[1] is not None else None,
                "ledger": a.ledger_summary(), "tail": a.ledger_tail()}

    def relay(args):
        r = board.relay
        return {"relay": "closed" if r.closed() else "open", "relay_reason": m.policy.reason,
                "hint": m.policy.screen_hint(m.now_s()), "faults": r.faults, "fault": r.fault}

    def events(args):
        recs = m.events.last(_n(args, 20, 50))
        return {"events": recs}

    def daily(args):
        recs = m.account.daily_records()
        n = _n(args, len(recs), 60)
        return {"daily": recs[-n:] if n else [], "today": m.account.current_day()}

    def billing(args):
        recs = m.account.billing_records()
        n = _n(args, len(recs), 24)
        return {"billing": recs[-n:] if n else [], "this_month": m.account.current_month()}

    def clock(args):
        now = m.now_s()
        return {"clock": civiltime.iso(now) if now is not None else None, "seconds": now,
                "trusted": m.clock_trusted and now is not None, "estimated": m.clock_estimated,
                "rtc": board.rtc.state()}

    def token(args):
        """An STS token typed remotely: the keypad's path and lockout (open, like the keypad: a
        token authenticates itself). Refusals are 409 (used/old), 423 (locked), 422 (the rest)."""
        need(args, "usage: token <20 digits>")
        kind, paise, detail = m.enter_token(args, m.clock.ticks_ms())
        if kind == "accepted":
            out = {"result": kind, "credited_paise": paise}
            if isinstance(detail, dict) and "balance" in detail:
                out["balance_paise"] = detail["balance"]
            return out
        code = 409 if kind in ("used", "old") else 423 if kind == "locked" else 422
        why = detail.get("why") if isinstance(detail, dict) else None
        if kind == "locked":
            why = "retry in %d s" % m.recharge.locked_s()
        raise CommandError(code, "token refused: %s%s" % (kind, ": " + str(why) if why else ""))

    def challenge(args):
        return {"challenge": m.auth.challenge(), "seq": m.auth.seq}

    # -- changes (authenticated) ------------------------------------------------------------
    def provision(args):
        name, _, text = args.partition(" ")
        need(text, "usage: provision <section> <json>")
        try:
            data = json.loads(text)
        except ValueError:
            raise CommandError(422, "section %s: not valid JSON" % name)
        try:
            m.provision(name, data)
        except ProvisioningError as e:
            raise CommandError(422, str(e))
        m.save_auth_seq()
        return {"section": name, "provisioned": m.provisioned()}

    def setclock(args):
        text = args.strip()
        force = text.endswith(" force")
        if force:
            text = text[:-6].rstrip()
        try:
            secs = civiltime.parse_iso(text)
        except ValueError as e:
            raise CommandError(422, "clock: %s (use YYYY-MM-DDTHH:MM:SS)" % e)
        now = m.now_s()
        limit = m.section("meter").get("clock_step_limit_s", provisioning.CLOCK_STEP_LIMIT_S)
        if now is not None and abs(secs - now) > limit and not force:
            raise CommandError(409, "clock: a step of %d s is more than clock_step_limit_s (%d s);"
                               " send setclock %s force to make it" % (secs - now, limit, text))
        m.set_clock(secs)
        m.save_auth_seq()
        return {"clock": civiltime.iso(secs)}

    def credit(args):
        parts = args.split()
        need(len(parts) == 2, "usage: credit <paise> <transaction-id>")
        need(parts[0].isdigit() and 0 < int(parts[0]) <= 10 ** 9, "paise must be 1..1000000000")
        txn = parts[1]
        need(1 <= len(txn) <= 40, "transaction id must be 1-40 characters")
        need(m.provisioned(), "meter not provisioned", 503)
        out = m.remote_credit(int(parts[0]), txn)
        m.save_auth_seq()
        return out

    def tariff_show(args):
        nxt = m.account.next_tariff
        return {"tariff": m.account.tariff.to_config(),
                "next": {"from": civiltime.iso(nxt[0]), "tariff": nxt[1].to_config()} if nxt else None,
                "now": m.account.slab_now()}

    def tariff_cmd(args):
        if not args:
            return tariff_show(args)
        word, _, rest = args.partition(" ")
        if word == "cancel" and not rest:
            m.account.cancel_schedule()
            m.log("tariff_cancelled", "")
            m.commit("tariff")
            m.save_auth_seq()
            return tariff_show("")
        need(word == "next", "usage: tariff | tariff next <YYYY-MM-DD[THH:MM:SS]> <json> | tariff cancel")
        when, _, text = rest.partition(" ")
        need(text, "usage: tariff next <YYYY-MM-DD[THH:MM:SS]> <json>")
        try:
            at = civiltime.parse_iso(when)
        except ValueError as e:
            raise CommandError(422, "tariff next: date %s (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)" % e)
        try:
            cfg = json.loads(text)
        except ValueError:
            raise CommandError(422, "tariff next: not valid JSON")
        need(m.provisioned(), "meter not provisioned", 503)
        try:
            m.schedule_tariff(at, cfg)
        except ValueError as e:
            raise CommandError(422, "tariff: %s" % e)
        m.save_auth_seq()
        return tariff_show("")

    def calibrate(args):
        parts = args.split()
        need(len(parts) == 3, "usage: calibrate <volts> <amps> <watts>")
        ref = (_decimal_to_int(parts[0], 100, "volts"), _decimal_to_int(parts[1], 1000, "amps"),
               _decimal_to_int(parts[2], 1, "watts"))
        before = m.metering.measurements.as_dict()
        try:
            cal = m.metering.calibrate(ref)
        except (ValueError, OSError) as e:
            raise CommandError(422, "calibration refused: %s" % e)
        m.store.save("calibration", cal)
        m.save_auth_seq()
        return {"before": before, "after": m.metering.measurements.as_dict(), "calibration": cal}

    def relay_cmd(args):
        need(args in ("open", "close", "auto"), "usage: relay open|close|auto")
        need(m.provisioned(), "meter not provisioned", 503)
        m.policy.set_remote(args == "open")
        m.log("remote_relay", args)
        m.drive_relay()
        m.commit("remote_relay")
        m.save_auth_seq()
        return {"relay": "closed" if board.relay.closed() else "open", "relay_reason": m.policy.reason}

    def tamper(args):
        need(args == "clear", "usage: tamper clear")
        m.policy.set_tamper(False)
        m.log("tamper_cleared", "link")
        m.drive_relay()
        m.commit("tamper")
        m.save_auth_seq()
        return {}

    def overload(args):
        need(args == "reset", "usage: overload reset")
        m.policy.reset_overload()
        m.log("overload_reset", "link")
        m.drive_relay()
        m.commit("overload")
        m.save_auth_seq()
        return {"relay": "closed" if board.relay.closed() else "open"}

    def arrears(args):
        need(args.isdigit(), "usage: arrears <paise>")
        m.account.arrears_paise = int(args)
        m.log("arrears_set", args)
        m.commit("arrears")
        m.save_auth_seq()
        return {"arrears_paise": m.account.arrears_paise}

    def emergency(args):
        try:
            grant = m.take_emergency()
        except AccountError as e:
            raise CommandError(409, "emergency credit refused: %s" % e)
        m.save_auth_seq()
        return grant

    def setkey(args):
        try:
            key = binascii.unhexlify(args)
        except ValueError:
            key = b""
        need(len(key) == 32, "key must be 64 hex digits")
        m.set_link_key(key)
        m.log("link_key_set", "")
        m.save_auth_seq()
        return {}

    def repl(args):
        m.save_auth_seq()
        m.log("repl_unlocked", "")
        m.enter_repl()
        return {"repl": True}

    def reboot(args):
        m.save_auth_seq()
        m.commit("reboot")
        board.link.write(b'OK {"rebooting": true}\r\n')  # the reply goes out before the reset
        board.reset()

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
    # a factory-fresh meter takes its first link key unauthenticated; after that only with the key
    cmds["setkey"] = (setkey, lambda args: m.auth.key is not None)
    return cmds


def _version():
    import meter

    return meter.VERSION
