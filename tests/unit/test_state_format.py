"""The saved state's format is checked at boot (domain.STATE_FORMAT): an older record is read and
rewritten in the current format; a newer, unknown or unreadable one is neither read nor
overwritten, and the meter refuses to run with a clear reason instead of billing an empty
account over the consumer's real balance."""
import json

import commands
from _meterkit import Kit
from domain import STATE_FORMAT
from store import Store


def _ok(reply):
    assert reply.startswith("OK"), reply
    return json.loads(reply[3:])


def _paid_kit():
    k = Kit()
    _ok(k.call("credit 100000 T-1"))
    return k, k.d.account.balance_paise


def _doctor(k, change):
    """Rewrite the saved "meter" record as another firmware would have left it."""
    store = Store(k.root)
    st = store.load("meter")
    change(st)
    store.save("meter", st)
    return store.load("meter")


def _refusing(k):
    return commands.refusing(dict(k.cmds), k.d.refused)


def test_a_record_of_the_previous_format_is_read_and_rewritten_in_this_one():
    k, balance = _paid_kit()
    _doctor(k, lambda st: st.update(v=1))  # what firmware up to 0.3.0 wrote
    k2 = k.reopen()
    assert k2.d.refused is None
    assert k2.d.account.balance_paise == balance
    _ok(k2.call("credit 100 T-2"))
    assert Store(k2.root).load("meter")["v"] == STATE_FORMAT == 2


def test_a_record_without_a_format_number_is_the_first_format():
    k, balance = _paid_kit()
    _doctor(k, lambda st: st.pop("v"))
    k2 = k.reopen()
    assert k2.d.refused is None and k2.d.account.balance_paise == balance


def test_a_newer_format_is_refused_and_never_overwritten():
    k, balance = _paid_kit()
    saved = _doctor(k, lambda st: st.update(v=STATE_FORMAT + 1))
    k2 = k.reopen()
    assert k2.d.refused == "state format 3 is not one this firmware reads (2)"
    assert "state_refused" in k2.codes()
    k2.d.commit("periodic")  # whatever asks for a save: the record stays as the newer firmware left it
    assert Store(k2.root).load("meter") == saved
    assert k2.d.journal_write() is False


def test_an_unreadable_account_is_refused_like_an_unknown_format():
    k, balance = _paid_kit()
    saved = _doctor(k, lambda st: st["account"].update(v=99))
    k2 = k.reopen()
    assert k2.d.refused.startswith("state unreadable: AccountError")
    k2.d.commit("periodic")
    assert Store(k2.root).load("meter") == saved


def test_a_refusing_meter_answers_503_to_everything_but_what_an_update_needs():
    k, balance = _paid_kit()
    _doctor(k, lambda st: st.update(v="x"))
    k2 = k.reopen()
    cmds = _refusing(k2)
    for name in ("status", "account", "credit", "provision", "token", "relay", "tariff", "energy"):
        try:
            cmds[name][0]("")
        except commands.Refused as e:
            assert e.code == 503 and "update the firmware" in e.message, (name, e.message)
        else:
            raise AssertionError("%s answered on a refusing meter" % name)
    info = cmds["info"][0]("")
    assert info["state_format"] == STATE_FORMAT
    assert info["state_refused"] == "state format 'x' is not one this firmware reads (2)"
    assert set(commands.SERVED_WHEN_REFUSED) <= set(cmds)
    for name in commands.SERVED_WHEN_REFUSED:
        assert cmds[name][0] is k2.cmds[name][0], name  # the same handlers as on a healthy meter


def test_a_healthy_meter_reports_its_state_format():
    k, balance = _paid_kit()
    info = _ok(k.call("info", auth=False))
    assert info["state_format"] == STATE_FORMAT and "state_refused" not in info


class _ShortOfHeap:
    """The store's load raises MemoryError `times` times, as on a fragmented heap at boot."""

    def __init__(self, store, times):
        self.store = store
        self.times = times

    def __call__(self, name):
        if name == "meter" and self.times:
            self.times -= 1
            raise MemoryError("memory allocation failed, allocating 136 bytes")
        return Store.load(self.store, name)


def test_out_of_memory_while_restoring_collects_and_tries_again():
    k, balance = _paid_kit()
    k2 = k.reopen()
    k2.d.store.load = _ShortOfHeap(k2.d.store, 1)
    k2.d.restore()
    assert k2.d.refused is None and k2.d.account.balance_paise == balance


def test_out_of_memory_twice_refuses_and_never_overwrites_the_state():
    """Seen on the 32-bit build at 112K: a restore that failed for memory left a fresh account
    that billed from zero and was saved over the real one."""
    k, balance = _paid_kit()
    saved = Store(k.root).load("meter")
    k2 = k.reopen()
    k2.d.store.load = _ShortOfHeap(k2.d.store, 2)
    k2.d.restore()
    assert k2.d.refused == "state unreadable: out of memory"
    k2.d.commit("periodic")
    assert Store(k2.root).load("meter") == saved
