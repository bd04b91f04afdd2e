"""Tokens and authentication as an attacker or a careless technician tries them (issue #14): values
out of range, brute force with the public test token, resets and power cuts in the middle, key
expiry, a lost clock. After each, the meter is still metering and billing."""
import datetime
import pathlib

from host_tools import provisioning
from host_tools import sts as hsts
from host_tools.link import mac, parse_reply
from tests.hil._helpers import codes, enter, now_s, status

import sts as fw_sts  # firmware/sts.py (tests/conftest.py puts firmware/ on the path)

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "examples" / "meter.toml")
CFG = provisioning.load(CONFIG)
KEY = CFG.sts_key
LINK_KEY = CFG.link_key
WRONG = "12345678901234567890"  # a guess: fails the CRC with any key worth having
TEST_TOKEN = hsts.vend_test(0, 1)  # InitiateMeterTest: valid on every meter


def locked(m):
    """Whether the keypad refuses tokens now: a digit shows "Keypad locked" instead of the entry."""
    m.bench.press("1")
    l1 = m.bench.lcd()[0].strip()
    m.bench.press("BACK")
    m.bench.advance(9)  # let the notice go
    return l1 == "Keypad locked"


def refused_while_locked(m):
    """Locked, and a genuine token typed now credits nothing."""
    assert locked(m)
    before = m.link.call("account")["ledger"]["credit"]  # (the balance also pays the fixed charge)
    enter(m, hsts.vend_credit(KEY, 10, now_s(m)))
    assert m.link.call("account")["ledger"]["credit"] == before
    return True


def still_metering(m, watts=1000, seconds=600):
    """The meter counts energy and bills it after whatever came before."""
    before = status(m)
    m.bench.set_load(watts)
    m.bench.advance(seconds)
    after = status(m)
    assert after["energy_import_mwh"] > before["energy_import_mwh"], (before, after)
    return before, after


# -- values out of range -------------------------------------------------------------------------

def test_set_max_power_beyond_the_range_is_refused_consumed_and_harmless(meter_factory):
    m = meter_factory(config=CONFIG)
    token = hsts.vend_management(KEY, "set_max_power", now_s(m), 2000000)
    shown = enter(m, token)
    assert shown == "Token refused / Out of range", shown
    # typed again: its TID was recorded, it is used (it crashed the meter again before)
    assert enter(m, token) == "Token refused / Already used"
    evs = m.link.call("events 10")["events"]
    ranged = [e for e in evs if e["code"] == "token_range"]
    assert ranged and "set_max_power" in ranged[-1]["d"] and "sanctioned_load_w" in ranged[-1]["d"]
    # nothing changed: 2000 W + 10 % still trips above 2200 W, the meter still meters and bills
    before, after = still_metering(m, watts=1500, seconds=300)
    assert after["relay"] == "closed"
    assert after["balance_paise"] < before["balance_paise"] or before["balance_paise"] <= 0
    m.bench.set_load(2500)
    m.bench.advance(120)
    assert status(m)["relay_reason"] == "overload"
    # and across a reset the refused token stays used
    m.reset()
    assert enter(m, token) == "Token refused / Already used"


def test_key_change_with_a_tariff_index_out_of_range_changes_nothing(meter_factory):
    m = meter_factory(config=CONFIG)
    new = fw_sts.DecoderKey(bytes.fromhex("0123456789abcdef"), key_revision=2, key_type=2,
                            tariff_index=150, base_date=2014)  # the meter takes tariff index 0..99
    first, second = hsts.vend_key_change(KEY, new)
    assert enter(m, first) == "Token accepted / Done"
    assert enter(m, second) == "Token refused / Out of range"  # crashed the meter before
    assert "token_range" in codes(m, 5)
    # the old key still decodes credit; the new one does not
    assert enter(m, hsts.vend_credit(new, 10, now_s(m))) == "Token refused / Wrong meter/typo"
    assert enter(m, hsts.vend_credit(KEY, 10, now_s(m))).startswith("Credit accepted")
    still_metering(m)


