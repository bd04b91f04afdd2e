"""HIL: the consumer's LCD and keypad on the simulated board (docs/consumer-display.md).

Keys go in through the simulated 4x4 keypad (bench presses, debounced by the firmware's driver);
the screens are read back from the simulated HD44780 (glyphs: "\\x00" rupee, "\\x01" relay on,
"\\x02" relay off, "\\x04" bell). Expected texts are written out here from the meter's own
readings (`status`, `measure`, `account`), not computed with the firmware's formatting code.
"""
import datetime
import random
import re

import pytest

from host_tools import provisioning
from host_tools import sts as hsts
from host_tools.hil.bench import KEYS, to_seconds
from tests.hil._helpers import codes, credit, pm, status  # noqa: F401  (pm: a fixture)

CONFIG = "examples/meter.toml"
RUPEE, ON, OFF, BELL = "\x00", "\x01", "\x02", "\x04"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def lcd(m):
    lines = m.bench.lcd()
    assert len(lines) == 2 and all(len(x) == 16 for x in lines), lines
    return tuple(x.rstrip() for x in lines)


def rupees(paise):
    """Indian grouping written out independently of firmware/ui.py (amounts below 1 crore)."""
    sign = "-" if paise < 0 else ""
    r, p = divmod(abs(paise), 100)
    s = str(r)
    if len(s) > 3:
        head, tail = s[:-3], s[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        s = ",".join([head] + groups + [tail])
    return sign + RUPEE + s + "." + "%02d" % p


def kwh(mwh):
    wh = mwh // 1000
    return "%d.%03d kWh" % (wh // 1000, wh % 1000)


def main_screen(bal_paise, import_mwh, on=True):
    left = rupees(bal_paise)
    right = ON + "ON" if on else OFF + "OFF"
    return (left + " " * (16 - len(left) - len(right)) + right, kwh(import_mwh).rjust(16))


def lr(left, right):
    return left + " " * (16 - len(left) - len(right)) + right


def to_main(m):
    m.bench.press("BACK")


def vend(m, units, minutes_ago=1):
    key = provisioning.load(CONFIG).sts_key
    return hsts.vend_credit(key, units, to_seconds(m.bench.now()) - 60 * minutes_ago)


# -- idle screens -----------------------------------------------------------------------------

def test_idle_screens_show_the_meter_readings(pm):
    m = pm
    credit(m, 50000)  # Rs 125 to the arrears, Rs 375 to the balance
    m.bench.set_load(1500)
    m.bench.advance(1800)
    m.bench.set_load(0)
    m.bench.advance(16 * 3600)  # past midnight: a closed day gives the "days left" estimate
    m.bench.set_mains(241.26)
    m.bench.set_load(1000)
    m.bench.advance(70)
    m.bench.set_load(0)  # frozen readings while the screens are read
    m.bench.advance(70)
    s = status(m)
    acct = m.link.call("account")
    meas = m.link.call("measure")
    assert s["days_remaining"] is not None and s["days_remaining"] > 0
    assert acct["arrears_paise"] == 200000 - 12500

    to_main(m)
    assert lcd(m) == main_screen(s["balance_paise"], s["energy_import_mwh"])
    assert lcd(m)[0].startswith(RUPEE + "3")  # about Rs 360 left
    seen = []
    for _ in range(12):
        m.bench.press("DOWN")
        screen = lcd(m)
        if screen[0].startswith(RUPEE):
            break
        seen.append(screen)
    titles = [x[0] for x in seen]
    assert titles[:3] == ["Present load", "Voltage", "Recharged 30 Nov"], titles
    by_title = {x[0]: x[1] for x in seen}
    assert by_title["Present load"] == lr("0 W", "0.00 A")
    dv = (meas["volts_cv"] + 5) // 10
    assert dv in (2412, 2413)  # 241.26 V on the simulated mains, as measured
    assert by_title["Voltage"] == ("%d.%d V" % (dv // 10, dv % 10)).rjust(16)
    assert by_title["Recharged 30 Nov"] == RUPEE + "500.00"
    assert by_title["Arrears left"] == RUPEE + "1,875.00"
    d = s["days_remaining"]
    assert by_title["Credit lasts"] == "about %d day%s" % (d, "" if d == 1 else "s")
    assert by_title["Meter serial no."] == "BR-SIM-000001"
    now = m.bench.now()
    date_line = "Date  " + now.strftime("%d-%m-%Y")
    assert date_line in by_title
    assert re.fullmatch(r"Time  \d\d:\d\d  " + WEEKDAYS[now.weekday()], by_title[date_line])
    hh, mm = by_title[date_line][6:11].split(":")
    shown = now.replace(hour=int(hh), minute=int(mm), second=0, microsecond=0)
    assert datetime.timedelta(0) <= now - shown < datetime.timedelta(minutes=2)
    assert titles == ["Present load", "Voltage", "Recharged 30 Nov", "Arrears left", "Credit lasts",
                      "Meter serial no.", date_line]


def walk(m, n):
    """The first idle screen and the n after it (DOWN)."""
    m.bench.press("BACK")
    out = [lcd(m)]
    for _ in range(n):
        m.bench.press("DOWN")
        out.append(lcd(m))
    return out


def test_screens_of_a_new_meter(pm):
    m = pm
    screens = walk(m, 10)
    assert screens == [
        ("Emergency credit", "Press FN to take"),
        (lr(RUPEE + "0.00", ON + "ON"), "0.000 kWh".rjust(16)),
        (BELL + "Recharge within", "24h"),
        ("Present load", lr("0 W", "0.00 A")),
        ("Voltage", "230.0 V".rjust(16)),
        ("Last recharge", "none yet"),
        ("Arrears left", RUPEE + "2,000.00"),
        ("Credit lasts", "under 1 day"),
        ("Meter serial no.", "BR-SIM-000001"),
        ("Date  30-11-2026", "Time  09:00  Mon"),
        ("Emergency credit", "Press FN to take"),  # wraps
    ]


def test_screens_of_an_unprovisioned_meter(meter_factory):
    m = meter_factory(clock=None)
    assert walk(m, 5) == [
        ("Meter not set up", "Call DISCOM"),
        ("Meter reading", "0.000 kWh".rjust(16)),
        ("Meter serial no.", "UNPROVISIONED"),
        ("Date and time", "not set"),
        (BELL + "Call DISCOM", "Clock not set"),
        ("Meter not set up", "Call DISCOM"),
    ]
    m.bench.type_keys("1234 5678 9012 3456 7890")
    m.bench.press("ENTER")
    assert lcd(m) == ("Token refused", "Meter not set up")
    assert m.link.call("status")["relay"] == "closed"


def test_unprovisioned_meter_refuses_tokens(meter_factory):
    """A meter not yet set up has only the default (all-zero, public) decoder key: a credit
    token made with it must not credit the account the consumer gets at provisioning."""
    m = meter_factory()
    key = hsts.DecoderKey.from_hex("0000000000000000", key_revision=1, key_type=2, supply_group=0,
                                   tariff_index=0, base_date=2014)
    m.bench.type_keys(hsts.vend_credit(key, 1000, to_seconds(m.bench.now()) - 60))
    m.bench.press("ENTER")
    assert lcd(m) == ("Token refused", "Meter not set up")
    cfg = provisioning.load(CONFIG)
    m.key = cfg.link_key
    provisioning.provision(m.link, cfg, progress=None)
    acct = m.link.call("account")
    assert acct["balance_paise"] == 0 and acct["ledger"]["credit"] == 0


def test_load_screen_under_load(pm):
    m = pm
    credit(m, 50000)
    m.bench.set_load(1840)
    m.bench.advance(70)
    meas = m.link.call("measure")
    to_main(m)
    m.bench.press("DOWN")
    l1, l2 = lcd(m)
    assert l1 == "Present load"
    ma = meas["current_ma"]
    assert 7900 <= ma <= 8100  # 1840 W at 230 V
    assert re.fullmatch(r"18[34]\d W +%d\.%02d A" % (ma // 1000, ma % 1000 // 10), l2), l2
    assert len(l2) == 16


def test_debt_and_no_credit_screens(pm):
    m = pm
    credit(m, 100)  # Rs 0.75 on the balance ...
    m.bench.advance(16 * 3600)  # ... and past midnight the fixed charge makes a debt
    s = status(m)
    assert s["balance_paise"] < 0 and s["relay"] == "closed"
    # the first screen offers emergency credit, the main screen shows the debt
    to_main(m)
    assert lcd(m) == ("Emergency credit", "Press FN to take")
    m.bench.press("DOWN")
    assert lcd(m) == main_screen(s["balance_paise"], s["energy_import_mwh"])
    assert lcd(m)[0].startswith("-" + RUPEE)
    m.bench.press("DOWN")  # the policy's hint while the grace runs or is over
    l1, l2 = lcd(m)
    assert l1.startswith(BELL + "Recharge"), (l1, l2)

    # FN offers the emergency credit, ENTER takes it
    m.bench.press("FN")
    assert lcd(m) == ("Emergency credit", "ENTER to take")
    m.bench.press("ENTER")
    assert lcd(m) == ("Emergency credit", "+" + RUPEE + "50.00 added")
    s2 = status(m)
    assert s2["emergency_active"] is True
    assert s2["balance_paise"] == s["balance_paise"] + 5000
    m.bench.advance(9)
    m.bench.press("BACK")
    assert lcd(m) == ("Emergency credit", "in use")
    m.bench.press("FN")
    assert lcd(m) == ("Emergency credit", "in use")


# -- navigation -------------------------------------------------------------------------------

def test_up_down_back_menu_navigation(pm):
    m = pm
    credit(m, 50000)
    m.bench.advance(200)  # resting on the main screen
    rest = lcd(m)
    assert rest[0].startswith(RUPEE) and rest[0].endswith(ON + "ON")

    def main_screen(m, rest):
        """The main screen again (the balance may have moved by a paisa or two: the fixed
        charge accrues by the second)."""
        now = lcd(m)
        return now[1] == rest[1] and now[0].startswith(RUPEE) and now[0].endswith(ON + "ON")
    m.bench.press("UP")  # wraps to the last screen
    assert lcd(m)[0].startswith("Date  ")
    m.bench.press("DOWN")
    assert main_screen(m, rest)
    m.bench.press("DOWN")
    m.bench.press("DOWN")
    assert lcd(m)[0] == "Voltage"
    m.bench.advance(25)  # a screen chosen by hand holds
    assert lcd(m)[0] == "Voltage"
    m.bench.press("BACK")
    assert main_screen(m, rest)
    m.bench.advance(150)  # auto-scroll ends: the display rests on the main screen again
    assert main_screen(m, rest)

    m.bench.press("MENU")
    assert lcd(m) == ("Tariff       1/4", "0-100 3.50")
    m.bench.press("DOWN")
    assert lcd(m) == ("Tariff       2/4", "100-200 4.50")
    m.bench.press("UP")
    m.bench.press("UP")  # wraps to the last menu page
    assert lcd(m) == ("Overload", "No overload")
    m.bench.press("MENU")  # next section: wraps to the first
    assert lcd(m)[0] == "Tariff       1/4"
    m.bench.press("MENU")  # the slab the next kWh falls in and its published rate
    assert lcd(m) == ("Slab now   0-100", "        3.50/kWh")
    m.bench.press("MENU")
    assert lcd(m) == ("Month so far", kwh(status(m)["energy_import_mwh"]).rjust(16))
    m.bench.press("DOWN")
    assert lcd(m)[0] == "Month charges"
    assert lcd(m)[1].startswith(" ") and lcd(m)[1].strip().startswith(RUPEE)
    m.bench.press("MENU")  # last month's bill (none closed yet, or the month the clock left)
    assert lcd(m)[0].startswith("Last bill") or lcd(m)[0].startswith("Bill"), lcd(m)
    while lcd(m)[0] in ("Energy", "Fixed charge", "Duty") or lcd(m)[0].startswith("Bill"):
        m.bench.press("DOWN")
    if lcd(m)[0].startswith("Last bill"):
        m.bench.press("MENU")  # events, newest first
    l1, l2 = lcd(m)
    assert re.fullmatch(r"1/\d 30 Nov 09:00", l1), l1
    assert l2 == "Recharge" or l2 == "Credit restored", l2
    m.bench.press("BACK")
    assert main_screen(m, rest)
    m.bench.press("MENU")
    m.bench.advance(61)  # the menu closes by itself
    assert lcd(m)[0] != "Tariff       1/4"
    m.bench.press("BACK")
    assert main_screen(m, rest)


# -- token entry ------------------------------------------------------------------------------

def test_token_entry_grouping_back_and_short_token(pm):
    m = pm
    credit(m, 50000)
    m.bench.advance(200)
    rest = lcd(m)
    m.bench.type_keys("1234")
    assert lcd(m) == ("1234 _", lr("Token", "4/20"))
    m.bench.type_keys("56789")
    assert lcd(m) == ("1234 5678 9_", lr("Token", "9/20"))
    m.bench.press("BACK")
    assert lcd(m) == ("1234 5678 _", lr("Token", "8/20"))
    m.bench.press("MENU")  # ignored while typing
    m.bench.press("UP")
    assert lcd(m) == ("1234 5678 _", lr("Token", "8/20"))
    m.bench.type_keys("90123456789")
    assert lcd(m) == ("1234 5678 9012", lr("3456 789_", "19/20"))
    m.bench.press("ENTER")  # 19 digits: refused on the spot
    assert lcd(m) == ("Need 20 digits", "You typed 19")
    assert not [c for c in codes(m) if c.startswith("token_")]
    m.bench.press("0")  # a digit over the notice counts
    assert lcd(m) == ("1234 5678 9012", lr("3456 7890", "20/20"))
    m.bench.press("5")  # a 21st digit is ignored
    assert lcd(m) == ("1234 5678 9012", lr("3456 7890", "20/20"))
    for _ in range(20):
        m.bench.press("BACK")
    assert lcd(m) == rest  # the last BACK on an empty token returns to the idle screens
    m.bench.type_keys("77")
    m.bench.advance(61)  # a half-typed token is dropped
    assert lcd(m) == rest


def test_holding_back_clears_the_token(pm):
    m = pm
    credit(m, 50000)
    m.bench.advance(200)
    rest = lcd(m)
    m.bench.type_keys("1234 5678 9012")
    assert lcd(m) == ("1234 5678 9012", lr("_", "12/20"))
    m.bench.key_down("BACK")  # a long press: the whole token goes, back to the idle screens
    m.bench.advance(2)
    m.bench.key_up("BACK")
    m.bench.advance(0.1)
    assert lcd(m) == rest
    m.bench.type_keys("55")
    assert lcd(m) == ("55_", lr("Token", "2/20"))


def test_keypad_token_reaches_the_decoder(pm):
    m = pm
    b0 = credit(m, 10000)["balance_paise"]
    m.bench.advance(200)
    m.bench.type_keys("1111 2222 3333 4444 5555")
    m.bench.press("ENTER")
    assert lcd(m)[0] == "Token refused"
    assert [c for c in codes(m) if c.startswith("token_")]

    token = vend(m, 250)
    m.bench.type_keys(token)
    m.bench.press("ENTER")
    assert lcd(m) == ("Credit accepted", "+" + RUPEE + "250.00 added")
    assert "token_accepted" in codes(m)
    s = status(m)
    assert s["balance_paise"] > b0
    m.bench.advance(9)
    assert lcd(m) == main_screen(s["balance_paise"], s["energy_import_mwh"])

    m.bench.type_keys(token)  # the same token again
    m.bench.press("ENTER")
    assert lcd(m) == ("Token refused", "Already used")
    assert status(m)["balance_paise"] == s["balance_paise"]


def test_keypad_lockout_after_5_bad_tokens(pm):
    m = pm
    credit(m, 10000)
    m.bench.advance(200)
    for i in range(5):
        m.bench.type_keys("%020d" % (12345678901234567 + i))
        m.bench.press("ENTER")
        assert lcd(m)[0] == "Token refused", i
        m.bench.advance(9)
    m.bench.press("4")
    l1, l2 = lcd(m)
    assert l1 == "Keypad locked"
    assert re.fullmatch(r"Try in [45]:\d\d", l2), l2
    m.bench.advance(3)
    assert lcd(m)[0] == "Keypad locked"
    # a good token is refused too while locked
    token = vend(m, 100)
    m.bench.advance(10)
    m.bench.type_keys(token)
    assert lcd(m)[0] == "Keypad locked"
    m.bench.press("ENTER")
    assert "token_accepted" not in codes(m)
    m.bench.advance(300)  # 5 minutes later the keypad takes tokens again
    m.bench.type_keys(token)
    m.bench.press("ENTER")
    assert lcd(m) == ("Credit accepted", "+" + RUPEE + "100.00 added")


def test_keypad_lockout_survives_a_power_cut(pm):
    m = pm
    credit(m, 10000)
    for i in range(5):
        m.bench.type_keys("%020d" % (98765432109876543 + i))
        m.bench.press("ENTER")
        m.bench.advance(9)
    m.bench.power_cut(warning=False)  # no warning: the lockout was saved when it began
    m.bench.advance(60)
    m.bench.power_restore()
    m.bench.press("1")
    l1, l2 = lcd(m)
    assert l1 == "Keypad locked"
    # the lockout runs on the meter's running time: the minute without power did not serve it
    assert re.fullmatch(r"Try in [45]:\d\d", l2), l2


# -- backlight --------------------------------------------------------------------------------

def test_backlight_on_after_a_key_off_after_timeout(pm):
    m = pm
    credit(m, 10000)
    m.bench.advance(200)
    assert m.bench.backlight() is False
    m.bench.press("DOWN")
    assert m.bench.backlight() is True
    m.bench.advance(25)
    assert m.bench.backlight() is True
    m.bench.press("UP")  # another key restarts the 30 s
    m.bench.advance(25)
    assert m.bench.backlight() is True
    m.bench.advance(10)
    assert m.bench.backlight() is False
    assert lcd(m)[0]  # the screen itself stays readable
    token = vend(m, 100)
    m.bench.type_keys(token)
    m.bench.press("ENTER")
    m.bench.advance(29)
    assert m.bench.backlight() is True  # the result lit it again
    m.bench.advance(35)
    assert m.bench.backlight() is False


# -- garbage ----------------------------------------------------------------------------------

def test_random_key_storm_never_breaks_menu_or_metering(pm):
    m = pm
    credit(m, 50000)
    m.bench.set_load(1200)
    m.bench.advance(30)
    e0 = status(m)["energy_import_mwh"]
    t0 = m.bench.truth()[0]
    rnd = random.Random(20261130)
    keys = [k for k in KEYS if k != "FN"] * 3 + ["FN"]
    for i in range(400):
        m.bench.press(rnd.choice(keys))
        if i % 100 == 99:
            assert status(m)["relay"] == "closed"
            assert len(lcd(m)) == 2
    m.bench.advance(65)  # any half-typed token or open menu times out
    for _ in range(3):
        m.bench.press("BACK")
    m.bench.advance(9)  # any result message is gone
    m.bench.press("BACK")
    s = status(m)
    assert s["relay"] == "closed" and s["relay_reason"] == "none"
    l1, l2 = lcd(m)
    assert l1.startswith(RUPEE) and l1.endswith(ON + "ON"), (l1, l2)
    assert l2.endswith(" kWh")
    # metering went on: the register follows the simulated load
    e1 = s["energy_import_mwh"]
    t1 = m.bench.truth()[0]
    assert e1 - e0 > 1200 * 60 * 1000 // 3600  # more than a minute of 1200 W counted
    assert abs((e1 - e0) - (t1 - t0)) < 20000, (e1 - e0, t1 - t0)
    assert "internal_error" not in codes(m)
    # the keypad still does its job
    m.bench.advance(600)  # past any keypad lockout the storm caused
    token = vend(m, 100)
    m.bench.type_keys(token)
    m.bench.press("ENTER")
    assert lcd(m) == ("Credit accepted", "+" + RUPEE + "100.00 added")
    m.bench.press("MENU")
    assert lcd(m) == ("Tariff       1/4", "0-100 3.50")
    m.bench.press("BACK")


def test_chords_and_bounce_never_break_the_keypad(pm):
    """Several keys held at once, contact bounce (presses of a few ms), keys held for seconds:
    the keypad and the screens recover, and metering goes on."""
    m = pm
    credit(m, 50000)
    m.bench.set_load(800)
    m.bench.advance(30)
    e0 = status(m)["energy_import_mwh"]
    rnd = random.Random(7)
    held = set()
    for _ in range(600):
        k = rnd.choice(KEYS)
        if k in held:
            m.bench.key_up(k)
            held.discard(k)
        else:
            m.bench.key_down(k)
            held.add(k)
        m.bench.advance(rnd.choice((0.001, 0.003, 0.01, 0.03, 0.2, 2)))
    for k in held:
        m.bench.key_up(k)
    m.bench.advance(65)
    m.bench.press("BACK")
    m.bench.advance(9)
    m.bench.press("BACK")
    l1, l2 = lcd(m)
    assert l1.startswith(RUPEE) and l1.endswith(ON + "ON"), (l1, l2)
    s = status(m)
    assert s["relay"] == "closed"
    assert s["energy_import_mwh"] - e0 > 800 * 60 * 1000 // 3600
    assert "internal_error" not in codes(m)
    m.bench.press("MENU")
    assert lcd(m) == ("Tariff       1/4", "0-100 3.50")
    m.bench.press("BACK")
    assert lcd(m)[0].startswith(RUPEE)

