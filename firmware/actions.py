"""The action layer: the one way anything changes the meter.

A link command, a keypad token, a management token, the FN key and a policy timer all end here.
Every public method is an action run by `_run`: its body validates completely (raising Refused
before it touches anything), applies the change, and returns (event code, event detail, result).
`_run` then lets the connection policy move the relay, commits the hot state once, logs the one
event, and hands the result back for the caller to show (the link's reply dict, the LCD's words).
Commits that happen inside (the relay's) are deferred to that single commit, so a credit never
reaches flash without the TID or transaction id that makes it idempotent.

The bodies never log, commit or save the link sequence themselves; nor do the callers.
"""
import binascii

import civiltime
import provisioning
import schema
import sts
from account import AccountError
from provisioning import ProvisioningError
from refusal import Refused, need
from tariff import Tariff


TXN_MEMORY = 64  # remote-credit transaction ids remembered for idempotency


def _txn_reply(t):
    """The credit reply remembered for a txn id: [txn, credited, arrears, emergency, to_balance,
    balance] (or [txn, reply dict] as saved by 0.3.0)."""
    if len(t) == 2:
        return dict(t[1])
    return {"credited": t[1], "arrears_recovered": t[2], "emergency_repaid": t[3], "to_balance": t[4],
            "balance_paise": t[5]}


