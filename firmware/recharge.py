"""Token entry on the keypad: decode, anti-replay, lockout, and acting on what the token says.

The token action (actions.py) calls `enter(digits, now_s, effects)`; the result is a (kind,
paise, detail) triple the UI shows in plain words. `effects` (actions.TokenEffects) is all a token
may do to the meter. The action commits what the token did with its TID and the keypad count in
one record and logs one event (`token_<kind>`, detail `last_detail`), so an accepted token is
never lost and never accepted twice after a power cut.

The rules (docs/sts.md, "Anti-replay, key expiry, lockout"):
* A token that authenticates (decrypts with this meter's key to a known class with the right
  CRC) and carries a fresh TID is consumed: its TID is recorded whatever its action then does,
  applied or refused for its value ("range": nothing changes), so typing it again is "used".
* Only such a token (or a completed key change) clears the keypad failure count. Every other
  refused token counts as a failure; the public test token neither counts nor clears.
* The lockout runs on the meter's running seconds (RunClock), not on its RTC: a power cut or a
  clock change does not shorten it, and the count and the time left are in the saved record.
* An authenticated token's TID is the earliest the clock can be: a meter whose clock is lost takes
  it as an estimate (effects.clock_hint) and goes on; STS anti-replay needs no clock.
"""
import sts
import ticks

RESULT_WORDS = ("accepted", "used", "old", "crc", "invalid", "format", "locked", "expired", "range")
MAX_CREDIT_PAISE = 10 ** 9  # the same ceiling as a link credit (commands.py)


class RunClock:
    """Whole seconds the meter has run since boot, from the MCU's wrapping tick counter. Read at
    least once per tick wrap (the loop wakes at least every minute), so no span is lost."""

    def __init__(self, clock):
        self._clock = clock
        self._last = clock.ticks_ms()
        self._s = 0
        self._ms = 0  # below 1000: the counters stay small integers

    def seconds(self):
        now = self._clock.ticks_ms()
        d = ticks.diff(now, self._last)
        self._last = now
        if d > 0:
            self._ms += d
            if self._ms >= 1000:
                self._s += self._ms // 1000
                self._ms %= 1000
        return self._s


class Recharge:
    def __init__(self, clock):
        self.last_detail = ""  # what the last token was, for the action's event
        self.tids = sts.TidStore(50)
        self.guard = sts.KeypadGuard()
        self.run = RunClock(clock)
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

    def locked_s(self, now_s=None):
        """Seconds until the keypad takes tokens again (now_s is not needed: the lockout runs on
        the meter's running time)."""
        ok, left = self.guard.allowed(self.run.seconds())
        return 0 if ok else left

    def enter(self, digits, now_s, effects):
        """Returns (kind, paise or None, detail dict or None). now_s may be None (clock lost).
        Runs inside the token action: it commits and logs once, after this returns."""
        self.last_detail = ""
        run_s = self.run.seconds()
        ok, left = self.guard.allowed(run_s)
        if not ok:
            return "locked", None, {"seconds": left}
        try:
            tok = sts.decode(sts.parse_digits(digits), self.key, strict=False)
        except sts.TokenError as e:
            return self._fail(e.code, run_s, None)
        if tok.error is not None:  # crc/class: not made for this meter; expired: past the KEN
            return self._fail(tok.error, run_s, tok)
        if tok.tid is not None:
            seen = self.tids.check(tok.tid)
            if seen:
                return self._fail(seen, run_s, tok)
        m = effects
        if tok.authentic and tok.tid is not None:
            self.tids.add(tok.tid)  # consumed from here on, whatever the action does
            m.clock_hint(sts.tid_to_seconds(tok.tid, self.base_date))
        result = self._act(tok, m)
        if tok.authentic and (tok.tid is not None or (tok.kind == "key_change_2"
                                                      and result[0] == "accepted")):
            self.guard.record(True, run_s)
        self.last_detail = _describe(tok, result)
        return result

    def _fail(self, code, run_s, tok):
        self.guard.record(False, run_s)  # committed by the token action: survives a power cut
        self.last_detail = _describe(tok, None) if tok is not None else ""
        return code, None, None

    def _act(self, tok, m):
        """Validate what the token asks completely, then apply it; a value the meter cannot take
        comes back as ("range", None, {"why": ...}) with nothing changed."""
        f = tok._fields
        kind = tok.kind
        if kind == "credit":
            if f.get("register") != "electricity":
                return "invalid", None, {"why": "not electricity"}
            paise = tok.amount * self.paise_per_unit
            if not 0 < paise <= MAX_CREDIT_PAISE:
                return _range("credit %d paise: 1..%d" % (paise, MAX_CREDIT_PAISE))
            split = m.credit(paise, "token", "tid%d" % tok.tid)
            return "accepted", paise, split
        if kind == "set_max_power":
            why = m.check_sanctioned_load(f["watts"])
            if why:
                return _range(why)
            m.set_sanctioned_load(f["watts"])
            return "accepted", None, {"sanctioned_load_w": f["watts"]}
        if kind == "clear_credit":
            m.clear_credit()
            return "accepted", None, {"cleared": True}
        if kind == "set_tariff_rate":
            why = m.check_flat_rate(f["rate"])
            if why:
                return _range(why)
            m.set_flat_rate(f["rate"])
            return "accepted", None, {"paise_per_kwh": f["rate"]}
        if kind == "clear_tamper":
            m.clear_tamper()
            return "accepted", None, None
        if kind == "key_change_1":
            self._key_change_1 = tok
            return "accepted", None, {"key_change": "first half: enter the second token"}
        if kind == "key_change_2":
            if self._key_change_1 is None:
                return "invalid", None, {"why": "enter 1st token"}
            change = sts.key_change(self._key_change_1, tok)
            self._key_change_1 = None
            why = m.check_decoder_key(change)
            if why:
                return _range(why)
            m.change_decoder_key(change)
            return "accepted", None, {"key_change": "done"}
        if kind == "test":
            m.self_test()
            return "accepted", None, {"test": f.get("control")}
        return "invalid", None, {"why": "not supported"}

    def state(self):
        return {"tids": self.tids.state(), "guard": self.guard.state(self.run.seconds())}

    def restore(self, d):
        self.tids.restore(d.get("tids"))
        self.guard.restore(d.get("guard"), self.run.seconds())


def _range(why):
    return "range", None, {"why": why}


def _describe(tok, result):
    """Event detail: what the token was and, when refused for its value, why."""
    text = "%s tid=%s" % (tok.kind, tok.tid)
    if result is not None and result[0] in ("range", "invalid") and isinstance(result[2], dict):
        text += " " + str(result[2].get("why", ""))
    return text
