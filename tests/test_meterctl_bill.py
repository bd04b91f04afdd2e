"""meterctl's consumer bill: every line with its basis and rate, the total, and a warning when a
record's lines do not add up (the meter's `billing` record as it sends it)."""
from host_tools.meterctl.bill import format_bill

REC = {
    "month": "2024-10", "import_mwh": 97_000_000, "service_s": 31 * 86400, "total_paise": 47157,
    "tariffs": [["KSERC LT-I 1ph 2023", "2024-10-01T00:00:00"]],
    "lines": [["energy 0-50", 50_000_000, "kWh", 325, 16250, 0],
              ["energy 50-100", 47_000_000, "kWh", 405, 19035, 0],
              ["fixed charge", 31 * 86400, "s", 6500, 6500, 0],
              ["fuel surcharge", 97_000_000, "kWh", 10, 970, 0],
              ["fuel surcharge 2024", 97_000_000, "kWh", 9, 873, 0],
              ["electricity duty", 35285, "%", 1000, 3529, 0]],
}


def test_a_bill_reads_line_by_line():
    text = "\n".join(format_bill(REC))
    assert "Bill for 2024-10" in text
    assert "tariff KSERC LT-I 1ph 2023 from 2024-10-01 00:00:00" in text
    assert "50.000 kWh x Rs 3.25/kWh" in text and "Rs 162.50" in text
    assert "Rs 65.00/month x 31.00 days of 31" in text
    assert "10.00 % of Rs 352.85" in text and "Rs 35.29" in text
    assert text.rstrip().endswith("Rs 471.57")
    assert "do not add up" not in text


def test_two_periods_rebate_and_a_broken_record():
    rec = dict(REC, tariffs=[["A", "2024-10-01T00:00:00"], ["B", "2024-10-16T00:00:00"]],
               lines=[["energy 0-200", 200_000_000, "kWh", 300, 60000, 0],
                      ["prepaid rebate", 200_000_000, "kWh", -25, -5000, 0],
                      ["energy 200-400", 10_000_000, "kWh", 450, 4500, 1],
                      ["fixed charge", 4000, "kW", 5000, 20000, 1]],
               total_paise=79500)
    text = "\n".join(format_bill(rec, open_month=True))
    assert "(so far)" in text and "tariff 2: B from 2024-10-16" in text
    assert "energy 200-400 [2]" in text and "-Rs 50.00" in text
    assert "4.000 kW x Rs 50.00/kW/month" in text
    assert "Rs 795.00" in text and "do not add up" not in text
    rec["total_paise"] += 1
    assert "do not add up" in "\n".join(format_bill(rec))
