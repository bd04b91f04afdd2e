"""Published domestic tariff schedules, and an independent bill calculator for each.

Each schedule has the `[tariff]` table a technician would provision (TOML text) and a function
that bills a month the way the order's text reads, written from the order and NOT from
firmware/tariff.py: Decimal rupees, each line rounded half-up to the paisa, percentages on the
rounded lines they name. The tests (unit and HIL) compare every line the meter deducts with these.

Where the figures come from (docs/tariff.md repeats this with the worked examples):

KERALA  KSERC interim order of 31.10.2023 in OP No. 18/2023, schedule LT-I domestic, in force
        from 01.11.2023 (extended to 30.11.2024): monthly slabs telescopic up to 250 kWh
        (0-50 @3.25, 51-100 @4.05, 101-150 @5.10, 151-200 @6.95, 201-250 @8.20 Rs/kWh), above 250
        non-telescopic (0-300 @6.40, 0-350 @7.25, 0-400 @7.60, 0-500 @7.90, above 500 @8.80 for
        every unit); fixed charge per consumer per month by the slab of the month's consumption,
        single phase 40/65/85/120/130 (telescopic) and 150/175/200/230/260 (non-telescopic).
        Fuel surcharge 10 paise/kWh (automatic, KSERC Tariff Regulations amendment 2023) plus
        9 paise/kWh (KSERC order, from 1.10.2024), as reported by The Hindu (26.09.2024,
        23.11.2024). Electricity duty 10 % of the energy charge: the rate we assume under the
        Kerala Electricity Duty Act, 1963 (not in the tariff order).
DELHI   DERC tariff schedule FY 2019-20 (order of 31.07.2019), domestic: 0-200 @3.00,
        201-400 @4.50, 401-800 @6.50, 801-1200 @7.00, above 1200 @8.00 Rs/kWh (telescopic);
        fixed charge on sanctioned load, above 2 kW up to 5 kW: Rs 50/kW/month. 8 % surcharge
        and a pension trust surcharge of 3.80 % (FY 2019-20; 5 % from September 2020), both on
        energy + fixed. Electricity tax 5 %, which we assume is on energy + fixed as well.
HARYANA HERC tariff for FY 2025-26 (released 1 April 2025, as reported by the Tribune and Mint,
        1-2 April 2025): category I (monthly consumption up to 100 kWh) 0-50 @2.20,
        51-100 @2.70; category II (above 100 kWh) 0-150 @2.95, 151-300 @5.25, 301-500 @6.45,
        above 500 @7.10; no fixed charge up to 300 kWh, Rs 50/kW/month in the 301-500 and above
        500 slabs; no minimum monthly charge. Electricity duty 10 paise/kWh (as reported for
        Haryana domestic bills, 2015) and a 5 % prepaid rebate (HERC order for FY 2020-21);
        both assumed still to apply.
BIHAR   BERC tariff order for FY 2025-26, DS-II urban domestic: 0-100 @7.42, above 100 @8.95
        Rs/kWh (as reported by the Hindustan Times, 29.07.2025), smart prepaid rebate 25 paise/kWh
        (reported 29.03.2025), electricity duty 6 % of the energy charge before the rebate
        (reported; the issue's case). Fixed charge: we did not find the figure; we use
        Rs 40/kW/month as a stand-in and say so.
"""
from decimal import Decimal, ROUND_HALF_UP

D = Decimal
PAISA = D("0.01")

KERALA = """
name = "KSERC LT-I 1ph 2023"
surcharges = [
  {name = "fuel surcharge", paise_per_kwh = 10},
  {name = "fuel surcharge 2024", paise_per_kwh = 9},
]
duty_percent = 10
duty_base = "energy"
categories = [
  {name = "telescopic", upto_kwh = 250, slab_mode = "telescopic", slabs = [
    {upto_kwh = 50, paise_per_kwh = 325, fixed_paise_per_month = 4000},
    {upto_kwh = 100, paise_per_kwh = 405, fixed_paise_per_month = 6500},
    {upto_kwh = 150, paise_per_kwh = 510, fixed_paise_per_month = 8500},
    {upto_kwh = 200, paise_per_kwh = 695, fixed_paise_per_month = 12000},
    {paise_per_kwh = 820, fixed_paise_per_month = 13000},
  ]},
  {name = "non-telescopic", slab_mode = "non_telescopic", slabs = [
    {upto_kwh = 300, paise_per_kwh = 640, fixed_paise_per_month = 15000},
    {upto_kwh = 350, paise_per_kwh = 725, fixed_paise_per_month = 17500},
    {upto_kwh = 400, paise_per_kwh = 760, fixed_paise_per_month = 20000},
    {upto_kwh = 500, paise_per_kwh = 790, fixed_paise_per_month = 23000},
    {paise_per_kwh = 880, fixed_paise_per_month = 26000},
  ]},
]
"""

