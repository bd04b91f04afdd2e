"""Firmware entry point: `app.run(board)` from the board's main.py.

Keyboard interrupts are switched off so Ctrl-C on the service port is an ordinary byte: the
production meter never drops to a REPL unless an authenticated `repl` command asked for it.
"""
import os

import heap

heap.keep_compact()  # before the firmware's modules load, so they too pack low in the heap

from meter import Meter  # noqa: E402


def run(board):
    try:
        import micropython

        micropython.kbd_intr(-1)
    except (ImportError, AttributeError):
        pass
    meter = Meter(board, os.urandom)
    meter.reset_cause = _reset_cause(board)
    meter.run()
    # only an authenticated `repl` gets here: give the console back to MicroPython
    try:
        import micropython

        micropython.kbd_intr(3)
    except (ImportError, AttributeError):
        pass


def _reset_cause(board):
    cause = getattr(board, "reset_cause", None)
    return cause() if cause else "power_on"
