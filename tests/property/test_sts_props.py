"""Properties of the STS token coding (CPython, hypothesis)."""
import random

from hypothesis import given, settings
from hypothesis import strategies as st

import sts
from host_tools import sts as hsts

KEYS = st.binary(min_size=8, max_size=8).map(lambda b: sts.DecoderKey(b, base_date=2014))
TIDS = st.integers(0, sts.TID_MAX)
NIBBLES = st.integers(0, 15)


@settings(max_examples=300, deadline=None)
@given(KEYS, st.integers(0, 3), NIBBLES, TIDS, st.integers(0, sts.AMOUNT_MAX))
def test_credit_round_trip(key, sub, rnd, tid, units):
    n = hsts.encode(0, sub, rnd, tid, units, key)
    assert 0 <= n < 1 << 66
    tok = sts.decode("%020d" % n, key)
    assert (tok.cls, tok.subclass, tok.rnd, tok.tid, tok.kind) == (0, sub, rnd, tid, "credit")
    assert tok.crc_ok and tok.error is None
    assert tok.amount == sts.decode_amount(hsts.encode_amount(units))


@given(st.integers(0, sts.AMOUNT_MAX))
def test_amount_rounds_up_to_the_nearest_codable_value(units):
    raw = hsts.encode_amount(units)
    coded = sts.decode_amount(raw)
    assert coded >= units
    # no smaller field value also carries at least `units`
    smaller = [sts.decode_amount(r) for r in range(max(0, raw - 1), raw)]
    assert all(v < units for v in smaller)
    # the codable values are increasing in the raw field
    if raw:
        assert sts.decode_amount(raw - 1) < coded


@settings(max_examples=200, deadline=None)
@given(KEYS, st.sampled_from((0, 6)), NIBBLES, TIDS, st.integers(0, sts.AMOUNT_MAX))
def test_power_limit_round_trip(key, sub, rnd, tid, watts):
    tok = sts.decode(hsts.encode(2, sub, rnd, tid, watts, key), key)
    assert (tok.cls, tok.subclass, tok.rnd, tok.tid) == (2, sub, rnd, tid)
    assert tok.fields()["watts"] == sts.decode_amount(hsts.encode_amount(watts))


@settings(max_examples=200, deadline=None)
@given(KEYS, st.sampled_from((1, 2, 5, 7)), NIBBLES, TIDS, st.integers(0, 0xFFFF))
def test_raw_field_management_round_trip(key, sub, rnd, tid, value):
    tok = sts.decode(hsts.encode(2, sub, rnd, tid, value, key), key)
    assert (tok.cls, tok.subclass, tok.rnd, tok.tid, tok.raw_amount) == (2, sub, rnd, tid, value)
    assert tok.kind == sts.MANAGEMENT_KINDS[sub]


@settings(max_examples=200, deadline=None)
@given(KEYS, st.integers(4, 7), TIDS, st.integers(-10 ** 12, 10 ** 12))
def test_currency_round_trip(key, sub, tid, value):
    tok = sts.decode(hsts.encode(0, sub, 0, tid, value, key), key)
    assert tok.kind == "currency_credit" and tok.tid == tid
    assert abs(tok.amount) >= abs(value)
    assert (tok.amount < 0) == (value < 0) or value == 0 or tok.amount == 0
    raw, se = hsts.encode_currency(value)
    assert tok.amount == sts.decode_currency(raw, se)


@settings(max_examples=100, deadline=None)
@given(KEYS, st.binary(min_size=8, max_size=8), st.integers(1, 9), st.integers(0, 3),
       st.integers(0, 99), st.integers(0, 255), st.booleans())
def test_key_change_round_trip(old, new, krn, kt, ti, ken, rollover):
    a, b = hsts.encode_key_change(old, new, krn, kt, ti, ken, rollover)
    kc = sts.key_change(sts.decode(a, old), sts.decode(b, old))
    assert kc == {"key": new, "key_revision": krn, "key_type": kt, "tariff_index": ti,
                  "ken": ken, "rollover": int(rollover)}


@given(st.integers(0, 1), st.integers(0, (1 << 36) - 1), st.integers(0, 0xFFFF), KEYS)
def test_test_token_round_trip(sub, control, maker, key):
    if sub == 1:
        control &= (1 << 28) - 1
    else:
        maker &= 0xFF
    tok = sts.decode(hsts.encode_test(sub, control, maker), key)
    assert (tok.cls, tok.subclass) == (1, sub)
    assert tok.fields()["control"] == control and tok.fields()["manufacturer"] == maker


@settings(max_examples=500, deadline=None)
@given(st.integers(0, (1 << 66) - 1), KEYS)
def test_decode_never_crashes(n, key):
    tok = sts.decode(n, key, strict=False)
    assert tok.error in (None, "crc", "class", "expired")
    try:
        sts.decode(n, key)
    except sts.TokenError as e:
        assert e.code in ("crc", "class", "expired")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_parse_digits_only_raises_format(text):
    try:
        n = sts.parse_digits(text)
    except sts.TokenError as e:
        assert e.code == "format"
    else:
        assert 0 <= n < 1 << 66


def test_random_digits_are_rejected_like_a_16_bit_crc_says():
    rng = random.Random(62055)
    key = sts.DecoderKey(bytes.fromhex("e653341f9d5bf36f"), base_date=1993)
    accepted = 0
    codes = {}
    for _ in range(100000):
        text = "".join(rng.choice("0123456789") for _ in range(20))
        try:
            sts.decode(text, key)
            accepted += 1
        except sts.TokenError as e:
            codes[e.code] = codes.get(e.code, 0) + 1
    assert set(codes) <= {"format", "crc", "class", "expired"}
    assert codes.get("format", 0) > 20000  # about 26% of 20-digit numbers are >= 2**66
    assert accepted <= 10  # expect ~ 74000 / 65536


@given(st.lists(st.integers(0, 5000), max_size=200), st.integers(1, 20))
def test_tid_store_matches_a_simple_model(tids, size):
    store = sts.TidStore(size=size)
    seen = []
    for t in tids:
        remembered = sorted(set(seen))[-size:]
        expect = None
        if t in remembered:
            expect = "used"
        elif len(remembered) >= size and t < remembered[0]:
            expect = "old"
        assert store.check(t) == expect
        if expect is None:
            store.add(t)
            seen.append(t)
        assert store.state()["tids"] == sorted(set(seen))[-size:]


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4000)), max_size=60))
def test_keypad_guard_never_locks_longer_than_the_cap(events):
    g = sts.KeypadGuard(max_failures=5, lock_minutes=5, max_lock_minutes=60)
    now = 0
    for ok, step in events:
        now += step
        allowed, left = g.allowed(now)
        assert 0 <= left <= 3600
        assert allowed == (left == 0)
        g.record(ok, now)
        assert g.failures() < 5
