import civiltime as ct
from _check import raises
from tariff import Tariff, TariffError, half_up

SAMPLE = {  # type: dict
    "slabs": [{"upto_kwh": 100, "paise_per_kwh": 350}, {"upto_kwh": 200, "paise_per_kwh": 450},
              {"upto_kwh": 300, "paise_per_kwh": 550}, {"paise_per_kwh": 650}],
    "fixed_paise_per_day": 500,
    "duty_percent": 5,
}

KWH = 1000000


def sample(**over):
    cfg = dict(SAMPLE)
    cfg.update(over)
    return cfg


def error_of(cfg):
    with raises(TariffError) as r:
        Tariff.from_config(cfg)
    return str(r.value)


def test_from_config_sample():
    t = Tariff.from_config(SAMPLE)
    assert t.limits == (100 * KWH, 200 * KWH, 300 * KWH, None)
    assert t.rates == (350, 450, 550, 650)
    assert t.fixed_paise_per_day == 500
    assert t.duty_bp == 500
    assert t.tod == ()
    assert t.tod_at(ct.seconds(2026, 4, 1, 19, 0)) == (100, 0)


def test_single_open_slab():
    t = Tariff.from_config({"slabs": [{"paise_per_kwh": 700}]})
    assert t.limits == (None,)
    assert t.fixed_paise_per_day == 0 and t.duty_bp == 0
    assert t.rates == (700,) and t.rate_lines() == ["all 7.00"]


def test_duty_forms():
    assert Tariff.from_config(sample(duty_percent=7.5)).duty_bp == 750
    assert Tariff.from_config(sample(duty_percent="7.5")).duty_bp == 750
    assert Tariff.from_config(sample(duty_percent="12.25")).duty_bp == 1225
    assert Tariff.from_config(sample(duty_percent=0)).duty_bp == 0
    cfg = sample()
    del cfg["duty_percent"]
    assert Tariff.from_config(cfg).duty_bp == 0
    cfg["duty_basis_points"] = 625
    assert Tariff.from_config(cfg).duty_bp == 625


def test_duty_errors():
    assert error_of(sample(duty_basis_points=500)) == \
        "give duty_percent or duty_basis_points, not both"
    assert error_of(sample(duty_percent=7.125)) == "duty_percent must have at most two decimals"
    assert error_of(sample(duty_percent="7.125")) == \
        "duty_percent must be a number with at most two decimals"
    assert error_of(sample(duty_percent="abc")) == \
        "duty_percent must be a number with at most two decimals"
    assert error_of(sample(duty_percent=101)) == "duty_percent must be between 0 and 100"
    assert error_of(sample(duty_percent=-1)) == "duty_percent must be between 0 and 100"
    assert error_of(sample(duty_percent=[5])) == "duty_percent must be a number"
    assert error_of(sample(duty_percent=True)) == "duty_percent must be a number"


def test_slab_errors():
    s = SAMPLE["slabs"]
    assert error_of(sample(slabs=[s[0], {"upto_kwh": 100, "paise_per_kwh": 450}, s[3]])) == \
        "slabs[1].upto_kwh must be greater than slabs[0].upto_kwh"
    assert error_of(sample(slabs=[{"upto_kwh": 0, "paise_per_kwh": 1}, s[3]])) == \
        "slabs[0].upto_kwh must be greater than 0"
    assert error_of(sample(slabs=[s[0], s[1]])) == \
        "slabs[1].upto_kwh not allowed: the last slab is open-ended"
    assert error_of(sample(slabs=[s[0], {"paise_per_kwh": 450}, s[3]])) == \
        "slabs[1].upto_kwh missing (only the last slab is open-ended)"
    assert error_of(sample(slabs=[s[0], {"upto_kwh": 200}, s[3]])) == \
        "slabs[1].paise_per_kwh missing"
    assert error_of(sample(slabs=[s[0], {"upto_kwh": 200, "paise_per_kwh": -4}, s[3]])) == \
        "slabs[1].paise_per_kwh must be between 0 and 1000000"
    assert error_of(sample(slabs=[s[0], {"upto_kwh": 150.5, "paise_per_kwh": 4}, s[3]])) == \
        "slabs[1].upto_kwh must be an integer"
    assert error_of(sample(slabs=[s[0], {"upto_kwh": 200, "paise_per_kwh": 4.5}, s[3]])) == \
        "slabs[1].paise_per_kwh must be an integer"
    assert error_of(sample(slabs=[s[0], {"upto": 200, "paise_per_kwh": 4}, s[3]])) == \
        "unknown key slabs[1].upto"
    assert error_of(sample(slabs=[])) == "slabs must be a non-empty list"
    assert error_of(sample(slabs=[5])) == "slabs[0] must be a table"
    cfg = sample()
    del cfg["slabs"]
    assert error_of(cfg) == "slabs missing"


