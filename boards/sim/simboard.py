"""Simulated boards' common part: the real drivers on the simulator's buses and pins.

The clock is the simulator's virtual clock; the service port is the pty the simulator was
started on; `wait` hands control to the simulator, which serves the bench while the meter idles.
"""
import sys

import hal
import machine
import pins
import simhost
from world import world

class VirtualClock:
    def ticks_ms(self):
        return world.now_ms & 0x3FFFFFFF  # wraps like the device's time.ticks_ms()

    def sleep_ms(self, ms):
        simhost.runtime.sleep_ms(ms)

    def sleep_us(self, us):
        simhost.runtime.sleep_ms((us + 999) // 1000)


class SimBoard(hal.Board):
    def wait(self, timeout_ms):
        simhost.runtime.wait(timeout_ms)

    def watchdog(self, timeout_ms):
        return machine.WDT(timeout=timeout_ms)

    def reset(self):
        machine.reset()

    def reset_cause(self):
        return simhost.reset_cause

    @property
    def heap_sim(self):
        """Heap the simulated hardware holds, not the firmware (a real board has none)."""
        return simhost.heap_sim


class _Unflushed:
    """A raw pty stream: written through at once (its flush is an fsync, which a pty refuses)."""

    def __init__(self, stream):
        self.write = stream.write


def make_board(name, chip):
    b = SimBoard()
    b.name = name
    hal.assemble(b, machine, pins, VirtualClock(), chip)
    b.link = hal.ServicePort(sys.stdin.buffer, sys.stdout.buffer)
    # the optical port: a second pty from the bench, served like the service port
    opt = simhost.runtime.optical
    b.optical = hal.ServicePort(opt[0], _Unflushed(opt[1])) if opt else None
    # the power-fail journal's partition: the simulated chip's spare sectors
    hw = simhost.hardware
    b.pfail = hw.flash.spare() if hw is not None else None
    return b
