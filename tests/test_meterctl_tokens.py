"""meterctl `token` and `vend` subcommands and the host STS helpers, on the compliance vectors."""
import argparse
import json

import pytest

import civiltime
import sts as fw
from host_tools import sts as hsts
from host_tools.meterctl import tokens

VK = "abababababababab"
K1 = "e653341f9d5bf36f"

CONFIG = """
[sts]
vending_key = "abababababababab"
iin = "600727"
drn = "00000000000"
supply_group = 123456
tariff_index = 1
key_revision = 1
key_type = 2
base_date = 1993
paise_per_unit = 80
"""


def run(capsys, *argv):
    parser = argparse.ArgumentParser(prog="meterctl")
    sub = parser.add_subparsers(dest="cmd")
    sub.required = True
    tokens.register(sub)
    args = parser.parse_args([str(a) for a in argv])
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "meter.toml"
    path.write_text(CONFIG)
    return str(path)


# --------------------------------------------------------------------------- DKGA02


@pytest.mark.parametrize("pan,ti,expected", [
    ("60072700000000000", 1, K1),
    ("600727000000000009", 1, K1),
    ("600727 00000000000 9", 1, K1),
    ("000001000000000082", 1, "e94023262e9993c2"),
    ("600727000000000009", 2, "060b8643c59a27f1"),
    ("000001000000000082", 2, "6221992f403a5877"),
])
def test_derive_key_compliance_vectors(capsys, pan, ti, expected):
    rc, out, _ = run(capsys, "token", "derive-key", "--vending-key", VK, "--pan", pan,
                     "--supply-group", "123456", "--tariff-index", ti, "--key-revision", "1",
                     "--key-type", "2")
    assert rc == 0
    assert out.strip() == expected
    assert hsts.derive_decoder_key(bytes.fromhex(VK), pan, 123456, ti, 1, 2).hex() == expected


def test_derive_key_parameters_matter():
    base = hsts.derive_decoder_key(bytes.fromhex(VK), "60072700000000000", 123456, 1, 1, 2)
    for args in ((123457, 1, 1, 2), (123456, 2, 1, 2), (123456, 1, 2, 2), (123456, 1, 1, 1)):
        assert hsts.derive_decoder_key(bytes.fromhex(VK), "60072700000000000", *args) != base
    assert hsts.control_block(123456, 1, 1, 2) == "2123456011FFFFFF"
    assert hsts.pan_block("600727000000000009") == "0072700000000000"


@pytest.mark.parametrize("argv", [
    ["--vending-key", "abab", "--pan", "60072700000000000"],
    ["--vending-key", VK, "--pan", "600727000000000008"],  # wrong check digit
    ["--vending-key", VK, "--pan", "6007270000000"],
    ["--vending-key", VK, "--pan", "60072700000000000", "--key-type", "3"],
    ["--vending-key", VK, "--pan", "60072700000000000", "--key-revision", "0"],
    ["--vending-key", "zzzzzzzzzzzzzzzz", "--pan", "60072700000000000"],
])
def test_derive_key_bad_input(capsys, argv):
    rc, out, err = run(capsys, "token", "derive-key", "--supply-group", "123456", *argv)
    assert rc == 2 and out == "" and "error" in err


# --------------------------------------------------------------------------- decode


def test_decode_json_credit(capsys):
    rc, out, _ = run(capsys, "token", "decode", "23716100501183194197", "--decoder-key", K1,
                     "--base-date", "1993", "--json")
    assert rc == 0
    d = json.loads(out)
    assert d["class"] == 0 and d["subclass"] == 0 and d["rnd"] == 5
    assert d["tid"] == 5871715 and d["time"] == "2004-03-01T13:55:00"
    assert d["amount"] == 1 and d["crc_ok"] is True
    assert "error" not in d


def test_decode_grouped_digits_and_text_output(capsys):
    rc, out, _ = run(capsys, "token", "decode", "5090", "1894", "2098", "6026", "3092",
                     "--decoder-key", K1, "--base-date", "1993")
    assert rc == 0
    assert "set_max_power" in out and "watts: 1000" in out and "2004-03-28T09:01:00" in out


