"""A buzzer on one MCU pin: records every switch-on and switch-off with its virtual time (the
most recent HISTORY changes: the model shares the simulated MCU's heap)."""

HISTORY = 64


class BuzzerModel:
    def __init__(self, world, pin, active_high=True):
        self.world = world
        self.active_high = active_high
        self._on = False
        self._history = []  # (now_ms, on)
        world.watch(pin, self._changed)

    def _changed(self, level):
        on = bool(level) == self.active_high
        if on != self._on:
            self._on = on
            self._history.append((self.world.now_ms, on))
            if len(self._history) > HISTORY:  # the model lives in the MCU's heap: keep it bounded
                self._history = self._history[-(HISTORY // 2):]

    def on(self):
        return self._on

    def history(self):
        """[(ms, True/False), ...]: every change of the sound, oldest first."""
        return list(self._history)

    def beeps(self):
        """[(start_ms, duration_ms), ...] of finished tones (a tone still sounding is left out)."""
        out = []
        start = None
        for t, on in self._history:
            if on:
                start = t
            elif start is not None:
                out.append((start, t - start))
                start = None
        return out

    def clear(self):
        self._history = []