def test_other_errors():
    assert error_of(sample(fixed_paise_per_day=-5)) == \
        "fixed_paise_per_day must be between 0 and 10000000"
    assert error_of(sample(fixed_paise_per_day="500")) == "fixed_paise_per_day must be an integer"
    assert error_of(sample(fixed=500)) == "unknown key fixed"
    assert error_of([1]) == "[tariff] must be a table"
    assert error_of(sample(name=3)) == "name must be a string of at most 40 characters"


def test_tod_parse_and_lookup():
    t = Tariff.from_config(sample(tod=[
        {"from": "18:00", "to": "22:00", "percent": 120},
        {"from": "22:00", "to": "06:00", "percent": 90},
    ]))
    assert t.tod == ((1080, 1320, 120, 0), (1320, 360, 90, 0))
    day = ct.seconds(2026, 4, 1)
    assert t.tod_at(day + 17 * 3600 + 3599) == (100, 0)
    assert t.tod_at(day + 18 * 3600) == (120, 0)
    assert t.tod_at(day + 22 * 3600 - 1) == (120, 0)
    assert t.tod_at(day + 22 * 3600) == (90, 0)
    assert t.tod_at(day + 23 * 3600 + 3599) == (90, 0)
    assert t.tod_at(day + 86400) == (90, 0)  # midnight
    assert t.tod_at(day + 6 * 3600 - 1) == (90, 0)
    assert t.tod_at(day + 6 * 3600) == (100, 0)
    back = Tariff.from_config(t.to_config())
    assert back.tod == t.tod and back.limits == t.limits and back.rates == t.rates
    assert back.duty_bp == t.duty_bp and back.fixed_paise_per_day == t.fixed_paise_per_day


def test_tod_to_midnight():
    t = Tariff.from_config(sample(tod=[{"from": "20:00", "to": "24:00", "percent": 110}]))
    day = ct.seconds(2026, 4, 1)
    assert t.tod_at(day + 23 * 3600 + 3599) == (110, 0)
    assert t.tod_at(day + 86400) == (100, 0)


def test_tod_errors():
    def tod(*ws):
        return error_of(sample(tod=list(ws)))
    assert tod({"from": "18:00", "to": "22:00", "percent": 120},
               {"from": "21:00", "to": "23:00", "percent": 90}) == "tod[1] overlaps tod[0]"
    assert tod({"from": "22:00", "to": "06:00", "percent": 90},
               {"from": "05:00", "to": "07:00", "percent": 90}) == "tod[1] overlaps tod[0]"
    assert tod({"from": "6:00", "to": "07:00", "percent": 90}) == 'tod[0].from must be "HH:MM"'
    assert tod({"from": "06:60", "to": "07:00", "percent": 90}) == \
        "tod[0].from is not a time of day"
    assert tod({"from": "24:00", "to": "07:00", "percent": 90}) == \
        "tod[0].from is not a time of day"
    assert tod({"from": "07:00", "to": "07:00", "percent": 90}) == \
        "tod[0].from and to must differ"
    assert tod({"from": "07:00", "to": "08:00"}) == "tod[0].percent missing"
    assert tod({"from": "07:00", "to": "08:00", "percent": 0}) == \
        "tod[0].percent must be between 1 and 1000"
    assert tod({"from": "07:00", "to": "08:00", "percent": 90, "x": 1}) == "unknown key tod[0].x"
    assert error_of(sample(tod={"from": "07:00"})) == "tod must be a list"


