"""STS token decoding on the meter: published vectors (see docs/sts.md for sources), anti-replay,
lockout. The encoder lives on the host; its checks against the same vectors are in
tests/test_sts_vending.py."""
import civiltime
import sts
from _check import raises

# Decoder keys of the STS 531-1-0-02 compliance tests (DKGA02 from vending key ABAB...AB,
# SGC 123456, TI 01, KRN 1, KT 2); derived on the host, see tests/test_meterctl_tokens.py.
K1_HEX = "e653341f9d5bf36f"  # PAN 600727 00000000000 (check digit 9)
K2_HEX = "e94023262e9993c2"  # PAN 0000 0100000000008 (check digit 2)
K1 = sts.DecoderKey.from_hex(K1_HEX, base_date=1993)
K2 = sts.DecoderKey.from_hex(K2_HEX, base_date=1993)

# IEC 62055-41 sample-table worked example (EA07 with the sample substitution/permutation tables)
SAMPLE_S1 = (12, 10, 8, 4, 3, 15, 0, 2, 14, 1, 5, 13, 6, 9, 7, 11)
SAMPLE_S2 = (6, 9, 7, 4, 3, 10, 12, 14, 2, 13, 1, 15, 0, 11, 8, 5)
SAMPLE_P = (29, 27, 34, 9, 16, 62, 55, 2, 40, 49, 38, 25, 33, 61, 30, 23,
            1, 41, 21, 57, 42, 15, 5, 58, 19, 53, 22, 17, 48, 28, 24, 39,
            3, 60, 36, 14, 11, 52, 54, 12, 31, 51, 10, 26, 0, 45, 37, 43,
            44, 6, 59, 4, 7, 35, 56, 50, 13, 18, 32, 47, 46, 63, 20, 8)


def minutes(y, mo, d, h, mi, base=1993):
    return (civiltime.seconds(y, mo, d, h, mi) - civiltime.seconds(base, 1, 1)) // 60


# CTSA01: 0.1 unit (raw 1) credit tokens, RND 5: (key, subclass, issue time, token)
CTSA01 = (
    (K1, 0, (2004, 3, 1, 13, 55), "23716100501183194197"),
    (K2, 0, (2004, 3, 1, 14, 0), "67206107716095682372"),
    (K1, 1, (2004, 3, 1, 14, 5), "42502136492215507402"),
    (K2, 1, (2004, 3, 1, 14, 10), "09109691696351271646"),
    (K1, 2, (2004, 3, 1, 14, 15), "67586531586639825066"),
    (K2, 2, (2004, 3, 1, 14, 20), "35758660990071466853"),
)

# CTSA10: amount range boundaries (requested units, raw field, issue time) then the tokens for
# subclass 0 (electricity), 1 (water), 2 (gas). Units are 0.1 kWh; amounts the field cannot
# carry exactly are rounded up to the next value it can.
CTSA10_AMOUNTS = (
    (256, 0x0100, (2004, 4, 1, 0, 30)),
    (16383, 0x3FFF, (2004, 4, 1, 0, 35)),
    (16384, 0x4000, (2004, 4, 1, 0, 40)),
    (20000, 0x416A, (2004, 4, 1, 0, 45)),
    (180223, 0x8000, (2004, 4, 1, 0, 50)),
    (180224, 0x8000, (2004, 4, 1, 0, 55)),
    (1818623, 0xC000, (2004, 4, 1, 1, 44)),
    (1818624, 0xC000, (2004, 4, 1, 1, 49)),
    (18201624, 0xFFFF, (2004, 4, 1, 1, 54)),
)
CTSA10_TOKENS = (
    ("26456622012185850752", "02194538019157867319", "49848950875249585071",
     "71997443697501228179", "58589277912776864555", "16328229234437142451",
     "45001756646344378677", "15810488151857362998", "42222423067848970276"),
    ("44275716003808438853", "18252763951429538816", "27315011099256270180",
     "63822263014624002901", "09641054211308025667", "44446096428101342168",
     "28708466031297612806", "10341114843091227763", "05942777944950076038"),
    ("55421978213496083894", "19542256788533803049", "00240351248989131846",
     "09767096307961035977", "48113663060937699726", "03981404420542897416",
     "14196243940519813244", "49902394914324621132", "13610552847224033160"),
)