DELHI = """
name = "DERC domestic 2019-20"
slabs = [
  {upto_kwh = 200, paise_per_kwh = 300},
  {upto_kwh = 400, paise_per_kwh = 450},
  {upto_kwh = 800, paise_per_kwh = 650},
  {upto_kwh = 1200, paise_per_kwh = 700},
  {paise_per_kwh = 800},
]
fixed_paise_per_kw_month = 5000
surcharges = [
  {name = "8% surcharge", percent = 8, base = "energy_and_fixed"},
  {name = "pension trust surcharge", percent = "3.80", base = "energy_and_fixed"},
]
duty_percent = 5
duty_base = "energy_and_fixed"
"""

# the same schedule with the pension trust surcharge at 5 % (DERC, from September 2020)
DELHI_PTS5 = DELHI.replace('percent = "3.80"', 'percent = 5').replace(
    '"DERC domestic 2019-20"', '"DERC domestic PTS 5%"')

HARYANA = """
name = "HERC domestic 2025-26"
rebate_percent = 5
duty_paise_per_kwh = 10
categories = [
  {name = "category I", upto_kwh = 100, slabs = [
    {upto_kwh = 50, paise_per_kwh = 220},
    {paise_per_kwh = 270},
  ]},
  {name = "category II", slabs = [
    {upto_kwh = 150, paise_per_kwh = 295},
    {upto_kwh = 300, paise_per_kwh = 525},
    {upto_kwh = 500, paise_per_kwh = 645, fixed_paise_per_kw_month = 5000},
    {paise_per_kwh = 710, fixed_paise_per_kw_month = 5000},
  ]},
]
"""

BIHAR = """
name = "BERC DS-II urban 2025-26"
slabs = [
  {upto_kwh = 100, paise_per_kwh = 742},
  {paise_per_kwh = 895},
]
fixed_paise_per_kw_month = 4000
rebate_paise_per_kwh = 25
duty_percent = 6
duty_base = "energy_before_rebate"
"""


def paise(rupees):
    """Rupees (Decimal) rounded half-up to the paisa, as integer paise."""
    return int((rupees.quantize(PAISA, rounding=ROUND_HALF_UP) * 100))


def kwh(mwh):
    return D(mwh) / D(1000000)


def _telescopic(units, steps):
    """[(kWh in step, rate Rs)] of `units` kWh over steps [(upper kWh or None, rate Rs)]."""
    out = []
    low = D(0)
    for upper, rate in steps:
        top = units if upper is None else min(units, D(upper))
        if top > low:
            out.append((top - low, rate))
        if upper is None or units <= upper:
            break
        low = D(upper)
    return out


def _line(name, basis, rate, rupees):
    return (name, basis, rate, paise(rupees))


def kerala(month_mwh, service_fraction=D(1)):
    """KSERC LT-I single phase: [(name, basis, rate, paise)] of a month of month_mwh."""
    u = kwh(month_mwh)
    lines = []
    if u <= 250:
        for part, rate in _telescopic(u, [(50, D("3.25")), (100, D("4.05")), (150, D("5.10")),
                                          (200, D("6.95")), (None, D("8.20"))]):
            lines.append(_line("energy", part, rate, part * rate))
        fixed = [(50, 40), (100, 65), (150, 85), (200, 120), (250, 130)]
    else:
        for upper, rate in [(300, D("6.40")), (350, D("7.25")), (400, D("7.60")), (500, D("7.90")),
                            (None, D("8.80"))]:
            if upper is None or u <= upper:
                lines.append(_line("energy", u, rate, u * rate))  # every unit at the slab rate
                break
        fixed = [(300, 150), (350, 175), (400, 200), (500, 230), (None, 260)]
    for upper, fc in fixed:
        if upper is None or u <= upper:
            lines.append(_line("fixed", service_fraction, D(fc), D(fc) * service_fraction))
            break
    energy = sum(D(p) for n, b, r, p in lines if n == "energy") / 100
    if u:
        lines.append(_line("fuel surcharge", u, D("0.10"), u * D("0.10")))
        lines.append(_line("fuel surcharge 2024", u, D("0.09"), u * D("0.09")))
    lines.append(_line("duty", energy, D("0.10"), energy * D("0.10")))
    return [ln for ln in lines if ln[3]]


