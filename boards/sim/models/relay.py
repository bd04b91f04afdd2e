"""The latching load relay: SET and RESET coils, contacts in the line, contact-sense output.

The contacts move when a coil has been energised for `min_pulse_ms` of virtual time with the
other coil off during the whole pulse; a shorter pulse, or both coils energised together, moves
nothing. The move happens at the exact virtual instant the pulse reaches `min_pulse_ms` (as a
timed model in `world.sleepers`) or, if time jumped past it without the sleepers running, when
the coil is released. `line.before_change()` runs just before the contacts move, so the metering
models integrate the load up to that moment.

Sense output: 1 while the contacts are closed, 0 while open (what the firmware driver expects).

A latching relay keeps its contacts where they are with no power: with `position_path` set, the
model writes the position to that file at every move and `load_position()` reads it back when the
board powers up, so a meter cut before a power cut is still cut after it (and the firmware finds
the contacts where it left them).

Failure injection: `weld()` (contacts stuck closed; closes them if open), `fail_open()` (the
contacts never close again; their present position is kept until an open pulse), `repair()`.
"""


class RelayModel:
    def __init__(self, world, line, set_pin, reset_pin, sense_pin, min_pulse_ms=30, closed=True):
        self.world = world
        self.line = line
        self.set_pin = set_pin
        self.reset_pin = reset_pin
        self.sense_pin = sense_pin
        self.min_pulse_ms = min_pulse_ms
        self._closed = bool(closed)
        self.welded = False
        self.failed_open = False
        self.operations = 0  # accepted pulses (long enough, other coil off): mechanical operations
        self.switches = 0  # times the contacts actually moved
        self.pulses = 0  # every coil pulse seen
        self.short_pulses = 0  # pulses shorter than min_pulse_ms
        self.conflicts = 0  # times both coils were energised at once
        self.last_pulse_ms = None
        self.position_path = None  # a file that keeps the contact position across power cuts
        self._start = {set_pin: None, reset_pin: None}  # virtual ms the coil was energised
        self._spoiled = {set_pin: False, reset_pin: False}  # other coil on during this pulse
        self._acted = {set_pin: False, reset_pin: False}  # this pulse already moved the armature
        line.relay = self
        world.watch(set_pin, lambda level: self._coil(set_pin, reset_pin, level))
        world.watch(reset_pin, lambda level: self._coil(reset_pin, set_pin, level))
        world.drive_from(sense_pin, lambda: 1 if self._closed else 0)
        world.sleepers.append(self)

    def closed(self):
        return self._closed

    def load_position(self, path):
        """Power up with the contacts where they were left (the file from earlier runs)."""
        self.position_path = path
        try:
            with open(path) as f:
                self._closed = f.read(1) != "0"
        except OSError:
            self._save_position()  # a new board: the factory ships the contacts closed

    def coil_on(self, pin):
        return self._start.get(pin) is not None

    # -- coils ------------------------------------------------------------------------------
    def _coil(self, pin, other, level):
        now = self.world.now_ms
        if level:
            if self._start[pin] is not None:
                return
            self._start[pin] = now
            self._acted[pin] = False
            self._spoiled[pin] = False
            if self._start[other] is not None:
                self.conflicts += 1
                self._spoiled[pin] = True
                self._spoiled[other] = True
            return
        start = self._start[pin]
        if start is None:
            return
        self._start[pin] = None
        width = now - start
        self.pulses += 1
        self.last_pulse_ms = width
        if width < self.min_pulse_ms:
            self.short_pulses += 1
        elif not self._acted[pin] and not self._spoiled[pin]:
            self._actuate(pin == self.set_pin)
        self._acted[pin] = False
        self._spoiled[pin] = False

    # timed model: the armature moves once the pulse reaches min_pulse_ms
    def next_event_ms(self):
        best = None
        for pin in (self.set_pin, self.reset_pin):
            start = self._start[pin]
            if start is None or self._acted[pin] or self._spoiled[pin]:
                continue
            t = start + self.min_pulse_ms
            if best is None or t < best:
                best = t
        return best

    def run_event(self, now_ms):
        for pin in (self.set_pin, self.reset_pin):
            start = self._start[pin]
            if start is None or self._acted[pin] or self._spoiled[pin]:
                continue
            if start + self.min_pulse_ms <= now_ms:
                self._actuate(pin == self.set_pin)
                self._acted[pin] = True

    def _actuate(self, close):
        self.operations += 1
        if close:
            if self._closed or self.failed_open:
                return
        elif not self._closed or self.welded:
            return
        self._move(close)

    def _move(self, close):
        self.line.before_change()
        self._closed = close
        self.switches += 1
        self._save_position()
        self.world.inputs_changed()

    def _save_position(self):
        if self.position_path:
            with open(self.position_path, "w") as f:
                f.write("1" if self._closed else "0")

    # -- failure injection ----------------------------------------------------------------
    def weld(self):
        """Contacts stuck closed: open pulses no longer open them."""
        self.welded = True
        if not self._closed:
            self._move(True)

    def fail_open(self):
        """The contacts never close again (burnt contact, broken armature)."""
        self.failed_open = True

    def repair(self):
        self.welded = False
        self.failed_open = False
