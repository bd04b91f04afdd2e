"""store.Store / store.Log on a plain directory (CPython and the MicroPython unix port)."""
import os
from binascii import hexlify

import store
from _check import raises


def _tmpdir():
    path = "/tmp/store_test_" + hexlify(os.urandom(6)).decode()
    os.mkdir(path)
    return path


def _rmtree(path):
    for name in os.listdir(path):
        p = path + "/" + name
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
    os.rmdir(path)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


REG = {"imp_mWh": 123456789, "exp_mWh": 42, "tariff": "DOM-1", "slabs": [100, 200, 300]}


# -- Store ---------------------------------------------------------------------------------
def test_save_load_roundtrip_and_missing():
    d = _tmpdir()
    try:
        st = store.Store(d + "/data")  # created if missing
        assert st.load("reg") is None
        assert st.save("reg", REG) == 1
        assert st.load("reg") == REG
        assert store.Store(d + "/data").load("reg") == REG  # from the files, not memory
        assert st.discarded() == []
    finally:
        _rmtree(d)


def test_slots_alternate_and_newest_wins():
    d = _tmpdir()
    try:
        st = store.Store(d)
        st.save("bal", {"v": 1})
        assert _exists(d + "/bal.a") and not _exists(d + "/bal.b")
        st.save("bal", {"v": 2})
        assert _exists(d + "/bal.b")
        a_before = _read(d + "/bal.a")
        b_before = _read(d + "/bal.b")
        assert st.save("bal", {"v": 3}) == 3
        assert _read(d + "/bal.a") != a_before  # the older slot was rewritten
        assert _read(d + "/bal.b") == b_before  # the newest slot was not touched
        assert store.Store(d).load("bal") == {"v": 3}
        assert st.writes == 3
    finally:
        _rmtree(d)


def test_fresh_store_writes_the_older_slot_without_load():
    d = _tmpdir()
    try:
        st = store.Store(d)
        st.save("x", {"v": 1})
        st.save("x", {"v": 2})  # newest in b
        b = _read(d + "/x.b")
        st2 = store.Store(d)  # a reboot: no load() before save()
        assert st2.save("x", {"v": 3}) == 3
        assert _read(d + "/x.b") == b
        assert store.Store(d).load("x") == {"v": 3}
    finally:
        _rmtree(d)


def test_header_format():
    d = _tmpdir()
    try:
        st = store.Store(d)
        st.save("fmt", {"k": 1})
        raw = _read(d + "/fmt.a")
        import struct

        magic, seq, length = struct.unpack("<4sII", raw[:12])
        (crc,) = struct.unpack("<I", raw[-4:])
        assert magic == b"MRc2" and seq == 1 and length == len(raw) - 16
        assert raw[12:-4] == b'{"k":1}'
        assert crc == store.crc32(raw[12:-4], store.crc32(raw[:12], store.crc32(b"fmt"))) & 0xFFFFFFFF
    finally:
        _rmtree(d)


def _corrupt_case(mangle, reason):
    d = _tmpdir()
    try:
        st = store.Store(d)
        st.save("acct", {"paise": 100})
        st.save("acct", {"paise": 200})  # newest in b
        _write(d + "/acct.b", mangle(_read(d + "/acct.b")))
        st2 = store.Store(d)
        assert st2.load("acct") == {"paise": 100}
        assert st2.discarded() == [("acct", "b", reason)]
        assert st2.discarded() == []  # drained
        # the next save goes to the bad slot, never over the good one
        a = _read(d + "/acct.a")
        st2.save("acct", {"paise": 300})
        assert _read(d + "/acct.a") == a
        assert store.Store(d).load("acct") == {"paise": 300}
    finally:
        _rmtree(d)


def _framed(name, seq, payload):
    """A copy exactly as Store writes it, around any payload (valid CRC, maybe not JSON)."""
    import struct

    head = struct.pack("<4sII", b"MRc2", seq, len(payload))
    crc = store.crc32(payload, store.crc32(head, store.crc32(name.encode()))) & 0xFFFFFFFF
    return head + payload + struct.pack("<I", crc)


def test_only_the_newest_copy_is_decoded():
    d = _tmpdir()
    try:
        _write(d + "/acct.a", _framed("acct", 1, b"{not json: never parsed"))
        _write(d + "/acct.b", _framed("acct", 2, b'{"paise":200}'))
        st = store.Store(d)
        assert st.load("acct") == {"paise": 200}
        assert st.discarded() == []  # the older copy was never parsed: one record's heap, not two
    finally:
        _rmtree(d)


