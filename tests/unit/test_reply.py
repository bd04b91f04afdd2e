"""Replies streamed to the service port in chunks (firmware/reply.py, link.py): the same text as
json.dumps, in writes no longer than a chunk, whatever the reply's length."""
import json

import auth
import link
import reply
from _clock import Clock
from _port import Port


def _daily(n):
    """What `daily 60` looks like: n records of eleven fields."""
    return {"daily": [{"date": "2026-12-%02d" % (1 + i % 28), "import_mwh": 1234567 + i, "export_mwh": 0,
                       "energy_paise": 5123, "fixed_paise": 500, "duty_paise": 12, "credit_paise": 0,
                       "balance_paise": 250000 - i, "peak_w": 3000, "minutes_off": 0, "note": "a \"q\" \u00e9"}
                      for i in range(n)], "today": {"date": "2026-12-30", "import_mwh": 5}}


def test_streamed_json_is_the_text_json_dumps_gives():
    for obj in ({}, {"a": [1, 2, {"b": None, "c": True}], "s": "x\ny"}, _daily(3), _daily(40)):
        port = Port()
        out = reply.ChunkedPort(port)
        reply.write_json(out, obj)
        assert port.text() == json.dumps(obj)
        assert json.loads(port.text()) == obj


def test_a_large_reply_reaches_the_port_in_chunks_never_whole():
    big = _daily(40)
    whole = json.dumps(big)
    assert len(whole) > 8000  # about as large as `daily 60` (the meter keeps 40 days)
    port = Port(b"daily\n")
    a = auth.LinkAuth(Clock(), lambda n: bytes(n), None, 0)
    lk = link.Link(port, a, {"daily": (lambda args: big, False)})
    lk.poll()
    text = port.text()
    assert text == "OK " + whole + "\r\n"
    assert max(port.sizes) <= reply.CHUNK
    assert len(port.sizes) >= len(whole) // reply.CHUNK


class Unprintable:
    """A value JSON cannot hold (CPython's json refuses it, MicroPython's asks its repr)."""

    def __repr__(self):
        raise ValueError("no text")

    __str__ = __repr__


def test_a_reply_that_cannot_be_written_cuts_its_line_and_the_link_goes_on():
    errors = []
    port = Port(b"bad\nping\n")
    a = auth.LinkAuth(Clock(), lambda n: bytes(n), None, 0)
    cmds = {"bad": (lambda args: {"x": Unprintable()}, False), "ping": (lambda args: {"pong": 1}, False)}
    lk = link.Link(port, a, cmds, on_error=lambda where, e: errors.append(where))
    lk.poll()
    lines = port.text().split("\r\n")
    assert lines[0].startswith("OK ") and lines[1] == 'OK {"pong": 1}'
    assert errors == ["reply"]