def test_slab_of_the_next_mwh_and_bands():
    t = Tariff.from_config(SAMPLE)
    c = t.categories[0]

    def slab(mtd_mwh):  # as Account.slab_now finds it: the band, then the category's slab
        return c.band_slab[t.band_index(mtd_mwh)]
    assert slab(0) == 0
    assert slab(100 * KWH - 1) == 0
    assert slab(100 * KWH) == 1
    assert slab(10000 * KWH) == 3
    assert t.bands == (100 * KWH, 200 * KWH, 300 * KWH, None)


def test_half_up():
    assert half_up(5, 10) == 1 and half_up(4, 10) == 0 and half_up(15, 10) == 2
    assert half_up(-5, 10) == -1 and half_up(-4, 10) == 0 and half_up(-15, 10) == -2
    assert half_up(0, 7) == 0


REAL = {  # a category tariff with every kind of element (tests/published_tariffs.py has more)
    "name": "all elements", "rebate_percent": "2.5", "rebate_paise_per_kwh": 3,
    "duty_percent": 6, "duty_base": "energy_before_rebate", "duty_paise_per_kwh": 10,
    "fixed_paise_per_kw_month": 4000, "fixed_kw_step_w": 500, "minimum_paise_per_month": 9000,
    "round_total_to_rupee": True,
    "surcharges": [{"name": "FPPCA", "paise_per_kwh": 23},
                   {"name": "regulatory", "percent": "3.8", "base": "energy_and_fixed"}],
    "tod": [{"from": "18:00", "to": "22:00", "percent": 120},
            {"from": "22:00", "to": "05:00", "paise_per_kwh": -40}],
    "categories": [
        {"name": "lifeline", "upto_kwh": 100, "max_load_w": 1000, "slabs": [{"paise_per_kwh": 300}]},
        {"name": "rest", "slab_mode": "non_telescopic", "fixed_paise_per_month": 2500,
         "slabs": [{"upto_kwh": 300, "paise_per_kwh": 640},
                   {"paise_per_kwh": 880, "fixed_paise_per_kw_month": 6000}]},
    ],
}


def test_to_config_round_trip_keeps_every_element():
    t = Tariff.from_config(REAL)
    c = t.to_config()
    t2 = Tariff.from_config(c)
    assert t2.to_config() == c
    for a in ("bands", "fixed_kw_step_w", "duty_bp", "duty_base", "duty_ppk", "rebate_ppk",
              "rebate_bp", "minimum", "surcharges", "tod", "round_rupee", "name"):
        assert getattr(t, a) == getattr(t2, a), a
    for c1, c2 in zip(t.categories, t2.categories):
        for a in ("name", "upto", "max_load_w", "non_tele", "limits", "rates", "fix_kw",
                  "fix_month", "band_slab"):
            assert getattr(c1, a) == getattr(c2, a), a
    assert t.rebate_bp == 250 and t.surcharges[1] == ("regulatory", 0, 380, 2)
    assert t.categories[1].fix_kw == (4000, 6000) and t.categories[1].fix_month == (2500, 2500)
    assert t.billed_w(1200) == 1500 and t.billed_w(0) == 0


