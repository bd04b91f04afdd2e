"""A reply's JSON written to the service port in small chunks, never built whole.

Built as one string, `daily 60` (~9 KB) needs that much heap in one piece three times over (the
JSON, "OK " + it, its bytes); a heap fragmented after weeks of running refuses it. `write_json`
hands the result to json.dump, which produces it piece by piece, and collects the pieces in one
CHUNK-byte buffer (allocated once per link) that goes to the port whenever it fills: the largest
allocation a reply needs is its biggest single value, whatever the reply's length.
"""
import io
import json

CHUNK = 128


class ChunkedPort(io.IOBase):
    """What json.dump writes into (a stream: MicroPython's json.dump writes only to streams)."""

    def __init__(self, port, size=CHUNK):
        self.port = port
        self._buf = bytearray(size)
        self._mv = memoryview(self._buf)
        self._n = 0
        self.sent = 0

    def write(self, piece):
        data = piece.encode() if isinstance(piece, str) else piece
        size = len(self._buf)
        i, end = 0, len(data)
        while i < end:
            take = size - self._n
            if take > end - i:
                take = end - i
            self._mv[self._n:self._n + take] = data[i:i + take]
            self._n += take
            i += take
            if self._n == size:
                self.flush()
        return end

    def flush(self):
        if self._n:
            self.port.write(self._mv[:self._n])
            self.sent += self._n
            self._n = 0


def write_json(out, obj):
    """Write obj as JSON (the same text json.dumps gives) through `out`, a ChunkedPort."""
    json.dump(obj, out)
    out.flush()
