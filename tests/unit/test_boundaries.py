"""Exact boundaries a consumer or technician meets, each one where `>` vs `>=` or a rounding
direction changes what they see (found by mutation testing: `make mutate MODULE=...`)."""
import os
from binascii import hexlify

import civiltime as ct
import store
from _check import raises
from account import Account, AccountError, TAIL_KEEP
from energy import EnergyRegister
from tariff import Tariff

DAY = 86400
APR1 = ct.seconds(2026, 4, 1)


def _fixed_only(paise_per_day=500):
    return Tariff.from_config({"slabs": [{"paise_per_kwh": 500}], "fixed_paise_per_day": paise_per_day})


# --- emergency credit --------------------------------------------------------------------------

def test_emergency_credit_is_granted_with_the_balance_exactly_at_the_threshold():
    a = Account(_fixed_only(), emergency_credit_paise=5000)
    a.credit(5000, APR1 + 60)  # threshold: max(5000, 10 % of the last credit) = 5000
    assert a.balance_paise == a.emergency_threshold() == 5000
    grant = a.take_emergency(APR1 + 120)  # the LCD offers it here: it must not be refused
    assert grant["granted"] == 5000 and a.balance_paise == 10000


def test_emergency_credit_is_refused_one_paisa_above_the_threshold():
    a = Account(_fixed_only(), emergency_credit_paise=5000)
    a.credit(5001, APR1 + 60)
    with raises(AccountError) as e:
        a.take_emergency(APR1 + 120)
    assert str(e.value) == "not_low"


# --- days remaining ----------------------------------------------------------------------------

def test_days_remaining_averages_over_the_days_there_are_when_fewer_than_seven():
    for days in range(1, 7):
        a = Account(_fixed_only(500))
        a.credit(100000, APR1 + 60)
        a.tick(APR1 + days * DAY + 1)  # closes `days` days, 500 paise fixed charge each
        assert len(a.daily_records()) == days
        assert a.balance_paise == 100000 - 500 * days
        # 500 paise a day whatever the history's length: never 7/days times that
        assert a.days_remaining() == (100000 - 500 * days) // 500, days


# --- ledger tail -------------------------------------------------------------------------------

def test_ledger_tail_holds_exactly_its_size_then_drops_the_oldest():
    a = Account(_fixed_only(0))
    for i in range(TAIL_KEEP):
        a.credit(100 + i, APR1 + 60 + i)
    tail = a.ledger_tail()
    assert len(tail) == TAIL_KEEP
    assert tail[0]["amount"] == 100  # the first credit is still there at exactly TAIL_KEEP
    a.credit(1000, APR1 + 600)
    tail = a.ledger_tail()
    assert len(tail) == TAIL_KEEP
    assert tail[0]["amount"] == 101 and tail[-1]["amount"] == 1000


# --- low-balance alerts ------------------------------------------------------------------------

def test_a_fixed_charge_landing_exactly_on_an_alert_level_fires_it():
    a = Account(_fixed_only(700), alert_percents=(30,))
    a.credit(10000, APR1 + 60)  # 30 % level: 3000 paise
    a.tick(APR1 + 10 * DAY + 1)  # ten fixed charges: 10000 - 7000 = 3000, exactly the level
    assert a.balance_paise == 3000
    alerts = a.pop_alerts()
    assert [(x["percent"], x["balance"]) for x in alerts] == [(30, 3000)]


def test_a_credit_landing_exactly_on_an_alert_level_leaves_that_level_spent():
    a = Account(_fixed_only(700), alert_percents=(30, 10))
    a.adjust(-7000, APR1 + 30, "opening debt")
    a.credit(10000, APR1 + 60)  # balance 3000: exactly the 30 % level, above the 10 % one
    assert a.balance_paise == 3000
    assert a.pop_alerts() == []  # landing on a level is not crossing it
    a.tick(APR1 + 3 * DAY + 1)  # 3000 - 2100 = 900: below 10 % (1000)
    assert [x["percent"] for x in a.pop_alerts()] == [10]  # the 30 % level was never above


# --- energy plausibility bound ------------------------------------------------------------------

def test_energy_bound_rounds_up_so_a_gap_estimate_at_the_bound_is_kept():
    # 60 A at 300 V for 1 ms, with the 9/8 margin: 18,000,000 mW * 1 ms * 9/8 = 5.625 mWh
    r = EnergyRegister(max_current_ma=60000, max_volts_cv=30000)
    assert r.max_mwh(1) == 6
    assert r.add_mwh(6, 0, 1)  # rounding down would throw this gap's energy away
    assert r.import_mwh == 6
    assert not r.add_mwh(7, 0, 1)
    assert r.import_mwh == 6


# --- log segments ------------------------------------------------------------------------------

def _tmpdir():
    path = "/tmp/boundary_test_" + hexlify(os.urandom(6)).decode()
    os.mkdir(path)
    return path


def _rmtree(path):
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    os.rmdir(path)


def _rec(i):
    return {"t": 1000 + i, "code": "x", "d": "%03d" % i}


def test_log_segments_fill_to_exactly_seg_bytes_and_never_beyond():
    d = _tmpdir()
    try:
        size = 8 + len(store._encode(_rec(0)))  # every _rec has the same length
        log = store.Log(d, "ev", 100, seg_bytes=3 * size)
        for i in range(10):
            log.append(_rec(i))
        sizes = sorted(os.stat(d + "/" + n)[6] for n in os.listdir(d))
        assert max(sizes) == 3 * size  # a segment takes records up to its size exactly
        assert sizes == [size, 3 * size, 3 * size, 3 * size]
        assert log.records() == [_rec(i) for i in range(10)]
    finally:
        _rmtree(d)


def test_a_log_append_that_fails_after_writing_never_hides_later_records():
    d = _tmpdir()
    real = store._write_file

    def write_then_fail(path, data, mode):
        real(path, data, mode)  # the bytes reach the file, then the commit reports an error
        raise OSError(5)

    try:
        log = store.Log(d, "ev", 100)
        log.append(_rec(0))
        store._write_file = write_then_fail
        try:
            with raises(OSError):
                log.append(_rec(1))
        finally:
            store._write_file = real
        log.append(_rec(2))
        log.append(_rec(3))
        assert log.last(2) == [_rec(2), _rec(3)]  # the newest good records, in order
        assert log.records()[-2:] == [_rec(2), _rec(3)]
        assert log.records()[0] == _rec(0)
        again = store.Log(d, "ev", 100)  # and after a reboot
        assert again.last(2) == [_rec(2), _rec(3)]
    finally:
        store._write_file = real
        _rmtree(d)