# CTSA12 (set maximum power limit) and CTSA13 (set maximum phase power unbalance limit), watts
# coded like amounts; issue times 07:00 + 5 min steps and 08:00 + 5 min steps on 2004-04-01.
LIMIT_WATTS = (256, 16383, 16384, 20000, 180223, 180224, 1818623, 1818624, 18201624)
LIMIT_CODED = (256, 16383, 16384, 20004, 180224, 180224, 1818624, 1818624, 18201624)
CTSA12 = ("41932934023937597177", "39962525051716972228", "49726922948713857933",
          "49240429350369491663", "59901462710025767433", "19230023168014606006",
          "15202793104399278539", "39289527337368539951", "64902502692705103624")
CTSA13 = ("31529222328157245680", "73693330413053816261", "54550534704168942701",
          "59764600311380323340", "40345762458084906193", "66940669945224810632",
          "39456295247583474882", "71498975780521030688", "57078032150370797843")


def test_crc_vectors():
    # class 0 | subclass 0 | rnd 11 | TID 0x19EB23 | amount 0x0100 -> stored CRC 0xC207
    assert sts.crc16(bytes((0x00, 0x0B, 0x19, 0xEB, 0x23, 0x01, 0x00))) == 0xC207
    assert sts.crc16(bytes((0x00, 0x00, 0x4A, 0x2D, 0x90, 0x0F, 0xF2))) == 0x0FFA


def test_sta_sample_table_worked_example():
    decipher = sts.Decipher(SAMPLE_S1, SAMPLE_S2, SAMPLE_P)
    key = bytes((0x0A, 0xBC, 0x12, 0xDE, 0xF3, 0x45, 0x67, 0x89))
    cls, w = sts.split_token(0x2C45ED1618406DF95)
    assert cls == 0
    # the steps decode() takes: split, decrypt the words with the key's bits, join
    assert sts.words_to_block(decipher.decrypt(w, sts.key_bits(key))) == 0x0B19EB230100C207


def test_decipher_table_constant_is_the_inverse_permutation():
    # the constant in the meter image is exactly what the permutation P makes (no typo in 2 KB)
    assert len(sts.DECIPHER_TABLE) == 2048
    assert sts.DECIPHER_TABLE == sts.perm_table(sts.inverse(sts.P))
    assert sorted(sts.P) == list(range(64))


def test_decoding_allocates_no_table():
    # the tables exist before the first token (bytes constant): a decode on a fragmented heap
    # needs only small objects
    assert isinstance(sts.DECIPHER_TABLE, bytes)
    assert sts._decipher._t is sts.DECIPHER_TABLE


def test_meter_image_has_no_encoder():
    # nor the vending side's helpers (host_tools/sts.py): a time as a TID, a token printed
    for name in ("encode", "encode_block", "encode_key_change", "encode_test", "encode_amount",
                 "encode_currency", "sta_encrypt", "join_token", "Sta", "seconds_to_tid",
                 "format_token"):
        assert not hasattr(sts, name), name


def test_class_bit_transposition():
    # class 2 in N bits 28..27; block bits 28 and 27 travel in N bits 65 and 64
    n = (1 << 65) | (1 << 64) | (0xDEF0 << 48) | (0x9ABC << 32) | ((0x5678 | (2 << 11)) << 16) | 0x1234
    cls, back = sts.split_token(n)
    assert cls == 2 and back == [0x1234, 0x5678 | 0x1800, 0x9ABC, 0xDEF0]
    # CTSA11: test token with control bit 3 lands in block bit 27, i.e. token bit 64
    assert sts.parse_digits("18446744073843772416") >> 64 == 1


def test_parse_digits():
    assert sts.parse_digits("2371 6100 5011 8319 4197") == 23716100501183194197
    assert sts.parse_digits("00000000000150997584") == 150997584
    for bad in ("2371610050118319419", "237161005011831941970", "2371 6100 5011 8319 419x",
                "99999999999999999999", "", 12345):
        with raises(sts.TokenError) as e:
            sts.parse_digits(bad)
        assert e.value.code == "format"
    assert sts.parse_digits("73786976294838206463") == (1 << 66) - 1
    with raises(sts.TokenError):
        sts.parse_digits("73786976294838206464")


