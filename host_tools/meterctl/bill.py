"""A month's bill as a consumer reads it, from the meter's `billing` record (formatting only:
the meter priced every line; this prints them with their basis and rate and checks the sum)."""
import calendar


def _rs(paise):
    sign = "-" if paise < 0 else ""
    p = abs(int(paise))
    r = "%d" % (p // 100)
    if len(r) > 3:  # Indian grouping: 12,34,567
        head, tail = r[:-3], r[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        r = ",".join(groups + [tail])
    return "%sRs %s.%02d" % (sign, r, p % 100)


def _kwh(mwh):
    return "%d.%03d kWh" % (mwh // 1_000_000, mwh % 1_000_000 // 1000)


def _pct(bp):
    return "%d.%02d %%" % (abs(bp) // 100, abs(bp) % 100)


def _days(secs):
    return "%d.%02d days" % (secs // 86400, secs % 86400 * 100 // 86400)


def month_days(key):
    y, m = int(key[:4]), int(key[5:7])
    return calendar.monthrange(y, m)[1]


def basis_text(line, rec):
    """How a line was priced: '50.000 kWh x Rs 3.25/kWh', '10.00 % of Rs 352.85', ..."""
    name, basis, unit, rate, paise = line[:5]
    if unit == "kWh":
        if not rate:
            return _kwh(basis) + " in time-of-day windows"
        return "%s x %s/kWh" % (_kwh(basis), _rs(abs(rate)))
    if unit == "%":
        return "%s of %s" % (_pct(rate), _rs(basis))
    if unit == "kW":
        return "%d.%03d kW x %s/kW/month, pro rata" % (basis // 1000, basis % 1000, _rs(rate))
    if unit == "s":
        return "%s/month x %s of %d" % (_rs(rate), _days(basis), month_days(rec["month"]))
    if unit == "day":
        return "%s x %s/day" % (_days(basis), _rs(rate))
    if unit == "month":
        return "%s/month due %s" % (_rs(rate), _rs(basis))
    if name.startswith("rounding"):
        return "total %s to the rupee" % _rs(basis)
    return ""


def format_bill(rec, open_month=False):
    """Lines of text: the month's bill, line by line, and its total."""
    title = "Bill for %s%s" % (rec["month"], " (so far)" if open_month else "")
    out = [title]
    tariffs = rec.get("tariffs") or []
    for i, (name, since) in enumerate(tariffs):
        out.append("  tariff %s%s from %s" % ("%d: " % (i + 1) if len(tariffs) > 1 else "",
                                               name or "(unnamed)", since.replace("T", " ")))
    out.append("  energy used %s, in service %s" % (_kwh(rec.get("import_mwh", 0)),
                                                   _days(rec.get("service_s", 0))))
    rows = []
    for ln in rec.get("lines", []):
        label = ln[0]
        if len(tariffs) > 1:
            label = "%s [%d]" % (label, ln[5] + 1)
        rows.append((label, basis_text(ln, rec), _rs(ln[4])))
    w0 = max([len(r[0]) for r in rows] + [5])
    w1 = max([len(r[1]) for r in rows] + [0])
    w2 = max([len(r[2]) for r in rows] + [len(_rs(rec.get("total_paise", 0)))])
    for a, b, c in rows:
        out.append("  %-*s  %-*s  %*s" % (w0, a, w1, b, w2, c))
    out.append("  " + "-" * (w0 + w1 + w2 + 4))
    total = rec.get("total_paise", 0)
    out.append("  %-*s  %*s" % (w0 + w1 + 2, "Total", w2, _rs(total)))
    if sum(ln[4] for ln in rec.get("lines", [])) != total:
        out.append("  (the lines do not add up to the total: report this meter)")
    return out