def test_new_key_errors():
    def err(**over):
        cfg = dict(SAMPLE)
        cfg.update(over)
        return error_of(cfg)
    assert err(slab_mode="stepped") == 'slab_mode must be "telescopic" or "non_telescopic"'
    assert err(duty_base="gross") == \
        "duty_base must be one of energy, energy_before_rebate, energy_and_fixed"
    assert err(rebate_percent="1.234") == "rebate_percent must be a number with at most two decimals"
    assert err(rebate_percent=101) == "rebate_percent must be between 0 and 100"
    assert err(fixed_kw_step_w=0) == "fixed_kw_step_w must be between 1 and 1000000"
    assert err(surcharges=[{"name": "x"}]) == "surcharges[0]: give percent or paise_per_kwh"
    assert err(surcharges=[{"name": "x", "paise_per_kwh": 5, "base": "energy"}]) == \
        "surcharges[0].base only goes with percent"
    assert err(surcharges=[{"paise_per_kwh": 5}]) == \
        "surcharges[0].name must be a string of 1-24 characters"
    assert err(round_total_to_rupee=1) == "round_total_to_rupee must be true or false"
    assert err(tod=[{"from": "07:00", "to": "08:00", "percent": 90, "paise_per_kwh": 5}]) == \
        "tod[0]: give percent or paise_per_kwh, not both"
    cfg = dict(REAL)
    assert error_of(dict(cfg, slabs=[{"paise_per_kwh": 1}])) == \
        "give slabs inside each of categories, not beside them"
    cats = [dict(REAL["categories"][0]), dict(REAL["categories"][0])]
    assert error_of(dict(cfg, categories=cats)) == \
        "categories[1]: the last category must have no upto_kwh or max_load_w " \
        "(it applies when no other does)"


# --- the tariff read-out (the link's `tariff` reply, the saved account) ------------------------

def test_to_config_of_a_tariff_with_only_defaults_names_only_what_it_must():
    t = Tariff.from_config({"slabs": [{"paise_per_kwh": 700}]})
    assert t.to_config() == {"slabs": [{"paise_per_kwh": 700}], "slab_mode": "telescopic",
                             "fixed_paise_per_day": 0, "duty_basis_points": 0}


ONE = {"slabs": [{"upto_kwh": 100, "paise_per_kwh": 350, "fixed_paise_per_kw_month": 2500},
                 {"upto_kwh": 200, "paise_per_kwh": 450, "fixed_paise_per_month": 0},
                 {"paise_per_kwh": 650}],
       "fixed_paise_per_kw_month": 4000, "fixed_paise_per_month": 2500, "fixed_kw_step_w": 500,
       "duty_paise_per_kwh": 10, "rebate_paise_per_kwh": 3, "minimum_paise_per_month": 9000,
       "rebate_percent": 20, "surcharges": [{"name": "FPPCA", "percent": "12.5"}]}


def test_to_config_keeps_slab_overrides_that_equal_another_default():
    t = Tariff.from_config(ONE)
    assert t.to_config() == {
        "slabs": [{"upto_kwh": 100, "paise_per_kwh": 350, "fixed_paise_per_kw_month": 2500},
                  {"upto_kwh": 200, "paise_per_kwh": 450, "fixed_paise_per_month": 0},
                  {"paise_per_kwh": 650}],
        "slab_mode": "telescopic", "fixed_paise_per_day": 0, "duty_basis_points": 0,
        "fixed_paise_per_kw_month": 4000, "fixed_paise_per_month": 2500, "fixed_kw_step_w": 500,
        "duty_paise_per_kwh": 10, "rebate_paise_per_kwh": 3, "minimum_paise_per_month": 9000,
        "rebate_percent": "20.00", "surcharges": [{"name": "FPPCA", "percent": "12.50",
                                                   "base": "energy"}]}
    back = Tariff.from_config(t.to_config()).categories[0]
    assert back.fix_kw == (2500, 4000, 4000) and back.fix_month == (2500, 0, 2500)