def test_decode_management_and_test_tokens(capsys):
    rc, out, _ = run(capsys, "token", "decode", "29511990995826640868", "--decoder-key", K1,
                     "--json")
    d = json.loads(out)
    assert rc == 0 and d["class"] == 2 and d["subclass"] == 1 and d["amount"] is None
    assert d["fields"]["register"] == 0xFFFF
    rc, out, _ = run(capsys, "token", "decode", "56493153725450313471", "--decoder-key",
                     "0000000000000000", "--json")
    d = json.loads(out)
    assert rc == 0 and d["class"] == 1 and d["tid"] is None and d["time"] is None
    assert d["fields"]["control"] == (1 << 36) - 1


def test_decode_wrong_key(capsys):
    rc, out, _ = run(capsys, "token", "decode", "23716100501183194197", "--decoder-key",
                     "e94023262e9993c2", "--json")
    d = json.loads(out)
    assert rc == 1 and d["error"] == "crc" and d["crc_ok"] is False
    rc, out, _ = run(capsys, "token", "decode", "23716100501183194197", "--decoder-key",
                     "e94023262e9993c2")
    assert rc == 1 and "CRC" in out


@pytest.mark.parametrize("text", ["1234", "99999999999999999999", "2371610050118319419x"])
def test_decode_format_error(capsys, text):
    rc, out, _ = run(capsys, "token", "decode", text, "--decoder-key", K1, "--json")
    assert rc == 1 and json.loads(out)["error"] == "format"


def test_decode_with_config_and_bad_key(capsys, config):
    rc, out, _ = run(capsys, "token", "decode", "23716100501183194197", "--config", config,
                     "--json")
    assert rc == 0 and json.loads(out)["time"] == "2004-03-01T13:55:00"
    rc, out, err = run(capsys, "token", "decode", "23716100501183194197", "--decoder-key", "12")
    assert rc == 2 and "16 hex digits" in err
    rc, out, err = run(capsys, "token", "decode", "23716100501183194197")
    assert rc == 2 and "--decoder-key" in err


# --------------------------------------------------------------------------- vend


def test_vend_credit_reproduces_ctsa01(capsys, config):
    rc, out, _ = run(capsys, "vend", "credit", "--config", config, "--amount", "1",
                     "--time", "2004-03-01T13:55", "--rnd", "5")
    assert rc == 0 and out.strip() == "2371 6100 5011 8319 4197"
    rc, out, _ = run(capsys, "vend", "credit", "--config", config, "--amount", "1",
                     "--time", "2004-03-01T14:05", "--rnd", "5", "--register", "water")
    assert out.strip() == hsts.format_token("42502136492215507402")


def test_vend_credit_json_and_rounding_note(capsys, config):
    rc, out, err = run(capsys, "vend", "credit", "--config", config, "--amount", "20000",
                       "--time", "2004-04-01T00:45", "--rnd", "5", "--json")
    d = json.loads(out)
    assert rc == 0
    assert d["digits"] == "71997443697501228179"
    assert d["token"] == "7199 7443 6975 0122 8179"
    assert d["amount"] == 20004 and d["tid"] == 5915565 and d["time"] == "2004-04-01T00:45:00"
    assert "20004" in err


def test_vend_credit_rupees(capsys, config):
    rc, out, err = run(capsys, "vend", "credit", "--config", config, "--rupees", "8.50",
                       "--time", "2004-04-01T00:45", "--json")
    d = json.loads(out)
    assert rc == 0 and d["amount"] == 10 and "50 paise" in err  # 850 paise / 80 per unit
    rc, out, err = run(capsys, "vend", "credit", "--config", config, "--rupees", "8.005",
                       "--time", "2004-04-01T00:45")
    assert rc == 2 and "paise" in err


