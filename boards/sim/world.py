"""The simulated board's physical world: virtual time, pin nets, buses and attached models.

Everything on the simulated PCB hangs off the one `world` object. Time is an integer count of
virtual milliseconds that moves only when the firmware sleeps or waits and the bench allows it,
so every run is deterministic and a month passes in seconds.
"""


class Net:
    """One MCU pin's electrical node: what the MCU drives, what a model drives, the pull."""

    __slots__ = ("driven", "source", "pull", "watchers", "irq", "trigger", "last")

    def __init__(self):
        self.driven = None  # level the MCU drives when an output, else None
        self.source = None  # callable -> level from a model (input side), or None
        self.pull = None  # 1 pull-up, 0 pull-down, None floating (reads 0)
        self.watchers = []  # callables(level) told when the MCU changes its output
        self.irq = None
        self.trigger = 0
        self.last = 0

    def level(self):
        if self.source is not None:
            v = self.source()
            if v is not None:
                return v
        if self.driven is not None:
            return self.driven
        return 1 if self.pull == 1 else 0


class World:
    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self):
        self.now_ms = 0
        self.wake = False  # set when an IRQ fires; board.wait() returns
        self.nets = {}
        self.spi = {}  # bus id -> list of [cs_pin, model]
        self.i2c = {}  # bus id -> {addr: model}
        self.uart_models = {}  # uart id -> model
        self.uart_rx = {}  # uart id -> list of (ready_ms, bytes)
        self.pending_irqs = []
        self.rtc = None  # boards/sim/models/ds3231.DS3231Model: the battery-backed clock
        self.mcu_rtc = None  # boards/sim/models/rtc.McuRtc: the ESP32's own RTC and RTC RAM
        self.flash = None
        self.watchdog = None
        self.sleepers = []  # models with next_event_ms()/run_until(ms): things that act on time

    # -- time -------------------------------------------------------------------------------
    def advance_to(self, t_ms):
        """Move virtual time forward, letting timed models (watchdog, ...) act on the way.
        Returns early, at the event, when a model's action raised an interrupt."""
        while True:
            nxt = t_ms
            who = None
            for m in self.sleepers:
                e = m.next_event_ms()
                if e is not None and e < nxt:
                    nxt, who = e, m
            if nxt > self.now_ms:
                self.now_ms = nxt
            if who is None:
                return
            who.run_event(self.now_ms)
            if self.pending_irqs:
                return  # an interrupt wakes the CPU: time stops here, the firmware runs

    def busy(self, ms):
        """The MCU is busy (a driver delay, a flash chip at work, a blocking UART read): ms of
        virtual time pass. simhost replaces `busy_to` so a busy wait stops at the bench's target."""
        self.busy_to(self.now_ms + ms)

    def busy_to(self, end):
        while self.now_ms < end:
            self.advance_to(end)

    # -- pins -------------------------------------------------------------------------------
    def net(self, pin_id):
        n = self.nets.get(pin_id)
        if n is None:
            n = self.nets[pin_id] = Net()
        return n

    def watch(self, pin_id, fn):
        """fn(level) is called whenever the MCU drives pin_id."""
        self.net(pin_id).watchers.append(fn)

    def drive_from(self, pin_id, fn):
        """The pin's input level comes from fn() (a model's output)."""
        self.net(pin_id).source = fn

    def inputs_changed(self):
        """A model changed what it drives: fire IRQs on edges, wake the firmware."""
        for pin_id, n in self.nets.items():
            if n.irq is None:
                continue
            v = n.level()
            if v != n.last:
                edge = self.IRQ_RISING if v else self.IRQ_FALLING
                n.last = v
                if n.trigger & edge:
                    self.pending_irqs.append(pin_id)
        if self.pending_irqs:
            self.wake = True

    def run_irqs(self, pin_objects):
        """Call the firmware's IRQ handlers (as micropython.schedule would, between bytecodes)."""
        while self.pending_irqs:
            pin_id = self.pending_irqs.pop(0)
            handler = self.net(pin_id).irq
            if handler is not None:
                handler(pin_objects.get(pin_id, pin_id))

    # -- buses ------------------------------------------------------------------------------
    def attach_spi(self, bus_id, cs_pin, model):
        self.spi.setdefault(bus_id, []).append([cs_pin, model])
        self.net(cs_pin).pull = 1

        def cs_changed(level, model=model):
            if level:
                model.spi_deselect()
            else:
                model.spi_select()

        self.watch(cs_pin, cs_changed)

    def spi_selected(self, bus_id):
        chosen = None
        for cs_pin, model in self.spi.get(bus_id, ()):
            if self.net(cs_pin).level() == 0:
                if chosen is not None:
                    return None  # two chips selected: bus contention, nobody answers cleanly
                chosen = model
        return chosen

    def attach_i2c(self, bus_id, addr, model):
        self.i2c.setdefault(bus_id, {})[addr] = model

    def attach_uart(self, uart_id, model):
        self.uart_models[uart_id] = model
        self.uart_rx.setdefault(uart_id, [])

    def uart_feed(self, uart_id, data, baudrate):
        """A device transmits: bytes become readable one by one at the line rate."""
        q = self.uart_rx.setdefault(uart_id, [])
        t = self.now_ms
        if q:
            t = max(t, q[-1][0])
        per_byte_us = 10_000_000 // baudrate  # start + 8 data + stop bits
        us = 0
        for b in data:
            us += per_byte_us
            q.append((t + us // 1000, b))

    def uart_take(self, uart_id, n):
        q = self.uart_rx.get(uart_id)
        out = bytearray()
        while q and len(out) < n and q[0][0] <= self.now_ms:
            out.append(q.pop(0)[1])
        return out

    def uart_pending(self, uart_id):
        q = self.uart_rx.get(uart_id)
        c = 0
        if q:
            for t, _ in q:
                if t <= self.now_ms:
                    c += 1
        return c


world = World()