def test_amount_coding():
    for units, raw, _ in CTSA10_AMOUNTS:
        assert sts.decode_amount(raw) >= units
    assert sts.decode_amount(0x416A) == 20004
    assert sts.decode_amount(0xFFFF) == sts.AMOUNT_MAX == 18201624
    assert sts.decode_amount(0x4000) == 16384
    assert sts.decode_amount(0x8000) == 180224
    assert sts.decode_amount(0xC000) == 1818624


def test_ctsa01_credit_tokens_decode():
    for key, sub, when, text in CTSA01:
        tok = sts.decode(text, key)
        assert tok.cls == 0 and tok.subclass == sub and tok.kind == "credit"
        assert tok.rnd == 5 and tok.crc_ok
        assert tok.tid == minutes(*when)
        assert tok.raw_amount == 1 and tok.amount == 1
        assert tok.fields()["register"] == sts.CREDIT_REGISTERS[sub]


def test_ctsa10_amount_boundaries():
    for sub in range(3):
        for i in range(len(CTSA10_AMOUNTS)):
            units, raw, when = CTSA10_AMOUNTS[i]
            text = CTSA10_TOKENS[sub][i]
            tok = sts.decode(text, K1)
            assert (tok.cls, tok.subclass, tok.rnd) == (0, sub, 5)
            assert tok.tid == minutes(*when)
            assert tok.raw_amount == raw
            assert tok.amount == sts.decode_amount(raw)


def test_management_vectors():
    # CTSA03 set maximum power limit 1000 W; CTSA04 clear credit (all registers); CTSA06 clear
    # tamper; CTSA07 set maximum phase power unbalance limit 10 W
    cases = (
        (K1, "50901894209860263092", 0, (2004, 3, 28, 9, 1), "watts", 1000),
        (K1, "29511990995826640868", 1, (2004, 3, 28, 9, 15), "register", 0xFFFF),
        (K2, "69986678528351463847", 1, (2004, 3, 28, 9, 20), "register", 0xFFFF),
        (K1, "37037300014464855694", 5, (2004, 3, 28, 10, 0), "pad", 0),
        (K1, "30220533115430798647", 6, (2004, 3, 28, 10, 20), "watts", 10),
    )
    for key, text, sub, when, name, value in cases:
        tok = sts.decode(text, key)
        assert tok.cls == 2 and tok.subclass == sub and tok.rnd == 5
        assert tok.tid == minutes(*when)
        assert tok.fields()[name] == value
        assert tok.amount is None
    assert sts.decode("29511990995826640868", K1).fields()["all"] is True


def test_limit_vectors():
    for i in range(len(LIMIT_WATTS)):
        for sub, tokens, hour in ((0, CTSA12, 7), (6, CTSA13, 8)):
            tok = sts.decode(tokens[i], K1)
            assert tok.cls == 2 and tok.subclass == sub
            assert tok.tid == minutes(2004, 4, 1, hour, 5 * i)
            assert tok.fields()["watts"] == LIMIT_CODED[i]


def test_ctsa09_clear_credit_tids():
    expected = (("10208942296089183521", 0), ("20388873191656671689", 2),
                ("43348834939937913498", 3), ("51681104150374451564", 4),
                ("50526247723864280405", 5))
    for text, minute in expected:
        tok = sts.decode(text, K1)
        assert tok.kind == "clear_credit" and tok.tid == minutes(2004, 3, 29, 0, minute)


