"""The simulator's host interface: the bench control channel (JSON lines on two inherited file
descriptors) and the idle wait that lets virtual time pass only as far as the bench allows.

The bench drives the world; the firmware never knows. `wait()` is the only place the firmware
yields: there the simulator serves bench requests, advances virtual time towards the bench's
target (never past the firmware's own deadline), and returns as soon as the service port has
input or an IRQ fired.

Free-running: while no bench drives it (a technician's tool has the service port, a deploy
restarts the meter), virtual time follows wall time, as on a real board. The bench's `run_free`
request (or the command line) starts it; `lockstep` or any other bench request ends it, so the
bench is back in control the moment it acts again. Neither is answered.
"""
import json
import select
import sys
import time

from models.flash import PowerCut
from world import world


class BenchServer:
    """Serves the bench's control requests: one JSON object per line in, one reply per line out."""

    def __init__(self, fd_in, fd_out, hardware):
        self._in = open(fd_in, "rb")
        self._out = open(fd_out, "wb")
        self.hw = hardware
        self.target_ms = None
        self.target_seq = None
        self.deferred = None  # a request kept from a busy wait for the next idle wait (Runtime)
        self._line = bytearray()
        self.fileobj = self._in

    def reply(self, obj):
        self._out.write(json.dumps(obj).encode() + b"\n")  # unbuffered: no flush (fsync on a pipe fails)

    def read_request(self):
        """Read one byte-at-a-time line (the pipe is blocking; poll said it is readable)."""
        while True:
            b = self._in.read(1)
            if not b:
                raise SystemExit(0)  # the bench went away: the simulator ends
            if b == b"\n":
                line = bytes(self._line)
                self._line = bytearray()
                return line
            self._line.extend(b)

    def handle(self, line):
        try:
            req = json.loads(line)
            op = req.get("op")
        except ValueError:
            self.reply({"ok": False, "error": "bad json"})
            return
        if op == "run_free":
            runtime.run_free(True)
            return  # no reply: the bench may be gone to let a tool use the port
        runtime.run_free(False)  # the bench drives again: lockstep from here
        if op == "lockstep":
            return  # no reply either: sent when the bench may find the meter at the REPL
        if op == "advance":
            self.target_ms = world.now_ms + int(req["ms"])
            return  # replied when virtual time reaches the target (see wait)
        if op == "power_cut":
            # mains gone: the mains-sense IRQ warns the firmware, the supply browns out after the
            # hold-up time; run the firmware until then (PowerLoss ends the process, no reply)
            self.hw.supply.cut()
            self.target_ms = world.now_ms + 10 * self.hw.supply.HOLDUP_MS
            return
        try:
            result = self.hw.bench_op(op, req)
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            self.reply({"ok": False, "error": "%s: %r" % (op, e)})
            return
        out = {"ok": True}
        if result:
            out.update(result)
        if op == "stats":
            out["waits"] = runtime.waits
        self.reply(out)

    def finish_advance(self):
        self.target_ms = None
        self.reply({"ok": True, "now_ms": world.now_ms, "rtc": world.rtc.seconds()})


runtime = None  # the Runtime, set by simboot
reset_cause = "power_on"  # why the MCU (re)started, from the bench
hardware = None
heap_sim = None  # heap bytes the simulated board held when the firmware started (simboot)


_PERSON_OPS = ("key", "lcd", "relay", "buzzer")


def _for_the_person(line):
    """A bench request a person makes at the meter: a key press, a look at the LCD or the relay,
    the buzzer."""
    try:
        return json.loads(line).get("op") in _PERSON_OPS
    except (ValueError, AttributeError):
        return False


def _powered():
    """A cut during a flash operation raises PowerCut in the firmware, but a `with open()` around
    the write then closes the file on the dead chip, and that close's OSError replaces the
    PowerCut; the firmware would catch it and run on without power. The CPU stops instead: the
    next time it idles or busy-waits, the power cut ends it."""
    if world.flash is not None and world.flash.dead:
        raise PowerCut("the power went during a flash operation")