class Actions:
    def __init__(self, domain):
        self.d = domain
        self.on_credit = None  # view hook: on_credit(paise) when a remote credit lands (the LCD shows it)
        self.effects = TokenEffects(self)

    # -- the runner ---------------------------------------------------------------------------
    def _run(self, body, *args):
        """Run one action body: validate+apply (body), relay, one commit, one event. The body's
        event code None means nothing durable changed (no commit); "" a change the service
        logged itself (commit, no event)."""
        d = self.d
        d.hold_commits()
        try:
            code, detail, result = body(*args)
            d.drive_relay()
        finally:
            d.release_commits()
        if code is not None:  # "": durable, but the service logged it itself
            d.commit(code or "action")  # on flash first: the event records what is durable
        if code:
            d.log(code, detail)
        d.log_service_events()  # what the action made the policy and relay do, before the reply
        return result

    def _now(self):
        now = self.d.now_s()
        return now if now is not None else 0

    # -- configuration ------------------------------------------------------------------------
    def provision(self, name, data):
        """Store one provisioning section and put it into service."""
        return self._run(self._provision, name, data)

    def _provision(self, name, data):
        try:
            clean = provisioning.validate(name, data)
        except ProvisioningError as e:
            raise Refused(422, str(e))
        self.d.apply_section(name, clean)
        return "provisioned", name, {"section": name, "provisioned": self.d.provisioned()}

    def _section_with(self, name, changes):
        """A management token's change to one section, validated as the whole section is."""
        cfg = dict(self.d.section(name))
        for k in changes:
            cfg[k] = changes[k]
        if name == "tariff" and "slabs" in changes:
            cfg.pop("tod", None)
        try:
            return provisioning.validate(name, cfg)
        except ProvisioningError as e:
            raise Refused(422, str(e))

    def _check_section_keys(self, name, changes):
        try:
            self._section_with(name, changes)
        except Refused as e:
            return e.message
        return None

    def _set_section_keys(self, name, changes):
        self.d.apply_section(name, self._section_with(name, changes))

    def set_link_key(self, key):
        return self._run(self._set_link_key, key)

    def _set_link_key(self, key):
        need(isinstance(key, bytes) and len(key) == 32, "key must be 64 hex digits")
        need(self.d.auth.key is None, "the meter already has a link key (change it with the key)", 409)
        self.d.auth.key = key
        self.d.save_link_auth()
        return "link_key_set", "", {}

    def set_clock(self, secs, force=False):
        return self._run(self._set_clock, secs, force)

    def _set_clock(self, secs, force):
        schema.check("setclock", "time", secs)
        old = self.d.now_s()
        limit = self.d.section("meter").get("clock_step_limit_s", provisioning.CLOCK_STEP_LIMIT_S)
        if old is not None and abs(secs - old) > limit and not force:
            raise Refused(409, "clock: a step of %d s is more than clock_step_limit_s (%d s);"
                          " send setclock %s force to make it" % (secs - old, limit, civiltime.iso(secs)))
        self.d.set_clock(secs)
        return "clock_set", "%s -> %s" % (civiltime.iso(old) if old is not None else "unset", civiltime.iso(secs)), \
            {"clock": civiltime.iso(secs)}

    def calibrate(self, ref):
        return self._run(self._calibrate, ref)

    def _calibrate(self, ref):
        m = self.d.metering
        before = m.measurements.as_dict()
        try:
            cal = m.calibrate(ref)
        except (ValueError, OSError) as e:
            raise Refused(422, "calibration refused: %s" % e)
        self.d.store.save("calibration", cal)
        # metering.py logs `calibrated` itself; the gains are their own record, not hot state
        return None, None, {"before": before, "after": m.measurements.as_dict(), "calibration": cal}

    def schedule_tariff(self, at_s, cfg):
        """The next tariff, in force from at_s (validated first; nothing changes on error)."""
        return self._run(self._schedule_tariff, at_s, cfg)

    def _schedule_tariff(self, at_s, cfg):
        need(self.d.provisioned(), "meter not provisioned", 503)
        try:
            tariff = Tariff.from_config(cfg)
        except ValueError as e:
            raise Refused(422, "tariff: %s" % e)
        try:
            self.d.account.schedule(tariff, at_s)
        except ValueError as e:
            raise Refused(422, "tariff: %s" % e)
        self.d.tariff_switches()
        return "tariff_scheduled", "%s from %s" % (tariff.name or "tariff", civiltime.iso(at_s)), None

    def cancel_tariff(self):
        return self._run(self._cancel_tariff)

    def _cancel_tariff(self):
        self.d.account.cancel_schedule()
        return "tariff_cancelled", "", None

    # -- money --------------------------------------------------------------------------------
    def credit(self, paise, txn):
        """Head-end recharge, idempotent per transaction id."""
        for t in self.d.txns:
            if t[0] == txn:
                out = _txn_reply(t)
                out["duplicate"] = True
                return out
        return self._run(self._remote_credit, paise, txn)

    def _remote_credit(self, paise, txn):
        schema.check("credit", "paise", paise)
        need(1 <= len(txn) <= 40, "transaction id must be 1-40 characters")
        need(self.d.provisioned(), "meter not provisioned", 503)
        split = self._credit(paise, "remote", txn)
        # compact: 64 of these are in every save and always in RAM (a tuple is 16 bytes smaller
        # than a list on the ESP32's heap)
        t = (txn, split["credited"], split["arrears_recovered"], split["emergency_repaid"],
             split["to_balance"], split["balance"])
        txns = self.d.txns
        txns.append(t)
        if len(txns) > TXN_MEMORY:
            txns.pop(0)
        if self.on_credit:
            self.on_credit(paise)
        out = _txn_reply(t)
        out["duplicate"] = False
        return "credit", "remote %d paise %s" % (paise, txn), out

    def _credit(self, paise, source, ref):
        return self.d.account.credit(paise, self._now(), source, ref)

    def set_arrears(self, paise):
        return self._run(self._set_arrears, paise)

    def _set_arrears(self, paise):
        schema.check("arrears", "paise", paise)
        need(self.d.provisioned(), "meter not provisioned", 503)
        acct = self.d.account
        old = acct.arrears_paise
        acct.arrears_paise = paise
        return "arrears_set", "%d -> %d" % (old, paise), {"arrears_paise": paise, "previous_paise": old}

    def emergency(self, source="link"):
        """Grant the emergency credit (the FN key, or `emergency` on the link)."""
        return self._run(self._emergency, source)

    def _emergency(self, source):
        try:
            grant = self.d.account.take_emergency(self._now())
        except AccountError as e:
            raise Refused(409, "emergency credit refused: %s" % e)
        return "emergency_credit", "%d paise %s" % (grant["granted"], source), grant

    # -- relay --------------------------------------------------------------------------------
    def remote_relay(self, mode):
        return self._run(self._remote_relay, mode)

    def _remote_relay(self, mode):
        need(mode in ("open", "close", "auto"), "usage: relay open|close|auto")
        need(self.d.provisioned(), "meter not provisioned", 503)
        self.d.policy.set_remote(mode == "open")
        return "remote_relay", mode, None

    def clear_tamper(self, source="link"):
        return self._run(self._clear_tamper, source)

    def _clear_tamper(self, source):
        self.d.policy.set_tamper(False)
        return "tamper_cleared", source, {}

    def reset_overload(self, source="link"):
        return self._run(self._reset_overload, source)

    def _reset_overload(self, source):
        self.d.policy.reset_overload()
        return "overload_reset", source, None

    def acknowledge_overload(self):
        """The consumer's ENTER on an overload lockout. True if a lockout was lifted (the policy
        logs `overload_ack` itself)."""
        return self._run(self._ack)

    def _ack(self):
        lifted = self.d.policy.acknowledge(self.d.now_s())  # the policy logs overload_ack itself
        return ("" if lifted else None), None, lifted

    def policy_timer(self):
        """A policy deadline passed (grace over, overload retry, window opens): the relay moves,
        logged and committed by drive_relay as the relay's own event."""
        self.d.drive_relay()

    # -- tokens -------------------------------------------------------------------------------
    def token(self, digits):
        """A 20-digit token from the keypad. Returns (kind, paise, detail) for the LCD."""
        return self._run(self._token, digits)

    def _token(self, digits):
        d = self.d
        if not d.provisioned():  # no decoder key of its own: the default key is public
            return None, None, ("invalid", None, {"why": "meter not set up"})
        try:
            kind, paise, detail = d.recharge.enter(digits, d.now_s(), self.effects)
        except Refused as e:  # an effect refused a value recharge did not check first
            kind, paise, detail = "range", None, {"why": e.message}
        if kind == "locked":  # nothing was read: no event, no flash write per key press
            return None, None, (kind, paise, detail)
        return "token_" + kind, d.recharge.last_detail, (kind, paise, detail)

    # -- service ------------------------------------------------------------------------------
    def before_reset(self, why, detail=""):
        """Everything on flash and the reason in the log, before a reboot or update restart."""
        return self._run(self._note, why, detail)

    def note(self, code, detail=""):
        """A service step that changes no meter state but belongs in the log (update started)."""
        return self._run(self._note, code, detail)

    def _note(self, code, detail):
        return code, detail, None