def test_key_change_vectors():
    # CTSA05: key changes from TI 01 to TI 02 (and back), encrypted with the old key
    k1_ti2 = sts.DecoderKey.from_hex("060b8643c59a27f1")
    k2_ti2 = sts.DecoderKey.from_hex("6221992f403a5877")
    cases = (
        (K1, k1_ti2, 2, "51638423060042734509", "15361891762113502242"),
        (k1_ti2, K1, 1, "26553210520543055412", "00943705441908264439"),
        (K2, k2_ti2, 2, "36495265416911568628", "35908059266238070883"),
    )
    for old, new, ti, t1, t2 in cases:
        a = sts.decode(t1, old)
        b = sts.decode(t2, old)
        assert a.kind == "key_change_1" and b.kind == "key_change_2"
        assert a.tid is None and b.tid is None
        kc = sts.key_change(b, a)
        assert kc["key"] == new.key_bytes
        assert (kc["key_revision"], kc["key_type"], kc["tariff_index"], kc["ken"]) == (1, 2, ti, 255)
        assert kc["rollover"] == 0
        with raises(sts.TokenError):
            sts.decode(t1, new)


def test_test_token_vectors():
    # CTSA02 (all control bits) and CTSA11 (one bit each), manufacturer code 0: not encrypted
    cases = (
        (0, 0xFFFFFFFFF, "56493153725450313471"),
        (1, 0xFFFFFFF, "02305843005052951967"),
        (0, 0x1, "00000000000150997584"), (0, 0x2, "00000000000167774880"),
        (0, 0x4, "00000000000201328896"), (0, 0x8, "18446744073843772416"),
        (0, 0x10, "36893488147553322496"), (0, 0x20, "00000000000671093248"),
        (0, 0x400, "00000000017314105857"),
        (1, 0x1, "01152921509036054672"), (1, 0x2, "01152921513331042448"),
        (1, 0x8, "01152921539100838034"), (1, 0x200, "01152923703764322536"),
    )
    for sub, control, text in cases:
        for key in (K1, K2):  # valid on every meter
            tok = sts.decode(text, key)
            assert tok.cls == 1 and tok.subclass == sub and tok.kind == "test"
            assert tok.fields()["control"] == control
            assert tok.fields()["manufacturer"] == 0
            assert tok.tid is None


def test_currency_credit_vector():
    # third-party vector (STSSimulator per its author): currency credit 100.00000 -> CRC_C
    key = sts.DecoderKey.from_hex("4530EDB79B5F083D", base_date=2014)
    tok = sts.decode("07420412750539184100", key)
    assert tok.cls == 0 and tok.subclass == 4 and tok.kind == "currency_credit"
    assert tok.amount == 10000624  # 10**-5 units: 100.00624, the next codable value >= 100
    assert tok.tid == minutes(2026, 9, 14, 10, 28, base=2014)


def test_other_published_tokens():
    # nxtgrid/nxt-sts integration test (decoder key 0123456789ABCDEF, base date 2014)
    key = sts.DecoderKey.from_hex("0123456789ABCDEF", base_date=2014)
    tid = minutes(2024, 3, 15, 10, 30, base=2014)
    for text, kind, name, value in (("58627975513348563046", "credit", "amount", 5),
                                    ("26950712002385255186", "clear_credit", "register", 0),
                                    ("15281476956190272101", "clear_tamper", "pad", 0),
                                    ("28227747371740445170", "set_max_power", "watts", 5000)):
        tok = sts.decode(text, key)
        assert tok.kind == kind and tok.rnd == 3 and tok.tid == tid
        assert tok.fields()[name] == value
    # kf_sts_token (STSSimulator-checked per its author): key E7B21AA9EC929C96
    key = sts.DecoderKey.from_hex("E7B21AA9EC929C96", base_date=2014)
    for text, sub, raw in (("63525115892327740484", 1, 10), ("35500312443047940328", 0, 100)):
        tok = sts.decode(text, key)
        assert tok.subclass == sub and tok.raw_amount == raw and tok.tid == 6675056


def test_wrong_key_is_a_crc_error():
    for key, sub, when, text in CTSA01:
        other = K2 if key is K1 else K1
        with raises(sts.TokenError) as e:
            sts.decode(text, other)
        assert e.value.code == "crc"
        tok = sts.decode(text, other, strict=False)
        assert not tok.crc_ok and tok.error == "crc"


