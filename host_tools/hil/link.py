"""The host end of the meter's service-port protocol (docs/link-protocol.md), over pyserial.

`command(line)` sends one request and returns the reply line. With `key` it performs the
authenticated exchange: `challenge`, then `auth <seq> <mac> <line>` with
mac = HMAC-SHA256(key, challenge \\n seq \\n line).
"""
import hashlib
import hmac
import json
import time

import serial


class LinkError(Exception):
    """The port could not be opened or the meter did not answer."""


class MeterError(Exception):
    """The meter answered `ERR <code> <message>`."""

    def __init__(self, code, message):
        super().__init__("ERR %d %s" % (code, message))
        self.code = code
        self.message = message


def mac(key, challenge, seq, line):
    return hmac.new(key, ("%s\n%d\n%s" % (challenge, seq, line)).encode(), hashlib.sha256).hexdigest()


def parse_reply(reply):
    """'OK {...}' -> dict; 'ERR c m' -> MeterError raised."""
    if reply.startswith("OK"):
        body = reply[2:].strip()
        return json.loads(body) if body else {}
    if reply.startswith("ERR "):
        code, _, msg = reply[4:].partition(" ")
        raise MeterError(int(code) if code.isdigit() else 0, msg)
    raise LinkError("not a meter reply: %r" % reply[:80])


class Link:
    def __init__(self, port, timeout=10.0, baudrate=115200):
        try:
            self.serial = serial.Serial(port, baudrate=baudrate, timeout=timeout, exclusive=True)
        except serial.SerialException as e:
            raise LinkError("cannot open %s: %s" % (port, e)) from None
        self.port = port
        self.timeout = timeout
        self.notices = []

    def close(self):
        self.serial.close()

    def send_raw(self, data):
        self.serial.write(data)
        self.serial.flush()

    def read_line(self, timeout=None, notices=False):
        """The next reply line (notices starting with '#' are kept in .notices and returned only
        when `notices` is true)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        buf = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkError("no reply from the meter on %s within %.0f s" % (self.port, timeout or self.timeout))
            self.serial.timeout = min(left, 0.5)
            chunk = self.serial.read_until(b"\n")
            buf.extend(chunk)
            if buf.endswith(b"\n"):
                line = buf.decode("utf-8", "replace").strip()
                buf.clear()
                if line.startswith("#"):
                    self.notices.append(line)
                    if notices:
                        return line
                    continue
                if line:
                    return line

    def command(self, line, key=None, timeout=None):
        """Send one request, return the reply line (str)."""
        if key is None:
            self.send_raw(line.encode() + b"\n")
            return self.read_line(timeout)
        ch = parse_reply(self.command("challenge", timeout=timeout))
        seq = ch["seq"] + 1
        auth = "auth %d %s %s" % (seq, mac(key, ch["challenge"], seq, line), line)
        self.send_raw(auth.encode() + b"\n")
        return self.read_line(timeout)

    def call(self, line, key=None, timeout=None):
        """command() and parse: the reply's JSON dict, or MeterError."""
        return parse_reply(self.command(line, key, timeout))

    def drain(self):
        self.serial.reset_input_buffer()
