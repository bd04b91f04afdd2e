"""Consumer screens and keypad menus (firmware/ui.py): what a consumer reads, key by key."""
import civiltime
import ticks
import ui
from ui import UI, MeterView, format_rupees, format_kwh

R = "\x00"  # rupee glyph
ON = "\x01"
OFF = "\x02"
BELL = "\x04"

NOW_S = civiltime.seconds(2026, 3, 12, 14, 5, 30)  # Thursday


def filled():
    v = MeterView()
    v.now_s = NOW_S
    v.balance_paise = 123456
    v.import_mwh = 1234567890  # 1234.567890 kWh
    v.export_mwh = 0
    v.power_w = 1234
    v.volts_cv = 23015
    v.current_ma = 5364
    v.last_credit_paise = 50000
    v.last_credit_s = civiltime.seconds(2026, 3, 1, 9, 30)
    v.arrears_paise = 12000
    v.days_remaining = 12
    v.serial = "SM2026000123"
    v.relay_closed = True
    v.relay_reason = "none"
    v.hint = ""
    v.flags = []
    v.emergency_available = False
    v.emergency_active = False
    v.tariff_lines = ["0-100 3.50", "100-300 4.80", ">300kWh 6.10"]
    v.month_mwh = 87654321
    v.month_charges_paise = 45678
    v.slab_label, v.slab_rate_paise = "100-300", 480
    v.last_bill = ("2026-02", 123456, 100000, 15000, 5000, -2500, 0)
    v.recent_events = [(civiltime.seconds(2026, 3, 12, 9, 7), "credit"),
                       (civiltime.seconds(2026, 3, 11, 22, 40), "overload_trip"),
                       (-1, "boot")]
    v.overload_text = "No overload"
    v.provisioned = True
    v.keypad_locked_s = 0
    return v


def screen(u, t):
    l1, l2 = u.render(t)
    assert len(l1) == 16 and len(l2) == 16, (l1, l2)
    return l1.rstrip(), l2.rstrip()


def idle_screens(v):
    """Every idle screen in scroll order: (line1, line2) rstripped."""
    u = UI(v)
    u.wake(0)
    out = []
    t = 0
    while True:
        s = screen(u, t)
        if out and s == out[0]:
            return out
        out.append(s)
        t += ui.SCROLL_MS
        assert len(out) < 40


def typed(u, digits, t=0):
    for d in digits:
        assert u.key(d, t) is None
    return u


# -- formatting ----------------------------------------------------------------------------------

def test_format_rupees_indian_grouping():
    assert format_rupees(0) == "0.00"
    assert format_rupees(5) == "0.05"
    assert format_rupees(99999) == "999.99"
    assert format_rupees(100000) == "1,000.00"
    assert format_rupees(123456) == "1,234.56"
    assert format_rupees(12345678) == "1,23,456.78"
    assert format_rupees(1234567890) == "1,23,45,678.90"
    assert format_rupees(123456789012) == "1,23,45,67,890.12"
    assert format_rupees(-1234) == "-12.34"
    assert format_rupees(-12345678) == "-1,23,456.78"
    assert format_rupees(-5) == "-0.05"
    assert format_rupees(None) == "--"
    assert format_rupees("12") == "--"
    assert format_rupees(True) == "--"


def test_format_kwh_truncates_to_wh():
    assert format_kwh(1234567890) == "1234.567 kWh"
    assert format_kwh(0) == "0.000 kWh"
    assert format_kwh(999) == "0.000 kWh"
    assert format_kwh(1000) == "0.001 kWh"
    assert format_kwh(1000000) == "1.000 kWh"
    assert format_kwh(999999999999) == "999999.999 kWh"
    assert format_kwh(None) == "-- kWh"
    assert len(format_kwh(10 ** 20)) <= 16


# -- idle screens --------------------------------------------------------------------------------

def test_every_idle_screen_of_a_filled_view_in_scroll_order():
    v = filled()
    v.flags = ["TAMPER", "RELAY FAULT"]
    v.export_mwh = 5500000
    assert idle_screens(v) == [
        (R + "1,234.56    " + ON + "ON", "    1234.567 kWh"),
        ("Present load", "1234 W    5.36 A"),
        ("Voltage", "         230.2 V"),
        ("Recharged 1 Mar", R + "500.00"),
        ("Arrears left", R + "120.00"),
        ("Credit lasts", "about 12 days"),
        ("Exported energy", "       5.500 kWh"),
        ("Meter serial no.", "SM2026000123"),
        ("Date  12-03-2026", "Time  14:05  Thu"),
        (BELL + "Call DISCOM 1/2", "Tamper detected"),
        (BELL + "Call DISCOM 2/2", "Relay fault"),
    ]