class Runtime:
    """The idle wait shared by the board object: bench service + virtual time + wake-ups."""

    def __init__(self, port_stream, bench, pins, optical=None):
        self.bench = bench
        self.pins = pins
        self._port = port_stream
        self.optical = optical  # (in, out) streams of the optical port's pty, or None
        self._port_poll = select.poll()
        self._port_poll.register(port_stream, select.POLLIN)
        self._poll = select.poll()
        self._poll.register(port_stream, select.POLLIN)
        self._poll.register(bench.fileobj, select.POLLIN)
        if optical:  # a client on the optical head is served like one on the service port
            self._port_poll.register(optical[0], select.POLLIN)
            self._poll.register(optical[0], select.POLLIN)
        self.waits = 0
        self.free = False
        world.busy_to = self.busy_to
        self._wall_ms = 0  # free-running: the wall clock (ticks_ms) when virtual time last caught up

    def run_free(self, on):
        """Virtual time follows wall time (on), or moves only as the bench says (off)."""
        if on and not self.free:
            self._wall_ms = time.ticks_ms()
        self.free = on

    def _wall_target(self):
        """Free-running: where virtual time should be now. It never lags the firmware's busy time
        (sleep_ms) or a bench advance: wall time passes on top of where virtual time is."""
        now = time.ticks_ms()
        d = time.ticks_diff(now, self._wall_ms)
        self._wall_ms = now
        return world.now_ms + (d if d > 0 else 0)

    def _serve_bench(self, timeout, busy=False):
        """Serve one bench request if one comes within timeout. Inside a busy wait (busy) a
        request for the person's side of the meter is kept for the next idle wait instead."""
        for obj, ev in self._poll.poll(timeout):
            if obj is self.bench.fileobj and ev & (select.POLLIN | select.POLLHUP):
                line = self.bench.read_request()
                if busy and _for_the_person(line):
                    self.bench.deferred = line
                else:
                    self.bench.handle(line)
                return True
        return False

    def wait(self, timeout_ms):
        """Sleep until the link has input, an IRQ fired, or timeout_ms of virtual time passed."""
        self.waits += 1
        _powered()
        deadline = world.now_ms + (timeout_ms if timeout_ms > 0 else 0)
        bench = self.bench
        if bench.deferred is not None:  # kept from a busy wait: the meter is idle now
            line, bench.deferred = bench.deferred, None
            bench.handle(line)
        while True:
            if world.pending_irqs:
                world.wake = False
                world.run_irqs(self.pins)
                return
            if world.wake:
                world.wake = False
                return
            if self._port_poll.poll(0):
                return  # service- or optical-port input (or a hang-up, which the reader sees)
            # bench requests first: they may press keys, change the load, cut the power
            if self._serve_bench(0):
                continue
            if bench.target_ms is not None:
                if world.now_ms >= bench.target_ms:
                    bench.finish_advance()
                    continue
                world.advance_to(bench.target_ms if bench.target_ms < deadline else deadline)
                if world.now_ms >= deadline:
                    return
                continue
            if self.free:
                t = self._wall_target()
                if t > world.now_ms:
                    world.advance_to(t if t < deadline else deadline)
                    continue  # an interrupt may have fired on the way
            if world.now_ms >= deadline:
                return
            if self.free:  # sleep in wall time until the deadline, the bench or the link
                left = deadline - world.now_ms
                self._serve_bench(left if left < 1000 else 1000)
                continue
            # nothing may happen until the bench or the link speaks: block on both
            self._serve_bench(-1)

    def sleep_ms(self, ms):
        self.busy_to(world.now_ms + ms)

    def busy_to(self, end):
        """Busy time inside the firmware (driver delays, a flash erase; world.busy_to): virtual
        time passes, but never past the bench's target unasked. A busy wait that reaches it
        answers the advance there and holds until the bench moves time on, so what the bench
        does next (a load switched off after an advance) happens exactly when it meant, not a
        few ms into a flash write. Input on a port lets the busy wait finish: the firmware must,
        to answer it."""
        _powered()
        bench = self.bench
        while world.now_ms < end:  # a busy wait: interrupts are served later, in wait()
            t = bench.target_ms
            if t is not None and world.now_ms >= t:
                bench.finish_advance()
                self._hold()
                continue
            world.advance_to(t if t is not None and t < end else end)

    def _hold(self):
        """Stopped at the bench's time inside a busy wait: serve the bench until it gives more time
        (or lets the meter run free), a port has input, or the bench wants the person's side of
        the meter (a key, the LCD, the relay: served once the meter is idle, as a person sees what
        the meter did once it has done it)."""
        bench = self.bench
        while bench.target_ms is None and not self.free and bench.deferred is None:
            if self._port_poll.poll(0):
                return
            self._serve_bench(-1, busy=True)
