"""The optical port's DLMS server, served from the meter's loop like the service link.

`poll()` takes what the port has (at most a few frames' worth per call, so the loop goes on
metering), never waits for the rest of a frame, and turns any internal fault into an event and
a dropped connection rather than a stopped meter.
"""
from dlms.hdlc import Hdlc
from dlms.objects import Model
from dlms.xdlms import Server, PDU_SIZE

MAX_BYTES_PER_POLL = 256


class OpticalServer:
    def __init__(self, uart, source, keys, clock, urandom, on_error):
        self.uart = uart
        self.source = source
        self.model = Model(source)
        self.server = Server(self.model, keys, urandom)
        self.hdlc = Hdlc(uart, self.server, clock=clock, pdu_size=PDU_SIZE)
        self.on_error = on_error
        self._rx = bytearray(64)

    def poll(self):
        """Serve what the optical port has; True if any byte came in."""
        got = 0
        try:
            while got < MAX_BYTES_PER_POLL:
                n = self.uart.readinto(self._rx)
                if not n:
                    break
                got += n
                self.hdlc.feed(self._rx, n)
                if self.server.fault is not None:
                    e = self.server.fault
                    self.server.fault = None
                    self.on_error("dlms", e)
            self.hdlc.poll()
        except Exception as e:  # a bug must not stop the meter: log it, drop the connection
            self.on_error("dlms", e)
            self.hdlc.connected = False
            self.server.release()
        return got > 0

    def pending(self):
        return got_more(self.uart)


def got_more(uart):
    r = getattr(uart, "readable", None)
    if r is not None:
        return r()
    a = getattr(uart, "any", None)
    return bool(a()) if a else False


def attach(state, actions, log, board, version, urandom, on_error):
    """The optical port's server for a running meter (built by meter.py when the board has an
    optical port). `state`: the meter's state and rules, `actions` its action layer (or None),
    `log` its event log, `on_error(where, exc)` its error boundary."""
    from dlms.source import MeterKeys, MeterSource

    src = MeterSource(state, actions, log, board.relay, board.fs_root, version)
    return OpticalServer(board.optical, src, MeterKeys(state, urandom), board.clock, urandom, on_error)
