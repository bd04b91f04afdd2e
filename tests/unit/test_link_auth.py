"""The service-port protocol and its authentication, without a meter: framing, errors, HMAC."""
import binascii
import json

import auth
import link
from _check import raises
from _clock import Clock
from _port import Port


def _urandom(n):
    return bytes(range(n))


def _link(data, key=None, seq=0):
    clock = Clock()
    a = auth.LinkAuth(clock, _urandom, key, seq)
    changed = []
    cmds = {
        "ping": (lambda args: {"pong": args}, False),
        "set": (lambda args: changed.append(args) or {"set": args}, True),
        "boom": (lambda args: int("x"), False),
    }
    port = Port(data)
    lk = link.Link(port, a, cmds)
    return lk, port, a, clock, changed


def _mac(key, challenge, seq, line):
    return binascii.hexlify(auth.hmac_sha256(key, ("%s\n%d\n%s" % (challenge, seq, line)).encode())).decode()


def test_hmac_rfc4231_case_2():
    mac = auth.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert binascii.hexlify(mac) == b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_hmac_long_key_is_hashed_first():
    key = b"\xaa" * 131
    mac = auth.hmac_sha256(key, b"Test Using Larger Than Block-Size Key - Hash Key First")
    assert binascii.hexlify(mac) == b"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def test_one_reply_per_line_and_json():
    lk, port, _, _, _ = _link(b"ping a\r\nping b\n\n")
    lk.poll()
    r = port.replies()
    assert len(r) == 2
    assert r[0].startswith("OK ") and json.loads(r[0][3:]) == {"pong": "a"}


def test_unknown_command_and_binary_and_overlong():
    data = b"nosuch\n" + b"pi\x03ng\n" + b"\x04\n" + b"x" * 1300 + b"\nping ok\n"
    lk, port, _, _, _ = _link(data)
    lk.poll()
    r = port.replies()
    assert r[0].startswith("ERR 404")
    assert r[1].startswith("ERR 400") and r[2].startswith("ERR 400")
    assert r[3].startswith("ERR 413")
    assert r[4] == 'OK {"pong": "ok"}'


def test_a_line_split_across_reads_is_one_request():
    lk, port, _, _, _ = _link(b"pi")
    lk.poll()
    assert port.replies() == []
    port.rx.extend(b"ng z\n")
    lk.poll()
    assert len(port.replies()) == 1


def test_bad_argument_is_an_error_not_a_crash():
    lk, port, _, _, _ = _link(b"boom\n")
    lk.poll()
    assert port.replies()[0].startswith("ERR 422")


def test_changes_need_auth():
    key = b"k" * 32
    lk, port, _, _, changed = _link(b"set 1\n", key)
    lk.poll()
    assert port.replies()[0].startswith("ERR 401")
    assert changed == []


def test_authenticated_command_and_no_replay():
    key = b"k" * 32
    lk, port, a, _, changed = _link(b"", key)
    ch = a.challenge()
    line = "auth 1 %s set 5" % _mac(key, ch, 1, "set 5")
    assert lk.handle(line).startswith("OK")
    assert changed == ["5"]
    # the same line again: its challenge is gone
    assert lk.handle(line).startswith("ERR 403")
    # a fresh challenge but a used sequence number
    ch = a.challenge()
    assert lk.handle("auth 1 %s set 5" % _mac(key, ch, 1, "set 5")).startswith("ERR 403")
    assert changed == ["5"]


def test_wrong_key_locks_out_with_growing_delay():
    key = b"k" * 32
    lk, port, a, clock, changed = _link(b"", key)
    for i in range(3):
        ch = a.challenge()
        assert lk.handle("auth %d %s set 1" % (i + 1, _mac(b"w" * 32, ch, i + 1, "set 1"))).startswith("ERR 403")
    ch = a.challenge()
    r = lk.handle("auth 9 %s set 1" % _mac(key, ch, 9, "set 1"))
    assert r.startswith("ERR 423"), r  # locked even with the right key
    clock.ms += 3000
    ch = a.challenge()
    assert lk.handle("auth 9 %s set 1" % _mac(key, ch, 9, "set 1")).startswith("OK")
    assert changed == ["1"]


def test_factory_meter_without_key_refuses_auth():
    lk, port, a, _, _ = _link(b"")
    a.challenge()
    with raises(auth.AuthError) as e:
        a.verify("1", "00", "set 1")
    assert e.value.code == 503


