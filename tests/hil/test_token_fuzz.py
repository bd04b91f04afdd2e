"""Hypothesis fuzzing of STS tokens on the simulated meter (issue #14): thousands of tokens with a
valid CRC and random fields (made with the host's vending code, host_tools/sts.py, with the
meter's own key, so they pass the CRC and reach the actions), sent over the link's `token`
command (the keypad's path) and now and then typed on the keypad; replays, random digits, key
changes the fuzzer follows.

Whatever arrives: the meter never crashes; every reply is one `OK`/`ERR` line; the account's
ledger still sums to its balance and its credits to what the replies said was credited (money
conserved); energy never goes backwards; and at the end the meter still meters and bills.
"""
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from host_tools import provisioning
from host_tools import sts as hsts
from host_tools.hil import parse_reply
from host_tools.hil.bench import to_seconds
from tests.hil._helpers import own_sim_meter

import sts as fw_sts  # firmware/sts.py: the meter's decoder, to follow what the fuzzer sent

CONFIG = "examples/meter.toml"
CFG = provisioning.load(CONFIG)
BASE = CFG.sts_key.base_date
MAX_WAIT_S = 2 * 3600  # a lockout longer than this ends the batch (the next batch waits it out)


class Vendor:
    """The fuzzer's view of the meter's decoder key (it follows accepted key changes) and of
    what the replies said was credited."""

    def __init__(self, meter):
        self.m = meter
        self.key = CFG.sts_key
        self.pending = None  # the accepted first half of a key change, as the meter holds it
        self.sent = []
        self.credited = 0
        self.replies = 0
        self.outcomes = {}  # "OK" or the refusal kind -> how many
        self.next_tid = 0

    def now_tid(self):
        return hsts.seconds_to_tid(to_seconds(self.m.bench.now()), BASE)

    def expired(self):
        return self.key.expiry_tid is not None and self.key.expiry_tid < self.now_tid()

    def send(self, digits, keypad=False):
        """One token; returns the reply line (keypad: the LCD, and the link's view of it)."""
        m = self.m
        try:
            tok = fw_sts.decode(digits, self.key, strict=False)
        except fw_sts.TokenError:  # not even 20 digits below 2**66
            tok = None
        if keypad:
            before = parse_reply(m.link.command("account"))["ledger"]["credit"]
            m.bench.advance(9)  # a result still on the LCD would take the first digit to dismiss it
            m.bench.type_keys(digits)
            m.bench.press("ENTER")
            m.bench.advance(1)
            lcd = " / ".join(line.strip() for line in m.bench.lcd())
            after = parse_reply(m.link.command("account"))["ledger"]["credit"]
            self.credited += after - before  # checked against the LCD below
            if after > before:
                assert lcd.startswith("Credit accepted"), lcd
            reply = "OK keypad" if lcd.startswith(("Credit accepted", "Token accepted")) else "ERR keypad"
            if not lcd.startswith(("Credit accepted", "Token accepted", "Token refused", "Keypad locked")):
                # a locked keypad swallows the digits and ENTER only dismisses its notice
                m.bench.press("1")
                assert m.bench.lcd()[0].strip() == "Keypad locked", (lcd, m.bench.lcd())
                m.bench.press("BACK")
        else:
            reply = m.link.command("token " + digits)
            assert reply.startswith(("OK ", "ERR ")), reply
            if reply.startswith("OK "):
                paid = parse_reply(reply)["credited_paise"]
                self.credited += paid or 0
        self.replies += 1
        what = "OK" if reply.startswith("OK") else reply.split(":")[1].strip() if "refused:" in reply else reply
        self.outcomes[what] = self.outcomes.get(what, 0) + 1
        self.sent.append(digits)
        self._follow(tok, reply)
        return reply

    def _follow(self, tok, reply):
        """Keep the key in step with the meter: a key change the meter took changes our key."""
        if tok is None or tok.error is not None:
            return
        if tok.kind == "key_change_1" and reply.startswith("OK"):
            self.pending = tok
        elif tok.kind == "key_change_2" and self.pending is not None:
            if reply.startswith("OK"):
                change = fw_sts.key_change(self.pending, tok)
                ken = change["ken"]
                self.key = fw_sts.DecoderKey(change["key"], key_revision=change["key_revision"],
                                             key_type=change["key_type"], tariff_index=change["tariff_index"],
                                             base_date=BASE, expiry_tid=None if ken >= 255 else fw_sts.ken_expiry_tid(ken))
                self.pending = None
            elif "range" in reply:
                self.pending = None

    def wait_out_lockout(self, reply):
        if not reply.startswith("ERR 423"):
            return True
        secs = int(reply.split("retry in ")[1].split()[0])
        if secs > MAX_WAIT_S:
            return False
        self.m.bench.set_load(0)  # an idle meter wakes once a minute: virtual hours are cheap
        self.m.bench.advance(secs + 1)
        self.m.bench.set_load(300)
        return True