def test_the_kwh_reading_is_on_the_main_screen():
    v = filled()
    l1, l2 = screen(UI(v), 0)
    assert l2.endswith("1234.567 kWh")
    assert l1.startswith(R + "1,234.56") and l1.endswith(ON + "ON")


def test_optional_screens_left_out():
    v = filled()
    v.arrears_paise = 0
    v.days_remaining = None
    v.last_credit_paise = 0
    v.last_credit_s = None
    v.now_s = None
    v.flags = ["CLOCK"]
    s = idle_screens(v)
    titles = [a for a, b in s]
    assert "Arrears left" not in titles and "Credit lasts" not in titles
    assert ("Last recharge", "none yet") in s
    assert ("Date and time", "not set") in s
    assert s[-1] == (BELL + "Call DISCOM", "Clock not set")


def test_an_old_last_recharge_shows_month_and_year():
    v = filled()
    v.last_credit_s = civiltime.seconds(2025, 12, 28, 18, 0)
    assert ("Recharged 28 Dec", R + "500.00") in idle_screens(v)
    v.last_credit_s = civiltime.seconds(2025, 5, 1, 18, 0)  # more than 300 days before
    assert ("Recharged May'25", R + "500.00") in idle_screens(v)


def test_days_remaining_words():
    v = filled()
    u = UI(v)
    for d, text in ((0, "under 1 day"), (1, "about 1 day"), (45, "about 45 days")):
        v.days_remaining = d
        assert ("Credit lasts", text) in idle_screens(v)


def test_status_line_variants():
    v = filled()
    u = UI(v)
    v.balance_paise = -4550
    v.relay_closed = False
    v.relay_reason = "remote"
    v.relay_reason = "none"
    assert screen(u, 0)[0] == OFF + "Power OFF"  # open without a reason: first screen says so
    u.key("DOWN", 0)
    assert screen(u, 0)[0] == "-" + R + "45.50     " + OFF + "OFF"
    v.relay_closed = True
    v.balance_paise = 999999999  # Rs 99,99,999.99: the icon alone fits
    u = UI(v)
    assert screen(u, 0)[0] == R + "99,99,999.99  " + ON
    v.balance_paise = 10 ** 11  # Rs 1,00,00,00,000.00 -> no room for the icon, digits never cut
    assert screen(u, 0)[0] == R + "1000000000.00 " + ON
    v.balance_paise = 10 ** 13
    assert screen(u, 0)[0] == R + "100000000000.00"


def test_hint_and_emergency_screens_while_connected():
    v = filled()
    v.hint = "Recharge within 23h"
    v.emergency_available = True
    s = idle_screens(v)
    assert s[0] == ("Emergency credit", "Press FN to take")
    assert s[1][0].startswith(R)
    assert s[2] == (BELL + "Recharge within", "23h")
    v.emergency_available = False
    v.emergency_active = True
    assert idle_screens(v)[0] == ("Emergency credit", "in use")


def test_unprovisioned_meter():
    v = filled()
    v.provisioned = False
    s = idle_screens(v)
    assert s == [("Meter not set up", "Call DISCOM"), ("Meter reading", "    1234.567 kWh"),
                 ("Meter serial no.", "SM2026000123"), ("Date  12-03-2026", "Time  14:05  Thu")]


def test_page_tables_have_a_render_function_per_kind():
    # _UNPROV .. _FLAG and _M_EMERG .. _M_OVERLOAD (const names: MicroPython keeps no globals for them)
    assert [callable(f) for f in ui._IDLE + ui._MENU] == [True] * (16 + 7)


# -- no power ------------------------------------------------------------------------------------

def off(reason, **kw):
    v = filled()
    v.relay_closed = False
    v.relay_reason = reason
    for k in kw:
        setattr(v, k, kw[k])
    return v


def test_no_power_screens_for_each_reason():
    assert idle_screens(off("credit", balance_paise=-250))[:2] == [
        (OFF + "OFF: no credit", "Please recharge"),
        ("-" + R + "2.50      " + OFF + "OFF", "    1234.567 kWh")]
    assert idle_screens(off("overload", overload_retry_s=105))[:3] == [
        (OFF + "OFF: overload", "Back on in 1:45"),
        ("Too much load:", "switch some off"),
        (R + "1,234.56   " + OFF + "OFF", "    1234.567 kWh")]
    assert idle_screens(off("overload_lockout"))[:2] == [
        (OFF + "OFF: overload", "ENTER: power on"),
        ("Reduce load,", "then press ENTER")]
    assert idle_screens(off("tamper", flags=["TAMPER"]))[0] == (OFF + "OFF: tamper", "Call DISCOM")
    assert idle_screens(off("remote"))[0] == (OFF + "OFF by DISCOM", "Call DISCOM")
    assert idle_screens(off("something new", hint="Wait"))[0] == (OFF + "Power OFF", "Wait")
    # no hint screen while open: the first screens already explain
    assert (BELL + "Recharge to", "restore") not in idle_screens(off("credit", hint="Recharge to restore"))