def test_to_config_of_categories_carries_each_category_and_its_defaults():
    t = Tariff.from_config({
        "fixed_paise_per_kw_month": 4000,
        "categories": [{"name": "small load", "max_load_w": 1000, "slabs": [{"paise_per_kwh": 300}]},
                       {"name": "rest", "slabs": [{"paise_per_kwh": 500}]}]})
    assert t.to_config() == {
        "categories": [{"name": "small load", "max_load_w": 1000, "slab_mode": "telescopic",
                        "slabs": [{"paise_per_kwh": 300}], "fixed_paise_per_kw_month": 4000},
                       {"name": "rest", "slab_mode": "telescopic", "slabs": [{"paise_per_kwh": 500}],
                        "fixed_paise_per_kw_month": 4000}],
        "fixed_paise_per_day": 0, "duty_basis_points": 0, "fixed_paise_per_kw_month": 4000}
    t = Tariff.from_config({
        "fixed_paise_per_month": 2500,
        "categories": [{"name": "lifeline", "upto_kwh": 100, "slabs": [{"paise_per_kwh": 300}]},
                       {"slabs": [{"paise_per_kwh": 500}]}]})
    assert t.to_config() == {
        "categories": [{"name": "lifeline", "upto_kwh": 100, "slab_mode": "telescopic",
                        "slabs": [{"paise_per_kwh": 300}], "fixed_paise_per_month": 2500},
                       {"name": "category 2", "slab_mode": "telescopic",
                        "slabs": [{"paise_per_kwh": 500}], "fixed_paise_per_month": 2500}],
        "fixed_paise_per_day": 0, "duty_basis_points": 0, "fixed_paise_per_month": 2500}


def test_rate_lines_on_the_lcd():
    assert Tariff.from_config(SAMPLE).rate_lines() == \
        ["0-100 3.50", "100-200 4.50", "200-300 5.50", ">300 6.50"]


def test_billed_load_rounds_up_to_whole_steps():
    t = Tariff.from_config(SAMPLE)
    assert t.billed_w(1) == 1000 and t.billed_w(1000) == 1000 and t.billed_w(1001) == 2000
    assert t.billed_w(0) == 0


# --- what the technician reads when a tariff is refused -----------------------------------------

def test_percent_forms_at_their_edges():
    assert Tariff.from_config(sample(duty_percent=100)).duty_bp == 10000
    assert Tariff.from_config(sample(duty_percent="7")).duty_bp == 700
    assert Tariff.from_config(sample(rebate_percent="100")).rebate_bp == 10000
    for bad in ("1.2.3", ".5", "7.5x"):
        assert error_of(sample(duty_percent=bad)) == \
            "duty_percent must be a number with at most two decimals", bad
    for bad in (float("nan"), float("inf"), -float("inf"), 1e10, 100.01):
        assert error_of(sample(duty_percent=bad)) == "duty_percent must be between 0 and 100", bad


class _Time:
    """A TOML local time as a parser gives it: hour, minute and (maybe) second."""

    def __init__(self, hour=None, minute=None, second=None):
        if hour is not None:
            self.hour = hour
        if minute is not None:
            self.minute = minute
        if second is not None:
            self.second = second


def test_tod_accepts_toml_times_of_whole_minutes():
    t = Tariff.from_config(sample(tod=[{"from": _Time(18, 0), "to": _Time(22, 30, 0),
                                        "percent": 120}]))
    assert t.tod == ((1080, 1350, 120, 0),)
    assert error_of(sample(tod=[{"from": _Time(18, 0, 30), "to": "22:00", "percent": 120}])) == \
        "tod[0].from must be a whole minute"
    assert error_of(sample(tod=[{"from": _Time(18), "to": "22:00", "percent": 120}])) == \
        'tod[0].from must be "HH:MM"'
    assert error_of(sample(tod=[{"from": 1800, "to": "22:00", "percent": 120}])) == \
        'tod[0].from must be "HH:MM"'