def test_a_request_id_is_echoed_before_the_reply():
    lk, port, _, _, _ = _link(b"@7 ping a\n@A9z ping b\r\nping c\n")
    lk.poll()
    r = port.replies()
    assert r[0] == '@7 OK {"pong": "a"}'
    assert r[1] == '@A9z OK {"pong": "b"}'
    assert r[2] == 'OK {"pong": "c"}'  # without an id: answered as before
    assert lk.requests == 3


def test_errors_carry_the_request_id_too():
    data = b"@1 nosuch\n" + b"@2 pi\x03ng\n" + b"@3 " + b"x" * 1300 + b"\n@4\n@5   \n"
    lk, port, _, _, _ = _link(data)
    lk.poll()
    r = port.replies()
    assert r[0].startswith("@1 ERR 404")
    assert r[1].startswith("@2 ERR 400")
    assert r[2].startswith("@3 ERR 413")
    assert r[3].startswith("@4 ERR 400 no command")  # an id alone still gets its answer
    assert r[4].startswith("@5 ERR 400 no command")
    assert len(r) == 5


def test_a_malformed_request_id_is_refused_without_an_echo():
    lk, port, _, _, changed = _link(b"@ ping\n@123456789 ping\n@a-b ping\n@\xff1 ping\n@12345678 ping x\n")
    lk.poll()
    r = port.replies()
    assert r[0].startswith("ERR 400 malformed request id")
    assert r[1].startswith("ERR 400 malformed request id")  # 9 characters: too long
    assert r[2].startswith("ERR 400 malformed request id")
    assert r[3].startswith("@1 ERR 400 binary")  # the id is the printable part of the line
    assert r[4] == '@12345678 OK {"pong": "x"}'
    assert lk.requests == 1


def test_an_authenticated_request_with_an_id():
    key = b"k" * 32
    lk, port, a, _, changed = _link(b"", key)
    ch = a.challenge()
    port.rx.extend(("@c1 auth 1 %s set 5\n" % _mac(key, ch, 1, "set 5")).encode())
    lk.poll()
    assert port.replies() == ['@c1 OK {"set": "5"}']  # the MAC covers the command, not the id
    assert changed == ["5"]


def test_sequence_is_persisted_before_the_command_runs():
    key = b"k" * 32
    clock = Clock()
    a = auth.LinkAuth(clock, _urandom, key, 0)
    saved = []
    a.persist = lambda: saved.append(a.state())
    seen = []

    def refuse(args):
        seen.append(list(saved))  # what was on "flash" when the handler ran
        raise link.CommandError(422, "refused")

    lk = link.Link(Port(), a, {"set": (refuse, True)})
    ch = a.challenge()
    assert lk.handle("auth 5 %s set x" % _mac(key, ch, 5, "set x")).startswith("ERR 422")
    assert seen == [[{"seq": 5, "fails": 0, "lock_s": 0}]]  # saved before the handler, not after
    # after a restart from that record, the captured line is stale
    b = auth.LinkAuth(Clock(), _urandom, key)
    b.restore(saved[-1])
    assert b.seq == 5
    ch = b.challenge()
    with raises(auth.AuthError) as e:
        b.verify("5", _mac(key, ch, 5, "set x"), "set x")
    assert e.value.code == 403


def test_wrong_mac_count_and_lockout_survive_a_restart():
    key = b"k" * 32
    a = auth.LinkAuth(Clock(), _urandom, key, 0)
    saved = []
    a.persist = lambda: saved.append(a.state())
    for i in range(4):
        ch = a.challenge()
        with raises(auth.AuthError):
            a.verify(str(i + 1), _mac(b"w" * 32, ch, i + 1, "set"), "set")
        if i >= 2:
            break
    assert saved[-1] == {"seq": 0, "fails": 3, "lock_s": 2}
    clock = Clock()
    clock.ms = 987654  # the restarted MCU's ticks start anywhere
    b = auth.LinkAuth(clock, _urandom, key)
    b.restore(saved[-1])
    assert b.locked_for_s() == 2  # restarts in full
    ch = b.challenge()
    with raises(auth.AuthError) as e:
        b.verify("1", _mac(key, ch, 1, "set"), "set")
    assert e.value.code == 423
    clock.ms += 2000
    ch = b.challenge()
    assert b.verify("1", _mac(key, ch, 1, "set"), "set") == 1
    assert b.state() == {"seq": 1, "fails": 0, "lock_s": 0}
    # the next failure after a restart continues the count (4th in a row: 4 s)
    c = auth.LinkAuth(Clock(), _urandom, key)
    c.restore({"seq": 1, "fails": 3, "lock_s": 0})
    ch = c.challenge()
    with raises(auth.AuthError) as e:
        c.verify("2", _mac(b"w" * 32, ch, 2, "set"), "set")
    assert "locked for 4 s" in e.value.message