def test_credit_cut_offers_emergency_credit_next():
    s = idle_screens(off("credit", emergency_available=True))
    assert s[0] == (OFF + "OFF: no credit", "Please recharge")
    assert s[1] == ("Emergency credit", "Press FN to take")


def test_overload_retry_time_counts_down_every_second():
    v = off("overload", overload_retry_s=59, hint="Overload: retry 0:59")
    u = UI(v)
    assert screen(u, 0) == (OFF + "OFF: overload", "Back on in 0:59")
    assert u.next_refresh_ms(0) == 1000  # resting, but the countdown moves
    v.overload_retry_s = None  # no retry time from the policy: the hint's words are not parsed
    assert screen(u, 0) == (OFF + "OFF: overload", "Reduce load")


def test_the_rest_screen_when_off_is_the_reason():
    v = off("credit")
    u = UI(v)
    assert screen(u, 0)[0] == OFF + "OFF: no credit"
    assert u.next_refresh_ms(0) is None


def test_enter_acknowledges_an_overload_lockout_only():
    v = off("overload_lockout")
    u = UI(v)
    assert u.key("ENTER", 0) == ("ack_overload",)
    u.result("ack_ok", 0)
    assert screen(u, 0) == ("Lockout cleared", "Power coming on")
    for reason in ("credit", "overload", "tamper", "remote"):
        assert UI(off(reason)).key("ENTER", 0) is None
    assert UI(filled()).key("ENTER", 0) is None


# -- scrolling, resting, timing ------------------------------------------------------------------

def test_scroll_order_and_timing_then_rest():
    v = filled()
    u = UI(v)
    assert screen(u, 0)[1].endswith("kWh")
    assert u.next_refresh_ms(0) is None  # a fresh UI rests: nothing to do
    u.wake(1000)
    assert u.next_refresh_ms(1000) == 4000
    assert screen(u, 4999)[1].endswith("kWh")
    assert u.next_refresh_ms(4999) == 1
    assert screen(u, 5000)[0] == "Present load"
    assert screen(u, 9000)[0] == "Voltage"
    assert screen(u, 13000)[0] == "Recharged 1 Mar"
    # rendering late skips the screens it missed, keeps the phase
    assert screen(u, 25500)[0] == "Meter serial no."  # 6 steps from 1000
    assert u.next_refresh_ms(25500) == 3500
    # a full cycle is 8 screens of 4 s: back on the main screen at 1000 + 32000
    assert screen(u, 33000)[1].endswith("kWh")
    # the window ends 120 s after the wake: rests on the main screen, nothing more to do
    assert u.next_refresh_ms(119000) == 2000
    assert screen(u, 121000)[1].endswith("kWh")
    assert u.next_refresh_ms(121000) is None
    assert screen(u, 500000)[1].endswith("kWh")


def test_wake_while_scrolling_extends_without_jumping():
    u = UI(filled())
    u.wake(0)
    assert screen(u, 4000)[0] == "Present load"
    u.wake(4000)
    assert screen(u, 4000)[0] == "Present load"
    assert screen(u, 8000)[0] == "Voltage"
    assert u.next_refresh_ms(100000) is not None  # 124 s window
    assert u.next_refresh_ms(124000) is None


def test_clock_screen_refreshes_at_the_minute():
    u = UI(filled())
    u.key("UP", 0)  # from the main screen back to the last one: date and time
    assert screen(u, 0)[0].startswith("Date")
    assert u.next_refresh_ms(0) == 30000  # 14:05:30: next minute in 30 s (hold, backlight too)
    u.view.now_s = NOW_S + 20
    assert u.next_refresh_ms(0) == 10000


def test_up_down_back_step_and_hold():
    v = filled()
    u = UI(v)
    u.key("DOWN", 0)
    assert screen(u, 0)[0] == "Present load"
    u.key("DOWN", 100)
    assert screen(u, 100)[0] == "Voltage"
    u.key("UP", 200)
    u.key("UP", 300)
    assert screen(u, 300)[1].endswith("kWh")
    u.key("UP", 400)  # wraps to the last screen
    assert screen(u, 400)[0].startswith("Date")
    # held 30 s after the last key, then auto-scroll resumes from there
    assert screen(u, 30399)[0].startswith("Date")
    assert screen(u, 30400)[0].startswith("Date")
    assert screen(u, 34400)[1].endswith("kWh")
    assert screen(u, 38400)[0] == "Present load"
    u.key("BACK", 40000)
    assert screen(u, 40000)[1].endswith("kWh")
    assert screen(u, 70000)[1].endswith("kWh")  # the hold ends: one more scroll step
    assert screen(u, 73999)[1].endswith("kWh")
    assert screen(u, 74000)[0] == "Present load"
    # 120 s after the last key: rest on the main screen
    assert screen(u, 160000)[1].endswith("kWh")
    assert u.next_refresh_ms(160000) is None


