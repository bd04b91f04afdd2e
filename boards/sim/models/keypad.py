"""A 4x4 membrane keypad: each key, while held, connects its row line to its column line.

The MCU drives the rows (open-drain: 0 pulls low) and reads the columns (inputs with pull-ups).
A column reads low while any held key in it sits on a row the MCU pulls low; otherwise the
column falls back to its pull-up. Pressing or releasing a key tells the world its inputs
changed, so column IRQs fire on the edges. No ghosting or contact resistance is modelled;
contact bounce is whatever sequence of press()/release() the bench or test plays.
"""

DEFAULT_KEYMAP = (
    "1", "2", "3", "UP",
    "4", "5", "6", "DOWN",
    "7", "8", "9", "MENU",
    "BACK", "0", "ENTER", "FN",
)


class KeypadModel:
    def __init__(self, world, row_pins, col_pins, keymap=DEFAULT_KEYMAP):
        self.world = world
        self.row_pins = tuple(row_pins)
        self.col_pins = tuple(col_pins)
        self.keymap = tuple(keymap)
        ncols = len(self.col_pins)
        if len(self.keymap) != len(self.row_pins) * ncols:
            raise ValueError("keymap needs rows x cols names")
        self._where = {}
        for i, name in enumerate(self.keymap):
            self._where[name] = (i // ncols, i % ncols)
        self._held = []  # (row, col) of held keys, in press order
        self.presses = 0
        for c, pin in enumerate(self.col_pins):
            world.drive_from(pin, lambda c=c: self._column(c))

    def _column(self, c):
        for r, cc in self._held:
            if cc == c and self.world.net(self.row_pins[r]).driven == 0:
                return 0
        return None  # not connected to a low row: the pull-up decides

    def press(self, name):
        rc = self._where[name]
        if rc not in self._held:
            self._held.append(rc)
            self.presses += 1
            self.world.inputs_changed()

    def release(self, name):
        rc = self._where[name]
        if rc in self._held:
            self._held.remove(rc)
            self.world.inputs_changed()

    def release_all(self):
        if self._held:
            self._held = []
            self.world.inputs_changed()

    def held(self):
        ncols = len(self.col_pins)
        return [self.keymap[r * ncols + c] for r, c in self._held]