def test_tod_window_over_midnight_overlaps_one_from_midnight():
    assert error_of(sample(tod=[{"from": "22:00", "to": "06:00", "percent": 90},
                                {"from": "00:00", "to": "00:01", "percent": 80}])) == \
        "tod[1] overlaps tod[0]"


def test_names_up_to_24_characters():
    name = "x" * 24
    t = Tariff.from_config(sample(surcharges=[{"name": name, "paise_per_kwh": 5}]))
    assert t.surcharges[0][0] == name
    assert error_of(sample(surcharges=[{"name": name + "x", "paise_per_kwh": 5}])) == \
        "surcharges[0].name must be a string of 1-24 characters"


def test_tod_times_must_be_two_digits_colon_two_digits():
    for bad in ("1a:00", "18.00", "18:000", "18:5", "18:x0", "6:00", "18:0x"):
        assert error_of(sample(tod=[{"from": bad, "to": "22:00", "percent": 120}])) == \
            'tod[0].from must be "HH:MM"', bad


def test_more_refusals_name_the_key():
    s = SAMPLE["slabs"]
    cat = {"slabs": [{"paise_per_kwh": 500}]}
    cases = [
        (sample(surcharges=[{"name": "x", "percent": 5, "base": "gross"}]),
         "surcharges[0].base must be one of energy, energy_before_rebate, energy_and_fixed"),
        (sample(surcharges="x"), "surcharges must be a list"),
        (sample(surcharges=[{"name": "s%d" % i, "paise_per_kwh": 1} for i in range(7)]),
         "surcharges: at most 6"),
        (sample(surcharges=[5]), "surcharges[0] must be a table"),
        (sample(surcharges=[{"name": "x", "percent": 0}]), "surcharges[0].percent must be more than 0"),
        (sample(tod=[5]), "tod[0] must be a table"),
        (sample(tod=[{"to": "08:00", "percent": 90}]), "tod[0].from missing"),
        (sample(tod=[{"from": "08:00", "percent": 90}]), "tod[0].to missing"),
        (sample(tod=[{"from": "07:00", "to": "24:01", "percent": 90}]), "tod[0].to is not a time of day"),
        (sample(tod=[{"from": "07:00", "to": "25:00", "percent": 90}]), "tod[0].to is not a time of day"),
        (sample(tod=[{"from": "07:00", "to": "08:60", "percent": 90}]), "tod[0].to is not a time of day"),
        (sample(slabs=[{"upto_kwh": i + 1, "paise_per_kwh": 1} for i in range(12)] + [s[3]]),
         "slabs: at most 12"),
        (sample(slabs=[{"upto_kwh": 1000001, "paise_per_kwh": 1}, s[3]]),
         "slabs[0].upto_kwh must be at most 1000000"),
        (sample(name="x" * 41), "name must be a string of at most 40 characters"),
        ({"categories": []}, "categories must be a non-empty list"),
        ({"categories": "x"}, "categories must be a non-empty list"),
        ({"categories": [cat] * 5}, "categories: at most 4"),
        ({"categories": [5]}, "categories[0] must be a table"),
        ({"categories": [{"name": "a"}]}, "categories[0].slabs missing"),
        ({"categories": [dict(cat, colour=1)]}, "unknown key categories[0].colour"),
        ({"slab_mode": "telescopic", "categories": [cat]},
         "give slab_mode inside each of categories, not beside them"),
        ({"categories": [dict(cat, upto_kwh=0), cat]},
         "categories[0].upto_kwh must be between 1 and 1000000"),
        ({"categories": [dict(cat, max_load_w=10000001), cat]},
         "categories[0].max_load_w must be between 1 and 10000000"),
        ({"categories": [dict(cat, name=""), cat]},
         "categories[0].name must be a string of 1-24 characters"),
    ]
    for cfg, message in cases:
        assert error_of(cfg) == message, (message, error_of(cfg))


