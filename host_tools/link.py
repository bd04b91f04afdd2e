"""The host end of the meter's service-port protocol (docs/link-protocol.md), over pyserial.

Used by meterctl, the provisioning code and the HIL harness alike. `command(line)` sends one
request and returns its reply line. Every request goes out with a fresh id (`@<id> <line>`) and
only the reply carrying that id is taken: a reply some earlier program gave up waiting for, a
reply without an id, console text that is no reply at all (ESP-IDF log lines, the boot ROM's
text, the MicroPython banner) is skipped and logged at debug level (logger `host_tools.link`).
With `key` it performs the authenticated exchange: `challenge`, then `auth <seq> <mac> <line>`
with mac = HMAC-SHA256(key, challenge \\n seq \\n line).

The port is a device path (/dev/ttyUSB0, a pty) or a pyserial URL (`rfc2217://host:port`,
`socket://host:port`), which is how a board exported by a lab's serial server is reached.
"""
import hashlib
import hmac
import json
import logging
import random
import re
import time

import serial

log = logging.getLogger("host_tools.link")

REPLY = re.compile(r"^(?:@([0-9A-Za-z]{1,8}) )?(OK(?: .*)?|ERR \d+(?: .*)?)$")
OLD_FIRMWARE = "ERR 404 unknown command '@"  # a meter from before request ids saw ours as a command
KEEP_SKIPPED = 8  # console lines remembered for error messages


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


def split_reply(line):
    """A reply line -> (id or None, reply without the id); (None, None) for other text."""
    m = REPLY.match(line)
    if not m:
        return None, None
    return m.group(1), m.group(2)


def open_port(port, baudrate=115200, timeout=1.0):
    """A device path is opened for this program alone; a URL through pyserial's handlers.

    The tty is left with VMIN=1 (pyserial sets it with an inter-byte timeout; reads still wait
    with select, so nothing changes for this program). A simulated board's MicroPython REPL
    shares the pty's settings: it saves them before each line it reads and restores them, with
    a flush, after. Left at pyserial's default VMIN=0 they would reach the next program on the
    port (mpremote during a deploy), whose read after a flush would then return nothing, which
    pyserial reports as a disconnected device."""
    if "://" in port:
        return serial.serial_for_url(port, baudrate=baudrate, timeout=timeout)
    return serial.Serial(port, baudrate=baudrate, timeout=timeout, exclusive=True, inter_byte_timeout=1.0)


class Link:
    def __init__(self, port, timeout=10.0, baudrate=115200):
        try:
            self.serial = open_port(port, baudrate, timeout)
        except (serial.SerialException, ValueError) as e:
            raise LinkError("cannot open %s: %s" % (port, e)) from None
        self.port = port
        self.timeout = timeout
        self.notices = []
        self.skipped = []  # the last console lines that were not replies (for error messages)
        self.use_ids = True  # False once the meter turned out to predate request ids
        self._rx = bytearray()
        self._next_id = random.getrandbits(32)

    def close(self):
        self.serial.close()

    def send_raw(self, data):
        self.serial.write(data)
        self.serial.flush()

    # -- reading ------------------------------------------------------------------------------
    def _lines(self, seconds, what):
        """Complete lines as they arrive, for `seconds` (LinkError then)."""
        deadline = time.monotonic() + seconds
        while True:
            nl = self._rx.find(b"\n")
            if nl >= 0:
                raw = bytes(self._rx[:nl])
                del self._rx[: nl + 1]
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    yield line
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkError("no %s from the meter on %s within %.1f s%s"
                                % (what, self.port, seconds, self._seen_text()))
            self.serial.timeout = min(left, 0.5)
            chunk = self.serial.read(max(1, min(self.serial.in_waiting, 4096)))
            if chunk:
                self._rx.extend(chunk)

    def _seen_text(self):
        seen = self.skipped[-3:] + ([self._rx.decode("utf-8", "replace").strip()] if self._rx.strip() else [])
        return " (it printed: %s)" % " | ".join(repr(s[:60]) for s in seen) if seen else ""

    def _note(self, line, why):
        """A line that is not the reply we wait for: keep notices, remember console text, log."""
        if line.startswith("#"):
            self.notices.append(line)
            log.debug("%s: notice %r", self.port, line)
            return
        log.debug("%s: %s: %r", self.port, why, line[:200])
        if why == "skipped console text":
            self.skipped = (self.skipped + [line])[-KEEP_SKIPPED:]

    def read_line(self, timeout=None, notices=False):
        """The next reply line, as sent (with its id if it has one). Notices ('#' lines) are kept
        in .notices and returned only when `notices` is true; console text is skipped."""
        for line in self._lines(timeout or self.timeout, "reply"):
            if line.startswith("#"):
                self._note(line, "notice")
                if notices:
                    return line
                continue
            if split_reply(line)[1] is None:
                self._note(line, "skipped console text")
                continue
            return line

    def read_reply(self, rid, timeout=None):
        """The reply to request `rid` (without the id); other lines are skipped and logged."""
        for line in self._lines(timeout or self.timeout, "reply to @%s" % rid):
            if line.startswith("#"):
                self._note(line, "notice")
                continue
            got, reply = split_reply(line)
            if reply is None:
                self._note(line, "skipped console text")
            elif got == rid:
                return reply
            elif got is None and reply.startswith(OLD_FIRMWARE):
                raise _NoIds()
            elif got is None:
                self._note(line, "discarded a reply without a request id (not ours: stale)")
            else:
                self._note(line, "discarded the reply to another request (@%s)" % got)

    def discard_stale(self):
        """Drop what arrived before our request (kept: notices, and a line still arriving)."""
        try:
            waiting = self.serial.in_waiting
        except (OSError, serial.SerialException):
            waiting = 0
        if waiting:
            self._rx.extend(self.serial.read(waiting))
        while True:
            nl = self._rx.find(b"\n")
            if nl < 0:
                break
            line = bytes(self._rx[:nl]).decode("utf-8", "replace").strip()
            del self._rx[: nl + 1]
            if line:
                self._note(line, "skipped console text" if split_reply(line)[1] is None else "discarded stale input")

    def drain(self):
        """Forget everything received so far."""
        self.serial.reset_input_buffer()
        if self._rx:
            log.debug("%s: drained %r", self.port, bytes(self._rx[:200]))
        self._rx.clear()

    # -- requests -----------------------------------------------------------------------------
    def new_id(self):
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        return "%08x" % self._next_id

    def request(self, line, timeout=None):
        """Send one request line, return its reply line (without the id)."""
        self.discard_stale()
        if self.use_ids:
            rid = self.new_id()
            log.debug("%s: request @%s %s", self.port, rid, line[:120])
            self.send_raw(("@%s %s\n" % (rid, line)).encode())
            try:
                return self.read_reply(rid, timeout)
            except _NoIds:
                log.warning("%s: the meter's firmware predates request ids: requests go without", self.port)
                self.use_ids = False
        self.send_raw(line.encode() + b"\n")
        return self.read_line(timeout)

    def command(self, line, key=None, timeout=None):
        """Send one request (authenticated with `key`), return the reply line (str)."""
        if key is None:
            return self.request(line, timeout)
        ch = parse_reply(self.request("challenge", timeout))
        seq = ch["seq"] + 1
        return self.request("auth %d %s %s" % (seq, mac(key, ch["challenge"], seq, line), line), timeout)

    def call(self, line, key=None, timeout=None):
        """command() and parse: the reply's JSON dict, or MeterError."""
        return parse_reply(self.command(line, key, timeout))


class _NoIds(Exception):
    pass
