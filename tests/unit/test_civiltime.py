import civiltime as ct
from _check import raises


def test_epoch_is_saturday_2000():
    assert ct.civil(0) == (2000, 1, 1, 0, 0, 0, 5)


def test_known_dates():
    s = ct.seconds(2026, 11, 30, 14, 0, 0)  # a Monday
    assert ct.civil(s) == (2026, 11, 30, 14, 0, 0, 0)
    assert ct.iso(s) == "2026-11-30T14:00:00"
    assert ct.civil(ct.seconds(2100, 3, 1))[:3] == (2100, 3, 1)
    assert ct.civil(ct.seconds(2024, 2, 29, 23, 59, 59))[:6] == (2024, 2, 29, 23, 59, 59)


def test_round_trip_every_day_for_40_years():
    for days in range(0, 366 * 40):
        y, m, d = ct.civil_from_days(days)
        assert ct.days_from_civil(y, m, d) == days


def test_month_boundaries():
    s = ct.seconds(2026, 12, 31, 23, 0, 0)
    assert ct.next_month_start(s) == ct.seconds(2027, 1, 1)
    assert ct.month_start(s) == ct.seconds(2026, 12, 1)


def test_parse_iso():
    assert ct.parse_iso("2026-12-25") == ct.seconds(2026, 12, 25)
    assert ct.parse_iso("2026-12-25T10:30") == ct.seconds(2026, 12, 25, 10, 30)
    assert ct.parse_iso("2026-12-25T10:30:05") == ct.seconds(2026, 12, 25, 10, 30, 5)
    for bad in ("2026-13-01", "2026-02-30", "x", "2026-12-25T25:00", "1999-01-01", None):
        with raises(ValueError):
            ct.parse_iso(bad)
