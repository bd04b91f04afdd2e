"""Boot: run the meter on this board.

Frozen into the board's image, this is the main.py the ESP32 port runs (a frozen main.py goes ahead
of one on the flash). Modules deployed to the flash's /lib as .mpy files (development) override the
frozen ones, so /lib moves ahead of .frozen in the search path; without a frozen image it is a no-op.
"""
import sys

if ".frozen" in sys.path and "/lib" in sys.path:
    sys.path.remove("/lib")
    sys.path.insert(sys.path.index(".frozen"), "/lib")

import app  # noqa: E402
import board  # noqa: E402

app.run(board.make_board())
