"""STS tokens from vending to the keypad: vended on the host with the provisioning file's key,
typed on the meter's keypad, decoded, acted on, and shown on the LCD."""
import pathlib
import tomllib

from host_tools import provisioning
from host_tools import sts as hsts
from tests.hil._helpers import enter, now_s, status

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "examples" / "meter.toml")
CFG = provisioning.load(CONFIG)
KEY = CFG.sts_key
PAISE_PER_UNIT = CFG.sections["sts"]["paise_per_unit"]  # 100: one unit is Rs 1.00
ARREARS_PERCENT = CFG.sections["account"]["arrears_recovery_percent"]  # 25
ARREARS_CAP = CFG.sections["account"]["arrears_cap_paise"]  # Rs 200 per recharge


def test_credit_token_tops_up_reconnects_and_cannot_be_used_twice(meter_factory):
    m = meter_factory(config=CONFIG)
    m.bench.advance(26 * 3600)  # no credit: cut when grace ends and the window opens on Tuesday
    assert not m.bench.relay_closed()
    before = status(m)
    assert before["relay_reason"] == "credit"
    units = 500  # Rs 500 at 100 paise per unit
    token = hsts.vend_credit(KEY, units, now_s(m))
    shown = enter(m, token)
    assert shown.startswith("Credit accepted"), shown
    assert "500.00 added" in shown
    paise = units * PAISE_PER_UNIT
    to_arrears = min(paise * ARREARS_PERCENT // 100, ARREARS_CAP)
    after = status(m)
    assert after["balance_paise"] == before["balance_paise"] + paise - to_arrears
    assert after["arrears_paise"] == before["arrears_paise"] - to_arrears
    m.bench.advance(2)
    assert m.bench.relay_closed()
    assert status(m)["relay"] == "closed"
    # the same token again (a copied receipt): refused, nothing credited
    shown = enter(m, token)
    assert shown == "Token refused / Already used", shown
    assert status(m)["balance_paise"] == after["balance_paise"]
    events = [e["code"] for e in m.link.call("events 50")["events"]]
    assert "token_accepted" in events and "token_used" in events


def test_token_older_than_every_remembered_one_is_too_old(meter_factory):
    m = meter_factory(config=CONFIG)
    now = now_s(m)
    start = status(m)["balance_paise"]
    # 50 small tokens issued over the last 50 minutes fill the meter's TID memory (it holds 50)
    for minutes_ago in range(50, 0, -1):
        shown = enter(m, hsts.vend_credit(KEY, 1, now - 60 * minutes_ago))
        assert shown.startswith("Credit accepted"), (minutes_ago, shown)
    credited = status(m)["balance_paise"]
    assert credited > start
    # a token issued an hour ago was never typed, but the meter cannot know: older than all 50
    shown = enter(m, hsts.vend_credit(KEY, 100, now - 3600))
    assert shown == "Token refused / Too old", shown
    assert status(m)["balance_paise"] == credited
    # a newer one still goes in
    shown = enter(m, hsts.vend_credit(KEY, 1, now + 60))
    assert shown.startswith("Credit accepted"), shown


def test_token_for_another_meter_is_refused_as_wrong_meter(meter_factory):
    m = meter_factory(config=CONFIG)
    raw = tomllib.loads(pathlib.Path(CONFIG).read_text())
    other = dict(raw["sts"], drn="04000000002")  # the neighbour's meter, same utility
    other_key = hsts.key_from_config(other)
    assert other_key.hex() != KEY.hex()
    start = status(m)["balance_paise"]
    shown = enter(m, hsts.vend_credit(other_key, 500, now_s(m)))
    assert shown == "Token refused / Wrong meter/typo", shown
    assert status(m)["balance_paise"] == start
    # the right meter's token still works afterwards
    shown = enter(m, hsts.vend_credit(KEY, 10, now_s(m)))
    assert shown.startswith("Credit accepted"), shown


def test_set_max_power_token_changes_the_overload_threshold(meter_factory):
    m = meter_factory(config=CONFIG)  # sanctioned 2000 W + 10 %: trips above 2200 W
    m.bench.set_load(1500)
    m.bench.advance(90)
    assert m.bench.relay_closed()  # 1500 W is within the sanctioned load
    m.bench.set_load(0)
    m.bench.advance(5)
    shown = enter(m, hsts.vend_management(KEY, "set_max_power", now_s(m), 1000))
    assert shown == "Token accepted / Done", shown
    m.bench.set_load(1500)  # now above 1000 W + 10 %
    m.bench.advance(90)
    assert not m.bench.relay_closed()
    st = status(m)
    assert st["relay"] == "open" and st["relay_reason"] == "overload"
    trips = [e for e in m.link.call("events 50")["events"] if e["code"] == "overload_trip"]
    assert trips and "1100 W" in trips[-1]["d"], trips
    # and it is kept: after a restart the new limit still holds
    m.reset()
    m.bench.set_load(1500)
    m.bench.advance(300)
    trips2 = [e for e in m.link.call("events 50")["events"] if e["code"] == "overload_trip"]
    assert len(trips2) > len(trips)
