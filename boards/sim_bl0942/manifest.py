"""The simulated BL0942 board, frozen for the 32-bit unix build (mp32) as an ESP32 image is.

The firmware goes through the ESP32 board's own manifest (the board it simulates), then the
simulated board's board.py and, unless hardware=False, the simulated PCB it shares with `sim`.
"""
options.defaults(hardware=True)
include("../esp32_bl0942/manifest.py", port=False, board=False)
module("board.py")
if options.hardware:
    include("../sim/hardware_manifest.py")