def test_ticks_wrap():
    start = ticks.PERIOD - 2000
    u = UI(filled())
    u.key("DOWN", start)
    assert screen(u, start)[0] == "Present load"
    assert u.backlight(ticks.add(start, 29999))
    assert not u.backlight(ticks.add(start, 30000))
    t = ticks.add(start, ui.HOLD_MS)
    assert screen(u, t)[0] == "Present load"
    assert screen(u, ticks.add(t, 4000))[0] == "Voltage"
    assert u.next_refresh_ms(ticks.add(start, 200000)) is None


# -- backlight -----------------------------------------------------------------------------------

def test_backlight_on_key_off_after_timeout():
    u = UI(filled())
    assert not u.backlight(0)
    u.key("5", 1000)
    assert u.backlight(1000)
    assert u.backlight(30999)
    u.key("BACK", 20000)  # each key restarts the 30 s
    assert u.backlight(49999)
    assert not u.backlight(50000)
    u.key("nonsense", 60000)  # not a key: no light
    assert not u.backlight(60000)


def test_next_refresh_counts_the_backlight():
    u = UI(filled())
    u.key("MENU", 0)
    assert u.next_refresh_ms(0) == 30000  # backlight before the 60 s menu timeout
    assert u.next_refresh_ms(30000) == 30000  # then the menu timeout
    screen(u, 60000)
    assert u.mode == "idle"


# -- menu ----------------------------------------------------------------------------------------

def test_menu_pages_and_navigation():
    v = filled()
    u = UI(v)
    assert not u.wants_info()
    u.key("MENU", 0)
    assert u.wants_info()
    pages = [screen(u, 0)]
    for _ in range(15):
        u.key("DOWN", 0)
        pages.append(screen(u, 0))
    assert pages == [
        ("Tariff       1/3", "0-100 3.50"),
        ("Tariff       2/3", "100-300 4.80"),
        ("Tariff       3/3", ">300kWh 6.10"),
        ("Slab now 100-300", "        4.80/kWh"),
        ("Month so far", "      87.654 kWh"),
        ("Month charges", "         " + R + "456.78"),
        ("Bill     2026-02", "       " + R + "1,234.56"),
        ("Energy", "       " + R + "1,000.00"),
        ("Fixed charge", "         " + R + "150.00"),
        ("Duty", "          " + R + "50.00"),
        ("Rebate", "         -" + R + "25.00"),
        ("1/3 12 Mar 09:07", "Recharge"),
        ("2/3 11 Mar 22:40", "Overload: off"),
        ("3/3           --", "Meter started"),
        ("Overload", "No overload"),
        ("Tariff       1/3", "0-100 3.50"),  # wraps round
    ]
    u.key("UP", 0)
    assert screen(u, 0)[0] == "Overload"
    # MENU jumps to the next section
    u.key("MENU", 0)
    assert screen(u, 0)[0] == "Tariff       1/3"
    u.key("MENU", 0)
    assert screen(u, 0)[0].startswith("Slab now")
    u.key("MENU", 0)
    assert screen(u, 0)[0] == "Month so far"
    u.key("MENU", 0)
    assert screen(u, 0)[0].startswith("Bill")
    u.key("MENU", 0)
    assert screen(u, 0)[0].startswith("1/3")
    # BACK returns to the idle screens, main first
    u.key("BACK", 0)
    assert u.mode == "idle" and not u.wants_info()
    assert screen(u, 0)[1].endswith("kWh")


def test_menu_with_empty_info_and_long_texts():
    v = filled()
    v.tariff_lines = []
    v.recent_events = []
    v.overload_text = "Overload: retry 1:45 (trip 2 of 4)"
    v.recent_events = [(None, "some_new_code"), (NOW_S, 42), (NOW_S, "token_crc")]
    u = UI(v)
    u.key("MENU", 0)
    assert screen(u, 0) == ("Tariff", "not available")
    for _ in range(4):  # past the slab, month and bill sections
        u.key("MENU", 0)
    assert screen(u, 0) == ("1/3           --", "Some new code")
    u.key("DOWN", 0)
    assert screen(u, 0) == ("2/3 12 Mar 14:05", "42")
    u.key("DOWN", 0)
    assert screen(u, 0) == ("3/3 12 Mar 14:05", "Token refused")
    u.key("DOWN", 0)
    assert screen(u, 0) == ("Overload: retry", "1:45 (trip 2 of")
    v.recent_events = []
    u.key("BACK", 0)
    for _ in range(5):
        u.key("MENU", 0)
    assert screen(u, 0) == ("Recent events", "none")


