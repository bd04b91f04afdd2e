"""Keypad token entry (recharge.py) without a meter: which tokens are consumed, what clears the
lockout, refused values, key expiry, and what survives a restart. Tokens are the published STS
compliance vectors (tests/unit/test_sts.py), never made by our own encoder."""
import sts
from recharge import Recharge, RunClock
from _clock import Clock
from test_sts import CTSA01, CTSA12, K1_HEX, LIMIT_CODED

CREDIT = CTSA01[0][3]  # K1, electricity, 0.1 kWh (raw 1), TID 2004-03-01 13:55
CREDIT_2 = CTSA01[4][3]  # K1, gas: authentic but not electricity
LIMIT_1000 = "50901894209860263092"  # set maximum power 1000 W (CTSA03)
LIMIT_MAX = CTSA12[8]  # set maximum power 18201624 W: more than any meter takes
TEST_TOKEN = "56493153725450313471"  # InitiateMeterTest, valid on every meter
KEY_CHANGE_TO_TI2 = ("51638423060042734509", "15361891762113502242")  # K1 -> TI 02 key
WRONG = "23716100501183194198"  # a typo: CRC fails
MAX_WATTS = 100000


class FakeMeter:
    """What recharge.py asks of the meter, recorded; commits keep the saved record."""

    def __init__(self):
        self.clock = Clock()
        self.held = 0
        self.saved = None
        self.events = []
        self.credits = []
        self.load_w = 2000
        self.key_changes = []
        self.hints = []
        self.tests = 0
        self.recharge = None

    def hold_commits(self):
        self.held += 1

    def release_commits(self):
        self.held -= 1

    def commit(self, reason):
        assert self.held == 0, "commit inside a held operation"
        self.saved = self.recharge.state()

    def log(self, code, detail=""):
        self.events.append((code, detail))

    def clock_hint(self, secs):
        self.hints.append(secs)

    def credit(self, paise, source, ref):
        self.credits.append((paise, ref))
        return {"credited": paise}

    def check_sanctioned_load(self, watts):
        return None if 0 <= watts <= MAX_WATTS else "sanctioned_load_w must be 0..%d" % MAX_WATTS

    def set_sanctioned_load(self, watts):
        assert self.check_sanctioned_load(watts) is None, "applied a value it should have refused"
        self.load_w = watts

    def check_decoder_key(self, change):
        return None if change["tariff_index"] <= 1 else "sts.tariff_index must be 0..1"

    def change_decoder_key(self, change):
        self.key_changes.append(change)

    def self_test(self):
        self.tests += 1


class ActionRecharge(Recharge):
    """Recharge inside the token action, as actions.py runs it (tests/unit/test_actions.py tests
    the action itself): the FakeMeter is the token's effects; one commit and one event after."""

    def __init__(self, m):
        Recharge.__init__(self, m.clock)
        self.m = m

    def enter(self, digits, now_s):
        m = self.m
        m.hold_commits()
        try:
            result = Recharge.enter(self, digits, now_s, m)
        finally:
            m.release_commits()
        m.commit("token")
        m.log("token_" + result[0], self.last_detail)
        return result


def _recharge(meter=None, expiry_tid=None):
    m = meter or FakeMeter()
    r = ActionRecharge(m)
    m.recharge = r
    r.configure({"decoder_key": K1_HEX, "key_revision": 1, "key_type": 2, "supply_group": 123456,
                 "tariff_index": 1, "base_date": 1993, "paise_per_unit": 100, "expiry_tid": expiry_tid})
    return r, m


def test_credit_is_applied_once_and_its_issue_time_bounds_the_clock():
    r, m = _recharge()
    assert r.enter(CREDIT, None)[0] == "accepted"  # no clock at all: still accepted
    assert m.credits == [(100, "tid5871715")]
    assert m.hints == [sts.tid_to_seconds(5871715, 1993)]
    assert r.enter(CREDIT, None)[0] == "used"
    assert len(m.credits) == 1
    assert m.saved["tids"] == {"tids": [5871715]}


def test_out_of_range_management_token_is_consumed_and_changes_nothing():
    r, m = _recharge()
    assert LIMIT_CODED[8] > MAX_WATTS
    kind, paise, detail = r.enter(LIMIT_MAX, None)
    assert kind == "range" and paise is None and "sanctioned_load_w" in detail["why"]
    assert m.load_w == 2000
    tid = sts.decode(LIMIT_MAX, sts.DecoderKey.from_hex(K1_HEX)).tid
    assert m.saved["tids"]["tids"] == [tid]  # on flash: typing it again is "used", not a retry
    assert r.enter(LIMIT_MAX, None)[0] == "used"
    assert ("token_range", "set_max_power tid=%d sanctioned_load_w must be 0..%d" % (tid, MAX_WATTS)) in m.events
    # a value in range still works
    assert r.enter(LIMIT_1000, None)[0] == "accepted"
    assert m.load_w == 1000