def test_limits_accept_their_ends():
    open_slab = {"paise_per_kwh": 500}
    cat = {"slabs": [open_slab]}
    t = Tariff.from_config(sample(slabs=[{"upto_kwh": i + 1, "paise_per_kwh": 1} for i in range(11)]
                                  + [open_slab]))
    assert len(t.rates) == 12
    t = Tariff.from_config(sample(slabs=[{"upto_kwh": 1000000, "paise_per_kwh": 1}, open_slab]))
    assert t.limits == (1000000 * KWH, None)
    t = Tariff.from_config(sample(surcharges=[{"name": "s%d" % i, "paise_per_kwh": 1} for i in range(6)]))
    assert len(t.surcharges) == 6
    assert Tariff.from_config(sample(name="x" * 40)).name == "x" * 40
    t = Tariff.from_config({"categories": [dict(cat, upto_kwh=1, max_load_w=1),
                                           dict(cat, upto_kwh=1000000, max_load_w=10000000),
                                           cat, cat]})
    assert [(c.upto, c.max_load_w) for c in t.categories] == \
        [(KWH, 1), (1000000 * KWH, 10000000), (None, None), (None, None)]
    t = Tariff.from_config(sample(tod=[{"from": "18:59", "to": "23:59", "percent": 1},
                                       {"from": "00:00", "to": "06:00", "percent": 1000}]))
    assert t.tod == ((1139, 1439, 1, 0), (0, 360, 1000, 0))
    t = Tariff.from_config(sample(tod=[{"from": "18:30", "to": "24:00", "paise_per_kwh": -1000000},
                                       {"from": "06:15", "to": "07:00", "paise_per_kwh": 1000000}]))
    assert t.tod == ((1110, 0, 100, -1000000), (375, 420, 100, 1000000))


RANGES = (("fixed_paise_per_day", 0, 10000000), ("fixed_paise_per_kw_month", 0, 10000000),
          ("fixed_paise_per_month", 0, 10000000), ("fixed_kw_step_w", 1, 1000000),
          ("duty_paise_per_kwh", 0, 1000000), ("rebate_paise_per_kwh", 0, 1000000),
          ("minimum_paise_per_month", 0, 10000000))


def test_number_ranges_accept_both_ends_and_refuse_one_beyond():
    for key, lo, hi in RANGES:
        for v in (lo, hi):
            assert Tariff.from_config(sample(**{key: v})).to_config().get(key, v) == v, key
        for v in (lo - 1, hi + 1):
            assert error_of(sample(**{key: v})) == "%s must be between %d and %d" % (key, lo, hi)
    cfg = sample(duty_basis_points=10000)
    del cfg["duty_percent"]
    assert Tariff.from_config(cfg).duty_bp == 10000
    cfg["duty_basis_points"] = 10001
    assert error_of(cfg) == "duty_basis_points must be between 0 and 10000"
    slab = {"upto_kwh": 100, "paise_per_kwh": 1000001}
    assert error_of(sample(slabs=[slab, {"paise_per_kwh": 0}])) == \
        "slabs[0].paise_per_kwh must be between 0 and 1000000"
    for k, lo, hi in (("fixed_paise_per_kw_month", 0, 10000000), ("fixed_paise_per_month", 0, 10000000)):
        assert error_of(sample(slabs=[{"paise_per_kwh": 1, k: hi + 1}])) == \
            "slabs[0].%s must be between %d and %d" % (k, lo, hi)
    for field, lo, hi in (("paise_per_kwh", -1000000, 1000000), ("percent", 1, 1000)):
        for v in (lo - 1, hi + 1):
            assert error_of(sample(tod=[{"from": "07:00", "to": "08:00", field: v}])) == \
                "tod[0].%s must be between %d and %d" % (field, lo, hi)
        assert error_of(sample(surcharges=[{"name": "x", "paise_per_kwh": 1000001}])) == \
            "surcharges[0].paise_per_kwh must be between -1000000 and 1000000"
    t = Tariff.from_config(sample(surcharges=[{"name": "x", "paise_per_kwh": -1000000}]))
    assert t.surcharges == (("x", -1000000, 0, 0),)