# a TID: mostly the next fresh one (as a vending system issues them), sometimes anything at all
TIDS = st.one_of(st.just("fresh"), st.just("fresh"), st.just("fresh"), st.just("fresh"),
                 st.integers(0, fw_sts.TID_MAX), st.integers(-10 * 1440, 0))
tokens = st.one_of(
    # any block with a valid CRC: random class, subclass and fields
    st.tuples(st.just("raw"), st.integers(0, 3), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
              st.integers(0, 0xFFFF), TIDS),
    st.tuples(st.just("credit"), st.integers(0, 3), st.integers(0, fw_sts.AMOUNT_MAX), TIDS),
    st.tuples(st.just("management"), st.sampled_from(sorted(hsts.MANAGEMENT)), st.integers(0, 0xFFFF),
              TIDS),
    st.tuples(st.just("key_change"), st.binary(min_size=8, max_size=8), st.integers(0, 255),
              st.integers(0, 255), st.booleans()),
    st.tuples(st.just("test"), st.integers(0, (1 << 28) - 1)),
    st.tuples(st.just("replay"), st.integers(0, 10 ** 6)),
    st.tuples(st.just("digits"), st.text("0123456789", min_size=20, max_size=20)),
)


def _tid(v, spec_tid):
    if spec_tid == "fresh":
        v.next_tid = max(v.next_tid, v.now_tid() - 24 * 60) + 1
        return min(v.next_tid, fw_sts.TID_MAX)
    if spec_tid <= 0:  # minutes before now
        return max(0, v.now_tid() + spec_tid)
    return spec_tid


def _make(v, spec):
    """Token digits for one drawn spec, with the key the meter holds now."""
    kind = spec[0]
    out = []
    if v.expired() and kind != "key_change":
        # the meter's key expired (a random KEN): the utility renews it with a key change
        new = fw_sts.DecoderKey(v.key.key_bytes, key_revision=2, key_type=2, tariff_index=1, base_date=BASE)
        out.extend(hsts.vend_key_change(v.key, new, ken=255))
    key = v.key
    if kind == "raw":
        cls, w3, w2, w1 = spec[1:5]
        if spec[5] == "fresh" and cls != 2 or (w3 >> 12) not in (3, 4):
            tid = _tid(v, spec[5])  # random fields, but a TID the meter has not seen
            w3 = (w3 & 0xFF00) | (tid >> 16)
            w2 = tid & 0xFFFF
        currency = cls == 0 and 4 <= (w3 >> 12) <= 7
        out.append("%020d" % hsts.encode_raw(cls, w3, w2, w1, key, currency))
    elif kind in ("credit", "management"):
        tid = _tid(v, spec[3])
        if kind == "credit":
            out.append("%020d" % hsts.encode(0, spec[1], 0, tid, spec[2], key))
        else:
            name, value = spec[1], spec[2]
            if name in ("set_max_power", "set_phase_unbalance"):
                value = fw_sts.decode_amount(value)
            out.append(hsts.vend_management(key, name, fw_sts.tid_to_seconds(tid, BASE), value))
    elif kind == "key_change":
        new = fw_sts.DecoderKey(spec[1], key_revision=2, key_type=2, tariff_index=spec[2], base_date=BASE)
        out.extend(hsts.vend_key_change(key, new, ken=spec[3], rollover=spec[4]))
    elif kind == "test":
        out.append(hsts.vend_test(1, spec[1]))
    elif kind == "replay":
        if v.sent:
            out.append(v.sent[spec[1] % len(v.sent)])
    else:
        out.append(spec[1])
    return out