def test_menu_times_out():
    u = UI(filled())
    u.key("MENU", 0)
    u.key("DOWN", 10000)
    assert screen(u, 69999)[0] == "Tariff       2/3"
    assert screen(u, 70000)[1].endswith("kWh")
    assert u.mode == "idle"


def test_lockout_can_be_acknowledged_from_the_overload_page():
    v = off("overload_lockout", overload_text="Overload lockout: press ENTER")
    u = UI(v)
    u.key("MENU", 0)
    u.key("UP", 0)
    assert screen(u, 0) == ("Overload lockout", "Press ENTER")
    assert u.key("ENTER", 0) == ("ack_overload",)
    assert u.mode == "idle"


# -- emergency credit ----------------------------------------------------------------------------

def test_emergency_credit_from_fn_and_from_menu():
    v = filled()
    v.emergency_available = True
    u = UI(v)
    assert u.key("FN", 0) is None
    assert u.mode == "menu"
    assert screen(u, 0) == ("Emergency credit", "ENTER to take")
    assert u.key("ENTER", 0) == ("emergency",)
    assert screen(u, 0) == ("Emergency credit", "Please wait")
    u.result("emergency_granted", 0, 5000)
    assert screen(u, 0) == ("Emergency credit", "+" + R + "50.00 added")
    v.emergency_available = False
    v.emergency_active = True
    assert screen(u, 8000)[0] == "Emergency credit"  # now the first idle screen: in use
    assert screen(u, 8000)[1] == "in use"
    # from the menu: the first page when offered
    v.emergency_active = False
    v.emergency_available = True
    u = UI(v)
    u.key("MENU", 0)
    assert screen(u, 0) == ("Emergency credit", "ENTER to take")
    u.key("DOWN", 0)
    assert u.key("ENTER", 0) is None  # ENTER on the tariff page does nothing
    u.key("UP", 0)
    assert u.key("ENTER", 0) == ("emergency",)
    u.result("emergency_refused", 0, detail="balance above threshold")
    assert screen(u, 0) == ("Emergency credit", "not available")


def test_fn_without_emergency_credit_says_so():
    v = filled()
    u = UI(v)
    assert u.key("FN", 0) is None
    assert screen(u, 0) == ("Emergency credit", "not available")
    assert screen(u, ui.NOTICE_MS)[1].endswith("kWh")
    v.emergency_active = True
    u.key("FN", 10000)
    assert screen(u, 10000) == ("Emergency credit", "in use")
    u.key("MENU", 20000)
    assert screen(u, 20000) == ("Emergency credit", "in use")
    assert u.key("ENTER", 20000) is None


# -- token entry ---------------------------------------------------------------------------------

def test_token_entry_grouping():
    u = UI(filled())
    assert u.key("1", 0) is None
    assert u.mode == "entry"
    assert screen(u, 0) == ("1_", "Token       1/20")
    typed(u, "234")
    assert screen(u, 0) == ("1234 _", "Token       4/20")
    typed(u, "56789012")
    assert screen(u, 0) == ("1234 5678 9012", "_          12/20")
    typed(u, "34567")
    assert screen(u, 0) == ("1234 5678 9012", "3456 7_    17/20")
    typed(u, "890")
    assert screen(u, 0) == ("1234 5678 9012", "3456 7890  20/20")
    typed(u, "5")  # a 21st digit is ignored
    assert screen(u, 0) == ("1234 5678 9012", "3456 7890  20/20")


def test_token_entry_back_deletes_and_leaves_when_empty():
    u = typed(UI(filled()), "12345")
    u.key("BACK", 0)
    assert screen(u, 0) == ("1234 _", "Token       4/20")
    for _ in range(4):
        u.key("BACK", 0)
    assert u.mode == "idle"
    assert screen(u, 0)[1].endswith("kWh")
    u = typed(UI(filled()), "12345678")
    u.key("LONG_BACK", 0)  # a long press after the short one clears everything
    assert u.mode == "idle"
    u.key("LONG_BACK", 0)  # nothing to clear: harmless
    assert u.mode == "idle"


def test_enter_needs_20_digits():
    u = typed(UI(filled()), "1234567890123456789")
    assert u.key("ENTER", 0) is None
    assert screen(u, 0) == ("Need 20 digits", "You typed 19")
    assert screen(u, ui.NOTICE_MS - 1) == ("Need 20 digits", "You typed 19")
    assert screen(u, ui.NOTICE_MS) == ("1234 5678 9012", "3456 789_  19/20")
    # a digit dismisses the notice at once and counts
    u.key("ENTER", 5000)
    assert u.key("0", 5000) is None
    assert screen(u, 5000) == ("1234 5678 9012", "3456 7890  20/20")
    assert u.key("ENTER", 5000) == ("token", "12345678901234567890")
    assert u.mode == "idle"
    assert screen(u, 5000) == ("Checking token", "Please wait")
    # with no result the wait ends by itself
    assert screen(u, 5000 + ui.WAIT_MS)[1].endswith("kWh")