def test_mistyped_digit_is_rejected():
    text = "23716100501183194197"
    for i in range(20):
        d = (int(text[i]) + 1) % 10
        typo = text[:i] + str(d) + text[i + 1:]
        with raises(sts.TokenError) as e:
            sts.decode(typo, K1)
        assert e.value.code in ("crc", "format", "class")


def test_unsupported_class_and_subclass():
    # well-formed blocks (valid CRC) the meter does not support: made by host_tools' encoder
    # (tests/test_sts_vending.py), recorded here so the meter-side test needs no encoder
    for n in (8916463813737446527, 1592434718136539477, 71041618441486856605,
              73219733237890560544, 2305863023895611862):
        with raises(sts.TokenError) as e:
            sts.decode(n, K1)
        assert e.value.code == "class"
        tok = sts.decode(n, K1, strict=False)
        assert tok.error == "class" and tok.crc_ok and not tok.authentic
    with raises(sts.TokenError) as e:
        sts.decode(1 << 66, K1)
    assert e.value.code == "format"


def test_key_expiry():
    # IEC 62055-41 / STS Association: the KEN is the top 8 bits of the last TID the key takes; a
    # token whose TID's top 8 bits exceed it is refused with a key expiry error
    assert sts.ken_expiry_tid(255) == sts.TID_MAX
    assert sts.ken_expiry_tid(0x59) == 0x59FFFF
    key = sts.DecoderKey.from_hex(K1_HEX, base_date=1993, expiry_tid=sts.ken_expiry_tid(0x59))
    ok = sts.decode("23716100501183194197", key)  # TID 0x599863
    assert ok.tid == 0x599863 and not ok.expired
    key.expiry_tid = 0x599863  # the boundary: a TID equal to the key's last TID is accepted
    assert not sts.decode("23716100501183194197", key).expired
    key.expiry_tid = 0x599862
    with raises(sts.TokenError) as e:
        sts.decode("23716100501183194197", key)
    assert e.value.code == "expired"
    tok = sts.decode("23716100501183194197", key, strict=False)
    assert tok.expired and tok.authentic  # made with this key, just too late for it
    # management tokens with a TID expire too (TID 0x59B0xx > 0x599862)
    with raises(sts.TokenError) as e:
        sts.decode("50901894209860263092", key)
    assert e.value.code == "expired"
    # key-change tokens carry no TID: an expired key still takes the change that replaces it
    assert sts.decode("51638423060042734509", key).kind == "key_change_1"
    assert sts.decode("15361891762113502242", key).kind == "key_change_2"


def test_authentic_only_with_this_meters_key():
    assert sts.decode("23716100501183194197", K1).authentic
    assert not sts.decode("23716100501183194197", K2, strict=False).authentic  # CRC fails
    # the public test token decodes on every meter but proves nothing about the key
    tok = sts.decode("56493153725450313471", K1)
    assert tok.kind == "test" and not tok.authentic


def test_tid_and_time():
    # seconds_to_tid (a time as the TID a token carries) is vending's: tests/test_sts_vending.py
    assert sts.tid_to_seconds(5871715, 1993) == civiltime.seconds(2004, 3, 1, 13, 55)
    assert sts.tid_to_seconds(0, 2014) == civiltime.seconds(2014, 1, 1)
    assert sts.tid_to_seconds(0, 2035) == civiltime.seconds(2035, 1, 1)
    # the 1993 base date ran out at TID 2**24 - 1 on 2024-11-24 20:15
    assert civiltime.iso(sts.tid_to_seconds(sts.TID_MAX, 1993)) == "2024-11-24T20:15:00"
    with raises(ValueError):
        sts.tid_to_seconds(0, 2000)


def test_decoder_key_validation():
    with raises(ValueError):
        sts.DecoderKey(bytes(7))
    with raises(ValueError):
        sts.DecoderKey(bytes(8), base_date=2000)
    with raises(ValueError):
        sts.DecoderKey.from_hex("xyz")
    assert sts.DecoderKey.from_hex(K1_HEX).hex() == K1_HEX


def test_token_error_code():
    e = sts.TokenError("crc")
    assert e.code == "crc" and isinstance(e, ValueError)


