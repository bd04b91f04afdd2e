"""The action layer and the command table without a simulator (tests/unit/_meterkit.py): every
change validates before it touches anything, logs one event, commits once; bad input is a 4xx
naming the field and its range; a handler's bug is ERR 500 and an event, never a crash."""
import json

import schema
from _check import raises
from _meterkit import Kit, SECTIONS, T0
from refusal import Refused


# the actions' own events; the policy, relay and metering log what follows from them themselves
ACTION_CODES = ("credit", "arrears_set", "tamper_cleared", "overload_reset", "remote_relay", "clock_set",
                "provisioned", "emergency_credit", "link_key_set")


def _ok(reply):
    assert reply.startswith("OK"), reply
    return json.loads(reply[3:])


def _err(reply, code):
    assert reply.startswith("ERR %d " % code), reply
    return reply


def _snapshot(k):
    a = k.d.account
    return (a.balance_paise, a.arrears_paise, a.emergency_owed_paise, k.d.now_s(), json.dumps(k.d.config),
            k.d.relay.closed(), k.d.policy.reason)


# -- one event, one commit ----------------------------------------------------------------------

def test_a_remote_credit_is_one_event_and_one_commit():
    k = Kit()
    saves, n = k.saves(), len(k.events())
    r = _ok(k.call("credit 100000 T-1"))
    assert r["credited"] == 100000 and r["duplicate"] is False
    assert r["arrears_recovered"] == 20000 and r["to_balance"] == 80000
    assert k.saves() == saves + 1
    new = [e for e in k.events()[n:] if e["code"] in ACTION_CODES]  # (the policy's own follow)
    assert [e["code"] for e in new] == ["credit"], new
    assert "T-1" in new[0]["d"]
    # the retry is answered from memory: no second credit, event or commit
    n = len(k.events())
    again = _ok(k.call("credit 100000 T-1"))
    assert again["duplicate"] is True and again["credited"] == 100000
    assert k.d.account.balance_paise == 80000
    assert k.saves() == saves + 1 and len(k.events()) == n


def test_every_changing_command_logs_one_event_of_its_own():
    k = Kit()
    k.call("credit 1000 T-a")
    for line, code in (("arrears 5000", "arrears_set"), ("tamper clear", "tamper_cleared"),
                       ("overload reset", "overload_reset"), ("relay open", "remote_relay"),
                       ("relay auto", "remote_relay"), ("setclock 2026-12-01T10:00:00 force", "clock_set"),
                       ("provision meter " + json.dumps(SECTIONS["meter"]), "provisioned")):
        saves, n = k.saves(), len(k.events())
        _ok(k.call(line))
        own = [e["code"] for e in k.events()[n:] if e["code"] in ACTION_CODES]
        assert own == [code], (line, k.events()[n:])
        assert k.saves() == saves + 1, line


def test_emergency_credit_from_the_link_is_granted_once():
    k = Kit()
    g = _ok(k.call("emergency"))
    assert g["granted"] == 5000
    assert k.codes().count("emergency_credit") == 1
    r = _err(k.call("emergency"), 409)
    assert "already_taken" in r
    assert k.codes().count("emergency_credit") == 1


def test_the_relay_follows_a_remote_disconnect_in_the_same_action():
    k = Kit()
    k.call("credit 100000 T-r")
    r = _ok(k.call("relay open"))
    assert r["relay"] == "open" and not k.board.relay.closed()
    assert "relay_open" in k.codes()
    r = _ok(k.call("relay auto"))
    assert r["relay"] == "closed" and k.board.relay.closed()


# -- validation before any change -----------------------------------------------------------------

def test_out_of_range_arguments_name_the_field_and_change_nothing():
    k = Kit()
    before, saves, n = _snapshot(k), k.saves(), len(k.events())
    for line, field in (("arrears " + "9" * 31, "arrears.paise"), ("arrears -5", "arrears.paise"),
                        ("credit 0 T-0", "credit.paise"), ("credit 1000000001 T-big", "credit.paise"),
                        ("credit 1e3 T-f", "credit.paise"),
                        ("calibrate 999 4.348 1000", "calibrate.volts_cv"),
                        ("calibrate 230 4.348 -1", "calibrate.power_w")):
        r = _err(k.call(line), 422)
        assert field in r, (line, r)
        lo, hi = schema.row(*field.split("."))[2:4]
        assert ("%d..%d" % (lo, hi)) in r, r
    for line in ("setclock 2026-11-30T-1:00:00", "setclock 2026-11-30T+9:00:00", "setclock 2019-12-31T23:59:59",
                 "setclock 2026-13-01T00:00:00", "setclock 2026-11-30T09:00:0x"):
        r = k.call(line)
        assert r.startswith("ERR 422"), (line, r)
    assert _snapshot(k) == before
    assert k.saves() == saves
    assert len(k.events()) == n