def test_entry_ignores_navigation_and_times_out():
    u = typed(UI(filled()), "98765")
    for k in ("UP", "DOWN", "MENU", "FN"):
        assert u.key(k, 1000) is None
    assert u.mode == "entry"
    assert screen(u, 1000) == ("9876 5_", "Token       5/20")
    assert screen(u, 60999)[0] == "9876 5_"
    assert screen(u, 61000)[1].endswith("kWh")
    assert u.mode == "idle"
    u.key("4", 62000)
    assert screen(u, 62000)[0] == "4_"  # a fresh token, the old digits are gone


def test_digits_start_entry_from_the_menu_too():
    u = UI(filled())
    u.key("MENU", 0)
    u.key("7", 0)
    assert u.mode == "entry" and screen(u, 0)[0] == "7_"


def test_keypad_locked():
    v = filled()
    v.keypad_locked_s = 299
    u = UI(v)
    assert u.key("1", 0) is None
    assert u.mode == "idle"
    assert screen(u, 0) == ("Keypad locked", "Try in 4:59")
    assert screen(u, 1000) == ("Keypad locked", "Try in 4:58")
    assert u.next_refresh_ms(1500) == 500
    assert screen(u, ui.RESULT_MS)[1].endswith("kWh")
    v.keypad_locked_s = 0
    u.key("1", 10000)
    assert u.mode == "entry"


# -- results -------------------------------------------------------------------------------------

def test_result_messages():
    cases = [
        (("accepted", 50000, None), ("Credit accepted", "+" + R + "500.00 added")),
        (("accepted", 1234567, None), ("Credit accepted", "+" + R + "12,345.67")),
        (("accepted", None, {"key_change": "done"}), ("Token accepted", "Done")),
        (("used", None, None), ("Token refused", "Already used")),
        (("old", None, None), ("Token refused", "Too old")),
        (("crc", None, None), ("Token refused", "Wrong meter/typo")),
        (("invalid", None, None), ("Token refused", "Invalid token")),
        (("invalid", None, "clock not set"), ("Token refused", "Clock not set")),
        (("invalid", None, {"why": "x"}), ("Token refused", "Invalid token")),
        (("format", None, None), ("Token refused", "Check the digits")),
        (("locked", None, 3600 + 125), ("Keypad locked", "Try in 1:02:05")),
        (("locked", None, {"seconds": 90}), ("Keypad locked", "Try in 1:30")),
        (("class", None, None), ("Token refused", "Invalid token")),
        (("expired", None, None), ("Token refused", "Key expired")),
        (("range", None, {"why": "sanctioned_load_w"}), ("Token refused", "Out of range")),
        (("emergency_granted", 5000, None), ("Emergency credit", "+" + R + "50.00 added")),
        (("emergency_refused", None, "no"), ("Emergency credit", "not available")),
        (("ack_ok", None, None), ("Lockout cleared", "Power coming on")),
        (("strange", None, "x"), ("strange", "x")),
    ]
    for (kind, amount, detail), want in cases:
        u = UI(filled())
        u.result(kind, 0, amount, detail)
        assert screen(u, 0) == want, (kind, screen(u, 0))


def test_locked_result_takes_the_view_time_without_detail():
    v = filled()
    v.keypad_locked_s = 61
    u = UI(v)
    u.result("locked", 0)
    assert screen(u, 0) == ("Keypad locked", "Try in 1:01")
    assert screen(u, 7000) == ("Keypad locked", "Try in 0:54")


def test_result_timeout_and_dismissal():
    u = UI(filled())
    u.result("used", 1000)
    assert u.backlight(1000)
    assert u.next_refresh_ms(1000) == ui.RESULT_MS
    assert screen(u, 1000 + ui.RESULT_MS - 1)[1] == "Already used"
    assert screen(u, 1000 + ui.RESULT_MS)[1].endswith("kWh")
    u.result("crc", 20000)
    u.key("DOWN", 21000)  # dismisses, then acts
    assert screen(u, 21000)[0] == "Present load"


def test_result_replaces_the_wait_message():
    u = typed(UI(filled()), "12345678901234567890")
    assert u.key("ENTER", 0)[0] == "token"
    u.result("accepted", 10, 10000)
    assert screen(u, 10) == ("Credit accepted", "+" + R + "100.00 added")
    # after the message: auto-scroll from the main screen showing the new balance
    assert screen(u, 10 + ui.RESULT_MS)[1].endswith("kWh")


