"""Civil date and time from integer seconds since 2000-01-01 00:00:00 local time.

The meter keeps local time (IST has no daylight saving). MicroPython's time functions use
different epochs on different ports, so the firmware does its own integer calendar arithmetic:
the same answers on ESP32, the unix port and CPython.
"""

EPOCH_YEAR = 2000
SECONDS_PER_DAY = 86400
_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_from_civil(year, month, day):
    """Days since 2000-01-01 for a proleptic Gregorian date."""
    y = year - 1
    days = y * 365 + y // 4 - y // 100 + y // 400 - 730119  # 730119 = days to 2000-01-01
    days += _DAYS_BEFORE_MONTH[month - 1] + day - 1
    if month > 2 and is_leap(year):
        days += 1
    return days


def civil_from_days(days):
    """(year, month, day) for days since 2000-01-01."""
    # 400-year cycles of 146097 days starting 2000-01-01 (a leap year at a cycle start).
    cycles, rem = divmod(days, 146097)
    year = EPOCH_YEAR + cycles * 400
    # Walk centuries, 4-year groups and years; the first of each group is the long one.
    if rem >= 36525:
        rem -= 36525
        c, rem = divmod(rem, 36524)
        year += 100 + c * 100
        # a non-leap century start: its first 4-year group has 1460 days
        if rem >= 1460:
            rem -= 1460
            year += 4
            q, rem = divmod(rem, 1461)
            year += q * 4
            if rem >= 366:
                rem -= 366
                year += 1 + rem // 365
                rem %= 365
        else:
            year += rem // 365
            rem %= 365
    else:
        q, rem = divmod(rem, 1461)
        year += q * 4
        if rem >= 366:
            rem -= 366
            year += 1 + rem // 365
            rem %= 365
    leap = is_leap(year)
    month = 1
    while month < 12:
        start_next = _DAYS_BEFORE_MONTH[month] + (1 if leap and month >= 2 else 0)
        if rem < start_next:
            break
        month += 1
    start = _DAYS_BEFORE_MONTH[month - 1] + (1 if leap and month > 2 else 0)
    return year, month, rem - start + 1


def seconds(year, month, day, hour=0, minute=0, second=0):
    return days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second


def civil(secs):
    """(year, month, day, hour, minute, second, weekday 0=Monday) for seconds since 2000."""
    days, rem = divmod(secs, SECONDS_PER_DAY)
    y, m, d = civil_from_days(days)
    hour, rem = divmod(rem, 3600)
    minute, second = divmod(rem, 60)
    return y, m, d, hour, minute, second, weekday(days)


def weekday(days):
    """0=Monday .. 6=Sunday for days since 2000-01-01 (a Saturday)."""
    return (days + 5) % 7


def month_start(secs):
    y, m, _ = civil_from_days(secs // SECONDS_PER_DAY)
    return seconds(y, m, 1)


def next_month_start(secs):
    y, m, _ = civil_from_days(secs // SECONDS_PER_DAY)
    if m == 12:
        return seconds(y + 1, 1, 1)
    return seconds(y, m + 1, 1)


def iso(secs):
    y, m, d, hh, mm, ss, _ = civil(secs)
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (y, m, d, hh, mm, ss)


def iso_date(secs):
    y, m, d = civil_from_days(secs // SECONDS_PER_DAY)
    return "%04d-%02d-%02d" % (y, m, d)


def _digits(text, a, b):
    """int(text[a:b]) when it is decimal digits only (int() would also take '-1', '+9', ' 9')."""
    part = text[a:b]
    if not part.isdigit():
        raise ValueError("bad date or time")
    return int(part)


def parse_iso(text):
    """Seconds from 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM[:SS]'; ValueError on anything else."""
    if not isinstance(text, str) or len(text) < 10 or text[4] != "-" or text[7] != "-":
        raise ValueError("bad date")
    y, m, d = _digits(text, 0, 4), _digits(text, 5, 7), _digits(text, 8, 10)
    hh = mm = ss = 0
    if len(text) > 10:
        if text[10] not in "T " or len(text) not in (16, 19) or text[13] != ":":
            raise ValueError("bad time")
        hh, mm = _digits(text, 11, 13), _digits(text, 14, 16)
        if len(text) == 19:
            if text[16] != ":":
                raise ValueError("bad time")
            ss = _digits(text, 17, 19)
    if not (1 <= m <= 12 and 1 <= d <= days_in_month(y, m) and hh < 24 and mm < 60 and ss < 60):
        raise ValueError("date out of range")
    if y < 2000 or y > 2099:
        raise ValueError("year out of range")
    return seconds(y, m, d, hh, mm, ss)