def test_a_newest_copy_that_is_not_json_falls_back_to_the_older():
    d = _tmpdir()
    try:
        _write(d + "/acct.a", _framed("acct", 1, b'{"paise":100}'))
        _write(d + "/acct.b", _framed("acct", 2, b"{not json"))
        st = store.Store(d)
        assert st.load("acct") == {"paise": 100}
        assert st.discarded() == [("acct", "b", "json")]
        st.save("acct", {"paise": 300})  # over the bad copy
        assert _read(d + "/acct.a") == _framed("acct", 1, b'{"paise":100}')
        assert store.Store(d).load("acct") == {"paise": 300}
    finally:
        _rmtree(d)


def test_bitflip_in_payload_discarded():
    def flip(raw):
        b = bytearray(raw)
        b[20] ^= 0x04
        return bytes(b)

    _corrupt_case(flip, "crc")


def test_bitflip_in_seq_discarded():
    def flip(raw):
        b = bytearray(raw)
        b[4] ^= 0x80  # a huge seq must not win
        return bytes(b)

    _corrupt_case(flip, "crc")


def test_truncated_copy_discarded():
    _corrupt_case(lambda raw: raw[:-3], "length")


def test_extended_copy_discarded():
    _corrupt_case(lambda raw: raw + b"\x00", "length")


def test_empty_copy_discarded():
    _corrupt_case(lambda raw: b"", "short")


def test_header_only_garbage_discarded():
    _corrupt_case(lambda raw: b"\xff" * len(raw), "magic")


def test_huge_length_field_discarded_without_reading():
    def big(raw):
        b = bytearray(raw)
        b[8:12] = b"\xff\xff\xff\x7f"
        return bytes(b)

    _corrupt_case(big, "length")


def test_copy_under_another_name_does_not_validate():
    d = _tmpdir()
    try:
        st = store.Store(d)
        st.save("cal", {"gain": 1})
        _write(d + "/prov.a", _read(d + "/cal.a"))
        st2 = store.Store(d)
        assert st2.load("prov") is None
        assert st2.discarded() == [("prov", "a", "crc")]
    finally:
        _rmtree(d)


def test_both_copies_bad():
    d = _tmpdir()
    try:
        st = store.Store(d)
        st.save("r", {"v": 1})
        st.save("r", {"v": 2})
        _write(d + "/r.a", b"junk")
        _write(d + "/r.b", b"")
        st2 = store.Store(d)
        assert st2.load("r") is None
        assert st2.discarded() == [("r", "a", "short"), ("r", "b", "short")]
        st2.save("r", {"v": 3})
        assert store.Store(d).load("r") == {"v": 3}
    finally:
        _rmtree(d)


def test_names_checked_and_size_limited():
    d = _tmpdir()
    try:
        st = store.Store(d)
        for bad in ("", "a/b", "a.b", "../x", "sp ace"):
            with raises(ValueError):
                st.save(bad, {})
        with raises(ValueError):
            st.save("big", {"s": "x" * (store.MAX_RECORD + 1)})
        assert not _exists(d + "/big.a")
    finally:
        _rmtree(d)


def test_delete_removes_both():
    d = _tmpdir()
    try:
        st = store.Store(d)
        st.save("p", {"v": 1})
        st.save("p", {"v": 2})
        st.delete("p")
        assert not _exists(d + "/p.a") and not _exists(d + "/p.b")
        assert st.load("p") is None
        st.save("p", {"v": 9})
        assert store.Store(d).load("p") == {"v": 9}
    finally:
        _rmtree(d)


def test_many_saves_keep_two_files():
    d = _tmpdir()
    try:
        st = store.Store(d)
        for i in range(25):
            st.save("e", {"i": i})
        assert sorted(os.listdir(d)) == ["e.a", "e.b"]
        assert store.Store(d).load("e") == {"i": 24}
    finally:
        _rmtree(d)


# -- Log -----------------------------------------------------------------------------------
def _ev(i):
    return {"t": 1000 + i, "code": "E%d" % (i % 5)}


def test_log_append_records_last():
    d = _tmpdir()
    try:
        log = store.Log(d, "events", 10)
        assert log.records() == [] and log.last(3) == [] and log.count() == 0
        for i in range(4):
            log.append(_ev(i))
        assert log.records() == [_ev(i) for i in range(4)]
        assert log.last(2) == [_ev(2), _ev(3)]
        assert log.last(99) == log.records()
        assert log.last(0) == []
        assert log.writes == 4
        assert store.Log(d, "events", 10).records() == log.records()
    finally:
        _rmtree(d)