# --- a month's bill lines, by hand ---------------------------------------------------------------

def _period(band_mwh, band_tod=None, service_s=0, load_ws=0):
    return [0, 0, list(band_mwh), list(band_tod or [0] * len(band_mwh)), 0, 0, service_s, load_ws]


def test_non_telescopic_month_bills_all_energy_at_the_slab_reached_with_rebate_per_kwh():
    t = Tariff.from_config({"slab_mode": "non_telescopic", "rebate_paise_per_kwh": 10,
                            "slabs": [{"upto_kwh": 100, "paise_per_kwh": 400},
                                      {"paise_per_kwh": 600}]})
    out = []
    # 150 kWh, 10 kWh of them in a 120 % window (band 0): all at 6.00, the window adds 20 % of 6.00
    per = _period([100 * KWH, 50 * KWH], [10 * KWH * 20, 0])
    assert t.lines(per, 150 * KWH, 0, 30 * 86400, out) == (90000 + 1200, -1500, 0)
    assert out == [(0, "energy above 100", 150 * KWH, "kWh", 600, 90000),
                   (0, "time of day", 0, "kWh", 0, 1200),
                   (8, "prepaid rebate", 150 * KWH, "kWh", -10, -1500)]
    out = []
    assert t.lines(_period([100 * KWH, 0]), 100 * KWH, 0, 30 * 86400, out) == (40000, -1000, 0)
    assert out[0] == (0, "energy 0-100", 100 * KWH, "kWh", 400, 40000)


def test_category_by_load_and_by_month_at_their_limits():
    t = Tariff.from_config({"categories": [
        {"name": "small", "max_load_w": 1000, "upto_kwh": 100, "slabs": [{"paise_per_kwh": 300}]},
        {"name": "rest", "slabs": [{"paise_per_kwh": 500}]}]})
    assert t.category(100 * KWH, 1000).name == "small"
    assert t.category(100 * KWH + 1, 1000).name == "rest"
    assert t.category(0, 1001).name == "rest"
    assert t.category(0, 1).name == "small"
    assert t.category(0, 0).name == "rest"  # no sanctioned load: not the small-load category
    out = []
    assert t.lines(_period([KWH]), KWH, 1000, 30 * 86400, out) == (300, 0, 0)
    assert out == [(0, "energy all", KWH, "kWh", 300, 300)]


def test_bands_of_another_category_sum_into_one_slab_and_tod_adders_bill():
    t = Tariff.from_config({"tod": [{"from": "22:00", "to": "05:00", "paise_per_kwh": -40}],
                            "categories": [
        {"name": "a", "max_load_w": 1000, "slabs": [{"upto_kwh": 100, "paise_per_kwh": 300},
                                                    {"paise_per_kwh": 500}]},
        {"name": "b", "slabs": [{"upto_kwh": 200, "paise_per_kwh": 400}, {"paise_per_kwh": 600}]}]})
    assert t.bands == (100 * KWH, 200 * KWH, None)
    per = _period([100 * KWH, 100 * KWH, 50 * KWH])
    per[4] = 10 * KWH * -40  # 10 kWh at night, 0.40 off each
    per[5] = 10 * KWH
    out = []
    assert t.lines(per, 250 * KWH, 1000, 30 * 86400, out) == (30000 + 75000 - 400, 0, 0)
    assert out == [(0, "energy 0-100", 100 * KWH, "kWh", 300, 30000),
                   (0, "energy above 100", 150 * KWH, "kWh", 500, 75000),
                   (0, "time of day", 10 * KWH, "kWh", 0, -400)]