def test_vend_credit_now_with_base_date_2014(capsys, tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[sts]\ndecoder_key = "%s"\nbase_date = 2014\n' % K1)
    before = hsts.seconds_to_tid(hsts.now_seconds(), 2014)
    rc, out, _ = run(capsys, "vend", "credit", "--config", str(path), "--amount", "100")
    after = hsts.seconds_to_tid(hsts.now_seconds(), 2014)
    assert rc == 0
    key = fw.DecoderKey.from_hex(K1, base_date=2014)
    tok = fw.decode(out.strip(), key)
    assert tok.amount == 100 and before <= tok.tid <= after


@pytest.mark.parametrize("argv,expected", [
    (["--subclass", "set-power-limit", "--watts", "1000", "--time", "2004-03-28T09:01"],
     ["50901894209860263092"]),
    (["--subclass", "clear-credit", "--time", "2004-03-28T09:15"], ["29511990995826640868"]),
    (["--subclass", "clear-tamper", "--time", "2004-03-28T10:00"], ["37037300014464855694"]),
    (["--subclass", "set-phase-unbalance", "--watts", "10", "--time", "2004-03-28T10:20"],
     ["30220533115430798647"]),
    (["--subclass", "key-change", "--new-tariff-index", "2"],
     ["51638423060042734509", "15361891762113502242"]),
    (["--subclass", "key-change", "--new-decoder-key", "060b8643c59a27f1",
      "--new-tariff-index", "2"], ["51638423060042734509", "15361891762113502242"]),
])
def test_vend_management_reproduces_vectors(capsys, config, argv, expected):
    rc, out, _ = run(capsys, "vend", "management", "--config", config, "--rnd", "5", *argv)
    assert rc == 0
    assert out.split("\n")[:len(expected)] == [hsts.format_token(t) for t in expected]


def test_vend_key_change_json(capsys, config):
    rc, out, _ = run(capsys, "vend", "management", "--config", config, "--subclass",
                     "key-change", "--new-tariff-index", "2", "--json")
    d = json.loads(out)
    assert rc == 0 and [t["kind"] for t in d["tokens"]] == ["key_change_1", "key_change_2"]
    assert d["tokens"][1]["fields"]["tariff_index"] == 2


def test_vend_tariff_rate_and_water_factor_round_trip(capsys, config):
    key = hsts.key_from_config({"decoder_key": K1, "base_date": 1993})
    for name, opt, kind, field in (("set-tariff-rate", "--rate", "set_tariff_rate", "rate"),
                                   ("set-water-factor", "--factor", "set_water_factor", "factor")):
        rc, out, _ = run(capsys, "vend", "management", "--config", config, "--subclass", name,
                         opt, "0x1234", "--time", "2010-01-01T00:00")
        tok = fw.decode(out.strip(), key)
        assert rc == 0 and tok.kind == kind and tok.fields()[field] == 0x1234


@pytest.mark.parametrize("argv,expected", [
    (["--subclass", "0", "--control", "0xFFFFFFFFF"], "56493153725450313471"),
    (["--subclass", "1", "--control", "0xFFFFFFF"], "02305843005052951967"),
    (["--control", "1"], "00000000000150997584"),
])
def test_vend_test_tokens(capsys, argv, expected):
    rc, out, _ = run(capsys, "vend", "test", *argv)
    assert rc == 0 and out.strip() == hsts.format_token(expected)


def test_vend_test_json(capsys):
    rc, out, _ = run(capsys, "vend", "test", "--control", "8", "--json")
    d = json.loads(out)
    assert rc == 0 and d["digits"] == "18446744073843772416" and d["class"] == 1


@pytest.mark.parametrize("argv,message", [
    (["vend", "credit", "--amount", "5"], "--config"),
    (["vend", "credit", "--config", "CFG", "--amount", "18201625"], "exceeds"),
    (["vend", "credit", "--config", "CFG", "--amount", "5", "--time", "2026-01-01T00:00"],
     "TID range"),
    (["vend", "credit", "--config", "CFG", "--amount", "5", "--time", "yesterday"], "--time"),
    (["vend", "credit", "--config", "CFG", "--amount", "5", "--rnd", "16"], "--rnd"),
    (["vend", "management", "--config", "CFG", "--subclass", "set-power-limit"], "--watts"),
    (["vend", "management", "--config", "CFG", "--subclass", "clear-credit",
      "--register", "70000", "--time", "2004-01-01"], "65535"),
    (["vend", "credit", "--config", "/nonexistent/meter.toml", "--amount", "5"], "meter.toml"),
])
def test_vend_bad_input(capsys, config, argv, message):
    argv = [config if a == "CFG" else a for a in argv]
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert message in err


@pytest.mark.parametrize("text,message", [
    ("[sts]\nvending_key = \"abababababababab\"\niin = 600727\ndrn = \"00000000000\"\n", "iin"),
    ("[meter]\nname = \"x\"\n", "[sts]"),
    ("[sts\n", "meterctl: error"),
    ("[sts]\ndecoder_key = \"e653\"\n", "decoder_key"),
    ("[sts]\ndecoder_key = \"%s\"\nbase_date = 2000\n" % K1, "base_date"),
])
def test_vend_bad_config(capsys, tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    rc, out, err = run(capsys, "vend", "credit", "--config", str(path), "--amount", "5",
                       "--time", "2020-01-01")
    assert rc == 2 and message in err


def test_rupees_need_paise_per_unit(capsys, tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[sts]\ndecoder_key = "%s"\nbase_date = 2014\n' % K1)
    rc, out, err = run(capsys, "vend", "credit", "--config", str(path), "--rupees", "10")
    assert rc == 2 and "paise_per_unit" in err


# --------------------------------------------------------------------------- host helpers


def test_host_vend_helpers_round_trip():
    key = fw.DecoderKey.from_hex(K1, base_date=2014)
    when = civiltime.seconds(2026, 11, 30, 14, 7, 30)
    tok = fw.decode(hsts.vend_credit(key, 1234, when), key)
    assert tok.amount == 1234 and tok.tid == hsts.seconds_to_tid(when, 2014)
    tok = fw.decode(hsts.vend_management(key, "clear_credit", when), key)
    assert tok.fields()["all"]
    new = fw.DecoderKey.from_hex("0123456789abcdef", key_revision=2, tariff_index=7)
    a, b = hsts.vend_key_change(key, new)
    kc = fw.key_change(fw.decode(a, key), fw.decode(b, key))
    assert kc["key"] == new.key_bytes and kc["key_revision"] == 2 and kc["tariff_index"] == 7
    with pytest.raises(ValueError):
        hsts.vend_management(key, "set_max_power", when)
    with pytest.raises(ValueError):
        hsts.vend_management(key, "reboot", when)
    assert fw.decode(hsts.vend_test(1, 5, 77), key).fields()["manufacturer"] == 77
    assert hsts.luhn_digit("60072700000000000") == 9


def test_options_of_the_main_parser_pass_through(capsys, config):
    # meterctl's own parser may define --json/--config too; the subcommands must not reset them
    parser = argparse.ArgumentParser(prog="meterctl")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="cmd")
    tokens.register(sub)
    args = parser.parse_args(["--json", "--config", config, "vend", "credit", "--amount", "1",
                              "--time", "2004-03-01T13:55", "--rnd", "5"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["digits"] == "23716100501183194197"


def test_vend_refuses_an_expired_key(capsys, tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[sts]\ndecoder_key = "%s"\nbase_date = 1993\nkey_expiry = 0x59\n' % K1)
    rc, out, _ = run(capsys, "vend", "credit", "--config", str(path), "--amount", "1",
                     "--time", "2004-03-01T13:55")  # TID 0x599863: top byte 0x59, still valid
    assert rc == 0
    rc, out, err = run(capsys, "vend", "credit", "--config", str(path), "--amount", "1",
                       "--time", "2004-06-01T00:00")  # top byte 0x5A
    assert rc == 2 and "expired" in err
