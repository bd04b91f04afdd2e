"""The host's link client (host_tools/link.py) against a scripted meter on a pty: every request
gets the reply carrying its id; stale replies, replies to other programs' requests and console
text (the ESP32 boot ROM, ESP-IDF log lines, the MicroPython banner) are skipped and logged."""
import logging
import os
import re
import termios
import threading
import tty

import pytest

from host_tools.link import Link, LinkError, parse_reply

BOOT_ROM = (b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
            b"configsip: 0, SPIWP:0xee\r\nmode:DIO, clock div:2\r\nload:0x3fff0030,len:4540\r\n"
            b"entry 0x400805e4\r\n\xff\x00\xfe garbage at the wrong baud rate\r\n")
IDF_LOG = b"I (527) cpu_start: Pro cpu up.\r\nW (1032) phy_init: failed to load RF calibration data\r\n"
REQUEST = re.compile(rb"^@([0-9a-f]{8}) (.*)$")


class ScriptedMeter:
    """Plays the meter on the master side of a pty: `answer(rid, line)` returns the bytes to send."""

    def __init__(self, answer):
        self.master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(self.master)
        self.port = os.ttyname(slave)
        self._slave = slave
        self.answer = answer
        self.requests = []
        self._stop = False
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self):
        buf = b""
        while not self._stop:
            try:
                chunk = os.read(self.master, 1024)
            except OSError:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.requests.append(line)
                m = REQUEST.match(line)
                out = self.answer(m.group(1).decode() if m else None, (m.group(2) if m else line).decode())
                if out:
                    os.write(self.master, out)

    def close(self):
        self._stop = True
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def scripted():
    made = []

    def make(answer):
        s = ScriptedMeter(answer)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_the_reply_with_our_id_is_taken_whatever_comes_before_it(scripted, caplog):
    def answer(rid, line):
        return (BOOT_ROM + IDF_LOG + b"# meter firmware 1.0 board=esp32 serial=X reset=power_on\r\n"
                + b'OK {"firmware": "stale, nobody asked"}\r\n'  # a reply without an id: stale
                + b'@0badc0de OK {"from": "another program"}\r\n'
                + b"@%s OK {\"echo\": \"%s\"}\r\n" % (rid.encode(), line.encode()))

    meter = scripted(answer)
    link = Link(meter.port, timeout=3)
    with caplog.at_level(logging.DEBUG, logger="host_tools.link"):
        assert link.call("status") == {"echo": "status"}
        assert link.call("info") == {"echo": "info"}
    link.close()
    assert link.notices == ["# meter firmware 1.0 board=esp32 serial=X reset=power_on"] * 2
    text = caplog.text
    assert "skipped console text: 'I (527) cpu_start: Pro cpu up.'" in text
    assert "rst:0x1 (POWERON_RESET)" in text
    assert "discarded a reply without a request id" in text
    assert "discarded the reply to another request (@0badc0de)" in text
    ids = [REQUEST.match(r).group(1) for r in meter.requests]
    assert len(set(ids)) == 2  # a fresh id for each request


def test_input_waiting_before_a_request_is_dropped(scripted, caplog):
    replies = []

    def answer(rid, line):
        replies.append(rid)
        if len(replies) == 1:
            return None  # the first request is never answered in time: its caller gives up
        return b"@%s OK {\"n\": %d}\r\n" % (rid.encode(), len(replies))

    meter = scripted(answer)
    link = Link(meter.port, timeout=0.5)
    with pytest.raises(LinkError):
        link.command("info")
    # the late reply to the abandoned request arrives before the next request goes out
    os.write(meter.master, b"@%s OK {\"late\": true}\r\n" % replies[0].encode())
    with caplog.at_level(logging.DEBUG, logger="host_tools.link"):
        assert link.call("status", timeout=3) == {"n": 2}
    assert "late" in caplog.text and "discarded" in caplog.text
    link.close()


def test_authentication_after_a_stale_challenge_uses_the_fresh_one(scripted):
    issued = []

    def answer(rid, line):
        if line == "challenge":
            issued.append("%032x" % len(issued))
            # the reply to an older, abandoned `challenge` is still on the line first
            return (b'OK {"challenge": "ffffffffffffffffffffffffffffffff", "seq": 0}\r\n'
                    + b'@%s OK {"challenge": "%s", "seq": 4}\r\n' % (rid.encode(), issued[-1].encode()))
        if line.startswith("auth "):
            _, seq, mac, cmd = line.split(" ", 3)
            from host_tools.link import mac as mac_of

            ok = seq == "5" and mac == mac_of(b"k" * 32, issued[-1], 5, cmd)
            return b"@%s %s\r\n" % (rid.encode(), b"OK {}" if ok else b"ERR 403 wrong MAC")
        return None

    meter = scripted(answer)
    link = Link(meter.port, timeout=3)
    assert link.call("relay auto", key=b"k" * 32) == {}
    link.close()


def test_a_meter_from_before_request_ids_is_still_understood(scripted, caplog):
    def answer(rid, line):
        if rid is not None:  # old firmware: '@...' is an unknown command
            return b"ERR 404 unknown command '@%s': try `help`\r\n" % rid.encode()[:19]
        return b'OK {"old": "%s"}\r\n' % line.encode()

    meter = scripted(answer)
    link = Link(meter.port, timeout=3)
    with caplog.at_level(logging.WARNING, logger="host_tools.link"):
        assert link.call("status") == {"old": "status"}
    assert "predates request ids" in caplog.text
    assert link.call("info") == {"old": "info"}  # no more ids on this link
    assert meter.requests[-1] == b"info"
    link.close()


def test_no_reply_says_what_the_port_printed(scripted):
    def answer(rid, line):  # a board at the MicroPython REPL echoes the line and complains
        return (b"MicroPython v1.28.0 on 2026-01-01; Generic ESP32 module with ESP32\r\n"
                + line.encode() + b"\r\nSyntaxError: invalid syntax\r\n>>> ")

    meter = scripted(answer)
    link = Link(meter.port, timeout=0.5)
    with pytest.raises(LinkError) as e:
        link.command("status")
    assert "SyntaxError" in str(e.value) and ">>>" in str(e.value)
    link.close()


def test_parse_reply_is_unchanged_by_ids():
    assert parse_reply('OK {"a": 1}') == {"a": 1}


def test_the_port_is_left_so_a_program_after_a_simulated_repl_never_reads_nothing():
    """A simulated board's REPL saves the pty's settings and restores them (with a flush) around
    every line; whatever a link left there reaches mpremote in the middle of a deploy. With VMIN=0
    a read after such a flush returns nothing, which pyserial reports as a disconnected device
    (a deploy failed so); with VMIN=1 the read just waits for data."""
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    try:
        Link(os.ttyname(slave), timeout=1).close()
        saved = termios.tcgetattr(master)  # what the REPL saves, through its end of the pty
        termios.tcsetattr(master, termios.TCSAFLUSH, saved)  # and restores after the line
        fd = os.open(os.ttyname(slave), os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            with pytest.raises(BlockingIOError):
                os.read(fd, 1)
        finally:
            os.close(fd)
    finally:
        os.close(master)
        os.close(slave)