# -- keypad lockout -----------------------------------------------------------------------------

def test_public_test_token_does_not_reset_the_keypad_lockout(meter_factory):
    m = meter_factory(config=CONFIG)
    for _ in range(4):
        assert enter(m, WRONG) == "Token refused / Wrong meter/typo"
        assert enter(m, TEST_TOKEN) == "Token accepted / Done"
    assert enter(m, WRONG) == "Token refused / Wrong meter/typo"  # the fifth guess in a row
    assert refused_while_locked(m)
    # a replayed (already used) genuine token does not reset it either
    m.bench.advance(5 * 60)
    used = hsts.vend_credit(KEY, 10, now_s(m))
    assert enter(m, used).startswith("Credit accepted")
    for _ in range(2):
        assert enter(m, WRONG) == "Token refused / Wrong meter/typo"
        assert enter(m, used) == "Token refused / Already used"
    assert enter(m, WRONG) == "Token refused / Wrong meter/typo"
    assert refused_while_locked(m)
    still_metering(m, seconds=60)


def test_failure_count_and_lockout_survive_reset_and_power_cut(meter_factory):
    m = meter_factory(config=CONFIG)
    for _ in range(4):
        enter(m, WRONG)
    m.reset()
    assert not locked(m)
    enter(m, WRONG)  # the fifth: the count was kept over the reset
    assert refused_while_locked(m)
    m.bench.power_cut(warning=False)
    m.bench.advance(3600)  # an hour without power does not serve the lockout
    m.bench.power_restore()
    assert locked(m)
    m.reset()
    assert locked(m)
    m.bench.advance(5 * 60)  # five minutes of running time serve it
    assert enter(m, hsts.vend_credit(KEY, 10, now_s(m))).startswith("Credit accepted")
    still_metering(m, seconds=60)


# -- link sequence number and lockout -----------------------------------------------------------

def _auth_line(m, command, seq=None, key=LINK_KEY):
    ch = m.link.call("challenge")
    seq = ch["seq"] + 1 if seq is None else seq
    return seq, "auth %d %s %s" % (seq, mac(key, ch["challenge"], seq, command), command)


def test_link_sequence_is_on_flash_before_the_reply(meter_factory):
    m = meter_factory(config=CONFIG)
    # an authenticated command that its handler refuses still used up its sequence number
    seq, line = _auth_line(m, "credit 0 refused-txn")
    reply = m.link.command(line)
    assert reply.startswith("ERR 422"), reply
    m.bench.power_cut(warning=False)  # right after the reply: nothing else was saved
    m.bench.power_restore()
    assert m.link.call("challenge")["seq"] == seq
    # a command captured before the cut is stale after it (its sequence number is used up)
    seq2, line2 = _auth_line(m, "relay auto")
    assert m.link.command(line2).startswith("OK")
    m.bench.power_cut(warning=False)
    m.bench.power_restore()
    ch = m.link.call("challenge")
    assert ch["seq"] == seq2
    replay = "auth %d %s relay auto" % (seq2, mac(LINK_KEY, ch["challenge"], seq2, "relay auto"))
    reply = m.link.command(replay)
    assert reply.startswith("ERR 403") and "stale sequence" in reply, reply


def test_wrong_mac_lockout_survives_reset_and_power_cut(meter_factory):
    m = meter_factory(config=CONFIG)
    wrong = bytes(32)
    for _ in range(3):
        _, line = _auth_line(m, "relay open", key=wrong)
        assert m.link.command(line).startswith("ERR 403")
    _, line = _auth_line(m, "relay open")  # the right key, but the door is locked
    assert m.link.command(line).startswith("ERR 423")
    m.reset()
    _, line = _auth_line(m, "relay open")
    assert m.link.command(line).startswith("ERR 423")
    m.bench.power_cut(warning=False)
    m.bench.power_restore()
    _, line = _auth_line(m, "relay open")
    assert m.link.command(line).startswith("ERR 423")
    m.bench.advance(3)  # the lockout (2 s after the third failure) runs out while powered
    assert parse_reply(m.link.command("relay auto", key=LINK_KEY))["relay"] == "closed"
    still_metering(m, seconds=60)