def test_authentic_token_for_another_register_is_consumed():
    r, m = _recharge()
    assert r.enter(CREDIT_2, None) == ("invalid", None, {"why": "not electricity"})
    assert r.enter(CREDIT_2, None)[0] == "used"
    assert m.credits == []


def test_key_change_with_a_value_out_of_range_is_refused_whole():
    r, m = _recharge()
    assert r.enter(KEY_CHANGE_TO_TI2[0], None)[0] == "accepted"  # first half, kept in RAM
    kind, _, detail = r.enter(KEY_CHANGE_TO_TI2[1], None)
    assert kind == "range" and "tariff_index" in detail["why"]
    assert m.key_changes == []
    # the second half alone again: the first half was used up
    assert r.enter(KEY_CHANGE_TO_TI2[1], None)[0] == "invalid"


def test_public_test_token_does_not_clear_the_failure_count():
    r, m = _recharge()
    for _ in range(4):
        assert r.enter(WRONG, None)[0] == "crc"
        assert r.enter(TEST_TOKEN, None)[0] == "accepted"
    assert m.tests == 4
    assert r.guard.failures() == 4
    assert r.enter(WRONG, None)[0] == "crc"  # the fifth failure in a row (test tokens between)
    kind, _, detail = r.enter(CREDIT, None)
    assert kind == "locked" and detail["seconds"] == 300
    assert m.credits == []


def test_replayed_token_does_not_clear_the_failure_count():
    r, m = _recharge()
    assert r.enter(CREDIT, None)[0] == "accepted"
    for _ in range(2):
        assert r.enter(WRONG, None)[0] == "crc"
        assert r.enter(CREDIT, None)[0] == "used"  # the consumer's old receipt: no reset
    assert r.enter(WRONG, None)[0] == "crc"  # the fifth refusal in a row
    assert r.locked_s() == 300


def test_fresh_authentic_token_clears_the_count():
    r, m = _recharge()
    for _ in range(4):
        r.enter(WRONG, None)
    assert r.enter(LIMIT_1000, None)[0] == "accepted"
    assert r.guard.failures() == 0


def test_lockout_and_count_survive_a_restart_and_run_on_running_time():
    r, m = _recharge()
    for _ in range(3):
        r.enter(WRONG, None)
    # restart: a new meter process whose tick counter starts again anywhere
    m2 = FakeMeter()
    m2.clock.ms = 123456789
    r2, _ = _recharge(m2)
    r2.restore(m.saved)
    assert r2.guard.failures() == 3
    r2.enter(WRONG, None)
    r2.enter(WRONG, None)
    assert r2.locked_s() == 300
    m2.clock.ms += 100000
    # restart again while locked: the 200 s left still hold, however long the power was off
    m3 = FakeMeter()
    r3, _ = _recharge(m3)
    r3.restore(r2.state())
    assert r3.locked_s() == 200
    assert r3.enter(CREDIT, None)[0] == "locked"
    m3.clock.ms += 200000
    assert r3.locked_s() == 0
    assert r3.enter(CREDIT, None)[0] == "accepted"


def test_expired_key_refuses_tokens_past_it_and_takes_its_last_minute():
    # CREDIT has TID 0x599863
    r, m = _recharge(expiry_tid=0x599863)
    assert r.enter(CREDIT, None)[0] == "accepted"  # TID equal to the key's last TID
    r, m = _recharge(expiry_tid=0x599862)
    assert r.enter(CREDIT, None)[0] == "expired"
    assert m.credits == [] and m.saved["tids"] == {"tids": []}  # not consumed: a renewed key takes it
    assert r.guard.failures() == 1
    # an expired key still takes the key change that renews it (key change tokens carry no TID)
    assert r.enter(KEY_CHANGE_TO_TI2[0], None)[0] == "accepted"


def test_garbage_never_raises():
    r, m = _recharge()
    for text in ("", "abc", "1" * 19, "9" * 20, "0" * 20, "7378697629483820646" + "3", None, 12):
        kind, _, _ = r.enter(text, None)
        assert kind in ("format", "crc", "class", "locked"), (text, kind)


def test_run_clock_counts_across_the_tick_wrap():
    c = Clock()
    c.ms = 0x3FFFFFFF - 500
    rc = RunClock(c)
    c.ms += 1700
    assert rc.seconds() == 1
    c.ms += 300
    assert rc.seconds() == 2