def delhi(parts, sanctioned_kw, fractions, pts=(D("0.038"),)):
    """DERC domestic. parts: [(mWh, period)] in the order used (slab position carries across
    periods); fractions[period]: that period's share of the month in service; pts[period]:
    the pension trust surcharge rate of that period. Returns lines per period."""
    steps = [(200, D("3.00")), (400, D("4.50")), (800, D("6.50")), (1200, D("7.00")),
             (None, D("8.00"))]
    kw = D(-(-int(sanctioned_kw * 1000) // 1000))  # rounded up to whole kW
    per = {}
    pos = D(0)
    for mwh, p in parts:
        u = kwh(mwh)
        # the part's kWh sit at month positions pos .. pos + u
        for (upper, rate), low in zip(steps, [D(0)] + [D(s[0]) for s in steps[:-1]]):
            a = max(pos, low)
            b = pos + u if upper is None else min(pos + u, D(upper))
            if b > a:
                per.setdefault(p, {}).setdefault(rate, D(0))
                per[p][rate] += b - a
        pos += u
    out = {}
    for p, frac in enumerate(fractions):
        lines = []
        for rate, units in sorted(per.get(p, {}).items()):
            lines.append(_line("energy", units, rate, units * rate))
        lines.append(_line("fixed", kw, D(50), kw * D(50) * frac))
        ef = sum(D(ln[3]) for ln in lines) / 100
        lines.append(_line("8% surcharge", ef, D("0.08"), ef * D("0.08")))
        rate = pts[p] if p < len(pts) else pts[-1]
        lines.append(_line("pension trust surcharge", ef, rate, ef * rate))
        lines.append(_line("duty", ef, D("0.05"), ef * D("0.05")))
        out[p] = [ln for ln in lines if ln[3]]
    return out


def haryana(month_mwh, sanctioned_kw, service_fraction=D(1)):
    u = kwh(month_mwh)
    lines = []
    if u <= 100:
        steps = [(50, D("2.20")), (None, D("2.70"))]
    else:
        steps = [(150, D("2.95")), (300, D("5.25")), (500, D("6.45")), (None, D("7.10"))]
    for part, rate in _telescopic(u, steps):
        lines.append(_line("energy", part, rate, part * rate))
    energy = sum(D(ln[3]) for ln in lines) / 100
    lines.append(_line("rebate", energy, D("-0.05"), -energy * D("0.05")))
    if u > 300:
        kw = D(-(-int(sanctioned_kw * 1000) // 1000))
        lines.append(_line("fixed", kw, D(50), kw * D(50) * service_fraction))
    lines.append(_line("duty", u, D("0.10"), u * D("0.10")))
    return [ln for ln in lines if ln[3]]


def bihar(month_mwh, sanctioned_kw, service_fraction=D(1)):
    u = kwh(month_mwh)
    lines = []
    for part, rate in _telescopic(u, [(100, D("7.42")), (None, D("8.95"))]):
        lines.append(_line("energy", part, rate, part * rate))
    gross = sum(D(ln[3]) for ln in lines) / 100
    lines.append(_line("rebate", u, D("-0.25"), -u * D("0.25")))
    kw = D(-(-int(sanctioned_kw * 1000) // 1000))
    lines.append(_line("fixed", kw, D(40), kw * D(40) * service_fraction))
    lines.append(_line("duty", gross, D("0.06"), gross * D("0.06")))
    return [ln for ln in lines if ln[3]]


def toml_table(text):
    """The [tariff] table of a schedule as the provisioning file parser gives it."""
    import tomllib

    return tomllib.loads(text)
