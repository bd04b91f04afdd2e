"""The provisioning file: the sample validates; each kind of mistake gets a message naming the key."""
import pathlib
import tomllib

import pytest

from host_tools import provisioning

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "meter.toml"


def sample():
    return tomllib.loads(SAMPLE.read_text())


def test_sample_file_is_valid_and_derives_the_decoder_key():
    cfg = provisioning.load(SAMPLE)
    assert cfg.serial == "BR-SIM-000001"
    assert len(cfg.link_key) == 32
    sts = cfg.sections["sts"]
    assert len(sts["decoder_key"]) == 16 and sts["paise_per_unit"] == 100
    assert cfg.sections["account"]["arrears_paise"] == 200000


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["link"].update(key="abc"), "[link] key must be 64 hex digits"),
    (lambda d: d.pop("tariff"), "missing section [tariff]"),
    (lambda d: d.update(extra={}), "unknown section [extra]"),
    (lambda d: d["meter"].update(serial="bad serial!"), "serial"),
    (lambda d: d["tariff"]["slabs"].__setitem__(1, {"upto_kwh": 50, "paise_per_kwh": 450}), "upto_kwh"),
    (lambda d: d["connection"].update(window="25:00-13:00"), "window"),
    (lambda d: d["account"].update(arrears_recovery_percent=150), "arrears_recovery_percent"),
    (lambda d: d["sts"].update(base_date=2000), "base_date"),
    (lambda d: d["sts"].update(vending_key="zz"), "vending_key"),
])
def test_mistakes_name_the_key(mutate, words):
    d = sample()
    mutate(d)
    with pytest.raises(provisioning.ConfigError) as e:
        provisioning.from_dict(d, "meter.toml")
    assert words in str(e.value)
    assert str(e.value).startswith("meter.toml: ")


def test_not_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[meter\nserial=1")
    with pytest.raises(provisioning.ConfigError, match="not valid TOML"):
        provisioning.load(bad)
    with pytest.raises(provisioning.ConfigError, match="no such file"):
        provisioning.load(tmp_path / "nope.toml")


def test_account_defaults_match_docs():
    """docs/provisioning.md: no [account] section means all four amounts 0; a section that is
    given must name each of them."""
    d = sample()
    del d["account"]
    acct = provisioning.from_dict(d).sections["account"]
    assert (acct["arrears_paise"], acct["arrears_recovery_percent"], acct["arrears_cap_paise"],
            acct["emergency_credit_paise"]) == (0, 0, 0, 0)
    assert acct["alert_percents"] == [30, 10, 0]
    d = sample()
    del d["account"]["arrears_cap_paise"]
    with pytest.raises(provisioning.ConfigError) as e:
        provisioning.from_dict(d)
    assert "[account] arrears_cap_paise must be an integer 0..10000000000" in str(e.value)


def test_published_tariff_sections_validate():
    import published_tariffs as pub

    for text in (pub.KERALA, pub.DELHI, pub.HARYANA, pub.BIHAR):
        d = sample()
        d["tariff"] = pub.toml_table(text)
        assert provisioning.from_dict(d).sections["tariff"] == d["tariff"]