# -- notifications -------------------------------------------------------------------------------

def test_notify_shows_wraps_queues_and_wakes():
    u = UI(filled())
    assert u.next_refresh_ms(0) is None
    u.notify("Balance 10% left", 0)
    assert screen(u, 0) == (BELL + "Notice", "Balance 10% left")
    assert u.backlight(0)
    u.notify("Power restored", 1000)
    assert screen(u, ui.NOTIFY_MS - 1)[1] == "Balance 10% left"
    assert screen(u, ui.NOTIFY_MS) == (BELL + "Notice", "Power restored")
    assert screen(u, 2 * ui.NOTIFY_MS)[1].endswith("kWh")
    # auto-scroll runs after the alerts
    assert screen(u, 2 * ui.NOTIFY_MS + 100)[1].endswith("kWh")
    assert u.next_refresh_ms(2 * ui.NOTIFY_MS) is not None
    # a key dismisses every waiting alert
    for i in range(10):
        u.notify("Alert %d" % i, 50000)
    assert len(u._msgs) == ui.MAX_MESSAGES
    assert screen(u, 50000)[1] == "Alert 0"
    u.key("BACK", 50001)
    assert screen(u, 50001)[1].endswith("kWh")


def test_long_notification_text_is_cut_to_two_lines():
    u = UI(filled())
    u.notify("Power restored after overload", 0)
    assert screen(u, 0) == (BELL + "Power restored", "after overload")
    u = UI(filled())
    u.notify("Supercalifragilisticexpialidocious credit alert for you today", 0)
    l1, l2 = screen(u, 0)
    assert l1 == BELL + "Supercalifragil" and l2 == "credit alert for"


# -- robustness ----------------------------------------------------------------------------------

def test_empty_and_junk_views_render():
    u = UI(MeterView())
    assert screen(u, 0) == (R + "0.00        " + ON + "ON", "       0.000 kWh")
    v = MeterView()
    for name in ("now_s", "balance_paise", "import_mwh", "export_mwh", "power_w", "volts_cv",
                 "current_ma", "last_credit_paise", "last_credit_s", "arrears_paise",
                 "days_remaining", "serial", "hint", "flags", "tariff_lines", "month_mwh",
                 "month_charges_paise", "recent_events", "overload_text", "keypad_locked_s",
                 "overload_retry_s"):
        setattr(v, name, None)
    u = UI(v)
    u.wake(0)
    for t in range(0, 60000, 1000):
        screen(u, t)
    u.key("MENU", 60000)
    for i in range(10):
        u.key("DOWN", 60000)
        screen(u, 60000)
    v.flags = "TAMPER"  # a string, not a list: one page per character, no exception
    v.recent_events = [("x",), None, 5]
    for i in range(10):
        u.key("DOWN", 61000)
        screen(u, 61000)
    v.balance_paise = "lots"
    screen(u, 62000)


def test_an_internal_error_is_reported_once_and_the_screen_goes_on():
    v = filled()
    v.flags = 5  # not a list: listing the idle screens raises
    reports = []
    nested = []
    u = UI(v)

    def log(where, e):  # the meter's event log wakes the UI: an error in there is not reported
        reports.append((where, type(e).__name__))
        nested.append(u.next_refresh_ms(0))
        raise OSError("the log failed too")

    u.on_error = log
    assert screen(u, 0) == ("Meter", "")  # no idle screen to show, and none after the reset either
    assert reports == [("ui render", "TypeError")] and nested == [1000]
    assert u.mode == "idle"
    for t in range(1000, 10000, 1000):  # the meter looks again every second: no event each time
        assert u.next_refresh_ms(t) == 1000 and screen(u, t) == ("Meter", "")
    assert len(reports) == 1
    v.flags = []
    assert screen(u, 10000)[1].endswith("kWh")
    v.flags = 5  # a screen rendered in between: the next error is reported
    assert u.next_refresh_ms(11000) == 1000
    assert reports[1:] == [("ui refresh", "TypeError")]


class Rng:
    """A small LCG: the same sequence on CPython and MicroPython."""

    def __init__(self, seed):
        self.s = seed

    def next(self, n):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 8) % n


KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "ENTER", "BACK", "MENU", "UP",
        "DOWN", "FN", "LONG_BACK", "LONG_ENTER", "LONG_5", "", "enter", "F1", "*", "#",
        "ENTER ", "\x00", "10", "UPDOWN", "menu", "LONG_", None, 7, b"5")
