"""For unit tests of drivers against the simulated board's device models, on CPython and MicroPython.

Importing this puts boards/sim first on sys.path, so `machine` is the simulator's shim and not the
unix port's built-in module, and gives the shared `world`; `reset()` starts a test on a new board.
"""
import sys

_SUFFIX = "tests/unit/_sim.py"
try:
    _f = __file__
except NameError:
    _f = ""
SIM = _f[: -len(_SUFFIX)] + "boards/sim" if _f.endswith(_SUFFIX) else "boards/sim"
if SIM not in sys.path:
    sys.path.insert(0, SIM)

import machine  # noqa: E402
from world import world  # noqa: E402

assert hasattr(machine, "_pins"), "the built-in machine module won over the shim"


def reset():
    """A fresh simulated board: the shim holds the world singleton, so reset it in place."""
    world.__init__()
    machine._pins.clear()
