"""The service-port line protocol: framing, parsing, dispatch, error replies (docs/link-protocol.md).

One request per line, one reply per line: `OK <json>` or `ERR <code> <message>`. Bytes that are
not printable ASCII (Ctrl-C, Ctrl-D included) only spoil the line they are in. The line buffer is
allocated once; an over-long line is dropped up to its newline.
"""
import json

from auth import AuthError

MAX_LINE = 600


class CommandError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def need(cond, message, code=422):
    if not cond:
        raise CommandError(code, message)


class Link:
    def __init__(self, port, auth, commands, on_error=None):
        """commands: name -> (handler(args: str) -> dict, needs_auth: bool or callable(args))."""
        self.port = port
        self.auth = auth
        self.commands = commands
        self.on_error = on_error  # called with (command, exception) for internal errors
        self._buf = bytearray(MAX_LINE)
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
        if overflow:
            self.send_error(413, "line too long (max %d bytes)" % MAX_LINE)
            return
        if binary:
            self.send_error(400, "binary bytes in line: only printable ASCII requests")
            return
        line = bytes(self._buf[:n]).decode().strip()
        if line:
            self.requests += 1
            self.port.write(self.handle(line).encode() + b"\r\n")

    def send_error(self, code, message):
        self.port.write(("ERR %d %s\r\n" % (code, message)).encode())

    def notice(self, text):
        self.port.write(("# %s\r\n" % text).encode())

    def handle(self, line):
        """One request line -> one reply line (without the line ending)."""
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
            return "OK " + json.dumps(result if result is not None else {})
        except (CommandError, AuthError) as e:
            return "ERR %d %s" % (e.code, e.message)
        except (ValueError, TypeError, KeyError, IndexError) as e:
            return "ERR 422 invalid argument: %s" % (e,)
        except MemoryError:
            return "ERR 413 request needs more memory than the meter has"
        except OSError as e:
            if self.on_error:
                self.on_error(name, e)
            return "ERR 500 internal error: %s" % (e,)