def test_provisioning_values_out_of_range_are_refused_whole():
    k = Kit()
    before, saves = _snapshot(k), k.saves()
    bad = (
        ("tariff", dict(SECTIONS["tariff"], duty_percent=1e308), "duty_percent"),
        ("tariff", dict(SECTIONS["tariff"], duty_percent="100.5"), "duty_percent"),
        ("tariff", dict(SECTIONS["tariff"], fixed_paise_per_day=10 ** 30), "fixed_paise_per_day"),
        ("tariff", {"slabs": [{"paise_per_kwh": -1}]}, "paise_per_kwh"),
        ("connection", dict(SECTIONS["connection"], window="+9:00-10:00"), "window"),
        ("connection", dict(SECTIONS["connection"], window="09:00-1:000"), "window"),
        ("connection", dict(SECTIONS["connection"], sanctioned_load_w=2000000), "sanctioned_load_w"),
        ("connection", dict(SECTIONS["connection"], grace_hours=True), "grace_hours"),
        ("account", dict(SECTIONS["account"], arrears_paise=10 ** 31), "arrears_paise"),
        ("account", dict(SECTIONS["account"], alert_percents=[30, 101]), "alert_percents"),
        ("meter", {"serial": "X", "max_current_ma": 10 ** 9}, "max_current_ma"),
        ("sts", dict(SECTIONS["sts"], tariff_index=100), "tariff_index"),
    )
    for name, data, field in bad:
        r = _err(k.call("provision %s %s" % (name, json.dumps(data))), 422)
        assert field in r, (name, data, r)
    assert _snapshot(k) == before
    assert k.saves() == saves
    for v in (float("nan"), float("inf"), -0.5, 12.345):  # (NaN is not JSON on MicroPython)
        with raises(Refused) as e:
            schema.check_section("tariff", dict(SECTIONS["tariff"], duty_percent=v))
        assert "tariff.duty_percent must be a number 0..100" in e.value.message, e.value.message


def test_the_schema_check_comes_before_the_action_touches_anything():
    k = Kit()
    with raises(Refused) as e:
        k.act.set_arrears(10 ** 11)
    assert e.value.code == 422 and "arrears.paise" in e.value.message
    assert k.d.account.arrears_paise == 200000
    with raises(Refused):
        k.act.set_clock(-1)
    assert k.d.now_s() == T0


# -- configuration is not running state ----------------------------------------------------------

def test_sending_the_same_account_section_again_keeps_the_running_arrears():
    k = Kit()
    _ok(k.call("credit 100000 T-1"))  # recovers Rs 200 of the Rs 2000 arrears
    assert k.d.account.arrears_paise == 180000
    before = _snapshot(k)
    _ok(k.call("provision account " + json.dumps(SECTIONS["account"])))
    assert _snapshot(k) == before  # no running state changed
    changed = dict(SECTIONS["account"], arrears_paise=999999, arrears_recovery_percent=50)
    _ok(k.call("provision account " + json.dumps(changed)))
    assert k.d.account.arrears_paise == 180000  # the file's figure is an opening balance only
    assert k.d.account.recovery_percent == 50  # configuration does change
    # changing the debt is the explicit arrears command, with old and new in its event
    r = _ok(k.call("arrears 150000"))
    assert r["arrears_paise"] == 150000 and r["previous_paise"] == 180000
    ev = [e for e in k.events() if e["code"] == "arrears_set"][-1]
    assert "180000" in ev["d"] and "150000" in ev["d"]


def test_provisioning_any_section_again_keeps_the_relay_decision_and_the_tokens_state():
    k = Kit()
    _ok(k.call("credit 100000 T-1"))
    _ok(k.call("relay open"))
    k.act.token("12345678901234567890")  # one keypad failure counted
    guard = json.dumps(k.d.recharge.state())
    for name in ("meter", "sts", "tariff", "account", "connection"):
        _ok(k.call("provision %s %s" % (name, json.dumps(SECTIONS[name]))))
        assert not k.board.relay.closed() and k.d.policy.reason == "remote", name
        assert json.dumps(k.d.recharge.state()) == guard, name
    assert k.d.account.balance_paise == 80000


def test_arrears_and_balance_survive_a_restart_and_reprovisioning():
    k = Kit()
    _ok(k.call("credit 100000 T-1"))
    k2 = k.reopen()
    assert k2.d.account.arrears_paise == 180000 and k2.d.account.balance_paise == 80000
    _ok(k2.call("provision account " + json.dumps(SECTIONS["account"])))
    assert k2.d.account.arrears_paise == 180000


