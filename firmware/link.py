"""The service-port line protocol: framing, parsing, dispatch, error replies (docs/link-protocol.md).

One request per line, one reply per line: `OK <json>` or `ERR <code> <message>`. Bytes that are
not printable ASCII (Ctrl-C, Ctrl-D included) only spoil the line they are in. The line buffer is
allocated once; an over-long line is dropped up to its newline. A request may start with an id,
`@<id> `, that its reply starts with too, so a program can tell which request a reply answers; the
id is written back straight from the line buffer (nothing allocated for it).
"""
import gc
import json

import reply
from auth import AuthError
from refusal import Refused, need  # noqa: F401  (need: re-exported for command handlers)

MAX_LINE = 1200  # bytes: a published tariff (KSERC domestic: 966 bytes of JSON) in one request
MAX_ID = 8  # request id: 1-8 letters or digits after '@'


CommandError = Refused  # the name handlers used before refusal.py


class Link:
    def __init__(self, port, auth, commands, on_error=None):
        """commands: name -> (handler(args: str) -> dict, needs_auth: bool or callable(args))."""
        self.port = port
        self.auth = auth
        self.commands = commands
        self.on_error = on_error  # called with (command, exception) for internal errors
        self._buf = bytearray(MAX_LINE)
        self._mv = memoryview(self._buf)
        self._chunks = reply.ChunkedPort(port)  # the buffer replies are streamed through
        self._len = 0
        self._overflow = False
        self._binary = False
        self._rx = bytearray(64)
        self.requests = 0

    def poll(self):
        """Serve every complete line waiting on the port. Returns True if any byte came in."""
        got = False
        while True:
            n = self.port.readinto(self._rx)
            if not n:
                return got
            got = True
            for i in range(n):
                self._byte(self._rx[i])

    def _byte(self, b):
        if b == 0x0A:  # newline ends a request
            self._end_line()
            return
        if b == 0x0D:
            return
        if b < 0x20 and b != 0x09 or b > 0x7E:
            self._binary = True
            return
        if self._len >= MAX_LINE:
            self._overflow = True
            return
        self._buf[self._len] = b
        self._len += 1

    def _end_line(self):
        n, overflow, binary = self._len, self._overflow, self._binary
        self._len = 0
        self._overflow = self._binary = False
        rid = self._id_end(n)
        if overflow:
            self._reply(rid, "ERR 413 line too long (max %d bytes)" % MAX_LINE)
            return
        if binary:
            self._reply(rid, "ERR 400 binary bytes in line: only printable ASCII requests")
            return
        if rid < 0:
            self._reply(0, "ERR 400 malformed request id: '@', 1-%d letters or digits, a space, the command" % MAX_ID)
            return
        start = rid + 1 if rid else 0
        line = bytes(self._buf[start:n]).decode().strip() if start < n else ""
        if line:
            self.requests += 1
            result = self.serve(line)
            if isinstance(result, str):
                self._reply(rid, result)
            else:
                self._reply_json(rid, result)
        elif rid:
            self._reply(rid, "ERR 400 no command after the request id")

    def _id_end(self, n):
        """End of the request id `@<id>` that starts the line: 0 none, -1 malformed."""
        buf = self._buf
        if n == 0 or buf[0] != 0x40:  # '@'
            return 0
        i = 1
        while i < n and buf[i] != 0x20:
            b = buf[i] | 0x20  # lower case letters
            if not (0x30 <= buf[i] <= 0x39 or 0x61 <= b <= 0x7A) or i > MAX_ID:
                return -1
            i += 1
        return i if i > 1 else -1

    def _reply(self, rid, text):
        """One reply line, after the request's id when it had one."""
        port = self.port
        if rid > 0:
            port.write(self._mv[:rid])
            port.write(b" ")
        port.write(text.encode())
        port.write(b"\r\n")

    def _reply_json(self, rid, result):
        """`OK <json>` with the JSON streamed in chunks (reply.py): a large read-out never needs
        its whole text in one piece of heap."""
        port = self.port
        if rid > 0:
            port.write(self._mv[:rid])
            port.write(b" ")
        port.write(b"OK ")
        try:
            reply.write_json(self._chunks, result)
        except Exception as e:  # the line is cut short (the host's parse fails); the meter runs on
            self._chunks.flush()
            if self.on_error:
                self.on_error("reply", e)
        port.write(b"\r\n")

    def notice(self, text):
        self.port.write(("# %s\r\n" % text).encode())

    def handle(self, line):
        """One request line -> one reply line (without the line ending), built whole (tests,
        programs); the port gets the same reply streamed (see _end_line)."""
        result = self.serve(line)
        return result if isinstance(result, str) else "OK " + json.dumps(result)

    def serve(self, line):
        """Run one request: the result (a dict) for `OK <json>`, or the whole `ERR ...` text."""
        name, _, args = line.partition(" ")
        args = args.strip()
        authed = False
        try:
            if name == "auth":
                seq, _, rest = args.partition(" ")
                mac, _, command = rest.strip().partition(" ")
                command = command.strip()
                if not command:
                    raise CommandError(400, "usage: auth <seq> <mac> <command>")
                self.auth.verify(seq, mac, command)
                authed = True
                name, _, args = command.partition(" ")
                args = args.strip()
            entry = self.commands.get(name)
            if entry is None:
                raise CommandError(404, "unknown command %r: try `help`" % name[:20])
            handler, needs_auth = entry
            if not isinstance(needs_auth, bool):
                needs_auth = needs_auth(args)  # some commands read without args, change with them
            if needs_auth and not authed:
                raise CommandError(401, "`%s` changes the meter: authenticate with `challenge` then `auth`" % name)
            result = handler(args)
            return result if result is not None else {}
        except (Refused, AuthError) as e:
            return "ERR %d %s" % (e.code, e.message)
        except ValueError as e:  # a value the handler could not use (its own check missed it)
            return "ERR 422 invalid argument: %s" % (e,)
        except MemoryError:
            gc.collect()
            self._internal(name, MemoryError("out of memory"))
            return "ERR 500 internal error: out of memory (the meter keeps metering)"
        except Exception as e:  # a bug: an event says where; the meter goes on
            self._internal(name, e)
            return "ERR 500 internal error: %s %s" % (type(e).__name__, e)

    def _internal(self, name, exc):
        if self.on_error:
            try:
                self.on_error("link " + name[:20], exc)
            except Exception:
                pass  # the event log itself failed: the reply still goes out