class TokenEffects:
    """What an authenticated management or credit token may do (called by recharge.py inside the
    token action: no event, no commit of its own). A `check_*` says why a value would be refused
    (None: it would be taken) without changing anything; the setters validate again."""

    def __init__(self, actions):
        self._a = actions

    def credit(self, paise, source, ref):
        return self._a._credit(paise, source, ref)

    def clock_hint(self, secs):
        self._a.d.clock_hint(secs)

    def check_sanctioned_load(self, watts):
        return self._a._check_section_keys("connection", {"sanctioned_load_w": watts})

    def set_sanctioned_load(self, watts):
        self._a._set_section_keys("connection", {"sanctioned_load_w": watts})

    def check_flat_rate(self, paise_per_kwh):
        return self._a._check_section_keys("tariff", {"slabs": [{"paise_per_kwh": paise_per_kwh}]})

    def set_flat_rate(self, paise_per_kwh):
        self._a._set_section_keys("tariff", {"slabs": [{"paise_per_kwh": paise_per_kwh}]})

    def clear_credit(self):
        acct = self._a.d.account
        if acct.balance_paise > 0:
            acct.adjust(-acct.balance_paise, self._a._now(), "clear_credit")

    def clear_tamper(self):
        self._a.d.policy.set_tamper(False)

    def _sts_changes(self, change):
        ken = change.get("ken", 255)
        return {"decoder_key": binascii.hexlify(change["key"]).decode(), "key_revision": change["key_revision"],
                "key_type": change["key_type"], "tariff_index": change["tariff_index"],
                "expiry_tid": None if ken >= 255 else sts.ken_expiry_tid(ken)}  # IEC 62055-41 KEN

    def check_decoder_key(self, change):
        return self._a._check_section_keys("sts", self._sts_changes(change))

    def change_decoder_key(self, change):
        self._a._set_section_keys("sts", self._sts_changes(change))
        if change.get("rollover"):
            self._a.d.recharge.tids.clear()

    def self_test(self):
        pass  # the accepted token's beep and LCD words are the test
