"""The host's token encoder (host_tools/sts.py) against the published vectors the meter's decoder
is tested with (tests/unit/test_sts.py, sources in docs/sts.md): the vending side must reproduce
the compliance tokens digit for digit, not only agree with the meter's own decoder."""
import pytest

import civiltime
import sts
import test_sts as v  # the vectors, tests/unit/test_sts.py
from host_tools import sts as hsts


def test_ctsa01_credit_tokens_encode():
    for key, sub, when, text in v.CTSA01:
        assert "%020d" % hsts.encode(0, sub, 5, v.minutes(*when), 1, key) == text


def test_ctsa10_amount_boundaries_encode():
    for units, raw, _ in v.CTSA10_AMOUNTS:
        assert hsts.encode_amount(units) == raw
    for sub in range(3):
        for i, (units, _raw, when) in enumerate(v.CTSA10_AMOUNTS):
            assert "%020d" % hsts.encode(0, sub, 5, v.minutes(*when), units, v.K1) == v.CTSA10_TOKENS[sub][i]
    assert hsts.encode_amount(0) == 0
    with pytest.raises(ValueError):
        hsts.encode_amount(sts.AMOUNT_MAX + 1)
    with pytest.raises(ValueError):
        hsts.encode_amount(-1)


def test_management_and_limit_vectors_encode():
    cases = ((v.K1, "50901894209860263092", 0, (2004, 3, 28, 9, 1), 1000),
             (v.K1, "29511990995826640868", 1, (2004, 3, 28, 9, 15), 0xFFFF),
             (v.K2, "69986678528351463847", 1, (2004, 3, 28, 9, 20), 0xFFFF),
             (v.K1, "37037300014464855694", 5, (2004, 3, 28, 10, 0), 0),
             (v.K1, "30220533115430798647", 6, (2004, 3, 28, 10, 20), 10))
    for key, text, sub, when, value in cases:
        assert "%020d" % hsts.encode(2, sub, 5, v.minutes(*when), value, key) == text
    for i, watts in enumerate(v.LIMIT_WATTS):
        for sub, tokens, hour in ((0, v.CTSA12, 7), (6, v.CTSA13, 8)):
            tid = v.minutes(2004, 4, 1, hour, 5 * i)
            assert "%020d" % hsts.encode(2, sub, 5, tid, watts, v.K1) == tokens[i]


def test_key_change_vectors_encode():
    cases = ((v.K1, "060b8643c59a27f1", 2, "51638423060042734509", "15361891762113502242"),
             (sts.DecoderKey.from_hex("060b8643c59a27f1"), v.K1_HEX, 1,
              "26553210520543055412", "00943705441908264439"),
             (v.K2, "6221992f403a5877", 2, "36495265416911568628", "35908059266238070883"))
    for old, new_hex, ti, t1, t2 in cases:
        new = bytes.fromhex(new_hex)
        assert hsts.encode_key_change(old, new, 1, 2, ti, 255, 0) == (int(t1), int(t2))


def test_test_token_vectors_encode():
    for sub, control, text in ((0, 0xFFFFFFFFF, "56493153725450313471"), (1, 0xFFFFFFF, "02305843005052951967"),
                               (0, 0x8, "18446744073843772416"), (1, 0x200, "01152923703764322536")):
        assert "%020d" % hsts.encode_test(sub, control, 0) == text


def test_sample_table_worked_example_encrypts():
    enc = hsts.Encipher(v.SAMPLE_S1, v.SAMPLE_S2, v.SAMPLE_P)
    key = bytes((0x0A, 0xBC, 0x12, 0xDE, 0xF3, 0x45, 0x67, 0x89))
    block = hsts.sta_encrypt(0x0B19EB230100C207, key, enc)
    assert hsts.join_token(0, sts.block_to_words(block)) == 0x2C45ED1618406DF95


def test_class_bit_transposition_round_trip():
    w = [0x1234, 0x5678 | 0x1800, 0x9ABC, 0xDEF0]
    n = hsts.join_token(2, w)
    assert (n >> 27) & 3 == 2 and (n >> 65) & 1 == 1 and (n >> 64) & 1 == 1
    assert sts.split_token(n) == (2, w)


def test_unsupported_blocks_recorded_in_the_meter_test():
    # the five class/subclass combinations tests/unit/test_sts.py feeds the meter as numbers
    made = [hsts.encode_raw(cls, w3, 0x1234, 0x0001, v.K1)
            for cls, w3 in ((3, 0x0500), (0, 0x8500), (2, 0x8500), (2, 0xA500), (1, 0x2000))]
    assert made == [8916463813737446527, 1592434718136539477, 71041618441486856605,
                    73219733237890560544, 2305863023895611862]


def test_vending_refuses_an_expired_key_but_not_its_last_minute():
    key = sts.DecoderKey.from_hex(v.K1_HEX, base_date=2014, expiry_tid=sts.ken_expiry_tid(0x68))
    last = sts.tid_to_seconds(0x68FFFF, 2014)
    tok = sts.decode(hsts.vend_credit(key, 10, last), key)
    assert tok.tid == 0x68FFFF and not tok.expired
    with pytest.raises(ValueError):
        hsts.vend_credit(key, 10, last + 60)


def test_format_token():
    assert hsts.format_token(150997584) == "0000 0000 0001 5099 7584"
    assert hsts.format_token("23716100501183194197") == "2371 6100 5011 8319 4197"


def test_seconds_to_tid_is_the_meters_tid_to_seconds_backwards():
    assert hsts.seconds_to_tid(civiltime.seconds(2004, 3, 1, 13, 55, 59), 1993) == 5871715
    # the 1993 base date ran out at TID 2**24 - 1 on 2024-11-24 20:15; nothing before 2014-01-01
    # has a TID on the 2014 base date
    with pytest.raises(ValueError):
        hsts.seconds_to_tid(civiltime.seconds(2024, 11, 24, 20, 16), 1993)
    with pytest.raises(ValueError):
        hsts.seconds_to_tid(civiltime.seconds(2013, 12, 31, 23, 59), 2014)
    s = civiltime.seconds(2026, 11, 30, 14, 7)
    assert sts.tid_to_seconds(hsts.seconds_to_tid(s, 2014), 2014) == s
