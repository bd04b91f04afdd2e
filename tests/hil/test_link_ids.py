"""Every reply belongs to its request: a reply nobody read, or one meant for another program,
never answers the next request (docs/link-protocol.md, request ids)."""
import json

from host_tools.link import mac

CONFIG = "examples/meter.toml"


def test_a_reply_nobody_read_does_not_answer_the_next_request(meter_factory):
    m = meter_factory(config=CONFIG)
    # a program asked `info` and gave up before the reply came (with an id, and without: an old tool)
    m.link.send_raw(b"@1a2b3c4d info\n")
    m.link.send_raw(b"info\n")
    st = m.link.call("status")
    assert "balance_paise" in st and "firmware" not in st
    assert m.link.call("energy")["import_mwh"] == st["energy_import_mwh"]
    # the meter echoes the id it was given, and answers a request without one as it always did
    m.link.send_raw(b"@q7 clock\n")
    assert m.link.read_line().startswith("@q7 OK {")
    m.link.send_raw(b"relay\n")
    assert json.loads(m.link.read_line()[3:])["relay"] == "closed"


def test_authentication_after_a_stale_challenge_succeeds_and_counts_no_failure(meter_factory):
    m = meter_factory(config=CONFIG)
    seq0 = m.link.call("challenge")["seq"]
    for i in range(3):  # three failures in a row would lock the link: none is counted
        m.link.send_raw(b"challenge\n")  # its reply (an older challenge) waits, unread
        r = m.link.call("credit 1000 STALE-%d" % i, key=m.key)
        assert r["credited"] == 1000 and r["duplicate"] is False
    ch = m.link.call("challenge")
    assert ch["seq"] == seq0 + 3  # each command accepted once
    # the failure count starts from zero: two forgeries are refused, the third locks
    for n in range(3):
        ch = m.link.call("challenge")
        seq = ch["seq"] + 1
        line = "credit 1 FORGED"
        reply = m.link.command("auth %d %s %s" % (seq, mac(b"\x11" * 32, ch["challenge"], seq, line), line))
        assert reply.startswith("ERR 403")
        assert ("locked" in reply) == (n == 2), reply


def test_request_ids_across_programs_sharing_the_port(meter_factory):
    """meterctl gave up on a request; the harness's next request gets its own reply (the report that
    started issue #22: `status` was answered with meterctl's `info`)."""
    m = meter_factory(config=CONFIG)
    with m.port_released() as port:
        from host_tools.link import Link

        other = Link(port, timeout=2)
        other.send_raw(b"@00000001 info\n")  # another program's request, its reply left unread
        other.close()
    assert "firmware" not in m.link.call("status")