def test_tid_store_used_and_old():
    store = sts.TidStore(size=3)
    assert store.check(100) is None
    store.add(100)
    assert store.check(100) == "used"
    assert store.check(50) is None  # older but the store is not full: maybe a token bought earlier
    store.add(50)
    store.add(200)
    assert len(store) == 3
    assert store.check(10) == "old"
    assert store.check(75) is None
    store.add(300)  # forgets 50
    assert store.state() == {"tids": [100, 200, 300]}
    assert store.check(50) == "old"
    assert store.check(99) == "old"
    assert store.check(150) is None
    assert store.check(300) == "used"
    store.add(300)
    assert len(store) == 3 and store.newest() == 300


def test_tid_store_state_round_trip():
    store = sts.TidStore()
    for t in range(1000, 1100):
        store.add(t)
    assert len(store) == 50
    again = sts.TidStore()
    again.restore(store.state())
    assert again.state() == store.state()
    assert again.check(1099) == "used" and again.check(1049) == "old"
    small = sts.TidStore(size=5)
    small.restore(store.state())
    assert small.state() == {"tids": [1095, 1096, 1097, 1098, 1099]}
    junk = sts.TidStore()
    junk.restore({"tids": [5, "x", -1, 5, 1 << 30, 3]})
    assert junk.state() == {"tids": [3, 5]}
    junk.restore(None)
    assert len(junk) == 0


def test_keypad_guard_lockout_and_doubling():
    g = sts.KeypadGuard()
    t = 1000
    for _ in range(4):
        assert g.record(False, t) == (True, 0)
    assert g.record(False, t) == (False, 300)
    assert g.allowed(t + 299) == (False, 1)
    assert g.allowed(t + 300) == (True, 0)
    t += 300
    for _ in range(4):
        g.record(False, t)
    assert g.record(False, t) == (False, 600)  # second lockout: doubled
    t += 600
    for _ in range(5):
        g.record(False, t)
    assert g.allowed(t) == (False, 1200)
    t += 1200
    g.record(False, t)
    g.record(True, t)  # a valid token resets the count and the doubling
    for _ in range(5):
        g.record(False, t)
    assert g.allowed(t) == (False, 300)


def test_keypad_guard_entries_while_locked_do_not_count():
    g = sts.KeypadGuard(max_failures=2, lock_minutes=1)
    g.record(False, 0)
    g.record(False, 0)
    assert g.record(False, 30) == (False, 30)
    assert g.record(True, 30) == (False, 30)
    assert g.allowed(60) == (True, 0)
    assert g.failures() == 0


def test_keypad_guard_cap_clock_and_state():
    g = sts.KeypadGuard(max_failures=1, lock_minutes=5, max_lock_minutes=12)
    g.record(False, 0)
    assert g.allowed(0) == (False, 300)
    g.record(False, 300)
    assert g.allowed(300) == (False, 600)
    g.record(False, 900)
    assert g.allowed(900) == (False, 720)  # capped
    # the clock jumps backwards: never locked longer than the lockout itself
    assert g.allowed(0) == (False, 720)
    saved = g.state(100)
    assert saved["left"] == 620
    # restored on the next run, whose clock starts again near 0: the 620 s still to wait hold
    h = sts.KeypadGuard(max_failures=1, lock_minutes=5, max_lock_minutes=12)
    h.restore(saved, 5)
    assert h.state(5) == saved
    assert h.allowed(624) == (False, 1)
    assert h.allowed(625) == (True, 0)
    h.restore({}, 0)
    assert h.allowed(0) == (True, 0)


def test_keypad_guard_count_survives_a_restart():
    g = sts.KeypadGuard()
    for _ in range(4):
        g.record(False, 50)
    h = sts.KeypadGuard()
    h.restore(g.state(60), 0)
    assert h.failures() == 4
    assert h.record(False, 1) == (False, 300)  # the fifth failure, after the restart, locks


def test_keypad_guard_restores_an_old_rtc_based_record_locked():
    h = sts.KeypadGuard()
    h.restore({"fails": 0, "lockouts": 1, "until": 812345678, "lock_s": 300}, 0)
    assert h.allowed(0) == (False, 300)