# -- key expiry ---------------------------------------------------------------------------------

def test_key_expiry_from_the_key_change_token(meter_factory):
    m = meter_factory(config=CONFIG)
    now = now_s(m)
    tid_now = hsts.seconds_to_tid(now, 2014)
    ken = (tid_now >> 16) - 1  # the new key expired some weeks ago
    last_tid = fw_sts.ken_expiry_tid(ken)
    new = fw_sts.DecoderKey(bytes.fromhex("1122334455667788"), key_revision=2, key_type=2,
                            tariff_index=1, base_date=2014)
    first, second = hsts.vend_key_change(KEY, new, ken=ken)
    assert enter(m, first) == "Token accepted / Done"
    assert enter(m, second) == "Token accepted / Done"
    before = status(m)["balance_paise"]
    # a token issued now (a vending system that ignored the KEN) is refused with a clear message
    assert enter(m, hsts.vend_credit(new, 100, now)) == "Token refused / Key expired"
    assert "token_expired" in codes(m, 5)
    assert status(m)["balance_paise"] == before
    # the boundary: a token whose TID is the key's last TID is accepted
    at_expiry = fw_sts.tid_to_seconds(last_tid, 2014)
    assert enter(m, hsts.vend_credit(new, 100, at_expiry)).startswith("Credit accepted")
    assert enter(m, hsts.vend_credit(new, 100, at_expiry + 60)) == "Token refused / Key expired"
    # an expired meter is renewed by the next key change (key-change tokens carry no TID)
    renewed = fw_sts.DecoderKey(bytes.fromhex("8877665544332211"), key_revision=3, key_type=2,
                                tariff_index=1, base_date=2014)
    for t in hsts.vend_key_change(new, renewed, ken=255):
        assert enter(m, t) == "Token accepted / Done"
    assert enter(m, hsts.vend_credit(renewed, 100, now_s(m))).startswith("Credit accepted")
    # the KEN survives a reset
    m.reset()
    assert enter(m, hsts.vend_credit(renewed, 100, now_s(m) + 60)).startswith("Credit accepted")
    still_metering(m)


# -- a lost clock -------------------------------------------------------------------------------

def test_lost_clock_still_takes_credit_and_estimates_the_time(meter_factory):
    m = meter_factory(config=CONFIG)
    m.bench.set_load(500)
    m.bench.advance(600)
    issued = now_s(m)
    m.bench.rtc_battery(False)  # the RTC's coin cell is flat: over a cut its time is lost
    m.bench.power_cut(warning=True)
    m.bench.power_restore()
    m.bench.rtc_battery(True)
    st = status(m)
    assert st["clock"] is None and st["clock_trusted"] is False
    token = hsts.vend_credit(KEY, 200, issued)
    shown = enter(m, token)
    assert shown.startswith("Credit accepted"), shown  # was "Clock not set"
    st = status(m)
    clock = m.link.call("clock")
    assert clock["estimated"] is True and clock["trusted"] is False
    assert st["clock_estimated"] is True and st["clock_trusted"] is False
    # the token's issue time (to the minute) is the earliest the clock can be
    assert issued - 60 < clock["seconds"] < issued + 120
    assert "clock_estimated" in codes(m, 10)
    # anti-replay needs no clock
    assert enter(m, token) == "Token refused / Already used"
    # energy is counted and billed again
    before, after = still_metering(m, watts=2000, seconds=1800)
    assert after["balance_paise"] < before["balance_paise"]
    # a technician sets the clock: trusted again, no longer an estimate
    m.bench.set_clock(datetime.datetime(2026, 12, 1, 10, 0, 0))
    clock = m.link.call("clock")
    assert clock["trusted"] is True and clock["estimated"] is False