def test_log_capacity_and_segments():
    d = _tmpdir()
    try:
        log = store.Log(d, "ev", 7, seg_bytes=120)  # ~3 records per segment
        for i in range(40):
            log.append(_ev(i))
            want = [_ev(k) for k in range(max(0, i - 6), i + 1)]
            assert log.records() == want, i
            assert log.count() == len(want)
        files = [n for n in os.listdir(d) if n.startswith("ev.")]
        per_seg = 120 // (8 + len(store._encode(_ev(0))))
        assert len(files) <= 7 // per_seg + 2, files  # bounded: whole old segments deleted
        again = store.Log(d, "ev", 7, seg_bytes=120)
        assert again.records() == [_ev(k) for k in range(33, 40)]
        assert again.last(3) == [_ev(37), _ev(38), _ev(39)]
        again.append(_ev(40))
        assert again.records() == [_ev(k) for k in range(34, 41)]
    finally:
        _rmtree(d)


def test_log_append_is_one_small_write():
    d = _tmpdir()
    try:
        log = store.Log(d, "ev", 100)
        for i in range(10):
            log.append(_ev(i))
        size = os.stat(d + "/ev.0")[6]
        log.append(_ev(10))
        grew = os.stat(d + "/ev.0")[6] - size
        assert grew == 8 + len(store._encode(_ev(10)))  # header + payload, nothing rewritten
    finally:
        _rmtree(d)


def test_log_torn_tail_ignored_and_next_append_in_new_segment():
    d = _tmpdir()
    try:
        log = store.Log(d, "ev", 50)
        for i in range(3):
            log.append(_ev(i))
        raw = _read(d + "/ev.0")
        with open(d + "/ev.0", "ab") as f:  # a half-written record after the good ones
            f.write(raw[:11])
        log2 = store.Log(d, "ev", 50)
        assert log2.records() == [_ev(0), _ev(1), _ev(2)]
        disc = log2.discarded()
        assert len(disc) == 1 and disc[0][0] == "ev" and disc[0][1] == 0
        assert disc[0][2].startswith("short") or disc[0][2].startswith("magic")
        log2.append(_ev(3))
        assert _exists(d + "/ev.1")
        assert store.Log(d, "ev", 50).records() == [_ev(i) for i in range(4)]
    finally:
        _rmtree(d)


def test_log_corrupt_record_ends_segment():
    d = _tmpdir()
    try:
        log = store.Log(d, "ev", 50)
        for i in range(5):
            log.append(_ev(i))
        raw = bytearray(_read(d + "/ev.0"))
        rec = 8 + len(store._encode(_ev(0)))
        raw[2 * rec + 10] ^= 1  # inside the third record's payload
        _write(d + "/ev.0", raw)
        log2 = store.Log(d, "ev", 50)
        assert log2.records() == [_ev(0), _ev(1)]
        assert log2.discarded() == [("ev", 0, "crc @%d" % (2 * rec))]
        log2.append(_ev(9))
        assert store.Log(d, "ev", 50).records() == [_ev(0), _ev(1), _ev(9)]
    finally:
        _rmtree(d)


def test_log_via_store_shares_root_counter_and_discards():
    d = _tmpdir()
    try:
        st = store.Store(d)
        log = store.Log(st, "bill", 3)
        log.append({"m": 1})
        st.save("bill", {"x": 1})  # a record and a log of the same name do not collide
        assert st.writes == 2
        assert sorted(os.listdir(d)) == ["bill.0", "bill.a"]
        with open(d + "/bill.0", "ab") as f:
            f.write(b"\x4c\x01\x05")
        st2 = store.Store(d)
        assert store.Log(st2, "bill", 3).records() == [{"m": 1}]
        assert st2.load("bill") == {"x": 1}
        assert st2.discarded() == [("bill", 0, "short @%d" % (8 + len(b'{"m":1}')))]
    finally:
        _rmtree(d)


def test_log_rejects_bad_args():
    d = _tmpdir()
    try:
        with raises(ValueError):
            store.Log(d, "ev", 0)
        with raises(ValueError):
            store.Log(d, "e.v", 5)
        log = store.Log(d, "ev", 5)
        with raises(ValueError):
            log.append({"s": "x" * 5000})
        assert log.records() == []
    finally:
        _rmtree(d)


def test_log_empty_segment_file_is_fine():
    d = _tmpdir()
    try:
        log = store.Log(d, "ev", 5)
        log.append(_ev(0))
        _write(d + "/ev.1", b"")  # created, then the power went before the first record
        log2 = store.Log(d, "ev", 5)
        assert log2.records() == [_ev(0)] and log2.discarded() == []
        log2.append(_ev(1))
        assert store.Log(d, "ev", 5).records() == [_ev(0), _ev(1)]
    finally:
        _rmtree(d)


def test_iter_records_yields_what_records_returns_segment_by_segment():
    log = store.Log(_tmpdir(), "ev", 25, seg_bytes=256)
    for i in range(60):
        log.append({"i": i})
    assert list(log.iter_records()) == log.records()
    assert [r["i"] for r in log.iter_records()] == list(range(60 - log.count(), 60))