REASONS = ("none", "credit", "overload", "overload_lockout", "tamper", "remote", "bogus", None)
RESULTS = ("accepted", "used", "old", "crc", "invalid", "format", "locked", "expired", "range",
           "emergency_granted", "emergency_refused", "ack_ok", "junk", None)


def test_fuzz_keys_never_break_the_ui():
    rng = Rng(2026)
    v = filled()
    errors = []
    u = UI(v, on_error=lambda where, e: errors.append((where, e)))
    t = ticks.PERIOD - 300000  # crosses the tick wrap on the way
    for i in range(10000):
        t = ticks.add(t, rng.next(3) * rng.next(4000))
        c = rng.next(3)  # a third digits, a third other keys, a third anything (junk too)
        k = KEYS[rng.next(10) if c == 0 else 10 + rng.next(7) if c == 1 else rng.next(len(KEYS))]
        action = u.key(k, t)
        if action is not None:
            assert action[0] in ("token", "emergency", "ack_overload"), action
            if action[0] == "token":
                assert len(action[1]) == 20 and action[1].isdigit()
            elif action[0] == "emergency":
                assert v.emergency_available
            else:
                assert not v.relay_closed and v.relay_reason == "overload_lockout"
        r = rng.next(50)
        if r == 0:
            v.relay_closed = not v.relay_closed
            v.relay_reason = REASONS[rng.next(len(REASONS))]
        elif r == 1:
            v.emergency_available = not v.emergency_available
        elif r == 2:
            v.keypad_locked_s = rng.next(600) if rng.next(4) == 0 else 0
        elif r == 3:
            u.result(RESULTS[rng.next(len(RESULTS))], t, rng.next(100000) - 1000, rng.next(300))
        elif r == 4:
            u.notify("Balance %d%% left" % rng.next(100), t)
        elif r == 5:
            v.flags = ["TAMPER", "CLOCK"][:rng.next(3)]
        elif r == 6:
            v.recent_events = [(NOW_S - j * 3600, "reconnect") for j in range(rng.next(12))]
        elif r == 7:
            u.wake(t)
        elif r == 8:
            v.provisioned = not v.provisioned
        l1, l2 = u.render(t)
        assert isinstance(l1, str) and isinstance(l2, str)
        assert len(l1) == 16 and len(l2) == 16
        n = u.next_refresh_ms(t)
        assert n is None or (isinstance(n, int) and 0 <= n <= ui.ACTIVE_MS)
        assert u.backlight(t) in (True, False)
        assert u.mode in ("idle", "menu", "entry")
    assert errors == []


def test_next_refresh_is_honest():
    """Rendering just before next_refresh_ms gives the same screen; sleeping longer than it is
    never needed: at rest the screen stays put."""
    rng = Rng(7)
    v = filled()
    errors = []
    u = UI(v, on_error=lambda where, e: errors.append((where, e)))
    t = 0
    for i in range(300):
        k = KEYS[rng.next(17)]
        u.key(k, t)
        if rng.next(10) == 0:
            u.notify("x", t)
        for _ in range(rng.next(6)):
            n = u.next_refresh_ms(t)
            before = (u.render(t), u.backlight(t))
            if n is None:
                assert (u.render(t + 3600000), u.backlight(t + 3600000)) == before
                t += 3600000
                break
            if n > 1:
                assert (u.render(t + n - 1), u.backlight(t + n - 1)) == before
            t += n
        t += rng.next(5000)
    assert errors == []


def test_documented_timeline():
    u = UI(filled())
    u.key("DOWN", 0)
    assert screen(u, 0)[0] == "Present load" and u.backlight(0)
    assert u.next_refresh_ms(0) == 30000
    assert screen(u, 30000)[0] == "Present load" and not u.backlight(30000)
    assert u.next_refresh_ms(30000) == 4000
    assert screen(u, 34000)[0] == "Voltage"
    assert u.next_refresh_ms(114000) == 4000
    assert u.next_refresh_ms(118000) == 2000  # the window ends before the next step
    assert screen(u, 120000)[1].endswith("kWh")
    assert u.next_refresh_ms(120000) is None


def test_balance_and_relay_icon_limits():
    v = filled()
    u = UI(v)
    v.balance_paise = 99999999  # 9,99,999.99 on: icon and ON
    assert screen(u, 0)[0] == R + "9,99,999.99 " + ON + "ON"
    v.relay_closed = False
    v.relay_reason = "none"
    u.key("DOWN", 0)
    assert screen(u, 0)[0] == R + "9,99,999.99   " + OFF  # off: the icon alone
    v.balance_paise = 9999999
    assert screen(u, 0)[0] == R + "99,999.99  " + OFF + "OFF"


def test_event_words_fit_the_line():
    for code, words in ui._EVENTS:
        assert len(words) <= 16, code
    for flag, words in ui._FLAGS:
        assert len(words) <= 16, flag
