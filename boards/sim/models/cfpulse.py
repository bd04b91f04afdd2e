"""The CF1 energy-pulse output of a simulated metering IC, wired to an MCU pin.

Both chips pulse CF1 once per unit of energy (the ATM90E26 per 10 register counts, the BL0942 per
CF_CNT count). A model that has one mixes this in and says, in `next_cf_ms()`, when its count in
progress completes; pulses are produced only while the MCU listens (an IRQ armed on the pin), so a
loaded simulation does not step through every pulse for nothing.
"""


class CfPulse:
    cf_pin = None
    _cf_level = 1
    cf_pulses = 0

    def attach_cf(self, pin):
        self.cf_pin = pin
        self.world.drive_from(pin, lambda: self._cf_level)
        self.world.sleepers.append(self)
        return self

    def next_event_ms(self):
        net = self.world.nets.get(self.cf_pin)
        if net is None or net.irq is None or not self.line.mains:
            return None
        return self.next_cf_ms()

    def run_event(self, now_ms):
        self.sync()
        self.cf_pulses += 1
        self._cf_level = 0  # a short active-low pulse: the falling edge is what the MCU sees
        self.world.inputs_changed()
        self._cf_level = 1
        self.world.inputs_changed()
