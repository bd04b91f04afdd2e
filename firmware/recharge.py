"""Token entry on the keypad: decode, anti-replay, lockout, and acting on what the token says.

The meter calls `enter(digits, now_s)`; the result is a (kind, paise, detail) triple the UI shows
in plain words. A credit is applied and committed (the meter's save callback) before this
returns, so an accepted token is never lost and never accepted twice after a power cut.
"""
import sts

RESULT_WORDS = ("accepted", "used", "old", "crc", "invalid", "format", "locked", "expired")


class Recharge:
    def __init__(self, meter):
        self.meter = meter
        self.tids = sts.TidStore(50)
        self.guard = sts.KeypadGuard()
        self.key = None
        self.base_date = 2014
        self.paise_per_unit = 10
        self._key_change_1 = None

    def configure(self, sts_cfg):
        self.key = sts.DecoderKey.from_hex(
            sts_cfg["decoder_key"], key_revision=sts_cfg["key_revision"], key_type=sts_cfg["key_type"],
            supply_group=sts_cfg["supply_group"], tariff_index=sts_cfg["tariff_index"],
            base_date=sts_cfg["base_date"], expiry_tid=sts_cfg.get("expiry_tid"))
        self.base_date = sts_cfg["base_date"]
        self.paise_per_unit = sts_cfg["paise_per_unit"]

    def locked_s(self, now_s):
        ok, left = self.guard.allowed(now_s)
        return 0 if ok else left

    def enter(self, digits, now_s):
        """Returns (kind, paise or None, detail dict or None)."""
        ok, left = self.guard.allowed(now_s)
        if not ok:
            return "locked", None, {"seconds": left}
        try:
            tok = sts.decode(sts.parse_digits(digits), self.key)
        except sts.TokenError as e:
            return self._fail(e.code, now_s)
        if tok.tid is not None:
            seen = self.tids.check(tok.tid)
            if seen:
                return self._fail(seen, now_s)
        self.meter.hold_commits()  # the credit and its TID reach flash in one record, never apart
        try:
            result = self._act(tok, now_s)
            if tok.tid is not None and result[0] == "accepted":
                self.tids.add(tok.tid)
            self.guard.record(result[0] == "accepted", now_s)
        finally:
            self.meter.release_commits()
        self.meter.commit("token")
        self.meter.log("token_" + result[0], "%s tid=%s" % (tok.kind, tok.tid))
        return result

    def _fail(self, code, now_s):
        self.guard.record(False, now_s)
        self.meter.commit("token_rejected")
        self.meter.log("token_" + code, "")
        return code, None, None

    def _act(self, tok, now_s):
        m = self.meter
        if tok.kind == "credit":
            if tok._fields.get("register") not in (None, "electricity"):
                return "invalid", None, {"why": "not an electricity token"}
            paise = tok.amount * self.paise_per_unit
            split = m.apply_credit(paise, "token", "tid%d" % tok.tid)
            return "accepted", paise, split
        if tok.kind == "set_max_power":
            m.set_sanctioned_load(tok._fields["watts"])
            return "accepted", None, {"sanctioned_load_w": tok._fields["watts"]}
        if tok.kind == "clear_credit":
            m.clear_credit()
            return "accepted", None, {"cleared": True}
        if tok.kind == "set_tariff_rate":
            m.set_flat_rate(tok._fields["rate"])
            return "accepted", None, {"paise_per_kwh": tok._fields["rate"]}
        if tok.kind == "clear_tamper":
            m.policy.set_tamper(False)
            m.drive_relay()
            return "accepted", None, None
        if tok.kind == "key_change_1":
            self._key_change_1 = tok
            return "accepted", None, {"key_change": "first half: enter the second token"}
        if tok.kind == "key_change_2":
            if self._key_change_1 is None:
                return "invalid", None, {"why": "enter the first key-change token first"}
            change = sts.key_change(self._key_change_1, tok)
            self._key_change_1 = None
            m.change_decoder_key(change)
            return "accepted", None, {"key_change": "done"}
        if tok.kind == "test":
            m.self_test()
            return "accepted", None, {"test": tok._fields.get("control")}
        return "invalid", None, {"why": "unsupported token"}

    def state(self):
        return {"tids": self.tids.state(), "guard": self.guard.state()}

    def restore(self, d):
        self.tids.restore(d.get("tids"))
        self.guard.restore(d.get("guard"))