def _books(m):
    for _ in range(5):
        reply = m.link.command("account")
        if not reply.startswith("ERR 413"):
            break
        # the 64-bit simulator's heap is nearly full of the firmware and its board (issue #15):
        # the ~2.5 KB reply may find no block in one piece until the heap has moved on
        m.bench.advance(1)
    acct = parse_reply(reply)
    st_ = parse_reply(m.link.command("status"))
    assert st_["provisioned"] is True
    assert sum(acct["ledger"].values()) == acct["balance_paise"], acct  # the ledger sums to the balance
    return acct, st_


# derandomize: every run sends the same token sequence (the count checked after the batches, and a
# failure, replay exactly); a new seed is a change to this file, not luck
@settings(max_examples=100, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(tokens, min_size=10, max_size=30), st.integers(0, 29))
def _fuzz_batch(v, specs, keypad_at):
    """One batch of drawn tokens; the books before and after agree with the replies."""
    m = v.m
    acct0, st0 = _books(m)
    credited0 = v.credited
    for i, spec in enumerate(specs):
        for digits in _make(v, spec):
            reply = v.send(digits, keypad=(i == keypad_at and i % 3 == 0))
            if not v.wait_out_lockout(reply):
                break
        else:
            continue
        break  # locked for hours: this batch ends, the next one waits it out
    m.bench.advance(2)
    acct1, st1 = _books(m)
    # every paisa credited was announced in a reply, and nothing else was credited
    assert acct1["ledger"]["credit"] - acct0["ledger"]["credit"] == v.credited - credited0
    # arrears only fall, and only by what the ledger recovered
    recovered = acct0["ledger"].get("arrears", 0) - acct1["ledger"].get("arrears", 0)
    assert st0["arrears_paise"] - st1["arrears_paise"] == recovered
    assert st1["energy_import_mwh"] >= st0["energy_import_mwh"]


def test_random_tokens_never_crash_conserve_money_and_leave_a_meter_that_bills(request):
    # one test, one meter: the batches and the check after them cannot land on different pytest
    # workers (xdist_group does not group under pytest 9.2, so two tests sharing a module
    # fixture met two meters in one CI run)
    with own_sim_meter(request, 300) as m:
        v = Vendor(m)
        _fuzz_batch(v)
        _back_in_service(m, v)


def _back_in_service(m, v):
    assert v.replies > 1000, v.replies  # thousands of token inputs went in
    # and they reached every outcome: applied, refused for their value, replayed, not this meter's
    for what in ("OK", "range", "used", "crc", "class"):
        assert v.outcomes.get(what, 0) > 0, v.outcomes
    print("token outcomes:", v.outcomes)
    # put the meter back in service with what a utility would send: a fresh key (rollover: the
    # TID memory starts again), a power limit, a credit
    fresh = fw_sts.DecoderKey(bytes.fromhex("5a5a5a5a01020304"), key_revision=3, key_type=2,
                              tariff_index=1, base_date=BASE)
    for digits in hsts.vend_key_change(v.key, fresh, ken=255, rollover=True):
        reply = v.send(digits)
        while reply.startswith("ERR 423"):
            m.bench.set_load(0)
            m.bench.advance(int(reply.split("retry in ")[1].split()[0]) + 1)
            reply = v.send(digits)
        assert reply.startswith("OK"), reply
    assert v.key.key_bytes == fresh.key_bytes
    now = to_seconds(m.bench.now())
    assert v.send(hsts.vend_management(v.key, "set_max_power", now, 10000)).startswith("OK")
    assert v.send(hsts.vend_credit(v.key, 5000, now + 60)).startswith("OK")
    key = CFG.link_key
    parse_reply(m.link.command("overload reset", key=key))
    parse_reply(m.link.command("tamper clear", key=key))
    parse_reply(m.link.command("relay auto", key=key))
    acct0, st0 = _books(m)
    m.bench.set_load(1000)
    m.bench.advance(1800)
    acct1, st1 = _books(m)
    assert st1["relay"] == "closed", st1
    assert st1["energy_import_mwh"] - st0["energy_import_mwh"] >= 450000  # 0.5 kWh, give or take a poll
    assert acct1["ledger"]["energy"] < acct0["ledger"]["energy"]  # and it is billed