# -- link key -----------------------------------------------------------------------------------

def test_setkey_on_a_keyed_meter_is_409_with_or_without_auth():
    k = Kit()
    _err(k.call("setkey " + "ab" * 32, auth=False), 409)
    _err(k.call("setkey " + "ab" * 32), 409)
    assert k.auth.key == b"k" * 32


def test_a_fresh_meter_takes_one_key():
    k = Kit(provisioned=False)
    _err(k.call("setkey 1234", auth=False), 422)
    _ok(k.call("setkey " + "6b" * 32, auth=False))
    assert k.auth.key == b"\x6b" * 32
    _err(k.call("setkey " + "6c" * 32, auth=False), 409)
    assert k.reopen().auth.key == b"\x6b" * 32  # on flash


def test_the_sequence_number_is_on_flash_before_the_reply_whatever_the_outcome():
    k = Kit()
    for line in ("status", "arrears x", "credit 100 T-seq"):
        reply = k.call(line)
        assert k.reopen().auth.seq == k.auth.seq, (line, reply)


# -- errors -------------------------------------------------------------------------------------

def test_a_bug_in_a_handler_is_500_and_an_event_and_the_link_goes_on():
    k = Kit()
    k.cmds["boom"] = (lambda args: [][1], False)
    k.cmds["kboom"] = (lambda args: {}["x"], False)
    k.cmds["tboom"] = (lambda args: None + 1, False)
    k.cmds["mboom"] = (lambda args: _raise(MemoryError()), False)
    for name, exc in (("boom", IndexError), ("kboom", KeyError), ("tboom", TypeError), ("mboom", MemoryError)):
        r = _err(k.link.handle(name), 500)
        assert k.errors[-1][0] == "link " + name and isinstance(k.errors[-1][1], exc), k.errors
    assert len(k.errors) == 4
    _ok(k.call("status", auth=False))


def _raise(e):
    raise e


def test_a_token_is_one_action_even_when_refused():
    k = Kit()
    saves, n = k.saves(), len(k.events())
    kind, paise, _ = k.act.token("12345678901234567890")
    assert kind in ("crc", "invalid", "format"), kind
    assert paise is None
    assert [e["code"] for e in k.events()[n:]] == ["token_" + kind]
    assert k.saves() == saves + 1  # the keypad guard's count is on flash
    assert k.d.account.balance_paise == 0


def test_token_effects_validate_before_they_change_the_section():
    k = Kit()
    before = json.dumps(k.d.config)
    with raises(Refused) as e:
        k.act.effects.set_sanctioned_load(2000000)
    assert "sanctioned_load_w" in e.value.message
    with raises(Refused):
        k.act.effects.change_decoder_key({"key": b"\x01" * 8, "key_revision": 1, "key_type": 2,
                                          "tariff_index": 500})
    assert json.dumps(k.d.config) == before
    k.act.effects.set_sanctioned_load(3000)
    assert k.d.section("connection")["sanctioned_load_w"] == 3000


# -- the loop's error boundary ---------------------------------------------------------------------

class _Front:
    def __init__(self, exc):
        self.exc = exc
        self.shown = []
        self.key_delay = self.buzz_delay = None

    def poll(self, now):
        raise self.exc

    def error(self, now):
        self.shown.append("Error")

    def alerts(self, alerts, now):
        pass


class _Display:
    def refresh(self, now):
        pass


class _PowerLoss(BaseException):
    """As the simulated board's supply model signals a power cut (not an Exception)."""


def _loop(k, front):
    from loop import Loop

    k.board.meter_pulse = None
    return Loop(k.board, k.d, k.act, k.link, front, _Display())


def test_an_exception_in_a_key_handler_is_an_event_and_error_on_the_lcd():
    k = Kit()
    k.board.metering.draw(5000)
    for exc in (TypeError("boom"), MemoryError(), ZeroDivisionError()):
        front = _Front(exc)
        lp = _loop(k, front)
        lp.step()  # does not raise
        assert front.shown == ["Error"]
        ev = k.events()[-1] if k.codes()[-1] == "internal_error" else \
            [e for e in k.events() if e["code"] == "internal_error"][-1]
        assert ev["d"].startswith("keypad: " + type(exc).__name__), ev
    # and it went on metering in the same pass
    assert k.d.metering.import_mwh == 5000


def test_a_power_loss_is_not_swallowed_by_the_boundary():
    k = Kit()
    lp = _loop(k, _Front(_PowerLoss()))
    with raises(_PowerLoss):
        lp.step()
